#!/usr/bin/env bash
# Compile throughput and memory, side by side with the seed article's approach, in one run.
#
# usage: bench/compile.sh [ROWS...]        (default: 1000000 5000000)
#   REPEAT=3 runs each tool that many times per size, alternating, and reports medians.
# Needs python3 with pandas (installed here if missing) and ../shared/bench beside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
REPEAT=${REPEAT:-3}
SIZES=("${@:-1000000 5000000}")
read -r -a SIZES <<<"${SIZES[*]}"
python3 -c "import pandas" 2>/dev/null || pip install --quiet pandas
cargo build --release --quiet
BIN=target/release/batchlabel
OUT=bench/out
mkdir -p bench/data "$OUT"

measure() { # label, command... → appends "label seconds max_rss_kb" to $OUT/times
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" -a -o "$OUT/times" "$@" >/dev/null 2>"$OUT/last.stderr" || { cat "$OUT/last.stderr"; exit 1; }
}

: >"$OUT/times"
for rows in "${SIZES[@]}"; do
  data=bench/data/comments-$rows.csv
  [ -f "$data" ] || python3 "$SHARED/gen_comments.py" "$rows" "$data"
  # bench/compile.yaml itself reads data/comments.csv: the 1M file.
  [ "$rows" = 1000000 ] && ln -sf "comments-$rows.csv" bench/data/comments.csv
  spec=$OUT/compile-$rows.yaml
  sed "s|csv: data/comments.csv|csv: ../data/comments-$rows.csv|" bench/compile.yaml >"$spec"
  for ((i = 1; i <= REPEAT; i++)); do
    rm -rf "$OUT/shards-$rows" "$OUT/seed-$rows.jsonl"
    measure "batchlabel-$rows" "$BIN" --quiet compile "$spec" --out "$OUT/shards-$rows"
    measure "seed-$rows" python3 "$SHARED/seed_compile.py" "$data" "$OUT/seed-$rows.jsonl"
  done
  # The shape the issue asks for: ≥ 20 files at 1M, none over 50,000 lines or 200 MB, ids unique.
  python3 - "$OUT/shards-$rows" <<'PY'
import json, os, sys
folder = sys.argv[1]
files = sorted(f for f in os.listdir(folder) if f.endswith(".jsonl"))
ids, worst_lines, worst_bytes = set(), 0, 0
for name in files:
    path = os.path.join(folder, name)
    worst_bytes = max(worst_bytes, os.path.getsize(path))
    count = 0
    with open(path, "rb") as f:
        for line in f:
            count += 1
            custom_id = json.loads(line)["custom_id"]
            assert custom_id not in ids, f"duplicate custom_id {custom_id}"
            assert len(custom_id) <= 64
            ids.add(custom_id)
    worst_lines = max(worst_lines, count)
assert worst_lines <= 50000 and worst_bytes <= 200_000_000
print(f"{folder}: {len(files)} files, {len(ids)} unique custom_ids, largest {worst_lines} lines / {worst_bytes} bytes")
PY
  rm -rf "$OUT/shards-$rows" "$OUT/seed-$rows.jsonl"
done

python3 - "$OUT/times" <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, seconds, rss = line.split()
    runs[label].append((float(seconds), int(rss)))
print("\n| rows | tool | median s | rows/s | peak RSS MB (max of runs) |")
print("|---:|---|---:|---:|---:|")
ratios = {}
for label in sorted(runs, key=lambda l: (int(l.split("-")[1]), l)):
    tool, rows = label.split("-")
    rows = int(rows)
    seconds = statistics.median(s for s, _ in runs[label])
    rss = max(r for _, r in runs[label]) / 1024
    ratios.setdefault(rows, {})[tool] = rows / seconds
    print(f"| {rows:,} | {tool} | {seconds:.2f} | {rows / seconds:,.0f} | {rss:.0f} |")
for rows, by_tool in sorted(ratios.items()):
    if "seed" in by_tool and "batchlabel" in by_tool:
        print(f"\n{rows:,} rows: batchlabel is {by_tool['batchlabel'] / by_tool['seed']:.1f}x the seed's rows/s")
PY
