#!/usr/bin/env bash
# Enqueued-token admission on 1M rows: `batchlabel run` against `batchlabel serve
# --max-enqueued-tokens CAP`, CAP a fraction of the job's input tokens (characters/4 of its
# compiled shards), twice, each with its own server:
#   known    the spec sets `batch.max_enqueued_tokens: CAP`: shards go in waves, the server
#            must refuse nothing and never hold more than CAP;
#   unknown  the spec sets no cap (a loopback server gets no default): the first wave is
#            refused in part, the runner lowers its cap and resends each refused shard.
# Both must end with every row labeled, every batch created once (`batches_by_metadata` all
# 1) and no failed batch left un-retried (each refused shard has a later batch that
# completed). Prints wall seconds, the server's peak queue and its refusals.
#
# usage: bench/queue.sh [ROWS]    (default 1000000; FRACTION=5: CAP = job tokens / 5)
#   BIN=path/to/batchlabel uses that binary instead of building target/release/batchlabel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
ROWS=${1:-1000000}
FRACTION=${FRACTION:-5}
release_bin_and_data "$ROWS"
OUT=$PWD/bench/out/queue
mkdir -p "$OUT"

# The job's tokens as the server counts them, from its compiled shards.
sed "s|csv: data/comments.csv|csv: $data|" bench/compile.yaml >"$OUT/job.yaml"
rm -rf "$OUT/shards"
"$BIN" -q compile "$OUT/job.yaml" --out "$OUT/shards" >/dev/null
read -r job_tokens largest < <(python3 - "$OUT/shards" <<'PY'
import pathlib, sys
sizes = [len(p.read_text(encoding="utf-8")) for p in pathlib.Path(sys.argv[1]).rglob("shard-*.jsonl")]
assert sizes, "no shards compiled"
print(sum((s + 3) // 4 for s in sizes), max((s + 3) // 4 for s in sizes))
PY
)
rm -rf "$OUT/shards"
cap=$((job_tokens / FRACTION))
# At least two of the largest shards fit, so waves hold more than one batch.
((cap >= 2 * largest)) || cap=$((2 * largest))
echo "$ROWS rows: $job_tokens tokens, largest shard $largest; server cap $cap"

server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT
one_run() { # mode (known|unknown)
  local mode=$1 dir=$OUT/$1 address start end
  mkdir -p "$dir"
  rm -rf "$dir/state" "$dir/serve" "$dir/address"
  cp "$OUT/job.yaml" "$dir/job.yaml"
  printf 'output:\n  csv: %s/results.csv\n' "$dir" >>"$dir/job.yaml"
  [ "$mode" = unknown ] || printf 'batch:\n  max_enqueued_tokens: %s\n' "$cap" >>"$dir/job.yaml"
  "$BIN" serve --port 0 --state-dir "$dir/serve" --address-file "$dir/address" \
    --max-enqueued-tokens "$cap" 2>"$dir/serve.log" &
  server=$!
  for _ in $(seq 100); do [ -s "$dir/address" ] && break; sleep 0.1; done
  [ -s "$dir/address" ] || { echo "error: server did not start; $dir/serve.log:" >&2; cat "$dir/serve.log" >&2; exit 1; }
  address=$(cat "$dir/address")
  start=$(date +%s.%N)
  "$BIN" run "$dir/job.yaml" --json -q --state-dir "$dir/state" --base-url "http://$address/v1" \
    --poll-interval 0.05 --max-poll-interval 0.5 >"$dir/summary.json"
  end=$(date +%s.%N)
  curl -s "http://$address/v1/_batchlabel/stats" >"$dir/stats.json"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  python3 - "$dir" "$mode" "$cap" "$start" "$end" <<'PY'
import json, sys
out, mode, cap, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
summary = json.load(open(f"{out}/summary.json"))["summary"]
stats = json.load(open(f"{out}/stats.json"))
assert summary["labeled_rows"] == summary["rows"] and summary["failed_rows"] == 0, summary
by_metadata = stats["batches_by_metadata"]
assert all(count == 1 for count in by_metadata.values()), "a batch was created twice"
queue, by_status = stats["queue"], stats["batches_by_status"]
failed, completed = by_status.get("failed", 0), by_status.get("completed", 0)
# Every failed batch was a queue refusal, and each shard's last submission completed.
assert failed == queue["refused_batches"], (failed, queue)
shards = {json.loads(key)["batchlabel_shard"].rsplit("-s", 1)[0] for key in by_metadata if key}
assert completed == len(shards), (completed, len(shards), by_status)
if mode == "known":
    assert queue["refused_batches"] == 0, queue
    assert queue["peak_enqueued_tokens"] <= cap, queue
print(f"{mode:<8} {end - start:8.1f} s  {len(shards)} shards, {stats['batches']} batches, "
      f"peak queue {queue['peak_enqueued_tokens']:,} of {cap:,} tokens, {queue['refused_batches']} refused")
PY
}

one_run known
one_run unknown
