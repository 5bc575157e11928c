#!/usr/bin/env bash
# Compile throughput and memory, side by side with the seed article's approach, in one run.
#
# usage: bench/compile.sh [ROWS...]        (default: 1000000 5000000)
#   REPEAT=3 runs each tool that many times per size, alternating, and reports medians.
#   BIN=path/to/batchlabel measures that binary instead of building target/release/batchlabel
#     (no `cargo build` then). Relative paths are taken from the directory you run the script in.
#   BIN_BEFORE=path/to/older/batchlabel also measures that binary on every step, alternating
#     with BIN (the order swaps each repeat), and prints both with the ratio after/before.
# Needs python3 with pandas (installed here if missing). The data and the baseline come from
# bench/tools/ (gen_comments.py, seed_compile.py); the data is cached in bench/data/ (git-ignored).
#
# Before/after, e.g.:
#   git worktree add /tmp/before <old-commit> && (cd /tmp/before && cargo build --release)
#   cargo build --release
#   BIN_BEFORE=/tmp/before/target/release/batchlabel BIN=target/release/batchlabel bash bench/compile.sh 1000000
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
[ -z "${BIN_BEFORE:-}" ] || BIN_BEFORE=$(resolve_bin "$BIN_BEFORE")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
REPEAT=${REPEAT:-3}
SIZES=("${@:-1000000 5000000}")
read -r -a SIZES <<<"${SIZES[*]}"
python3 -c "import pandas" 2>/dev/null || pip install --quiet pandas
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/batchlabel
fi
echo "after:  $BIN"
[ -z "${BIN_BEFORE:-}" ] || echo "before: $BIN_BEFORE"
OUT=bench/out
mkdir -p bench/data "$OUT"

measure() { # label, command... → appends "label seconds max_rss_kb" to $OUT/times
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" -a -o "$OUT/times" "$@" >/dev/null 2>"$OUT/last.stderr" || { cat "$OUT/last.stderr"; exit 1; }
}

: >"$OUT/times"
for rows in "${SIZES[@]}"; do
  data=bench/data/comments-$rows.csv
  [ -f "$data" ] || python3 "$TOOLS/gen_comments.py" "$rows" "$data"
  # bench/compile.yaml itself reads data/comments.csv: the 1M file.
  [ "$rows" = 1000000 ] && ln -sf "comments-$rows.csv" bench/data/comments.csv
  spec=$OUT/compile-$rows.yaml
  sed "s|csv: data/comments.csv|csv: ../data/comments-$rows.csv|" bench/compile.yaml >"$spec"
  for ((i = 1; i <= REPEAT; i++)); do
    rm -rf "$OUT/shards-$rows" "$OUT/shards-before-$rows" "$OUT/seed-$rows.jsonl"
    if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 0)); then
      measure "before-$rows" "$BIN_BEFORE" --quiet compile "$spec" --out "$OUT/shards-before-$rows"
    fi
    measure "batchlabel-$rows" "$BIN" --quiet compile "$spec" --out "$OUT/shards-$rows"
    if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 1)); then
      measure "before-$rows" "$BIN_BEFORE" --quiet compile "$spec" --out "$OUT/shards-before-$rows"
    fi
    measure "seed-$rows" python3 "$TOOLS/seed_compile.py" "$data" "$OUT/seed-$rows.jsonl"
  done
  # The shape the issue asks for: ≥ 20 files at 1M, none over 50,000 lines or 200 MB, ids unique.
  # (Checked on BIN's output only: an older BIN_BEFORE need not meet it.)
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
  rm -rf "$OUT/shards-$rows" "$OUT/shards-before-$rows" "$OUT/seed-$rows.jsonl"
done

python3 - "$OUT/times" <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, seconds, rss = line.split()
    runs[label].append((float(seconds), int(rss)))
print("\n| rows | tool | median s | rows/s | peak RSS MB (max of runs) |")
print("|---:|---|---:|---:|---:|")
ratios, medians, peaks = {}, {}, {}
order = {"batchlabel": 0, "before": 1, "seed": 2}
for label in sorted(runs, key=lambda l: (int(l.split("-")[1]), order.get(l.split("-")[0], 3), l)):
    tool, rows = label.split("-")
    rows = int(rows)
    seconds = statistics.median(s for s, _ in runs[label])
    rss = max(r for _, r in runs[label]) / 1024
    ratios.setdefault(rows, {})[tool] = rows / seconds
    medians.setdefault(rows, {})[tool] = seconds
    peaks.setdefault(rows, {})[tool] = rss
    print(f"| {rows:,} | {tool} | {seconds:.2f} | {rows / seconds:,.0f} | {rss:.0f} |")
for rows, by_tool in sorted(ratios.items()):
    if "seed" in by_tool and "batchlabel" in by_tool:
        print(f"\n{rows:,} rows: batchlabel is {by_tool['batchlabel'] / by_tool['seed']:.1f}x the seed's rows/s")
    if "seed" in by_tool and "before" in by_tool:
        print(f"{rows:,} rows: before is {by_tool['before'] / by_tool['seed']:.1f}x the seed's rows/s")
    if "before" in by_tool and "batchlabel" in by_tool:
        after, before = medians[rows]["batchlabel"], medians[rows]["before"]
        print(f"{rows:,} rows: after/before median seconds {after / before:.2f}x "
              f"({after:.2f} s / {before:.2f} s; runs after {[s for s, _ in runs[f'batchlabel-{rows}']]}, "
              f"before {[s for s, _ in runs[f'before-{rows}']]}), "
              f"peak RSS after/before {peaks[rows]['batchlabel'] / peaks[rows]['before']:.2f}x")
PY
