#!/bin/sh
# The RDMA checks, run inside the test guest by /init (tests/guest/init.sh)
# or directly on a host that has an RDMA device (tests/rdma_guest.sh).
# Prints one line per check, then "N passed, N failed" and the sentinel
# TIERPAGE-GUEST-DONE that the host side waits for.
#   RDMA_ADDR  an address of the RDMA device (required)
#   TP_BIN     where tierpage, tierpage-memserver and tierpage-bench are
#   TP_BENCH   the workload of the dram -> rdma run (default: 32MiB, 20000
#              accesses, eight times the 2MiB resident cap and 4MiB dram
#              tier: about half a minute in a TCG guest, where paging runs
#              about a thousand faults a second); the replicas run uses
#              half of it
#   RDMA_NETDEV the network device under the RDMA device, which the checks
#              may take down for two seconds (init.sh sets it in the guest;
#              without it the lost-connection check is skipped)
# $1: all (default), smoke (plugin-test only), reconnect (the
#     lost-connection check only), namespaces (one running stack per
#     namespace only), secret (the shared secret only), fork (fork with
#     an rdma tier only) or fork-loop (the fork checks TP_ROUNDS times,
#     default 30, each round with memserver f and its logs fresh).
ADDR=${RDMA_ADDR:?set RDMA_ADDR}
BIN=${TP_BIN:-/opt/tierpage/bin}
BENCH_SIZE=${TP_BENCH:---size 32MiB --accesses 20000}
KILL_BENCH_SIZE="--size 16MiB --accesses 10000"
FLAP_BENCH_SIZE="--size 16MiB --accesses 20000"
TWO_BENCH_SIZE="--size 10MiB --accesses 5000"
MODE=${1:-all}
WORK=$(mktemp -d /tmp/rdma-checks.XXXXXX)
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
show() { sed 's/^/      /' "$1" | tail -"${2:-15}"; }

# start_server NAME PORT ARGS...: a memserver in the background, logging to $WORK/NAME.log
start_server() {
    name=$1 port=$2
    shift 2
    "$BIN/tierpage-memserver" --listen "$ADDR" --port "$port" "$@" >"$WORK/$name.log" 2>&1 &
    eval "PID_$name=$!"
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        grep -qs "listening on" "$WORK/$name.log" && return 0
        sleep 0.25
    done
    return 1
}
stop_server() { # NAME [SIGNAL]
    eval "pid=\$PID_$1"
    [ -n "$pid" ] && kill -"${2:-TERM}" "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    eval "PID_$1="
}

# run_check DESCRIPTION WANT_STATUS CMD...: output in $WORK/out
run_check() {
    what=$1 want=$2
    shift 2
    start=$(date +%s)
    "$@" >"$WORK/out" 2>&1
    got=$?
    secs=$(($(date +%s) - start))
    if [ "$got" = "$want" ]; then pass "$what (${secs}s)"; else
        fail "$what: exit $got, expected $want (${secs}s)"; show "$WORK/out" 25; fi
}
expect_output() { # PATTERN DESCRIPTION: also shows the matching lines
    if grep -Eq -- "$1" "$WORK/out"; then pass "$2"; grep -E -- "$1" "$WORK/out" | head -2 | sed 's/^/      /'; else
        fail "$2: no '$1' in the output"; show "$WORK/out"; fi
}

# stack FILE SERVERS REPLICAS [NAME [TOP-LEVEL LINE]]: dram (small) -> rdma
stack() {
    cat >"$1" <<YAML
name: ${4:-guest-$$}
${5:-}
resident: 2MiB
handler_threads: 1
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: rdma
    servers: [$2]
    replicas: $3
    connect_timeout_ms: 2000
YAML
}

