# tierpage run through the memcached tier, with real servers: a verified
# run, sharding, a server killed under replicas, a server down at start, a
# server that fills up, and one running stack per namespace: two copies of
# one stack file at once, a killed one's pages removed once its lease ran
# out, namespace: exclusive, and a stopped one that let its lease run out
# stopping when it runs again.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
. "$SRC/tests/namespace_lib.sh"
trap 'mc_stop_all; cleanup_shm; rm -rf "$WORK"' EXIT

started=1
for n in 1 2 3; do
    if mc_start "s$n" 256; then eval "P$n=\$MC_PORT"; else started=0; fi
done
if [ "$started" = 1 ]; then pass "three memcached servers on loopback"; else
    fail "memcached servers did not start"; finish; exit 1; fi
SERVERS="127.0.0.1:$P1, 127.0.0.1:$P2, 127.0.0.1:$P3"

# mc_stack FILE SERVERS [EXTRA TIER LINES]: dram (4 MiB) -> memcached, 2 MiB resident
mc_stack() {
    mc_stack_file "$1" "mc-test-$$-$(basename "$1" .yaml)" 2MiB "$2" "" "${3:-}"
}


# 1. A verified run through three sharded servers.
mc_stack "$WORK/sharded.yaml" "$SERVERS"
expect_status 0 "bench --verify through dram -> memcached (3 servers)" -- \
    "$TIERPAGE" run -c "$WORK/sharded.yaml" --stats "$WORK/sharded.json" -- \
    "$BENCH" --size 32MiB --accesses 20000 --verify --quiet
hits=$(tier_field "$WORK/sharded.json" memcached hits 2>/dev/null || echo 0)
[ "$hits" -gt 0 ] && pass "memcached served $hits faults" || fail "memcached hits: $hits"
for n in 1 2 3; do
    items=$(mc_stat "s$n" total_items)
    [ "${items:-0}" -gt 100 ] && pass "server $n stored $items pages" || fail "server $n stored ${items:-no} pages"
done

# 2. replicas: 2, and one server killed in the middle of the run, which
# goes on 2 s more (80000 accesses at most), then verifies every page.
mc_stack "$WORK/replicas.yaml" "$SERVERS" "    replicas: 2"
"$TIERPAGE" run -c "$WORK/replicas.yaml" --stats "$WORK/replicas.json" -- \
    "$BENCH" --size 32MiB --accesses 80000 --until "$WORK/replicas.enough" --verify >"$WORK/out" 2>&1 &
run_pid=$!
wait_while_running "$run_pid" 30 more_than 1000 mc_stat s2 curr_items
read -r victim_pid victim_port <"$MC_STATE_DIR/s2.server"
if kill -0 "$run_pid" 2>/dev/null; then
    kill -9 "$victim_pid" && pass "server 2 killed while the run was going on" || fail "cannot kill server 2"
    { wait "$victim_pid"; } 2>/dev/null
else
    fail "the run ended before server 2 could be killed"
fi
sleep 2
touch "$WORK/replicas.enough"
wait "$run_pid"
status=$?
rm -f "$MC_STATE_DIR/s2.server"
if [ "$status" = 0 ]; then pass "the run survived the kill, every page verified"; else
    fail "the run exited $status after the kill"; sed 's/^/      /' "$WORK/out" | tail -20; fi
if grep -q "^verify: *ok, 8192 pages" "$WORK/out" && ! grep -q "FAILED" "$WORK/out"; then
    pass "zero corrupted pages"; else fail "the verification did not report every page intact"; fi
hits=$(tier_field "$WORK/replicas.json" memcached hits 2>/dev/null || echo 0)
[ "$hits" -gt 0 ] && pass "memcached served $hits faults with replicas" || fail "memcached hits with replicas: $hits"

# The example stack, pointed at the two servers left and a private pmem
# file, opens.
sed -e "s|127.0.0.1:11211, 127.0.0.1:11212, 127.0.0.1:11213|127.0.0.1:$P1, 127.0.0.1:$P3|" \
    -e "s|/var/lib/tierpage/web-1.pmem|/dev/shm/tierpage-test-$$-example.pmem|" -e "s|8GiB|64MiB|" \
    -e "s|name: web-1|name: example-$$|" \
    "$SRC/conf/examples/memcached.yaml" >"$WORK/example.yaml"
expect_status 0 "conf/examples/memcached.yaml opens on real servers" -- "$TIERPAGE" check "$WORK/example.yaml"
expect_output "memcached" "check lists the memcached tier"

# 3. A server down at start: the killed server's port is free now.
mc_stack "$WORK/down.yaml" "127.0.0.1:$P1, 127.0.0.1:$victim_port"
expect_status 2 "tierpage run refuses a stack whose server is down" -- \
    "$TIERPAGE" run -c "$WORK/down.yaml" -- "$BENCH" --size 8MiB --quiet
expect_output "down.yaml:7:5: tiers\[1\]\.servers \(plugin memcached\): memcached: cannot reach 127.0.0.1:$victim_port" \
    "the message names the stack file's line:col and the server"
expect_status 2 "tierpage check refuses it too" -- "$TIERPAGE" check "$WORK/down.yaml"
expect_output "cannot reach 127.0.0.1:$victim_port" "check names the server"

