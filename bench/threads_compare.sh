#!/bin/bash
# The fault path from many threads: tierpage-bench --threads N (1 2 4 8 16)
# under `tierpage run -c bench/stacks/dram-16.yaml` (16 MiB resident, a dram
# tier), random read-modify-writes over 144 MiB (11% resident), each thread
# on its own slice and all on one shared region, taking turns in one run,
# every run verified. Medians over --reps of aggregate accesses/s and of
# misses/s (faults that fetched from the tier, from tierpage's own counts,
# over the access phase), and each median's ratio to one thread's. --log DIR
# keeps each run's JSON (MODE-N.jsonl, MODE-N-REP.stats.json) for bench/plot.py.
#   bench/threads_compare.sh [--reps K] [--size SIZE] [--threads "1 2 4 8 16"] [--modes "slices shared"] [--log DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH_NAME=threads_compare
. "$here/bench_lib.sh"
build=${BUILD:-$here/../build}
reps=3 size=144MiB counts="1 2 4 8 16" modes="slices shared" log=
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --threads) counts=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "threads_compare: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v jq >/dev/null || { echo "threads_compare: jq not found (apt-get install jq)" >&2; exit 1; }
work=$(mktemp -d /tmp/tierpage-threads.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -n "$log" ]; then
    mkdir -p "$log" || { echo "threads_compare: cannot make $log" >&2; exit 1; }
    bench_run_info "$log"
fi
for r in $(seq "$reps"); do
    for mode in $modes; do
        for n in $counts; do
            flag=
            [ "$mode" = shared ] && flag=--shared
            "$build/bin/tierpage" run --quiet -c "$here/stacks/dram-16.yaml" --stats "$work/s.json" -- \
                "$build/bin/tierpage-bench" --size "$size" --threads "$n" $flag --verify --quiet --json >"$work/b.json"
            [ "$(jq -r .verify "$work/b.json")" = ok ] || { echo "threads_compare: verify failed" >&2; exit 1; }
            jq -r --slurpfile s "$work/s.json" \
                '"\(.accesses_per_second) \(($s[0].faults - $s[0].zero_fills) / .access_seconds)"' "$work/b.json" \
                >>"$work/$mode-$n"
            if [ -n "$log" ]; then
                cat "$work/b.json" >>"$log/$mode-$n.jsonl"
                cp "$work/s.json" "$log/$mode-$n-$r.stats.json"
            fi
        done
    done
done
printf '%-7s %7s %14s %8s %12s %8s\n' mode threads "accesses/s" ratio "misses/s" ratio
for mode in $modes; do
    base_a= base_m=
    for n in $counts; do
        a=$(cut -d' ' -f1 "$work/$mode-$n" | median_of)
        m=$(cut -d' ' -f2 "$work/$mode-$n" | median_of)
        [ -n "$base_a" ] || { base_a=$a; base_m=$m; }
        awk -v mode="$mode" -v n="$n" -v a="$a" -v m="$m" -v ba="$base_a" -v bm="$base_m" \
            'BEGIN { printf "%-7s %7d %14.0f %7.2fx %12.0f %7.2fx\n", mode, n, a, a / ba, m, m / bm }'
    done
done
