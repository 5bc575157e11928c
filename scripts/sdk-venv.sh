#!/usr/bin/env bash
# The official client SDKs the protocol tests drive `batchlabel serve` with (OpenAI's,
# Anthropic's, Google's google-genai and Mistral's mistralai Python SDKs, from PyPI, pinned) and pyarrow (another
# Parquet implementation, which writes the Parquet inputs and reads the Parquet results of the
# interoperability test), in a virtual environment at
# ${BATCHLABEL_SDK_VENV:-<repo>/.venv-sdk}. Tests find its python there. Running it again when
# the environment is there does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BATCHLABEL_SDK_VENV:-$PWD/.venv-sdk}
PINS=(openai==3.57.0 anthropic==2.14.0 google-genai==3.3.0 mistralai==3.7.0 pyarrow==26.0.1)
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(name) != wanted for name, wanted in (pin.split("==") for pin in sys.argv[1:])))
PY
  echo "SDKs ready: $VENV"
  exit 0
fi
python3 -m venv --help >/dev/null 2>&1 || {
  echo "error: python3 with the venv module is needed for the SDK tests" >&2
  echo "hint: sudo apt-get install python3-venv   (then run this command again)" >&2
  exit 2
}
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
echo "SDKs ready: $VENV"
