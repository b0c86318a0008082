# GNU sort of a 15 MB file through an 8 MiB resident cap, with a buffer
# (-S) large enough that it sorts in memory: the output is sorted (sort -c)
# and the same as without tierpage.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 8MiB 8MiB 1GiB

python3 - "$WORK/in.txt" <<'PY'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i in range(600_000):
        f.write("%016x %d\n" % (r.getrandbits(64), i))
PY
sort_args=(-S 400M --parallel=1 "$WORK/in.txt")
expect_status 0 "sort without tierpage" -- sort -o "$WORK/plain.txt" "${sort_args[@]}"
expect_status 0 "sort under tierpage run, 8 MiB resident" -- \
    timeout 600 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/sort.json" -- sort -o "$WORK/paged.txt" "${sort_args[@]}"
expect_status 0 "the output is sorted (sort -c)" -- sort -c "$WORK/paged.txt"
[ "$(wc -l <"$WORK/paged.txt")" = 600000 ] && pass "every line is there" || fail "$(wc -l <"$WORK/paged.txt") lines"
expect_same "the same output as without tierpage" "$WORK/plain.txt" "$WORK/paged.txt"
expect_paged "sort" "$WORK/sort.json"
finish
