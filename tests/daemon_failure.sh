#!/bin/bash
# A page tierpaged cannot serve stops the one program it belongs to, not
# the daemon: that program exits 125 with the reason (as in-process), its
# pages are released, and another program served at the same time keeps
# every word it wrote and runs to the end. Two failures: a store that goes
# down for good (faulty, direct puts) and a memcached server killed with
# the only copy of pages (gets, and the write-back queue's puts). Then the
# daemon itself goes away (SIGTERM, SIGKILL with --daemon-timeout 0) under
# a running program, which stops with the reason instead of waiting for
# ever on its next fault (a program that waits for the daemon to come
# back: daemon_reconnect.sh).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; daemon_cleanup' EXIT

vm_stack good 4MiB 8MiB 64MiB         # dram, then pmem
cat >"$STACKS/down.yaml" <<YAML
name: down-$$
resident: 2MiB
store_timeout: 1s
tiers:
  - plugin: faulty
    wrap: dram
    capacity: 64MiB
    writeback_queue: 0
    outage_after: 3000
    outage_time: 1h
YAML
if mc_start only 256; then pass "a memcached server"; else fail "memcached did not start"; finish; exit 1; fi
mc_stack_file "$STACKS/mc.yaml" mc-$$ 2MiB "127.0.0.1:$MC_PORT" "store_timeout: 1s"
start_daemon || exit 1

# The program that must not notice: it holds 32MiB through a 4MiB cap, every
# word of it written, across both failures.
coproc HOLDER { exec "$TIERPAGE" run --daemon "$SOCK" --vm good -- "$HOLDER" 32 2>"$WORK/holder.err"; }
holder_run_pid=$HOLDER_PID
ask() { echo "$1" >&"${HOLDER[1]}"; read -r reply <&"${HOLDER[0]}"; echo "$reply"; }
read -r ready holder_pid <&"${HOLDER[0]}"
[ "$ready" = ready ] && pass "a program holds 32MiB under the daemon" ||
    { fail "holder: '$ready'"; cat "$WORK/holder.err"; exit 1; }

# 1. The faulty store fails every call from its 3000th on, for an hour.
expect_status 125 "a program whose store went down is stopped (exit 125)" -- \
    "$TIERPAGE" run --daemon "$SOCK" --vm down -- "$BENCH" --size 32MiB --verify --quiet
expect_output "tierpage: fatal: tierpaged at $SOCK, VM down: .*tier 'faulty'.*store_timeout" \
    "with the reason, naming the tier and store_timeout"
expect_no_wrong_data "it" "$WORK/out"
kill -0 "$daemon_pid" 2>/dev/null && pass "the daemon goes on" || fail "the daemon exited"
wait_for "the stopped program's pages are released" released down
expect_output "VM down: stopping pid [0-9]+: .*tier 'faulty'" "the daemon logs whom it stopped and why" \
    "$WORK/daemon.log"
[ "$(ask verify)" = ok ] && pass "the other program's every word is intact" || fail "the other program's data"
[ "$(ask 'fill 2')" = filled ] && [ "$(ask verify)" = ok ] && pass "and it rewrites and reads it all again" ||
    fail "the other program after the failure"

# 2. memcached killed while it holds the only copy of pages.
"$TIERPAGE" run --daemon "$SOCK" --vm mc -- "$BENCH" --size 48MiB --accesses 2000000 --verify --quiet \
    >"$WORK/mc.out" 2>&1 &
mc_run=$!
wait_while_running "$mc_run" 60 more_than 4000 mc_stat only curr_items
items=$(mc_stat only curr_items)
if kill -0 "$mc_run" 2>/dev/null && kill -KILL "$MC_PID"; then
    pass "memcached killed while it held $items pages of a running program"
else
    fail "the run ended before memcached held its pages ($items)"
fi
expect_exit "that program is stopped" 125 "$mc_run" "$WORK/mc.out"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM mc: .*tier 'memcached'" "with the reason, naming the tier" \
    "$WORK/mc.out"
expect_no_wrong_data "it" "$WORK/mc.out"
wait_for "its pages are released (the memcached tier's dropped)" released mc
[ "$(ask verify)" = ok ] && pass "the other program's every word is still intact" || fail "the other program's data"

expect_status 0 "the daemon still answers status" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^good +$holder_pid " "and still serves the other program"
echo exit >&"${HOLDER[1]}"
wait "$holder_run_pid"; rc=$?
[ "$rc" = 0 ] && pass "the other program ran to its end (exit 0)" || { fail "holder exit $rc"; cat "$WORK/holder.err"; }
wait_for "its pages are released too" released good
expect_status 0 "a VM that failed serves a new program" -- \
    bash "$SRC/tests/bench_verify.sh" "$TIERPAGE" run --daemon "$SOCK" --vm good -- "$BENCH" --size 16MiB
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon

# 3. The daemon itself goes away while it serves a program: the program
# stops with the reason (its pages went with the daemon), never hangs:
# at once for a SIGTERM (the daemon says so), and for a SIGKILL when it
# may not wait for the daemon to come back (--daemon-timeout 0).
rm "$STACKS/mc.yaml" # its server is gone: the daemon would not start
start_daemon || exit 1
# (HOLDER names the coproc above now; the program is at its path again.)
coproc LAST { exec "$TIERPAGE" run --daemon "$SOCK" --vm good -- "$CLIENT_BUILD/tests/pattern_holder" 32 \
    2>"$WORK/holder.err"; }
holder_run_pid=$LAST_PID
read -r ready holder_pid <&"${LAST[0]}"
[ "$ready" = ready ] || { fail "holder: '$ready'"; cat "$WORK/holder.err"; exit 1; }
kill -TERM "$daemon_pid"
ended_within "$holder_run_pid" 30 && pass "a program served when the daemon gets SIGTERM stops" ||
    fail "a program served when the daemon got SIGTERM still runs after 30 s"
expect_exit "it stops with the reason" 125 "$holder_run_pid" "$WORK/holder.err"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM good: tierpaged is stopping" "and the reason" "$WORK/holder.err"
wait "$daemon_pid"; rc=$?; daemon_pid=
[ "$rc" = 0 ] && pass "the daemon stopped cleanly (exit 0)" || fail "the daemon exited $rc"

start_daemon || exit 1
"$TIERPAGE" run --daemon "$SOCK" --vm good --daemon-timeout 0 -- \
    "$BENCH" --size 48MiB --accesses 100000000 --verify --quiet >"$WORK/killed.out" 2>&1 &
run=$!
kill_daemon_once_paged good "$run"
ended_within "$run" 30 && pass "the program stops, without a hang" ||
    fail "the program still runs 30 s after its daemon was killed"
expect_exit "it stops with the reason" 125 "$run" "$WORK/killed.out"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM good: the daemon went away .*daemon_timeout 0" \
    "and the reason" "$WORK/killed.out"
expect_no_wrong_data "it" "$WORK/killed.out"
finish
