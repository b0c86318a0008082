#!/bin/bash
# tierpaged's state directory (state_dir; daemon/STATE.md): each VM's stack
# text, page map and dram pool live there, and while a client is attached
# its record and its regions; the dram pool file holds the client's pages
# themselves. A client that detaches takes its record and regions with it;
# a daemon stopped cleanly takes the whole directory. A bad state_dir is
# refused by name.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack vm1 4MiB 16MiB 256MiB      # dram, then pmem
vm_stack vm2 4MiB 64MiB

printf 'stacks: %s\nstate_dir: run/tierpage\n' "$STACKS" >"$WORK/bad.yaml"
expect_status 2 "a relative state_dir is refused" -- "$TIERPAGED" -c "$WORK/bad.yaml" --socket "$SOCK"
expect_output "bad.yaml:2:12: state_dir: expected an absolute path" "with file:line:col and the key"
touch "$WORK/a-file"
expect_status 2 "a state_dir that is a file is refused" -- \
    "$TIERPAGED" --stacks "$STACKS" --socket "$SOCK" --state-dir "$WORK/a-file"
expect_output "state_dir: $WORK/a-file is not a directory" "naming it"

start_daemon || exit 1
for vm in vm1 vm2; do
    [ -s "$STATE/$vm/stack.0" ] && [ -s "$STATE/$vm/map.0" ] && [ -s "$STATE/$vm/tier0.0.dram" ] &&
        pass "$vm: its stack text, page map and dram pool are in the state directory" ||
        fail "$vm: state directory holds: $(ls "$STATE/$vm" 2>&1)"
    [ ! -e "$STATE/$vm/client" ] && [ ! -e "$STATE/$vm/regions" ] &&
        pass "$vm: no client record while none is attached" || fail "$vm: a client record without a client"
done
cmp -s "$STATE/vm1/stack.0" "$STACKS/vm1.yaml" && pass "stack.0 is the text the stack was opened from" ||
    fail "stack.0: $(cat "$STATE/vm1/stack.0")"
[ "$(head -c 8 "$STATE/vm1/tier0.0.dram")" = TIERDRAM ] && [ "$(head -c 8 "$STATE/vm1/map.0")" = TIERPMAP ] &&
    pass "the pool and map files are formatted" || fail "pool or map file not formatted"