# The shared secret: memserver k (--key-file) serves a client whose
# key_file holds its key, and refuses, logging the client's address, one
# with another key or none; a client with key_file refuses a server that
# asks for no key (memserver c).
check_secret() {
    head -c 32 /dev/urandom | base64 >"$WORK/key"
    head -c 32 /dev/urandom | base64 >"$WORK/wrong.key"
    chmod 600 "$WORK/key" "$WORK/wrong.key"
    cp "$WORK/key" "$WORK/open.key"; chmod 644 "$WORK/open.key"
    run_check "memserver --key-file readable by others is refused" 2 \
        "$BIN/tierpage-memserver" --listen "$ADDR" --port 7475 --key-file "$WORK/open.key"
    expect_output "mode 0644 lets others than its owner read it" "the mode is named"
    if ! start_server k 7475 --pool 32MiB --slab 1MiB --key-file "$WORK/key"; then
        fail "memserver k (--key-file) did not start"; show "$WORK/k.log"; return
    fi
    grep -q "clients must prove the shared secret of $WORK/key" "$WORK/k.log" && pass "memserver k asks for the key" ||
        { fail "memserver k does not say it asks for the key"; show "$WORK/k.log"; }
    # keyed FILE SERVER KEYFILE: dram (small) -> rdma with key_file
    keyed() {
        stack "$1" "$2" 1 "secret-$$"
        [ -n "$3" ] && echo "    key_file: $3" >>"$1"
    }
    keyed "$WORK/wrong.yaml" "$ADDR:7475" "$WORK/wrong.key"
    run_check "a client with another key is refused before its program runs" 2 \
        "$BIN/tierpage" run -c "$WORK/wrong.yaml" -- "$BIN/tierpage-bench" --size 4MiB --accesses 100
    expect_output "server $ADDR:7475: the server refused us: it holds another shared secret than key_file" \
        "the client says why"
    grep -Eq "client $ADDR:[0-9]+ \(namespace secret-$$\): refused: it did not prove the shared secret of --key-file \(a wrong key\)" \
        "$WORK/k.log" && pass "memserver k logged the refused client with its address" ||
        { fail "no refusal with an address in k's log"; show "$WORK/k.log"; }
    keyed "$WORK/nokey.yaml" "$ADDR:7475" ""
    run_check "a client without key_file is refused" 2 \
        "$BIN/tierpage" run -c "$WORK/nokey.yaml" -- "$BIN/tierpage-bench" --size 4MiB --accesses 100
    expect_output "it asks for a shared secret \(its --key-file\): set key_file" "the client is told to set key_file"
    grep -Eq "client $ADDR:[0-9]+ \(namespace secret-$$\): refused: .*\(no key_file on its side\)" "$WORK/k.log" &&
        pass "memserver k logged that one too" || { fail "no second refusal in k's log"; show "$WORK/k.log"; }
    if grep -q "slab [0-9]* allocated" "$WORK/k.log"; then fail "memserver k gave a slab to a refused client"; else
        pass "no refused client was given a slab"; fi
    keyed "$WORK/keyed.yaml" "$ADDR:7475" "$WORK/key"
    run_check "bench --verify ($TWO_BENCH_SIZE) through a memserver that checks the key" 0 \
        "$BIN/tierpage" run -c "$WORK/keyed.yaml" -- "$BIN/tierpage-bench" $TWO_BENCH_SIZE --verify --quiet
    grep -q "client $ADDR:[0-9]* (namespace secret-$$): slab [0-9]* allocated" "$WORK/k.log" &&
        pass "memserver k served the client that proved the key" || { fail "k served no slab"; show "$WORK/k.log"; }
    keyed "$WORK/keyless-server.yaml" "$C" "$WORK/key"
    run_check "a client with key_file refuses a server that asks for no key" 2 \
        "$BIN/tierpage" run -c "$WORK/keyless-server.yaml" -- "$BIN/tierpage-bench" --size 4MiB --accesses 100
    expect_output "asks for no shared secret .* refusing to give it pages" "and says why"
    stop_server k
}

