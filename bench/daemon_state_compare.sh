#!/bin/bash
# The steady-state cost of tierpaged's state on tmpfs (issue 13): fault
# service under a daemon that keeps its state in a state_dir on tmpfs (each
# VM's page map in a file, its dram pool in a file) beside one that keeps
# none (state_dir "": the map in memory, the pool in private memory),
# taking turns in one run, the order reversed every repetition:
# tierpage-bench --pattern random --verify (every access a read-modify-
# write) under `tierpage run --daemon` with one dram tier. Both daemons run
# the whole time, each with its own socket; the idle one waits. Medians over
# --reps of µs/access (p50, p99, mean) and accesses/s of the access phase,
# the faults the daemon served per run, and the ratio tmpfs / none.
set -u

usage() {
    cat <<'EOF2'
usage: bench/daemon_state_compare.sh [OPTIONS]

  --reps K        repetitions (default 5); medians over them
  --dir DIR       where the kept state goes, a tmpfs (default /dev/shm)
  --size SIZE     tierpage-bench working set (default 256MiB)
  --resident SIZE the VM's resident cap (default 64MiB)
  --chrt PRIO     run the daemons and the program at SCHED_FIFO PRIO
                  (chrt -f), so that a busy machine's other jobs wait;
                  0: not (default 10)
  --build DIR     build directory (default: the repository's build/)
  --log DIR       keep every run's output there (default: a new directory under /tmp)
  --help          this text

Needs root (userfaultfd, chrt) and jq.
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=5 dir=/dev/shm size=256MiB resident=64MiB prio=10 build=$repo/build log=

BENCH_NAME=daemon_state_compare
. "$here/bench_lib.sh"
kept_dir=
daemons=()
stop_daemons() {
    local pid
    for pid in "${daemons[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null; done
    [ -z "$kept_dir" ] || rm -rf "$kept_dir"
}
bench_traps stop_daemons

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --resident) resident=${2:?--resident needs a value}; shift 2 ;;
    --chrt) prio=${2:?--chrt needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "daemon_state_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps" in '' | *[!0-9]* | 0) echo "daemon_state_compare: --reps expects a positive integer, got '$reps'" >&2; exit 2 ;; esac
case "$prio" in '' | *[!0-9]*) echo "daemon_state_compare: --chrt expects a priority, 0 to 99, got '$prio'" >&2; exit 2 ;; esac
[ "$prio" -le 99 ] || { echo "daemon_state_compare: --chrt expects a priority, 0 to 99, got '$prio'" >&2; exit 2; }
[ -d "$dir" ] || die "--dir $dir is not a directory"
[ "$(stat -f -c %T "$dir")" = tmpfs ] || note "warning: --dir $dir is not on tmpfs"

tierpage=$build/bin/tierpage daemon=$build/bin/tierpaged bench=$build/bin/tierpage-bench
for b in "$tierpage" "$daemon" "$bench"; do [ -x "$b" ] || die "no $b: build first"; done
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
fifo=()
if [ "$prio" != 0 ]; then
    chrt -f "$prio" true 2>/dev/null || die "chrt -f $prio is not allowed here (run as root, or --chrt 0)"
    fifo=(chrt -f "$prio")
fi
bench_log_dir daemon-state-compare
mkdir -p "$log/stacks" || die "cannot make $log/stacks"
printf 'name: state-compare-%s\nresident: %s\ntiers:\n  - plugin: dram\n    capacity: 1GiB\n' "$$" "$resident" \
    >"$log/stacks/st.yaml"
kept_dir=$dir/tierpage-daemon-state-compare-$$

# One daemon per mode, each on its own socket: tmpfs keeps its state in
# $kept_dir, none keeps none.
start_daemon() { # mode state-dir
    "${fifo[@]}" "$daemon" --stacks "$log/stacks" --socket "$log/$1.sock" --state-dir "$2" 2>"$log/daemon-$1.log" &
    daemons+=($!)
    local _
    for _ in $(seq 1 100); do "$tierpage" status --socket "$log/$1.sock" >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "tierpaged ($1) did not start: $(tail -n 3 "$log/daemon-$1.log")"
}
start_daemon tmpfs "$kept_dir"
start_daemon none ""
[ -s "$kept_dir/st/map.0" ] && [ -s "$kept_dir/st/tier0.0.dram" ] ||
    die "the tmpfs daemon keeps no map or pool file in $kept_dir/st: $(ls "$kept_dir/st" 2>&1)"

faults_of() { "$tierpage" stats st --json --socket "$log/$1.sock" | jq .faults; }
failures=0
run_one() { # mode rep
    local out=$log/$1-$2 before after st
    before=$(faults_of "$1")
    run_child "${fifo[@]}" "$tierpage" run --daemon "$log/$1.sock" --vm st -- "$bench" --size "$size" \
        --pattern random --verify --json --quiet >"$out.json" 2>"$out.stderr"
    st=$?
    after=$(faults_of "$1")
    if [ "$st" = 0 ] && [ "$(jq -r '.verify == "ok"' "$out.json")" = true ]; then
        # The faults the daemon served for this run (the same work each way).
        jq -c --argjson faults "$((after - before))" '. + {daemon_faults: $faults}' "$out.json" >>"$log/$1.jsonl"
        note "$1 rep $2: done"
    else
        note "$1 rep $2 failed (status $st); see $out.stderr"
        tail -n 8 "$out.stderr" >&2
        failures=$((failures + 1))
    fi
}

bench_run_info "$log"
note "logs in $log"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$reps"); do
    if [ $((rep % 2)) = 1 ]; then order="tmpfs none"; else order="none tmpfs"; fi
    for mode in $order; do run_one "$mode" "$rep"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }'; }
row() { # label jq-filter
    local n t
    n=$(median "$2" "$log/none.jsonl")
    t=$(median "$2" "$log/tmpfs.jsonl")
    echo "| $1 | $n | $t | $(ratio "$n" "$t") |"
}
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'); load average $load_before before, $load_after after; medians of $reps; ${fifo[*]:-no chrt}; state in $dir"
echo
echo "| tierpage-bench $size random RMW, resident $resident, under tierpaged | no state (state_dir \"\") | state on tmpfs | tmpfs / none |"
echo "|---|---:|---:|---:|"
row "p50 µs per access" .us_per_access_p50
row "p99 µs per access" .us_per_access_p99
row "mean µs per access" .us_per_access_mean
row "accesses per second" .accesses_per_second
row "faults the daemon served per run" .daemon_faults
echo
for mode in none tmpfs; do
    echo "$mode mean µs per access, run by run: $(jq -r '.us_per_access_mean' "$log/$mode.jsonl" | tr '\n' ' ')"
done
[ "$failures" = 0 ] || die "$failures runs failed"
