#!/bin/bash
# fork() in programs tierpaged serves: parent and child each see the served
# memory as it was at the fork and then their own writes only, with pages
# resident, in dram and in the slow tier (pmem, memcached) at the fork
# (tests/programs/fork_cow.c checks every word). The child is a client of
# its own, VM/PID in `status`; a child killed with SIGKILL and a child that
# execs leave no page in any tier (status, stats, and the keys on the
# memcached server), and the daemon and the parent go on.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; daemon_cleanup' EXIT
FORK_COW=$CLIENT_BUILD/tests/fork_cow

mc_start s1 256 || { fail "memcached did not start"; finish; exit 1; }
MC=$MC_PORT
# 4 MiB resident, 4 MiB of dram: half of fork_cow's 16 MiB or more is in
# the slow tier at the fork.
vm_stack pm 4MiB 4MiB 256MiB
mc_stack_file "$STACKS/mc.yaml" mc-$$ 4MiB "127.0.0.1:$MC"
# The same with `namespace: exclusive`, which the program holds: its
# children's pages are under instances of their own.
sed "s/^name: mc-.*/name: mx-$$\nnamespace: exclusive/" "$STACKS/mc.yaml" >"$STACKS/mx.yaml"
start_daemon || exit 1

# page_keys: the pages of VM mc's namespace on the server, per instance
# ("<instance> <count>").
page_keys() {
    mc_keys "$MC" | awk -F: -v ns="mc-$$" '$1 == "tp" && $2 == ns && NF == 4 { n[$3]++ } END { for (i in n) print i, n[i] }'
}
# entries: the forked children's lines of `status` (VM/PID).
entries() { "$TIERPAGE" status --socket "$SOCK" | awk 'NR > 1 && $1 ~ /\//'; }
no_entries() { [ -z "$(entries)" ]; }
no_page_keys() { [ -z "$(page_keys)" ]; }
parent_keys_only() { [ "$(page_keys)" = "$parent_keys" ]; }

for vm in pm mc; do
    for t in basic nested; do
        expect_status 0 "$vm: fork_cow $t under the daemon" -- \
            timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm $vm -- "$FORK_COW" 16 $t
        expect_output "fork_cow $t: all checks passed" "$vm: fork_cow $t reports every check passed"
    done
    grep -q "$vm/[0-9]*: [0-9]* pages of pid" "$WORK/daemon.log" && pass "$vm: the daemon copied the children's pages" ||
        fail "$vm: no copy in the daemon's log"
    wait_for "$vm: its pages and its children's are released" released $vm
done
expect_status 0 "mx (namespace: exclusive): fork_cow basic under the daemon" -- \
    timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm mx -- "$FORK_COW" 16 basic
expect_output "fork_cow basic: all checks passed" "mx: fork_cow basic reports every check passed"
wait_for "mx: its pages and its children's are released" released mx
wait_for "no forked child's entry is left" no_entries
wait_for "no page of VM mc is left on the server" no_page_keys

# A watched child, killed or exec'ing, of a parent whose 16 MiB are half
# in the slow tier.
for vm in pm mc; do
    slow=$([ $vm = pm ] && echo pmem || echo memcached)
    for how in kill exec; do
        dir=$WORK/$vm-$how
        mkdir -p "$dir"
        mkfifo "$dir/fork" "$dir/exec" "$dir/go"
        "$TIERPAGE" run --daemon "$SOCK" --vm $vm -- "$FORK_COW" 16 watched "$dir" $how >"$WORK/$vm-$how.out" 2>&1 &
        run=$!
        wait_while_running $run 60 test -s "$dir/parent"
        parent_keys=$(page_keys)
        echo fork >"$dir/fork"
        wait_while_running $run 120 test -s "$dir/child"
        child=$(cat "$dir/child" 2>/dev/null || echo 0)
        line=$(entries | awk -v e="$vm/$child" '$1 == e')
        [ -n "$line" ] && [ "$(echo "$line" | awk '{ print $2 }')" = "$child" ] &&
            pass "$vm $how: the child is served as $vm/$child: $line" ||
            fail "$vm $how: no entry $vm/$child in status: $(entries)"
        child_slow=$(stat_of "$vm/$child" pages $slow 2>/dev/null || echo 0)
        [ "${child_slow:-0}" -gt 1000 ] && pass "$vm $how: the child's stats show $child_slow pages in $slow" ||
            fail "$vm $how: the child's stats show ${child_slow:-none} pages in $slow"
        if [ $vm = mc ]; then
            new=$(page_keys | grep -vxF "$parent_keys" || true)
            [ "$(echo "$new" | grep -c .)" = 1 ] && [ "$(echo "$new" | awk '{ print $2 }')" -gt 1000 ] &&
                pass "mc $how: the child's pages are on the server under an instance of its own ($new)" ||
                fail "mc $how: parent's keys '$parent_keys', now: $(page_keys | tr '\n' ' ')"
        fi
        if [ $how = exec ]; then
            echo exec >"$dir/exec"
            wait_for "$vm exec: the child's entry goes at its exec" no_entries
            [ $vm = pm ] || wait_for "mc exec: the child's keys go at its exec" parent_keys_only
            [ "$(cat "/proc/$child/comm" 2>/dev/null)" = sleep ] &&
                pass "$vm exec: while the program it exec'd runs" || fail "$vm exec: the child is not running sleep"
        fi
        kill -9 "$child" 2>/dev/null
        wait_while_running $run 60 test -s "$dir/reaped"
        [ "$(cat "$dir/reaped" 2>/dev/null)" = 0 ] && pass "$vm $how: the parent's wait saw the child killed" ||
            fail "$vm $how: the parent's checks so far: '$(cat "$dir/reaped" 2>/dev/null)'"
        wait_for "$vm $how: no forked child's entry is left" no_entries
        if [ $vm = mc ]; then
            parent_keys_only && pass "mc $how: only the parent's pages are on the server" ||
                fail "mc $how: the parent had '$parent_keys', the server holds: $(page_keys | tr '\n' ' ')"
        fi
        echo go >"$dir/go"
        wait $run
        status=$?
        [ $status = 0 ] && pass "$vm $how: the parent's memory is whole after its child" ||
            { fail "$vm $how: the parent exited $status"; sed 's/^/      /' "$WORK/$vm-$how.out" | tail -5; }
        wait_for "$vm $how: every page is released" released $vm
    done
done
wait_for "no page of VM mc is left on the server" no_page_keys
ls /dev/shm | grep -q "tierpage-test-$$-pm.pmem.fork" && fail "a child's pmem file is left in /dev/shm" ||
    pass "no child's pmem file is left in /dev/shm"
grep -E ' error: ' "$WORK/daemon.log" && fail "the daemon logged errors" || pass "the daemon logged no error"
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
