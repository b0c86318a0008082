# Verified workloads over faulty stores: gets, puts and deletes that fail
# with EIO, puts refused as full, stalls, and an outage. Every page must
# read back as written (tierpage-bench --verify exits 0), or the program
# must be stopped with a message (exit 125) -- never zeros or stale data.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/faults_lib.sh"

for queue in "" "    writeback_queue: 0"; do
    mode=${queue:+direct}
    mode=${mode:-queued}
    stack "$WORK/get-$mode.yaml" "    get_eio: 1/1000
    seed: 11
$queue"
    verified "get-$mode" "one get in a thousand fails with EIO ($mode puts)" get_eio
    stack "$WORK/put-$mode.yaml" "    put_eio: 1/1000
    seed: 12
$queue"
    verified "put-$mode" "one put in a thousand fails with EIO ($mode puts)" put_eio
    stack "$WORK/many-$mode.yaml" "    get_eio: 1/50
    put_eio: 1/50
    del_eio: 1/50
    seed: 13
$queue"
    verified "many-$mode" "one get, put and delete in fifty fail ($mode puts)" put_eio
    stack "$WORK/stall-$mode.yaml" "    get_stall: 1/200
    put_stall: 1/200
    stall_time: 20ms
$queue"
    verified "stall-$mode" "one call in two hundred stalls for 20 ms ($mode puts)" get_stall
done

finish