# A client: 24MiB through a 4MiB cap, so that pages sit in dram and pmem.
coproc HOLD1 { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$HOLDER" 24 2>"$WORK/holder.err"; }
ask() { echo "$1" >&"${HOLD1[1]}"; read -r reply <&"${HOLD1[0]}"; echo "$reply"; }
read -r ready holder_pid <&"${HOLD1[0]}"
[ "$ready" = ready ] && pass "a holder of 24MiB attached to vm1" || { fail "holder: '$ready'"; cat "$WORK/holder.err"; exit 1; }
[ "$(ask verify)" = ok ] && pass "its pages are intact" || fail "holder's pages wrong"

client_ok() {
    sed -n 1p "$STATE/vm1/client" | grep -qx "tierpage-client 1" &&
        grep -qx "pid $holder_pid" "$STATE/vm1/client" &&
        grep -Eqx "instance [0-9a-f]{16}" "$STATE/vm1/client" &&
        grep -qx "generation 0" "$STATE/vm1/client" && grep -qx "map map.0" "$STATE/vm1/client" &&
        tail -n 1 "$STATE/vm1/client" | grep -qx end
}
client_ok && pass "the client's record names its pid, the stack's instance, generation and map file" ||
    fail "client record: $(cat "$STATE/vm1/client" 2>&1)"
# The regions: a header, one line per region (address, length, first page
# id, offset in its memfd: 0, none was cut), and an end line counting
# them; the holder's 24MiB is among them.
python3 - "$STATE/vm1/regions" <<'PY' && pass "the regions file records every region, the holder's 24MiB among them" ||
import sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "tierpage-regions 2", lines[0]
assert lines[-1] == "", "no newline at the end"
end = lines[-2].split()
regions = [l.split() for l in lines[1:-2]]
assert end[0] == "end" and int(end[1]) == len(regions) > 0, lines
ids = []
for addr, length, first, offset in regions:
    assert int(addr, 16) % 4096 == 0 and int(length) % 4096 == 0 and offset == "0"
    ids.append((int(first), int(first) + int(length) // 4096))
assert any(int(l) >= 24 << 20 for _, l, _, _ in regions), regions
ids.sort()
assert all(a[1] <= b[0] for a, b in zip(ids, ids[1:])), "page ids overlap: %s" % ids
PY
    fail "regions: $(cat "$STATE/vm1/regions")"

# The dram pool file holds the holder's pages themselves: each slot in use
# is a whole page of the holder's pattern (pattern_holder.c), seed 1.
dram=$(stat_of vm1 pages dram)
pool_pages() {
    python3 - "$STATE/vm1/tier0.0.dram" "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
seed = int(sys.argv[2])
slots, table, area = struct.unpack_from("<QQQ", data, 24)
good = bad = 0
for i in range(slots):
    key, seq = struct.unpack_from("<QQ", data, table + 16 * i)
    if seq == 0:
        continue
    words = struct.unpack_from("<512Q", data, area + 4096 * i)
    page = words[0] & 0xffffffff
    want = [((seed << 32) | page) ^ (off << 48) for off in range(0, 4096, 8)]
    if list(words) == want:
        good += 1
    else:
        bad += 1
print(good, bad)
PY
}
read -r good bad < <(pool_pages 1)
[ "$dram" -gt 0 ] && [ "$good" = "$dram" ] && [ "$bad" = 0 ] &&
    pass "the dram pool file holds $good of the holder's pages, whole, as stats count them" ||
    fail "pool file: $good whole pages, $bad others; stats say dram holds $dram"

# A client that detaches normally takes its record and regions with it;
# the stack's own files stay.
holder_run_pid=$HOLD1_PID
ask exit >/dev/null
wait "$holder_run_pid" 2>/dev/null
no_client_record() { [ ! -e "$STATE/vm1/client" ] && [ ! -e "$STATE/vm1/regions" ]; }
wait_for "a client that exits takes its record and regions with it" no_client_record
[ -s "$STATE/vm1/map.0" ] && [ -s "$STATE/vm1/tier0.0.dram" ] && pass "the stack's map and pool stay" ||
    fail "vm1 holds: $(ls "$STATE/vm1")"

# A stack opened again (SIGHUP, changed tiers): the next generation's
# files, the old ones gone.
vm_stack vm2 4MiB 32MiB
kill -HUP "$daemon_pid"
gen1() { [ -s "$STATE/vm2/stack.1" ] && [ -s "$STATE/vm2/tier0.1.dram" ] && [ ! -e "$STATE/vm2/tier0.0.dram" ] &&
    [ ! -e "$STATE/vm2/map.0" ]; }
wait_for "a stack opened again on SIGHUP keeps its files as generation 1, and generation 0 goes" gen1

# A client attached when the daemon stops cleanly: every VM's state goes.
coproc HOLD2 { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm2 -- "$HOLDER" 8 2>"$WORK/holder2.err"; }
holder2_run_pid=$HOLD2_PID
read -r ready holder_pid <&"${HOLD2[0]}"
[ "$ready" = ready ] && [ -e "$STATE/vm2/client" ] && grep -qx "generation 1" "$STATE/vm2/client" &&
    pass "a client of vm2's new stack is recorded with generation 1" || fail "vm2 client: $(cat "$STATE/vm2/client" 2>&1)"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
wait "$holder2_run_pid" 2>/dev/null
[ -d "$STATE" ] && [ -z "$(ls -A "$STATE")" ] && pass "a daemon stopped cleanly leaves no VM's state" ||
    fail "left behind: $(ls -R "$STATE")"

# state_dir "" keeps none: the pools in private memory, the maps in
# memory, no file anywhere; programs are served as ever. A bare
# `state_dir:` (no value) is refused, not taken as none.
printf 'stacks: %s\nstate_dir:\n' "$STACKS" >"$WORK/bare.yaml"
expect_status 2 "a state_dir with no value is refused" -- "$TIERPAGED" -c "$WORK/bare.yaml" --socket "$SOCK"
expect_output "bare.yaml:2:.*: state_dir: expected an absolute path .*or \"\" to keep none" "saying what it takes"
printf 'stacks: %s\nstate_dir: ""\n' "$STACKS" >"$WORK/none.yaml"
"$TIERPAGED" -c "$WORK/none.yaml" --socket "$SOCK" 2>>"$WORK/daemon.log" &
daemon_pid=$!
wait_for "a daemon with state_dir \"\" starts" "$TIERPAGE" status --socket "$SOCK"
coproc HOLD3 { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$HOLDER" 24 2>"$WORK/holder3.err"; }
read -r ready _ <&"${HOLD3[0]}"
echo verify >&"${HOLD3[1]}"
read -r verdict <&"${HOLD3[0]}"
[ "$ready" = ready ] && [ "$verdict" = ok ] && [ "$(stat_of vm1 pages dram)" -gt 0 ] &&
    pass "it serves a program, its pages in dram, intact" || fail "holder: '$ready' '$verdict'"
! grep -Eq "\.dram|/map\.[0-9]" "/proc/$daemon_pid/maps" && [ ! -e "$STATE/vm1" ] &&
    pass "with no pool or map file mapped, none made" || fail "files: $(grep -E "dram|map" "/proc/$daemon_pid/maps")"
# A restart could not take the program back: refused, SIGUSR2 ignored.
expect_status 1 "tierpage daemon restart is refused" -- "$TIERPAGE" daemon restart --socket "$SOCK"
expect_output "keeps no state \(state_dir \"\"\): a restart would stop every program it serves" "saying why"
kill -USR2 "$daemon_pid"
wait_for "SIGUSR2 is ignored, with a warning in the log" grep -q "SIGUSR2 ignored: this daemon keeps no state" \
    "$WORK/daemon.log"
echo verify >&"${HOLD3[1]}"
read -r verdict <&"${HOLD3[0]}"
[ "$verdict" = ok ] && kill -0 "$daemon_pid" && pass "the daemon and its program carry on, the pages intact" ||
    fail "after the refused restarts: '$verdict'"
echo exit >&"${HOLD3[1]}"
wait "$HOLD3_PID" 2>/dev/null
expect_status 0 "SIGTERM stops it" -- stop_daemon
finish
