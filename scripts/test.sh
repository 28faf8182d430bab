#!/usr/bin/env bash
# Installs what is missing, builds with -Werror (GCC) and runs the whole test suite, builds again
# with address + undefined-behaviour sanitizers and runs the suite there, then builds the fuzz
# targets with clang and fuzzes every parser for CIRCUITS_FUZZ_SECONDS (default 30) per target.
# CIRCUITS_SKIP_SANITIZE=1 skips the sanitizer suite; CIRCUITS_FUZZ_SECONDS=0 skips fuzzing.
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
  # -Werror stays on the Release build above: GCC 12 emits spurious -Wmaybe-uninitialized and
  # -Wstringop-overflow warnings under -fsanitize at -O1, which are not findings about our code.
  stage "sanitizer build"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIRCUITS_WERROR=OFF -DCIRCUITS_SANITIZE=ON \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  cmake --build build-asan -j"$jobs"
  stage "sanitizer tests"
  (export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
   cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
fi

if [ "${CIRCUITS_FUZZ_SECONDS:-30}" != 0 ]; then
  # libFuzzer needs clang; only the libraries and the fuzz targets are built here (the test suite
  # does not compile with clang 14 yet: structured bindings captured by lambdas).
  stage "fuzz build (clang, address + undefined sanitizers)"
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCIRCUITS_WERROR=OFF -DCIRCUITS_SANITIZE=ON \
        -DCIRCUITS_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  mapfile -t fuzz_bins < <(sed -n 's/^  foreach(name \(.*\))$/\1/p' tests/fuzz/CMakeLists.txt | tr ' ' '\n' | sed 's/^/fuzz_/')
  cmake --build build-fuzz -j"$jobs" --target circuits_fuzz_seeds "${fuzz_bins[@]}"
  stage "fuzzing"
  BUILD=build-fuzz bash scripts/fuzz.sh "${CIRCUITS_FUZZ_SECONDS:-30}"
fi
stage "done"