# A lost connection is retried: memserver d (--grace 30) alone behind dram;
# while the run pages through it, $RDMA_NETDEV goes down for two seconds,
# which fails the queue pair. The tier reconnects and says HELLO with its
# session again, d gives the session its slabs back, and every page reads
# back as written.
check_reconnect() {
    if [ -z "${RDMA_NETDEV:-}" ]; then
        echo "skip  lost connection: RDMA_NETDEV is not set (only the test guest takes its link down)"
        return
    fi
    if ! start_server d 7474 --pool 64MiB --slab 1MiB --grace 30; then
        fail "memserver d (--grace 30) did not start"; show "$WORK/d.log"; return
    fi
    stack "$WORK/grace.yaml" "$ADDR:7474" 1
    start=$(date +%s)
    "$BIN/tierpage" run -c "$WORK/grace.yaml" -- "$BIN/tierpage-bench" $FLAP_BENCH_SIZE --verify \
        >"$WORK/grace.out" 2>&1 &
    run=$!
    for _ in $(seq 1 60); do
        [ "$(grep -c 'slab [0-9]* allocated' "$WORK/d.log")" -ge 4 ] && break
        sleep 0.5
    done
    sleep 1
    if kill -0 $run 2>/dev/null; then
        pass "the run is still going when $RDMA_NETDEV goes down ($(grep -c 'slab [0-9]* allocated' "$WORK/d.log") slabs on d)"
    else
        fail "the run ended before $RDMA_NETDEV could be taken down"
    fi
    # Soft-RoCE reports each packet it cannot route; keep that off the console.
    read -r console_level _ </proc/sys/kernel/printk
    echo 1 >/proc/sys/kernel/printk
    ip link set "$RDMA_NETDEV" down
    sleep 2
    ip link set "$RDMA_NETDEV" up
    wait $run
    got=$?
    echo "$console_level" >/proc/sys/kernel/printk
    secs=$(($(date +%s) - start))
    cp "$WORK/grace.out" "$WORK/out"
    grep -E "tierpage: rdma:|^verify:" "$WORK/out" | head -6 | sed 's/^/      /'
    if [ "$got" = 0 ] && grep -Eq "^verify: +ok" "$WORK/out"; then
        pass "bench --verify ($FLAP_BENCH_SIZE) passed across a 2 s outage of $RDMA_NETDEV (${secs}s)"
    else
        fail "bench --verify across a 2 s outage of $RDMA_NETDEV: exit $got (${secs}s)"; show "$WORK/out" 25
    fi
    expect_output "reconnected to $ADDR:7474, its [0-9]+ slabs are still there" \
        "the tier reconnected and found its slabs still there"
    # d parks the session's slabs when the connection goes, then gives them back.
    gone='\(namespace guest-[0-9]+\) disconnected: keeping its [0-9]+ slabs for 30s'
    back='\(namespace guest-[0-9]+\) reconnected within the grace period: [0-9]+ slabs reattached'
    gone_at=$(grep -En "$gone" "$WORK/d.log" | head -1 | cut -d: -f1)
    back_at=$(grep -En "$back" "$WORK/d.log" | head -1 | cut -d: -f1)
    if [ -n "$gone_at" ] && [ -n "$back_at" ] && [ "$gone_at" -lt "$back_at" ]; then
        pass "memserver d kept the slabs of the lost connection and reattached them"
        sed -n "${gone_at}p; ${back_at}p" "$WORK/d.log" | sed 's/^/      /'
    else
        fail "memserver d logged no disconnect and reattach"; show "$WORK/d.log" 12
    fi
    grep -q "grace period over" "$WORK/d.log" && { fail "memserver d's grace period ran out"; show "$WORK/d.log"; }
    stop_server d
}

# The pid of the program a `tierpage run` (pid $1) started.
child_of() {
    for stat in /proc/[0-9]*/stat; do
        set -- "$1" $(cat "$stat" 2>/dev/null)
        [ "${5:-}" = "$1" ] && { echo "$2"; return; }
    done
}

