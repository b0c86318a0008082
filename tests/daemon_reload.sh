#!/bin/bash
# SIGHUP with a VM's tiers changed: the VM's stack is opened again from the
# file, at once when no program is attached to it, else once its program
# has gone (pending meanwhile, in status, stats and the log), before the
# next program attaches. A changed stack that cannot open (a memcached
# server nobody runs, a plugin that does not exist) is logged with the
# file, and the stack in force stays and serves. Every program verifies
# every word of its memory.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; daemon_cleanup' EXIT
LOG=$WORK/daemon.log

# tiers_of VM: the tiers of its stack in force, "name:capacity_bytes ...".
tiers_of() {
    "$TIERPAGE" stats "$1" --json --socket "$SOCK" | python3 -c '
import json, sys
print(" ".join("%s:%d" % (t["name"], t["capacity_bytes"]) for t in json.load(sys.stdin)["tiers"]))'
}
# change_of VM: what stats --json says of a change of its file ("-": none).
change_of() {
    "$TIERPAGE" stats "$1" --json --socket "$SOCK" | python3 -c '
import json, sys
print(json.load(sys.stdin).get("stack_change", "-"))'
}
status_line() { "$TIERPAGE" status --socket "$SOCK" | awk -v vm="$1" '$1 == vm'; }
add_pmem() {
    printf '  - plugin: pmem\n    path: /dev/shm/tierpage-test-%s-%s.pmem\n    capacity: 64MiB\n' $$ "$1" >>"$STACKS/$1.yaml"
}
verify_on() { # VM DESCRIPTION SIZE
    expect_status 0 "$2" -- bash "$SRC/tests/bench_verify.sh" "$TIERPAGE" run --daemon "$SOCK" --vm "$1" -- \
        "$BENCH" --size "$3"
}

vm_stack idle 4MiB 16MiB
vm_stack busy 4MiB 16MiB
vm_stack down 4MiB 16MiB
vm_stack noplugin 4MiB 16MiB
start_daemon || exit 1

# A VM with no program: its stack is opened again at once.
[ "$(tiers_of idle)" = "dram:16777216" ] && pass "idle: one dram tier of 16MiB at the start" ||
    fail "idle starts with $(tiers_of idle)"
sed -i 's/^    capacity: 16MiB/    capacity: 8MiB/' "$STACKS/idle.yaml"
add_pmem idle
kill -HUP "$daemon_pid"
wait_for "idle: its stack is opened again at SIGHUP" \
    grep -q "VM idle: stack $STACKS/idle.yaml opened again for its changed tiers (1 of them, then 2), tiers\[0\].capacity (2 tiers)" "$LOG"
[ "$(tiers_of idle)" = "dram:8388608 pmem:67108864" ] && pass "idle: stats show dram of 8MiB, then pmem" ||
    fail "idle: tiers $(tiers_of idle)"
[ "$(change_of idle)" = applied ] && pass "idle: stats say the change is applied" || fail "idle: $(change_of idle)"
# 32MiB through 4MiB resident and 8MiB of dram: most pages in pmem.
verify_on idle "idle: a program verifies every word on the new tiers" 32MiB
puts=$(stat_of idle puts pmem)
[ "${puts:-0}" -gt 2048 ] && pass "idle: the pmem tier took $puts pages" || fail "idle: pmem took ${puts:-no} pages"

# A VM with a program: pending until it goes, then applied before the next.
mkfifo "$WORK/busy.in" "$WORK/busy.out"
"$TIERPAGE" run --daemon "$SOCK" --vm busy -- "$HOLDER" 12 <"$WORK/busy.in" >"$WORK/busy.out" 2>"$WORK/busy.err" &
busy_run=$!
exec 3>"$WORK/busy.in" 4<"$WORK/busy.out"
ask() { echo "$1" >&3; read -r reply <&4; echo "$reply"; }
read -r ready busy_pid <&4
[ "$ready" = ready ] && pass "busy: a program filled 12MiB" || { fail "busy: '$ready'"; cat "$WORK/busy.err"; exit 1; }
sed -i 's/^    capacity: 16MiB/    capacity: 8MiB/' "$STACKS/busy.yaml"
add_pmem busy
kill -HUP "$daemon_pid"
wait_for "busy: the log says the change is pending on its program" \
    grep -q "VM busy: $STACKS/busy.yaml changes tiers (1 of them, then 2), tiers\[0\].capacity: pending, .* (pid $busy_pid)" "$LOG"
