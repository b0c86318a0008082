#!/bin/bash
# Fault service under tierpaged beside in-process mode and the userfaultfd
# floor, side by side in one run, and many clients of one daemon beside
# one. Each repetition, in turn:
#   floor      tierpage-uffd-floor --shmem: one handler thread, UFFDIO_COPY
#              into a memfd (the memory both modes serve);
#   in-process tierpage-bench --pattern random under `tierpage run -c STACK`;
#   daemon     the same under `tierpage run --daemon SOCK --vm one`, STACK
#              being the VM's stack in a tierpaged of this script's own;
#   1 client   one small client (--client-size, resident a quarter of it);
#   N clients  --clients such clients at once, each its own VM.
# Reports medians of µs/access and faults/s (faults from the stack's
# stats), the ratio daemon/in-process, and the aggregate faults/s of N
# clients beside one. Every run is --verify'd.
set -u

usage() {
    cat <<'EOF2'
usage: bench/daemon_compare.sh [OPTIONS]

  --reps K            repetitions (default 3); medians over them
  --size SIZE         tierpage-bench working set (default 256MiB)
  --resident SIZE     resident cap (default 64MiB)
  --clients N         clients at once (default 8)
  --client-size SIZE  each one's working set (default 32MiB; resident a quarter)
  --build DIR         build directory (default: the repository's build/)
  --log DIR           keep every run's output there (default: a new directory under /tmp)
  --help              this text

Needs jq. Runs as root (userfaultfd).
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3 size=256MiB resident=64MiB clients=8 client_size=32MiB build=$repo/build log=
die() { echo "daemon_compare: $*" >&2; exit 1; }
note() { echo "daemon_compare: $*" >&2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --resident) resident=${2:?}; shift 2 ;;
    --clients) clients=${2:?}; shift 2 ;;
    --client-size) client_size=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "daemon_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps$clients" in *[!0-9]*) die "--reps and --clients expect positive integers" ;; esac
tierpage=$build/bin/tierpage daemon=$build/bin/tierpaged bench=$build/bin/tierpage-bench
floor=$build/bin/tierpage-uffd-floor
for b in "$tierpage" "$daemon" "$bench" "$floor"; do [ -x "$b" ] || die "no $b: build first"; done
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
[ -n "$log" ] || log=$(mktemp -d /tmp/tierpage-daemon-compare.XXXXXX)
mkdir -p "$log/stacks" || die "cannot make $log"
client_resident=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", sys.argv[1])
print(int(m.group(1)) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, None: 1}[m.group(2)] // 4 if m else "")
' "$client_size")
[ -n "$client_resident" ] || die "--client-size: expected a size such as 32MiB, got '$client_size'"

stack() { # name resident dram-capacity
    printf 'name: %s-%s\nresident: %s\ntiers:\n  - plugin: dram\n    capacity: %s\n' "$1" "$$" "$2" "$3"
}
stack one "$resident" 1GiB >"$log/stacks/one.yaml"
for i in $(seq 1 "$clients"); do stack "c$i" "$client_resident" 256MiB >"$log/stacks/c$i.yaml"; done
sock=$log/tierpaged.sock
"$daemon" --stacks "$log/stacks" --socket "$sock" --state-dir "/dev/shm/tierpage-bench-$$-state" 2>"$log/daemon.log" &
daemon_pid=$!
trap 'kill -TERM $daemon_pid 2>/dev/null; wait $daemon_pid 2>/dev/null; rm -rf "/dev/shm/tierpage-bench-$$-state"' EXIT
for _ in $(seq 1 100); do "$tierpage" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
"$tierpage" status --socket "$sock" >/dev/null || die "tierpaged did not start (see $log/daemon.log)"

faults_of() { "$tierpage" stats "$1" --json --socket "$sock" | jq .faults; }
failures=0
bench_args=(--size "$size" --pattern random --verify --json --quiet)

