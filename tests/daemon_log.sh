#!/bin/bash
# tierpaged's log: plain lines on stderr; under systemd (JOURNAL_STREAM
# naming its stderr) each line starts with its sd-daemon priority prefix
# instead.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
GARBAGE=$BUILD/tests/daemon_garbage

vm_stack vm1 4MiB 16MiB
LOG=$WORK/daemon.log

# Plain: "tierpaged: TIME LEVEL: text".
: >"$LOG"
start_daemon || exit 1
expect_output "^tierpaged: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z info: listening on $SOCK \(mode 0600\)$" \
    "plain lines on stderr" "$LOG"
stop_daemon

# JOURNAL_STREAM naming another file (a child of a unit whose stderr went
# elsewhere): still plain.
: >"$LOG"; : >"$WORK/other"
export JOURNAL_STREAM=$(stat -c %d:%i "$WORK/other")
start_daemon || exit 1
expect_output "^tierpaged: .* info: listening on $SOCK" "JOURNAL_STREAM of another file: plain" "$LOG"
stop_daemon

# JOURNAL_STREAM naming stderr: priorities, no time (the journal adds it).
: >"$LOG"
export JOURNAL_STREAM=$(stat -c %d:%i "$LOG")
start_daemon || exit 1
unset JOURNAL_STREAM
expect_output "^<6>listening on $SOCK \(mode 0600\)$" "info is <6>" "$LOG"
"$GARBAGE" "$SOCK" >/dev/null 2>&1
expect_output "^<4>malformed message from pid [0-9]+" "a warning is <4>" "$LOG"
echo "resident: lots" >"$STACKS/vm1.yaml"
kill -HUP "$daemon_pid"
wait_for "a broken file on SIGHUP is an error, <3>" grep -q "^<3>VM vm1: $STACKS/vm1.yaml:1:11: resident" "$LOG"
stop_daemon
bad=$(grep -Evc '^<[0-7]>' "$LOG")
[ "$bad" = 0 ] && pass "every line has its priority" || { fail "$bad lines without one"; cat "$LOG"; }
finish
