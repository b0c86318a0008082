# A program that defines tp_map, tp_fatal, tp_stack, tp_evict_one and more
# of the pager's names, linked with -rdynamic, runs under `tierpage run`
# with paging: the pager keeps to its own functions and the data is exact.
# The same for a program linked against libtierpage.so that defines a
# tp_unmap of its own, which the library's tp_stack_close must not call.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 4MiB 64MiB 64MiB

nm -D --defined-only "$BUILD/tests/own_tp_names" | grep -qw tp_fatal &&
    pass "the program exports its own tp_fatal (linked with -rdynamic)" ||
    fail "the program does not export tp_fatal: the test would prove nothing"
expect_status 0 "a program with its own tp_* names runs under tierpage run" -- \
    timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/st.json" -- "$BUILD/tests/own_tp_names"
expect_output "own_tp_names: all checks passed" "its data read back exact, its functions called by it alone"
[ -f "$WORK/st.json" ] && [ "$(json_field "$WORK/st.json" evictions)" -gt 2048 ] &&
    pass "it was paged ($(json_field "$WORK/st.json" evictions) evictions over a 4 MiB cap)" ||
    fail "it was not paged"

nm -D --defined-only "$BUILD/tests/library_own_names" | grep -qw tp_unmap &&
    pass "library_own_names exports its own tp_unmap (linked with -rdynamic)" ||
    fail "library_own_names does not export tp_unmap: the test would prove nothing"
expect_status 0 "a program with its own tp_unmap, tp_fatal, tp_evict_one pages through libtierpage.so" -- \
    timeout 300 "$BUILD/tests/library_own_names"
expect_output "library_own_names: 0 words differ" "  every word read back, the stack closed by the library's own calls"
finish
