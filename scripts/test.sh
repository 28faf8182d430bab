#!/usr/bin/env bash
# Installs what is missing, builds with -Werror (GCC) and runs the whole test suite, then builds
# with clang under address + undefined-behaviour sanitizers and coverage instrumentation, runs the
# suite there, and fuzzes every parser for CIRCUITS_FUZZ_SECONDS (default 45) per target.
# CIRCUITS_SKIP_SANITIZE=1 stops after the Release build; CIRCUITS_FUZZ_SECONDS=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
stage() { echo "== $1 ($(date -u +%H:%M:%S))"; }

stage "Release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCIRCUITS_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
stage "Release tests"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${CIRCUITS_SKIP_SANITIZE:-0}" != 1 ]; then
  # One clang build serves the sanitizer suite and the fuzz targets (-fsanitize=fuzzer-no-link
  # adds coverage instrumentation only). -Werror stays on the Release build above.
  stage "sanitizer + fuzz build (clang)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIRCUITS_WERROR=OFF -DCIRCUITS_SANITIZE=ON \
        -DCIRCUITS_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  cmake --build build-asan -j"$jobs"
  stage "sanitizer tests"
  (export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
   cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
  if [ "${CIRCUITS_FUZZ_SECONDS:-45}" != 0 ]; then
    stage "fuzzing"
    BUILD=build-asan bash scripts/fuzz.sh "${CIRCUITS_FUZZ_SECONDS:-45}"
  fi
fi
stage "done"
