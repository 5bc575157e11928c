#!/usr/bin/env bash
# What a finished run keeps on disk: 1M rows through `batchlabel serve` (scripted engine:
# instant answers), then the run directory's size, by part, per million rows.
#
# usage: bench/disk.sh [ROWS]          (default 1000000)
# Target: ≤ 0.25 GB per million rows once the run has finished (exit 1 above it). The results
# CSV is written outside the run directory (as `output:` usually is) and not counted; the run
# directory is the ledger, its lock, and whatever shard files and downloads are left.
#
#   BIN=path/to/batchlabel measures that binary instead of building target/release/batchlabel.
#   LIMIT_GB_PER_M=0.25 changes the target.
# The data comes from bench/tools/gen_comments.py, cached in bench/data/ (git-ignored).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
ROWS=${1:-1000000}
LIMIT_GB_PER_M=${LIMIT_GB_PER_M:-0.25}
release_bin_and_data "$ROWS"
OUT=$PWD/bench/out/disk
mkdir -p "$OUT"

rm -rf "$OUT/state" "$OUT/serve" "$OUT/address"
sed "s|csv: data/comments.csv|csv: $data|" bench/compile.yaml >"$OUT/job.yaml"
printf 'output:\n  csv: %s/results.csv\n' "$OUT" >>"$OUT/job.yaml"
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT
"$BIN" serve --port 0 --state-dir "$OUT/serve" --address-file "$OUT/address" 2>"$OUT/serve.log" &
server=$!
for _ in $(seq 100); do [ -s "$OUT/address" ] && break; sleep 0.1; done
[ -s "$OUT/address" ] || { echo "error: the server did not start; $OUT/serve.log:" >&2; cat "$OUT/serve.log" >&2; exit 1; }
"$BIN" run "$OUT/job.yaml" --json -q --state-dir "$OUT/state" \
  --base-url "http://$(cat "$OUT/address")/v1" --poll-interval 0.05 --max-poll-interval 0.2 >"$OUT/summary.json"
# What the server still holds for the job (remote cleanup deletes inputs and outputs).
curl -s "http://$(cat "$OUT/address")/v1/files?limit=10000" >"$OUT/files.json" || true
kill "$server"; wait "$server" 2>/dev/null || true
server=

python3 - "$OUT" "$ROWS" "$LIMIT_GB_PER_M" <<'PY'
import json, os, sys
out, rows, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
summary = json.load(open(f"{out}/summary.json"))["summary"]
assert summary["labeled_rows"] == summary["rows"], summary
run_dir = summary["run_dir"]

def size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)

parts = {name: size(os.path.join(run_dir, name)) for name in sorted(os.listdir(run_dir))}
total = sum(parts.values())
per_million = total / 1e9 * 1e6 / rows
for name, bytes_ in parts.items():
    print(f"  {name:<28} {bytes_ / 1e6:10.1f} MB")
print(f"run directory after a finished run of {rows:,} rows: {total / 1e6:.1f} MB "
      f"= {per_million:.3f} GB per million rows (target ≤ {limit})")
try:
    files = json.load(open(f"{out}/files.json")).get("data", [])
    print(f"files still stored at the server: {len(files)}")
except (OSError, ValueError):
    pass
sys.exit(0 if per_million <= limit else 1)
PY
