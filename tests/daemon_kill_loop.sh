#!/bin/bash
# tierpaged killed with SIGKILL again and again under running workloads
# (issue 13): at least KILLS times (24 by default) under each, at moments
# of three kinds, each time a new daemon started on the state the killed
# one left (state_dir):
#   random  a random delay of 50-800 ms after the client was last taken back;
#   burst   while evictions rise (two looks at the VM's stats 0.1 s apart:
#           the program is faulting pages in and pushing others out);
#   demote  while `tierpage demote VM --to TIER` is moving the VM's pages
#           into its slowest tier
#           (the kill falls 5-40 ms after it was sent, and its answer
#           must be the lost daemon, not a finished demote).
# Workloads:
#   bench   tierpage-bench --verify over 128 MiB through a 16 MiB cap, its
#           pages spread over a 32 MiB dram tier, 48 MiB of pmem (a file
#           on /dev/shm) and memcached (a server of the test's own), run
#           after run (random and zipf accesses, each run a new client)
#           until the kills are done; it demotes into memcached, through
#           the tier's write-back queue;
#   guest   a QEMU guest (256 MiB, -accel tcg, under a 48 MiB cap, dram
#           then pmem) whose init runs memtester.
# Each kill is made while the client is attached (status shows its pid,
# not waiting for it), and counts only when the client then says it was
# taken back; every workload must end with exit 0 and verify (every byte
# of tierpage-bench's pages; every memtester test ok). Every wait has a
# limit, and a failure names the seed and the kill.
#
#   daemon_kill_loop.sh [bench] [guest]     (both by default)
#   SEED=N replays the random choices (the order of the kinds, the
#   delays); KILLS=N kills per workload (at least 20).
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
GUEST_TIMEOUT=${TIERPAGE_GUEST_TIMEOUT:-3600}
PARTS=${*:-bench guest}
KILLS=${KILLS:-24}
[ "$KILLS" -ge 20 ] 2>/dev/null || { echo "KILLS must be a whole number, at least 20, got '$KILLS'"; exit 2; }
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "SEED must be a whole number, got '$SEED'"; exit 2; }
echo "kill loop: seed $SEED (SEED=$SEED $0 $PARTS replays its choices), $KILLS kills per workload"
trap 'echo "kill loop: seed $SEED"; [ -z "${RUN:-}" ] || kill -TERM "$RUN" 2>/dev/null; mc_stop_all; daemon_cleanup' EXIT

# Every operator command (here and in daemon_lib.sh) within 30 s: a daemon
# that stops answering fails the test, never hangs it. `tierpage run`
# calls the program itself.
TIERPAGE_RUN=$TIERPAGE
printf '#!/bin/sh\nexec timeout 30 %q "$@"\n' "$TIERPAGE_RUN" >"$WORK/tierpage"
chmod +x "$WORK/tierpage"
TIERPAGE=$WORK/tierpage

# The script's own random numbers, from SEED alone (the fixtures use
# $RANDOM too): rand N sets R to a number from 0 to N-1.
rng=$SEED
rand() {
    rng=$(((rng * 1103515245 + 12345) % 2147483648))
    R=$(((rng >> 8) % $1))
}

# plan_kills N: PLAN, N kinds in an order drawn from the seed: a quarter
# of them bursts, a fifth demotes, the rest random moments.
plan_kills() {
    local n=$1 i j t
    PLAN=()
    for ((i = 0; i < n; i++)); do
        if ((i < n / 4)); then PLAN+=(burst)
        elif ((i < n / 4 + n / 5)); then PLAN+=(demote)
        else PLAN+=(random); fi
    done
    for ((i = n - 1; i > 0; i--)); do
        rand $((i + 1)); j=$R
        t=${PLAN[i]}; PLAN[i]=${PLAN[j]}; PLAN[j]=$t
    done
}

vm_stack kg 48MiB 64MiB 512MiB       # the guest: dram, then pmem
# tierpage-bench's: dram, then pmem, then memcached. 128 MiB through a
# 16 MiB cap fills the first two and spills into the third.
if [[ " $PARTS " == *" bench "* ]]; then
    mc_start killloop 512 || { fail "memcached did not start"; finish; exit 1; }
    cat >"$STACKS/kb.yaml" <<YAML
