#!/bin/bash
# Prefetch on against prefetch off, side by side in one run: tierpage-bench
# --pattern seq and --pattern random (--verify; --patterns adds stride and
# zipf) under `tierpage run` with
# bench/stacks/dram-128.yaml (a dram tier) and dram-128-memcached.yaml (a
# small dram tier, then memcached), each stack once as it is (prefetch on,
# the default) and once with `prefetch: off`, taking turns within each
# repetition. Reports medians of µs/access, the ratio off/on, and prefetch
# accuracy and coverage from the run's JSON stats. Starts its own memcached
# (tests/fixtures/memcached_servers.sh) and stops it, by PID, on exit.
set -u

usage() {
    cat <<'EOF2'
usage: bench/prefetch_compare.sh [OPTIONS]

  --reps K          repetitions (default 3); medians over them
  --size SIZE       tierpage-bench working set (default 256MiB)
  --resident SIZE   the stacks' resident: (default 64MiB, a quarter of 256MiB)
  --accesses N      tierpage-bench accesses (default: its own, 4 x pages)
  --write-ratio R   tierpage-bench --write-ratio (default: its own, 1.0)
  --setups LIST     of dram memcached (default both)
  --patterns LIST   of seq stride random zipf (default seq,random)
  --stride N        pages between accesses of the stride pattern (default 3)
  --build DIR       build directory (default: the repository's build/)
  --log DIR         keep every run's output there (default: a new directory under /tmp)
  --help            this text

Needs memcached (for the memcached setup) and jq.
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3
size=256MiB
resident=64MiB
accesses=
write_ratio=
setups="dram memcached"
patterns="seq random"
stride=3
build=$repo/build
log=

BENCH_NAME=prefetch_compare
BENCH_SERVERS=yes
. "$here/bench_lib.sh"
bench_traps

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --resident) resident=${2:?--resident needs a value}; shift 2 ;;
    --accesses) accesses=${2:?--accesses needs a value}; shift 2 ;;
    --write-ratio) write_ratio=${2:?--write-ratio needs a value}; shift 2 ;;
    --setups) setups=$(echo "${2:?--setups needs a value}" | tr ',' ' '); shift 2 ;;
    --stride) stride=${2:?--stride needs a value}; shift 2 ;;
    --patterns) patterns=$(echo "${2:?--patterns needs a value}" | tr ',' ' '); shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "prefetch_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for s in $setups; do
    case "$s" in dram | memcached) ;; *) echo "prefetch_compare: unknown setup '$s'" >&2; exit 2 ;; esac
done
for p in $patterns; do
    case "$p" in seq | stride | random | zipf) ;; *) echo "prefetch_compare: unknown pattern '$p'" >&2; exit 2 ;; esac
done
case "$reps" in '' | *[!0-9]* | 0) echo "prefetch_compare: --reps expects a positive integer, got '$reps'" >&2; exit 2 ;; esac

tierpage=$build/bin/tierpage
bench=$build/bin/tierpage-bench
[ -x "$tierpage" ] && [ -x "$bench" ] || die "no $tierpage or $bench: build first"
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
case " $setups " in *" memcached "*)
    command -v memcached >/dev/null || die "memcached not found (Debian: apt-get install memcached)" ;;
esac
bench_log_dir prefetch-compare


# The stack for a setup and prefetch on|off, resident: replaced, memcached
# pointed at a fresh server of ours.
write_stack() { # setup on|off
    local template=$here/stacks/dram-128.yaml servers=
    if [ "$1" = memcached ]; then
        template=$here/stacks/dram-128-memcached.yaml
        mc_stop bench
        mc_start bench 2048 || die "memcached did not start"
        servers=127.0.0.1:$MC_PORT
    fi
    sed -e "s|^resident:.*|resident: $resident|" -e "s|^\( *servers:\).*|\1 [$servers]|" "$template" \
        >"$log/stack-$1-$2.yaml"
    echo "prefetch: $2" >>"$log/stack-$1-$2.yaml"
}

failures=0
run_one() { # setup pattern on|off rep
    local name=$1-$2-$3 args=(--size "$size" --pattern "$2" --verify --json --quiet)
    [ -z "$accesses" ] || args+=(--accesses "$accesses")
    [ -z "$write_ratio" ] || args+=(--write-ratio "$write_ratio")
    [ "$2" != stride ] || args+=(--stride "$stride")
    write_stack "$1" "$3"
    if run_child "$tierpage" run -c "$log/stack-$1-$3.yaml" --stats "$log/$name-$4.stats.json" -- "$bench" \
        "${args[@]}" >"$log/last.json" 2>"$log/$name-$4.stderr"; then
        cat "$log/last.json" >>"$log/$name.jsonl"
        jq -c '{prefetched_pages, prefetch_hits, from_tiers: (.faults - .zero_fills)}' "$log/$name-$4.stats.json" \
            >>"$log/$name.prefetch.jsonl"
        note "$name rep $4: $(jq -r '"\(.accesses_per_second | floor) accesses/s, \(.us_per_access_mean) us/access, verify \(.verify)"' "$log/last.json")"
    else
        note "$name rep $4 failed; see $log/$name-$4.stderr"
        tail -n 8 "$log/$name-$4.stderr" >&2
        failures=$((failures + 1))
    fi
    rm -f "$log/last.json"
}

bench_run_info "$log"
note "logs in $log"
for rep in $(seq 1 "$reps"); do
    for setup in $setups; do
        for pattern in $patterns; do
            # Turn the order each repetition.
            if [ $((rep % 2)) = 1 ]; then order="on off"; else order="off on"; fi
            for mode in $order; do run_one "$setup" "$pattern" "$mode" "$rep"; done
        done
    done
done

echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
echo "tierpage-bench --size $size ${accesses:+--accesses $accesses }${write_ratio:+--write-ratio $write_ratio }--verify; stacks bench/stacks/dram-128*.yaml with resident: $resident"
echo
echo "| setup | pattern | prefetch off µs/access | prefetch on µs/access | off/on | prefetched pages | used (accuracy) | coverage |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for setup in $setups; do
    for pattern in $patterns; do
        off=$(median .us_per_access_mean "$log/$setup-$pattern-off.jsonl")
        on=$(median .us_per_access_mean "$log/$setup-$pattern-on.jsonl")
        f=$log/$setup-$pattern-on.prefetch.jsonl
        pf=$(median .prefetched_pages "$f")
        acc=$(median 'if .prefetched_pages > 0 then .prefetch_hits / .prefetched_pages else 0 end' "$f")
        cov=$(median '.prefetch_hits / ((.prefetch_hits + .from_tiers) | if . == 0 then 1 else . end)' "$f")
        ratio=$(awk -v a="$off" -v b="$on" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "-" }')
        printf '| %s | %s | %s | %s | %s | %s | %.1f%% | %.1f%% |\n' "$setup" "$pattern" "$off" "$on" "$ratio" "$pf" \
            "$(awk -v x="$acc" 'BEGIN { print x * 100 }')" "$(awk -v x="$cov" 'BEGIN { print x * 100 }')"
    done
done
[ "$failures" = 0 ] || die "$failures runs failed (see $log)"
