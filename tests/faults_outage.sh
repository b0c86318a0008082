# Faulty stores in other places of the chain, and outages: a failing first
# tier, a middle tier that says "full", a store down for less than
# store_timeout (waited out) and for longer (the program is stopped with a
# message naming the tier, in bounded time, never shown wrong data).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/faults_lib.sh"

# The first tier fails: a put it refuses goes to the next tier.
cat >"$WORK/first.yaml" <<YAML
name: faults-$$
resident: 2MiB
tiers:
  - plugin: faulty
    wrap: dram
    capacity: 4MiB
    writeback_queue: 0
    get_eio: 1/100
    put_eio: 1/100
    counts_file: $WORK/first.counts
  - plugin: pmem
    path: /dev/shm/tierpage-faults-$$-first.pmem
    capacity: 256MiB
YAML
expect_status 0 "the first tier fails one put in a hundred: every page verified" -- \
    "$TIERPAGE" run -c "$WORK/first.yaml" --stats "$WORK/first.json" -- \
    "$BENCH" --size 24MiB --accesses 30000 --verify --quiet
n=$(count put_eio first)
[ "$n" -gt 0 ] && pass "  $n put_eio injected" || fail "  no put_eio was injected"

# A middle tier that says "full" now and then: the page goes down the chain.
cat >"$WORK/full.yaml" <<YAML
name: faults-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: faulty
    wrap: dram
    capacity: 64MiB
    put_full: 1/100
    counts_file: $WORK/full.counts
  - plugin: pmem
    path: /dev/shm/tierpage-faults-$$-full.pmem
    capacity: 256MiB
YAML
verified full "one put in a hundred refused as full by a middle tier" put_full

# An outage shorter than store_timeout is waited out; a longer one stops
# the program with a message naming the tier.
stack "$WORK/outage.yaml" "    outage_after: 5000
    outage_time: 1500ms" "store_timeout: 10s"
verified outage "the store is down for 1.5 s, store_timeout 10 s" outage_calls
for queue in "" "    writeback_queue: 0"; do
    stack "$WORK/down.yaml" "    outage_after: 5000
    outage_time: 60s
$queue" "store_timeout: 1s"
    start=$(date +%s)
    expect_status 125 "the store is down for longer than store_timeout (1 s${queue:+, direct puts}): stopped" -- \
        "$TIERPAGE" run -c "$WORK/down.yaml" -- "$BENCH" --size 24MiB --accesses 30000 --verify --quiet
    took=$(($(date +%s) - start))
    expect_output "tierpage: fatal: .*tier 'faulty'.*(store_timeout|still failing)" "  the message names the tier and the timeout"
    if grep -q "verify" "$WORK/out"; then fail "  the program saw wrong data"; else pass "  the program saw no wrong data"; fi
    [ "$took" -lt 20 ] && pass "  it was stopped in $took s, not hung" || fail "  it took $took s to stop"
done
finish