run_inprocess() { # rep
    if "$tierpage" run -c "$log/stacks/one.yaml" --stats "$log/in-$1.stats.json" -- "$bench" "${bench_args[@]}" \
        >"$log/in-$1.json" 2>"$log/in-$1.err"; then
        jq -c --argjson f "$(jq .faults "$log/in-$1.stats.json")" \
            '{us: .us_per_access_mean, fps: ($f / .access_seconds)}' "$log/in-$1.json" >>"$log/in.jsonl"
    else failures=$((failures + 1)); note "in-process rep $1 failed: $(tail -2 "$log/in-$1.err")"; fi
}
run_daemon() { # rep
    local before
    before=$(faults_of one)
    if "$tierpage" run --daemon "$sock" --vm one -- "$bench" "${bench_args[@]}" >"$log/d-$1.json" 2>"$log/d-$1.err"
    then
        jq -c --argjson f "$(($(faults_of one) - before))" \
            '{us: .us_per_access_mean, fps: ($f / .access_seconds)}' "$log/d-$1.json" >>"$log/d.jsonl"
    else failures=$((failures + 1)); note "daemon rep $1 failed: $(tail -2 "$log/d-$1.err")"; fi
}
run_clients() { # rep count -> aggregate faults/s over the wall time of the access phases
    local rep=$1 n=$2 pids=() i before=0 start end
    for i in $(seq 1 "$n"); do before=$((before + $(faults_of "c$i"))); done
    start=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
        "$tierpage" run --daemon "$sock" --vm "c$i" -- "$bench" --size "$client_size" --pattern random --verify \
            --json --quiet >"$log/c$n-$rep-$i.json" 2>"$log/c$n-$rep-$i.err" &
        pids+=($!)
    done
    local ok=1
    for p in "${pids[@]}"; do wait "$p" || ok=0; done
    end=$(date +%s.%N)
    [ "$ok" = 1 ] || { failures=$((failures + 1)); note "$n clients rep $rep: a client failed"; return; }
    local after=0
    for i in $(seq 1 "$n"); do after=$((after + $(faults_of "c$i"))); done
    jq -n --argjson f "$((after - before))" --argjson t "$(echo "$end - $start" | bc)" \
        '{fps: ($f / $t), seconds: $t}' >>"$log/c$n.jsonl"
}
run_floor() { # rep
    "$floor" --shmem --pages 20000 --json >"$log/floor-$1.json" 2>"$log/floor-$1.err" &&
        jq -c '{us: .uffd_copy.mean_us, p50: .uffd_copy.p50_us}' "$log/floor-$1.json" >>"$log/floor.jsonl" ||
        { failures=$((failures + 1)); note "floor rep $1 failed"; }
}

note "logs in $log"
for rep in $(seq 1 "$reps"); do
    run_floor "$rep"
    # Take turns: which mode runs first changes each repetition.
    if [ $((rep % 2)) = 1 ]; then run_inprocess "$rep"; run_daemon "$rep"; else run_daemon "$rep"; run_inprocess "$rep"; fi
    run_clients "$rep" 1
    run_clients "$rep" "$clients"
    note "rep $rep done"
done

median() { # jq-expression file
    jq -r "$1" "$2" 2>/dev/null | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
in_us=$(median .us "$log/in.jsonl"); d_us=$(median .us "$log/d.jsonl")
in_fps=$(median .fps "$log/in.jsonl"); d_fps=$(median .fps "$log/d.jsonl")
one=$(median .fps "$log/c1.jsonl"); many=$(median .fps "$log/c$clients.jsonl")
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
echo "tierpage-bench --size $size --pattern random --verify, resident $resident, one dram tier"
echo
echo "| mode | µs/access | faults/s | vs in-process |"
echo "|---|---:|---:|---:|"
echo "| userfaultfd floor (shmem, UFFDIO_COPY, mean µs/fault) | $(median .us "$log/floor.jsonl") (p50 $(median .p50 "$log/floor.jsonl")) | - | - |"
echo "| in-process (tierpage run -c) | $in_us | $(printf %.0f "$in_fps") | 1.00 |"
echo "| daemon (tierpage run --daemon) | $d_us | $(printf %.0f "$d_fps") | $(ratio "$d_us" "$in_us") |"
echo
echo "| clients of one daemon ($client_size each, resident $((client_resident >> 20))MiB; faults over the wall time of the runs) | aggregate faults/s | vs one |"
echo "|---|---:|---:|"
echo "| 1 | $(printf %.0f "$one") | 1.00 |"
echo "| $clients | $(printf %.0f "$many") | $(ratio "$many" "$one") |"
[ "$failures" = 0 ] || die "$failures runs failed (see $log)"
