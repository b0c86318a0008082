# stress-ng's vm stressor with its own verification (--verify), over
# several of its methods, 96 MiB each, under tierpage run with a 16 MiB
# resident cap and without tierpage: each run completes with no error found
# and the same bogo-op count.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 16MiB 16MiB 1GiB
methods=(checkerboard flip galpat-0 gray incdec inc-nybble modulo-x move-inv rand-set ror swap walk-1d zero-one)

# result LOG: what a run says of itself, without its timings.
result() {
    sed -n 's/.*metrc: \[[0-9]*\] \(vm  *[0-9][0-9]*\) .*/\1/p; s/.*\(successful run completed\).*/\1/p; s/.*\(fail.*\)/\1/p' "$1"
}
for method in "${methods[@]}"; do
    vm=(stress-ng --vm 1 --vm-bytes 96M --vm-method "$method" --verify --vm-ops 4 --metrics-brief --timeout 600)
    expect_status 0 "$method without tierpage" -- "${vm[@]}"
    result "$WORK/out" >"$WORK/$method.plain"
    expect_status 0 "$method under tierpage run, 16 MiB resident" -- \
        "$TIERPAGE" run -c "$WORK/s.yaml" -- "${vm[@]}"
    result "$WORK/out" >"$WORK/$method.paged"
    grep -q "successful run completed" "$WORK/$method.paged" && ! grep -q fail "$WORK/$method.paged" &&
        pass "$method: verified, no memory error found" || fail "$method: $(cat "$WORK/$method.paged")"
    expect_same "$method: the same result as without tierpage" "$WORK/$method.plain" "$WORK/$method.paged"
    # stress-ng runs its stressors in forked workers; its own process
    # serves nothing, and a forked child prints no summary (README, fork),
    # so tierpage reports the program as not served. That the workers are
    # paged is not shown here yet: a summary per child would show it.
    expect_output "stress-ng was not served" "$method: the workers' memory is not served (forked children)"
done
finish
