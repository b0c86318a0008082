#!/bin/bash
# Prefetch for tierpaged's clients: a sequential sweep over memory far
# larger than the cap fetches pages ahead in batches, each page copied
# into the client's memory at once (never left in its file unmapped,
# where the client would map it without the daemon seeing its writes),
# and every word reads back as written: from a local tier (mapped
# writable, compared at eviction with its tier's copy) and from memcached
# (mapped writable too, compared with the digest of what it was mapped
# with: the daemon cannot unmap a client's pages to stop its writes, and a
# write-protected page would cost its first write a fault's round trip to
# the daemon). Many small regions read
# again and again keep their prefetch: the last batch of each region, used
# with no fault past it, counts as wasted and shrinks its window to one
# page, which must still be fetched. With `prefetch_map_ahead: off` a
# client gets no prefetch at all.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; daemon_cleanup' EXIT

if mc_start pf 256; then pass "a memcached server"; else fail "memcached did not start"; finish; exit 1; fi
vm_stack local 4MiB 64MiB
cat >"$STACKS/remote.yaml" <<YAML
name: remote-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 1MiB
  - plugin: memcached
    servers: [127.0.0.1:$MC_PORT]
YAML
vm_stack blocks 4MiB 128MiB
vm_stack off 4MiB 64MiB
echo "prefetch_map_ahead: off" >>"$STACKS/off.yaml"
start_daemon || exit 1

# sweep VM PATTERN WRITE_RATIO: tierpage-bench over 24 MiB (six times the
# cap), every access checked against what was written.
sweep() {
    expect_status 0 "$1: $2 sweep, write ratio $3, every page reads back" -- \
        timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm "$1" -- \
        "$BENCH" --size 24MiB --pattern "$2" --write-ratio "$3" --verify --quiet
}

# prefetch_useful VM: pages were fetched ahead, and 9 in 10 of them were used.
prefetch_useful() {
    local fetched used
    fetched=$(stat_of "$1" prefetched_pages)
    used=$(stat_of "$1" prefetch_hits)
    if [ "$fetched" -gt 1000 ] && [ $((used * 10)) -ge $((fetched * 9)) ]; then
        pass "$1: $fetched pages fetched ahead, $used used"
    else
        fail "$1: $fetched pages fetched ahead, $used used (expected over 1000, 90% used)"
    fi
}

sweep local seq 1
sweep local seq 0.5
sweep local stride 1
prefetch_useful local
sweep remote seq 1
sweep remote seq 0.3
prefetch_useful remote
faults=$(stat_of remote faults)
write_faults=$(stat_of remote write_faults)
clean=$(stat_of remote clean_drops)
if [ $((write_faults * 100)) -le "$faults" ] && [ "$clean" -gt 1000 ]; then
    pass "remote: $write_faults write faults for $faults faults, $clean pages only read dropped clean"
else
    fail "remote: $write_faults write faults for $faults faults, $clean dropped clean (expected under 1%, over 1000)"
fi
[ "$(stat_of remote bytes_out memcached)" -gt $((1000 * 4096)) ] && pass "remote: pages came back from memcached" ||
    fail "remote: memcached returned under 1000 pages"
expect_status 0 "blocks: 48 regions of 1 MiB read twice, none changed" -- \
    timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm blocks -- \
    /usr/bin/python3 "$SRC/tests/programs/blocks_read_twice.py" 48
from_tiers=$(($(stat_of blocks faults) - $(stat_of blocks zero_fills)))
used=$(stat_of blocks prefetch_hits)
[ "$used" -ge $((3 * from_tiers)) ] && pass "blocks: $used pages fetched ahead used, $from_tiers faults from the tier" ||
    fail "blocks: $used pages fetched ahead used, $from_tiers faults from the tier (expected 3 used a fault)"
sweep off seq 1
fetched=$(stat_of off prefetched_pages)
[ "$fetched" = 0 ] && pass "off: prefetch_map_ahead: off fetches nothing ahead for a client" ||
    fail "off: $fetched pages fetched ahead"
wait_for "every client's pages are released" released
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
