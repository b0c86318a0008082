#!/bin/bash
# A program whose tierpaged goes away (SIGKILL) waits for it: its faults
# stay queued on its userfaultfd and its requests wait, while it tries the
# socket again with back-off for --daemon-timeout. Where no daemon takes it
# back, each run must end the one clear way, never with wrong data or a
# hang:
#   1. no daemon comes back: the program stops (exit 125) past its
#      timeout, naming the socket, the VM and the timeout;
#   2. a fresh daemon without the VM's state comes back: the program's
#      RESUME is refused, and it stops (exit 125) saying so; a request it
#      made while the daemon was away (madvise) was neither answered nor
#      failed meanwhile; the new daemon serves a new program.
#   3. a program whose region's front and middle it unmapped (the pieces
#      start inside the memfd) is taken back by a daemon started on the
#      state, every page of the pieces intact.
#   4. a daemon started on the state a killed one left takes the program
#      back, three kills in a row, and the verified run completes whole.
# And --daemon-timeout's values are checked before anything runs.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack good 4MiB 8MiB 64MiB         # dram, then pmem

expect_status 0 "tierpage run --help names --daemon-timeout" -- "$TIERPAGE" run --help
expect_output "--daemon-timeout SECONDS" "with its argument"
for bad in abc -1 1.5 25h 86401; do
    expect_status 2 "--daemon-timeout $bad is refused" -- \
        "$TIERPAGE" run --daemon "$SOCK" --vm good --daemon-timeout "$bad" -- true
    expect_output "tierpage run: --daemon-timeout: expected whole seconds .*got '$bad'" "naming the option and '$bad'"
done
expect_status 2 "--daemon-timeout without --daemon is refused" -- "$TIERPAGE" run --daemon-timeout 5 -- true
expect_output "--daemon-timeout goes with --daemon" "saying so"

# 1. The daemon is killed under a verified run and never comes back.
start_daemon || exit 1
"$TIERPAGE" run --daemon "$SOCK" --vm good --daemon-timeout 2 -- \
    "$BENCH" --size 48MiB --accesses 100000000 --verify --quiet >"$WORK/gone.out" 2>&1 &
run=$!
kill_daemon_once_paged good "$run"
# 2 s of timeout, and room for a loaded machine.
ended_within "$run" 30 && pass "the program stops, without a hang" ||
    fail "the program still runs 30 s after its daemon was killed, with --daemon-timeout 2"
