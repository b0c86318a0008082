#!/bin/sh
# Compare tierpage with the kernel's swap on the same workload, in one run:
#   swapfile  kernel swap to a swap file, the workload alone in a 128 MiB
#             memory cgroup
#   zram      kernel swap on zram (lz4), the same cgroup limit
#   tierpage  `tierpage run -c bench/stacks/dram-128.yaml` (resident 128MiB,
#             spilled pages in the dram tier), and with dram-128-fifo.yaml
#             (the same with policy: fifo) to compare eviction policies
# For each pattern (random, zipf) it runs tierpage-bench --size 512MiB K
# times per setup and prints medians of accesses/s and us/access and the
# ratios. The workload verifies every page at the end (--verify).
#
# Needs root, a memory cgroup (v1, or v2 with the memory controller), no swap
# already on, and for zram an unused /sys/block/zram0. Everything it sets up
# (swap file, zram, cgroups) is torn down on exit, on failure too.
set -eu

usage() {
    cat <<'EOF'
usage: bench/swap_compare.sh [OPTIONS]

Runs tierpage-bench --size 512MiB --pattern random (and zipf) under the
kernel's swap to a swap file and under swap on zram (lz4), each with only the
workload process in a 128 MiB memory cgroup, and under `tierpage run` with
bench/stacks/dram-128.yaml (resident 128MiB, dram tier) and
bench/stacks/dram-128-fifo.yaml; prints medians over the repetitions and
ratios. Run as root. Sets up and tears down the swap file, zram and cgroups.

  --reps K            repetitions per setup and pattern (default 3)
  --size SIZE         workload size (default 512MiB)
  --accesses N        accesses per run (default: tierpage-bench's, 4 x pages)
  --patterns LIST     space- or comma-separated, of random zipf seq
                      (default "random zipf")
  --setups LIST       of swapfile zram tierpage (default: all three)
  --build DIR         build directory holding bin/tierpage-bench and
                      bin/tierpage (default: the repository's build/)
  --swapfile PATH     where to make the swap file
                      (default /var/tmp/tierpage-bench.swap)
  --log DIR           keep every run's JSON and stderr there
                      (default: a new directory under /tmp)
  --max-attempts N    the memory cgroup sometimes OOM-kills the workload
                      under zram instead of swapping; such a repetition is
                      counted, reported and run again, at most N times in
                      all (default 5)
  --help              this text

The tierpage rows are skipped, with a message, when bin/tierpage is missing
or fails.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3
size=512MiB
accesses=
patterns="random zipf"
setups="swapfile zram tierpage"
build="$repo/build"
swapfile=/var/tmp/tierpage-bench.swap
log=
max_attempts=5
limit_bytes=$((128 * 1024 * 1024)) # the cgroup limit; the stack files say resident: 128MiB

BENCH_NAME=swap_compare
. "$here/bench_lib.sh"
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"

while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=${2:?--reps needs a value}; shift 2 ;;
        --size) size=${2:?--size needs a value}; shift 2 ;;
        --accesses) accesses=${2:?--accesses needs a value}; shift 2 ;;
        --patterns) patterns=$(echo "${2:?--patterns needs a value}" | tr ',' ' '); shift 2 ;;
        --setups) setups=$(echo "${2:?--setups needs a value}" | tr ',' ' '); shift 2 ;;
        --build) build=${2:?--build needs a value}; shift 2 ;;
        --swapfile) swapfile=${2:?--swapfile needs a value}; shift 2 ;;
        --log) log=${2:?--log needs a value}; shift 2 ;;
        --max-attempts) max_attempts=${2:?--max-attempts needs a value}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "swap_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps" in ''|*[!0-9]*|0) echo "swap_compare: --reps: expected a positive whole number" >&2; exit 2 ;; esac
case "$max_attempts" in ''|*[!0-9]*|0) echo "swap_compare: --max-attempts: expected a positive whole number" >&2; exit 2 ;; esac
for p in $patterns; do
    case "$p" in random|zipf|seq) ;; *) echo "swap_compare: unknown pattern '$p'" >&2; exit 2 ;; esac
done
for s in $setups; do
    case "$s" in swapfile|zram|tierpage) ;; *) echo "swap_compare: unknown setup '$s'" >&2; exit 2 ;; esac
done

size_bytes=$(to_bytes "$size") || { echo "swap_compare: --size: expected a size such as 512MiB" >&2; exit 2; }

bench="$build/bin/tierpage-bench"
tierpage="$build/bin/tierpage"
[ -x "$bench" ] || die "$bench not found: build it first (cmake -S $repo -B $build && cmake --build $build --target tierpage-bench)"
[ "$(id -u)" = 0 ] || die "needs root (swapon, zram and cgroups)"

# ---- refuse early when the machine cannot do it ----

