#!/bin/bash
# A tierpaged killed with SIGKILL and started again on the same state_dir
# (daemon/STATE.md, PROTOCOL.md "A client of a daemon that died"): the VM
# whose client it served waits for that client; the client comes back with
# RESUME, its regions and RESUME_DONE, and every page it wrote reads back as
# written, from its memfd, the dram pool file and pmem, across several
# kills in the middle of its rounds, its region's front and middle
# unmapped (the pieces left handed over with their offsets in the memfd,
# the holes staying unmapped); tierpage-bench --verify under tierpage
# run (the shim's own reconnection) completes and verifies across three. Only the recorded client may resume;
# a VM without state answers ENOENT; a VM whose state file is truncated or
# corrupt is refused by name and not served, and the other VMs are.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
RESUME_CLIENT=$BUILD/tests/resume_client

vm_stack vm1 2MiB 8MiB 256MiB       # 24MiB through a 2MiB cap: dram, then pmem
vm_stack vm2 4MiB 64MiB
vm_stack vm4 4MiB 64MiB             # its dram pool has room: slots left free

start_daemon || exit 1

# The client writes 24MiB, unmaps its front and a range in its middle
# (what is left starts inside its memfd: each piece is handed over again
# with its offset there), then writes and checks the pieces in rounds,
# each round checking that the holes fault; the daemon is killed and
# started again in the middle of them (the rounds go on until the kills
# are done, at least 12; 6 in the sanitizer suite's lighter run,
# TIERPAGE_TEST_LIGHT=1).
min_rounds=12
[ "${TIERPAGE_TEST_LIGHT:-0}" = 1 ] && min_rounds=6
"$RESUME_CLIENT" "$SOCK" vm1 24 "$min_rounds" --cut --until "$WORK/client.enough" >"$WORK/client.out" 2>"$WORK/client.err" &
client_run=$!
wait_while_running "$client_run" 30 grep -q "^ready" "$WORK/client.out"
client_pid=$(sed -n 's/^ready //p' "$WORK/client.out")
grep -q "^cut ok" "$WORK/client.out" &&
    pass "the client unmapped the front and the middle of its region, the pieces left intact" ||
    fail "the cut: $(head -1 "$WORK/client.out")"
grep -Eq "^0x[0-9a-f]+ [0-9]+ [0-9]+ [1-9][0-9]* *$" "$STATE/vm1/regions" &&
    pass "the regions file records the pieces' offsets in the memfd" ||
    fail "vm1's regions file: $(cat "$STATE/vm1/regions")"
# A second client, of vm4, goes on writing 8MiB in rounds until killed.
"$RESUME_CLIENT" "$SOCK" vm4 8 1000000 >"$WORK/client4.out" 2>"$WORK/client4.err" &
client4_run=$!
wait_while_running "$client4_run" 60 grep -q "^round 1 " "$WORK/client4.out"
client4_pid=$(sed -n 's/^ready //p' "$WORK/client4.out")
wait_while_running "$client_run" 60 grep -q "^round 1 " "$WORK/client.out"
waiting() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^vm1 .*\(waiting for its client, pid $client_pid\)"; }
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
[ -e "$STATE/vm1/client" ] && [ -e "$STATE/vm1/regions" ] && pass "a killed daemon leaves vm1's client record" ||
    fail "vm1's state after the kill: $(ls "$STATE/vm1" 2>&1)"
