#!/usr/bin/env bash
# Dollars per million comments on the article's job (bench/compile.yaml: its system prompt,
# gpt-4o-mini, one label per comment), side by side in one run:
#   article    the article's script: one request per comment, its prompt, no schema (its
#              requests, as bench/tools/seed_compile.py writes them, sent to the same server);
#   unpacked   batchlabel, one request per comment (strict schema);
#   pack N     batchlabel with `batch.pack: N` (answers as label → row-number lists);
#   codes N    the same with `pack_answer: codes` (one character per row);
#   floor      the comment text's tokens plus one output token per comment.
# Each batchlabel configuration is run end to end against `batchlabel serve` (scripted
# engine, `--exact-usage`), whose usage counts the tokens of what it was sent and answered with
# the o200k_base tokenizer (gpt-4o-mini's); the run's own `status` reports that usage, and
# `estimate` (same tokenizer) is printed beside it as a cross-check. The article's requests
# are sent to the same server (bench/tools/send_batch.py) and its input is what the server
# counted; its answers are taken to be the same JSON as the unpacked ones. The article
# pays for every comment; batchlabel sends identical comments once. Dollars at the dated batch
# price of gpt-4o-mini (input $0.075, output $0.30 per 1M tokens).
#
# usage: bench/cost.sh [ROWS]    (default 20000; PACKS="10 25 50 100")
#   BIN=path/to/batchlabel uses that binary instead of building target/release/batchlabel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -z "${BIN:-}" ] || BIN=$(resolve_bin "$BIN")
cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-bench/tools}
ROWS=${1:-20000}
read -r -a PACKS <<<"${PACKS:-10 25 50 100}"
release_bin_and_data "$ROWS"
OUT=$PWD/bench/out/cost
rm -rf "$OUT" && mkdir -p "$OUT"

server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT
"$BIN" serve --port 0 --exact-usage --state-dir "$OUT/serve" --address-file "$OUT/address" \
  2>"$OUT/serve.log" &
server=$!
for _ in $(seq 100); do [ -s "$OUT/address" ] && break; sleep 0.1; done
base_url="http://$(cat "$OUT/address")/v1"

one() { # name, pack, answer → $OUT/<name>/{estimate,run,status}.json
  local name=$1 pack=$2 answer=${3:-lists} dir=$OUT/$1
  mkdir -p "$dir"
  sed "s|csv: data/comments.csv|csv: $data|; s|^name: .*|name: cost-$name|" bench/compile.yaml >"$dir/job.yaml"
  printf 'output:\n  csv: %s/results.csv\n' "$dir" >>"$dir/job.yaml"
  ((pack <= 1)) || printf 'batch:\n  pack: %s\n  pack_answer: %s\n' "$pack" "$answer" >>"$dir/job.yaml"
  "$BIN" estimate "$dir/job.yaml" --json >"$dir/estimate.json"
  "$BIN" run "$dir/job.yaml" --json --state-dir "$dir/state" --base-url "$base_url" \
    --poll-interval 0.05 >"$dir/run.json"
  "$BIN" status "$dir/job.yaml" --json --state-dir "$dir/state" >"$dir/status.json"
}
one unpacked 1
# The article's own requests, as its script writes them (one per comment, duplicates too),
# sent through the same server: their input tokens counted exactly as batchlabel's are.
python3 -c 'import pandas' 2>/dev/null || python3 -m pip install --quiet pandas
mkdir -p "$OUT/article"
python3 "$TOOLS/seed_compile.py" "$data" "$OUT/article/requests.jsonl" >/dev/null
python3 "$TOOLS/send_batch.py" "$base_url" "$OUT/article/requests.jsonl" >"$OUT/article/usage.json"
# The floor's text tokens: the estimate of the same job with no system prompt.
mkdir -p "$OUT/floor"
python3 - "$OUT/unpacked/job.yaml" >"$OUT/floor/job.yaml" <<'PY'
import sys
lines, skipping = open(sys.argv[1]).read().splitlines(), False
for line in lines:
    if line.startswith("  system:"):
        skipping = True
        continue
    if skipping and line.startswith("    "):
        continue
    skipping = False
    print(line)
