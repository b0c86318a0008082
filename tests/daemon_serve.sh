#!/bin/bash
# tierpaged serving two unmodified programs at once, each with its own
# stack, with their data verified; the operator commands' errors; the
# stacks directory checked; a clean stop on SIGTERM.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack vm1 8MiB 16MiB 256MiB      # dram, then pmem
vm_stack vm2 4MiB 256MiB            # dram alone
# A stack of the stacks directory is named by its file when it has no name:
sed -i '/^name:/d' "$STACKS/vm2.yaml"

expect_status 0 "tierpage check accepts the stacks directory" -- "$TIERPAGE" check "$STACKS"
expect_output "vm1.yaml: ok" "check names each stack file"
expect_output "^  name +vm2$" "check names vm2.yaml's stack, which gives no name, vm2"
expect_status 2 "check of that file alone wants its name" -- "$TIERPAGE" check "$STACKS/vm2.yaml"
expect_output "vm2.yaml:1:1: name: required key is missing" "and says so"

expect_status 3 "an operator command without a daemon fails" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "cannot reach tierpaged at $SOCK" "and names the socket"
expect_status 2 "run --daemon without a daemon stops before the program" -- \
    "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- true
expect_output "cannot reach tierpaged at $SOCK" "and names the socket"

start_daemon || exit 1
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] && pass "the control socket is 0600" || fail "the control socket is $mode"

# Two programs at once, different stacks: vm1 pages into dram and pmem,
# vm2 into dram; each verifies every byte it wrote.
"$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$BENCH" --size 32MiB --pattern zipf --verify --json --quiet \
    >"$WORK/vm1.out" 2>&1 &
p1=$!
"$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- "$BENCH" --size 24MiB --verify --json --quiet \
    >"$WORK/vm2.out" 2>&1 &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
