#!/bin/bash
# A clean restart of tierpaged for an upgrade (`tierpage daemon restart`,
# SIGUSR2): the daemon empties its VMs' write-back queues, tells its
# programs it restarts and executes its binary from disk again, same pid;
# the programs wait and carry on. Here:
#   1. bad requests: no daemon, a wrong socket, a bad --timeout;
#   2. two verified runs under two VMs, each over dram and pmem with pages
#      in both, through three restarts by `tierpage daemon restart` (the
#      third after the binary on disk was replaced by another copy: the
#      new inode runs) and three by SIGUSR2 (with TIERPAGE_TEST_LIGHT=1,
#      as the sanitizer suite runs it, one of each kind); `tierpage
#      status` shows both VMs recovered each time;
#   3. the binary on disk is not executable: the daemon runs a copy of
#      itself instead, and the runs go on; made executable again, the next
#      restart runs it;
#   4. no binary can be executed (the one on disk not executable, and no
#      descriptor left for the copy): the daemon exits 1, and a daemon
#      started again on its state takes the runs back; both complete with
#      every page as written;
#   5. the same with nothing started again: a program stops past its
#      --daemon-timeout, with the message, never a hang.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
runs=()
trap 'for r in "${runs[@]:-}"; do [ -n "$r" ] && kill -KILL "$r" 2>/dev/null; done; daemon_cleanup' EXIT

# 1. Bad requests, and what --help says.
expect_status 0 "tierpage daemon --help" -- "$TIERPAGE" daemon --help
expect_output "tierpage daemon restart \[--timeout SECONDS\] \[--socket PATH\]" "names restart and its options"
expect_output "same as SIGUSR2" "and that SIGUSR2 does the same"
expect_status 0 "tierpaged --help names SIGUSR2" -- "$TIERPAGED" --help
expect_output "SIGUSR2 \(or" "saying what it does"
expect_status 0 "tierpaged --version" -- "$TIERPAGED" --version
expect_output "^tierpaged [0-9]+\.[0-9]+\.[0-9]+$" "prints its version"
expect_status 3 "restart with no daemon running exits 3" -- "$TIERPAGE" daemon restart --socket "$WORK/none.sock"
expect_output "tierpage daemon restart: cannot reach tierpaged at $WORK/none.sock: .*is the daemon running" \
    "naming the socket"
touch "$WORK/not-a-socket"
expect_status 3 "restart on a path that is no socket exits 3" -- \
    "$TIERPAGE" daemon restart --socket "$WORK/not-a-socket"
expect_output "cannot reach tierpaged at $WORK/not-a-socket" "naming it"
for bad in 0 abc -5 25h; do
    expect_status 2 "--timeout $bad is refused" -- "$TIERPAGE" daemon restart --timeout "$bad" --socket "$SOCK"
    expect_output "tierpage daemon: --timeout: expected .*got '$bad'" "saying what was expected"
done
expect_status 2 "an unknown daemon command is refused" -- "$TIERPAGE" daemon reboot
expect_output "expected restart or info, got 'reboot'" "naming it"

# 2. The daemon runs from a copy of the built binary, which the test can
# replace; its plugins are the build's.
mkdir -p "$WORK/sbin"
cp "$TIERPAGED" "$WORK/sbin/tierpaged"
BUILT_TIERPAGED=$TIERPAGED
TIERPAGED=$WORK/sbin/tierpaged
export TIERPAGE_PLUGIN_PATH=$BUILD/lib/tierpage
vm_stack pm 4MiB 8MiB 64MiB            # dram, then pmem
vm_stack pm2 2MiB 4MiB 64MiB
start_daemon || exit 1

