# A memcached server stopped (SIGSTOP) in the middle of a verified run,
# past the tier's io_timeout_ms, while it held the only copy of pages: the
# tier takes it out of service and the faults that need its pages wait
# (the core retries them until store_timeout); once the server runs again
# (SIGCONT) the tier's prober brings it back and the run ends with every
# word verified. A server that stays stopped stops the program once
# store_timeout has passed (exit 125), with a message naming it. With
# two copies of each page, the run goes on while one server is stopped,
# and the older copies it holds are deleted before it serves again.
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

# start_run NAME [SERVER N [SIZE ACCESSES]]: a verified run of stack NAME
# in the background (run_pid), over SIZE (64MiB) with ACCESSES (400000) at
# most, or until $WORK/NAME.enough exists; returns once SERVER (the first)
# holds more than N (8000) items.
start_run() {
    "$TIERPAGE" run -c "$WORK/$1.yaml" -- "$BENCH" --size "${4:-64MiB}" --accesses "${5:-400000}" \
        --until "$WORK/$1.enough" --verify >"$WORK/$1.out" 2>&1 &
    run_pid=$!
    wait_while_running "$run_pid" 30 more_than "${3:-8000}" mc_stat "${2:-only}" curr_items
}

# stop_during_run NAME SECONDS: stops the first server during run NAME
# until the tier has taken it out of service, and SECONDS more; then
# resumes it, and once the tier has it back in service the run ends its
# accesses, and must end with every word verified.
stop_during_run() {
    local items status
    items=$(mc_stat only curr_items)
    if kill -0 "$run_pid" 2>/dev/null && kill -STOP "$mc_pid"; then
        pass "the server held $items items and was stopped during run '$1'"
    else
        fail "run '$1' ended before the server could be stopped ($items items)"
    fi
    if wait_while_running "$run_pid" 60 grep -q "taken out of service" "$WORK/$1.out"; then
        sleep "$2"
        pass "the tier took the stopped server out of service"
    else
        fail "the tier never noticed the stopped server"
    fi
    kill -CONT "$mc_pid"
    wait_while_running "$run_pid" 60 grep -q "back in service" "$WORK/$1.out"
    touch "$WORK/$1.enough"
    wait "$run_pid"
    status=$?
    if [ "$status" = 0 ]; then pass "the run ended (exit 0)"; else
        fail "exit $status, expected 0"; sed 's/^/      /' "$WORK/$1.out" | tail -20; fi
    expect_output "^verify: +ok" "every word verified" "$WORK/$1.out"
}

# 1. Stopped until the tier has taken it out of service, and 2 s more;
# then resumed.
stack "$WORK/back.yaml" 30s
start_run back
stop_during_run back 2
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

# 3. Three servers, two copies of each page, the first stopped while the
# run goes on (3 s more once out of service; the accesses are many, and
# end once the server is back, not before): its pages are read from
# their other copies and written to the next servers of their walk, and
# the puts and gets it does not answer in time may still be carried out
# once it runs again. Before it serves again the tier deletes the copies
# it holds of pages written elsewhere meanwhile; a copy a late set leaves
# is never read as current (its flags hold an older generation). The run
# ends with every word verified.
kill -CONT "$mc_pid"
if mc_start second 128 && second=127.0.0.1:$MC_PORT && mc_start third 128 && third=127.0.0.1:$MC_PORT; then
    pass "two more servers"
else
    fail "memcached did not start"; finish; exit 1
fi
cat >"$WORK/copies.yaml" <<YAML
name: mc-stopped-$$-copies
resident: 2MiB
store_timeout: 30s
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: memcached
    servers: [$server, $second, $third]
    replicas: 2
    io_timeout_ms: 300
YAML
start_run copies third 2000 32MiB 1000000
stop_during_run copies 3
expect_output "memcached: $server: deleted the [0-9]+ cop(y|ies) it held of pages deleted or written elsewhere" \
    "the older copies on the server were deleted before it served again" "$WORK/copies.out"
expect_output "memcached: $server: back in service" "the log shows it back" "$WORK/copies.out"
finish
