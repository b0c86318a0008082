#!/bin/bash
# Operator commands on a program tierpaged serves, while it runs: resize to
# 1MiB and back, demote every page to pmem, promote, flush; the program's
# pages verified after each move. Then a client killed with SIGKILL: its
# pages are released in every tier.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack vm1 16MiB 64MiB 256MiB
start_daemon || exit 1

# The holder keeps 48MiB with a pattern naming every page, and acts on
# commands; it talks through a coprocess.
coproc HOLDER { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$HOLDER" 48 2>"$WORK/holder.err"; }
holder_run_pid=$HOLDER_PID
ask() { echo "$1" >&"${HOLDER[1]}"; read -r reply <&"${HOLDER[0]}"; echo "$reply"; }
read -r ready holder_pid <&"${HOLDER[0]}"
[ "$ready" = ready ] && pass "the holder filled 48MiB under the daemon" || { fail "holder: '$ready'"; cat "$WORK/holder.err"; exit 1; }
PAGES=12288

expect_status 0 "status shows the attached client" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm1 +$holder_pid +[0-9]+ +16777216 " "with its pid and cap"
resident=$(stat_of vm1 resident_bytes)
[ "$resident" -le 16777216 ] && pass "resident $resident within the 16MiB cap" || fail "resident $resident"

expect_status 0 "resize to 1MiB" -- "$TIERPAGE" resize vm1 1MiB --socket "$SOCK"
resident=$(stat_of vm1 resident_bytes)
[ "$resident" -le 1048576 ] && pass "resident $resident within 1MiB at once" || fail "resident $resident after resize"
[ "$(ask verify)" = ok ] && pass "every page intact at a 1MiB cap" || fail "pages lost at 1MiB"
resident=$(stat_of vm1 resident_bytes)
[ "$resident" -le 1048576 ] && pass "still within 1MiB after reading it all" || fail "resident $resident"
expect_status 0 "resize back to 16MiB" -- "$TIERPAGE" resize vm1 16MiB --socket "$SOCK"
[ "$(ask 'fill 2')" = filled ] && [ "$(ask verify)" = ok ] && pass "rewritten and intact at 16MiB" ||
    fail "rewrite at 16MiB"
[ "$(stat_of vm1 resident_cap_bytes)" = 16777216 ] && pass "the cap is 16MiB again" || fail "cap not restored"

expect_status 0 "demote to pmem" -- "$TIERPAGE" demote vm1 --to pmem --socket "$SOCK"
expect_output "every page in tier pmem" "demote says so"
dram=$(stat_of vm1 pages dram); pmem=$(stat_of vm1 pages pmem); resident=$(stat_of vm1 resident_bytes)
[ "$dram" = 0 ] && [ "$pmem" = $PAGES ] && [ "$resident" = 0 ] &&
    pass "every page is in pmem, none resident, none in dram" ||
    fail "after demote: dram $dram, pmem $pmem, resident $resident"
expect_status 0 "status shows it" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm1 +$holder_pid +0 +16777216 +[0-9]+ +dram:0 pmem:$PAGES" "status: 0 resident, all in pmem"

hits_before=$(stat_of vm1 hits pmem)
expect_status 0 "promote" -- "$TIERPAGE" promote vm1 --socket "$SOCK"
expect_output "^vm1: promoting in the background" "it returns at once, promoting in the background"
not_promoting() { ! "$TIERPAGE" status --socket "$SOCK" | grep -q "(promoting"; }
wait_for "the background promote ends (status no longer shows it)" not_promoting
wait_for "the daemon logs how many pages it brought in" grep -q "VM vm1: promote done" "$WORK/daemon.log"
brought=$(sed -n 's/.*VM vm1: promote done: \([0-9]*\) pages brought in$/\1/p' "$WORK/daemon.log")
resident=$(stat_of vm1 resident_bytes); hits=$(stat_of vm1 hits pmem)
[ "$resident" -gt 8388608 ] && [ "$resident" -le 16777216 ] && pass "promote brought pages in ($resident bytes)" ||
    fail "resident $resident after promote"
# A page read back stays in its tier too (it is dropped without a write
# when evicted clean): promote shows as hits on pmem.
[ -n "$brought" ] && [ "$brought" -gt 0 ] && [ "$((hits - hits_before))" = "$brought" ] &&
    pass "they came from pmem ($brought pages)" || fail "promote: brought '$brought', pmem hits $hits_before -> $hits"
[ "$(ask verify)" = ok ] && pass "every page intact after demote and promote" || fail "pages wrong after promote"
expect_status 0 "demote again" -- "$TIERPAGE" demote vm1 --to pmem --socket "$SOCK"
expect_status 0 "promote --wait" -- "$TIERPAGE" promote vm1 --wait --socket "$SOCK"
brought=$(sed -n 's/^vm1: \([0-9]*\) pages brought in$/\1/p' "$WORK/out")
resident=$(stat_of vm1 resident_bytes)
[ -n "$brought" ] && [ "$brought" -gt 0 ] && [ "$resident" = $((brought * 4096)) ] &&
    pass "promote --wait returns when done, with the $brought pages brought in" ||
    fail "promote --wait: brought '$brought', resident $resident"
[ "$(ask verify)" = ok ] && pass "every page intact after it" || fail "pages wrong after promote --wait"
expect_status 0 "flush" -- "$TIERPAGE" flush vm1 --socket "$SOCK"
[ "$(ask dontneed)" = ok ] && pass "MADV_DONTNEED reaches the daemon: zeros, and the rest intact" ||
    fail "MADV_DONTNEED under the daemon"

# SIGKILL: the daemon sees the connection close and releases every page.
kill -KILL "$holder_pid"
wait "$holder_run_pid" 2>/dev/null
wait_for "a client killed with SIGKILL has its pages released in every tier" released vm1
wait_for "the daemon logs the detach" grep -q "VM vm1: pid $holder_pid detached" "$WORK/daemon.log"
expect_status 0 "the VM serves a new client afterwards" -- \
    bash "$SRC/tests/bench_verify.sh" "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$BENCH" --size 24MiB
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
