#!/bin/bash
# The memcached and redis tiers against their floor and against the kernel's
# swap, in one run:
#   1. tierpage-kv-bench through each tier: 4 KiB put, get, get_batch and
#      put_batch of 32, beside the server's own round trip (the floor);
#   2. tierpage-bench --size 512MiB --pattern random --verify under
#        swapfile   kernel swap to a swap file, the workload alone in a
#                   128 MiB memory cgroup (bench/swap_compare.sh --setups swapfile)
#        memcached  tierpage run -c bench/stacks/dram-128-memcached.yaml
#        redis      tierpage run -c bench/stacks/dram-128-redis.yaml
#      (resident 128MiB, dram tier 16MiB, then the server), taking turns
#      within each repetition.
# It starts its own memcached and redis-server on free loopback ports
# (tests/fixtures/*_servers.sh), fresh before each paging run, and stops
# every process it started, by PID, on exit.
set -u

usage() {
    cat <<'EOF'
usage: bench/kv_compare.sh [OPTIONS]

  --reps K          repetitions of everything (default 1); medians over them
  --ops N           tierpage-kv-bench single operations of each kind (default 10000)
  --size SIZE       tierpage-bench working set (default 512MiB)
  --accesses N      tierpage-bench accesses (default: its own, 4 x pages)
  --setups LIST     of swapfile memcached redis, for the paging runs
                    (default all three)
  --no-kv           skip the tierpage-kv-bench runs
  --unix            the paging runs reach their server over a unix socket
                    instead of loopback TCP
  --kv-mc-threads N memcached worker threads (-t) for the tierpage-kv-bench
                    runs (default 1, see below); the paging runs use
                    memcached's default
  --build DIR       build directory with bin/tierpage, bin/tierpage-bench and
                    bin/tierpage-kv-bench (default: the repository's build/)
  --log DIR         keep every run's output there (default: a new directory
                    under /tmp)
  --help            this text

Needs root (the swap file and the memory cgroup; see bench/swap_compare.sh),
memcached, redis-server and jq.

Why one memcached thread for tierpage-kv-bench: memcached hands each new
connection to one of its worker threads in turn, and the tier and the floor
use a connection each. With several threads the two connections are served
by different threads, and on a small machine one thread can sit on the
other CPU for a whole run (a wake across CPUs costs ~45 us here): the ratio
then measures where two server threads ran, not the tier. With one thread
both connections meet the same thread, as they do with Redis.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=1
ops=10000
size=512MiB
accesses=
setups="swapfile memcached redis"
run_kv=yes
unix=no
kv_mc_threads=1
build=$repo/build
log=

BENCH_NAME=kv_compare
BENCH_SERVERS=yes
. "$here/bench_lib.sh"
bench_traps

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --ops) ops=${2:?--ops needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --accesses) accesses=${2:?--accesses needs a value}; shift 2 ;;
    --setups) setups=$(echo "${2:?--setups needs a value}" | tr ',' ' '); shift 2 ;;
    --no-kv) run_kv=no; shift ;;
    --unix) unix=yes; shift ;;
    --kv-mc-threads) kv_mc_threads=${2:?--kv-mc-threads needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "kv_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for v in "$reps" "$ops" "$kv_mc_threads"; do
    case "$v" in '' | *[!0-9]* | 0) echo "kv_compare: --reps, --ops and --kv-mc-threads take a positive whole number" >&2; exit 2 ;; esac
done
for s in $setups; do
    case "$s" in swapfile | memcached | redis) ;; *) echo "kv_compare: unknown setup '$s'" >&2; exit 2 ;; esac
done
build=$(cd "$build" 2>/dev/null && pwd) || die "no build directory $build"
bench=$build/bin/tierpage-bench
tierpage=$build/bin/tierpage
kv_bench=$build/bin/tierpage-kv-bench
for b in "$bench" "$tierpage" "$kv_bench"; do
    [ -x "$b" ] || die "$b not found: build it first (cmake -S $repo -B $build && cmake --build $build)"
done
for tool in memcached redis-server redis-cli jq; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install memcached redis-server jq)"
done
case " $setups " in *" swapfile "*) [ "$(id -u)" = 0 ] || die "the swap file run needs root (or --setups memcached,redis)" ;; esac

bench_log_dir kv-compare

# ---- servers, from the tests' fixtures; everything stopped on exit ----


