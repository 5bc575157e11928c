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
#
#   BIN=path/to/batchlabel measures that binary instead of building target/release/batchlabel
#     (no `cargo build` then). Relative paths are taken from the directory you run the script in.
#   BIN_BEFORE=path/to/older/batchlabel also runs every repeat with that binary (its own server
#     too), alternating with BIN (the order swaps each repeat), and prints both with the ratio
#     after/before.
# The data comes from bench/tools/gen_comments.py, cached in bench/data/ (git-ignored).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
[ -z "${BIN_BEFORE:-}" ] || BIN_BEFORE=$(resolve_bin "$BIN_BEFORE")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
REPEAT=${REPEAT:-3}
ROWS=${1:-1000000}
WAIT_LIMIT=${WAIT_LIMIT:-1800}   # seconds to wait for the server to finish the split run's batches
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/batchlabel
fi
echo "after:  $BIN"
[ -z "${BIN_BEFORE:-}" ] || echo "before: $BIN_BEFORE"
OUT=$PWD/bench/out/lifecycle
mkdir -p bench/data "$OUT"
data=$PWD/bench/data/comments-$ROWS.csv
[ -f "$data" ] || python3 "$TOOLS/gen_comments.py" "$ROWS" "$data"

server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT
one_run() { # tag (after|before), binary → one repeat in $OUT/$tag, a JSON line appended to $OUT/runs.jsonl
  local tag=$1 bin=$2 dir=$OUT/$1 address
  mkdir -p "$dir"
  sed "s|csv: data/comments.csv|csv: $data|" bench/compile.yaml >"$dir/job.yaml"
  printf 'output:\n  csv: %s/results.csv\n' "$dir" >>"$dir/job.yaml"
  rm -rf "$dir/state" "$dir/serve" "$dir/address" "$dir/shards"
  "$bin" serve --port 0 --state-dir "$dir/serve" --address-file "$dir/address" 2>"$dir/serve.log" &
  server=$!
  for _ in $(seq 100); do [ -s "$dir/address" ] && break; sleep 0.1; done
  [ -s "$dir/address" ] || { echo "error: $tag server did not start; $dir/serve.log:" >&2; cat "$dir/serve.log" >&2; exit 1; }
  address=$(cat "$dir/address")
  /usr/bin/time -f "%e %M" -o "$dir/run.time" "$bin" run "$dir/job.yaml" --json -q \
    --state-dir "$dir/state" --base-url "http://$address/v1" \
    --poll-interval 0.05 --max-poll-interval 0.2 >"$dir/summary.json"
  # Again, split: submit everything, let the server finish, then resume to collect. The
  # resumed run's ingest and sink then have the cores to themselves, as with a remote provider.
  local first_batches
  first_batches=$(curl -s "http://$address/v1/_batchlabel/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["batches"])')
  rm -rf "$dir/state-split"
  # Its own job name: with the same one, the new ledger would find the first run's batches at
  # the server and take them over instead of sending its own (lost-ledger adoption).
  sed 's/^name: \(.*\)$/name: \1-split/' "$dir/job.yaml" >"$dir/job-split.yaml"
  "$bin" run "$dir/job-split.yaml" --json -q --no-wait --state-dir "$dir/state-split" \
    --base-url "http://$address/v1" >/dev/null
  # Wait until the server holds as many batches again as the first run made (20 at 1M rows),
  # all of them finished.
  local waited=0
  until curl -s "http://$address/v1/_batchlabel/stats" | python3 -c '
import json, sys
stats, first = json.load(sys.stdin), int(sys.argv[1])
by_status = stats["batches_by_status"]
terminal = sum(by_status.get(s, 0) for s in ("completed", "failed", "expired", "cancelled"))
sys.exit(0 if stats["batches"] == 2 * first and terminal == 2 * first else 1)' "$first_batches"; do
    sleep 0.5
    waited=$((waited + 1))
    ((waited <= 2 * WAIT_LIMIT)) || { echo "error: $tag server still has batches in flight after ${WAIT_LIMIT}s" >&2; exit 1; }
  done
  "$bin" run "$dir/job-split.yaml" --json -q --state-dir "$dir/state-split" \
    --base-url "http://$address/v1" --poll-interval 0.05 >"$dir/summary-split.json"
  grep VmHWM "/proc/$server/status" | awk '{print $2}' >"$dir/serve.rss"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  /usr/bin/time -f "%e %M" -o "$dir/compile.time" "$bin" -q compile "$dir/job.yaml" --out "$dir/shards" >/dev/null
  rm -rf "$dir/shards"
  python3 - "$dir" "$tag" >>"$OUT/runs.jsonl" <<'PY'
import json, sys
out, tag = sys.argv[1], sys.argv[2]
summary = json.load(open(f"{out}/summary.json"))["summary"]
assert summary["labeled_rows"] == summary["rows"], summary
run_wall, run_rss = open(f"{out}/run.time").read().split()
compile_wall, _ = open(f"{out}/compile.time").read().split()
server_rss = open(f"{out}/serve.rss").read().split()[-1]
split = json.load(open(f"{out}/summary-split.json"))["summary"]
assert split["labeled_rows"] == split["rows"], split
print(json.dumps({**summary["timings"], "binary": tag, "rows": summary["rows"], "run_wall_seconds": float(run_wall),
                  "split_ingest_seconds": split["timings"]["ingest_seconds"],
                  "split_sink_seconds": split["timings"]["sink_seconds"], "run_rss_mb": int(run_rss) // 1024,
                  "serve_rss_mb": int(server_rss) // 1024, "plain_compile_seconds": float(compile_wall)}))
PY
}

: >"$OUT/runs.jsonl"
for ((i = 1; i <= REPEAT; i++)); do
  if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 0)); then one_run before "$BIN_BEFORE"; fi
  one_run after "$BIN"
  if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 1)); then one_run before "$BIN_BEFORE"; fi
