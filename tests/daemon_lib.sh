# Shared by the daemon tests: a tierpaged of the test's own, on a socket
# under $WORK, stopped by PID. Source after script_lib.sh.
TIERPAGED=$BUILD/bin/tierpaged
HOLDER=$CLIENT_BUILD/tests/pattern_holder
SOCK=$WORK/tierpaged.sock
STACKS=$WORK/stacks
STATE=/dev/shm/tierpage-test-$$-state  # the daemon's state_dir: the test's own, on tmpfs
mkdir -p "$STACKS"
daemon_pid=

# A stack of VM NAME: resident, then dram (capacity), then optionally pmem.
vm_stack() {
    local name=$1 resident=$2 dram=$3 pmem=${4:-}
    {
        echo "name: $name-$$"
        echo "resident: $resident"
        echo "tiers:"
        echo "  - plugin: dram"
        echo "    capacity: $dram"
        if [ -n "$pmem" ]; then
            echo "  - plugin: pmem"
            echo "    path: /dev/shm/tierpage-test-$$-$name.pmem"
            echo "    capacity: $pmem"
        fi
    } >"$STACKS/$name.yaml"
}

# start_daemon [ARGS...]: start tierpaged on $SOCK and wait until it answers.
start_daemon() {
    "$TIERPAGED" --stacks "$STACKS" --socket "$SOCK" --state-dir "$STATE" "$@" 2>>"$WORK/daemon.log" &
    daemon_pid=$!
    local i
    for i in $(seq 1 200); do
        "$TIERPAGE" status --socket "$SOCK" >/dev/null 2>&1 && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "tierpaged did not start:"; cat "$WORK/daemon.log"
    return 1
}

# stop_daemon: SIGTERM, and the daemon's exit status is 0.
stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    local rc=$?
    daemon_pid=
    return $rc
}

# wait_for DESCRIPTION CMD...: run CMD until it succeeds (a state the daemon
# reaches on its own, after an event this script cannot wait on directly).
wait_for() {
    local what=$1 i
    shift
    for i in $(seq 1 400); do
        "$@" >/dev/null 2>&1 && { pass "$what"; return 0; }
        sleep 0.05
    done
    fail "$what"
    return 1
}

# ended_within PID SECONDS: PID (a run under test) is gone by then; else it
# is killed (TERM first: tierpage run passes it on to the program it waits
# for) and this fails.
ended_within() {
    wait_while_running "$1" "$2" false
    ! kill -0 "$1" 2>/dev/null || { kill -TERM "$1"; sleep 1; kill -KILL "$1" 2>/dev/null; return 1; }
}

# kill_daemon: SIGKILL, as a crash would.
kill_daemon() {
    kill -KILL "$daemon_pid" || return 1
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}

# kill_daemon_once_paged VM RUN: once the daemon holds more than 1000 pages
# of VM in its pmem tier, while RUN (a run under test) still runs, SIGKILL
# it; passes, or fails when RUN ended first.
kill_daemon_once_paged() {
    wait_while_running "$2" 60 more_than 1000 stat_of "$1" pages pmem
    local pages
    pages=$(stat_of "$1" pages pmem)
    if kill -0 "$2" 2>/dev/null && kill_daemon; then
        pass "the daemon SIGKILLed while it held $pages pages of a running program in pmem"
    else
        fail "the run ended before the daemon held its pages ($pages)"
    fi
}

# end_once_served VM RUN FILE: once the daemon that runs now has served VM
# more than 1000 faults (its counters start at 0), while RUN (a run of
# tierpage-bench --until FILE) still runs, creates FILE: the run ends its
# accesses and verifies.
end_once_served() {
    wait_while_running "$2" 60 more_than 1000 stat_of "$1" faults
    touch "$3"
}

# stat_of VM KEY [TIER]: a number from `tierpage stats VM --json`.
stat_of() {
    "$TIERPAGE" stats "$1" --json --socket "$SOCK" | python3 -c '
import json, sys
s = json.load(sys.stdin)
if len(sys.argv) > 2:
    print(next(t for t in s["tiers"] if t["name"] == sys.argv[2])[sys.argv[1]])
else:
    print(s[sys.argv[1]])' "$2" ${3:+"$3"}
}

daemon_cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
    rm -f /dev/shm/tierpage-test-$$-*.pmem
    rm -rf "$STATE"
    rm -rf "$WORK"
}
trap daemon_cleanup EXIT

# released [VM]: every VM (or VM alone) has no client, nothing resident and
# no page in any tier.
released() {
    "$TIERPAGE" status --socket "$SOCK" | awk -v vm="${1:-}" '
        NR > 1 && (vm == "" || $1 == vm) {
            seen = 1
            if ($2 != "-" || $3 != 0) bad = 1
            for (i = 6; i <= NF; i++) { split($i, a, ":"); if (a[2] != 0) bad = 1 }
        }
        END { exit bad || !seen }'
}
