#!/bin/bash
# Sequential (or strided) sweeps beside the kernel's swap file, with its
# readahead, in one run: tierpage-bench --pattern seq --verify alone in a
# memory cgroup of --resident bytes with a swap file on, and under
# `tierpage run` with bench/stacks/dram-128-memcached.yaml (a 16 MiB dram tier,
# then a memcached this script starts) at the same resident: with prefetch
# on (the default: pages fetched ahead mapped at once), on without mapping
# ahead (`prefetch_map_ahead: off`: each page's first use a minor fault),
# and off. The setups take turns within each repetition
# (the order turning), the swap file staying on throughout. Reports medians
# of µs/access (mean, p50, p99), each setup's ratio to the swap file's
# and prefetch's (off/on), and prefetch accuracy and coverage from the
# run's stats. The
# issue's goal: 512 MiB at 25% resident, prefetch at least 5x faster than
# without and ahead of the swap file. Run as root.
set -u

usage() {
    cat <<'EOF2'
usage: bench/seq_compare.sh [OPTIONS]

  --reps K          repetitions (default 3); medians over them
  --size SIZE       tierpage-bench working set (default 512MiB)
  --resident SIZE   the cgroup's limit and the stack's resident: (default 128MiB)
  --accesses N      tierpage-bench accesses (default: its own, 4 x pages)
  --pattern P       seq or stride (default seq)
  --stride N        pages between accesses of the stride pattern (default 3)
  --write-ratio R   share of accesses that write, 0 to 1 (default: tierpage-bench's, every access
                    a read-modify-write); 0 makes every eviction a clean drop
  --setups LIST     of swapfile on onuse off (default all four; onuse: prefetch
                    on, prefetch_map_ahead: off)
  --swapfile PATH   where to make the swap file (default /var/tmp/tierpage-seq-compare-PID.swap)
  --build DIR       build directory (default: the repository's build/)
  --log DIR         keep every run's output there (default: a new directory under /tmp)
  --help            this text

Needs root (the swap file and the memory cgroup), memcached and jq.
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3
size=512MiB
resident=128MiB
accesses=
pattern=seq
stride=3
write_ratio=
setups="swapfile on onuse off"
swapfile=/var/tmp/tierpage-seq-compare-$$.swap
build=$repo/build
log=

BENCH_NAME=seq_compare
BENCH_SERVERS=yes
. "$here/bench_lib.sh"
bench_traps

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --resident) resident=${2:?--resident needs a value}; shift 2 ;;
    --accesses) accesses=${2:?--accesses needs a value}; shift 2 ;;
    --pattern) pattern=${2:?--pattern needs a value}; shift 2 ;;
    --stride) stride=${2:?--stride needs a value}; shift 2 ;;
    --write-ratio) write_ratio=${2:?--write-ratio needs a value}; shift 2 ;;
    --setups) setups=$(echo "${2:?--setups needs a value}" | tr ',' ' '); shift 2 ;;
    --swapfile) swapfile=${2:?--swapfile needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "seq_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$pattern" in seq | stride) ;; *) echo "seq_compare: --pattern expects seq or stride, got '$pattern'" >&2; exit 2 ;; esac
for s in $setups; do
    case "$s" in swapfile | on | onuse | off) ;; *) echo "seq_compare: unknown setup '$s'" >&2; exit 2 ;; esac
done
case "$reps" in '' | *[!0-9]* | 0) echo "seq_compare: --reps expects a positive integer, got '$reps'" >&2; exit 2 ;; esac
resident_bytes=$(to_bytes "$resident") || die "--resident: expected a size such as 128MiB, got '$resident'"
size_bytes=$(to_bytes "$size") || die "--size: expected a size such as 512MiB, got '$size'"

tierpage=$build/bin/tierpage
bench=$build/bin/tierpage-bench
[ -x "$tierpage" ] && [ -x "$bench" ] || die "no $tierpage or $bench: build first"
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
command -v memcached >/dev/null || die "memcached not found (Debian: apt-get install memcached)"
[ "$(id -u)" = 0 ] || die "run as root: the swap file and the memory cgroup need it"
case " $setups " in *" swapfile "*) cg_detect || exit 1 ;; esac
if [ -z "$log" ]; then
    log=$(mktemp -d /tmp/tierpage-seq-compare.XXXXXX)
else
    mkdir -p "$log" || die "cannot make $log"
fi

bench_args=(--size "$size" --pattern "$pattern" --verify --json --quiet)
[ "$pattern" != stride ] || bench_args+=(--stride "$stride")
[ -z "$accesses" ] || bench_args+=(--accesses "$accesses")
[ -z "$write_ratio" ] || bench_args+=(--write-ratio "$write_ratio")

