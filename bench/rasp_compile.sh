#!/usr/bin/env bash
# Compile time and residual-stream width of every bundled RASP program (data/programs/).
# "compile ms" is what `circuits compile` reports for reading, parsing and compiling the program
# (the model file write excluded); "total ms" times the whole command (process start and HDF5
# write included). Best of REPEATS runs each; d_model, layers, heads and d_mlp from its summary.
#   usage: bench/rasp_compile.sh [path/to/circuits] [REPEATS]   (default: build/cli/circuits, 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cli/circuits}
repeats=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf "%-16s %11s %9s %8s %7s %6s %6s\n" program "compile ms" "total ms" d_model layers heads d_mlp
for program in "$root"/data/programs/*.rasp; do
    name=$(basename "$program" .rasp)
    options=()
    if [ "$name" = induction ]; then options+=(--attention-only); fi
    best=""
    best_compile=""
    for _ in $(seq "$repeats"); do
        start=$(date +%s%N)
        summary=$("$bin" compile "$program" -o "$tmp/$name.h5" "${options[@]}")
        end=$(date +%s%N)
        ms=$(( (end - start) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        compile_ms=$(sed -n 's/.* in \([0-9.]*\) ms:.*/\1/p' <<<"$summary")
        if [ -z "$best_compile" ] || awk "BEGIN{exit !($compile_ms < $best_compile)}"; then best_compile=$compile_ms; fi
    done
    d_model=$(sed -n 's/.*d_model \([0-9]*\).*/\1/p' <<<"$summary")
    layers=$(sed -n 's/.*: \([0-9]*\) layers\{0,1\},.*/\1/p' <<<"$summary")
    heads=$(sed -n 's/.*, \([0-9]*\) heads\{0,1\} per layer.*/\1/p' <<<"$summary")
    d_mlp=$(sed -n 's/.*d_mlp \([0-9]*\).*/\1/p' <<<"$summary")
    printf "%-16s %11s %9s %8s %7s %6s %6s\n" "$name" "$best_compile" "$best" "$d_model" "$layers" "$heads" "$d_mlp"
done