# memcached -u root -M -m 2048 (the fixture adds -l 127.0.0.1 and -U 0), and
# any further arguments.
MC_ADDR=
start_memcached() {
    mc_stop bench
    mc_start bench 2048 "$@" || die "memcached did not start"
    MC_ADDR=127.0.0.1:$MC_PORT
}
# The same on a unix socket: MC_ADDR is its path.
start_memcached_unix() {
    mc_stop bench
    mc_start_unix bench 2048 || die "memcached did not start on a unix socket"
    MC_ADDR=$MC_SOCKET
}
# redis-server --save '' --appendonly no --maxmemory-policy noeviction (the
# fixture's defaults); on a unix socket with `unix` as the argument.
start_redis() {
    if [ -n "${REDIS_PID[bench]:-}" ]; then
        redis_cli bench shutdown nosave >/dev/null 2>&1
        local pid=${REDIS_PID[bench]}
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "REDIS_PID[bench]" "REDIS_SOCK[bench]"
    fi
    if [ "${1:-}" = unix ]; then
        redis_start_unix bench || die "redis-server did not start on a unix socket"
    else
        redis_start bench || die "redis-server did not start"
    fi
}

# The stack file for a setup, from its template, pointed at our server.
write_stack() { # setup address
    sed "s|^\( *servers:\).*|\1 [$2]|" "$here/stacks/dram-128-$1.yaml" >"$log/stack-$1.yaml"
}

# ---- the runs ----

bench_args=(--size "$size" --pattern random --verify --json --quiet)
[ -z "$accesses" ] || bench_args+=(--accesses "$accesses")
failures=0

run_kv() { # plugin rep
    local server
    if [ "$1" = memcached ]; then
        start_memcached -t "$kv_mc_threads"
        server=$MC_ADDR
    else
        start_redis
        server=${REDIS_ADDR[bench]}
    fi
    if run_child "$kv_bench" --plugin "$1" --servers "$server" --ops "$ops" --json \
        >"$log/last.json" 2>"$log/kv-$1-$2.stderr"; then
        cat "$log/last.json" >>"$log/kv-$1.jsonl"
        note "kv $1 rep $2: $(jq -r '"get \(.tier_get.p50_us) us (floor \(.floor_get.p50_us)), put \(.tier_put.p50_us) us (floor \(.floor_set.p50_us)), get_batch \(.tier_get_batch_per_page.p50_us) us/page"' "$log/last.json")"
    else
        note "kv $1 rep $2 failed; see $log/kv-$1-$2.stderr"
        tail -n 5 "$log/kv-$1-$2.stderr" >&2
        failures=$((failures + 1))
    fi
    rm -f "$log/last.json"
}

summary() { # json file
    jq -r '"\(.accesses_per_second | floor) accesses/s, \(.us_per_access_mean) us/access, verify \(.verify)"' "$1" 2>/dev/null
}

run_swapfile() { # rep
    local dir=$log/swap-$1
    if ! swap_free_wait; then
        note "swapfile rep $1 skipped: swap stayed on for 15 minutes"
        failures=$((failures + 1))
        return
    fi
    local args=(--setups swapfile --patterns random --reps 1 --size "$size" --build "$build" --log "$dir"
        --swapfile "/var/tmp/tierpage-kv-compare-$$.swap")
    [ -z "$accesses" ] || args+=(--accesses "$accesses")
    if run_child "$here/swap_compare.sh" "${args[@]}" >"$log/swap-$1.out" 2>&1; then
        cat "$dir/swapfile-random.jsonl" >>"$log/paging-swapfile.jsonl"
        [ ! -s "$dir/swapfile-random.1.cdf" ] || cp "$dir/swapfile-random.1.cdf" "$log/paging-swapfile.$1.cdf"
        note "swapfile rep $1: $(summary "$dir/swapfile-random.jsonl")"
    else
        note "swapfile rep $1 failed; see $log/swap-$1.out"
        tail -n 8 "$log/swap-$1.out" >&2
        [ ! -s "$dir/swapfile-random.jsonl" ] || cat "$dir/swapfile-random.jsonl" >>"$log/paging-swapfile.jsonl"
        failures=$((failures + 1))
    fi
}

run_tierpage() { # plugin rep
    if [ "$1" = memcached ]; then
        if [ "$unix" = yes ]; then start_memcached_unix; else start_memcached; fi
        write_stack memcached "$MC_ADDR"
    else
        if [ "$unix" = yes ]; then start_redis unix; else start_redis; fi
        write_stack redis "${REDIS_ADDR[bench]}"
    fi
    local stats=$log/paging-$1-$2.stats.json
    if run_child "$tierpage" run -c "$log/stack-$1.yaml" --stats "$stats" -- "$bench" "${bench_args[@]}" \
        --latency-cdf "$log/paging-$1.$2.cdf" >"$log/last.json" 2>"$log/paging-$1-$2.stderr"; then
        cat "$log/last.json" >>"$log/paging-$1.jsonl"
        # Of the faults that fetched a page from a tier, the share the server answered.
        jq -r --arg t "$1" '([.tiers[] | select(.plugin == $t) | .hits] | add) / (.faults - .zero_fills)' \
            "$stats" >>"$log/paging-$1.share"
        note "$1 rep $2: $(summary "$log/last.json")"
    else
        note "$1 rep $2 failed; see $log/paging-$1-$2.stderr"
        tail -n 8 "$log/paging-$1-$2.stderr" >&2
        failures=$((failures + 1))
    fi
    rm -f "$log/last.json"
}

