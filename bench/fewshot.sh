#!/usr/bin/env bash
# Few-shot examples on the embedded model (issue 17): each gold set's example spec run on
# `provider: local` zero-shot and with K examples chosen `fixed`, `random` and `similar` from
# its pool (specs/data/*-pool.csv: train or validation splits, never the rows scored); macro-F1
# from `batchlabel eval`, comments/s from the run's own timings (labeling only).
#
# usage: bench/fewshot.sh [N]    N rows of each set (default 300: all of specs/data's; TweetEval
#                                 takes up to 12,284 from bench/fixtures' test split)
#   DATASETS="tweeteval clinc150 goemotions"  MODES="zero fixed random similar"  K=4  THREADS=2
#   (mode `similar-embeddings`: `similar` by the local model's embeddings instead of BM25)
#   BIN=path/to/batchlabel runs that binary instead of building target/release/batchlabel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
cd "$(dirname "$0")/.."
N=${1:-300}
DATASETS=${DATASETS:-tweeteval clinc150 goemotions}
MODES=${MODES:-zero fixed random similar}
K=${K:-4}
THREADS=${THREADS:-2}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/batchlabel
fi
bash scripts/fetch-model.sh >/dev/null
ROOT=$PWD
OUT=$ROOT/bench/out/fewshot
rm -rf "$OUT"; mkdir -p "$OUT"
printf '%-10s %-8s %8s %8s %10s\n' set examples macro-F1 accuracy 'rows/s'
for set in $DATASETS; do
  case $set in
    tweeteval) spec=tweet-sentiment.yaml; input=tweeteval-sentiment.csv; pool=tweeteval-sentiment-pool.csv; id=id; text=text ;;
    clinc150) spec=clinc150-intent.yaml; input=clinc150-intent.csv; pool=clinc150-intent-pool.csv; id=id; text=utterance ;;
    goemotions) spec=goemotions.yaml; input=goemotions.csv; pool=goemotions-pool.csv; id=comment_id; text=body ;;
    *) echo "error: unknown set $set (tweeteval, clinc150, goemotions)" >&2; exit 2 ;;
  esac
  # The first N rows (a CSV parser: texts may hold line breaks). TweetEval beyond the 300 of
  # specs/data comes from the whole test split in bench/fixtures (the same first rows).
  python3 - "$ROOT/specs/data/$input" "$N" "$OUT/$set.csv" "$set" "$ROOT/bench/fixtures/tweeteval-sentiment" <<'PY'
import csv, sys
source, n, out, name, fixtures = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = list(csv.reader(open(source, encoding="utf-8", newline="")))
if name == "tweeteval" and n > len(rows) - 1:
    names = {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"}
    texts = open(f"{fixtures}/test_text.txt", encoding="utf-8").read().splitlines()
    labels = open(f"{fixtures}/test_labels.txt").read().split()
    rows = [["id", "text", "gold"]] + [[f"tt-{i + 1}", t.strip(), names[g]] for i, (t, g) in enumerate(zip(texts, labels))]
if n > len(rows) - 1:
    sys.exit(f"error: N={n} but {name} has {len(rows) - 1} rows here")
csv.writer(open(out, "w", encoding="utf-8", newline="")).writerows(rows[: n + 1])
PY
  for mode in $MODES; do
    name=$set-$mode
    # The example spec on the local model, reading the sample, writing its own results.
    sed -e "s|csv: data/$input|csv: $OUT/$set.csv|" -e "s|^name: .*|name: $name|" \
        -e "s|provider: [a-z_]*|provider: local|" -e "s|  name: [a-z0-9.-]*$|  name: smollm2-135m-instruct|" \
        -e "/max_completion_tokens/d" -e "/^budget:/,/^[a-z]/{/^budget:/d;/^  /d}" \
        -e "s|_file: prompts/|_file: $ROOT/specs/prompts/|" \
        -e "s|csv: ../out/.*|csv: $OUT/$name.csv|" -e "s|jsonl: ../out/.*|jsonl: $OUT/$name.jsonl|" \
        "specs/$spec" >"$OUT/$name.yaml"
    if [ "$mode" != zero ]; then
      select=${mode%-embeddings}
      printf 'examples:\n  file: %s\n  id: %s\n  text: %s\n  k: %s\n  select: %s\n' \
        "$ROOT/specs/data/$pool" "$id" "$text" "$K" "$select" >>"$OUT/$name.yaml"
      [ "$select" = "$mode" ] || printf '  similarity: embeddings\n' >>"$OUT/$name.yaml"
    fi
    "$BIN" run "$OUT/$name.yaml" -q --json --threads "$THREADS" --state-dir "$OUT/state" >"$OUT/$name.run.json"
    "$BIN" eval "$OUT/$name.yaml" --gold gold --json --state-dir "$OUT/state" >"$OUT/$name.eval.json"
    python3 - "$set" "$mode" "$OUT/$name.run.json" "$OUT/$name.eval.json" <<'PY'
import json, sys
name, mode, run, evaluation = sys.argv[1:5]
summary = json.load(open(run))["summary"]
timings = summary["timings"]
seconds = timings["submit_seconds"] + timings["wait_seconds"] + timings["ingest_seconds"]
found = {}
def walk(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("macro_f1", "accuracy") and key not in found and isinstance(inner, (int, float)):
                found[key] = inner
            walk(inner)
    elif isinstance(value, list):
        for inner in value:
            walk(inner)
walk(json.load(open(evaluation)))
print(f"{name:<10} {mode:<8} {found.get('macro_f1', float('nan')):8.3f} {found.get('accuracy', float('nan')):8.3f} {summary['labeled_rows'] / seconds:10.1f}")
PY
  done
done
