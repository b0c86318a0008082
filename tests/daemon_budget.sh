#!/bin/bash
# The host-wide resident budget: two VMs whose caps (16MiB each) pass the
# budget (24MiB) share it by their recent fault rate. While one program
# faults and the other idles, the idle one is shrunk to what is left
# (8MiB), as the log and `tierpage status` say; both keep every byte; once
# the caps fit the budget again the idle one gets its cap back.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack hot 16MiB 128MiB
vm_stack idle 16MiB 128MiB
printf 'stacks: %s\nresident_budget: 24MiB\n' "$STACKS" >"$WORK/daemon.yaml"
printf 'stacks: %s\nresident_budget: lots\n' "$STACKS" >"$WORK/bad.yaml"
expect_status 2 "a bad budget is refused" -- "$TIERPAGED" -c "$WORK/bad.yaml" --socket "$SOCK"
expect_output "bad.yaml:2:18: resident_budget: expected a size of at least 1MiB such as 8GiB, got 'lots'" \
    "with file:line:col"
start_daemon -c "$WORK/daemon.yaml" || exit 1
expect_output "resident budget: 25165824 bytes" "the log names the budget" "$WORK/daemon.log"

cap_of() { "$TIERPAGE" status --socket "$SOCK" | awk -v vm="$1" '$1 == vm { print $4 }'; }
caps_are() { [ "$(cap_of hot)" = "$1" ] && [ "$(cap_of idle)" = "$2" ]; }

# The one to be idle fills 12MiB first: it faults, the other does not yet.
# (bash keeps one coprocess: this one talks through fifos.)
mkfifo "$WORK/idle.in" "$WORK/idle.out"
"$TIERPAGE" run --daemon "$SOCK" --vm idle -- "$HOLDER" 12 <"$WORK/idle.in" >"$WORK/idle.out" 2>"$WORK/idle.err" &
idle_run_pid=$!
exec 3>"$WORK/idle.in" 4<"$WORK/idle.out"
read -r ready idle_pid <&4
[ "$ready" = ready ] && pass "the idle program filled 12MiB" || { fail "idle: '$ready'"; exit 1; }
wait_for "while it faulted, the other VM (no client yet) was held to 8MiB" caps_are 8388608 16777216

coproc HOT { exec "$TIERPAGE" run --daemon "$SOCK" --vm hot -- "$HOLDER" 48 2>"$WORK/hot.err"; }
hot_run_pid=$HOT_PID
ask_hot() { echo "$1" >&"${HOT[1]}"; read -r reply <&"${HOT[0]}"; echo "$reply"; }
ask_idle() { echo "$1" >&3; read -r reply <&4; echo "$reply"; }
read -r ready hot_pid <&"${HOT[0]}"
[ "$ready" = ready ] && pass "the hot program filled 48MiB" || { fail "hot: '$ready'"; exit 1; }

# The hot one reads its 48MiB over and over: it faults, the other idles.
verified=0
for _ in $(seq 1 300); do
    [ "$(ask_hot verify)" = ok ] || { fail "the hot program's pages are wrong"; break; }
    verified=$((verified + 1))
    caps_are 16777216 8388608 && break
done
caps_are 16777216 8388608 && pass "the idle VM was shrunk to 8MiB, the hot one has its 16MiB ($verified reads)" ||
    fail "caps hot $(cap_of hot), idle $(cap_of idle) after $verified reads"
grep -q "resident budget: VM idle shrunk to 8388608 bytes (its cap is 16777216): .* it faults least" \
    "$WORK/daemon.log" && pass "the log says so" || { fail "no shrink of idle in the log"; cat "$WORK/daemon.log"; }
expect_status 0 "status" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^resident budget 25165824 bytes: [0-9]+ resident; idle shrunk to 8388608 of 16777216 " \
    "status says so"
total=$(awk '$1 == "hot" || $1 == "idle" { t += $3 } END { print t }' "$WORK/out")
[ "$total" -le 25165824 ] && pass "the resident sets together ($total) are within the budget" ||
    fail "resident $total passes the budget"
idle_resident=$(stat_of idle resident_bytes)
[ "$idle_resident" -le 8388608 ] && pass "the idle VM's resident set ($idle_resident) is within 8MiB" ||
    fail "idle resident $idle_resident"
[ "$(ask_idle verify)" = ok ] && pass "the idle program's pages are intact" || fail "idle pages wrong"
[ "$(ask_hot verify)" = ok ] && pass "the hot program's pages are intact" || fail "hot pages wrong"

# The caps fit again (hot resized to 4MiB): idle gets its 16MiB back.
expect_status 0 "resize hot to 4MiB" -- "$TIERPAGE" resize hot 4MiB --socket "$SOCK"
wait_for "the idle VM has its cap back once the caps fit" caps_are 4194304 16777216
grep -q "resident budget: VM idle given 16777216 bytes of its cap of 16777216" "$WORK/daemon.log" &&
    pass "the log says so" || fail "no give-back in the log"
[ "$(ask_idle verify)" = ok ] && [ "$(ask_hot verify)" = ok ] && pass "both programs' pages intact at the end" ||
    fail "pages wrong at the end"
ask_hot exit >/dev/null; ask_idle exit >/dev/null
wait "$hot_run_pid" "$idle_run_pid" 2>/dev/null
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
