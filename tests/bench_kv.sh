# tierpage-kv-bench against a real memcached and a real redis-server, which
# this test starts on free loopback ports and stops by PID: a few hundred
# operations each, every page read back checked, exit 0. A server that
# cannot start fails the test.
#   tests/bench_kv.sh BUILD/bin/tierpage-kv-bench
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

KV_BENCH=${1:?usage: bench_kv.sh PATH/TO/tierpage-kv-bench}
TIERPAGE_SOURCE_DIR=${TIERPAGE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
TIERPAGE_BUILD_DIR=${TIERPAGE_BUILD_DIR:-$(cd "$(dirname "$KV_BENCH")/.." && pwd)}
export TIERPAGE_SOURCE_DIR TIERPAGE_BUILD_DIR
. "$TIERPAGE_SOURCE_DIR/tests/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
. "$SRC/tests/fixtures/redis_servers.sh"
trap 'mc_stop_all; redis_stop_all; rm -rf "$WORK"' EXIT

need "start memcached" -- mc_start kv 64
need "start redis-server" -- redis_start kv

for plugin in memcached redis; do
    if [ $plugin = memcached ]; then server=127.0.0.1:$MC_PORT; else server=${REDIS_ADDR[kv]}; fi
    expect_status 0 "tierpage-kv-bench through the $plugin tier" -- \
        "$KV_BENCH" --plugin $plugin --servers "$server" --ops 200 --keys 64
    expect_output "^tier get_batch 32, per page +[0-9.]+" "the $plugin table has the batched get"
    expect_output "^verified: [1-9][0-9]* pages read back" "the $plugin pages read back were checked"
    expect_status 0 "tierpage-kv-bench --json through the $plugin tier" -- \
        "$KV_BENCH" --plugin $plugin --servers "$server" --ops 200 --keys 64 --json
    expect_output "^\{\"plugin\":\"$plugin\".*\"batch_speedup_p50\":[0-9.]+" "the $plugin JSON line"
done

# A server that is not there: a setup failure (3), never a result.
down=$(redis_next_port)
expect_status 3 "tierpage-kv-bench refuses a server that is down" -- \
    "$KV_BENCH" --plugin redis --servers "127.0.0.1:$down" --ops 10
expect_status 2 "tierpage-kv-bench refuses bad arguments" -- "$KV_BENCH" --plugin memcached

finish
