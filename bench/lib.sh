# Shared by the bench scripts (sourced before they change directory).

# A path (from the caller's directory) or a command on PATH → an absolute path; exit 2 if none.
resolve_bin() {
  local path=$1
  [[ $path == */* ]] || path=$(command -v -- "$path") || { echo "error: binary not found: $1" >&2; exit 2; }
  realpath -e -- "$path" 2>/dev/null || { echo "error: binary not found: $1" >&2; exit 2; }
}
