# A Redis Cluster of 3 masters and 3 replicas (node timeout 1 s) loses a
# master (kill -9) during a verified run: the tier must wait for the
# replica to take over and follow the new slot map, not stop the program.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'redis_stop_all; rm -rf "$WORK"' EXIT

NODES=(c1 c2 c3 c4 c5 c6)
REDIS_CLUSTER_REPLICAS=1 REDIS_CLUSTER_NODE_TIMEOUT=1000 \
    need "a cluster of 3 masters and 3 replicas" -- redis_cluster_create "${NODES[@]}"
masters=() seeds=()
for n in "${NODES[@]}"; do
    seeds+=("${REDIS_ADDR[$n]}")
    redis_cli "$n" role | head -1 | grep -q master && masters+=("$n")
done
[ "${#masters[@]}" = 3 ] && pass "3 masters: ${masters[*]}" || fail "masters: ${masters[*]}"
# Every replica in sync before the run.
replicas_in_sync() {
    for n in "${NODES[@]}"; do redis_cli "$n" info replication; done | grep -c "master_link_status:up"
}
wait_while_running "" 10 more_than 2 replicas_in_sync && pass "3 replicas in sync" ||
    fail "$(replicas_in_sync) replicas in sync"

seed_list=$(IFS=,; echo "${seeds[*]}")
cat >"$WORK/s.yaml" <<YAML
name: failover-$$
resident: 2MiB
store_timeout: 20s
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    cluster: true
    servers: [$seed_list]
    io_timeout_ms: 1000
    connect_timeout_ms: 500
YAML
keys() {
    local n sum=0
    for n in "${masters[@]}"; do sum=$((sum + $(redis_cli "$n" dbsize 2>/dev/null || echo 0))); done
    echo "$sum"
}
"$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 48MiB --accesses 120000 --until "$WORK/enough" --verify \
    >"$WORK/out" 2>&1 &
run=$!
wait_while_running "$run" 30 more_than 6000 keys
victim=${masters[0]}
# Redis replicates asynchronously: a page put just before the kill may not
# have reached the replica, and the tier then stops the program rather
# than read an older copy (tiers/redis/README.md). This test is about
# following the failover, so the program (and the pager threads in it) is
# paused until the victim's replica has every write, then the master dies
# and the program goes on: its next call to that master must wait for the
# replica to take over.
victim_synced() {
    local info master_offset
    info=$(redis_cli "$victim" info replication | tr -d '\r')
    master_offset=$(echo "$info" | sed -n 's/^master_repl_offset://p')
    echo "$info" | grep -q "^slave0:.*,offset=$master_offset,"
}
program=$(pgrep -P "$run" | head -1)
if [ -n "$program" ] && kill -STOP "$program" && wait_while_running "" 10 victim_synced &&
    redis_kill9 "$victim"; then
    pass "master $victim killed during the run, its replica in sync ($(keys) pages in the cluster)"
else
    fail "the run ended before a master could be killed, or its replica never caught up"
fi
[ -z "$program" ] || kill -CONT "$program"
# masters_now: how many nodes but the victim are masters now.
masters_now() {
    local n count=0
    for n in "${NODES[@]}"; do
        [ "$n" = "$victim" ] && continue
        redis_cli "$n" role 2>/dev/null | head -1 | grep -q master && count=$((count + 1))
    done
    echo "$count"
}
# Once a replica has taken over, the run goes on 2 s more (120000
# accesses at most), then verifies every page.
wait_while_running "$run" 60 more_than 2 masters_now
sleep 2
touch "$WORK/enough"
wait "$run"
status=$?
if [ "$status" = 0 ] && grep -q "^verify: *ok" "$WORK/out"; then
    pass "the run survived the failover: every page verified"
else
    fail "exit $status after the master was killed"; sed 's/^/      /' "$WORK/out" | tail -20
fi
promoted=$(masters_now)
[ "$promoted" = 3 ] && pass "a replica took over: 3 masters again" || fail "$promoted masters after the kill"
finish