# Slots of vm1's dram pool that no map names, as a kill between a page's
# put there and the map naming it (or between a move and the old copy's
# delete) leaves them: committed slots under keys of no page.
# pool_slots FILE [LEAKS]: adds LEAKS such slots, then prints the slots in
# use and how many of them hold such keys.
pool_slots() {
    python3 - "$1" "${2:-0}" <<'PY'
import struct, sys
path, leaks = sys.argv[1], int(sys.argv[2])
with open(path, "r+b" if leaks else "rb") as f:  # written only to add leaks, with the daemon down
    data = bytearray(f.read())
    slots, table = struct.unpack_from("<QQ", data, 24)[0], struct.unpack_from("<Q", data, 32)[0]
    entries = [struct.unpack_from("<QQ", data, table + 16 * i) for i in range(slots)]
    seq = max(s for _, s in entries) + 1
    for i in range(slots):
        if leaks and entries[i][1] == 0:
            struct.pack_into("<QQ", data, table + 16 * i, 0xFFFF0000 + leaks, seq)  # key, then seq: committed
            entries[i] = (0xFFFF0000 + leaks, seq)
            leaks -= 1
            seq += 1
    assert leaks == 0, "no free slot left for the leaks"
    if sys.argv[2] != "0":
        f.seek(0)
        f.write(data)
used = sum(1 for _, s in entries if s)
print(used, sum(1 for k, s in entries if s and k >= 0xFFFF0000))
PY
}
read -r _ leaked < <(pool_slots "$STATE/vm4/tier0.0.dram" 10)
[ "$leaked" = 10 ] && pass "10 slots of vm4's dram pool hold keys no map names" || fail "leaked: '$leaked'"
# Started with the client held back, to see it wait.
kill -STOP "$client_run"
start_daemon || exit 1
expect_status 0 "status after the restart" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm1 .*\(waiting for its client, pid $client_pid\)" "shows vm1 waiting for its client"
expect_output "^vm2 " "and vm2 as before"
grep -q "VM vm1: found the state of a daemon that died serving pid $client_pid" "$WORK/daemon.log" &&
    pass "the log says what was found" || fail "no recovery line in the log"

# Only the recorded client may resume; a VM without state has none to.
expect_status 0 "a RESUME of vm1 by another process" -- "$RESUME_CLIENT" --resume-once "$SOCK" vm1
expect_output "^status -13 VM vm1 waits for pid $client_pid to resume it" "is refused (EACCES), naming the pid"
expect_status 0 "a RESUME of vm2" -- "$RESUME_CLIENT" --resume-once "$SOCK" vm2
expect_output "^status -2 tierpaged has no state of VM vm2 to resume" "is refused (ENOENT): it has no state"
expect_status 125 "another client's ATTACH to vm1" -- "$RESUME_CLIENT" "$SOCK" vm1 1 1
expect_output "ATTACH: -16 .*VM vm1 waits for pid $client_pid, its client when the daemon before this one died" \
    "is refused (EBUSY) while that client lives"
waiting && pass "vm1 still waits for its client" || fail "vm1 no longer waits"

# vm4's client, not held, resumed meanwhile.
recovered4() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^vm4 +$client4_pid .*\(recovered\)"; }
wait_for "vm4's client resumed too" recovered4
grep -Eq "VM vm4: pid $client4_pid resumed: .*, ([1-9][0-9]+) copies no page names freed" "$WORK/daemon.log" &&
    pass "vm4's resume freed the copies no page names (the log counts them)" ||
    fail "no sweep in the log: $(grep "VM vm4: pid $client4_pid resumed" "$WORK/daemon.log")"
# With the client held, pages stop moving: the pool then holds exactly the
# pages the map names in dram (stats count them), none of the leaked keys.
kill -STOP "$client4_run"
pool_is_named() {
    local used stale
    read -r used stale < <(pool_slots "$STATE/$1/tier0.0.dram")
    [ "$stale" = 0 ] && [ "$used" -gt 0 ] && [ "$used" = "$(stat_of "$1" pages dram)" ]
}
wait_for "after the resume, vm4's dram pool holds the pages the map names there and no other" pool_is_named vm4 ||
    { pool_slots "$STATE/vm4/tier0.0.dram"; stat_of vm4 pages dram; }
kill -KILL "$client4_run"
wait "$client4_run" 2>/dev/null
! grep -q " bad" "$WORK/client4.out" && pass "vm4's client read back every word as written" ||
    fail "vm4's client: $(grep " bad" "$WORK/client4.out" | head -3)"
kill -CONT "$client_run"
recovered() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^vm1 +$client_pid .*\(recovered\)"; }
wait_for "the client resumed: status shows vm1 recovered, with its pid" recovered
dram=$(stat_of vm1 pages dram); pmem=$(stat_of vm1 pages pmem)
[ "$dram" -gt 0 ] && [ "$pmem" -gt 0 ] && pass "its pages are spread over dram ($dram) and pmem ($pmem)" ||
    fail "after the resume: dram $dram, pmem $pmem pages"

# Three more kills at moments spread over the rounds; each time the
# client comes back by itself.
for kill_no in 2 3 4; do
    sleep "0.$((RANDOM % 9 + 1))"
    kill -0 "$client_run" 2>/dev/null || { fail "the client ended before kill $kill_no"; break; }
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
    start_daemon || exit 1
    wait_while_running "$client_run" 60 recovered
