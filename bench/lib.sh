# Sourced by every bench/<name> script: builds the release preset's target and runs it.
#   bench_run TARGET [ARGS…]
# TWINRIG_BENCH_BUILD=DIR builds into DIR instead of build/release (a second release tree, so that
# two benchmarks can be built side by side).
set -euo pipefail
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_BUILD="${TWINRIG_BENCH_BUILD:-$BENCH_ROOT/build/release}"

bench_build() {
  if [[ -n "${TWINRIG_BENCH_BUILD:-}" ]]; then
    cmake -S "$BENCH_ROOT" -B "$BENCH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTWINRIG_SANITIZE=OFF >/dev/null
    cmake --build "$BENCH_BUILD" --target "$@"
  else
    cmake --preset release -S "$BENCH_ROOT" >/dev/null
    cmake --build --preset release --target "$@"
  fi
}

bench_run() {
  local target="$1"
  shift
  bench_build "$target"
  "$BENCH_BUILD/bench/$target" "$@"
}
