# memtester (Debian's) under tierpage run, over a buffer four times the
# resident cap, compared with the same run without tierpage.
#   compat_memtester.sh [SIZE RESIDENT TESTMASK]
# The default run tests 64 MiB through 16 MiB with the stuck-address,
# random-value and compare-XOR tests (MEMTESTER_TEST_MASK=0x3: the compare
# tests need random-value's fill first); the long run
# (scripts/compat-long.sh) 256 MiB through 64 MiB with every test up to
# sequential increment and solid bits.
#
# memtester mlocks its buffer. Under tierpage, locked served pages stay
# resident and count against the cap (README), so a buffer larger than the
# cap cannot be locked: run as root, memtester would shrink it until it fits
# (ENOMEM) and test memory that never pages. Run as a user may — without
# CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0 — it gets EPERM and tests the
# whole buffer unlocked, which is what is wanted here, under tierpage and
# without it alike.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
size=${1:-64M} resident=${2:-16MiB} mask=${3:-0x3}
small_stack "$WORK/s.yaml" "$resident" "$resident" 1GiB

unprivileged() {
    MEMTESTER_TEST_MASK=$mask setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock -- \
        bash -c 'ulimit -l 0 && exec "$@"' memtester "$@"
}
expect_status 0 "memtester $size without tierpage" -- unprivileged timeout 3600 memtester "$size" 1
memtester_results "$WORK/out" >"$WORK/plain"
expect_status 0 "memtester $size under tierpage run, $resident resident" -- \
    unprivileged timeout 3600 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/memtester.json" -- memtester "$size" 1
expect_output "insufficient permission" "memtester could not lock (EPERM) and tests unlocked"
expect_output "got +$size" "memtester tests the whole $size"
memtester_results "$WORK/out" >"$WORK/paged"
[ "$(grep -c ': ok$' "$WORK/paged")" -ge 2 ] && ! grep -qv ': ok$' "$WORK/paged" &&
    pass "every test ok: $(cut -d: -f1 "$WORK/paged" | tr '\n' ',')" || fail "memtester's results: $(cat "$WORK/paged")"
expect_same "the same results as without tierpage" "$WORK/plain" "$WORK/paged"
expect_paged "memtester" "$WORK/memtester.json"
finish
