# Shared by the shell tests of the shared tiers (memcached, redis): one
# running stack per namespace. The caller defines ns_count NAME, which
# prints how many page keys of namespace NAME its servers hold (every
# instance), and sets NS_LEASE_MS to the lease_ms of the stacks whose lease
# runs out in the test (ns_killed, ns_stalled) and NS_LEASE_WAIT to the
# seconds after which such a lease, not renewed, is surely gone.
# A stack whose lease need not run out in its test keeps it NS_LEASE_LONG
# (the caller writes it as the stack's lease_ms): a run stalled by a loaded
# machine longer than the short lease would lose its lease and stop.
NS_LEASE_LONG=10s

# Eight times the stacks' 2 MiB cap, most of it on the servers.
NS_BENCH=(--size 16MiB --accesses 10000 --verify --quiet)


# ns_two_at_once WHAT STACK TIER: two verified workloads with different
# seeds at once under one stack file: had they shared a key, one would read
# the other's page and fail its verification.
ns_two_at_once() {
    local what=$1 stack=$2 tier=$3 s1 s2
    rm -f "$WORK/two1.json" "$WORK/two2.json"
    "$TIERPAGE" run -c "$stack" --stats "$WORK/two1.json" -- "$BENCH" "${NS_BENCH[@]}" --seed 11 \
        >"$WORK/two1.out" 2>&1 &
    local p1=$!
    "$TIERPAGE" run -c "$stack" --stats "$WORK/two2.json" -- "$BENCH" "${NS_BENCH[@]}" --seed 12 \
        >"$WORK/two2.out" 2>&1 &
    local p2=$!
    wait "$p1"; s1=$?
    wait "$p2"; s2=$?
    if [ "$s1" = 0 ] && [ "$s2" = 0 ]; then
        pass "$what: two verified workloads at once with one stack file, both exact"
    else
        fail "$what: two workloads at once exited $s1 and $s2"
        tail -n 5 "$WORK/two1.out" "$WORK/two2.out" | sed 's/^/      /'
    fi
    local h1 h2
    h1=$(tier_field "$WORK/two1.json" "$tier" hits) h2=$(tier_field "$WORK/two2.json" "$tier" hits)
    [ "$h1" -gt 0 ] && [ "$h2" -gt 0 ] && pass "$what: both read pages back from the $tier tier ($h1 and $h2 hits)" ||
        fail "$what: $tier hits $h1 and $h2"
}

# ns_wait_pages NAME MORE_THAN PID: waits (30 s at most) while PID runs
# until namespace NAME has more than MORE_THAN pages; prints the count.
ns_wait_pages() {
    wait_while_running "$3" 30 more_than "$2" ns_count "$1"
    ns_count "$1"
}

# ns_killed WHAT STACK NAME: a workload killed (SIGKILL) while its pages are
# on the servers leaves them there while its lease lives; once the lease
# ran out, the next open of the namespace (tierpage check) removes them.
ns_killed() {
    local what=$1 stack=$2 name=$3 run child n=0
    "$TIERPAGE" run -c "$stack" -- "$BENCH" --size 48MiB --accesses 2000000 --quiet >"$WORK/killed.out" 2>&1 &
    run=$!
    n=$(ns_wait_pages "$name" 1000 "$run")
    child=$(pgrep -P "$run")
    if [ -n "$child" ] && [ "$n" -gt 1000 ]; then
        kill -9 "$child"
        wait "$run"
        pass "$what: a workload was killed (SIGKILL) with $n pages on the servers"
    else
        kill "$run" 2>/dev/null
        wait "$run"
        fail "$what: the workload did not get pages to the servers ($n)"
        return
    fi
    n=$(ns_count "$name")
    [ "$n" -gt 0 ] && pass "$what: its $n pages stay while its lease lives" || fail "$what: its pages went at once"
    sleep "$NS_LEASE_WAIT"
    expect_status 0 "$what: a later open of the namespace" -- "$TIERPAGE" check "$stack"
    n=$(ns_count "$name")
    [ "$n" = 0 ] && pass "$what: the later open removed the dead instance's pages" ||
        fail "$what: $n pages of the dead instance are left"
}

# ns_exclusive WHAT STACK NAME SERVER: with namespace: exclusive, a second
# start while the first runs is refused, naming the server and the namespace;
# the first then ends its accesses and verifies.
ns_exclusive() {
    local what=$1 stack=$2 name=$3 server=$4 run
    rm -f "$WORK/excl.enough"
    "$TIERPAGE" run -c "$stack" -- "$BENCH" --size 48MiB --accesses 60000 --until "$WORK/excl.enough" \
        --verify --quiet >"$WORK/excl.out" 2>&1 &
    run=$!
    ns_wait_pages "$name" 0 "$run" >/dev/null
    expect_status 2 "$what: a second start on an exclusive namespace in use is refused" -- \
        "$TIERPAGE" run -c "$stack" -- "$BENCH" --size 1MiB --quiet
    expect_output "$server.*namespace '$name' is in use by another running stack" \
        "$what: the refusal names the server and the namespace"
    touch "$WORK/excl.enough"
    wait "$run"
    local s=$?
    [ "$s" = 0 ] && pass "$what: the first stack ran on, verified" ||
        { fail "$what: the first stack exited $s"; tail -n 5 "$WORK/excl.out" | sed 's/^/      /'; }
}

# ns_stalled WHAT STACK NAME: a workload stopped (SIGSTOP) longer than its
# lease counts as gone: a second start then runs, and its open removes the
# first one's pages. The first, when it runs again, must find its lease
# lost and stop with that reason (exit 125) before it reads or writes
# another page, never carry on as if it still held the namespace.
ns_stalled() {
    local what=$1 stack=$2 name=$3 run child n s
    "$TIERPAGE" run -c "$stack" -- "$BENCH" --size 48MiB --accesses 2000000 --verify --quiet \
        >"$WORK/stalled.out" 2>&1 &
    run=$!
    n=$(ns_wait_pages "$name" 1000 "$run")
    child=$(pgrep -P "$run")
    if [ -z "$child" ] || [ "$n" -le 1000 ]; then
        kill "$run" 2>/dev/null
        wait "$run"
        fail "$what: the workload did not get pages to the servers ($n)"
        tail -n 5 "$WORK/stalled.out" | sed 's/^/      /'
        return
    fi
    kill -STOP "$child"
    sleep "$NS_LEASE_WAIT"
    expect_status 0 "$what: a second start once the first, stopped, let its lease run out" -- \
        "$TIERPAGE" run -c "$stack" -- "$BENCH" --size 8MiB --accesses 20000 --verify --quiet
    kill -CONT "$child"
    wait "$run"
    s=$?
    if [ "$s" = 125 ] && grep -q "lost the lease on namespace '$name'" "$WORK/stalled.out"; then
        pass "$what: the first, running again, stops: it lost its lease (exit 125)"
    else
        fail "$what: the first, running again, exited $s without saying it lost its lease"
        tail -n 5 "$WORK/stalled.out" | sed 's/^/      /'
    fi
    ! grep -Eq "missing from tier|FAILED" "$WORK/stalled.out" &&
        pass "$what: it read no page after losing its lease (none missing, none wrong)" ||
        { fail "$what: it read on after losing its lease"; tail -n 5 "$WORK/stalled.out" | sed 's/^/      /'; }
}
