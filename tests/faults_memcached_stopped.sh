# A memcached server stopped (SIGSTOP) in the middle of a verified run,
# past the tier's io_timeout_ms, while it held the only copy of pages: the
# tier takes it out of service and the faults that need its pages wait
# (the core retries them until store_timeout); once the server runs again
# (SIGCONT) the tier's prober brings it back and the run ends with every
# word verified. A server that stays stopped stops the program once
# store_timeout has passed (exit 125), with a message naming it.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
# A stopped server takes no SIGTERM: let it run before it is stopped.
resume_server() { [ -n "${mc_pid:-}" ] && kill -CONT "$mc_pid" 2>/dev/null; return 0; }
trap 'resume_server; mc_stop_all; rm -rf "$WORK"' EXIT

if mc_start only 256; then pass "a memcached server"; else fail "memcached did not start"; finish; exit 1; fi
read -r mc_pid _ <"$MC_STATE_DIR/only.server"
server=127.0.0.1:$MC_PORT

# stack FILE STORE_TIMEOUT [EXTRA TIER LINE]: dram (4 MiB) -> the server,
# 2 MiB resident
stack() {
    cat >"$1" <<YAML
name: mc-stopped-$$-$(basename "$1" .yaml)
resident: 2MiB
store_timeout: $2
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: memcached
    servers: [$server]
    io_timeout_ms: 300
YAML
    [ $# -ge 3 ] && printf '%s\n' "$3" >>"$1"
    return 0
}

# start_run NAME: a verified run of stack NAME in the background (run_pid);
# returns once the server holds its pages.
start_run() {
    "$TIERPAGE" run -c "$WORK/$1.yaml" -- "$BENCH" --size 64MiB --accesses 400000 --verify >"$WORK/$1.out" 2>&1 &
    run_pid=$!
    wait_while_running "$run_pid" 30 more_than 8000 mc_stat only curr_items
}

# 1. Stopped until the tier has taken it out of service, and 2 s more;
# then resumed.
stack "$WORK/back.yaml" 30s
start_run back
items=$(mc_stat only curr_items)
if kill -0 "$run_pid" 2>/dev/null && kill -STOP "$mc_pid"; then
    pass "the server held $items pages and was stopped during the run"
else
    fail "the run ended before the server could be stopped ($items pages)"
fi
if wait_while_running "$run_pid" 60 grep -q "taken out of service" "$WORK/back.out"; then
    sleep 2
    pass "the tier took the stopped server out of service"
else
    fail "the tier never noticed the stopped server"
fi
kill -CONT "$mc_pid"
wait "$run_pid"
status=$?
if [ "$status" = 0 ]; then pass "the run ended (exit 0)"; else
    fail "exit $status, expected 0"; sed 's/^/      /' "$WORK/back.out" | tail -20; fi
expect_output "^verify: +ok" "every word verified" "$WORK/back.out"
expect_output "memcached: $server: .*\(server taken out of service\)" "the log shows the server out" "$WORK/back.out"
expect_output "memcached: $server: back in service" "the log shows it back" "$WORK/back.out"

# 2. Stopped for good: the program is stopped once store_timeout has
# passed, with a message naming the server, and never sees wrong data.
# The probes' waits stop growing at 400 ms, which the log says.
stack "$WORK/gone.yaml" 3s "    probe_max_ms: 400ms"
start_run gone
if kill -0 "$run_pid" 2>/dev/null && kill -STOP "$mc_pid"; then
    pass "the server was stopped during a second run, for good"
else
    fail "the second run ended before the server could be stopped"
fi
wait "$run_pid"
status=$?
if [ "$status" = 125 ]; then pass "the program was stopped (exit 125)"; else
    fail "exit $status, expected 125"; sed 's/^/      /' "$WORK/gone.out" | tail -20; fi
expect_output "tierpage: fatal: .*tier 'memcached' .*store_timeout\): .*$server.*out of service since it failed" \
    "the message names the tier, store_timeout and the server" "$WORK/gone.out"
expect_output "memcached: $server: still out of service" "the log shows the prober still at it" "$WORK/gone.out"
if grep -Eq "verify: .*FAILED|mismatch" "$WORK/gone.out"; then fail "the program saw wrong data"; else
    pass "the program never saw wrong data"; fi
finish
