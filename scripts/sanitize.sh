#!/usr/bin/env bash
# The core under AddressSanitizer + UndefinedBehaviorSanitizer: configures build-asan/ with
# FCNKIT_SANITIZE=ON (clang when present, else g++), builds fcn_kernel_test and
# fcn_graph_spec_test, and runs both through ctest. A sanitizer report, a failed case or a crash
# fails the run. Used by .ci/run; ends with the line "sanitize: N passed, N failed".
#   bash scripts/sanitize.sh [extra ctest arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
dir=build-asan
# With clang the same build also carries libFuzzer's instrumentation, so scripts/fuzz.js
# reuses it for the native fuzz target.
fuzz=OFF
if command -v clang++ >/dev/null 2>&1; then cc=clang cxx=clang++ fuzz=ON; else cc=gcc cxx=g++; fi
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p "$dir"
fail() { echo "sanitize: $1" >&2; echo "sanitize: 0 passed, 1 failed"; exit 1; }
CC=$cc CXX=$cxx cmake -S . -B "$dir" -DFCNKIT_SANITIZE=ON -DFCNKIT_FUZZ=$fuzz -DCMAKE_BUILD_TYPE=Release >"$dir/configure.log" 2>&1 ||
  { tail -30 "$dir/configure.log"; fail "cmake configure failed"; }
cmake --build "$dir" --parallel "$jobs" --target fcn_kernel_test fcn_graph_spec_test >"$dir/build.log" 2>&1 ||
  { grep -E 'error|Error' "$dir/build.log" | head -30; fail "build failed"; }

# ctest sets ASAN_OPTIONS / UBSAN_OPTIONS per test (CMakeLists.txt): huge allocations fail
# softly as in a normal build, any undefined behaviour ends the program.
log=$(mktemp)
(cd "$dir" && ctest --output-on-failure --timeout 900 "$@") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
read -r failed total < <(sed -nE 's/.* tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/p' "$log" | tail -1)
rm -f "$log"
if [[ -z "${total:-}" ]]; then fail "ctest did not report"; fi
echo "sanitize: $((total - failed)) passed, ${failed} failed"
exit "$status"
