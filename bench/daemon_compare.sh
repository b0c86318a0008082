#!/bin/bash
# Fault service under tierpaged beside in-process mode and the userfaultfd
# floor, side by side in one run, and many clients of one daemon beside
# one. Each repetition, in turn:
#   floor      tierpage-uffd-floor --shmem: one handler thread, UFFDIO_COPY
#              into a memfd (the memory both modes serve);
#   in-process tierpage-bench --pattern random (or --pattern) under
#              `tierpage run -c STACK`;
#   daemon     the same under `tierpage run --daemon SOCK --vm one`, STACK
#              being the VM's stack in a tierpaged of this script's own;
#   1 client   one small client (--client-size, resident a quarter of it);
#   N clients  --clients such clients at once, each its own VM.
# Reports medians of µs/access and faults/s (faults from the stack's
# stats), the ratio daemon/in-process, and the aggregate faults/s of N
# clients beside one. Every run is --verify'd.
#
# With --stack FILE, in-process and daemon runs use that stack instead of
# one dram tier (a memcached tier in it is pointed at a memcached this
# script starts); with --before DIR, a second build's in-process and daemon
# runs take turns with this build's, each under a tierpaged of its own, for
# a before/after comparison in one run.
set -u

usage() {
    cat <<'EOF2'
usage: bench/daemon_compare.sh [OPTIONS]

  --reps K            repetitions (default 3); medians over them
  --size SIZE         tierpage-bench working set (default 256MiB)
  --resident SIZE     resident cap (default 64MiB)
  --clients N         clients at once (default 8; 0: no client runs)
  --client-size SIZE  each one's working set (default 32MiB; resident a quarter)
  --build DIR         build directory (default: the repository's build/)
  --stack FILE        the stack of the in-process runs and of the daemon's VM
                      (its resident: replaces --resident); the servers: line
                      of a memcached tier is replaced by a memcached started here
  --write-ratio R     tierpage-bench's share of read-modify-writes (default its own)
  --pattern P         tierpage-bench's pattern in the in-process and daemon runs:
                      random (default), zipf, seq or stride
  --before DIR        also run this build's in-process and daemon modes, taking
                      turns with --build's; report both and after/before
  --log DIR           keep every run's output there (default: a new directory under /tmp)
  --help              this text

Needs jq. Runs as root (userfaultfd).
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=3 size=256MiB resident=64MiB clients=8 client_size=32MiB build=$repo/build log=
stack_file= write_ratio= before_build= pattern=random
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
    --stack) stack_file=${2:?}; shift 2 ;;
    --write-ratio) write_ratio=${2:?}; shift 2 ;;
    --pattern) pattern=${2:?}; shift 2 ;;
    --before) before_build=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "daemon_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps$clients" in *[!0-9]*) die "--reps and --clients expect positive integers" ;; esac
tierpage=$build/bin/tierpage daemon=$build/bin/tierpaged bench=$build/bin/tierpage-bench
floor=$build/bin/tierpage-uffd-floor
for b in "$tierpage" "$daemon" "$bench" "$floor"; do [ -x "$b" ] || die "no $b: build first"; done
builds=after
if [ -n "$before_build" ]; then
    for b in tierpage tierpaged; do [ -x "$before_build/bin/$b" ] || die "no $before_build/bin/$b: build --before first"; done
    builds="after before"
fi
[ -z "$stack_file" ] || [ -r "$stack_file" ] || die "--stack: cannot read '$stack_file'"
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
[ -n "$log" ] || log=$(mktemp -d /tmp/tierpage-daemon-compare.XXXXXX)
mkdir -p "$log/stacks" "$log/stacks-before" || die "cannot make $log"
client_resident=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", sys.argv[1])
print(int(m.group(1)) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, None: 1}[m.group(2)] // 4 if m else "")
' "$client_size")
[ -n "$client_resident" ] || die "--client-size: expected a size such as 32MiB, got '$client_size'"

stack() { # name resident dram-capacity
    printf 'name: %s-%s\nresident: %s\ntiers:\n  - plugin: dram\n    capacity: %s\n' "$1" "$$" "$2" "$3"
}
daemon_pids=() state_dirs=()
mc_dir=
cleanup() {
    local p
    for p in "${daemon_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ ${#state_dirs[@]} = 0 ] || rm -rf "${state_dirs[@]}"
    [ -z "$mc_dir" ] || mc_stop_all
}
trap cleanup EXIT
stack_of() { # name-suffix -> the stack of VM one, on stdout
    if [ -z "$stack_file" ]; then stack "one$1" "$resident" 1GiB; return; fi
    sed -e "s|^name:.*|name: one$1-$$|" -e "s|^\( *servers:\).*|\1 [127.0.0.1:${MC_PORT:-11211}]|" "$stack_file"
}
if [ -n "$stack_file" ] && grep -q 'plugin: *memcached' "$stack_file"; then
    mc_dir=$log/memcached
    mkdir -p "$mc_dir"
    MC_STATE_DIR=$mc_dir
    . "$repo/tests/fixtures/memcached_servers.sh"
    mc_start tier 2048 >/dev/null || die "memcached did not start (see $mc_dir)"