name: kb-$$
resident: 16MiB
tiers:
  - plugin: dram
    capacity: 32MiB
  - plugin: pmem
    path: /dev/shm/tierpage-test-$$-kb.pmem
    capacity: 48MiB
  - plugin: memcached
    servers: [127.0.0.1:$MC_PORT]
    connect_timeout_ms: 10s   # a loaded machine is no server gone
    io_timeout_ms: 10s
YAML
fi

# The workload under test: its VM, the pid of its `tierpage run` (of QEMU
# for the guest), and the file its stderr goes to (where the shim says it
# was taken back).
VM= RUN= RUN_LOG= DEMOTE_TO=
CONTEXT=   # names the seed, the workload and the kill in failures

# line_of VM: the VM's line of `tierpage status` (empty when none).
line_of() { "$TIERPAGE" status --socket "$SOCK" 2>/dev/null | awk -v vm="$1" '$1 == vm'; }
# attached: a client is attached to VM and served (not waited for, not
# resuming).
attached() {
    local line
    line=$(line_of "$VM")
    [ -n "$line" ] && [ "$(echo "$line" | awk '{print $2}')" != - ] &&
        ! echo "$line" | grep -Eq '\((waiting for its client|resuming)'
}
resumes() { grep -ac "the daemon is back: VM $VM resumed" "$RUN_LOG"; }

# evictions_of VM: its evictions so far (read without python: a look
# must be quick).
evictions_of() {
    local json
    json=$("$TIERPAGE" stats "$1" --json --socket "$SOCK" 2>/dev/null) || return 1
    [[ $json =~ \"evictions\":\ *([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}
# evictions_rising: the VM's evictions grew by 100 pages or more between
# two looks 0.1 s apart; BURST says by how many, in how long.
evictions_rising() {
    local e1 e2 t1 t2
    t1=${EPOCHREALTIME/./}
    e1=$(evictions_of "$VM") || return 1
    sleep 0.1
    e2=$(evictions_of "$VM") || return 1
    t2=${EPOCHREALTIME/./}
    BURST="$((e2 - e1)) pages evicted in $(((t2 - t1) / 1000)) ms"
    [ $((e2 - e1)) -ge 100 ]
}

# kill_at KIND: waits for a moment of KIND, then SIGKILLs the daemon while
# the client is attached. KILLED says what happened: 1 killed at such a
# moment (DURING says when); 2 killed, but not during a demote (it had
# finished, or the daemon had not taken it up yet); 0 no kill: the demote
# finished first, or the workload ended first (ENDED=1). Returns 1 when a
# wait ran out (failed then).
kill_at() {
    local kind=$1 demote_pid= rc delay
    KILLED=0 DURING= ENDED=0
    if ! wait_while_running "$RUN" 60 attached; then
        kill -0 "$RUN" 2>/dev/null || { ENDED=1; return 0; }
        fail "$CONTEXT: no client attached to $VM within 60 s"; return 1
    fi
    case $kind in
    random)
        rand 751; delay=$((50 + R))
        sleep "$(printf '0.%03d' "$delay")"
        DURING="at a random moment, $delay ms after the client was served"
        ;;
    burst)
        BURST=
        if ! wait_while_running "$RUN" 60 evictions_rising; then
            kill -0 "$RUN" 2>/dev/null || { ENDED=1; return 0; }
            fail "$CONTEXT: no rise of evictions within 60 s"; return 1
        fi
        DURING="during an eviction burst ($BURST)"
        ;;
    demote)
        "$TIERPAGE" demote "$VM" --to "$DEMOTE_TO" --socket "$SOCK" >"$WORK/demote.out" 2>&1 &
        demote_pid=$!
        rand 36; delay=$((5 + R))
        sleep "$(printf '0.%03d' "$delay")"
        DURING="during a demote to $DEMOTE_TO, $delay ms after it was sent"
        ;;
    esac
    if ! attached; then
        [ -z "$demote_pid" ] || wait "$demote_pid"
        kill -0 "$RUN" 2>/dev/null || { ENDED=1; return 0; }
        fail "$CONTEXT: the client is no longer attached, and its run goes on"; return 1
    fi
    if [ -n "$demote_pid" ] && ! kill -0 "$demote_pid" 2>/dev/null; then
        wait "$demote_pid"
        DURING="(the demote finished before the kill: $(tr '\n' ' ' <"$WORK/demote.out"))"
        return 0
    fi
    status_before=$(line_of "$VM")
    client=$(echo "$status_before" | awk '{print $2}')
    kill_daemon || { fail "$CONTEXT: cannot kill tierpaged"; return 1; }
    KILLED=1
    if [ -n "$demote_pid" ]; then
        wait "$demote_pid"
        rc=$?
        # Exit 3 naming the daemon: it went away while the demote waited
        # for its end. Else it was done, or never taken up (a connection
        # the daemon had not accepted is reset).
        [ "$rc" = 3 ] && grep -q "tierpage demote: tierpaged at $SOCK" "$WORK/demote.out" ||
            { DURING="(not during the demote sent $delay ms before, which ended $rc: $(tr '\n' ' ' <"$WORK/demote.out"))"
              KILLED=2; }
    fi
    return 0
}

