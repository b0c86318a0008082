# Debian's python3 building and checksumming large lists and dicts (about
# 150 MiB of objects) through a 16 MiB resident cap, then forking a child
# with multiprocessing that digests the same data: tests/compat/lists_and_dicts.py.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 16MiB 16MiB 1GiB
program=$SRC/tests/compat/lists_and_dicts.py

expect_status 0 "python3 without tierpage" -- /usr/bin/python3 "$program"
cp "$WORK/out" "$WORK/plain"
digest=$(sed -n 's/^lists and dicts: //p' "$WORK/plain")
expect_output "^forked child: exit 0, digest $digest" "without tierpage the forked child digests the same data"
expect_status 0 "python3 under tierpage run, 16 MiB resident" -- \
    timeout 600 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/python.json" -- /usr/bin/python3 "$program"
cp "$WORK/out" "$WORK/paged"
grep '^lists and dicts' "$WORK/plain" >"$WORK/plain.lists"
grep '^lists and dicts' "$WORK/paged" >"$WORK/paged.lists"
expect_same "the same digests as without tierpage, before and after the fork" "$WORK/plain.lists" "$WORK/paged.lists"
# The forked child digests its copy of the served data: the parent's digest.
expect_output "^forked child: exit 0, digest $digest" "the forked child digests the same data as without tierpage"
expect_paged "python3" "$WORK/python.json"
finish
