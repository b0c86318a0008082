# What the comparison scripts in bench/ share, in POSIX sh (swap_compare.sh
# is sh; the others are bash). Source it after setting BENCH_NAME (the prefix
# of messages), and BENCH_SERVERS=yes (bash only) for the servers of
# tests/fixtures/ (mc_start, redis_start, ... and $WORK); then at once
# `bench_traps` (or `trap bench_cleanup EXIT`): the cleanup stops the child running, every
# server started through the fixtures, removes the cgroup, turns off the
# swap file or zram set up here, and removes $WORK.
#
#   die MSG / note MSG            message on stderr (die exits 1)
#   run_child CMD...              runs CMD in the background and waits, so a
#                                 signal reaches the trap at once; its status
#   median JQ-EXPR FILE           median of a JSON-lines file's field ("nan"
#                                 when none)
#   median_of                     median of the numbers on stdin, one a line
#                                 (the mean of the middle two of an even count)
#   to_bytes 512MiB               bytes
#   cg_detect                     cg_version and cg_root, or fails with a message
#   cg_make NAME BYTES / cg_remove   a memory cgroup limited to BYTES (cg_dir)
#   run_child cg_exec CMD...      CMD alone in the cgroup (exec'ed by a shell
#                                 that moved itself in first)
#   cg_peak / cg_oom_kills        what the cgroup saw
#   swap_free_wait                waits (15 min at most) for someone else's swap
#   swapfile_on PATH MiB / swapfile_off
#   zram_on MiB / zram_off        swap on zram0, lz4, priority 100
#   bench_run_info DIR            DIR/run-info.json: the command, the machine
#                                 and the date, which bench/plot.py titles its
#                                 charts with (needs jq)
#   bench_log_dir NAME            $log made when --log gave it, else a new
#                                 /tmp/tierpage-NAME.XXXXXX

bench_repo=$(cd "$(dirname "$0")/.." && pwd)
# The command as given (sourced before the script parses its arguments).
bench_command="bench/$(basename "$0")${*:+ $*}"

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
note() { echo "$BENCH_NAME: $*" >&2; }

child=
run_child() {
    "$@" &
    child=$!
    bench_st=0
    wait "$child" || bench_st=$?
    child=
    return "$bench_st"
}

median_of() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

median() {
    jq -r "$1" "$2" 2>/dev/null | median_of
}

to_bytes() {
    bench_num=${1%%[!0-9]*}
    bench_unit=${1#"$bench_num"}
    [ -n "$bench_num" ] || return 1
    case "$bench_unit" in
        '' | B) echo "$bench_num" ;;
        K | KB | KiB) echo $((bench_num * 1024)) ;;
        M | MB | MiB) echo $((bench_num * 1024 * 1024)) ;;
        G | GB | GiB) echo $((bench_num * 1024 * 1024 * 1024)) ;;
        *) return 1 ;;
    esac
}

# ---- servers from the tests' fixtures (bash) ----

# Sourced here, at the top level: their arrays (declare -A) would be local
# to a function that sourced them.
WORK=
if [ "${BENCH_SERVERS:-}" = yes ]; then
    WORK=$(mktemp -d "/tmp/tierpage-$BENCH_NAME-work.XXXXXX")
    fail() { note "$*"; }
    MC_STATE_DIR=$WORK/memcached
    mkdir -p "$MC_STATE_DIR"
    . "$bench_repo/tests/fixtures/memcached_servers.sh"
    . "$bench_repo/tests/fixtures/redis_servers.sh"
fi

# ---- memory cgroups ----

cg_version=
cg_root=
cg_dir=
cg_detect() {
    if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        cg_version=1
        cg_root=/sys/fs/cgroup/memory
        return 0
    fi
    for m in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [ -f "$m/cgroup.controllers" ] && grep -qw memory "$m/cgroup.controllers"; then
            cg_version=2
            cg_root=$m
            return 0
        fi
    done
    note "no memory cgroup controller (neither v1 at /sys/fs/cgroup/memory nor v2 with 'memory' in cgroup.controllers): cannot limit the workload"
    return 1
}

cg_make() { # name limit-bytes
    cg_dir="$cg_root/tierpage-$1-$$"
    if [ "$cg_version" = 1 ]; then
        mkdir "$cg_dir"
        echo "$2" > "$cg_dir/memory.limit_in_bytes"
    else
        grep -qw memory "$cg_root/cgroup.subtree_control" ||
            echo +memory > "$cg_root/cgroup.subtree_control" ||
            die "cannot enable the memory controller in $cg_root/cgroup.subtree_control"
        mkdir "$cg_dir"
        echo "$2" > "$cg_dir/memory.max"
        [ ! -f "$cg_dir/memory.swap.max" ] || echo max > "$cg_dir/memory.swap.max"
    fi
}

# For run_child (it replaces the shell it runs in, so that the child is
# the command itself).
cg_exec() {
    # shellcheck disable=SC2016
    exec sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg_dir" "$@"
}

