# A redis server that stops answering (SIGSTOP) under a verified run: calls
# time out rather than hang; a pause shorter than store_timeout is waited
# out with every page intact, a longer one stops the program with a message
# naming the tier, in bounded time.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'kill -CONT "${REDIS_PID[r1]:-0}" 2>/dev/null; redis_stop_all; rm -rf "$WORK"' EXIT

need "a redis server" -- redis_start r1
cat >"$WORK/s.yaml" <<YAML
name: stopped-$$
resident: 2MiB
store_timeout: 4s
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [${REDIS_ADDR[r1]}]
    io_timeout_ms: 300
YAML

# run_and_stop SECONDS: a verified run; once the server holds pages, it is
# stopped for SECONDS (or for good when 0), and the run goes on 1 s after
# it runs again (100000 accesses at most), then verifies. Leaves the run's
# status in $status and its duration after the stop in $took.
run_and_stop() {
    rm -f "$WORK/enough"
    "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 48MiB --accesses 100000 --until "$WORK/enough" --verify \
        >"$WORK/out" 2>&1 &
    local run=$!
    wait_while_running "$run" 30 more_than 6000 redis_cli r1 dbsize
    if kill -0 "$run" 2>/dev/null && kill -STOP "${REDIS_PID[r1]}"; then
        pass "the server was stopped during the run ($1 s)"
    else
        fail "the run ended before the server could be stopped"
    fi
    local start=$SECONDS
    if [ "$1" != 0 ]; then
        sleep "$1"
        kill -CONT "${REDIS_PID[r1]}"
        sleep 1
        touch "$WORK/enough"
    fi
    wait "$run"
    status=$?
    took=$((SECONDS - start))
    kill -CONT "${REDIS_PID[r1]}"
}

run_and_stop 1
if [ "$status" = 0 ] && grep -q "^verify: *ok" "$WORK/out"; then
    pass "a pause of 1 s (store_timeout 4 s) is waited out: every page verified"
else
    fail "exit $status after a pause of 1 s"; sed 's/^/      /' "$WORK/out" | tail -20
fi

run_and_stop 0
if [ "$status" = 125 ]; then pass "a server stopped for good stops the program (exit 125)"; else
    fail "exit $status, expected 125"; sed 's/^/      /' "$WORK/out" | tail -20; fi
expect_output "tierpage: fatal: .*tier 'redis'" "  the message names the tier"
if grep -q "^verify" "$WORK/out"; then fail "  the program saw wrong data"; else pass "  the program saw no wrong data"; fi
[ "$took" -lt 30 ] && pass "  in $took s: timeouts, not a hang" || fail "  it took $took s"
finish