for vm in vm1 vm2; do
    rc=rc${vm#vm}
    if [ "${!rc}" = 0 ] && grep -q '"verify":"ok","bad_pages":0' "$WORK/$vm.out"; then
        pass "$vm: tierpage-bench verified under the daemon"
    else
        fail "$vm: exit ${!rc}"; sed 's/^/      /' "$WORK/$vm.out"
    fi
done
faults=$(stat_of vm1 faults)
[ "$faults" -gt 8192 ] && pass "vm1: the daemon served its faults ($faults)" || fail "vm1: $faults faults"
puts=$(stat_of vm1 puts pmem)
[ "$puts" -gt 0 ] && pass "vm1: pages went down to pmem ($puts)" || fail "vm1: no page reached pmem"
puts=$(stat_of vm2 puts dram)
[ "$puts" -gt 0 ] && pass "vm2: pages went to its dram tier ($puts)" || fail "vm2: no page reached dram"
# Both programs have exited: every page of theirs is released everywhere.
wait_for "the exited clients' pages are released in every tier" released

# The daemon's reader of a client follows the CPU its faulting thread runs
# on: a client held to one CPU has it pinned there, then to another (with
# one CPU to run on there is nothing to follow).
remote_cpus() { # the CPUs each tp-remote thread of the daemon may run on
    for t in /proc/$daemon_pid/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = tp-remote ] && sed -n 's/^Cpus_allowed_list:\s*//p' "$t/status"
    done
}
reader_on() { [ "$(remote_cpus)" = "$1" ]; }
allowed_cpus() { # this shell's CPUs, one a line
    local part
    for part in $(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status | tr , ' '); do
        case $part in *-*) seq "${part%-*}" "${part#*-}" ;; *) echo "$part" ;; esac
    done
}
set -- $(allowed_cpus | head -2)
if [ $# -ge 2 ]; then
    for cpu in $2 $1; do
        rm -f "$WORK/enough"
        taskset -c $cpu "$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- "$BENCH" --size 16MiB --accesses 100000000 \
            --until "$WORK/enough" --verify --quiet >"$WORK/pinned.out" 2>&1 &
        run=$!
        wait_for "a client held to CPU $cpu has its reader pinned there" reader_on $cpu
        touch "$WORK/enough"
        expect_exit "and verified its data" 0 $run "$WORK/pinned.out"
    done
fi

# One VM, one client at a time: a shell that execs the program hands the
# VM over (its attach is closed before the exec), and a run right after
# another finds the VM free (the daemon waits for the last one's release).
expect_status 0 "a shell that execs the program hands the VM over" -- \
    "$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- sh -c "exec '$BENCH' --size 8MiB --verify --quiet"
for n in 1 2 3; do
    expect_status 0 "back-to-back run $n on one VM" -- \
        "$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- "$BENCH" --size 8MiB --verify --quiet
done
wait_for "and every page of theirs is released" released

expect_status 0 "status answers" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm1 +- +0 +8388608 +[0-9]+ +dram:0 pmem:0" "status: one line for vm1"
expect_output "^vm2 +- +0 +4194304 " "status: one line for vm2"
TIERPAGE_SOCKET=$SOCK expect_status 0 "TIERPAGE_SOCKET names the socket" -- "$TIERPAGE" stats vm1
expect_output "faults" "stats prints the summary"

expect_status 1 "an unknown VM is refused" -- "$TIERPAGE" stats nosuch --socket "$SOCK"
expect_output "no VM named 'nosuch'" "and named"
expect_status 1 "an unknown tier is refused" -- "$TIERPAGE" demote vm1 --to redis --socket "$SOCK"
expect_output "no tier named 'redis' in this stack \(its tiers: dram, pmem\)" "and named, with the tiers there are"
expect_status 2 "a size below one page is refused" -- "$TIERPAGE" resize vm1 100B --socket "$SOCK"
expect_output "less than one page" "and said so"
expect_status 2 "a size that is not one is refused" -- "$TIERPAGE" resize vm1 lots --socket "$SOCK"
expect_status 2 "run --daemon with an unknown VM stops before the program" -- \
    "$TIERPAGE" run --daemon "$SOCK" --vm nosuch -- true
expect_output "no VM named 'nosuch'" "and names the VM"

expect_status 0 "SIGTERM stops the daemon cleanly" -- stop_daemon
[ ! -e "$SOCK" ] && pass "the socket is removed" || fail "the socket is left behind"

echo "resident: lots" >"$STACKS/broken.yaml"
expect_status 2 "check fails on a directory with a broken stack" -- "$TIERPAGE" check "$STACKS"
expect_output "broken.yaml:1:11: resident: expected a size" "and gives file:line:col"
expect_status 2 "the daemon will not start on a broken stack" -- \
    "$TIERPAGED" --stacks "$STACKS" --socket "$SOCK" --state-dir "$STATE"
expect_output "broken.yaml:1:11" "and gives file:line:col"
rm "$STACKS/broken.yaml"

# -c DAEMON.yaml: the same settings from a file, checked the same way.
cat >"$WORK/daemon.yaml" <<YAML
stacks: $STACKS
socket: $SOCK
socket_mode: "0640"
state_dir: $STATE
YAML
daemon_pid=
"$TIERPAGED" -c "$WORK/daemon.yaml" 2>>"$WORK/daemon.log" &
daemon_pid=$!
wait_for "tierpaged -c FILE starts from the file" "$TIERPAGE" status --socket "$SOCK"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 640 ] && pass "socket_mode from the file" || fail "the socket is $mode"
expect_status 0 "and stops on SIGTERM" -- stop_daemon
printf 'stacks: %s\nsocket_mode: 0999\nmetrics: 1\n' "$STACKS" >"$WORK/bad.yaml"
expect_status 2 "a bad daemon file is refused" -- "$TIERPAGED" -c "$WORK/bad.yaml"
expect_output "bad.yaml:2:14: socket_mode: expected an octal mode" "with file:line:col and the key"
printf 'stacks: %s\nsockets: x\n' "$STACKS" >"$WORK/bad.yaml"
expect_status 2 "an unknown key is refused" -- "$TIERPAGED" -c "$WORK/bad.yaml"
expect_output "bad.yaml:2:1: sockets: unknown key, expected one of stacks, socket, socket_mode, socket_group" \
    "naming the keys there are"
finish