done
python3 - "$OUT/runs.jsonl" <<'PY'
import json, statistics, sys
every = [json.loads(line) for line in open(sys.argv[1])]
KEYS = ["plain_compile_seconds", "compile_seconds", "submit_seconds", "wait_seconds",
        "ingest_seconds", "sink_seconds", "total_seconds", "split_ingest_seconds", "split_sink_seconds"]

def report(runs, prefix=""):
    """Prints the medians of one binary's runs; returns them (and the derived figures) by name."""
    median = lambda key: statistics.median(run[key] for run in runs)
    rows = runs[0]["rows"]
    figures = {}
    print(f"{prefix}{len(runs)} runs of {rows:,} rows; medians:")
    for key in KEYS:
        if all(key in run for run in runs):  # an older binary may not report every stage
            figures[key] = median(key)
            print(f"  {key:<22} {figures[key]:7.2f}")
    ratios = [run["total_seconds"] / (run["compile_seconds"] + run["split_ingest_seconds"] + run["split_sink_seconds"]) for run in runs]
    rates = [rows / (run["split_ingest_seconds"] + run["split_sink_seconds"]) for run in runs]
    ingest_only = [rows / run["split_ingest_seconds"] for run in runs]
    figures["ingest + sink rows/s"] = statistics.median(rates)
    figures["ingest rows/s"] = statistics.median(ingest_only)
    figures["runner peak RSS MB"] = max(run["run_rss_mb"] for run in runs)
    figures["server peak RSS MB"] = max(run["serve_rss_mb"] for run in runs)
    print(f"  total / (compile + ingest + sink)  {statistics.median(ratios):.2f}  (each run: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"  ingest + sink rows/s               {figures['ingest + sink rows/s']:,.0f}")
    print(f"  ingest (to the ledger) rows/s      {figures['ingest rows/s']:,.0f}")
    print(f"  peak RSS: runner {figures['runner peak RSS MB']} MB, server {figures['server peak RSS MB']} MB")
    return figures

after = report([run for run in every if run["binary"] == "after"])
before_runs = [run for run in every if run["binary"] == "before"]
if before_runs:
    before = report(before_runs, "before: ")
    print("after/before (seconds and RSS: < 1 is better; rows/s: > 1 is better):")
    for key, value in after.items():
        if key in before and before[key]:
            print(f"  {key:<22} {value / before[key]:7.2f}x  ({value:,.2f} / {before[key]:,.2f})")
PY
