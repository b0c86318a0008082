# tierpage run under a program faulting from many threads at once: each on
# its own slice, and all on one region, far beyond the resident cap; every
# byte checked by tierpage-bench --verify.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 2MiB 64MiB 64MiB

for run in "8 slices" "16 shared"; do
    set -- $run
    flag=
    [ "$2" = shared ] && flag=--shared
    expect_status 0 "$1 threads, $2, random read-modify-writes over 32 MiB at 2 MiB resident" -- \
        timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/$2.json" -- \
        "$BENCH" --size 32MiB --threads "$1" $flag --accesses 40000 --verify --json --quiet
    expect_output '"verify":"ok"' "$1 threads, $2: every page as last written"
    misses=$(( $(json_field "$WORK/$2.json" faults) - $(json_field "$WORK/$2.json" zero_fills) ))
    [ "$misses" -gt 20000 ] && pass "$1 threads, $2: $misses faults fetched pages from a tier" ||
        fail "$1 threads, $2: only $misses faults fetched pages from a tier"
done
finish
