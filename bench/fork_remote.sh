#!/bin/bash
# bench/RESULTS.md "fork", the rows with a tier on a server:
# tierpage-fork-cost under tierpage run with bench/stacks/fork-memcached.yaml
# and fork-redis.yaml (256 MiB resident, 256 MiB dram, the rest of 1 GiB on
# the server), on a memcached and a redis-server this script starts on free
# loopback ports (tests/fixtures/*_servers.sh) and stops by PID on exit.
#
#   bench/fork_remote.sh [--rounds N] [--setups "memcached redis"] [--build DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rounds=5
setups="memcached redis"
build=$repo/build
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --setups) setups=${2:?--setups needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fork_remote: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d /tmp/tierpage-fork-remote.XXXXXX)
fail() { echo "fork_remote: $*" >&2; }
MC_STATE_DIR=$WORK/memcached
mkdir -p "$MC_STATE_DIR"
. "$repo/tests/fixtures/memcached_servers.sh"
. "$repo/tests/fixtures/redis_servers.sh"
trap 'mc_stop_all; redis_stop_all; rm -rf "$WORK"' EXIT

status=0
for setup in $setups; do
    case $setup in
    memcached) mc_start bench 3072 || exit 1; addr=127.0.0.1:$MC_PORT ;;
    redis) redis_start bench || exit 1; addr=${REDIS_ADDR[bench]} ;;
    *) echo "fork_remote: unknown setup '$setup'" >&2; exit 2 ;;
    esac
    sed "s|^\( *servers:\).*|\1 [$addr]|" "$here/stacks/fork-$setup.yaml" >"$WORK/$setup.yaml"
    echo "== $setup"
    "$build/bin/tierpage" run -c "$WORK/$setup.yaml" --quiet -- "$build/bin/tierpage-fork-cost" --size 1024 \
        --rounds "$rounds" || status=1
done
exit $status
