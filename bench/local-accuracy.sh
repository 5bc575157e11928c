#!/usr/bin/env bash
# The embedded model on real data: the first N tweets of the TweetEval sentiment *test* split
# (bench/fixtures/tweeteval-sentiment, 12,284 tweets), labeled offline by SmolLM2-135M-Instruct,
# three ways in one run:
#   score       every label scored as a continuation (raw), and the same scores after batch
#               calibration (each label's mean score over the job subtracted) — one `run`;
#   grammar     the label generated under a grammar (`serve --engine local --one-of grammar`);
#   majority    always the most frequent gold class (the baseline to beat).
# Prints accuracy and macro-F1 of each, comments/s and peak RSS.
#
# usage: bench/local-accuracy.sh [N]     (default 1000; THREADS=2)
#   BIN=path/to/batchlabel runs that binary instead of building target/release/batchlabel (no
#     `cargo build` then). Relative paths are taken from the directory you run the script in.
#   TWEETEVAL=folder with test_text.txt and test_labels.txt (default bench/fixtures/tweeteval-sentiment).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
[ -z "${TWEETEVAL:-}" ] || TWEETEVAL=$(realpath -e -- "$TWEETEVAL")
cd "$(dirname "$0")/.."
N=${1:-1000}
THREADS=${THREADS:-2}
MODEL=${MODEL:-smollm2-135m-instruct}   # or a .gguf path, e.g. the Gemma-3-270m base model
GRAMMAR=${GRAMMAR:-1}                    # 0 skips the grammar comparison
TWEETEVAL=${TWEETEVAL:-$PWD/bench/fixtures/tweeteval-sentiment}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/batchlabel
fi
bash scripts/fetch-model.sh >/dev/null
OUT=$PWD/bench/out/local
rm -rf "$OUT"; mkdir -p "$OUT"
python3 - "$TWEETEVAL" "$N" "$OUT/tweets.csv" <<'PY'
import csv, sys
folder, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"}
texts = open(f"{folder}/test_text.txt", encoding="utf-8").read().splitlines()
labels = open(f"{folder}/test_labels.txt").read().split()
assert len(texts) == len(labels), f"{folder}: {len(texts)} texts but {len(labels)} labels"
if n > len(texts):
    sys.exit(f"error: N={n} but {folder} holds {len(texts)} test tweets")
with open(out, "w", newline="", encoding="utf-8") as file:
    writer = csv.writer(file)
    writer.writerow(["id", "text", "gold"])
    for index, (text, label) in enumerate(zip(texts[:n], labels[:n])):
        writer.writerow([f"test-{index}", text, names[label]])
PY
# The example spec's prompt and labels, on the local model.
sed -e "s|csv: data/tweeteval-sentiment.csv|csv: $OUT/tweets.csv|" \
    -e "s|provider: openai|provider: local|" -e "s|name: gpt-4o-mini|name: $MODEL|" \
    -e "s|csv: ../out/tweet-sentiment.csv|csv: $OUT/score.csv|" \
    -e "/max_completion_tokens/d" -e "/budget:/,\$d" specs/tweet-sentiment.yaml >"$OUT/score.yaml"
/usr/bin/time -f "%e %M" -o "$OUT/score.time" "$BIN" run "$OUT/score.yaml" -q --json \
  --threads "$THREADS" --state-dir "$OUT/state" >"$OUT/score.json"
# The same requests, generated under a grammar by `serve --engine local`.
if [ "$GRAMMAR" = 0 ]; then cp "$OUT/score.csv" "$OUT/grammar.csv"; echo "0 1 0" >"$OUT/grammar.time"; fi
[ "$GRAMMAR" = 0 ] || {
"$BIN" serve --engine local --model "$MODEL" --one-of grammar --threads "$THREADS" --port 0 \
  --state-dir "$OUT/serve" --address-file "$OUT/address" 2>"$OUT/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$OUT/address" ] && break; sleep 0.1; done
sed -e "s|provider: local|provider: openai|" -e "s|$OUT/score.csv|$OUT/grammar.csv|" \
    -e "s|name: tweet-sentiment|name: tweet-sentiment-grammar|" "$OUT/score.yaml" >"$OUT/grammar.yaml"
start=$(date +%s.%N)
"$BIN" run "$OUT/grammar.yaml" -q --json --state-dir "$OUT/state" \
  --base-url "http://$(cat "$OUT/address")/v1" --poll-interval 0.5 --max-poll-interval 2 >"$OUT/grammar.json"
end=$(date +%s.%N)
echo "$start $end $(grep VmHWM /proc/$server/status | awk '{print $2}')" >"$OUT/grammar.time"
}
python3 - "$OUT" <<'PY'
import csv, json, sqlite3, sys
from collections import Counter
out = sys.argv[1]
gold = {row["id"]: row["gold"] for row in csv.DictReader(open(f"{out}/tweets.csv", encoding="utf-8"))}
classes = ["NEGATIVE", "NEUTRAL", "POSITIVE"]

def metrics(predicted):
    accuracy = sum(predicted[i] == gold[i] for i in gold) / len(gold)
    f1s = []
    for label in classes:
        tp = sum(predicted[i] == label and gold[i] == label for i in gold)
        fp = sum(predicted[i] == label and gold[i] != label for i in gold)
        fn = sum(predicted[i] != label and gold[i] == label for i in gold)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    mix = Counter(predicted[i] for i in gold)
    return accuracy, sum(f1s) / len(f1s), " ".join(f"{label[:3].lower()} {mix[label]}" for label in classes)

calibrated = {row["id"]: row["sentiment"] for row in csv.DictReader(open(f"{out}/score.csv", encoding="utf-8"))}
ledger = sqlite3.connect(f"{out}/state/tweet-sentiment/ledger.sqlite")
raw = {custom_id[2:]: json.loads(output)["sentiment"] for custom_id, output in ledger.execute("SELECT custom_id, raw_output FROM results")}
grammar = {row["id"]: row["sentiment"] for row in csv.DictReader(open(f"{out}/grammar.csv", encoding="utf-8"))}
majority_label = Counter(gold.values()).most_common(1)[0][0]
majority = {i: majority_label for i in gold}
score_wall, score_rss = open(f"{out}/score.time").read().split()
timings = json.load(open(f"{out}/score.json"))["summary"]["timings"]
labeling = timings["submit_seconds"] + timings["wait_seconds"] + timings["ingest_seconds"]
start, end, grammar_rss = open(f"{out}/grammar.time").read().split()
n = len(gold)
print(f"{n} tweets, gold mix: " + " ".join(f"{label[:3].lower()} {count}" for label, count in sorted(Counter(gold.values()).items())))
print(f"{'method':<28} {'accuracy':>8} {'macro-F1':>8}  predicted mix")
for name, predicted in [("label scoring, raw", raw), ("label scoring, calibrated", calibrated),
                        ("grammar-constrained gen.", grammar), (f"majority ({majority_label})", majority)]:
    accuracy, f1, mix = metrics(predicted)
    print(f"{name:<28} {accuracy:8.3f} {f1:8.3f}  {mix}")
print(f"label scoring: {n / labeling:.1f} comments/s while labeling ({n / float(score_wall):.1f} over the whole command, {float(score_wall):.0f} s with model load and compile), peak RSS {int(score_rss) // 1024} MB")
print(f"grammar generation: {n / (float(end) - float(start)):.1f} comments/s, server peak RSS {int(grammar_rss) // 1024} MB")
PY