failures=0
keep() { # name rep status
    if [ "$3" = 0 ] && [ -s "$log/last.json" ]; then
        cat "$log/last.json" >>"$log/$1.jsonl"
        note "$1 rep $2: $(jq -r '"\(.us_per_access_mean) us/access, verify \(.verify)"' "$log/last.json")"
    else
        note "$1 rep $2 failed (status $3); see $log/$1-$2.stderr"
        tail -n 8 "$log/$1-$2.stderr" >&2
        failures=$((failures + 1))
    fi
    rm -f "$log/last.json"
}

run_swapfile() { # rep
    local st=0
    cg_make bench "$resident_bytes"
    run_child cg_exec "$bench" "${bench_args[@]}" >"$log/last.json" 2>"$log/swapfile-$1.stderr" || st=$?
    cg_remove
    keep swapfile "$1" "$st"
}

# A fresh memcached for each run: the pages of one run never meet another's.
run_tierpage() { # on|onuse|off rep
    local st=0
    mc_stop seq
    mc_start seq $((size_bytes * 2 / 1048576)) || die "memcached did not start"
    sed -e "s|^resident:.*|resident: $resident|" -e "s|^\( *servers:\).*|\1 [127.0.0.1:$MC_PORT]|" \
        "$here/stacks/dram-128-memcached.yaml" >"$log/stack-$1.yaml"
    case "$1" in
    onuse) printf 'prefetch: on\nprefetch_map_ahead: off\n' >>"$log/stack-$1.yaml" ;;
    *) echo "prefetch: $1" >>"$log/stack-$1.yaml" ;;
    esac
    run_child "$tierpage" run -c "$log/stack-$1.yaml" --stats "$log/$1-$2.stats.json" -- "$bench" "${bench_args[@]}" \
        >"$log/last.json" 2>"$log/$1-$2.stderr" || st=$?
    [ "$st" != 0 ] || jq -c '{prefetched_pages, prefetch_hits, prefetch_mapped, prefetch_inferred, from_tiers: (.faults - .zero_fills)}' \
        "$log/$1-$2.stats.json" >>"$log/$1.prefetch.jsonl"
    keep "$1" "$2" "$st"
}

bench_run_info "$log"
note "logs in $log"
case " $setups " in *" swapfile "*)
    swap_free_wait || die "someone else's swap stayed on"
    swapfile_on "$swapfile" $((size_bytes * 2 / 1048576)) ;;
esac
for rep in $(seq 1 "$reps"); do
    # Turn the order each repetition.
    order=$(echo "$setups" | awk -v k="$((rep - 1))" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
    for setup in $order; do
        case "$setup" in
        swapfile) run_swapfile "$rep" ;;
        *) run_tierpage "$setup" "$rep" ;;
        esac
    done
done
swapfile_off

echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
echo "tierpage-bench ${bench_args[*]}; resident (cgroup limit) $resident; stack bench/stacks/dram-128-memcached.yaml"
echo
swap=$(median .us_per_access_mean "$log/swapfile.jsonl")
echo "| setup | µs/access | p50 µs | p99 µs | swap file / setup | prefetched pages | mapped ahead | used (accuracy) | of them inferred | coverage |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for setup in $setups; do
    us=$(median .us_per_access_mean "$log/$setup.jsonl")
    p50=$(median .us_per_access_p50 "$log/$setup.jsonl")
    p99=$(median .us_per_access_p99 "$log/$setup.jsonl")
    ratio=$(awk -v a="$swap" -v b="$us" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "-" }')
    case "$setup" in
    swapfile) printf '| kernel swap file | %s | %s | %s | 1.00 | - | - | - | - | - |\n' "$us" "$p50" "$p99" ;;
    *)
        f=$log/$setup.prefetch.jsonl
        pf=$(median .prefetched_pages "$f")
        mapped=$(median '.prefetch_mapped // 0' "$f")
        inferred=$(median '.prefetch_inferred // 0' "$f")
        acc=$(median 'if .prefetched_pages > 0 then .prefetch_hits / .prefetched_pages else 0 end' "$f")
        cov=$(median '.prefetch_hits / ((.prefetch_hits + .from_tiers) | if . == 0 then 1 else . end)' "$f")
        printf '| tierpage memcached, prefetch %s | %s | %s | %s | %s | %s | %s | %.1f%% | %s | %.1f%% |\n' "$setup" "$us" \
            "$p50" "$p99" "$ratio" "$pf" "$mapped" "$(awk -v x="$acc" 'BEGIN { print x * 100 }')" "$inferred" \
            "$(awk -v x="$cov" 'BEGIN { print x * 100 }')" ;;
    esac
done
on=$(median .us_per_access_mean "$log/on.jsonl")
off=$(median .us_per_access_mean "$log/off.jsonl")
echo
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "prefetch off/on: $(ratio_of "$off" "$on")x"
case " $setups " in *" onuse "*)
    onuse=$(median .us_per_access_mean "$log/onuse.jsonl")
    echo "prefetch off/onuse: $(ratio_of "$off" "$onuse")x; onuse/on (mapping ahead): $(ratio_of "$onuse" "$on")x" ;;
esac
[ "$failures" = 0 ] || die "$failures runs failed (see $log)"
