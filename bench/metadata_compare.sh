#!/bin/bash
# What a large, mostly untouched mapping costs: tests/programs/sparse_map
# (maps SIZE MAP_NORESERVE, touches PAGES pages spread across it, checks
# them) plainly and under `tierpage run` with bench/stacks/dram-128.yaml,
# taking turns; medians over --reps of the time mmap took (wall clock and
# the calling thread's CPU time), the peak
# resident memory of the whole process (VmHWM) and the pager's
# metadata_bytes at the end of the run.
#   bench/metadata_compare.sh [--reps K] [--sizes "64 1024"] [--pages N]
# BUILD=dir picks the build whose tierpage runs it; PROGRAM=path the
# sparse_map binary (default: $BUILD/tests/sparse_map).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH_NAME=metadata_compare
. "$here/bench_lib.sh"
build=${BUILD:-$here/../build}
program=${PROGRAM:-$build/tests/sparse_map}
reps=3 sizes="64 1024" pages=1000
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --pages) pages=$2; shift 2 ;;
    --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "metadata_compare: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$program" ] || { echo "metadata_compare: no sparse_map at $program (build the tests)" >&2; exit 1; }
work=$(mktemp -d /tmp/tierpage-metadata.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '%-9s %-9s %12s %12s %12s %16s\n' size setup "mmap ms" "mmap CPU ms" "VmHWM KiB" "metadata bytes"
for size in $sizes; do
    for setup in plain tierpage; do : >"$work/$setup"; done
    for r in $(seq "$reps"); do
        "$program" "$size" "$pages" >"$work/out"
        grep -q "all checks passed" "$work/out" || { cat "$work/out"; exit 1; }
        sed -n 's/.*mapped in \([0-9.]*\) ms (\([0-9.]*\) ms of CPU).*VmHWM \([0-9]*\) KiB.*/\1 \2 \3 -/p' "$work/out" >>"$work/plain"
        "$build/bin/tierpage" run --quiet -c "$here/stacks/dram-128.yaml" --stats "$work/s.json" -- \
            "$program" "$size" "$pages" >"$work/out"
        grep -q "all checks passed" "$work/out" || { cat "$work/out"; exit 1; }
        meta=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata_bytes"])' "$work/s.json")
        sed -n "s/.*mapped in \([0-9.]*\) ms (\([0-9.]*\) ms of CPU).*VmHWM \([0-9]*\) KiB.*/\1 \2 \3 $meta/p" "$work/out" >>"$work/tierpage"
    done
    for setup in plain tierpage; do
        printf '%-9s %-9s %12s %12s %12s %16s\n' "${size}GiB" "$setup" \
            "$(cut -d' ' -f1 "$work/$setup" | median_of)" "$(cut -d' ' -f2 "$work/$setup" | median_of)" \
            "$(cut -d' ' -f3 "$work/$setup" | median_of)" "$(cut -d' ' -f4 "$work/$setup" | median_of)"
    done
done
