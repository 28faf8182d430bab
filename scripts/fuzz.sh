#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz) for SECONDS each, two at a time, from seed corpora made
# from the bundled files, and prints a table: target, executions, new crashes, corpus size.
# Usage: scripts/fuzz.sh SECONDS [TARGET...]   (BUILD=build-asan: the clang build scripts/test.sh makes, -DCIRCUITS_FUZZ=ON)
# Any crash, leak, sanitizer report, input slower than 1 s or allocation over the limits below
# fails the run (exit 1); the input is left in $WORK/crashes/<target>/ (copy it to
# tests/fuzz/regressions/<target>/ once fixed, where the test suite replays it).
# A corrupt file that crashes or hangs the HDF5 library itself is refused by the child process
# that reads every HDF5 file first (lib/hdf5_check.cpp), here within 500 ms, inside libFuzzer's
# 1 s. A finding whose stack still reaches the HDF5 library (libhdf5) before any of our code is
# counted in the hdf5_lib column and fails the run only with FUZZ_STRICT_HDF5=1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
build=${BUILD:-build-asan}
work=${WORK:-$build/fuzz}
rss_mb=${FUZZ_RSS_MB:-2048}       # resident memory of the whole process
malloc_mb=${FUZZ_MALLOC_MB:-1024}  # one allocation
[ -x "$build/tests/fuzz/circuits_fuzz_seeds" ] || { echo "fuzz.sh: no $build/tests/fuzz/circuits_fuzz_seeds (build with -DCIRCUITS_FUZZ=ON)" >&2; exit 2; }
mapfile -t listed < <("$build/tests/fuzz/circuits_fuzz_seeds" --list)
declare -A max_len
for line in "${listed[@]}"; do max_len[${line% *}]=${line#* }; done
targets=("$@")
[ ${#targets[@]} -gt 0 ] || for line in "${listed[@]}"; do targets+=("${line% *}"); done

rm -rf "$work/seeds" "$work/crashes" "$work/logs" "$work/tmp"
mkdir -p "$work/seeds" "$work/logs" "$work/tmp"
"$build/tests/fuzz/circuits_fuzz_seeds" "$PWD" "$work/seeds" "${targets[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TMPDIR="$PWD/$work/tmp"
export CIRCUITS_HDF5_CHECK_MS=${CIRCUITS_HDF5_CHECK_MS:-500}

run_one() {
    local t=$1
    mkdir -p "$work/corpus/$t" "$work/crashes/$t"
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=1 -rss_limit_mb="$rss_mb" \
        -malloc_limit_mb="$malloc_mb" -max_len="${max_len[$t]}" -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$t/" "$work/corpus/$t" "$work/seeds/$t" >"$work/logs/$t.log" 2>&1 || true
}

# Two at a time: the CI machine has two cores.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    run_one "${targets[i]}" &
    [ $((i + 1)) -lt ${#targets[@]} ] && run_one "${targets[i + 1]}" &
    wait
done

# Whether the log's first stack frame that is HDF5's or ours is HDF5's.
in_hdf5() {
    grep -E '^ +#[0-9]+ ' "$1" | grep -m1 -E 'libhdf5|circuits::' | grep -q libhdf5
}

failed=0
printf '%-12s %12s %12s %9s %8s\n' target executions new_crashes hdf5_lib corpus
for t in "${targets[@]}"; do
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/logs/$t.log" | tail -1 | awk '{print $2}')
    crashes=$(find "$work/crashes/$t" -type f | wc -l)
    hdf5=0
    if [ "$crashes" -gt 0 ] && in_hdf5 "$work/logs/$t.log"; then hdf5=$crashes; crashes=0; fi
    corpus=$(find "$work/corpus/$t" -type f | wc -l)
    printf '%-12s %12s %12s %9s %8s\n' "$t" "${execs:-?}" "$crashes" "$hdf5" "$corpus"
    [ "$hdf5" -gt 0 ] && [ "${FUZZ_STRICT_HDF5:-0}" = 1 ] && crashes=$hdf5
    [ "$hdf5" -gt 0 ] && grep -m3 -E 'ERROR|SUMMARY' "$work/logs/$t.log" | sed "s/^/    $t (HDF5 library): /" >&2
    if [ "$crashes" -gt 0 ] || [ -z "$execs" ]; then
        failed=1
        echo "--- $t: see $work/logs/$t.log" >&2
        grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$work/logs/$t.log" >&2 || tail -5 "$work/logs/$t.log" >&2
    fi
done
exit $failed
