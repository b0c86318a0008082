# The Check suite that drives the redis tier directly against real servers:
# placement on the ring, replicas, clear, and MOVED/ASK in a cluster.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'redis_stop_all; rm -rf "$WORK"' EXIT

need "start three redis servers" -- eval 'redis_start a && redis_start b && redis_start c'
need "create a three-master cluster" -- redis_cluster_create n1 n2 n3

if REDIS_TEST_SERVERS="${REDIS_ADDR[a]},${REDIS_ADDR[b]},${REDIS_ADDR[c]}" REDIS_TEST_CLUSTER="${REDIS_ADDR[n1]}" \
    "$BUILD/tests/test_redis_servers" >"$WORK/out" 2>&1; then
    pass "test_redis_servers: sharding on the ring, replicas, clear, ASK and MOVED"
else
    fail "test_redis_servers"
fi
sed 's/^/      /' "$WORK/out"
finish
