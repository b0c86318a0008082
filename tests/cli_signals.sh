# tierpage run: a program's signal handlers never run on the pager's threads.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'redis_stop_all; cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 4MiB 16MiB 1GiB

# A 200 µs SIGALRM whose handler reads and writes served memory while the
# program sweeps 32 MiB through a 4 MiB cap. Delivered to a pager thread,
# the handler would fault there and the pager would wait for itself. The
# program also checks that every thread but its own blocks SIGALRM.
expect_status 0 "a 200 µs interval timer whose handler touches served memory finishes" -- \
    timeout 120 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/t.json" -- "$BUILD/tests/itimer_signals"
expect_output "signals handled, all pages checked" "every page holds what the sweep and the handler wrote"
[ "$(json_field "$WORK/t.json" evictions)" -gt 8192 ] && pass "the timer program was paged" || fail "itimer_signals evictions in stats"

# A store that starts threads of its own (the redis tier's lease heartbeat)
# and a remote tier's write-back sender.
need "start a redis server" -- redis_start a
cat >"$WORK/r.yaml" <<YAML
name: signals-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [${REDIS_ADDR[a]}]
YAML
expect_status 0 "the timer program through dram then redis" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/r.yaml" -- "$BUILD/tests/itimer_signals"
expect_output "signals handled, all pages checked" "every page holds what was written, through redis"

finish