# slabs_given LOG: how many slabs a memserver has given so far
slabs_given() { grep -c 'slab [0-9]* allocated' "$1"; }

# One running stack per namespace, on memserver e (no grace): two verified
# runs of one stack file at once; a run killed (SIGKILL), whose slabs e
# frees as soon as its connection drops; namespace: exclusive refusing a
# second start while the first runs.
check_namespaces() {
    if ! start_server e 7475 --pool 64MiB --slab 1MiB; then
        fail "memserver e did not start"; show "$WORK/e.log"; return
    fi
    stack "$WORK/two.yaml" "$ADDR:7475" 1 ns-$$
    start=$(date +%s)
    "$BIN/tierpage" run -c "$WORK/two.yaml" -- "$BIN/tierpage-bench" $TWO_BENCH_SIZE --seed 11 --verify --quiet \
        >"$WORK/two1.out" 2>&1 &
    p1=$!
    "$BIN/tierpage" run -c "$WORK/two.yaml" -- "$BIN/tierpage-bench" $TWO_BENCH_SIZE --seed 12 --verify --quiet \
        >"$WORK/two2.out" 2>&1 &
    p2=$!
    wait $p1; s1=$?
    wait $p2; s2=$?
    secs=$(($(date +%s) - start))
    if [ "$s1" = 0 ] && [ "$s2" = 0 ]; then
        pass "two verified runs ($TWO_BENCH_SIZE) of one stack file at once through memserver e, both exact (${secs}s)"
    else
        fail "two runs of one stack file at once: exit $s1 and $s2 (${secs}s)"; show "$WORK/two1.out"; show "$WORK/two2.out"
    fi

    given=$(slabs_given "$WORK/e.log")
    "$BIN/tierpage" run -c "$WORK/two.yaml" -- "$BIN/tierpage-bench" --size 16MiB --accesses 1000000 --quiet \
        >"$WORK/killed.out" 2>&1 &
    run=$!
    for _ in $(seq 1 120); do
        [ "$(slabs_given "$WORK/e.log")" -ge $((given + 4)) ] && break
        sleep 0.5
    done
    child=$(child_of $run)
    if [ -n "$child" ] && kill -9 "$child"; then
        wait $run
        pass "a run was killed (SIGKILL) with $(($(slabs_given "$WORK/e.log") - given)) slabs of memserver e"
    else
        fail "the run to kill was not running"; kill $run 2>/dev/null; wait $run
    fi
    freed=
    for _ in $(seq 1 20); do
        freed=$(grep -E "namespace ns-$$\) disconnected: freed [0-9]+ slabs; 64 MiB of 64 MiB free" "$WORK/e.log")
        [ -n "$freed" ] && break
        sleep 0.5
    done
    if [ -n "$freed" ]; then
        pass "memserver e freed the killed run's slabs when its connection dropped: the pool is all free"
        echo "$freed" | tail -1 | sed 's/^/      /'
    else
        fail "memserver e did not free the killed run's slabs"; show "$WORK/e.log" 8
    fi

    stack "$WORK/excl.yaml" "$ADDR:7475" 1 excl-$$ "namespace: exclusive"
    given=$(slabs_given "$WORK/e.log")
    "$BIN/tierpage" run -c "$WORK/excl.yaml" -- "$BIN/tierpage-bench" --size 16MiB --accesses 1000000 --quiet \
        >"$WORK/excl.out" 2>&1 &
    run=$!
    for _ in $(seq 1 120); do
        [ "$(slabs_given "$WORK/e.log")" -gt "$given" ] && break
        sleep 0.5
    done
    run_check "a second start on an exclusive namespace in use is refused" 2 \
        "$BIN/tierpage" run -c "$WORK/excl.yaml" -- "$BIN/tierpage-bench" --size 1MiB --quiet
    expect_output "rdma: server $ADDR:7475: namespace 'excl-$$' is in use by another running stack" \
        "the refusal names the server and the namespace"
    kill -0 $run 2>/dev/null && pass "the first exclusive run goes on" || fail "the first exclusive run stopped"
    child=$(child_of $run)
    [ -n "$child" ] && kill -9 "$child"
    wait $run
    stop_server e
}

