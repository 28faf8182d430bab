#!/usr/bin/env bash
# Rebuilds data/models/compiled/ from data/programs/ with the built `circuits` binary: each program
# is compiled and verified against the evaluator (every input up to length 4 and 200 random
# inputs); induction is compiled attention-only.
#   usage: scripts/compile_programs.sh [path/to/circuits]    (default: build/cli/circuits)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cli/circuits}
out=$root/data/models/compiled
mkdir -p "$out"
cd "$root"
for program in data/programs/*.rasp; do
    name=$(basename "$program" .rasp)
    options=(--verify 200)
    if [ "$name" = induction ]; then options+=(--attention-only); fi
    echo "circuits compile $program -o data/models/compiled/$name.h5 ${options[*]}"
    "$bin" compile "$program" -o "$out/$name.h5" "${options[@]}"
done
