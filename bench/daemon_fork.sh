#!/bin/bash
# bench/RESULTS.md "fork", "Under tierpaged": tierpage-fork-cost in a
# program run in-process (tierpage run -c) and under tierpaged (tierpage
# run --daemon), same stack, same run: SIZE MiB served, a quarter of it
# resident, a quarter in dram, the rest in pmem on /dev/shm or on a
# memcached server this script starts on a free loopback port
# (tests/fixtures/memcached_servers.sh); the daemon and the server are
# stopped by PID on exit.
#
#   bench/daemon_fork.sh [--size MiB] [--rounds N] [--setups "pmem memcached"] [--build DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
size=256
rounds=3
setups="pmem memcached"
build=$repo/build
while [ $# -gt 0 ]; do
    case "$1" in
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --setups) setups=${2:?--setups needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "daemon_fork: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d /tmp/tierpage-daemon-fork.XXXXXX)
MC_STATE_DIR=$WORK/memcached
mkdir -p "$MC_STATE_DIR" "$WORK/stacks"
. "$repo/tests/fixtures/memcached_servers.sh"
daemon=
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; mc_stop_all; rm -f /dev/shm/tierpage-daemon-fork-$$.pmem*; rm -rf "/dev/shm/tierpage-daemon-fork-$$-state" "$WORK"' EXIT

quarter=$((size / 4))
for setup in $setups; do
    {
        echo "name: bench-daemon-fork-$setup"
        echo "resident: ${quarter}MiB"
        echo "tiers:"
        echo "  - plugin: dram"
        echo "    capacity: ${quarter}MiB"
        case $setup in
        pmem)
            echo "  - plugin: pmem"
            echo "    path: /dev/shm/tierpage-daemon-fork-$$.pmem"
            echo "    capacity: ${size}MiB"
            ;;
        memcached)
            mc_start bench $((size * 4)) || exit 1
            echo "  - plugin: memcached"
            echo "    servers: [127.0.0.1:$MC_PORT]"
            ;;
        *) echo "daemon_fork: unknown setup '$setup'" >&2; exit 2 ;;
        esac
    } >"$WORK/stacks/$setup.yaml"
    # The program run in-process has a pmem file of its own: the daemon's
    # VM holds the other.
    sed 's/\.pmem$/-in-process.pmem/' "$WORK/stacks/$setup.yaml" >"$WORK/$setup-in-process.yaml"
done
"$build/bin/tierpaged" --stacks "$WORK/stacks" --socket "$WORK/sock" --state-dir "/dev/shm/tierpage-daemon-fork-$$-state" 2>"$WORK/daemon.log" &
daemon=$!
for _ in $(seq 100); do
    "$build/bin/tierpage" status --socket "$WORK/sock" >/dev/null 2>&1 && break
    sleep 0.1
done

status=0
for setup in $setups; do
    echo "== $setup, in-process"
    "$build/bin/tierpage" run -c "$WORK/$setup-in-process.yaml" --quiet -- "$build/bin/tierpage-fork-cost" \
        --size "$size" --rounds "$rounds" || status=1
    echo "== $setup, under tierpaged"
    "$build/bin/tierpage" run --daemon "$WORK/sock" --vm "$setup" -- "$build/bin/tierpage-fork-cost" \
        --size "$size" --rounds "$rounds" || status=1
done
exit $status
