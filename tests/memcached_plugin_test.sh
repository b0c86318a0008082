# The conformance kit on the memcached tier: sharded over two servers,
# replicated over three, and on a unix socket; and a server down at open.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; rm -rf "$WORK"' EXIT

started=1
for n in 1 2 3; do
    if mc_start "s$n" 64; then eval "P$n=\$MC_PORT"; else started=0; fi
done
mc_start_unix u1 16 || started=0
if [ "$started" = 1 ]; then pass "three memcached servers on loopback and one on a unix socket"; else
    fail "memcached servers did not start"; finish; exit 1; fi

expect_status 0 "plugin-test over two servers" -- \
    "$TIERPAGE" plugin-test memcached --option servers=127.0.0.1:$P1,127.0.0.1:$P2
expect_output "memcached: [0-9]+ passed, 0 failed" "every check passed over two servers"
[ "$(mc_stat s1 total_items)" -gt 0 ] && [ "$(mc_stat s2 total_items)" -gt 0 ] &&
    pass "both servers took pages" || fail "a server took no pages"

expect_status 0 "plugin-test with replicas=2 over three servers" -- \
    "$TIERPAGE" plugin-test memcached --option servers=127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3 \
    --option replicas=2 --option io_timeout_ms=2000 --option connect_timeout_ms=500
expect_output "memcached: [0-9]+ passed, 0 failed" "every check passed with replicas"

expect_status 0 "plugin-test on a unix socket" -- \
    "$TIERPAGE" plugin-test memcached --option servers="$MC_SOCKET"
expect_output "memcached: [0-9]+ passed, 0 failed" "every check passed on a unix socket"
expect_status 0 "plugin-test on a unix: socket, with timeouts written as durations" -- \
    "$TIERPAGE" plugin-test memcached --option servers="unix:$MC_SOCKET" --option io_timeout_ms=2s \
    --option connect_timeout_ms=500ms
expect_output "memcached: [0-9]+ passed, 0 failed" "every check passed on unix:PATH"

# A server that is not there: the port of a server that was stopped.
mc_stop s3
expect_status 1 "plugin-test with a server down" -- \
    "$TIERPAGE" plugin-test memcached --option servers=127.0.0.1:$P1,127.0.0.1:$P3
expect_output "memcached: cannot reach 127.0.0.1:$P3" "the server down is named"

finish
