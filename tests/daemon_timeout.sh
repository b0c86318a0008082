#!/bin/bash
# The operator commands never hang on a daemon that does not answer: a
# tierpaged stopped with SIGSTOP, and fake daemons (a unix socket of the
# test's own) that never answer, never take the connection up, close it
# before they reply, or reply with garbage, each get a clear message naming
# the socket and exit status 3 within the timeout (--timeout, 10 s by
# default); the daemon answers again once continued. A demote that takes
# longer than --timeout goes on as long as the daemon reports progress,
# and gives up once it stops reporting; the program's pages stay intact.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
fake_pids=()
trap 'for p in "${fake_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; daemon_cleanup' EXIT

# timed_status WANT LIMIT DESCRIPTION -- CMD...: CMD exits WANT within
# LIMIT seconds (it is killed after 60 s), its output in $WORK/out and
# the seconds it took in $took.
timed_status() {
    local want=$1 limit=$2 what=$3 start got
    shift 4
    start=$EPOCHREALTIME
    timeout -s KILL 60 "$@" >"$WORK/out" 2>&1
    got=$?
    took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if [ "$got" = "$want" ] && awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t <= l) }'; then
        pass "$what (exit $got in $took s)"
    else
        fail "$what: exit $got in $took s, expected $want within $limit s"; sed 's/^/      /' "$WORK/out" | tail -20
    fi
}

# 1. Bad values of --timeout.
for bad in 0 abc -5 25h; do
    expect_status 2 "--timeout $bad is refused" -- "$TIERPAGE" status --timeout "$bad" --socket "$SOCK"
    expect_output "tierpage status: --timeout: expected .*got '$bad'" "saying what was expected"
done
expect_status 0 "status --help" -- "$TIERPAGE" status --help
expect_output "--timeout SECONDS" "names --timeout"
expect_output "10 s by default" "and its default"

# 2. Fake daemons: a SOCK_SEQPACKET socket that accepts and never answers
# (silent), that never takes a connection up and whose backlog is full
# (backlog), that answers HELLO then closes the connection on the request
# (close), that answers the request with a packet whose header lies
# (garbage), or HELLO with 3 bytes (short).
cat >"$WORK/fake.py" <<'PY'
import socket, struct, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
def ready():
    open(path + ".ready", "w").close()
if mode == "backlog":
    s.listen(0)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    filler.connect(path)  # the one connection a backlog of 0 holds
    ready()
    time.sleep(3600)
s.listen(8)
ready()
def reply(conn, text=b"fake"):
    body = struct.pack("=iIQQ", 0, 0, 2, 0) + text  # status, reserved, values: a REPLY
    conn.send(struct.pack("=IHH", 8 + len(body), 2, 64) + body)
kept = []
while True:
    conn, _ = s.accept()
    kept.append(conn)
    if mode == "silent":
        continue
    conn.recv(65536)  # HELLO
    if mode == "short":
        conn.send(b"abc")
        continue
    reply(conn)
    conn.recv(65536)  # the request
    if mode == "close":
        kept.pop().close()
    elif mode == "garbage":
        conn.send(struct.pack("=IHH", 999, 2, 64) + b"x" * 32)
PY
for mode in silent backlog close garbage short; do
    python3 "$WORK/fake.py" "$WORK/$mode.sock" "$mode" 2>"$WORK/fake-$mode.err" &
    fake_pids+=($!)
    disown $!  # killed at the end without a word from the shell
    wait_while_running $! 10 test -e "$WORK/$mode.sock.ready" ||
        { fail "the fake daemon '$mode' did not start: $(cat "$WORK/fake-$mode.err")"; finish; exit 1; }
done
timed_status 3 8 "status on a daemon that never answers exits 3 within --timeout 2" -- \
    "$TIERPAGE" status --timeout 2 --socket "$WORK/silent.sock"
expect_output "^tierpage status: no reply from tierpaged at $WORK/silent.sock within 2 s \(--timeout\)" \
    "naming the socket and the timeout"
timed_status 3 16 "status without --timeout gives up after its default" -- \
    "$TIERPAGE" status --socket "$WORK/silent.sock"
expect_output "no reply from tierpaged at $WORK/silent.sock within 10 s" "of 10 s"
awk -v t="$took" 'BEGIN { exit !(t >= 9.5) }' && pass "after 10 s, not before ($took s)" || fail "gave up after $took s"
timed_status 3 8 "daemon info on it exits 3 too" -- "$TIERPAGE" daemon info --timeout 2 --socket "$WORK/silent.sock"
expect_output "^tierpage daemon info: no reply from tierpaged at $WORK/silent.sock within 2 s" "with the message"
timed_status 3 8 "demote on a daemon that never takes the connection up exits 3" -- \
    "$TIERPAGE" demote vm1 --to pmem --timeout 2 --socket "$WORK/backlog.sock"
expect_output "^tierpage demote: no reply from tierpaged at $WORK/backlog.sock within 2 s" "with the message"
timed_status 3 8 "stats on a daemon that closes the connection before it replies exits 3" -- \
    "$TIERPAGE" stats vm1 --timeout 2 --socket "$WORK/close.sock"