cg_peak() {
    if [ "$cg_version" = 1 ]; then cat "$cg_dir/memory.max_usage_in_bytes"
    elif [ -f "$cg_dir/memory.peak" ]; then cat "$cg_dir/memory.peak"
    else echo 0; fi
}

cg_oom_kills() {
    if [ "$cg_version" = 1 ]; then awk '$1 == "oom_kill" { print $2 }' "$cg_dir/memory.oom_control"
    else awk '$1 == "oom_kill" { print $2 }' "$cg_dir/memory.events"; fi
}

# Kills what is left in the cgroup (only ever processes started here) and
# removes it.
cg_remove() {
    [ -n "$cg_dir" ] && [ -d "$cg_dir" ] || { cg_dir=; return 0; }
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$cg_dir/cgroup.procs"
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg_dir" 2>/dev/null && break; sleep 0.2; done
    [ ! -d "$cg_dir" ] || note "could not remove cgroup $cg_dir"
    cg_dir=
}

# ---- kernel swap ----

# The comparison must own swap. Someone else's (another benchmark on a
# shared machine) is waited out, up to 15 minutes, not touched.
swap_free_wait() {
    bench_waited=0
    while [ "$(tail -n +2 /proc/swaps | wc -l)" != 0 ]; do
        [ "$bench_waited" = 0 ] && note "swap is on (someone else's; see /proc/swaps): waiting for it to go off"
        [ "$bench_waited" -ge 900 ] && return 1
        sleep 5
        bench_waited=$((bench_waited + 5))
    done
}

swapfile_path=
swapfile_on() { # path MiB
    [ ! -e "$1" ] || die "$1 already exists; not overwriting it"
    swapfile_path=$1
    dd if=/dev/zero of="$1" bs=1M count="$2" status=none
    chmod 600 "$1"
    mkswap "$1" > /dev/null
    swapon "$1" || die "swapon $1 failed (is its filesystem one that takes swap files?)"
}

swapfile_off() {
    [ -n "$swapfile_path" ] || return 0
    if grep -q "^$swapfile_path " /proc/swaps; then swapoff "$swapfile_path" || note "swapoff $swapfile_path failed"; fi
    rm -f "$swapfile_path"
    swapfile_path=
}

zram_algo_saved=
zram_check() {
    [ -d /sys/block/zram0 ] || { note "no /sys/block/zram0 (modprobe zram)"; return 1; }
    [ "$(cat /sys/block/zram0/initstate)" = 0 ] || { note "zram0 is in use (initstate 1); not touching it"; return 1; }
    grep -qw lz4 /sys/block/zram0/comp_algorithm || { note "zram has no lz4 ($(cat /sys/block/zram0/comp_algorithm))"; return 1; }
}

zram_on() { # MiB
    zram_algo_saved=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/block/zram0/comp_algorithm)
    echo 1 > /sys/block/zram0/reset
    echo lz4 > /sys/block/zram0/comp_algorithm
    echo "${1}M" > /sys/block/zram0/disksize
    mkswap /dev/zram0 > /dev/null
    swapon -p 100 /dev/zram0
}

zram_off() {
    [ -n "$zram_algo_saved" ] || return 0
    if grep -q "^/dev/zram0 " /proc/swaps; then swapoff /dev/zram0 || note "swapoff /dev/zram0 failed"; fi
    echo 1 > /sys/block/zram0/reset 2>/dev/null || note "could not reset zram0"
    echo "$zram_algo_saved" > /sys/block/zram0/comp_algorithm 2>/dev/null || true
    zram_algo_saved=
}

# ---- what plots need to know of a run ----

bench_log_dir() { # name of a fresh directory under /tmp
    if [ -z "$log" ]; then
        log=$(mktemp -d "/tmp/tierpage-$1.XXXXXX") || die "cannot make a directory under /tmp"
    else
        mkdir -p "$log" || die "cannot make $log"
    fi
}

bench_run_info() { # dir
    jq -cn --arg script "$BENCH_NAME" --arg command "$bench_command" \
        --arg machine "$(nproc) vCPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)" \
        --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        '{script: $script, command: $command, machine: $machine, date: $date, load_average: $load}' \
        >"$1/run-info.json" || note "could not write $1/run-info.json"
}

# ---- on every exit ----

# The teardown on every exit, a signal's included.
# bench_traps [STEP]: STEP (a command of the script's own) runs first.
bench_traps() {
    bench_own_cleanup=${1:-}
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_cleanup() {
    bench_rc=$?
    trap - EXIT INT TERM
    set +e # every step runs: the child's wait, for one, fails once it was killed
    [ -z "${bench_own_cleanup:-}" ] || $bench_own_cleanup
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null
        wait "$child" 2>/dev/null
    fi
    command -v mc_stop_all >/dev/null 2>&1 && mc_stop_all
    command -v redis_stop_all >/dev/null 2>&1 && redis_stop_all
    cg_remove
    swapfile_off
    zram_off
    [ -z "$WORK" ] || rm -rf "$WORK"
    exit "$bench_rc"
}
