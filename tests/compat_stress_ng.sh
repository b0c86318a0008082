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
paged_methods=0
for method in "${methods[@]}"; do
    vm=(stress-ng --vm 1 --vm-bytes 96M --vm-method "$method" --verify --vm-ops 4 --metrics-brief --timeout 600)
    expect_status 0 "$method without tierpage" -- "${vm[@]}"
    result "$WORK/out" >"$WORK/$method.plain"
    rm -f "$WORK/$method.json"*
    expect_status 0 "$method under tierpage run, 16 MiB resident" -- \
        "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/$method.json" -- "${vm[@]}"
    result "$WORK/out" >"$WORK/$method.paged"
    grep -q "successful run completed" "$WORK/$method.paged" && ! grep -q fail "$WORK/$method.paged" &&
        pass "$method: verified, no memory error found" || fail "$method: $(cat "$WORK/$method.paged")"
    expect_same "$method: the same result as without tierpage" "$WORK/$method.plain" "$WORK/$method.paged"
    # stress-ng runs its stressors in forked workers, each paged by a pager
    # of its own (README, fork); its own process serves nothing. Each
    # process that served memory wrote its stats as $method.json.PID. A
    # worker that touched more than the 16 MiB cap (4096 pages) moved its
    # pages through both tiers; some methods touch little in 4 ops.
    worker=$(python3 - "$WORK/$method.json" <<'PY'
import glob, json, sys
runs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + ".*")]
best = max(runs, key=lambda d: d["faults"], default=None)
if best:
    puts = {t["name"]: t["puts"] for t in best["tiers"]}
    print(best["faults"], best["evictions"], puts["dram"], puts["pmem"])
PY
)
    read -r faults evictions dram_puts pmem_puts <<<"${worker:-0 0 0 0}"
    if [ "$faults" -gt 4096 ]; then
        [ "$evictions" -gt 0 ] && [ "$dram_puts" -gt 0 ] && [ "$pmem_puts" -gt 0 ] && paged_methods=$((paged_methods + 1)) &&
            pass "$method: the worker was paged: $faults faults, $evictions evictions, $dram_puts pages into dram, $pmem_puts into pmem" ||
            fail "$method: the worker touched $faults pages but was not paged: $worker"
    else
        [ "$faults" -gt 0 ] && pass "$method: the worker was served ($faults faults, within the cap)" ||
            fail "$method: no worker was served: $(cat "$WORK/$method.json"* 2>/dev/null || echo no stats files)"
    fi
    [ ! -e "$WORK/$method.json" ] && pass "$method: stress-ng's own process served nothing" ||
        fail "$method: stress-ng's own process has stats"
    grep -q "was not served" "$WORK/out" && fail "$method: tierpage run says stress-ng was not served" ||
        pass "$method: no 'not served' note"
done
[ "$paged_methods" -ge 5 ] && pass "$paged_methods methods' workers were paged beyond the cap" ||
    fail "only $paged_methods methods' workers were paged beyond the cap"
finish