# kill_loop N: N kills of the planned kinds under the workload, each
# followed by a new daemon and a check that the client was taken back.
# next_workload is called first each time (it starts a new run when the
# last one ended, or fails when it cannot). Sets KILLS_DONE.
kill_loop() {
    local n=$1 k=0 i=0 kind misses=0 seen_all=0
    plan_kills "$n"
    KILLS_DONE=0
    while [ "$i" -lt "$n" ]; do
        k=$((k + 1))
        kind=${PLAN[i]}
        CONTEXT="seed $SEED, $WORKLOAD, kill $k ($kind)"
        next_workload || return 1
        kill_at "$kind" || return 1
        if [ "$ENDED" = 1 ]; then
            echo "      $CONTEXT: the run ended first"
            continue
        elif [ "$KILLED" != 1 ]; then
            # A demote that finished first: no kill, or a kill that was not
            # during a demote. Its kind comes again (up to 20 misses).
            misses=$((misses + 1))
            echo "      $CONTEXT: $DURING; once more"
            [ "$misses" -le 20 ] || { fail "$CONTEXT: the demote always finished before the kill"; return 1; }
            if [ "$KILLED" = 0 ]; then continue; fi
        fi
        start_daemon || { fail "$CONTEXT: no new daemon"; return 1; }
        if wait_while_running "$RUN" 60 taken_back "$client"; then
            KILLS_DONE=$((KILLS_DONE + 1))
            [ "$KILLED" = 2 ] || i=$((i + 1))   # the plan goes on
            pass "$CONTEXT: killed $DURING ($(echo "$status_before" | awk '{$1 = ""; print}' | sed 's/^ *//')); taken back"
            every_tier_used "$status_before" && seen_all=1
        elif ! kill -0 "$RUN" 2>/dev/null && [ "$WORKLOAD" = bench ]; then
            # The client ended instead: a run that was ending at the kill
            # (exit 0, verified) and the kill does not count; else it fails.
            judge_round "$CONTEXT"
            [ "$ROUND_FAILED" = 0 ] || { fail "$CONTEXT: the client was not taken back: its run ended (above)"; return 1; }
            echo "      $CONTEXT: the run was ending at the kill; not counted"
        else
            fail "$CONTEXT: client $client was not taken back within 60 s of the new daemon$(kill -0 "$RUN" 2>/dev/null || echo " (it ended: $RUN is gone)")"
            line_of "$VM" | sed 's/^/      /'; tail -5 "$RUN_LOG" | sed 's/^/      /'; tail -5 "$WORK/daemon.log" | sed 's/^/      /'
            return 1
        fi
    done
    [ "$seen_all" = 1 ] && pass "$WORKLOAD: the kills found pages in every tier" ||
        fail "seed $SEED, $WORKLOAD: no kill found pages in every tier"
}