PY
"$BIN" estimate "$OUT/floor/job.yaml" --json >"$OUT/floor/estimate.json"
for pack in "${PACKS[@]}"; do
  one "pack-$pack" "$pack" lists
  one "codes-$pack" "$pack" codes
done

python3 - "$OUT" "$ROWS" "${PACKS[@]}" <<'PY'
import json, pathlib, sys
out, rows, packs = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
IN, OUTP = 0.075, 0.30

def load(name, file):
    value = json.loads((out / name / file).read_text())
    return value.get("status", value.get("estimate", value)) if isinstance(value, dict) else value

def run_of(name):
    status, estimate = load(name, "status.json"), load(name, "estimate.json")
    summary = json.loads((out / name / "run.json").read_text())["summary"]
    assert summary["labeled_rows"] == rows, f"{name}: {summary}"
    cost = status["cost"]
    return dict(inp=cost["actual_input_tokens"], outp=cost["actual_output_tokens"],
                estimated=estimate["input_tokens"], requests=estimate["requests_sent"],
                unique=estimate["requests"], schema=estimate["schema_tokens_per_request"])

def per_million(inp, outp):
    return (inp * IN + outp * OUTP) / rows  # $ per comment × 1M tokens/M → $ per 1M comments

unpacked = run_of("unpacked")
# The article's input: what the server counted in its own requests. Its answers are taken to
# be the same JSON as batchlabel's unpacked ones (the scripted engine cannot know its prompt).
sent = json.loads((out / "article" / "usage.json").read_text())
assert sent["requests"] == rows, sent
article_in = sent["prompt_tokens"]
article_out = unpacked["outp"] / unpacked["unique"] * rows
derived = (unpacked["inp"] - unpacked["unique"] * unpacked["schema"]) / unpacked["unique"] * rows
article = per_million(article_in, article_out)
# Text tokens: the job without its system prompt, less the schema and the chat format (6 per
# request: 3 for the message, 3 to prime the reply); one output token per comment.
floor = load("floor", "estimate.json")
text = floor["input_tokens"] - floor["requests"] * (floor["schema_tokens_per_request"] + 6)
rows_out = []
def line(name, inp, outp, requests, estimated=None):
    dollars = per_million(inp, outp)
    check = "" if estimated is None else f"{estimated / inp:9.3f}"
    rows_out.append(f"{name:>10} {requests:>9} {inp / rows:10.1f} {outp / rows:9.2f} {dollars:10.2f} {dollars / article:9.2f}x {check}")
print(f"{rows} comments ({unpacked['unique']} unique), gpt-4o-mini batch prices")
print(f"article input counted from its own requests: {article_in / rows:.1f} tokens/comment "
      f"(batchlabel's unpacked requests less the schema: {derived / rows:.1f})")
print(f"{'':>10} {'requests':>9} {'in/comment':>10} {'out/comm.':>9} {'$/M comm.':>10} {'vs article':>10} {'est/actual':>9}")
line("article", article_in, article_out, rows)
line("unpacked", unpacked["inp"], unpacked["outp"], unpacked["requests"], unpacked["estimated"])
for kind in ("pack", "codes"):
    for pack in packs:
        run = run_of(f"{kind}-{pack}")
        line(f"{kind} {pack}", run["inp"], run["outp"], run["requests"], run["estimated"])
line("floor", text, floor["requests"], floor["requests"])
print("\n".join(rows_out))
# Issue 16's target: some packed setting at or under 0.4x the article's dollars.
ratios = {f"{kind} {pack}": per_million(r["inp"], r["outp"]) / article
          for kind in ("pack", "codes") for pack in packs for r in [run_of(f"{kind}-{pack}")]}
best = min(ratios, key=ratios.get)
if ratios[best] > 0.4:
    print(f"target missed: the best setting, {best}, costs {ratios[best]:.2f}x the article (target <= 0.40x)")
    sys.exit(1)
met = ", ".join(name for name, ratio in ratios.items() if ratio <= 0.4)
print(f"target met (<= 0.40x the article's dollars): {met}")
PY