needs_swap=no
case " $setups " in *" swapfile "*|*" zram "*) needs_swap=yes ;; esac
if [ "$needs_swap" = yes ]; then
    cg_detect || exit 1
    [ "$(tail -n +2 /proc/swaps | wc -l)" = 0 ] || die "swap is already on (see /proc/swaps); the comparison needs to own swap: swapoff -a first"
    for tool in mkswap swapon swapoff; do
        command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install util-linux)"
    done
fi
case " $setups " in *" zram "*) zram_check || die "no zram to use: run with --setups swapfile,tierpage" ;; esac

bench_log_dir swap-compare

# ---- teardown, on every exit (bench_lib.sh) ----

bench_traps

bench_args() { # pattern
    printf '%s\n' --size "$size" --pattern "$1" --verify --json --quiet
    [ -z "$accesses" ] || printf '%s\n' --accesses "$accesses"
}

summary() { # json-line -> "N accesses/s, U us/access, verify ok"
    echo "$1" | jq -r '"\(.accesses_per_second|floor) accesses/s, \(.us_per_access_mean) us/access, verify \(.verify)"' 2>/dev/null || echo '?'
}

# One repetition in a fresh cgroup; appends its JSON line to
# $log/<setup>-<pattern>.jsonl. The kernel's memcg sometimes OOM-kills the
# workload instead of swapping (seen with zram on cgroup v1 here, in about a
# third of the random runs): such an attempt is counted, reported and
# retried, at most $max_attempts times in all.
run_kernel() { # setup pattern rep
    out="$log/$1-$2.jsonl"
    attempt=1
    while :; do
        err="$log/$1-$2-$3.stderr"
        [ "$attempt" = 1 ] || err="$log/$1-$2-$3-attempt$attempt.stderr"
        cg_make bench "$limit_bytes"
        st=0
        # shellcheck disable=SC2046
        run_child cg_exec "$bench" $(bench_args "$2") --latency-cdf "$log/$1-$2.$3.cdf" > "$log/last.json" 2> "$err" || st=$?
        peak=$(($(cg_peak) / 1048576))
        kills=$(cg_oom_kills)
        cg_remove
        if [ "$st" != 0 ] && [ "${kills:-0}" -gt 0 ]; then
            oom_kills=$((oom_kills + 1))
            echo "$1 $2 rep $3 attempt $attempt" >> "$log/oom-kills"
            note "$1 $2 rep $3: the memory cgroup OOM-killed the workload (attempt $attempt of $max_attempts)"
            attempt=$((attempt + 1))
            [ "$attempt" -le "$max_attempts" ] && continue
        fi
        break
    done
    if [ -s "$log/last.json" ]; then
        cat "$log/last.json" >> "$out"
    fi
    if [ "$st" != 0 ]; then
        note "$1 $2 rep $3 failed (exit status $st); see $err"
        tail -n 20 "$err" >&2
        failures=$((failures + 1))
    fi
    [ ! -s "$log/last.json" ] || note "$1 $2 rep $3: $(summary "$(cat "$log/last.json")"), cgroup peak $peak MiB"
    rm -f "$log/last.json"
}

run_tierpage() { # setup-name stack pattern rep
    out="$log/$1-$3.jsonl"
    st=0
    # shellcheck disable=SC2046
    run_child "$tierpage" run -c "$2" --stats "$log/$1-$3-$4.stats.json" -- \
        "$bench" $(bench_args "$3") --latency-cdf "$log/$1-$3.$4.cdf" > "$log/last.json" 2> "$log/$1-$3-$4.stderr" || st=$?
    [ ! -s "$log/last.json" ] || cat "$log/last.json" >> "$out"
    [ ! -s "$log/last.json" ] || note "$1 $3 rep $4: $(summary "$(cat "$log/last.json")")"
    # tierpage's own count of misses: every fault after the fill phase's
    # zero fills brought a page back from a tier.
    if [ -s "$log/last.json" ] && [ -s "$log/$1-$3-$4.stats.json" ]; then
        # --verify then reads every page once more, in order: nearly every
        # page faults once again, outside the access phase (an estimate:
        # bench/policy_compare.sh gives exact numbers, without --verify).
        jq -r --argjson acc "$(jq -r .accesses "$log/last.json")" \
            --argjson pages "$(jq -r .pages "$log/last.json")" \
            --argjson verified "$(jq -r 'if .verify == "skipped" then 0 else 1 end' "$log/last.json")" \
            '(.faults - .zero_fills - $verified * $pages) / $acc' \
            "$log/$1-$3-$4.stats.json" >> "$log/$1-$3.misses"
    fi
    rm -f "$log/last.json"
    if [ "$st" != 0 ]; then
        note "$1 $3 rep $4 failed (exit status $st); see $log/$1-$3-$4.stderr"
        tail -n 20 "$log/$1-$3-$4.stderr" >&2
        failures=$((failures + 1))
        return 1
    fi
}

