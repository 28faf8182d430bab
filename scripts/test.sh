#!/usr/bin/env bash
# Installs what is missing, builds with -Werror, runs the whole test suite, then builds again with
# address + undefined-behaviour sanitizers and runs the suite there too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCIRCUITS_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${CIRCUITS_SKIP_SANITIZE:-0}" != 1 ]; then
  # -Werror stays on the Release build above: GCC 12 emits spurious -Wmaybe-uninitialized and
  # -Wstringop-overflow warnings under -fsanitize at -O1, which are not findings about our code.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIRCUITS_WERROR=OFF -DCIRCUITS_SANITIZE=ON \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  cmake --build build-asan -j"$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
fi