status_line busy | grep -q "(stack change pending)$" && pass "busy: status shows the change pending" ||
    fail "busy: status: $(status_line busy)"
[ "$(change_of busy)" = pending ] && pass "busy: stats say pending" || fail "busy: $(change_of busy)"
[ "$(tiers_of busy)" = "dram:16777216" ] && pass "busy: its dram of 16MiB stays in force" ||
    fail "busy: tiers $(tiers_of busy)"
[ "$(ask verify)" = ok ] && pass "busy: every word of the program's 12MiB is intact" || fail "busy: pages wrong"
ask exit >/dev/null
wait "$busy_run"
rc=$?
exec 3>&- 4<&-
[ $rc = 0 ] && pass "busy: the program exited 0" || fail "busy: the program exited $rc"
wait_for "busy: the change is applied when it has gone" \
    grep -q "VM busy: its last program detached: applying the pending change of tiers" "$LOG"
status_line busy | grep -Eq "^busy +- +0 +4194304 +[0-9]+ +dram:0 pmem:0$" &&
    pass "busy: status shows the new tiers and no change pending" || fail "busy: status: $(status_line busy)"
[ "$(change_of busy)" = applied ] && pass "busy: stats say applied" || fail "busy: $(change_of busy)"
[ "$(tiers_of busy)" = "dram:8388608 pmem:67108864" ] && pass "busy: stats show the new tiers" ||
    fail "busy: tiers $(tiers_of busy)"
verify_on busy "busy: the next program verifies every word on the new tiers" 32MiB
puts=$(stat_of busy puts pmem)
[ "${puts:-0}" -gt 2048 ] && pass "busy: the pmem tier took $puts pages" || fail "busy: pmem took ${puts:-no} pages"

# Stacks that cannot open: the stack in force stays and serves.
port=$(mc_free_port)
printf '  - plugin: memcached\n    servers: [127.0.0.1:%s]\n' "$port" >>"$STACKS/down.yaml"
sed -i 's/^  - plugin: dram/  - plugin: nosuch/' "$STACKS/noplugin.yaml"
kill -HUP "$daemon_pid"
wait_for "down: the stack that cannot open is logged with its file" \
    grep -q "VM down: the stack of $STACKS/down.yaml (changing tiers (1 of them, then 2)) cannot open: $STACKS/down.yaml:[0-9]*:[0-9]*: .*memcached: cannot reach 127.0.0.1:$port.*; the stack in force stays" "$LOG"
wait_for "noplugin: the missing plugin is logged with its file" \
    grep -q "VM noplugin: the stack of $STACKS/noplugin.yaml (changing tiers\[0\].plugin, tiers\[0\].name) cannot open: $STACKS/noplugin.yaml:4:13: .*plugin 'nosuch'.* not found.*; the stack in force stays" "$LOG"
for vm in down noplugin; do
    [ "$(tiers_of $vm)" = "dram:16777216" ] && pass "$vm: its dram stays in force" || fail "$vm: tiers $(tiers_of $vm)"
    status_line $vm | grep -q "(stack change refused)$" && pass "$vm: status says the change was refused" ||
        fail "$vm: status: $(status_line $vm)"
    verify_on $vm "$vm: a program verifies every word on the stack in force" 16MiB
done
kill -0 "$daemon_pid" && pass "the daemon is still running" || fail "the daemon died"
wait_for "every page is released" released
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
