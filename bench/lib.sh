# Sourced by every bench/<name> script: builds the release preset's target and runs it.
#   bench_run TARGET [ARGS…]
set -euo pipefail
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_build() {
  cmake --preset release -S "$BENCH_ROOT" >/dev/null
  cmake --build --preset release --target "$@"
}

bench_run() {
  local target="$1"
  shift
  bench_build "$target"
  "$BENCH_ROOT/build/release/bench/$target" "$@"
}
