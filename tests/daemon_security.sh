#!/bin/bash
# tierpaged's guards: a client of a uid the stack does not allow is
# refused, as are operator commands from other users; malformed messages
# close their own connection and nothing else; SIGHUP applies changed caps
# live, a broken file leaves the VM's stack in force, and changed tiers
# of a VM with no program open its stack again, with the new cap
# (daemon_reload.sh: with a program attached, and stacks that cannot open).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
GARBAGE=$BUILD/tests/daemon_garbage
NOBODY=65534
as_nobody() { setpriv --reuid $NOBODY --regid $NOBODY --clear-groups "$@"; }

vm_stack vm1 8MiB 64MiB 64MiB
vm_stack vm2 4MiB 64MiB
vm_stack shared 4MiB 64MiB
echo "allowed_uids: [$NOBODY]" >>"$STACKS/shared.yaml"
chmod 755 "$WORK"    # so that another user reaches the socket at all

# A socket another user can connect to: the credentials decide.
start_daemon --mode 0666 || exit 1
expect_status 2 "a client of another uid is refused" -- \
    as_nobody "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- true
expect_output "uid $NOBODY may not attach to VM vm1" "and told why"
grep -q "VM vm1: refused pid [0-9]*: uid $NOBODY is not allowed" "$WORK/daemon.log" &&
    pass "the refusal is logged" || fail "the refusal is not in the log"
# The daemon lets that uid in; whether it may then use userfaultfd is the
# host's setting (vm.unprivileged_userfaultfd), not the daemon's.
as_nobody "$TIERPAGE" run --daemon "$SOCK" --vm shared -- true >"$WORK/out" 2>&1
rc=$?
if ! grep -q "may not attach" "$WORK/out" && { [ $rc = 0 ] || grep -q "userfaultfd is not available" "$WORK/out"; }; then
    pass "allowed_uids lets that uid in"
else
    fail "allowed_uids: exit $rc"; sed 's/^/      /' "$WORK/out"
fi
expect_status 1 "operator commands of another user are refused" -- \
    as_nobody "$TIERPAGE" resize vm1 1MiB --socket "$SOCK"
expect_output "uid $NOBODY may not give operator commands" "and told why"
expect_status 0 "status still answers root" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm1 +- +0 +8388608 " "and vm1 kept its cap"

expect_status 0 "malformed messages each get an error and a closed connection" -- "$GARBAGE" "$SOCK"
sed 's/^/      /' "$WORK/out"
kill -0 "$daemon_pid" && pass "the daemon is still running" || fail "the daemon died"
grep -q "malformed message from pid" "$WORK/daemon.log" && pass "malformed messages are logged" ||
    fail "no malformed message in the log"

# SIGHUP: a changed cap takes effect live; a broken file keeps the old stack.
sed -i 's/^resident: 8MiB/resident: 2MiB/' "$STACKS/vm1.yaml"
echo "resident: lots" >"$STACKS/vm2.yaml"
vm_stack vm3 4MiB 64MiB
kill -HUP "$daemon_pid"
vm1_cap_is_2MiB() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq '^vm1 +- +0 +2097152 '; }
wait_for "SIGHUP: vm1's new cap is in force" vm1_cap_is_2MiB
wait_for "SIGHUP: a new file adds its VM" sh -c "'$TIERPAGE' status --socket '$SOCK' | grep -q '^vm3 '"
grep -q "VM vm2: $STACKS/vm2.yaml:1:11: resident: expected a size.*the stack in force stays" "$WORK/daemon.log" &&
    pass "SIGHUP: the broken file is reported with file:line:col" || fail "the broken file is not reported"
expect_status 0 "status after the reload" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm2 +- +0 +4194304 " "vm2 keeps its old stack"
expect_status 0 "and serves a program with it" -- \
    bash "$SRC/tests/bench_verify.sh" "$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- "$BENCH" --size 8MiB

# SIGHUP with changed tiers: vm3, which no program uses, has its stack
# opened again from the file, with the new cap.
sed -i 's/^resident: 4MiB/resident: 3MiB/; s/^    capacity: 64MiB/    capacity: 32MiB/' "$STACKS/vm3.yaml"
printf '  - plugin: pmem\n    path: /dev/shm/tierpage-test-%s-vm3.pmem\n    capacity: 64MiB\n' $$ >>"$STACKS/vm3.yaml"
kill -HUP "$daemon_pid"
wait_for "SIGHUP: changed tiers open vm3's stack again, the log naming the keys" \
    grep -q "VM vm3: stack $STACKS/vm3.yaml opened again for its changed tiers (1 of them, then 2), tiers\[0\].capacity" \
    "$WORK/daemon.log"
vm3_cap_is_3MiB() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq '^vm3 +- +0 +3145728 +[0-9]+ +dram:0 pmem:0$'; }
wait_for "vm3 has its two tiers, and the new cap" vm3_cap_is_3MiB

expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
