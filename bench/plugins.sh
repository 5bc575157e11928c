#!/usr/bin/env bash
# WASM plugin costs, side by side in one run:
#   1. validator cost per call (cargo bench -p batchlabel-plugin-host; target ≤ 5 µs);
#   2. compile of 1M rows with `pii-scrub` as request builder against the same spec with
#      templates only (target ≤ 1.5×), alternating, medians of REPEAT runs.
# usage: bench/plugins.sh [ROWS]   (default 1000000; REPEAT=3)
#   BIN=path/to/batchlabel measures that binary instead of building target/release/batchlabel
#     (no `cargo build` of it then). Relative paths are taken from the directory you run the
#     script in. Step 1 benches the working tree, not a binary: with BIN it is skipped unless
#     VALIDATOR=1 (VALIDATOR=0 skips it in any case).
#   PII_WASM=path/to/pii_scrub.wasm uses that plugin; by default it is built from plugins/
#     (cargo, wasm32-wasip2), except that with BIN an already built
#     plugins/target/wasm32-wasip2/release/pii_scrub.wasm is used as it is.
#   BIN_BEFORE=path/to/older/batchlabel also runs both compiles of step 2 with that binary, the
#     same plugin and spec, alternating with BIN (the order swaps each repeat), and prints both
#     with the ratio after/before.
# The data comes from bench/tools/gen_comments.py, cached in bench/data/ (git-ignored).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
[ -z "${BIN_BEFORE:-}" ] || BIN_BEFORE=$(resolve_bin "$BIN_BEFORE")
[ -z "${PII_WASM:-}" ] || PII_WASM=$(realpath -e -- "$PII_WASM")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
REPEAT=${REPEAT:-3}
ROWS=${1:-1000000}
if [ -n "${BIN:-}" ]; then VALIDATOR=${VALIDATOR:-0}; else VALIDATOR=${VALIDATOR:-1}; fi
if [ -z "${PII_WASM:-}" ]; then
  PII_WASM=plugins/target/wasm32-wasip2/release/pii_scrub.wasm
  if [ -z "${BIN:-}" ] || [ ! -f "$PII_WASM" ]; then
    cargo build --release --target wasm32-wasip2 --quiet --manifest-path plugins/Cargo.toml --target-dir plugins/target
  fi
fi
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/batchlabel
fi
echo "after:  $BIN"
[ -z "${BIN_BEFORE:-}" ] || echo "before: $BIN_BEFORE"
OUT=bench/out
mkdir -p bench/data "$OUT"

if [ "$VALIDATOR" = 1 ]; then
  echo "== validator call"
  cargo bench --quiet -p batchlabel-plugin-host 2>/dev/null | grep -E "µs/call|calls/s"
else
  echo "== validator call: skipped (VALIDATOR=1 runs cargo bench -p batchlabel-plugin-host on the working tree)"
fi

echo "== compile $ROWS rows: templates only vs pii-scrub"
data=bench/data/comments-$ROWS.csv
[ -f "$data" ] || python3 "$TOOLS/gen_comments.py" "$ROWS" "$data"
cp "$PII_WASM" "$OUT/pii_scrub.wasm"
sed "s|csv: data/comments.csv|csv: ../data/comments-$ROWS.csv|" bench/compile.yaml >"$OUT/template-$ROWS.yaml"
{ cat "$OUT/template-$ROWS.yaml"; printf 'plugins:\n  request: {uses: pii_scrub.wasm}\n'; } >"$OUT/pii-$ROWS.yaml"
"$BIN" check "$OUT/pii-$ROWS.yaml" >/dev/null # compiles the plugin into the cache once
[ -z "${BIN_BEFORE:-}" ] || "$BIN_BEFORE" check "$OUT/pii-$ROWS.yaml" >/dev/null
: >"$OUT/plugin-times"
compile_with() { # label prefix ("" or "before-"), binary
  local prefix=$1 bin=$2 variant
  for variant in template pii; do
    rm -rf "$OUT/shards-$prefix$variant"
    /usr/bin/time -f "$prefix$variant %e %M" -a -o "$OUT/plugin-times" \
      "$bin" --quiet compile "$OUT/$variant-$ROWS.yaml" --out "$OUT/shards-$prefix$variant" >/dev/null
  done
}
for ((i = 1; i <= REPEAT; i++)); do
  if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 0)); then compile_with before- "$BIN_BEFORE"; fi
  compile_with "" "$BIN"
  if [ -n "${BIN_BEFORE:-}" ] && ((i % 2 == 1)); then compile_with before- "$BIN_BEFORE"; fi
done
python3 - "$OUT/plugin-times" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, seconds, rss = line.split()
    runs.setdefault(name, []).append((float(seconds), int(rss)))
median = {name: statistics.median(s for s, _ in values) for name, values in runs.items()}
peak = {name: max(r for _, r in values) for name, values in runs.items()}
width = max(9, *map(len, runs))
for name in sorted(runs, key=lambda name: (name.startswith("before-"), name.removeprefix("before-") != "template")):
    values = runs[name]
    print(f"{name:<{width}} median {median[name]:.2f} s  runs {[s for s, _ in values]}  peak RSS {peak[name] // 1024} MB")
print(f"pii-scrub / templates only: {median['pii'] / median['template']:.2f}x")
if "before-pii" in median:
    print(f"before: pii-scrub / templates only: {median['before-pii'] / median['before-template']:.2f}x")
    for variant in ["template", "pii"]:
        print(f"after/before {variant:<8}: median seconds {median[variant] / median['before-' + variant]:.2f}x, "
              f"peak RSS {peak[variant] / peak['before-' + variant]:.2f}x")
PY
rm -rf "$OUT"/shards-template "$OUT"/shards-pii "$OUT"/shards-before-template "$OUT"/shards-before-pii
