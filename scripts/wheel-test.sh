#!/usr/bin/env bash
# The wheel, as a user gets it: build it with maturin (`pyproject.toml`, `bindings = "bin"`;
# the development profile, which reuses the test build — release wheels use `--release`),
# install it into a fresh virtual environment, and, outside the repository, start a job from
# the installed `batchlabel`: `init --from` an example data file, fill in its labels, `check`
# it, and run 10 rows on the embedded model (fetched by scripts/fetch-model.sh; the installed
# `batchlabel model fetch` finds it ready).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/build"
"$work/build/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
"$work/build/bin/maturin" build --quiet --profile dev --bindings bin --interpreter python3 \
  --out "$work/wheels"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work"/wheels/batchlabel-*.whl
batchlabel=$work/venv/bin/batchlabel
[ -x "$batchlabel" ] || { echo "error: the wheel installed no batchlabel binary" >&2; exit 1; }
# As a user has it: the activated venv puts `batchlabel` first on PATH.
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
[ "$(command -v batchlabel)" = "$batchlabel" ] || {
  echo "error: in the activated venv, batchlabel is $(command -v batchlabel || echo missing), not $batchlabel" >&2
  exit 1
}
# The model is in the cache already (scripts/test.sh fetched it): `model fetch` must find it
# ready without the network, so its index is a port where nothing listens.
ready=$(batchlabel model fetch --index-url http://127.0.0.1:9/simple)
case "$ready" in
  "model ready: "*) echo "wheel: $ready" ;;
  *) echo "error: batchlabel model fetch said: $ready" >&2; exit 1 ;;
esac

mkdir "$work/job"
cp specs/data/tweeteval-sentiment.csv "$work/job/tweets.csv"
cd "$work/job"
"$batchlabel" --version
"$batchlabel" init job.yaml --from tweets.csv >/dev/null
[ -f job-spec.schema.json ] || { echo "error: init wrote no job-spec.schema.json beside the spec" >&2; exit 1; }
python3 - <<'PY'
spec = open("job.yaml").read()
start, end = spec.index("labels:\n"), spec.index("model:\n")
labels = ("labels:\n  sentiment:\n    one_of:\n      POSITIVE: the author is pleased\n"
          "      NEGATIVE: the author is displeased\n      NEUTRAL: no clear feeling\n")
model = "model:\n  provider: local\n  name: smollm2-135m-instruct\n  temperature: 0\n"
rest = spec[end:].split("output:", 1)[1]
open("job.yaml", "w").write(spec[:start] + labels + model + "output:" + rest)
PY
"$batchlabel" check job.yaml
"$batchlabel" run job.yaml --limit 10 --json >summary.json
python3 - <<'PY'
import csv, json
summary = json.load(open("summary.json"))["summary"]
assert summary["labeled_rows"] == 10, summary
rows = list(csv.DictReader(open("out/job.csv")))
assert len(rows) == 10 and all(row["sentiment"] in ("POSITIVE", "NEGATIVE", "NEUTRAL") for row in rows), rows
print(f"wheel: installed batchlabel labeled {len(rows)} rows on the embedded model")
PY
