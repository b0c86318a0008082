# Data integrity: tierpage-bench --verify under `tierpage run` with a
# resident cap far below the working set, for every pattern and allocator.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 2MiB 8MiB 1GiB
for alloc in mmap malloc; do
    for pattern in random zipf seq; do
        expect_status 0 "verify: 64MiB $pattern via $alloc, 2MiB resident" -- \
            "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/st.json" -- \
            "$BENCH" --size 64MiB --accesses 40000 --pattern $pattern --alloc $alloc --verify --quiet
        ev=$(json_field "$WORK/st.json" evictions)
        [ "$ev" -gt 16384 ] && pass "  pages were evicted ($ev)" || fail "  too few evictions ($ev)"
    done
done
sed -i 's/^resident: .*/resident: 2MiB\npolicy: fifo\nhandler_threads: 2/' "$WORK/s.yaml"
expect_status 0 "verify: fifo policy, 2 handler threads" -- \
    "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 64MiB --accesses 40000 --verify --quiet
expect_status 1 "the verifier catches a corrupted byte" -- \
    "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 8MiB --accesses 1000 --inject-corruption --quiet
finish
