#!/bin/bash
# Eviction policies side by side: tierpage-bench --verify under `tierpage
# run` with bench/stacks/dram-128.yaml (clock) and dram-128-fifo.yaml,
# alternating, on each pattern; the resident hit rate from tierpage's own
# counts. Prefetch is off in both (it has nothing to do on these patterns,
# and off, each page the verify pass finds absent is one fault): the access
# phase's misses are the faults less the fill's zero fills and less the
# pages the verify pass found absent (the bench's verify_absent_pages). A
# failed verify stops the run.
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
    --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "policy_compare: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v jq >/dev/null || { echo "policy_compare: jq not found (apt-get install jq)" >&2; exit 1; }
work=$(mktemp -d /tmp/tierpage-policy.XXXXXX)
trap 'rm -rf "$work"' EXIT
for policy in clock fifo; do
    stack=$here/stacks/dram-128.yaml
    [ "$policy" = fifo ] && stack=$here/stacks/dram-128-fifo.yaml
    { cat "$stack"; echo "prefetch: off"; } > "$work/$policy.yaml"
done
printf '%-8s %-6s %12s %10s %12s %10s %7s\n' pattern policy "accesses/s" "us/access" "misses/acc" "hit rate" verify
for pattern in $patterns; do
    for r in $(seq "$reps"); do
        for policy in clock fifo; do
            if ! "$build/bin/tierpage" run --quiet -c "$work/$policy.yaml" --stats "$work/s.json" -- \
                "$build/bin/tierpage-bench" --size "$size" --pattern "$pattern" --verify --quiet --json > "$work/b.json"; then
                echo "policy_compare: $pattern with $policy failed (verify: $(jq -r .verify "$work/b.json" 2>/dev/null))" >&2
                exit 1
            fi
            jq -r --slurpfile s "$work/s.json" --arg p "$pattern" --arg pol "$policy" \
                '(($s[0].faults - $s[0].zero_fills - .verify_absent_pages) / .accesses) as $m |
                 "\($p) \($pol) \(.accesses_per_second|floor) \(.us_per_access_mean) \($m) \(1 - $m) \(.verify)"' \
                "$work/b.json" |
                awk '{ printf "%-8s %-6s %12d %10.2f %12.4f %10.4f %7s\n", $1, $2, $3, $4, $5, $6, $7 }'
        done
    done
done
