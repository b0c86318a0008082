# The long run of the fault tests (ctest label `long`, left out of the
# default suite; run it with `ctest -L long` or this script): verified
# workloads of 128 MiB over faulty stores with many seeds, both patterns,
# with and without a write-back queue. FAULTS_SOAK_ROUNDS sets the seeds
# (default 10, about two minutes a round here).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/faults_lib.sh"

for seed in $(seq 1 "${FAULTS_SOAK_ROUNDS:-10}"); do
    for queue in "" "    writeback_queue: 0"; do
        for pattern in random zipf; do
            name=soak-$seed-${queue:+direct}$pattern
            stack "$WORK/$name.yaml" "    get_eio: 1/1000
    put_eio: 1/1000
    del_eio: 1/1000
    put_stall: 1/2000
    get_stall: 1/2000
    stall_time: 10ms
    seed: $seed
$queue"
            expect_status 0 "seed $seed, $pattern, ${queue:+direct}${queue:-queued} puts: every page verified" -- \
                "$TIERPAGE" run -c "$WORK/$name.yaml" -- \
                "$BENCH" --size 128MiB --accesses 300000 --pattern "$pattern" --seed "$seed" --verify --quiet
            rm -f /dev/shm/tierpage-faults-$$-$name.pmem
        done
    done
done
finish
