#!/usr/bin/env bash
# The OpenAI-protocol path end to end, offline: label 300 real tweets through a real batch server.
# It builds batchlabel, starts `batchlabel serve` (the local OpenAI Files + Batches server,
# scripted engine) on a free port, runs `batchlabel run` on specs/tweet-sentiment.yaml
# against it, prints the run summary, and stops the server. Run it again: the run resumes
# (here: it is already finished, so it only rewrites the results).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/batchlabel
STATE=.batchlabel
mkdir -p "$STATE"
rm -f "$STATE/serve.address"
"$BIN" serve --port 0 --state-dir "$STATE/serve" --address-file "$STATE/serve.address" 2>"$STATE/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$STATE/serve.address" ] && break; sleep 0.1; done
[ -s "$STATE/serve.address" ] || { cat "$STATE/serve.log"; exit 2; }
"$BIN" run specs/tweet-sentiment.yaml --state-dir "$STATE" \
  --base-url "http://$(cat "$STATE/serve.address")/v1" --poll-interval 0.2 --max-poll-interval 1
"$BIN" status specs/tweet-sentiment.yaml --state-dir "$STATE"
