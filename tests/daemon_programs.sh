#!/bin/bash
# The programs that exercise every way a program changes its memory
# (mm_events, mm_controls: malloc family, mmap/mremap/munmap/madvise,
# ranges replaced under faults, fork, mprotect, mlock/mlockall, ...) pass
# under tierpaged as they do in-process: each such change reaches the
# daemon before it takes effect (a forked child is a client of its own:
# tests/daemon_fork.sh).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack mm 4MiB 16MiB 1GiB
start_daemon || exit 1
expect_status 0 "mm_events under the daemon" -- \
    timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm mm -- "$CLIENT_BUILD/tests/mm_events"
expect_output "all checks passed" "mm_events reports every check passed"
[ "$(stat_of mm faults)" -gt 1000 ] && pass "mm_events was served by the daemon" || fail "mm_events: no faults"
wait_for "its pages are released when it exits" released mm
expect_status 0 "mm_controls under the daemon" -- \
    timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm mm -- "$CLIENT_BUILD/tests/mm_controls"
expect_output "mm_controls: all checks passed" "mm_controls reports every check passed"
wait_for "its pages are released when it exits" released mm
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