fi
# Names of their own: in a shared store, no two stacks share a namespace.
stack_of "" >"$log/stacks/one.yaml"
stack_of -before >"$log/stacks-before/one.yaml"
stack_of -in-after >"$log/in-after.yaml"
stack_of -in-before >"$log/in-before.yaml"
for i in $(seq 1 "$clients"); do stack "c$i" "$client_resident" 256MiB >"$log/stacks/c$i.yaml"; done
start_daemon() { # build-dir stacks-dir socket state-dir log
    "$1/bin/tierpaged" --stacks "$2" --socket "$3" --state-dir "$4" 2>"$5" &
    daemon_pids+=($!) state_dirs+=("$4")
    for _ in $(seq 1 100); do "$1/bin/tierpage" status --socket "$3" >/dev/null 2>&1 && break; sleep 0.1; done
    "$1/bin/tierpage" status --socket "$3" >/dev/null || die "tierpaged did not start (see $5)"
}
sock=$log/tierpaged.sock
start_daemon "$build" "$log/stacks" "$sock" "/dev/shm/tierpage-bench-$$-state" "$log/daemon.log"
[ -z "$before_build" ] || start_daemon "$before_build" "$log/stacks-before" "$log/tierpaged-before.sock" \
    "/dev/shm/tierpage-bench-$$-state-before" "$log/daemon-before.log"

faults_of() { "$tierpage" stats "$1" --json --socket "$sock" | jq .faults; }
failures=0
bench_args=(--size "$size" --pattern "$pattern" --verify --json --quiet ${write_ratio:+--write-ratio "$write_ratio"})

# Each mode of each build: ${build}-in or ${build}-d, "after" being --build's.
bin_of() { if [ "$1" = before ]; then echo "$before_build/bin"; else echo "$build/bin"; fi; }
run_inprocess() { # rep build
    local tag=$2-in
    if "$(bin_of "$2")/tierpage" run -c "$log/in-$2.yaml" --stats "$log/$tag-$1.stats.json" -- "$bench" \
        "${bench_args[@]}" >"$log/$tag-$1.json" 2>"$log/$tag-$1.err"; then
        jq -c --argjson f "$(jq .faults "$log/$tag-$1.stats.json")" \
            '{us: .us_per_access_mean, fps: ($f / .access_seconds)}' "$log/$tag-$1.json" >>"$log/$tag.jsonl"
    else failures=$((failures + 1)); note "$2 in-process rep $1 failed: $(tail -2 "$log/$tag-$1.err")"; fi
}
run_daemon() { # rep build
    local tag=$2-d tp s=$sock faults
    tp=$(bin_of "$2")/tierpage
    [ "$2" = after ] || s=$log/tierpaged-before.sock
    faults=$("$tp" stats one --json --socket "$s" | jq .faults)
    if "$tp" run --daemon "$s" --vm one -- "$bench" "${bench_args[@]}" >"$log/$tag-$1.json" 2>"$log/$tag-$1.err"
    then
        jq -c --argjson f "$(($("$tp" stats one --json --socket "$s" | jq .faults) - faults))" \
            '{us: .us_per_access_mean, fps: ($f / .access_seconds)}' "$log/$tag-$1.json" >>"$log/$tag.jsonl"
    else failures=$((failures + 1)); note "$2 daemon rep $1 failed: $(tail -2 "$log/$tag-$1.err")"; fi
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
    # Take turns: which build and which mode run first change each repetition.
    order=$builds
    [ $((rep % 2)) = 1 ] || order=$(echo "$builds" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
    for b in $order; do
        if [ $((rep % 2)) = 1 ]; then run_inprocess "$rep" "$b"; run_daemon "$rep" "$b"
        else run_daemon "$rep" "$b"; run_inprocess "$rep" "$b"; fi
    done
    if [ "$clients" -gt 0 ]; then
        run_clients "$rep" 1
        run_clients "$rep" "$clients"
    fi
    note "rep $rep done"
done

median() { # jq-expression file
    jq -r "$1" "$2" 2>/dev/null | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
runs() { jq -r .us "$log/$1.jsonl" 2>/dev/null | tr '\n' ' '; }
in_us=$(median .us "$log/after-in.jsonl"); d_us=$(median .us "$log/after-d.jsonl")
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
if [ -n "$stack_file" ]; then echo "tierpage-bench ${bench_args[*]}, stack $stack_file"
else echo "tierpage-bench ${bench_args[*]}, resident $resident, one dram tier"; fi
echo
echo "| mode | µs/access | the runs | faults/s | vs in-process |"
echo "|---|---:|---|---:|---:|"
echo "| userfaultfd floor (shmem, UFFDIO_COPY, mean µs/fault) | $(median .us "$log/floor.jsonl") (p50 $(median .p50 "$log/floor.jsonl")) | - | - | - |"
for b in $builds; do
    label=
    [ -z "$before_build" ] || label="$b: "
    b_in=$(median .us "$log/$b-in.jsonl"); b_d=$(median .us "$log/$b-d.jsonl")
    echo "| ${label}in-process (tierpage run -c) | $b_in | $(runs "$b-in") | $(printf %.0f "$(median .fps "$log/$b-in.jsonl")") | 1.00 |"
    echo "| ${label}daemon (tierpage run --daemon) | $b_d | $(runs "$b-d") | $(printf %.0f "$(median .fps "$log/$b-d.jsonl")") | $(ratio "$b_d" "$b_in") |"
done
if [ -n "$before_build" ]; then
    echo
    echo "after / before, daemon: $(ratio "$d_us" "$(median .us "$log/before-d.jsonl")"); in-process: $(ratio "$in_us" "$(median .us "$log/before-in.jsonl")")"
fi
[ "$clients" -gt 0 ] || { [ "$failures" = 0 ] || die "$failures runs failed (see $log)"; exit 0; }
one=$(median .fps "$log/c1.jsonl"); many=$(median .fps "$log/c$clients.jsonl")
echo
echo "| clients of one daemon ($client_size each, resident $((client_resident >> 20))MiB; faults over the wall time of the runs) | aggregate faults/s | vs one |"
echo "|---|---:|---:|"
echo "| 1 | $(printf %.0f "$one") | 1.00 |"
echo "| $clients | $(printf %.0f "$many") | $(ratio "$many" "$one") |"
[ "$failures" = 0 ] || die "$failures runs failed (see $log)"