info_of() { "$TIERPAGE" daemon info --socket "$SOCK" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
inode_of() { stat -L -c %i "$1"; }

# run_bench NAME SIZE: a verified run under VM NAME, in the background (its
# pid in $run_pid), its output in $WORK/NAME.json and .err; it makes
# accesses until $WORK/enough exists (every restart below done), then
# verifies.
run_bench() {
    "$TIERPAGE" run --daemon "$SOCK" --vm "$1" -- \
        "$BENCH" --size "$2" --accesses 100000000 --until "$WORK/enough" --verify --json --quiet \
        >"$WORK/$1.json" 2>"$WORK/$1.err" &
    run_pid=$!
    runs+=("$run_pid")
}
run_bench pm 48MiB
pm_run=$run_pid
run_bench pm2 32MiB
pm2_run=$run_pid
for vm in pm pm2; do
    wait_while_running "" 60 more_than 1000 stat_of $vm pages pmem &&
        pass "VM $vm's run has $(stat_of $vm pages dram) pages in dram, $(stat_of $vm pages pmem) in pmem" ||
        fail "no pages of VM $vm's run in pmem"
done

# both_run: both runs still run (else the restarts would test nothing).
both_run() { kill -0 "$pm_run" 2>/dev/null && kill -0 "$pm2_run" 2>/dev/null; }
# serving_again N: restart N is done, both VMs taken back, each of them
# served faults since (its stack's counters start again at a restart).
serving_again() {
    [ "$(info_of restarts)" = "$1" ] && [ "$(info_of waiting)" = 0 ] &&
        more_than 100 stat_of pm faults && more_than 100 stat_of pm2 faults
}
# recovered_both: status shows both VMs recovered, attached to their runs.
recovered_both() {
    "$TIERPAGE" status --socket "$SOCK" >"$WORK/status" &&
        grep -Eq "^pm +[0-9]+ .*\(recovered\)" "$WORK/status" && grep -Eq "^pm2 +[0-9]+ .*\(recovered\)" "$WORK/status"
}
# after_restart N HOW: the checks after restart N.
after_restart() {
    wait_while_running "" 60 serving_again "$1" &&
        pass "restart $1 ($2): both programs served again, same pid $(info_of pid)" ||
        fail "restart $1 ($2): not served again: $("$TIERPAGE" daemon info --socket "$SOCK" 2>&1 | tr '\n' ' ')"
    recovered_both && pass "restart $1: tierpage status shows both VMs recovered" ||
        { fail "restart $1: status"; sed 's/^/      /' "$WORK/status"; }
    [ "$(info_of pid)" = "$daemon_pid" ] || fail "restart $1: the daemon's pid changed"
}

restart_no=0
restarts="command command replaced signal signal signal"
# The sanitizer suite's lighter run: each kind of restart once.
[ "${TIERPAGE_TEST_LIGHT:-0}" = 1 ] && restarts="command replaced signal"
for how in $restarts; do
    both_run || { fail "a run ended before restart $((restart_no + 1))"; tail -3 "$WORK"/*.err; finish; exit 1; }
    restart_no=$((restart_no + 1))
    if [ "$how" = replaced ]; then
        # An upgrade: another binary takes the path (a new inode, as a
        # package manager's rename makes); the running one stays as it was.
        old_inode=$(inode_of "$TIERPAGED")
        cp "$BUILT_TIERPAGED" "$WORK/sbin/tierpaged.new" && mv "$WORK/sbin/tierpaged.new" "$TIERPAGED"
        new_inode=$(inode_of "$TIERPAGED")
        [ "$(inode_of /proc/$daemon_pid/exe)" = "$old_inode" ] && [ "$new_inode" != "$old_inode" ] &&
            pass "the binary on disk replaced (inode $old_inode -> $new_inode) under the running daemon" ||
            fail "replacing the binary: running $(inode_of /proc/$daemon_pid/exe), old $old_inode, new $new_inode"
    fi
    if [ "$how" = signal ]; then
        kill -USR2 "$daemon_pid"
        after_restart "$restart_no" SIGUSR2
    else
        expect_status 0 "restart $restart_no: tierpage daemon restart" -- \
            "$TIERPAGE" daemon restart --socket "$SOCK"
        expect_output "^handed over: 2 VMs with programs attached \([0-9]+ pages written back from their queues\)" \
            "it says the state was handed over"
        expect_output "^tierpaged answers again after .*: pid $daemon_pid, restart $restart_no, $TIERPAGED " \
            "that the daemon answers again, same pid, from the binary's path"
        expect_output "^restarted: pid $daemon_pid, 2 VMs recovered in [0-9.]+ s$" "and that both VMs are recovered"
        grep "^restarted" "$WORK/out" | sed 's/^/      /'
        after_restart "$restart_no" "tierpage daemon restart"
    fi
    if [ "$how" = replaced ]; then
        [ "$(inode_of /proc/$daemon_pid/exe)" = "$new_inode" ] && [ "$(info_of running_inode)" = "$new_inode" ] &&
            pass "the new binary (inode $new_inode) is what runs now, under pid $daemon_pid" ||
            fail "after the upgrade the daemon runs inode $(inode_of /proc/$daemon_pid/exe), not $new_inode"
    fi
done
grep -q "tierpaged restarts (SIGUSR2): it executes $TIERPAGED again" "$WORK/pm.err" &&
    grep -q "the daemon is back: VM pm resumed" "$WORK/pm.err" &&
    pass "the program was told the daemon restarts, and came back" ||
    { fail "the program's messages"; sed 's/^/      /' "$WORK/pm.err" | tail; }
if grep -q "warning: the daemon went away" "$WORK/pm.err" "$WORK/pm2.err"; then
    fail "a program took a restart for a daemon gone"
else
    pass "no program took a restart for a daemon gone"
fi

# 3. The binary on disk cannot be executed: a copy of the running one is.
chmod a-x "$TIERPAGED"
both_run || { fail "a run ended before the restart with an unexecutable binary"; finish; exit 1; }
restart_no=$((restart_no + 1))
kill -USR2 "$daemon_pid"
after_restart "$restart_no" "binary not executable"
grep -q "restart: cannot execute $TIERPAGED: Permission denied; executing a copy of the binary this daemon runs instead" \
    "$WORK/daemon.log" && pass "the daemon logged why it ran a copy of itself" ||
    { fail "no log of the copy"; tail -5 "$WORK/daemon.log" | sed 's/^/      /'; }
[ "$(info_of running_inode)" != "$(inode_of "$TIERPAGED")" ] && [ "$(info_of binary)" = "$TIERPAGED" ] &&
    pass "a copy runs, and the next restart tries $TIERPAGED again" || fail "what runs: $(info_of running_inode)"
chmod a+x "$TIERPAGED"
restart_no=$((restart_no + 1))
expect_status 0 "restart $restart_no: the binary executable again" -- "$TIERPAGE" daemon restart --socket "$SOCK"
after_restart "$restart_no" "binary executable again"
[ "$(info_of running_inode)" = "$(inode_of "$TIERPAGED")" ] && pass "the binary on disk runs again" ||
    fail "after the binary was made executable again: inode $(info_of running_inode)"

# 4. Neither can run: the daemon exits 1; started again on its state (as
# a supervisor would), it takes the runs back.
# failed_restart: SIGUSR2 with the binary on disk not executable and no
# descriptor left for a copy; the daemon must exit 1.
failed_restart() {
    chmod a-x "$TIERPAGED"
    prlimit --pid "$daemon_pid" --nofile=3:3
    kill -USR2 "$daemon_pid"
    wait "$daemon_pid"
    local rc=$?
    daemon_pid=
    chmod a+x "$TIERPAGED"
    [ "$rc" = 1 ] && pass "no binary could run: the daemon exits 1" || fail "the daemon exited $rc, expected 1"
}
both_run || { fail "a run ended before the failed restart"; finish; exit 1; }
failed_restart
grep -q "restart $((restart_no + 1)) failed: cannot execute $TIERPAGED: Permission denied, nor a copy of the running binary: Too many open files; exiting with status 1" \
    "$WORK/daemon.log" && pass "saying why" || { fail "the log"; tail -5 "$WORK/daemon.log" | sed 's/^/      /'; }
start_daemon || exit 1
wait_while_running "" 60 recovered_both && pass "a daemon started again on the state took both runs back" ||
    { fail "not taken back"; sed 's/^/      /' "$WORK/status"; }
# Both serve faults again (the new daemon's counters start at 0), then end
# their accesses and verify every page.
served_both() { more_than 100 stat_of pm faults && more_than 100 stat_of pm2 faults; }
wait_while_running "" 60 served_both &&
    pass "both runs are served faults by it" || fail "the runs were not served again"
touch "$WORK/enough"

expect_exit "VM pm's run completes" 0 "$pm_run" "$WORK/pm.err"
expect_exit "VM pm2's run completes" 0 "$pm2_run" "$WORK/pm2.err"
for vm in pm pm2; do
    grep -q '"verify":"ok"' "$WORK/$vm.json" && grep -q '"bad_pages":0' "$WORK/$vm.json" &&
        pass "every page of the $vm run verifies" || fail "the $vm run's verify: $(cat "$WORK/$vm.json")"
    expect_no_wrong_data "the $vm run" "$WORK/$vm.err"
done
wait_for "their pages are released when they end" released

# 5. A failed restart with no supervisor: the program stops past its
# --daemon-timeout, with the reason.
"$TIERPAGE" run --daemon "$SOCK" --vm pm --daemon-timeout 3 -- \
    "$BENCH" --size 48MiB --accesses 100000000 --verify --quiet >"$WORK/alone.out" 2>&1 &
alone=$!
runs+=("$alone")
wait_while_running "$alone" 60 more_than 1000 stat_of pm pages pmem
failed_restart
ended_within "$alone" 30 && pass "the program stops without a hang" ||
    fail "the program still runs 30 s after its daemon failed to restart, with --daemon-timeout 3"
expect_exit "it stops" 125 "$alone" "$WORK/alone.out"
expect_output "tierpage: tierpaged at $SOCK: .*tierpaged restarts \(SIGUSR2\)" "told first that the daemon restarts" \
    "$WORK/alone.out"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM pm: .*did not come back within daemon_timeout \(3s" \
    "then why it stopped" "$WORK/alone.out"
expect_no_wrong_data "it" "$WORK/alone.out"
finish
