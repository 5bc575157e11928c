#!/usr/bin/env bash
# The whole lifecycle on 1M rows through `batchlabel serve` (scripted engine: instant answers),
# side by side with a plain `batchlabel compile` of the same job, in one run.
#
# usage: bench/lifecycle.sh [ROWS]          (default 1000000; REPEAT=3 runs, medians reported)
# Each repeat runs the job twice against one server: in one `run` (the end-to-end time), and
# split (`run --no-wait`, wait until the server has finished every batch, `run` again to
# collect) so that ingest is measured with the cores to itself, as with a remote provider.
# Prints per-stage seconds from `run --json` (compile includes registering requests in the
# ledger; ingest = parse + validate + record in the ledger; sink = writing the results CSV),
# the ratio total / (compile + ingest + sink) (target ≤ 2), ingest rows/s (target ≥ 300k),
# and peak RSS of the runner and the server.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
REPEAT=${REPEAT:-3}
ROWS=${1:-1000000}
cargo build --release --quiet
BIN=$PWD/target/release/batchlabel
OUT=$PWD/bench/out/lifecycle
mkdir -p bench/data "$OUT"
data=$PWD/bench/data/comments-$ROWS.csv
[ -f "$data" ] || python3 "$SHARED/gen_comments.py" "$ROWS" "$data"
sed "s|csv: data/comments.csv|csv: $data|" bench/compile.yaml >"$OUT/job.yaml"
printf 'output:\n  csv: %s/results.csv\n' "$OUT" >>"$OUT/job.yaml"
: >"$OUT/runs.jsonl"
for ((i = 1; i <= REPEAT; i++)); do
  rm -rf "$OUT/state" "$OUT/serve" "$OUT/address" "$OUT/shards"
  "$BIN" serve --port 0 --state-dir "$OUT/serve" --address-file "$OUT/address" 2>"$OUT/serve.log" &
  server=$!
  for _ in $(seq 100); do [ -s "$OUT/address" ] && break; sleep 0.1; done
  /usr/bin/time -f "%e %M" -o "$OUT/run.time" "$BIN" run "$OUT/job.yaml" --json -q \
    --state-dir "$OUT/state" --base-url "http://$(cat "$OUT/address")/v1" \
    --poll-interval 0.05 --max-poll-interval 0.2 >"$OUT/summary.json"
  # Again, split: submit everything, let the server finish, then resume to collect. The
  # resumed run's ingest and sink then have the cores to themselves, as with a remote provider.
  rm -rf "$OUT/state-split"
  "$BIN" run "$OUT/job.yaml" --json -q --no-wait --state-dir "$OUT/state-split" \
    --base-url "http://$(cat "$OUT/address")/v1" >/dev/null
  until curl -s "http://$(cat "$OUT/address")/v1/_batchlabel/stats" | python3 -c \
    'import json,sys; s=json.load(sys.stdin)["batches_by_status"]; sys.exit(0 if s.get("completed", 0) == 2 * 20 else 1)'; do
    sleep 0.5
  done
  "$BIN" run "$OUT/job.yaml" --json -q --state-dir "$OUT/state-split" \
    --base-url "http://$(cat "$OUT/address")/v1" --poll-interval 0.05 >"$OUT/summary-split.json"
  grep VmHWM "/proc/$server/status" | awk '{print $2}' >"$OUT/serve.rss"
  kill "$server"; wait "$server" 2>/dev/null || true
  /usr/bin/time -f "%e %M" -o "$OUT/compile.time" "$BIN" -q compile "$OUT/job.yaml" --out "$OUT/shards" >/dev/null
  python3 - "$OUT" >>"$OUT/runs.jsonl" <<'PY'
import json, sys
out = sys.argv[1]
summary = json.load(open(f"{out}/summary.json"))["summary"]
assert summary["labeled_rows"] == summary["rows"], summary
run_wall, run_rss = open(f"{out}/run.time").read().split()
compile_wall, _ = open(f"{out}/compile.time").read().split()
server_rss = open(f"{out}/serve.rss").read().split()[-1]
split = json.load(open(f"{out}/summary-split.json"))["summary"]
assert split["labeled_rows"] == split["rows"], split
print(json.dumps({**summary["timings"], "rows": summary["rows"],
                  "split_ingest_seconds": split["timings"]["ingest_seconds"],
                  "split_sink_seconds": split["timings"]["sink_seconds"], "run_rss_mb": int(run_rss) // 1024,
                  "serve_rss_mb": int(server_rss) // 1024, "plain_compile_seconds": float(compile_wall)}))
PY
done
python3 - "$OUT/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
median = lambda key: statistics.median(run[key] for run in runs)
rows = runs[0]["rows"]
print(f"{len(runs)} runs of {rows:,} rows; medians:")
for key in ["plain_compile_seconds", "compile_seconds", "submit_seconds", "wait_seconds",
            "ingest_seconds", "sink_seconds", "total_seconds", "split_ingest_seconds", "split_sink_seconds"]:
    print(f"  {key:<22} {median(key):7.2f}")
ratios = [run["total_seconds"] / (run["compile_seconds"] + run["split_ingest_seconds"] + run["split_sink_seconds"]) for run in runs]
rates = [rows / (run["split_ingest_seconds"] + run["split_sink_seconds"]) for run in runs]
ingest_only = [rows / run["split_ingest_seconds"] for run in runs]
print(f"  total / (compile + ingest + sink)  {statistics.median(ratios):.2f}  (each run: {', '.join(f'{r:.2f}' for r in ratios)})")
print(f"  ingest + sink rows/s               {statistics.median(rates):,.0f}")
print(f"  ingest (to the ledger) rows/s      {statistics.median(ingest_only):,.0f}")
print(f"  peak RSS: runner {max(run['run_rss_mb'] for run in runs)} MB, server {max(run['serve_rss_mb'] for run in runs)} MB")
PY