done
touch "$WORK/client.enough"
wait "$client_run"
rc=$?
resumes=$(grep -c "^resumed" "$WORK/client.err")
rounds=$(grep -c "^round " "$WORK/client.out")
[ "$rc" = 0 ] && grep -q "^done" "$WORK/client.out" && ! grep -q " bad" "$WORK/client.out" &&
    [ "$rounds" -ge "$min_rounds" ] && [ "$(grep -c "^round .* ok$" "$WORK/client.out")" = "$rounds" ] &&
    pass "every one of the client's $rounds rounds read back every word of its pieces as written, the holes unmapped, across $resumes resumes" ||
    { fail "client exit $rc"; sed 's/^/      /' "$WORK/client.out" "$WORK/client.err" | tail -20; }
[ "$resumes" -ge 4 ] && pass "it resumed after each of the 4 kills ($resumes times)" || fail "it resumed $resumes times"
no_client() { [ ! -e "$STATE/vm1/client" ] && ! "$TIERPAGE" status --socket "$SOCK" | grep -q "^vm1 .*(recovered)"; }
wait_for "the client's exit takes vm1's recovered state and record with it" no_client

# The same through the shim (tierpage run): tierpage-bench --verify, its
# pages in dram and pmem, the daemon SIGKILLed three times in the middle
# of the run and started again; the program waits each time, resumes, and
# its run completes and verifies (it makes accesses until the last daemon
# has served it a while).
"$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$BENCH" --size 48MiB --accesses 100000000 \
    --until "$WORK/bench.enough" --verify --json --quiet >"$WORK/bench.out" 2>&1 &
bench_run=$!
bench_recovered() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^vm1 +[0-9]+ .*\(recovered\)"; }
kill_daemon_once_paged vm1 "$bench_run"
for kill_no in 1 2 3; do
    # Once, the regions file as a daemon of its version 1 wrote it (no
    # offsets): read as regions from the start of their memfds.
    if [ "$kill_no" = 2 ]; then
        sed -i -e '1s/^tierpage-regions 2$/tierpage-regions 1/' -e 's/^\(0x[0-9a-f]* [0-9]* [0-9]*\) 0$/\1/' \
            "$STATE/vm1/regions"
        head -1 "$STATE/vm1/regions" | grep -qx "tierpage-regions 1" && ! grep -q "^0x.* .* .* " "$STATE/vm1/regions" &&
            pass "vm1's regions file rewritten as version 1" || fail "regions: $(cat "$STATE/vm1/regions")"
    fi
    start_daemon || exit 1
    if wait_while_running "$bench_run" 60 bench_recovered; then
        pass "kill $kill_no: tierpage run resumed vm1"
    else
        if kill -0 "$bench_run" 2>/dev/null; then
            fail "kill $kill_no: vm1 not recovered"
        else
            fail "kill $kill_no: the run ended before it was resumed"
        fi
        break
    fi
    [ "$kill_no" = 3 ] && break
    sleep "0.$((RANDOM % 9 + 1))"
    kill -0 "$bench_run" 2>/dev/null || { fail "the run ended before kill $((kill_no + 1))"; break; }
    kill_daemon
done
end_once_served vm1 "$bench_run" "$WORK/bench.enough"
expect_exit "the verified run completes" 0 "$bench_run" "$WORK/bench.out"
expect_output '"verify":"ok","bad_pages":0' "and tierpage-bench verified every page" "$WORK/bench.out"
expect_no_wrong_data "it" "$WORK/bench.out"

