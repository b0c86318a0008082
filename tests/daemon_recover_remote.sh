#!/bin/bash
# A tierpaged killed with SIGKILL while it evicts and demotes pages into a
# remote tier (memcached, redis: a tier with a write-back queue in the
# daemon's memory), started again on the same state_dir: no page is lost
# (daemon/STATE.md, "Order of writes": a page's memfd page, or its dram
# copy, stays until the store has acknowledged the put). The VMs' stacks
# have a small dram tier, then the remote one, and a resident cap far
# below what their programs write, so every round sends pages through
# the queue; the daemon is killed several times in the middle of the
# rounds, and every word reads back as written.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
. "$SRC/tests/fixtures/redis_servers.sh"
trap 'mc_stop_all; redis_stop_all; daemon_cleanup' EXIT
RESUME_CLIENT=$BUILD/tests/resume_client

if mc_start mc 256; then pass "a memcached server"; else fail "memcached did not start"; finish; exit 1; fi
if redis_start rd --maxmemory 256mb --maxmemory-policy noeviction; then pass "a redis server"; else
    fail "redis did not start"; finish; exit 1
fi
# remote_stack NAME PLUGIN SERVER: 2MiB resident, 2MiB of dram, then PLUGIN.
remote_stack() {
    cat >"$STACKS/$1.yaml" <<YAML
name: $1-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 2MiB
  - plugin: $2
    servers: [$3]
YAML
}
remote_stack mc memcached "127.0.0.1:$MC_PORT"
remote_stack rd redis "${REDIS_ADDR[rd]}"
start_daemon || exit 1

recovered() { "$TIERPAGE" status --socket "$SOCK" | grep -Eq "^$1 +[0-9]+ .*\(recovered\)"; }

# kill_during_rounds VM TIER MiB ROUNDS KILLS: a client (resume_client)
# writes and checks MiB in rounds, at least ROUNDS and on until the kills
# are done; once TIER holds pages of VM, the daemon is SIGKILLed KILLS times
# at short random moments, each time started again; every round must read
# back every word as written.
kill_during_rounds() {
    local vm=$1 tier=$2 mib=$3 rounds=$4 kills=$5
    "$RESUME_CLIENT" "$SOCK" "$vm" "$mib" "$rounds" --until "$WORK/$vm.enough" >"$WORK/$vm.out" 2>"$WORK/$vm.err" &
    local run=$!
    wait_while_running "$run" 60 more_than 100 stat_of "$vm" pages "$tier"
    local held
    held=$(stat_of "$vm" pages "$tier")
    local kill_no done_kills=0
    for kill_no in $(seq 1 "$kills"); do
        kill -0 "$run" 2>/dev/null || break
        kill_daemon
        start_daemon || exit 1
        wait_while_running "$run" 60 recovered "$vm" || break
        done_kills=$kill_no
        sleep "0.$((RANDOM % 5 + 1))"
    done
    touch "$WORK/$vm.enough"
    local rc=0
    if ended_within "$run" 180; then
        wait "$run"
        rc=$?
    else
        fail "$vm: the client still ran 180 s after the last kill"
        tail -5 "$WORK/daemon.log" | sed 's/^/      /'
        rc=124
    fi
    local resumes
    resumes=$(grep -c "^resumed" "$WORK/$vm.err")
    [ "${held:-0}" -gt 100 ] && pass "$vm: $tier held $held of its pages before the first kill" ||
        fail "$vm: $tier held ${held:-no} pages"
    [ "$done_kills" = "$kills" ] && [ "$resumes" -ge "$kills" ] &&
        pass "$vm: the daemon was killed $kills times while the rounds ran; the client resumed $resumes times" ||
        fail "$vm: $done_kills kills done, $resumes resumes"
    local made
    made=$(grep -c "^round " "$WORK/$vm.out")
    [ "$rc" = 0 ] && grep -q "^done" "$WORK/$vm.out" && ! grep -q " bad " "$WORK/$vm.out" &&
        [ "$made" -ge "$rounds" ] && [ "$(grep -c "^round .* ok$" "$WORK/$vm.out")" = "$made" ] &&
        pass "$vm: every one of its $made rounds read back every word as written" ||
        { fail "$vm: client exit $rc"; sed 's/^/      /' "$WORK/$vm.out" "$WORK/$vm.err" | tail -20; }
}

# The sanitizer suite's lighter run (TIERPAGE_TEST_LIGHT=1) kills it twice
# under memcached's rounds, not four times.
mc_kills=4
[ "${TIERPAGE_TEST_LIGHT:-0}" = 1 ] && mc_kills=2
kill_during_rounds mc memcached 16 3 "$mc_kills"
kill_during_rounds rd redis 16 2 2

# The same through the shim: tierpage-bench --verify (random reads and
# writes), its pages going through dram into memcached, the daemon killed
# three times once memcached holds its pages; it makes accesses until the
# last daemon has served it a while.
"$TIERPAGE" run --daemon "$SOCK" --vm mc -- "$BENCH" --size 24MiB --accesses 100000000 \
    --until "$WORK/bench.enough" --verify --json --quiet >"$WORK/bench.out" 2>&1 &
bench_run=$!
for kill_no in 1 2 3; do
    wait_while_running "$bench_run" 60 more_than 100 stat_of mc pages memcached
    kill -0 "$bench_run" 2>/dev/null || { fail "the run ended before kill $kill_no"; break; }
    kill_daemon
    start_daemon || exit 1
    wait_while_running "$bench_run" 60 recovered mc && pass "kill $kill_no: tierpage run resumed vm mc" ||
        { kill -0 "$bench_run" 2>/dev/null && fail "kill $kill_no: vm mc not recovered"; break; }
    sleep "0.$((RANDOM % 5 + 1))"
done
end_once_served mc "$bench_run" "$WORK/bench.enough"
expect_exit "the verified run completes" 0 "$bench_run" "$WORK/bench.out"
expect_output '"verify":"ok","bad_pages":0' "and tierpage-bench verified every page" "$WORK/bench.out"
expect_no_wrong_data "it" "$WORK/bench.out"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