# held LOG PEER: slabs the client at PEER holds on a memserver, by its log
held() {
    awk -v p="]: client $2 " 'index($0, p) && / allocated;/ { n++ } index($0, p) && / freed;/ { n-- }
        END { print n + 0 }' "$1"
}
# hello_peers LOG NAME: the address of each client that said HELLO with
# namespace NAME, in order
hello_peers() { sed -n "s/^.*client \([^ ]*\): hello, namespace $2 .*/\1/p" "$1"; }
# freed_at_disconnect LOG PEER: "SLABS FREE_MIB" once that client's
# connection dropped, empty before
freed_at_disconnect() {
    sed -n "s/^.*client $2 (namespace [^)]*) disconnected: freed \([0-9]*\) slabs; \([0-9]*\) MiB of .*/\1 \2/p" "$1" |
        tail -1
}
# wait_for SECONDS CMD...: CMD every 0.2 s until it succeeds
wait_for() {
    t=$(($1 * 5))
    shift
    while ! "$@"; do
        t=$((t - 1)); [ "$t" -gt 0 ] || return 1
        sleep 0.2
    done
}
nonempty() { [ -n "$("$@")" ]; }
# tell FIFO: wakes the program ($run) that waits on FIFO, unless it ended
tell() {
    echo go >"$1" &
    writer=$!
    wait_for 60 sh -c "! kill -0 $writer 2>/dev/null || ! kill -0 $run 2>/dev/null"
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
}

