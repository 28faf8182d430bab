#!/usr/bin/env bash
# Installs what is missing, builds with -Werror (GCC) and runs the whole test suite, builds again
# with clang and address + undefined-behaviour sanitizers, runs the suite there, and fuzzes every
# parser with that build's libFuzzer targets for CIRCUITS_FUZZ_SECONDS (default 30) per target.
# CIRCUITS_SKIP_SANITIZE=1 skips the sanitizer suite; CIRCUITS_FUZZ_SECONDS=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
stage() { echo "== $1 ($(date -u +%H:%M:%S))"; }
# The counts the tests print (fault kills, resumes, regression inputs replayed), from ctest's log.
counts() { grep -h "MESSAGE:" "$1/Testing/Temporary/LastTest.log" | sed 's/^.*MESSAGE: /   /' || true; }

stage "Release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCIRCUITS_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
stage "Release tests"
(cd build && ctest --output-on-failure -j"$jobs")
counts build

# One clang build with address + undefined-behaviour sanitizers serves both the sanitized test
# suite and the libFuzzer targets (libFuzzer needs clang): one build instead of two saves CI about
# a quarter of an hour on two cores.
if [ "${CIRCUITS_SKIP_SANITIZE:-0}" != 1 ] || [ "${CIRCUITS_FUZZ_SECONDS:-30}" != 0 ]; then
  stage "sanitizer build (clang, address + undefined sanitizers, libFuzzer targets)"
  # Portable (no -march=native: Eigen's kernels for one vector width instead of three, which took
  # 35% off the compile of the heaviest test file, tests/lib/factored_matrix_test.cpp) and line
  # tables only for the debug information (all the sanitizers' reports need; 10-15% off each
  # file): both shorten this build.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIRCUITS_WERROR=OFF -DCIRCUITS_SANITIZE=ON \
        -DCIRCUITS_FUZZ=ON -DCIRCUITS_PORTABLE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" >/dev/null
  cmake --build build-asan -j"$jobs"
fi
if [ "${CIRCUITS_SKIP_SANITIZE:-0}" != 1 ]; then
  stage "sanitizer tests"
  (export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
   cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
  counts build-asan
fi
if [ "${CIRCUITS_FUZZ_SECONDS:-30}" != 0 ]; then
  stage "fuzzing"
  BUILD=build-asan bash scripts/fuzz.sh "${CIRCUITS_FUZZ_SECONDS:-30}"
fi
stage "done"
