# Shared by the daemon tests: a tierpaged of the test's own, on a socket
# under $WORK, stopped by PID. Source after script_lib.sh.
TIERPAGED=$BUILD/bin/tierpaged
HOLDER=$CLIENT_BUILD/tests/pattern_holder
SOCK=$WORK/tierpaged.sock
STACKS=$WORK/stacks
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
    "$TIERPAGED" --stacks "$STACKS" --socket "$SOCK" "$@" 2>>"$WORK/daemon.log" &
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
