#!/usr/bin/env bash
# The README's test command: installs what the tests need when missing (scripts/prerequisites.sh:
# cmake, clang, libclang, the wasm32-wasip2 target; Chromium for the report test), fetches the
# embedded model (scripts/fetch-model.sh) and the official client SDKs the protocol tests use
# (scripts/sdk-venv.sh), then runs every test. Extra arguments go to
# `cargo test` (e.g. `bash scripts/test.sh --test it crash`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prerequisites.sh --with-browser
bash scripts/fetch-model.sh
bash scripts/sdk-venv.sh
cargo test --workspace "$@"
