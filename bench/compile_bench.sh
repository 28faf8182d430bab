#!/usr/bin/env bash
# Compile time of every bundled RASP program against the issue-14 target (< 100 ms each, add
# included): best of REPEATS runs of the time `circuits compile` reports for reading, parsing,
# analysing and compiling (the HDF5 write excluded), plus the user+sys CPU time of the whole
# command (less disturbed by other processes on a shared machine). The peer column is Tracr's
# compile time for the same program where Tracr is importable by /usr/bin/python3 (it is not
# installed here, and six of these programs are outside what Tracr compiles: "n/a").
#   usage: bench/compile_bench.sh [path/to/circuits] [REPEATS]   (default: build/cli/circuits, 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cli/circuits}
repeats=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
peer="n/a"
if /usr/bin/python3 -c "import tracr" 2>/dev/null; then peer="tracr installed: not timed by this script"; fi
printf "%-16s %12s %12s %8s %s\n" program "compile ms" "cpu ms" target "peer (Tracr)"
worst=0
for program in "$root"/data/programs/*.rasp; do
    name=$(basename "$program" .rasp)
    options=()
    if [ "$name" = induction ]; then options+=(--attention-only); fi
    best=""
    best_cpu=""
    for _ in $(seq "$repeats"); do
        summary=$( { /usr/bin/time -f "cpu %U %S" "$bin" compile "$program" -o "$tmp/$name.h5" "${options[@]}"; } 2>&1 )
        ms=$(sed -n 's/.* in \([0-9.]*\) ms:.*/\1/p' <<<"$summary")
        cpu=$(sed -n 's/^cpu \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' <<<"$summary" | awk '{printf "%.0f", ($1 + $2) * 1000}')
        if [ -z "$best" ] || awk "BEGIN{exit !($ms < $best)}"; then best=$ms; fi
        if [ -z "$best_cpu" ] || [ "$cpu" -lt "$best_cpu" ]; then best_cpu=$cpu; fi
    done
    verdict=ok
    if awk "BEGIN{exit !($best >= 100)}"; then verdict=OVER; fi
    if awk "BEGIN{exit !($best > $worst)}"; then worst=$best; fi
    printf "%-16s %12s %12s %8s %s\n" "$name" "$best" "$best_cpu" "$verdict" "$peer"
done
echo "slowest: $worst ms (target: every program under 100 ms)"
