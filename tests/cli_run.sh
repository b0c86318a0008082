# tierpage run: the shim serves a program's memory, status passes through.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 4MiB 16MiB 1GiB

expect_status 0 "mm_events: malloc family, mmap/mremap/munmap/madvise, served ranges replaced or unmapped under faults, syscalls, fork" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/mm.json" -- "$BUILD/tests/mm_events"
expect_output "all checks passed" "mm_events reports every check passed"
expect_status 0 "mm_controls: mprotect, shared anonymous, mlock/mlockall, madvise, MAP_POPULATE, mremap growing, /proc/self/mem, process_vm_readv, vfork, posix_spawn" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BUILD/tests/mm_controls"
expect_output "mm_controls: all checks passed" "mm_controls reports every check passed"
expect_output "mlock of served memory refused: cannot lock" "an mlock beyond the cap is refused with a message"
expect_status 0 "mm_controls unprivileged: mlock without CAP_IPC_LOCK and RLIMIT_MEMLOCK 0 gives the kernel's EPERM" -- \
    setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock -- bash -c 'ulimit -l 0 && exec "$@"' lock \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BUILD/tests/mm_controls" unprivileged
expect_output "mm_controls unprivileged: all checks passed" "mm_controls unprivileged reports every check passed"
[ "$(json_field "$WORK/mm.json" faults)" -gt 1000 ] && pass "mm_events was served (faults counted)" || fail "mm_events faults in stats"

expect_status 0 "a program that allocates nothing large" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- true
expect_output "true was not served" "run says so instead of printing an empty summary"
expect_status 7 "exit status passes through" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- sh -c 'exit 7'
expect_status 137 "a killed program gives 128+signal" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- sh -c 'kill -9 $$'
expect_output "killed by signal 9" "the signal is named"
expect_status 127 "a missing command gives 127" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- /nonexistent/prog
expect_output "cannot run '/nonexistent/prog'" "the missing command is named"
if grep -q "was not served" "$WORK/out"; then fail "a command that never ran is not called unserved"; else
    pass "a command that never ran is not called unserved"; fi
expect_status 2 "no command is a usage error" -- "$TIERPAGE" run -c "$WORK/s.yaml"
expect_status 2 "an unknown option is a usage error" -- "$TIERPAGE" run --frobnicate -- true
expect_status 0 "run --help" -- "$TIERPAGE" run --help
expect_output "usage: tierpage run" "run --help prints its usage"

# stats: the summary and the JSON keys the issue names
expect_status 0 "bench under run with --stats" -- \
    "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/b.json" -- "$BENCH" --size 32MiB --accesses 20000 --verify --quiet
expect_output "tierpage: .* faults .* evictions" "a summary on stderr"
expect_output "tierpage: dram" "a line for the dram tier"
python3 - "$WORK/b.json" <<'PY' && pass "JSON has faults, zero_fills, evictions, writebacks, peak_resident_bytes, tiers" || fail "JSON keys"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("faults", "zero_fills", "evictions", "writebacks", "peak_resident_bytes"):
    assert isinstance(d[k], int), k
assert d["faults"] > 8192 and d["evictions"] > 0 and d["writebacks"] > 0
assert d["peak_resident_bytes"] <= 4 * 1024 * 1024
assert [t["name"] for t in d["tiers"]] == ["dram", "pmem"]
for t in d["tiers"]:
    for k in ("hits", "puts", "pages", "bytes_in", "bytes_out"):
        assert isinstance(t[k], int), k
assert d["tiers"][1]["puts"] > 0, "the cascade reached pmem"
PY

# the built-in default stack
expect_status 0 "run with the built-in stack" -- "$TIERPAGE" run --quiet -- "$BENCH" --size 8MiB --accesses 1000 --verify --quiet

# bad stacks stop before the program starts
printf 'name: x\nresident: lots\ntiers:\n  - plugin: dram\n' >"$WORK/bad.yaml"
expect_status 2 "a bad stack file is refused" -- "$TIERPAGE" run -c "$WORK/bad.yaml" -- true
expect_output "bad.yaml:2:11: resident" "the error names file:line:col and key"
printf 'name: x\nresident: 1MiB\ntiers:\n  - plugin: nosuchstore\n' >"$WORK/noplugin.yaml"
expect_status 2 "a missing plugin stops the run before the program starts" -- \
    "$TIERPAGE" run -c "$WORK/noplugin.yaml" -- "$BENCH" --size 8MiB --quiet
expect_output "noplugin.yaml:4:13: tiers\[0\].plugin" "the missing plugin's place is named"

# a stack too small for the data: a clear stop, never wrong data
small_stack "$WORK/tiny.yaml" 1MiB 1MiB 1MiB
expect_status 125 "every tier full stops the program" -- \
    "$TIERPAGE" run -c "$WORK/tiny.yaml" -- "$BENCH" --size 16MiB --quiet
expect_output "every tier from 'pmem' down is full" "the full tier is named"

finish