failures=0
oom_kills=0
swap_mib=$((size_bytes * 2 / 1048576))
uname_r=$(uname -r)
bench_run_info "$log"
note "logs in $log"

for setup in $setups; do
    case "$setup" in
    swapfile)
        note "swap file: $swapfile, ${swap_mib} MiB"
        swapfile_on "$swapfile" "$swap_mib"
        for pattern in $patterns; do
            r=1; while [ "$r" -le "$reps" ]; do run_kernel swapfile "$pattern" "$r"; r=$((r + 1)); done
        done
        swapfile_off
        ;;
    zram)
        note "zram0: lz4, ${swap_mib} MiB"
        zram_on "$swap_mib"
        for pattern in $patterns; do
            r=1; while [ "$r" -le "$reps" ]; do run_kernel zram "$pattern" "$r"; r=$((r + 1)); done
        done
        zram_off
        ;;
    tierpage)
        if [ ! -x "$tierpage" ]; then
            note "skipping tierpage: $tierpage not found (build the tierpage target first)"
            continue
        fi
        for pattern in $patterns; do
            for stack in dram-128 dram-128-fifo; do
                r=1; while [ "$r" -le "$reps" ]; do
                    run_tierpage "tierpage-$stack" "$here/stacks/$stack.yaml" "$pattern" "$r" || {
                        note "skipping the rest of tierpage-$stack $pattern"
                        break
                    }
                    r=$((r + 1))
                done
            done
        done
        ;;
    esac
done

# ---- the table ----

row_label() {
    case "$1" in
        swapfile) echo "kernel swap, swap file" ;;
        zram) echo "kernel swap, zram lz4" ;;
        tierpage-dram-128) echo "tierpage, dram tier" ;;
        tierpage-dram-128-fifo) echo "tierpage, dram tier, fifo" ;;
    esac
}

echo
echo "tierpage-bench --size $size${accesses:+ --accesses $accesses} --verify, medians of $reps"
[ -z "$cg_version" ] || echo "kernel swap: the workload alone in a 128MiB memory cgroup (v$cg_version), swap file $swap_mib MiB, zram lz4 $swap_mib MiB"
echo "tierpage: tierpage run -c bench/stacks/dram-128.yaml (resident 128MiB, dram tier; -fifo: policy fifo)"
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $uname_r, $(date -u +%Y-%m-%d)"
printf '%-8s %-28s %12s %10s %9s %9s %12s %9s %9s\n' pattern setup "accesses/s" "us/access" "p50 us" "p99 us" "misses/acc" "x swapfile" "x zram"
for pattern in $patterns; do
    base_file=$(median .accesses_per_second "$log/swapfile-$pattern.jsonl" 2>/dev/null || echo nan)
    base_zram=$(median .accesses_per_second "$log/zram-$pattern.jsonl" 2>/dev/null || echo nan)
    for setup in swapfile zram tierpage-dram-128 tierpage-dram-128-fifo; do
        f="$log/$setup-$pattern.jsonl"
        [ -s "$f" ] || continue
        aps=$(median .accesses_per_second "$f")
        us=$(median .us_per_access_mean "$f")
        p50=$(median .us_per_access_p50 "$f")
        p99=$(median .us_per_access_p99 "$f")
        if [ -s "$log/$setup-$pattern.misses" ]; then
            fpa=$(sort -g "$log/$setup-$pattern.misses" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        else
            fpa=$(jq -r '(.major_faults + .minor_faults) / .accesses' "$f" | sort -g |
                awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        fi
        awk -v p="$pattern" -v s="$(row_label "$setup")" -v a="$aps" -v u="$us" -v p50="$p50" -v p99="$p99" \
            -v m="$fpa" -v bf="$base_file" -v bz="$base_zram" 'BEGIN {
            rf = (bf + 0 > 0) ? sprintf("%.2f", a / bf) : "-"
            rz = (bz + 0 > 0) ? sprintf("%.2f", a / bz) : "-"
            printf "%-8s %-28s %12.0f %10.2f %9.2f %9.2f %12.3f %9s %9s\n", p, s, a, u, p50, p99, m, rf, rz }'
    done
done
ok=$(cat "$log"/*.jsonl 2>/dev/null | jq -r 'select(.verify == "ok") | .verify' | wc -l)
bad=$(cat "$log"/*.jsonl 2>/dev/null | jq -r 'select(.verify != "ok") | .verify' | wc -l)
echo "runs: $ok verified ok, $bad verified not ok, $failures failed; $oom_kills attempts OOM-killed by the memory cgroup and retried; logs in $log"
echo "misses/acc: kernel swap: page faults (major + minor) per access in the access phase, from getrusage; tierpage: its faults that fetched a page from a tier, per access (from --stats); 1 - misses/acc is the resident hit rate"
[ "$failures" = 0 ] && [ "$bad" = 0 ]
