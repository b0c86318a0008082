#!/bin/bash
# How the pager learns which pages were written, compared in one run
# (issue 12, part 2): tierpage-bench --verify under `tierpage run`, the
# same stack with TIERPAGE_WRITE_TRACKING=kernel (UFFD_FEATURE_WP_ASYNC +
# PAGEMAP_SCAN) and =faults (write-protect faults; comparison for a local
# tier), taking turns within each repetition, for a dram tier and a
# memcached tier (a small dram tier, then the server), random and
# sequential accesses. Prints a table of medians; every run's JSON and
# stats are kept under --log. Starts its own memcached on a free loopback
# port (tests/fixtures/memcached_servers.sh), fresh before each run, and
# stops it by PID on exit.
set -u

usage() {
    cat <<'EOF'
usage: bench/write_tracking_compare.sh [OPTIONS]

  --reps K          repetitions (default 3); medians over them
  --size SIZE       tierpage-bench working set (default 128MiB)
  --resident SIZE   the stacks' resident: (default a quarter of --size)
  --write-ratio R   tierpage-bench --write-ratio (default 0.5: half the
                    accesses only read, whose pages should be dropped clean)
  --tiers LIST      of dram memcached (default both)
  --patterns LIST   of random seq (default both)
  --build DIR       build directory with bin/tierpage and bin/tierpage-bench
                    (default: the repository's build/)
  --log DIR         keep every run's output there (default: a new directory
                    under /tmp)
  --help            this text

Needs root (userfaultfd), memcached and jq.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3
size=128MiB
resident=
write_ratio=0.5
tiers="dram memcached"
patterns="random seq"
build=$repo/build
log=

BENCH_NAME=write_tracking_compare
BENCH_SERVERS=yes
. "$here/bench_lib.sh"
bench_traps

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --resident) resident=${2:?--resident needs a value}; shift 2 ;;
    --write-ratio) write_ratio=${2:?--write-ratio needs a value}; shift 2 ;;
    --tiers) tiers=$(echo "${2:?--tiers needs a value}" | tr ',' ' '); shift 2 ;;
    --patterns) patterns=$(echo "${2:?--patterns needs a value}" | tr ',' ' '); shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "write_tracking_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps" in '' | *[!0-9]* | 0) die "--reps takes a positive whole number, got '$reps'" ;; esac
size_bytes=$(to_bytes "$size") || die "--size: expected a size such as 128MiB, got '$size'"
if [ -z "$resident" ]; then
    resident_bytes=$((size_bytes / 4 / 4096 * 4096))
else
    resident_bytes=$(to_bytes "$resident") || die "--resident: expected a size such as 32MiB, got '$resident'"
fi
for t in $tiers; do
    case "$t" in dram | memcached) ;; *) die "unknown tier '$t' (dram or memcached)" ;; esac
done
for p in $patterns; do
    case "$p" in random | seq) ;; *) die "unknown pattern '$p' (random or seq)" ;; esac
done
build=$(cd "$build" 2>/dev/null && pwd) || die "no build directory $build"
bench=$build/bin/tierpage-bench
tierpage=$build/bin/tierpage
for b in "$bench" "$tierpage"; do
    [ -x "$b" ] || die "$b not found: build it first (cmake -S $repo -B $build && cmake --build $build)"
done
for tool in memcached jq; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install memcached jq)"
done
bench_log_dir write-tracking

# The stack of a tier: dram holds every spilled page; memcached gets a
# dram tier of 1/8 of the resident set in front, so most pages live in
# the server.
write_stack() { # tier address
    local kib=$((resident_bytes / 1024))
    if [ "$1" = dram ]; then
        printf 'name: wtc-dram\nresident: %sKiB\ntiers:\n  - plugin: dram\n    capacity: %sKiB\n' \
            "$kib" $((size_bytes / 1024 * 2)) >"$log/stack-dram.yaml"
    else
        printf 'name: wtc-mc\nresident: %sKiB\ntiers:\n  - plugin: dram\n    capacity: %sKiB\n  - plugin: memcached\n    servers: [%s]\n' \
            "$kib" $((kib / 8)) "$2" >"$log/stack-memcached.yaml"
    fi
}

failures=0
run_one() { # tier pattern scheme rep
    local name=$1-$2-$3 addr=
    if [ "$1" = memcached ]; then
        mc_stop bench
        mc_start bench 2048 || die "memcached did not start"
        addr=127.0.0.1:$MC_PORT
    fi
    write_stack "$1" "$addr"
    local stats=$log/$name-$4.stats.json
    if TIERPAGE_WRITE_TRACKING=$3 run_child "$tierpage" run -c "$log/stack-$1.yaml" --stats "$stats" -- \
        "$bench" --size "$size" --pattern "$2" --write-ratio "$write_ratio" --verify --json --quiet \
        >"$log/last.json" 2>"$log/$name-$4.stderr"; then
        jq -c --slurpfile st "$stats" '. + {write_faults: $st[0].write_faults, kernel_written: $st[0].kernel_written,
            writebacks: $st[0].writebacks, clean_drops: $st[0].clean_drops, write_tracking: $st[0].write_tracking}' \
            "$log/last.json" >>"$log/$name.jsonl"
        note "$name rep $4: $(jq -r '"\(.accesses_per_second | floor) accesses/s, \(.write_faults) write faults, \(.writebacks) written back, \(.clean_drops) dropped clean, verify \(.verify) (\(.write_tracking))"' "$log/$name.jsonl" | tail -n 1)"
    else
        note "$name rep $4 failed; see $log/$name-$4.stderr"
        tail -n 5 "$log/$name-$4.stderr" >&2
        failures=$((failures + 1))
    fi
    rm -f "$log/last.json"
}

note "logs in $log; $reps reps, --size $size, resident $((resident_bytes / 1048576)) MiB, --write-ratio $write_ratio"
for rep in $(seq 1 "$reps"); do
    for t in $tiers; do
        for p in $patterns; do
            # Which scheme goes first turns with each repetition.
            if [ $((rep % 2)) = 1 ]; then order="kernel faults"; else order="faults kernel"; fi
            for scheme in $order; do
                run_one "$t" "$p" "$scheme" "$rep"
            done
        done
    done
done

echo
echo "| tier | pattern | write tracking | accesses/s | µs/access | p99 µs | write faults | written back | dropped clean | x faults |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
for t in $tiers; do
    for p in $patterns; do
        base=$(median '.accesses_per_second' "$log/$t-$p-faults.jsonl")
        for scheme in kernel faults; do
            f=$log/$t-$p-$scheme.jsonl
            [ -s "$f" ] || continue
            aps=$(median '.accesses_per_second' "$f")
            ratio=$(awk -v a="$aps" -v b="$base" 'BEGIN { if (b > 0 && a == a) printf "%.2f", a / b; else print "-" }')
            printf '| %s | %s | %s | %.0f | %s | %s | %.0f | %.0f | %.0f | %s |\n' "$t" "$p" "$scheme" "$aps" \
                "$(median '.us_per_access_mean' "$f")" "$(median '.us_per_access_p99' "$f")" \
                "$(median '.write_faults' "$f")" "$(median '.writebacks' "$f")" "$(median '.clean_drops' "$f")" "$ratio"
        done
    done
done
[ "$failures" = 0 ] || die "$failures runs failed"
