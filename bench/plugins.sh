#!/usr/bin/env bash
# WASM plugin costs, side by side in one run:
#   1. validator cost per call (cargo bench -p batchlabel-plugin-host; target ≤ 5 µs);
#   2. compile of 1M rows with `pii-scrub` as request builder against the same spec with
#      templates only (target ≤ 1.5×), alternating, medians of REPEAT runs.
# usage: bench/plugins.sh [ROWS]   (default 1000000; REPEAT=3)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
REPEAT=${REPEAT:-3}
ROWS=${1:-1000000}
cargo build --release --target wasm32-wasip2 --quiet --manifest-path plugins/Cargo.toml --target-dir plugins/target
cargo build --release --quiet
BIN=target/release/batchlabel
OUT=bench/out
mkdir -p bench/data "$OUT"

echo "== validator call"
cargo bench --quiet -p batchlabel-plugin-host 2>/dev/null | grep -E "µs/call|calls/s"

echo "== compile $ROWS rows: templates only vs pii-scrub"
data=bench/data/comments-$ROWS.csv
[ -f "$data" ] || python3 "$SHARED/gen_comments.py" "$ROWS" "$data"
cp plugins/target/wasm32-wasip2/release/pii_scrub.wasm "$OUT/pii_scrub.wasm"
sed "s|csv: data/comments.csv|csv: ../data/comments-$ROWS.csv|" bench/compile.yaml >"$OUT/template-$ROWS.yaml"
{ cat "$OUT/template-$ROWS.yaml"; printf 'plugins:\n  request: {uses: pii_scrub.wasm}\n'; } >"$OUT/pii-$ROWS.yaml"
"$BIN" check "$OUT/pii-$ROWS.yaml" >/dev/null # compiles the plugin into the cache once
: >"$OUT/plugin-times"
for ((i = 1; i <= REPEAT; i++)); do
  for variant in template pii; do
    rm -rf "$OUT/shards-$variant"
    /usr/bin/time -f "$variant %e %M" -a -o "$OUT/plugin-times" \
      "$BIN" --quiet compile "$OUT/$variant-$ROWS.yaml" --out "$OUT/shards-$variant" >/dev/null
  done
done
python3 - "$OUT/plugin-times" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, seconds, rss = line.split()
    runs.setdefault(name, []).append((float(seconds), int(rss)))
median = {name: statistics.median(s for s, _ in values) for name, values in runs.items()}
for name, values in runs.items():
    print(f"{name:<9} median {median[name]:.2f} s  runs {[s for s, _ in values]}  peak RSS {max(r for _, r in values) // 1024} MB")
print(f"pii-scrub / templates only: {median['pii'] / median['template']:.2f}x")
PY
rm -rf "$OUT"/shards-template "$OUT"/shards-pii