expect_exit "it stops" 125 "$run" "$WORK/gone.out"
expect_output "tierpage: tierpaged at $SOCK: warning: the daemon went away; VM good waits up to 2s" \
    "it said it waits for the daemon" "$WORK/gone.out"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM good: the daemon went away .* did not come back within daemon_timeout \(2s" \
    "then why it stopped, naming the socket, the VM and the timeout" "$WORK/gone.out"
expect_output "the last try: cannot reach tierpaged at $SOCK" "and the last try" "$WORK/gone.out"
expect_no_wrong_data "it" "$WORK/gone.out"

# 2. A fresh daemon comes back, with no state of the VM: the program is
# refused. It is held (pattern_holder) and asks for a madvise while the
# daemon is away: that request waits, neither answered nor failed.
start_daemon || exit 1
coproc HOLDER { exec "$TIERPAGE" run --daemon "$SOCK" --vm good -- "$HOLDER" 32 2>"$WORK/holder.err"; }
holder_run_pid=$HOLDER_PID
holder_out=${HOLDER[0]}
read -r ready holder_pid <&"$holder_out"
[ "$ready" = ready ] && pass "a program holds 32MiB under the daemon, every word written" ||
    { fail "holder: '$ready'"; cat "$WORK/holder.err"; exit 1; }
echo verify >&"${HOLDER[1]}"
read -r reply <&"$holder_out"
[ "$reply" = ok ] && pass "and reads it back" || fail "the holder's data before the kill: '$reply'"
kill_daemon && pass "the daemon SIGKILLed under it"
echo dontneed >&"${HOLDER[1]}"
wait_for "the program waits for the daemon (default daemon_timeout, 60s)" \
    grep -q "the daemon went away; VM good waits up to 1min" "$WORK/holder.err"
# Without the state the killed daemon left, if it kept any (state_dir).
[ -z "${STATE:-}" ] || rm -rf "$STATE"
start_daemon || exit 1
reply=
read -r -t 60 reply <&"$holder_out"
[ -z "$reply" ] && pass "its madvise while the daemon was away got no answer, nor an error" ||
    fail "its madvise while the daemon was away answered '$reply'"
ended_within "$holder_run_pid" 30 && pass "the program stops once the new daemon refuses it" ||
    fail "the program still runs 30 s after a daemon without its state came back"
expect_exit "it stops" 125 "$holder_run_pid" "$WORK/holder.err"
expect_output "tierpage: fatal: tierpaged at $SOCK, VM good: the daemon went away .*, and the tierpaged there now refused to take this program back: .*VM good" \
    "with why: the new daemon refused it" "$WORK/holder.err"

# 3. A program holds a region whose first page and a range in its middle
# it unmapped: what is left starts inside the region's memfd. A daemon
# started on the state the killed one left takes it back, each piece
# handed over with its offset in the memfd, and every page of the pieces
# reads back as written.
cat >"$WORK/trimmed.py" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
size, page = 16 << 20, 4096
addr = libc.mmap(None, size, 3, 0x02 | 0x20, -1, 0)   # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
assert addr not in (None, ctypes.c_void_p(-1).value)
hole = range(1000, 1100)                              # pages unmapped in the middle
assert libc.munmap(addr, page) == 0
assert libc.munmap(addr + hole.start * page, len(hole) * page) == 0
kept = [i for i in range(1, size // page) if i not in hole]
value = lambda i: (i * 31 + 7) & 0xFF
for i in kept:
    ctypes.memset(addr + i * page, value(i), page)
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "verify":
        break
    bad = [i for i in kept if ctypes.string_at(addr + i * page, page) != bytes([value(i)]) * page]
    print("ok" if not bad else "bad %d pages, the first %d" % (len(bad), bad[0]), flush=True)
PY
coproc TRIMMED { exec "$TIERPAGE" run --daemon "$SOCK" --vm good -- python3 "$WORK/trimmed.py" 2>"$WORK/trimmed.err"; }
trimmed_run_pid=$TRIMMED_PID
read -r ready <&"${TRIMMED[0]}"
[ "$ready" = ready ] && pass "a program holds a region whose first page and a middle range it unmapped" ||
    { fail "trimmed: '$ready'"; cat "$WORK/trimmed.err"; }
tiers_hold() { more_than 100 stat_of good pages pmem; }
wait_for "most of its pages are in the tiers" tiers_hold
kill_daemon && pass "the daemon SIGKILLed under it"
start_daemon || exit 1
echo verify >&"${TRIMMED[1]}"
read -t 90 -r verdict <&"${TRIMMED[0]}"
[ "$verdict" = ok ] && pass "a new daemon took it back: every page of the pieces reads back as written" ||
    { fail "after the restart: '$verdict'"; cat "$WORK/trimmed.err"; }
expect_output "the daemon is back: VM good resumed" "the program says it was taken back" "$WORK/trimmed.err"
echo exit >&"${TRIMMED[1]}"
expect_exit "it runs to its end" 0 "$trimmed_run_pid" "$WORK/trimmed.err"

expect_status 0 "the new daemon serves a new program of the VM" -- \
    bash "$SRC/tests/bench_verify.sh" "$TIERPAGE" run --daemon "$SOCK" --vm good -- "$BENCH" --size 16MiB
expect_status 0 "SIGTERM stops the new daemon" -- stop_daemon

# 4. The daemon is killed three times under a verified run, and each time a
# new one is started on the state the killed one left (state_dir): the
# program is taken back each time, its faults served where they queued,
# and the run ends with every page as written (it makes accesses until the
# last daemon has served it a while).
start_daemon || exit 1
"$TIERPAGE" run --daemon "$SOCK" --vm good -- "$BENCH" --size 48MiB --accesses 100000000 \
    --until "$WORK/back.enough" --verify --json --quiet >"$WORK/back.json" 2>"$WORK/back.err" &
run=$!
kill_daemon_once_paged good "$run"
# resumed N: the program says it was taken back N times.
resumed() { [ "$(grep -c "the daemon is back: VM good resumed" "$WORK/back.err")" -ge "$1" ]; }
for kill_no in 1 2 3; do
    if [ "$kill_no" -gt 1 ]; then
        sleep "0.$((RANDOM % 9 + 1))"
        kill -0 "$run" 2>/dev/null && kill_daemon && pass "the daemon SIGKILLed again (kill $kill_no)" ||
            { fail "the run ended before kill $kill_no"; break; }
    fi
    start_daemon || exit 1
    wait_while_running "$run" 60 resumed "$kill_no" && pass "a new daemon took the program back (kill $kill_no)" ||
        { fail "the program was not taken back after kill $kill_no"; sed 's/^/      /' "$WORK/back.err"; break; }
done
end_once_served good "$run" "$WORK/back.enough"
expect_exit "the run completes" 0 "$run" "$WORK/back.err"
grep -q '"verify":"ok"' "$WORK/back.json" && grep -q '"bad_pages":0' "$WORK/back.json" &&
    pass "and every page of it verifies" || { fail "its verify: $(cat "$WORK/back.json")"; }
expect_output "the daemon went away; VM good waits up to 1min" "it said it waited for the daemon" "$WORK/back.err"
expect_no_wrong_data "it" "$WORK/back.err"
wait_for "its pages are released when it ends" released good
expect_status 0 "SIGTERM stops the last daemon" -- stop_daemon
finish
