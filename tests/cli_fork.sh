# fork under tierpage run: parent and child each see the served memory as
# it was at the fork and then their own writes only (tests/programs/fork_cow.c
# checks every word), with pages resident, in the dram tier or in pmem.
# fork_cow's checks run over 16 MiB (four times the resident cap); the
# runs whose stats are counted (exec, fork_workers, a queued dram tier)
# over 32 MiB.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -f /dev/shm/tierpage-test-$$-*.dram; rm -rf "$WORK"' EXIT
FORK_COW=$BUILD/tests/fork_cow

dram_stack() {
    cat >"$1" <<YAML
name: fork-$$
resident: 4MiB
policy: $2
tiers:
  - plugin: dram
    capacity: 64MiB
YAML
}
dram_stack "$WORK/clock.yaml" clock
dram_stack "$WORK/fifo.yaml" fifo

for t in basic nested threads exec many; do
    expect_status 0 "fork_cow $t over 16 MiB, 4 MiB resident, dram" -- \
        timeout 300 "$TIERPAGE" run -c "$WORK/clock.yaml" --quiet -- "$FORK_COW" 16 $t
    expect_output "fork_cow $t: all checks passed" "fork_cow $t reports every check passed"
done
expect_status 0 "fork_cow basic with the fifo policy (no minor faults: the child's resident pages count as written)" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/fifo.yaml" --quiet -- "$FORK_COW" 16 basic
expect_output "fork_cow basic: all checks passed" "fork_cow basic under fifo reports every check passed"

# The list and the bytearray are about twice the resident cap.
cat >"$WORK/py.yaml" <<YAML
name: forkpy-$$
resident: 8MiB
malloc_threshold: 256KiB
tiers:
  - plugin: dram
    capacity: 512MiB
YAML
expect_status 0 "python3 multiprocessing (fork) over large lists and a bytearray" -- \
    timeout 600 "$TIERPAGE" run -c "$WORK/py.yaml" --quiet -- python3 "$SRC/tests/programs/fork_python.py"
expect_output "fork_python: all checks passed" "fork_python reports every check passed"

# dram then pmem (the built-in stack's shape): pages resident, in dram and
# in the pmem file at the fork. The child's pmem pages go into a file of
# its own, gone from the directory at once: nothing is left behind.
small_stack "$WORK/s.yaml" 4MiB 8MiB 64MiB
for t in basic nested threads many; do
    expect_status 0 "fork_cow $t over dram + pmem" -- \
        timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --quiet -- "$FORK_COW" 16 $t
    expect_output "fork_cow $t: all checks passed" "fork_cow $t over dram + pmem reports every check passed"
done
# Children that exec a program serving memory of its own (by fork, vfork
# and posix_spawn) while the parent holds its pmem file: each opens the
# stack apart from the program's, with a pmem file of its own (README,
# fork), is paged through it, and leaves no file behind.
expect_status 0 "fork_cow exec over dram + pmem: children exec a program that serves memory" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --quiet --stats "$WORK/exec.json" -- "$FORK_COW" 32 exec
expect_output "fork_cow exec: all checks passed" "fork_cow exec over dram + pmem reports every check passed"
paged=0
for stats in "$WORK/exec.json".*; do
    more_than 0 tier_field "$stats" pmem puts && more_than 4000 json_field "$stats" evictions && paged=$((paged + 1))
done
[ "$paged" = 3 ] && pass "the three exec'd programs were paged through pmem files of their own" ||
    fail "$paged of the three exec'd programs were paged: $(ls "$WORK" | grep exec.json)"
more_than 0 tier_field "$WORK/exec.json" pmem puts && pass "the program's own memory went to its pmem file" ||
    fail "the program's stats: $(cat "$WORK/exec.json")"
left=$(ls /dev/shm | grep -c "tierpage-test-$$-.*fork-" || true)
[ "$left" = 0 ] && pass "no pmem file of an exec'd program is left" || fail "$left pmem files left in /dev/shm"

# A dram tier with a write-back queue: its queued pages are in the
# parent's queue, not its pool, and are sent to the child too.
cat >"$WORK/queued.yaml" <<YAML
name: fork-queued-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 16MiB
    writeback_queue: 1MiB
  - plugin: pmem
    path: /dev/shm/tierpage-test-$$-queued.pmem
    capacity: 64MiB
YAML
expect_status 0 "fork_cow nested over a dram tier with a write-back queue, then pmem" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/queued.yaml" --quiet -- "$FORK_COW" 32 nested
expect_output "fork_cow nested: all checks passed" "fork_cow nested with a queue reports every check passed"
# A child that outlives its parent holds nothing of the parent's stores:
# the stack opens again (the pmem file is not locked) while it runs.
mkfifo "$WORK/go"
expect_status 0 "a parent that exits right after fork" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --quiet -- "$FORK_COW" 16 outlive "$WORK"
expect_status 0 "the stack opens while the child that outlived its parent runs" -- "$TIERPAGE" check "$WORK/s.yaml"
echo go >"$WORK/go"
for _ in $(seq 300); do [ -s "$WORK/result" ] && break; sleep 0.1; done
[ "$(cat "$WORK/result" 2>/dev/null)" = ok ] && pass "the child that outlived its parent has its memory" ||
    fail "the child that outlived its parent: '$(cat "$WORK/result" 2>/dev/null)'"
left=$(ls /dev/shm | grep -c "tierpage-test-$$-.*fork-" || true)
[ "$left" = 0 ] && pass "no child's pmem file is left" || fail "$left pmem files of children left in /dev/shm"