# 4. A server too small for the pages: refused puts go down to pmem.
if mc_start tiny 8; then pass "a memcached of 8 MiB"; else fail "the small memcached did not start"; fi
pmem=/dev/shm/tierpage-test-$$-full.pmem
mc_stack "$WORK/full.yaml" "127.0.0.1:$MC_PORT" "  - plugin: pmem
    path: $pmem
    capacity: 128MiB"
expect_status 0 "bench --verify through dram -> memcached (8 MiB) -> pmem" -- \
    "$TIERPAGE" run -c "$WORK/full.yaml" --stats "$WORK/full.json" -- \
    "$BENCH" --size 32MiB --accesses 20000 --verify --quiet
full=$(tier_field "$WORK/full.json" memcached full_events 2>/dev/null || echo 0)
[ "$full" -gt 0 ] && pass "memcached said full $full times" || fail "memcached full_events: $full"
puts=$(tier_field "$WORK/full.json" pmem puts 2>/dev/null || echo 0)
[ "$puts" -gt 0 ] && pass "pmem took $puts pages the full server refused" || fail "pmem puts: $puts"
rm -f "$pmem"

# 5. One running stack per namespace, on one server and on two.
if mc_start s4 128 && P4=$MC_PORT && mc_start s5 128 && P5=$MC_PORT; then pass "two more memcached servers"; else
    fail "the memcached servers for namespaces did not start"; finish; exit 1; fi
# memcached keeps the lease 3 s (whole seconds, plus one), counted by a
# clock that ticks once a second.
NS_LEASE_MS=1500 NS_LEASE_WAIT=4.5
# Page keys of a namespace on s4 and s5, listed with lru_crawler metadump.
ns_count() {
    mc_keys "$P4" "$P5" | grep -c "^tp:$1:"
}
# ns_mc_stack FILE SERVERS NAME [TOP LINE]: with a 10 s io timeout (a loaded
# machine is no server gone, as in cli_descriptors)
ns_mc_stack() {
    mc_stack_file "$1" "$3" 2MiB "$2" "${4:-}" "    lease_ms: ${LEASE:-$NS_LEASE_LONG}
    io_timeout_ms: 10s"
}
ns_mc_stack "$WORK/two.yaml" "127.0.0.1:$P4" two-$$
ns_two_at_once "one server" "$WORK/two.yaml" memcached
ns_mc_stack "$WORK/two2.yaml" "127.0.0.1:$P4, 127.0.0.1:$P5" two2-$$
ns_two_at_once "two servers" "$WORK/two2.yaml" memcached
LEASE=$NS_LEASE_MS ns_mc_stack "$WORK/kill.yaml" "127.0.0.1:$P4, 127.0.0.1:$P5" kill-$$
ns_killed "two servers" "$WORK/kill.yaml" kill-$$
ns_mc_stack "$WORK/excl.yaml" "127.0.0.1:$P4" excl-$$ "namespace: exclusive"
ns_exclusive "one server" "$WORK/excl.yaml" excl-$$ "127.0.0.1:$P4"
LEASE=$NS_LEASE_MS ns_mc_stack "$WORK/stall.yaml" "127.0.0.1:$P4, 127.0.0.1:$P5" stall-$$
ns_stalled "two servers" "$WORK/stall.yaml" stall-$$

# 6. Whether a tier is local is its store's to say, not whether it has a
# write-back queue: memcached with writeback_queue: 0 is still remote. A
# page read back from it comes back write-protected and is dropped clean at
# eviction, never compared with its copy by a get, so the tier is read
# exactly once per fault or page prefetched. dram, a local store, is
# compared: read more.
for tier in memcached dram; do
    {
        printf 'name: mc-test-%s-%s\nresident: 2MiB\ntiers:\n' "$$" "$tier"
        if [ "$tier" = memcached ]; then
            printf '  - plugin: memcached\n    servers: [127.0.0.1:%s, 127.0.0.1:%s]\n    writeback_queue: 0\n' "$P1" "$P3"
        else
            printf '  - plugin: dram\n    capacity: 32MiB\n'
        fi
    } >"$WORK/local-$tier.yaml"
    expect_status 0 "bench --verify, read-mostly, through $tier alone" -- \
        "$TIERPAGE" run -c "$WORK/local-$tier.yaml" --stats "$WORK/local-$tier.json" -- \
        "$BENCH" --size 16MiB --accesses 8000 --write-ratio 0.1 --verify --quiet
    hits=$(tier_field "$WORK/local-$tier.json" "$tier" hits 2>/dev/null || echo 0)
    out=$(tier_field "$WORK/local-$tier.json" "$tier" bytes_out 2>/dev/null || echo 0)
    prefetched=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prefetched_pages"])' \
        "$WORK/local-$tier.json" 2>/dev/null || echo -1)
    if [ "$tier" = memcached ]; then
        [ "$hits" -gt 1000 ] && [ "$out" = $(((hits + prefetched) * 4096)) ] &&
            pass "memcached with writeback_queue: 0 is not local: $hits faults and $prefetched pages prefetched, $out bytes read, no compare" ||
            fail "memcached with writeback_queue: 0: $hits faults and $prefetched pages prefetched but $out bytes read (compared at eviction?)"
    else
        [ "$hits" -gt 1000 ] && [ "$out" -gt $(((hits + prefetched) * 4096)) ] &&
            pass "dram is local: $hits faults, $out bytes read, pages compared at eviction" ||
            fail "dram: $hits faults, $out bytes read: no compare at eviction"
    fi
done

finish
