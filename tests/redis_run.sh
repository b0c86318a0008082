# tierpage-bench --verify under `tierpage run` through stacks with a redis
# tier: sharded over three servers, replicas: 2 with a server killed
# mid-run, a redis tier that fills up and spills to pmem, and one running
# stack per namespace: two copies of one stack file at once, a killed one's
# pages removed once its lease ran out, namespace: exclusive, and a stopped
# one that let its lease run out stopping when it runs again.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
. "$(dirname "$0")/namespace_lib.sh"
trap 'kill_poller; redis_stop_all; cleanup_shm; rm -rf "$WORK"' EXIT

need "start three redis servers" -- eval 'redis_start a && redis_start b && redis_start c'
need "start a redis server with maxmemory 4mb" -- redis_start small --maxmemory 4mb
need "start a redis server with maxmemory-policy allkeys-lru" -- \
    redis_start lru --maxmemory 64mb --maxmemory-policy allkeys-lru
A=${REDIS_ADDR[a]} B=${REDIS_ADDR[b]} C=${REDIS_ADDR[c]}
# 16 times the stacks' 2 MiB cap.
BENCH_ARGS=(--size 32MiB --accesses 20000 --verify --quiet)


# Samples DBSIZE of the given servers every 0.2 s into $WORK/dbsize.
POLLER=
start_poller() {
    : >"$WORK/dbsize"
    (
        while :; do
            for n in "$@"; do redis_cli "$n" dbsize 2>/dev/null || echo 0; done | paste -sd' ' >>"$WORK/dbsize"
            sleep 0.2
        done
    ) </dev/null >/dev/null 2>&1 &
    POLLER=$!
}
kill_poller() {
    [ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null && wait "$POLLER" 2>/dev/null
    POLLER=
}

# A store logs through tierpage: its warning at open (an evicting server,
# accepted with eviction_policy_check: warn) is on stderr, named by the tier,
# and `tierpage run --quiet` silences it with the summary: nothing is left.
cat >"$WORK/warn.yaml" <<YAML
name: warn-$$
resident: 2MiB
tiers:
  - plugin: redis
    name: lru-redis
    servers: [${REDIS_ADDR[lru]}]
    eviction_policy_check: warn
YAML
expect_status 0 "a run on a stack whose store warns at open" -- \
    "$TIERPAGE" run -c "$WORK/warn.yaml" -- "$BENCH" --size 8MiB --verify --quiet
expect_output "^tierpage: lru-redis: warning: ${REDIS_ADDR[lru]} has maxmemory-policy allkeys-lru" \
    "the store's warning is on stderr, named by its tier"
expect_status 0 "the same run with --quiet" -- \
    "$TIERPAGE" run -c "$WORK/warn.yaml" --quiet -- "$BENCH" --size 8MiB --verify --quiet
if [ -s "$WORK/out" ]; then fail "--quiet left output:"; sed 's/^/      /' "$WORK/out" | head; else
    pass "--quiet silences the store's warning and the summary"; fi

# 0. A server down at start: the run stops before the program starts, with
# the server and the stack file's line:col named.
down=$(redis_next_port)
cat >"$WORK/down.yaml" <<YAML
name: down-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [$A, 127.0.0.1:$down]
YAML
expect_status 2 "a server down at start stops the run before the program starts" -- \
    "$TIERPAGE" run -c "$WORK/down.yaml" -- "$BENCH" --size 8MiB --quiet
expect_output "down.yaml:7:5: tiers\[1\]\.servers \(plugin redis\): redis: 127.0.0.1:$down: cannot connect" \
    "the error names the file:line:col and the server"

# 1. dram -> redis over three servers: pages reach every server, come back right.
cat >"$WORK/sharded.yaml" <<YAML
name: run-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [$A, $B, $C]
YAML
start_poller a b c
expect_status 0 "bench --verify through dram -> redis (3 servers)" -- \
    "$TIERPAGE" run -c "$WORK/sharded.yaml" --stats "$WORK/sharded.json" -- "$BENCH" "${BENCH_ARGS[@]}"
kill_poller
hits=$(tier_field "$WORK/sharded.json" redis hits)
[ "$hits" -gt 0 ] && pass "the redis tier served pages ($hits hits)" || fail "redis hits: $hits"
read -r max_a max_b max_c < <(awk '{for (i = 1; i <= 3; i++) if ($i > m[i]) m[i] = $i} END {print m[1]+0, m[2]+0, m[3]+0}' "$WORK/dbsize")
if [ "$max_a" -gt 0 ] && [ "$max_b" -gt 0 ] && [ "$max_c" -gt 0 ]; then
    pass "sharding: every server held pages during the run (DBSIZE peaks $max_a, $max_b, $max_c)"
else
    fail "sharding: DBSIZE peaks $max_a, $max_b, $max_c"
fi

# 2. replicas: 2, and one server killed (kill -9) mid-run: no page lost or
# wrong. The run's accesses go on until a page whose first copy was on the
# dead server came from the second, then it verifies every page.
cat >"$WORK/replicas.yaml" <<YAML
name: repl-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [$A, $B, $C]
    replicas: 2
    connect_timeout_ms: 200
YAML
TIERPAGE_REDIS_DEBUG=1 "$TIERPAGE" run -c "$WORK/replicas.yaml" --stats "$WORK/replicas.json" -- \
    "$BENCH" --size 32MiB --accesses 400000 --until "$WORK/replicas.enough" --verify --quiet \
    >"$WORK/replicas.out" 2>&1 &
run=$!
killed=no
wait_while_running "$run" 30 more_than 3000 redis_cli c dbsize && kill -0 "$run" 2>/dev/null && redis_kill9 c &&
    killed=yes
wait_while_running "$run" 60 grep -q "read from replica 2" "$WORK/replicas.out"
touch "$WORK/replicas.enough"
wait "$run"
status=$?
[ "$killed" = yes ] && pass "a server of three was killed (kill -9) mid-run" || fail "the server was not killed mid-run"
if [ "$status" = 0 ]; then pass "replicas: 2 with a server killed: bench --verify passes, zero corrupted pages"; else
    fail "replicas run: exit $status"; grep -v '^tierpage: redis:' "$WORK/replicas.out" | tail -20 | sed 's/^/      /'; fi
grep -q "redis: warning: $C is unreachable" "$WORK/replicas.out" && pass "the dead server is reported once, by name" ||
    fail "no report of the dead server"
grep -q "read from replica 2" "$WORK/replicas.out" && pass "pages whose first copy was on the dead server came from the second" ||
    fail "no get was served by a second replica"
grep -Eq "verification failed|corrupt|mismatch" "$WORK/replicas.out" && fail "the bench reported bad pages" ||
    pass "no bad page reported"

# 3. A redis tier that fills (maxmemory 4mb, noeviction): pages go on to pmem.
cat >"$WORK/full.yaml" <<YAML
name: full-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [${REDIS_ADDR[small]}]
  - plugin: pmem
    path: /dev/shm/tierpage-test-$$-full.pmem
    capacity: 256MiB
YAML
expect_status 0 "bench --verify through dram -> redis (4mb, full) -> pmem" -- \
    "$TIERPAGE" run -c "$WORK/full.yaml" --stats "$WORK/full.json" -- "$BENCH" "${BENCH_ARGS[@]}"
pmem_puts=$(tier_field "$WORK/full.json" pmem puts)
full_events=$(tier_field "$WORK/full.json" redis full_events)
redis_puts=$(tier_field "$WORK/full.json" redis puts)
[ "$pmem_puts" -gt 0 ] && pass "the full redis tier sent pages on to pmem ($pmem_puts pmem puts)" || fail "pmem puts: $pmem_puts"
[ "$redis_puts" -gt 0 ] && pass "the redis tier took pages until full ($redis_puts puts)" || fail "redis puts: $redis_puts"
[ "$full_events" -gt 0 ] && pass "redis said full ($full_events times): OOM is -ENOSPC" || fail "redis full_events: $full_events"
expect_status 0 "plugin-test on the 4mb server: puts until -ENOSPC" -- \
    "$TIERPAGE" plugin-test redis --option "servers=${REDIS_ADDR[small]}"
expect_output "ok    full: [0-9]+ pages put until -ENOSPC" "the kit saw OOM as full"

# 4. One running stack per namespace, on one server and on three (c was
# killed in 2: d takes its place).
need "start a fourth redis server" -- redis_start d
D=${REDIS_ADDR[d]}
NS_LEASE_MS=1500 NS_LEASE_WAIT=2
ns_count() {
    local n=0 server
    for server in a b d; do
        n=$((n + $(redis_cli "$server" --scan --pattern "tp:$1:*" | grep -c .)))
    done
    echo "$n"
}
ns_stack() {
    local file=$1 name=$2 servers=$3
    shift 3
    {
        printf 'name: %s\nresident: 2MiB\n' "$name"
        [ $# -gt 0 ] && printf '%s\n' "$@"
        printf 'tiers:\n  - plugin: dram\n    capacity: 4MiB\n  - plugin: redis\n'
        printf '    servers: [%s]\n    lease_ms: %s\n' "$servers" "${LEASE:-$NS_LEASE_LONG}"
    } >"$file"
}
ns_stack "$WORK/two.yaml" two-$$ "$A"
ns_two_at_once "one server" "$WORK/two.yaml" redis
ns_stack "$WORK/two3.yaml" two3-$$ "$A, $B, $D"
ns_two_at_once "three servers" "$WORK/two3.yaml" redis
LEASE=$NS_LEASE_MS ns_stack "$WORK/kill.yaml" kill-$$ "$A"
ns_killed "one server" "$WORK/kill.yaml" kill-$$
ns_stack "$WORK/excl.yaml" excl-$$ "$A, $B" "namespace: exclusive"
ns_exclusive "two servers" "$WORK/excl.yaml" excl-$$ "$A"
LEASE=$NS_LEASE_MS ns_stack "$WORK/stall.yaml" stall-$$ "$A, $B"
ns_stalled "two servers" "$WORK/stall.yaml" stall-$$

# redis-server itself under tierpage run, its pages in a redis tier: the
# tier's hiredis must be its own, not the one redis-server exports. The
# short lease keeps the tier's heartbeat thread busy during the load: what
# that thread allocates must never be served memory (redis-server brings
# its own allocator), or a fault on it would wait for its own handler.
KV_LOAD=$BUILD/bin/tierpage-kv-load
need "start a redis server for the tier of a paged redis-server" -- redis_start tier
cat >"$WORK/app.yaml" <<YAML
name: app-$$
resident: 8MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [${REDIS_ADDR[tier]}]
    lease_ms: 1s
YAML
REDIS_PREFIX=("$TIERPAGE" run -c "$WORK/app.yaml" --stats "$WORK/app.json" --)
need "redis-server starts under tierpage run with a redis tier" -- redis_start app
REDIS_PREFIX=()
expect_status 0 "32 MiB of values loaded into the paged redis-server and every one read back" -- \
    "$KV_LOAD" --kind redis --server "${REDIS_ADDR[app]}" --keys 8000 --value-size 4000 --load --verify
expect_output '"verify":"ok"' "tierpage-kv-load found every value right"
redis_cli app shutdown nosave >/dev/null 2>&1
wait "${REDIS_PID[app]}" 2>/dev/null
unset "REDIS_PID[app]"
expect_status 0 "its stats were written" -- test -s "$WORK/app.json"
redis_puts=$(python3 -c 'import json, sys; print(sum(t["puts"] for t in json.load(open(sys.argv[1]))["tiers"] if t["plugin"] == "redis"))' "$WORK/app.json")
if [ "${redis_puts:-0}" -gt 1000 ]; then pass "the redis tier took $redis_puts pages"; else
    fail "the redis tier took ${redis_puts:-no} pages, expected over 1000"; fi

finish