bench_run_info "$log"
note "logs in $log"
for rep in $(seq 1 "$reps"); do
    if [ "$run_kv" = yes ]; then
        run_kv memcached "$rep"
        run_kv redis "$rep"
    fi
    # Turn the order of the paging setups each repetition.
    order=$(echo "$setups" | awk -v k="$((rep - 1))" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
    for setup in $order; do
        case $setup in
        swapfile) run_swapfile "$rep" ;;
        memcached | redis) run_tierpage "$setup" "$rep" ;;
        esac
    done
done

# ---- the tables ----

median_col() { # column file
    awk -v c="$1" '{ print $c }' "$2" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
if [ "$run_kv" = yes ]; then
    echo
    echo "4 KiB pages, tierpage-kv-bench --ops $ops (memcached -t $kv_mc_threads): p50 us (ratio to the floor of the same run)"
    printf '%-10s %9s %9s %7s %9s %9s %7s %13s %13s %9s %13s\n' tier put "floor set" ratio get "floor get" ratio \
        "get_batch/pg" "put_batch/pg" "speed-up" "floor mget/pg"
    for p in memcached redis; do
        f=$log/kv-$p.jsonl
        [ -s "$f" ] || continue
        printf '%-10s %9.2f %9.2f %6.2fx %9.2f %9.2f %6.2fx %13.2f %13.2f %8.1fx %13.2f\n' "$p" \
            "$(median .tier_put.p50_us "$f")" "$(median .floor_set.p50_us "$f")" "$(median .put_ratio_p50 "$f")" \
            "$(median .tier_get.p50_us "$f")" "$(median .floor_get.p50_us "$f")" "$(median .get_ratio_p50 "$f")" \
            "$(median .tier_get_batch_per_page.p50_us "$f")" "$(median .tier_put_batch_per_page.p50_us "$f")" \
            "$(median .batch_speedup_p50 "$f")" "$(median .floor_get_batch_per_page.p50_us "$f")"
    done
    echo "ratio: tier p50 / floor p50 (goal <= 1.2x); speed-up: tier get p50 / tier get_batch p50 per page (goal >= 5x)"
fi

echo
echo "tierpage-bench --size $size --pattern random${accesses:+ --accesses $accesses} --verify"
echo "swapfile: kernel swap to a swap file, the workload alone in a 128 MiB memory cgroup (bench/swap_compare.sh)"
echo "memcached, redis: tierpage run, resident 128MiB, dram tier 16MiB, then the server (bench/stacks/dram-128-*.yaml)$([ "$unix" = yes ] && echo ', over a unix socket')"
printf '%-10s %12s %10s %9s %9s %13s %11s\n' setup "accesses/s" "us/access" "p50 us" "p99 us" "server share" "x swapfile"
base=$(median .accesses_per_second "$log/paging-swapfile.jsonl")
for s in swapfile memcached redis; do
    f=$log/paging-$s.jsonl
    [ -s "$f" ] || continue
    share=-
    [ ! -s "$log/paging-$s.share" ] || share=$(median_col 1 "$log/paging-$s.share")
    awk -v s="$s" -v a="$(median .accesses_per_second "$f")" -v u="$(median .us_per_access_mean "$f")" \
        -v p50="$(median .us_per_access_p50 "$f")" -v p99="$(median .us_per_access_p99 "$f")" -v sh="$share" \
        -v b="$base" 'BEGIN {
        r = (b + 0 > 0) ? sprintf("%.2f", a / b) : "-"
        sh = (sh == "-") ? "-" : sprintf("%.3f", sh)
        printf "%-10s %12.0f %10.2f %9.2f %9.2f %13s %11s\n", s, a, u, p50, p99, sh, r }'
done
ok=$(cat "$log"/paging-*.jsonl 2>/dev/null | jq -r 'select(.verify == "ok") | .verify' | wc -l)
bad=$(cat "$log"/paging-*.jsonl 2>/dev/null | jq -r 'select(.verify != "ok") | .verify' | wc -l)
echo "server share: of the pages tierpage fetched from a tier (fill, accesses and verify), the share the server answered; the rest came from the dram tier"
echo "runs: $ok verified ok, $bad verified not ok, $failures failed; logs in $log"
[ "$failures" = 0 ] && [ "$bad" = 0 ]