# every_tier_used LINE: a status line whose every tier holds pages.
every_tier_used() {
    echo "$1" | awk '{ for (i = 6; i <= NF && $i ~ /:/; i++) { split($i, a, ":"); n++; if (a[2] == 0) bad = 1 } }
        END { exit bad || n < 2 }'
}
# taken_back PID: status shows the VM served again, recovered, by client
# PID (the one attached at the kill: RESUME_DONE came from it).
taken_back() {
    line_of "$VM" | awk -v pid="$1" '$2 == pid && /\(recovered\)$/ {found = 1} END {exit !found}'
}

# ---- tierpage-bench --verify, run after run ----

ROUND=0
ROUND_FAILED=0
ROUND_FIRST_KILL=0   # KILLS_DONE when the run started
ROUND_JUDGED=0       # the last run judge_round judged
# start_round: a new verified run, attached (within 60 s).
start_round() {
    local pattern
    ROUND=$((ROUND + 1))
    rand 2; pattern=$([ "$R" = 0 ] && echo random || echo zipf)
    RUN_LOG=$WORK/round$ROUND.err
    "$TIERPAGE_RUN" run --daemon "$SOCK" --vm kb -- "$BENCH" --size 128MiB --accesses 400000 --pattern "$pattern" \
        --seed "$ROUND" --verify --json --quiet >"$WORK/round$ROUND.json" 2>"$RUN_LOG" &
    RUN=$!
    ROUND_FIRST_KILL=${KILLS_DONE:-0}
    echo "      bench run $ROUND: --pattern $pattern --seed $ROUND, pid $RUN"
    wait_while_running "$RUN" 60 attached ||
        { fail "seed $SEED, bench run $ROUND: not attached within 60 s"; tail -5 "$RUN_LOG"; return 1; }
}
# judge_round [WHEN]: the run ended with exit 0 and verified every page.
judge_round() {
    local rc kills=$((KILLS_DONE - ROUND_FIRST_KILL)) when=${1:-seed $SEED, bench, after kill $KILLS_DONE}
    ROUND_JUDGED=$ROUND
    wait "$RUN"
    rc=$?
    [ "$(resumes)" = "$kills" ] && pass "bench run $ROUND said it was taken back after each of its $kills kills" ||
        fail "seed $SEED, bench run $ROUND: taken back $(resumes) times after $kills kills"
    if [ "$rc" = 0 ] && grep -q '"verify":"ok","bad_pages":0' "$WORK/round$ROUND.json"; then
        pass "bench run $ROUND completes and verifies every page, across $kills kills"
    else
        ROUND_FAILED=1
        fail "$when: bench run $ROUND: exit $rc, $(cat "$WORK/round$ROUND.json")"
        tail -20 "$RUN_LOG" | sed 's/^/      /'
    fi
    expect_no_wrong_data "bench run $ROUND" "$RUN_LOG"
}
next_bench_workload() {
    kill -0 "$RUN" 2>/dev/null && return 0
    [ "$ROUND_JUDGED" = "$ROUND" ] || judge_round
    [ "$ROUND_FAILED" = 0 ] || return 1
    start_round
}

bench_part() {
    WORKLOAD=bench VM=kb DEMOTE_TO=memcached
    local start=$SECONDS
    [ -n "$daemon_pid" ] || start_daemon || return 1
    start_round || return 1
    next_workload() { next_bench_workload; }
    kill_loop "$KILLS"
    local loop_rc=$?
    # The last run ends on its own, within 10 minutes.
    if [ "$ROUND_JUDGED" = "$ROUND" ]; then
        :
    elif ended_within "$RUN" 600; then
        judge_round
    else
        fail "seed $SEED, bench run $ROUND: still running 10 minutes after the last kill ($KILLS_DONE): hangs"
        tail -20 "$RUN_LOG" | sed 's/^/      /'
    fi
    [ "$loop_rc" = 0 ] && [ "$KILLS_DONE" -ge "$KILLS" ] &&
        pass "bench: $KILLS_DONE kills over $ROUND run(s) in $((SECONDS - start)) s" ||
        fail "seed $SEED, bench: $KILLS_DONE kills of $KILLS"
    wait_for "bench: its pages are released when the last run ends" released kb
}

# ---- a QEMU guest's memtester ----