# A dram tier on a file (path:): the file is the parent's; a forked
# child's dram tier is private memory of its own, filled from the
# parent's pool, and a child that outlives its parent holds nothing of the
# file (the stack opens again while it runs).
cat >"$WORK/pool.yaml" <<YAML
name: fork-pool-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 16MiB
    path: /dev/shm/tierpage-test-$$-pool.dram
  - plugin: pmem
    path: /dev/shm/tierpage-test-$$-pool.pmem
    capacity: 64MiB
YAML
for t in basic nested; do
    expect_status 0 "fork_cow $t over a dram tier on a file, then pmem" -- \
        timeout 300 "$TIERPAGE" run -c "$WORK/pool.yaml" --quiet -- "$FORK_COW" 16 $t
    expect_output "fork_cow $t: all checks passed" "fork_cow $t over a dram pool file reports every check passed"
done
mkdir "$WORK/pool"
mkfifo "$WORK/pool/go"
expect_status 0 "a parent over a dram pool file that exits right after fork" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/pool.yaml" --quiet -- "$FORK_COW" 16 outlive "$WORK/pool"
expect_status 0 "the stack on the dram pool file opens while the child that outlived its parent runs" -- \
    "$TIERPAGE" check "$WORK/pool.yaml"
echo go >"$WORK/pool/go"
for _ in $(seq 300); do [ -s "$WORK/pool/result" ] && break; sleep 0.1; done
[ "$(cat "$WORK/pool/result" 2>/dev/null)" = ok ] && pass "the child of a dram pool file's stack has its memory" ||
    fail "the child that outlived its parent over a dram pool file: '$(cat "$WORK/pool/result" 2>/dev/null)'"

# Workers forked by a parent that serves nothing (as stress-ng's are) are
# paged, each by a pager of its own with its own resident cap: each
# worker's stats file (--stats FILE writes each one's as FILE.PID, also
# for a worker that ends with _exit) shows its memory moved through the
# tiers, and the program, which served nothing, has none.
expect_status 0 "fork_workers: 3 workers of 32 MiB each, 4 MiB resident, forked by a parent that serves nothing" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --quiet --stats "$WORK/workers.json" -- "$BUILD/tests/fork_workers" 3 32
expect_output "fork_workers: all checks passed" "every worker read back every word it wrote"
[ ! -e "$WORK/workers.json" ] && pass "the parent served nothing: no stats file of its own" ||
    fail "the parent wrote a stats file"
grep -q "was not served" "$WORK/out" && fail "tierpage run says the program was not served" ||
    pass "no 'not served' note: its workers were"
for pid in $(sed -n 's/^worker [0-9]*: pid \([0-9]*\)$/\1/p' "$WORK/out"); do
    stats=$WORK/workers.json.$pid
    more_than 4000 json_field "$stats" evictions && more_than 8191 json_field "$stats" zero_fills &&
        more_than 0 tier_field "$stats" pmem puts &&
        [ "$(json_field "$stats" resident_cap_bytes)" = $((4 << 20)) ] &&
        pass "worker $pid was paged under its own 4 MiB cap: $(json_field "$stats" evictions) evictions" ||
        fail "worker $pid was not paged: $(cat "$stats" 2>/dev/null || echo no stats file)"
done
[ "$(ls "$WORK" | grep -c '^workers\.json\.')" = 3 ] && pass "one stats file per worker" ||
    fail "stats files: $(ls "$WORK" | grep workers)"

# The same workers forked by a process that never opened the stack (one
# the program, a shell, started with exec), while the shell holds the
# pmem file: each opens the stack apart, with a pmem file of its own.
expect_status 0 "fork_workers started by a shell that holds the stack: 2 workers of 32 MiB" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --quiet --stats "$WORK/shell.json" -- \
    sh -c "'$BUILD/tests/fork_workers' 2 32; true"
expect_output "fork_workers: all checks passed" "every worker read back every word it wrote"
paged=0
for stats in "$WORK/shell.json".*; do
    more_than 4000 json_field "$stats" evictions && more_than 0 tier_field "$stats" pmem puts && paged=$((paged + 1))
done
[ "$paged" = 2 ] && pass "both workers were paged through pmem files of their own" ||
    fail "$paged of 2 workers were paged: $(cat "$WORK/shell.json".* 2>/dev/null)"
left=$(ls /dev/shm | grep -c "tierpage-test-$$-.*fork-" || true)
[ "$left" = 0 ] && pass "no worker's pmem file is left" || fail "$left pmem files left in /dev/shm"

# A tier that keeps a child's pages neither private nor apart (faulty
# here) keeps served memory from children: the child that touches it is
# stopped, naming the tier; the parent's data stays whole.
cat >"$WORK/faulty.yaml" <<YAML
name: fork-faulty-$$
resident: 4MiB
tiers:
  - plugin: faulty
    wrap: dram
    capacity: 64MiB
YAML
expect_status 1 "fork_cow basic over a faulty tier: the child is stopped" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/faulty.yaml" --quiet -- "$FORK_COW" 16 basic
expect_output "forked child touched memory served to its parent.*tier 'faulty' \(plugin faulty\) is shared with the parent" \
    "the child's message names the tier"
expect_output "child ended with status 0x7d00" "the child exits with 125"
grep -q "FAIL.*parent: its" "$WORK/out" && fail "the parent's data changed" || pass "the parent's data stays whole"
finish
