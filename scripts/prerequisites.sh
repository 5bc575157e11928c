#!/usr/bin/env bash
# What building and testing batchlabel needs beyond cargo, installed when missing: the
# llama.cpp build (cmake, clang, libclang for bindgen), python3 with pip and venv (the model
# download, the SDK tests), the wasm32-wasip2 target the plugin tests build for, rustfmt and
# clippy. Used by scripts/quickstart.sh, scripts/test.sh and .ci/run. The tests pass
# --with-browser to add Chromium (the HTML report test) and --with-postgres to add PostgreSQL
# and openssl (the database tests start throwaway servers, one with a test CA; Debian's default
# cluster is not created): a quickstart needs neither.
# Where it cannot install (no root and no sudo), it names what is missing and the command.
set -euo pipefail
packages=()
command -v cmake >/dev/null || packages+=(cmake)
command -v clang >/dev/null || packages+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 \
  || packages+=(libclang-dev)
# python3 with pip fetches the model; venv holds the official SDKs the protocol tests drive.
command -v python3 >/dev/null || packages+=(python3 python3-pip)
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
for option in "$@"; do
  case "$option" in
    --with-browser) command -v chromium >/dev/null || packages+=(chromium) ;;
    --with-postgres)
      # The database tests run initdb and pg_ctl themselves; Debian keeps them out of PATH.
      command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
        || packages+=(postgresql)
      # openssl makes the test CA and certificate of the TLS test.
      command -v openssl >/dev/null || packages+=(openssl) ;;
    *) echo "error: unknown option $option (expected --with-browser or --with-postgres)" >&2; exit 2 ;;
  esac
done
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo)
  else
    echo "error: missing system packages: ${packages[*]}" >&2
    echo "hint: sudo apt-get install ${packages[*]}   (then run this command again)" >&2
    exit 2
  fi
  if ! command -v apt-get >/dev/null; then
    echo "error: missing system packages: ${packages[*]}, and apt-get is not here to install them" >&2
    echo "hint: install them (Debian names) with your system's package manager" >&2
    exit 2
  fi
  # Debian's postgresql package would otherwise create and start a cluster nobody uses.
  if [[ " ${packages[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    "${SUDO[@]}" mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  echo "installing ${packages[*]} (apt-get)…" >&2
  "${SUDO[@]}" apt-get update -qq
  # confold: the createcluster.conf written above is kept, without a prompt.
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${packages[@]}" >/dev/null
fi
if command -v rustup >/dev/null; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for component in rustfmt clippy; do
    grep -q "^$component" <<<"$installed" || rustup component add "$component"
  done
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$' \
    || rustup target add wasm32-wasip2
elif ! rustc --print target-list 2>/dev/null | grep -q wasm32-wasip2; then
  echo "error: the wasm32-wasip2 target is needed to build the plugin tests, and rustup is not here" >&2
  echo "hint: install Rust with rustup (https://rustup.rs), then: rustup target add wasm32-wasip2" >&2
  exit 2
fi