memtest_started() { grep -aqs 'guest: kernel' "$WORK/guest.log"; }
guest_done() { grep -aqs TIERPAGE-GUEST-DONE "$WORK/guest.log"; }
next_guest_workload() {
    guest_done && { fail "$CONTEXT: the guest's memory test ended before the kills did (a larger memory test is needed)"; return 1; }
    kill -0 "$RUN" 2>/dev/null || { fail "$CONTEXT: QEMU ended during its memory test"; return 1; }
}

guest_part() {
    WORKLOAD=guest VM=kg DEMOTE_TO=pmem
    local start=$SECONDS boot
    guest_prerequisites || return 1
    command -v memtester >/dev/null || { need_pkg memtester memtester; return 1; }
    guest_initramfs --no-rdma --init "$SRC/tests/guest/memtest_init.sh" --add "$(command -v memtester)" || return 1
    [ -n "$daemon_pid" ] || start_daemon || return 1
    # The console (and the shim's lines on QEMU's stderr) go to guest.log.
    guest_boot "$WORK/guest.log" 256 "nosoftlockup tierpage.memtest=${GUEST_MEMTEST:-160M} tierpage.loops=${GUEST_LOOPS:-2} tierpage.mask=0x3" \
        "$TIERPAGE_RUN" run --daemon "$SOCK" --vm kg -- >"$WORK/guest.console" 2>&1 &
    boot=$!
    RUN_LOG=$WORK/guest.log
    wait_while_running "$boot" 600 memtest_started || { fail "seed $SEED, guest: the memory test never started"; 
        cat "$WORK/guest.console"; return 1; }
    RUN=$(line_of kg | awk '$2 != "-" {print $2}')
    [ -n "$RUN" ] && pass "guest: QEMU (pid $RUN) is served by the daemon, its memory test running" ||
        { fail "seed $SEED, guest: no client attached to kg"; return 1; }
    next_workload() { next_guest_workload; }
    kill_loop "$KILLS"
    local loop_rc=$?
    wait "$boot"
    cat "$WORK/guest.console"
    guest_judge "guest: memtester under a tierpaged killed $KILLS_DONE times" "$WORK/guest.log"
    # The shim's lines (the daemon went away, is back) break memtester's
    # lines where they fall: taken out first.
    python3 -c 'import re, sys
sys.stdout.write(re.sub(r"tierpage: tierpaged at [^\n]*\n", "", open(sys.argv[1], errors="replace").read()))' \
        "$WORK/guest.log" >"$WORK/guest.memtester"
    memtester_results "$WORK/guest.memtester" >"$WORK/guest.results"
    [ -s "$WORK/guest.results" ] && ! grep -qv ': ok$' "$WORK/guest.results" &&
        pass "guest: every memtester test ok" || fail "seed $SEED, guest: memtester: $(cat "$WORK/guest.results")"
    local took
    took=$(grep -ac "the daemon is back: VM kg resumed" "$WORK/guest.log")
    [ "$took" = "$KILLS_DONE" ] && pass "guest: QEMU said it was taken back after each kill ($took)" ||
        fail "seed $SEED, guest: taken back $took times after $KILLS_DONE kills"
    [ "$loop_rc" = 0 ] && [ "$KILLS_DONE" -ge "$KILLS" ] &&
        pass "guest: $KILLS_DONE kills in $((SECONDS - start)) s" ||
        fail "seed $SEED, guest: $KILLS_DONE kills of $KILLS"
    wait_for "guest: its pages are released when QEMU exits" released kg
}

for part in $PARTS; do
    case $part in
    bench) bench_part ;;
    guest) guest_part ;;
    *) echo "daemon_kill_loop.sh: unknown part '$part' (bench, guest)"; exit 2 ;;
    esac
done
# SIGTERM stops the last daemon, within 60 s.
if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid"
    wait_while_running "$daemon_pid" 60 false
    if kill -0 "$daemon_pid" 2>/dev/null; then
        fail "seed $SEED: tierpaged still runs 60 s after SIGTERM"
    else
        wait "$daemon_pid"
        rc=$?
        [ "$rc" = 0 ] && pass "SIGTERM stops the last daemon" || fail "seed $SEED: the last daemon exited $rc on SIGTERM"
        daemon_pid=
    fi
fi
echo "kill loop: seed $SEED"
finish
