#!/usr/bin/env bash
# The README's test command: installs what the tests need when missing (scripts/prerequisites.sh:
# cmake, clang, libclang, the wasm32-wasip2 target; Chromium for the report test; PostgreSQL and
# openssl for the database tests), fetches the
# embedded model (scripts/fetch-model.sh) and the official client SDKs the protocol tests use
# (scripts/sdk-venv.sh), then runs every test, and the wheel test (scripts/wheel-test.sh).
# Extra arguments go to `cargo test` (e.g. `bash scripts/test.sh --test it crash`), and skip
# the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prerequisites.sh --with-browser --with-postgres
bash scripts/fetch-model.sh
bash scripts/sdk-venv.sh
cargo test --workspace "$@"
# The whole suite (no filter): also the wheel, built, installed and run from a fresh venv.
[ "$#" -gt 0 ] || bash scripts/wheel-test.sh
