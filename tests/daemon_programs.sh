#!/bin/bash
# The programs that exercise every way a program changes its memory
# (mm_events, mm_controls: malloc family, mmap/mremap/munmap/madvise,
# ranges replaced under faults, fork, mprotect, mlock/mlockall, ...) pass
# under tierpaged as they do in-process: each such change reaches the
# daemon before it takes effect (a forked child is a client of its own:
# tests/daemon_fork.sh). mm_events runs again with a tier that is not
# local (`faulty` wrapping dram, failing never) behind a small dram tier:
# its pages come back mapped writable and are compared by digest when they
# leave.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

vm_stack mm 4MiB 16MiB 1GiB
cat >"$STACKS/mmr.yaml" <<YAML
name: mmr-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 1MiB
  - plugin: faulty
    wrap: dram
    capacity: 256MiB
YAML
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
expect_status 0 "mm_events under the daemon, through a remote tier" -- \
    timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm mmr -- "$CLIENT_BUILD/tests/mm_events"
expect_output "all checks passed" "mm_events reports every check passed through a remote tier"
hits=$(stat_of mmr hits faulty)
[ "$hits" -gt 100 ] && pass "mmr: $hits pages read back from the remote tier" ||
    fail "mmr: $hits pages read back from the remote tier (expected over 100)"
wait_for "its pages are released when it exits" released mmr
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