# fork with an rdma tier, on memserver f (no grace): parent and child each
# see the memory as at the fork and their own writes (fork_cow checks every
# word) with most of it on the memserver at the fork; the child has a
# session of its own, whose slabs the memserver frees when the child ends
# by _exit, SIGKILL or exec, while the parent's stay.
check_fork() {
    if ! command -v fork_cow >/dev/null; then
        fail "fork: no fork_cow in this image"; return
    fi
    if ! start_server f 7476 --pool 32MiB --slab 1MiB; then
        fail "memserver f did not start"; show "$WORK/f.log"; return
    fi
    # forkstack FILE NAME: 512 KiB resident, 512 KiB of dram, the rest on f
    forkstack() {
        cat >"$1" <<YAML
name: $2
resident: 512KiB
handler_threads: 1
tiers:
  - plugin: dram
    capacity: 512KiB
  - plugin: rdma
    servers: [$ADDR:7476]
YAML
    }
    forkstack "$WORK/fork.yaml" fork-basic-$$
    run_check "fork_cow 2 basic over dram + rdma: parent and child each see their own memory" 0 \
        "$BIN/tierpage" run -c "$WORK/fork.yaml" -- fork_cow 2 basic
    expect_output "fork_cow basic: all checks passed" "fork_cow basic checked every word on both sides"
    hits=$(sed -n 's/^tierpage: rdma  *rdma  *[0-9]*  *\([0-9]*\) .*/\1/p' "$WORK/out")
    [ "${hits:-0}" -gt 0 ] && pass "the parent read $hits pages back from the rdma tier" ||
        { fail "the parent read nothing from the rdma tier"; show "$WORK/out"; }
    set -- $(hello_peers "$WORK/f.log" fork-basic-$$)
    if [ $# = 2 ]; then
        parent=$1 child=$2
        wait_for 10 nonempty freed_at_disconnect "$WORK/f.log" "$child"
        set -- $(freed_at_disconnect "$WORK/f.log" "$child") 0
        [ "$1" -gt 0 ] && [ "$1" = "$(held "$WORK/f.log" "$child")" ] &&
            pass "the child's own session held $1 slabs, freed when it exited" ||
            { fail "the child's session ($child): freed '$1' slabs at its end, held $(held "$WORK/f.log" "$child")";
              show "$WORK/f.log"; }
        wait_for 10 nonempty freed_at_disconnect "$WORK/f.log" "$parent"
        set -- $(freed_at_disconnect "$WORK/f.log" "$parent") 0 0
        [ "$2" = 32 ] && pass "once both ended, memserver f's pool is all free" ||
            { fail "after the run, $2 MiB of 32 MiB free"; show "$WORK/f.log"; }
    else
        fail "fork basic: $# sessions of the namespace said HELLO, expected the parent's and the child's"
        show "$WORK/f.log"
    fi

    # A child killed (SIGKILL), and a child that execs: its session's slabs
    # go at once, the parent's stay.
    for how in kill exec; do
        name=fork-$how-$$
        dir=$WORK/fork-$how
        mkdir -p "$dir"
        mkfifo "$dir/fork" "$dir/exec" "$dir/go"
        forkstack "$WORK/$how.yaml" $name
        "$BIN/tierpage" run -c "$WORK/$how.yaml" --quiet -- fork_cow 2 watched "$dir" $how >"$WORK/$how.out" 2>&1 &
        run=$!
        wait_for 60 test -s "$dir/parent"
        parent=$(hello_peers "$WORK/f.log" $name | head -1)
        before=$(held "$WORK/f.log" "$parent")
        tell "$dir/fork"
        wait_for 60 test -s "$dir/child"
        pid=$(cat "$dir/child" 2>/dev/null)
        child=$(hello_peers "$WORK/f.log" $name | sed -n 2p)
        if [ "$before" -gt 0 ] && [ -n "$child" ] && [ "$(held "$WORK/f.log" "$child")" -gt 0 ]; then
            pass "$how: the parent had $before slabs on f at the fork, its child $(held "$WORK/f.log" "$child") of its own session"
        else
            fail "$how: parent $parent with '$before' slabs at the fork, child '$child'"; show "$WORK/f.log"
        fi
        if [ $how = exec ]; then
            tell "$dir/exec"
            wait_for 20 nonempty freed_at_disconnect "$WORK/f.log" "$child" &&
                [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] &&
                pass "exec: f freed the child's slabs at its exec, while the program it exec'd runs" ||
                { fail "exec: the child's session: '$(freed_at_disconnect "$WORK/f.log" "$child")', its process: $(cat "/proc/$pid/comm" 2>/dev/null)"
                  show "$WORK/f.log"; }
        fi
        [ -n "$pid" ] && [ "$pid" -gt 1 ] && kill -9 "$pid" 2>/dev/null
        wait_for 20 nonempty freed_at_disconnect "$WORK/f.log" "$child"
        set -- $(freed_at_disconnect "$WORK/f.log" "$child") 0 0
        kept=$(held "$WORK/f.log" "$parent")
        [ "$1" -gt 0 ] && [ "$2" = $((32 - kept)) ] &&
            pass "$how: f freed the child's $1 slabs; the parent's $kept stay ($2 MiB of 32 MiB free)" ||
            { fail "$how: the child's end freed '$1' slabs, $2 MiB free, the parent holds $kept"; show "$WORK/f.log"; }
        wait_for 20 test -s "$dir/reaped"
        [ "$(cat "$dir/reaped" 2>/dev/null)" = 0 ] && pass "$how: the parent's wait saw the child killed" ||
            fail "$how: the parent's checks so far: '$(cat "$dir/reaped" 2>/dev/null)'"
        tell "$dir/go"
        wait $run
        got=$?
        [ $got = 0 ] && pass "$how: the parent's memory is whole after its child" ||
            { fail "$how: the parent exited $got"; show "$WORK/$how.out"; }
    done
    stop_server f
}

A=$ADDR:7471 B=$ADDR:7472 C=$ADDR:7473
if start_server a 7471 --pool 96MiB --slab 1MiB --grace 10 && start_server b 7472 --pool 96MiB --slab 1MiB &&
    start_server c 7473 --pool 4MiB --slab 1MiB; then
    pass "three memservers listening on $ADDR:7471-7473"
else
    fail "memservers did not start"; show "$WORK/a.log"; show "$WORK/b.log"; show "$WORK/c.log"
fi

[ "$MODE" = namespaces ] && { check_namespaces; stop_server a; stop_server b; stop_server c;
    echo "$passed passed, $failed failed"; echo TIERPAGE-GUEST-DONE; exit 0; }
[ "$MODE" = secret ] && { check_secret; stop_server a; stop_server b; stop_server c;
    echo "$passed passed, $failed failed"; echo TIERPAGE-GUEST-DONE; exit 0; }
[ "$MODE" = fork ] && { check_fork; stop_server a; stop_server b; stop_server c;
    echo "$passed passed, $failed failed"; echo TIERPAGE-GUEST-DONE; exit 0; }
if [ "$MODE" = fork-loop ]; then
    top=$WORK round=1
    while [ $round -le "${TP_ROUNDS:-30}" ]; do
        echo "round $round of ${TP_ROUNDS:-30} ($passed passed, $failed failed so far)"
        WORK=$top/round-$round
        mkdir -p "$WORK"
        check_fork
        round=$((round + 1))
    done
    WORK=$top
    stop_server a; stop_server b; stop_server c
    echo "$passed passed, $failed failed"; echo TIERPAGE-GUEST-DONE; exit 0
fi
[ "$MODE" = reconnect ] && { check_reconnect; stop_server a; stop_server b; stop_server c;
    echo "$passed passed, $failed failed"; echo TIERPAGE-GUEST-DONE; exit 0; }

# 1. The conformance kit: two servers; replicas 2; and a pool that fills up
#    (capacity=0: the tier's capacity is what the server has).
run_check "plugin-test rdma over two servers" 0 \
    "$BIN/tierpage" plugin-test rdma --option servers=$A,$B --option queue_depth=8
expect_output "rdma: [0-9]+ passed, 0 failed" "every conformance check passed over two servers"
run_check "plugin-test rdma with replicas=2" 0 \
    "$BIN/tierpage" plugin-test rdma --option servers=$A,$B --option replicas=2
expect_output "rdma: [0-9]+ passed, 0 failed" "every conformance check passed with replicas=2"
run_check "plugin-test rdma until a 4MiB memserver is full" 0 \
    "$BIN/tierpage" plugin-test rdma --option servers=$C --option capacity=0
expect_output "ok +full: [0-9]+ pages put until -ENOSPC" "the full server's refusal is -ENOSPC"
grep -q "slab refused, the pool is full" "$WORK/c.log" && pass "memserver c logged the refusal" ||
    { fail "memserver c logged no refusal"; show "$WORK/c.log"; }

[ "$MODE" = smoke ] && { stop_server a; stop_server b; stop_server c; echo "$passed passed, $failed failed";
    echo TIERPAGE-GUEST-DONE; exit 0; }

# 2. tierpage-bench --verify through dram (small) -> rdma. The default
# clock policy: on the guest's Linux 6.1 it also proves the core's way
# around UFFDIO_CONTINUE_MODE_WP, which kernels before 6.4 refuse.
stack "$WORK/rdma.yaml" "$A, $B" 1
run_check "bench --verify ($BENCH_SIZE) through dram -> rdma (2 servers)" 0 \
    "$BIN/tierpage" run -c "$WORK/rdma.yaml" -- "$BIN/tierpage-bench" $BENCH_SIZE --verify --quiet
hits=$(sed -n 's/^tierpage: rdma  *rdma  *[0-9]*  *\([0-9]*\) .*/\1/p' "$WORK/out")
[ "${hits:-0}" -gt 0 ] && pass "the rdma tier served $hits pages" || { fail "no hits on the rdma tier"; show "$WORK/out"; }

# 2b. A sequential sweep writing half the pages: pages fetched ahead from
# rdma are mapped write-protected, which Linux 6.1 does in two steps (map,
# then protect), and a write the program makes in between is found by
# comparing each page with its fetched copy: every page must read back.
run_check "bench --verify --pattern seq through dram -> rdma: pages mapped ahead keep their writes" 0 \
    "$BIN/tierpage" run -c "$WORK/rdma.yaml" -- "$BIN/tierpage-bench" --size 24MiB --pattern seq --write-ratio 0.5 \
    --accesses 12288 --verify --quiet
mapped=$(sed -n 's/^tierpage: prefetch: \([0-9]*\) pages mapped ahead.*/\1/p' "$WORK/out")
[ "${mapped:-0}" -gt 1000 ] && pass "$mapped pages from rdma were mapped ahead of the sweep" ||
    { fail "the sequential sweep had '${mapped:-0}' pages mapped ahead"; show "$WORK/out"; }

# 3. replicas: 2 and memserver b killed (SIGKILL) in the middle of the run.
stack "$WORK/replicas.yaml" "$A, $B" 2
given=$(slabs_given "$WORK/b.log") # b gave slabs to the run of 2 as well
"$BIN/tierpage" run -c "$WORK/replicas.yaml" -- "$BIN/tierpage-bench" $KILL_BENCH_SIZE --verify --quiet \
    >"$WORK/replicas.out" 2>&1 &
run=$!
for _ in $(seq 1 60); do
    [ "$(slabs_given "$WORK/b.log")" -ge $((given + 4)) ] && break
    sleep 0.5
done
sleep 2
if kill -0 $run 2>/dev/null; then pass "the replicas=2 run is still going when memserver b is killed"; else
    fail "the replicas=2 run ended before memserver b could be killed"; fi
stop_server b KILL
echo "      (memserver b killed with $(($(slabs_given "$WORK/b.log") - given)) slabs given to the run)"
wait $run
got=$?
cp "$WORK/replicas.out" "$WORK/out"
grep "tierpage: rdma:" "$WORK/out" | sort | uniq -c | head -5 | sed 's/^/      /'
if [ "$got" = 0 ]; then pass "replicas=2: bench --verify passed with memserver b killed mid-run"; else
    fail "replicas=2 with b killed: exit $got"; show "$WORK/out" 25; fi

# 4. A lost connection is retried, and memserver d keeps the slabs for it.
check_reconnect

# 5. One running stack per namespace.
check_namespaces

# 6. The shared secret.
check_secret

# 7. fork: a child's session of its own, freed when the child ends.
check_fork

# 8. A server that is not there: the run fails at once and names it.
stack "$WORK/missing.yaml" "$ADDR:7479" 1
"$BIN/tierpage" run -c "$WORK/missing.yaml" -- "$BIN/tierpage-bench" --size 8MiB --accesses 100 >"$WORK/out" 2>&1
got=$?
if [ "$got" != 0 ] && ! grep -q "verify:" "$WORK/out"; then
    pass "a stack whose memserver is not there is refused before the program runs (exit $got)"
else
    fail "a stack whose memserver is not there: exit $got"; show "$WORK/out"
fi
expect_output "rdma: server $ADDR:7479: connection refused" "the message names the missing server"

# 9. Clean shutdown: SIGTERM, exit 0, every slab back.
eval "pid=\$PID_a"
kill -TERM "$pid"; wait "$pid"; got=$?; PID_a=
[ "$got" = 0 ] && grep -q "stopped:" "$WORK/a.log" && pass "memserver a stopped cleanly on SIGTERM" ||
    { fail "memserver a: exit $got on SIGTERM"; show "$WORK/a.log"; }
stop_server c
echo "      memserver a's log (last lines):"
show "$WORK/a.log" 8

echo "$passed passed, $failed failed"
echo TIERPAGE-GUEST-DONE
