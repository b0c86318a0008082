# Redundancy restored, not only used: replicas: 2 over two Redis servers
# that snapshot every second. During a verified run one is killed and
# restarted from its own snapshot (rolled back: older versions of pages,
# and none of the newest); the tier must never serve its stale copies, and
# must write every page back onto it. Then the other server is killed: the
# run goes on from the returned server alone, every page verified. Then the
# count of pages short of a copy, from the stack's stats while it runs.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'redis_stop_all; rm -rf "$WORK"' EXIT

SNAPSHOT=(--save "1 1")
need "server a" -- redis_start a "${SNAPSHOT[@]}"
need "server b" -- redis_start b "${SNAPSHOT[@]}"
cat >"$WORK/s.yaml" <<YAML
name: replicas-$$
resident: 2MiB
store_timeout: 20s
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: redis
    servers: [${REDIS_ADDR[a]}, ${REDIS_ADDR[b]}]
    replicas: 2
    io_timeout_ms: 1000
    connect_timeout_ms: 300
YAML
# (at most 200000 accesses; the run ends them a while after both kills)
"$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 32MiB --accesses 200000 --until "$WORK/enough" --verify \
    >"$WORK/out" 2>&1 &
run=$!
wait_while_running "$run" 30 more_than 5000 redis_cli a dbsize
sleep 2 # a snapshot with pages in it, then a second of writes it lacks
if kill -0 "$run" 2>/dev/null && redis_kill9 a; then pass "server a killed during the run"; else
    fail "the run ended before server a could be killed"; fi
sleep 1
port=${REDIS_PORT[a]}
if redis_launch a "$REDIS_DIR/a" --port "$port" "${SNAPSHOT[@]}"; then
    pass "server a restarted from its snapshot with $(redis_cli a dbsize) keys"
else
    fail "server a did not restart"
fi
# The tier notices and writes every page back onto a. A put or get that
# found a short of copies may refill some pages before the watcher sees the
# new run_id: wait for the refill that follows the watcher's check.
refilled_after_back() {
    awk '/ is back/ { back = 1 } back && /every page has its 2 copies again/ { done = 1 } END { exit !done }' "$WORK/out"
}
wait_while_running "$run" 30 refilled_after_back
expect_output "tierpage: redis: ${REDIS_ADDR[a]} is back" "  the tier noticed that a came back"
expect_output "every page has its 2 copies again" "  and refilled it"
if kill -0 "$run" 2>/dev/null && redis_kill9 b; then pass "then server b killed during the run"; else
    fail "the run ended before server b could be killed"; fi
sleep 2 # accesses served by a alone, then every page verified from it
touch "$WORK/enough"
wait "$run"
status=$?
if [ "$status" = 0 ] && grep -q "^verify: *ok" "$WORK/out"; then
    pass "the run survived both kills: every page verified"
else
    fail "exit $status"; sed 's/^/      /' "$WORK/out" | tail -20
fi
# The count of pages short of a copy, read from the stack's stats while it
# runs (tests/programs/stack_status answers one command a line): 0, then
# above 0 for the pages written while server d was down, then 0 again once
# d is back and refilled, every page verified.
need "server c" -- redis_start c
need "server d" -- redis_start d
cat >"$WORK/status.yaml" <<YAML
name: status-$$
resident: 64KiB
tiers:
  - plugin: redis
    servers: [${REDIS_ADDR[c]}, ${REDIS_ADDR[d]}]
    replicas: 2
    writeback_queue: 0
    io_timeout_ms: 1000
    connect_timeout_ms: 300
YAML
mkfifo "$WORK/commands"
"$BUILD/tests/stack_status" "$WORK/status.yaml" 512 <"$WORK/commands" >"$WORK/status.out" 2>&1 &
status_pid=$!
exec 7>"$WORK/commands"
asked=0
# ask COMMAND: sends it; its answer in $answer (waiting 40 s at most).
ask() {
    asked=$((asked + 1))
    echo "$1" >&7
    wait_while_running "$status_pid" 40 grep -q "^$asked: " "$WORK/status.out"
    answer=$(sed -n "s/^$asked: //p" "$WORK/status.out")
}
ask "write 1"
[ "$answer" = "written 1" ] && pass "a stack over c and d holds 512 pages" || fail "the stack did not take its pages"
ask "count redis"
[ "$answer" = 0 ] && pass "  none under-replicated" || fail "  under-replicated with both servers up: $answer"
redis_kill9 d
ask "write 2"
ask "count redis"
[ "$answer" -gt 0 ] 2>/dev/null && pass "server d killed, pages written again: $answer under-replicated" ||
    fail "under-replicated after d was killed: $answer"
redis_launch d "$REDIS_DIR/d" --port "${REDIS_PORT[d]}" && pass "server d restarted, empty" ||
    fail "server d did not restart"
ask "refilled redis"
[ "$answer" = 0 ] && pass "  refilled: none under-replicated" || fail "  under-replicated after the refill: $answer"
ask "verify 2"
[ "$answer" = verified ] && pass "  every page reads back as written" || fail "  pages read back wrong: $answer"
echo quit >&7
exec 7>&-
wait "$status_pid" && pass "the stack closed" || { fail "stack_status exit $?"; sed 's/^/      /' "$WORK/status.out"; }
finish