# Truncated and corrupt state: two clients' state left by a kill, then
# vm1's regions file cut short and vm2's map file overwritten.
# (--daemon-timeout 0: these programs stop with the daemon, leaving their
# state behind)
coproc HOLD1 { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm1 --daemon-timeout 0 -- "$HOLDER" 16 2>"$WORK/holder1.err"; }
holder1_run=$HOLD1_PID
read -r ready holder1_pid <&"${HOLD1[0]}"
# (one coprocess at a time: the second holder reads a fifo)
mkfifo "$WORK/holder2.in"
exec 7<>"$WORK/holder2.in"
"$TIERPAGE" run --daemon "$SOCK" --vm vm2 --daemon-timeout 0 -- "$HOLDER" 16 <&7 >"$WORK/holder2.out" 2>"$WORK/holder2.err" &
holder2_run=$!
wait_while_running "$holder2_run" 30 grep -q "^ready" "$WORK/holder2.out"
read -r ready2 _ <"$WORK/holder2.out"
vm_stack vm3 4MiB 64MiB
kill -HUP "$daemon_pid"
wait_for "SIGHUP adds vm3" grep -q "VM vm3: stack .* loaded" "$WORK/daemon.log"
"$RESUME_CLIENT" "$SOCK" vm3 8 1000000 >"$WORK/client3.out" 2>"$WORK/client3.err" &
client3_run=$!
wait_while_running "$client3_run" 30 grep -q "^round 1 " "$WORK/client3.out"
read -r _ client3_pid <"$WORK/client3.out"
[ "$ready" = ready ] && [ "$ready2" = ready ] && [ -n "$client3_pid" ] && pass "three programs attached" ||
    fail "holders: '$ready' '$ready2' '$client3_pid'"
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
kill -KILL "$client3_run"   # vm3's client goes for good while the daemon is down
wait "$holder1_run" "$holder2_run" "$client3_run" 2>/dev/null
head -c 20 "$STATE/vm1/regions" >"$STATE/vm1/regions.cut" && mv "$STATE/vm1/regions.cut" "$STATE/vm1/regions"
read -r _ leaked < <(pool_slots "$STATE/vm3/tier0.0.dram" 7)
[ "$leaked" = 7 ] && pass "7 slots of vm3's dram pool hold keys no map names" || fail "vm3 leaked: '$leaked'"
map2=$(sed -n 's/^map //p' "$STATE/vm2/client")
printf 'NOTAMAP!' | dd of="$STATE/vm2/$map2" conv=notrunc status=none
start_daemon || exit 1
grep -q "VM vm1: refused, not served: $STATE/vm1/regions is corrupt or truncated" "$WORK/daemon.log" &&
    pass "a truncated regions file refuses vm1, naming the file" || fail "no refusal of vm1 in the log"
grep -q "VM vm2: refused, not served: $STATE/vm2/$map2 is not a tierpage page map file" "$WORK/daemon.log" &&
    pass "a corrupt map file refuses vm2, naming the file" ||
    { fail "no refusal of vm2 naming $map2 in the log"; grep "VM vm2" "$WORK/daemon.log" | tail -5; }
expect_status 0 "status" -- "$TIERPAGE" status --socket "$SOCK"
expect_output "^vm3 +- .*\(waiting for its client, pid $client3_pid\)" "status shows vm3 waiting for its gone client"
expect_output "^vm1 +- +\(refused: $STATE/vm1/regions is corrupt or truncated" "status lists vm1 as refused"
expect_status 0 "a RESUME of the refused vm1" -- "$RESUME_CLIENT" --resume-once "$SOCK" vm1
expect_output "^status -5 VM vm1 is not served: .*$STATE/vm1/regions" "is answered EIO with the reason"
expect_status 2 "a program of the refused vm1 does not start" -- "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- true
expect_output "VM vm1 is not served: .*regions is corrupt or truncated" "and says why"
[ -s "$STATE/vm1/regions" ] && pass "the refused VM's state is left for the operator" || fail "vm1's state is gone"
exec 7>&-
coproc HOLD3 { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm3 -- "$HOLDER" 16 2>"$WORK/holder3.err"; }
holder3_run=$HOLD3_PID
read -r ready3 _ <&"${HOLD3[0]}"
echo verify >&"${HOLD3[1]}"
read -r verdict <&"${HOLD3[0]}"
[ "$ready3" = ready ] && [ "$verdict" = ok ] &&
    pass "vm3, whose client went while the daemon was down, is served to a new program, its pages intact" ||
    fail "vm3: '$ready3' '$verdict'"
grep -Eq "VM vm3: the state of pid $client3_pid, which a daemon that died served, is dropped \(.*, ([7-9]|[1-9][0-9]+) copies no page names freed\)" "$WORK/daemon.log" &&
    pass "the dead client's state was dropped first, the copies no page names freed" ||
    fail "no drop of vm3's state in the log: $(grep "VM vm3: the state" "$WORK/daemon.log")"
echo exit >&"${HOLD3[1]}"
wait "$holder3_run"
# The operator removes the refused VM's state: SIGHUP serves it afresh.
rm -rf "$STATE/vm1"
kill -HUP "$daemon_pid"
served_again() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^vm1 +- +0 "; }
wait_for "once its state is removed, SIGHUP serves vm1 afresh" served_again
expect_status 0 "a program of vm1 runs again" -- "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- \
    "$BENCH" --size 8MiB --verify --json --quiet
expect_output '"verify":"ok","bad_pages":0' "and verifies every page"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
