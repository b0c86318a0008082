# The redis tier on a three-master Redis Cluster: the conformance kit, the
# example stack, two bench runs of one stack file at once, a bench run while
# slots move (reshard), with the MOVED and ASK redirections it followed, a
# killed run's pages removed once its lease ran out, namespace: exclusive,
# and a stopped run that let its lease run out stopping when it runs again.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
. "$(dirname "$0")/namespace_lib.sh"
trap 'redis_stop_all; cleanup_shm; rm -rf "$WORK"' EXIT

need "create a three-master cluster" -- redis_cluster_create n1 n2 n3
SEED=${REDIS_ADDR[n1]}
BENCH_ARGS=(--size 64MiB --accesses 40000 --verify --quiet)

total_keys() {
    local n sum=0
    for n in n1 n2 n3; do sum=$((sum + $(redis_cli "$n" dbsize 2>/dev/null || echo 0))); done
    echo "$sum"
}
# Debug lines carry a running count "(N so far)"; the largest is the total seen.
so_far() {
    grep "redis: $1 slot" "$WORK/reshard.out" | sed -n 's/.*(\([0-9]*\) so far).*/\1/p' | sort -n | tail -1
}

expect_status 0 "plugin-test on the cluster (cluster=true)" -- \
    "$TIERPAGE" plugin-test redis --option "servers=$SEED" --option cluster=true
expect_output "redis: [0-9]+ passed, 0 failed" "plugin-test on the cluster: no check failed"

# The example stack, pointed at this cluster and a private pmem file, opens.
sed -e "s|127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002|${REDIS_ADDR[n1]}, ${REDIS_ADDR[n2]}, ${REDIS_ADDR[n3]}|" \
    -e "s|/var/lib/tierpage/web-1.pmem|/dev/shm/tierpage-test-$$-example.pmem|" -e "s|8GiB|64MiB|" \
    -e "s|name: web-1|name: example-$$|" \
    "$SRC/conf/examples/redis-cluster.yaml" >"$WORK/example.yaml"
expect_status 0 "conf/examples/redis-cluster.yaml opens on a real cluster" -- "$TIERPAGE" check "$WORK/example.yaml"

NS_LEASE_MS=1500 NS_LEASE_WAIT=2
ns_count() {
    local n sum=0
    for n in n1 n2 n3; do sum=$((sum + $(redis_cli "$n" --scan --pattern "tp:$1:*" | grep -c .))); done
    echo "$sum"
}
cluster_stack() {
    cat >"$1" <<YAML
name: $2
resident: 2MiB
${3:-}
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    cluster: true
    servers: [$SEED]
    lease_ms: ${LEASE:-$NS_LEASE_LONG}
YAML
}

cluster_stack "$WORK/cluster.yaml" cl-$$
ns_two_at_once "cluster" "$WORK/cluster.yaml" redis

# Slots move during a run: redis-cli --cluster reshard, twice, while the
# bench pages through the cluster. The tier logs what it followed.
cluster_stack "$WORK/reshard.yaml" rs-$$
TIERPAGE_REDIS_DEBUG=1 "$TIERPAGE" run -c "$WORK/reshard.yaml" --stats "$WORK/reshard.json" -- \
    "$BENCH" "${BENCH_ARGS[@]}" >"$WORK/reshard.out" 2>&1 &
run=$!
wait_while_running "$run" 30 more_than 6000 total_keys
id1=$(redis_node_id n1) id2=$(redis_node_id n2) id3=$(redis_node_id n3)
running_at_start=no
kill -0 "$run" 2>/dev/null && running_at_start=yes
resharded=yes
redis-cli --cluster reshard "$SEED" --cluster-from "$id1" --cluster-to "$id2" --cluster-slots 1500 \
    --cluster-yes >"$WORK/reshard1.log" 2>&1 || resharded=no
redis-cli --cluster reshard "$SEED" --cluster-from "$id2" --cluster-to "$id3" --cluster-slots 1500 \
    --cluster-yes >"$WORK/reshard2.log" 2>&1 || resharded=no
wait "$run"
status=$?
[ "$running_at_start" = yes ] && pass "the reshard started while the bench was running" ||
    fail "the bench had finished before the reshard"
[ "$resharded" = yes ] && pass "redis-cli --cluster reshard moved 2 x 1500 slots" ||
    { fail "reshard failed"; tail -5 "$WORK"/reshard*.log | sed 's/^/      /'; }
if [ "$status" = 0 ]; then pass "bench --verify passes while slots move"; else
    fail "bench during reshard: exit $status"; tail -20 "$WORK/reshard.out" | sed 's/^/      /'; fi
moved=$(so_far MOVED) ask=$(so_far ASK)
[ $((${moved:-0} + ${ask:-0})) -gt 0 ] && pass "redirections were followed (at least ${moved:-0} MOVED, ${ask:-0} ASK)" ||
    fail "no MOVED or ASK redirection was followed"
expect_status 0 "the cluster is consistent after the reshard (redis-cli --cluster check)" -- \
    redis-cli --cluster check "$SEED"

# One running stack per namespace (the lease is one key of the cluster).
LEASE=$NS_LEASE_MS cluster_stack "$WORK/kill.yaml" kill-$$
ns_killed "cluster" "$WORK/kill.yaml" kill-$$
cluster_stack "$WORK/excl.yaml" excl-$$ "namespace: exclusive"
ns_exclusive "cluster" "$WORK/excl.yaml" excl-$$ "127.0.0.1:[0-9]+"
LEASE=$NS_LEASE_MS cluster_stack "$WORK/stall.yaml" stall-$$ "namespace: exclusive"
ns_stalled "cluster" "$WORK/stall.yaml" stall-$$

finish
