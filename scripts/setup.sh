#!/usr/bin/env bash
# Installs what is missing, builds circuits (Release) and runs the main job on the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
./build/cli/circuits inspect data/models/planted-2l.h5 | head -20
echo
echo "$ circuits run data/models/planted-2l.h5 a b c d e f a b c d e f"
./build/cli/circuits run data/models/planted-2l.h5 a b c d e f a b c d e f