expect_output "^tierpage stats: tierpaged at $WORK/close.sock closed the connection before it replied" \
    "saying so, naming the socket"
timed_status 3 8 "resize on a daemon that replies garbage exits 3" -- \
    "$TIERPAGE" resize vm1 8MiB --timeout 2 --socket "$WORK/garbage.sock"
expect_output "^tierpage resize: tierpaged at $WORK/garbage.sock: header says 999 bytes, the packet has 40" \
    "saying what was wrong"
timed_status 3 8 "status on a daemon whose HELLO reply is 3 bytes exits 3" -- \
    "$TIERPAGE" status --timeout 2 --socket "$WORK/short.sock"
expect_output "^tierpage status: tierpaged at $WORK/short.sock: a message of 3 bytes, shorter than a header" \
    "saying what was wrong"

# 3. A real daemon, stopped with SIGSTOP and continued. VM slow's second
# tier stalls every put 2 ms: a demote of its 8MiB into it takes seconds.
vm_stack vm1 4MiB 64MiB
cat >"$STACKS/slow.yaml" <<YAML
name: slow-$$
resident: 16MiB
tiers:
  - plugin: dram
    capacity: 64MiB
  - plugin: faulty
    wrap: dram
    capacity: 64MiB
    writeback_queue: 0
    put_stall: 1
    stall_time: 2ms
YAML
start_daemon || exit 1
expect_status 0 "status --timeout 2 of a running daemon" -- "$TIERPAGE" status --timeout 2 --socket "$SOCK"
kill -STOP "$daemon_pid"
timed_status 3 8 "status --timeout 2 of a daemon stopped with SIGSTOP exits 3" -- \
    "$TIERPAGE" status --timeout 2 --socket "$SOCK"
expect_output "^tierpage status: no reply from tierpaged at $SOCK within 2 s \(--timeout\)" \
    "naming the socket and the timeout"
timed_status 3 8 "and so does flush" -- "$TIERPAGE" flush vm1 --timeout 2 --socket "$SOCK"
kill -CONT "$daemon_pid"
timed_status 0 8 "once continued, status answers again" -- "$TIERPAGE" status --timeout 2 --socket "$SOCK"
expect_output "^vm1 " "listing the VMs"

coproc HOLD { exec "$TIERPAGE" run --daemon "$SOCK" --vm slow -- "$HOLDER" 8 2>"$WORK/holder.err"; }
hold_run=$HOLD_PID
ask() { echo "$1" >&"${HOLD[1]}"; read -r reply <&"${HOLD[0]}"; echo "$reply"; }
read -r ready _ <&"${HOLD[0]}"
[ "$ready" = ready ] && pass "a program holds 8MiB of VM slow" || { fail "holder: '$ready'"; finish; exit 1; }
timed_status 0 120 "a demote into the stalling tier with --timeout 1 completes: the daemon reports progress" -- \
    "$TIERPAGE" demote slow --to faulty --timeout 1 --socket "$SOCK"
expect_output "every page in tier faulty" "demote says so"
awk -v t="$took" 'BEGIN { exit !(t > 2) }' && pass "it took $took s, more than twice the timeout" ||
    fail "the demote took $took s: too short to show progress keeping it waiting"
[ "$(stat_of slow pages faulty)" = 2048 ] && pass "every page is in the stalling tier" ||
    fail "pages in faulty: $(stat_of slow pages faulty)"
[ "$(ask verify)" = ok ] && pass "every page intact after the demote" || fail "pages wrong after the demote"

# The same demote, its daemon stopped while it runs: the command gives up
# once no progress came for its timeout; continued, the daemon finishes.
[ "$(ask 'fill 2')" = filled ] && pass "the program wrote its 8MiB again" || fail "fill 2"
"$TIERPAGE" demote slow --to faulty --timeout 2 --socket "$SOCK" >"$WORK/demote.out" 2>&1 &
demote_run=$!
demoting() { [ "$(stat_of slow resident_bytes)" -lt 8388608 ]; }
wait_while_running "$demote_run" 30 demoting || fail "the demote did not start"
kill -STOP "$daemon_pid"
start=$EPOCHREALTIME
wait "$demote_run"
rc=$?
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
[ "$rc" = 3 ] && awk -v t="$took" 'BEGIN { exit !(t <= 8) }' &&
    pass "a demote whose daemon was stopped under it exits 3, $took s after the stop" ||
    { fail "the demote exited $rc, $took s after the stop"; cat "$WORK/demote.out"; }
expect_output "^tierpage demote: no reply from tierpaged at $SOCK within 2 s, and no progress of the demote" \
    "saying no progress came" "$WORK/demote.out"
kill -CONT "$daemon_pid"
all_demoted() { [ "$(stat_of slow resident_bytes)" = 0 ]; }
wait_for "continued, the daemon finishes the demote" all_demoted
[ "$(ask verify)" = ok ] && pass "every page intact after all" || fail "pages wrong after the stopped demote"
ask exit >/dev/null
wait "$hold_run"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
