# Shared by the bench scripts (sourced before they change directory).

# A path (from the caller's directory) or a command on PATH → an absolute path; exit 2 if none.
resolve_bin() {
  local path=$1
  [[ $path == */* ]] || path=$(command -v -- "$path") || { echo "error: binary not found: $1" >&2; exit 2; }
  realpath -e -- "$path" 2>/dev/null || { echo "error: binary not found: $1" >&2; exit 2; }
}

# In the repository root: $BIN is the release build unless set, and $data the generated
# comments file of $1 rows (made by bench/tools/gen_comments.py once, cached in bench/data/).
release_bin_and_data() {
  local rows=$1
  if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/batchlabel
  fi
  mkdir -p bench/data
  data=$PWD/bench/data/comments-$rows.csv
  [ -f "$data" ] || python3 "${TOOLS:-bench/tools}/gen_comments.py" "$rows" "$data"
}
