#!/bin/bash
# The host-wide resident budget: two VMs whose caps (16MiB each) pass the
# budget (24MiB) share it by their recent fault rate. While one program
# faults and the other idles, the idle one is shrunk to what is left
# (8MiB), as the log and `tierpage status` say; both keep every byte; once
# the caps fit the budget again the idle one gets its cap back. A forked
# child's entry counts as one more VM: a program and its child that pass
# the budget together get one of them shrunk, and the child is in the
# metrics; every word of both is checked.
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
# The cap shows before the shrink is done: the log says so once it holds.
wait_for "the log says idle was shrunk" grep -q \
    "resident budget: VM idle shrunk to 8388608 bytes (its cap is 16777216): .* it faults least" "$WORK/daemon.log" ||
    cat "$WORK/daemon.log"
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
wait_for "the log says idle was given its cap back" grep -q \
    "resident budget: VM idle given 16777216 bytes of its cap of 16777216" "$WORK/daemon.log"
[ "$(ask_idle verify)" = ok ] && [ "$(ask_hot verify)" = ok ] && pass "both programs' pages intact at the end" ||
    fail "pages wrong at the end"
ask_hot exit >/dev/null; ask_idle exit >/dev/null
wait "$hot_run_pid" "$idle_run_pid" 2>/dev/null
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon

# A forked child is an entry of its own, NAME/PID, with the parent's cap:
# the budget counts it and may shrink it, and the metrics show it. One
# program of VM fk (cap 8MiB) fits a budget of 12MiB; with its child
# (8MiB more) the two pass it, and one of them is shrunk to 4MiB.
rm -f "$STACKS"/*.yaml
vm_stack fk 8MiB 128MiB
printf 'stacks: %s\nresident_budget: 12MiB\nmetrics: 0\n' "$STACKS" >"$WORK/fork.yaml"
: >"$WORK/daemon.log"
start_daemon -c "$WORK/fork.yaml" || exit 1
addr=$(sed -n 's|.*info: metrics on http://\([^/]*\)/metrics$|\1|p' "$WORK/daemon.log")
dir=$WORK/fork
mkdir -p "$dir"
mkfifo "$dir/fork" "$dir/check" "$dir/go"
"$TIERPAGE" run --daemon "$SOCK" --vm fk -- "$CLIENT_BUILD/tests/fork_cow" 16 watched "$dir" check \
    >"$WORK/fork.out" 2>&1 &
run=$!
wait_while_running $run 60 test -s "$dir/parent"
"$TIERPAGE" status --socket "$SOCK" | grep -q shrunk && fail "the parent alone is shrunk" ||
    pass "the parent alone (8MiB of 12MiB) is not shrunk"
echo fork >"$dir/fork"
wait_while_running $run 120 test -s "$dir/child"
child=$(cat "$dir/child" 2>/dev/null || echo 0)
shrunk_one() {
    "$TIERPAGE" status --socket "$SOCK" |
        grep -Eq "^resident budget 12582912 bytes: [0-9]+ resident; fk(/$child)? shrunk to 4194304 of 8388608 "
}
wait_for "parent and child together pass the budget: status shows one of them shrunk to 4MiB" shrunk_one
# Status shows the allotment at once; the log, once the cap holds: the
# shrink evicts first, and a parent's pages do not move until its fork is
# done.
wait_for "the log says fk or fk/$child was shrunk" grep -Eq \
    "resident budget: VM fk(/$child)? shrunk to 4194304 bytes \(its cap is 8388608\)" "$WORK/daemon.log" ||
    cat "$WORK/daemon.log"
total=$("$TIERPAGE" status --socket "$SOCK" | awk -v c="fk/$child" '$1 == "fk" || $1 == c { t += $3 } END { print t }')
[ "$total" -le 12582912 ] && pass "parent and child together ($total bytes resident) are within the budget" ||
    fail "parent and child resident $total"
curl -s --max-time 60 -o "$WORK/fork.scrape" "http://$addr/metrics"
resident=$(sed -n "s|^tierpage_vm_resident_bytes{vm=\"fk/$child\"} ||p" "$WORK/fork.scrape")
cap=$(sed -n "s|^tierpage_vm_resident_cap_bytes{vm=\"fk/$child\"} ||p" "$WORK/fork.scrape")
[ "${resident:-0}" -gt 0 ] && [ "$resident" -le "${cap:-0}" ] &&
    pass "the metrics show the child: tierpage_vm_resident_bytes{vm=\"fk/$child\"} $resident (cap $cap)" ||
    { fail "no resident bytes of fk/$child in the metrics"; grep "fk" "$WORK/fork.scrape" | head; }
grep -q "^tierpage_tier_pages{vm=\"fk/$child\",tier=\"dram\",plugin=\"dram\"} [1-9]" "$WORK/fork.scrape" &&
    pass "and its pages in dram" || fail "no dram pages of fk/$child in the metrics"
echo check >"$dir/check"
wait_while_running $run 120 test -s "$dir/checked"
[ "$(cat "$dir/checked" 2>/dev/null)" = 0 ] && pass "every word of the child's 16MiB is intact after the shrink" ||
    fail "the child's check: '$(cat "$dir/checked" 2>/dev/null)'"
kill -9 "$child" 2>/dev/null
wait_while_running $run 60 test -s "$dir/reaped"
echo go >"$dir/go"
wait $run
rc=$?
[ $rc = 0 ] && pass "every word of the parent's 16MiB is intact" ||
    { fail "the parent exited $rc"; tail -5 "$WORK/fork.out"; }
wait_for "the child's series leave the metrics with it" \
    sh -c "! curl -s --max-time 60 'http://$addr/metrics' | grep -q 'vm=\"fk/'"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
