#!/bin/bash
# Eviction policies side by side: tierpage-bench under `tierpage run` with
# bench/stacks/dram-128.yaml (clock) and dram-128-fifo.yaml, alternating, on
# each pattern; the resident hit rate from tierpage's own counts. No
# --verify here, so every fault after the fill's zero fills is a miss of the
# access phase (the data-integrity runs are in the test suite).
#   bench/policy_compare.sh [--reps K] [--size SIZE] [--patterns "zipf random"]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
reps=3 size=512MiB patterns="zipf random"
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --patterns) patterns=$2; shift 2 ;;
    --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "policy_compare: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v jq >/dev/null || { echo "policy_compare: jq not found (apt-get install jq)" >&2; exit 1; }
work=$(mktemp -d /tmp/tierpage-policy.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '%-8s %-6s %12s %10s %12s %10s\n' pattern policy "accesses/s" "us/access" "misses/acc" "hit rate"
for pattern in $patterns; do
    for r in $(seq "$reps"); do
        for policy in clock fifo; do
            stack=$here/stacks/dram-128.yaml
            [ "$policy" = fifo ] && stack=$here/stacks/dram-128-fifo.yaml
            "$build/bin/tierpage" run --quiet -c "$stack" --stats "$work/s.json" -- \
                "$build/bin/tierpage-bench" --size "$size" --pattern "$pattern" --quiet --json > "$work/b.json"
            jq -r --slurpfile s "$work/s.json" --arg p "$pattern" --arg pol "$policy" \
                '(($s[0].faults - $s[0].zero_fills) / .accesses) as $m |
                 "\($p) \($pol) \(.accesses_per_second|floor) \(.us_per_access_mean) \($m) \(1 - $m)"' "$work/b.json" |
                awk '{ printf "%-8s %-6s %12d %10.2f %12.4f %10.4f\n", $1, $2, $3, $4, $5, $6 }'
        done
    done
done
