# memcached itself (Debian's) as the paged program: `tierpage run` with 4
# MiB resident, a 4 MiB dram tier, then a second memcached as the tier,
# holding 16 MiB of values. tierpage-kv-load sets every key, drives random
# gets and sets from 4 connections (every get checked) and reads every key
# back; then one key deleted and one changed behind its back must be the
# two values its check finds wrong, so the check is shown able to fail.
# All of it twice: with the kernel's write tracking where offered, then
# with write faults, where the pages from the tier are compared by digest.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
app=
# The paged memcached is stopped through its tierpage run (under timeout),
# which hands SIGTERM on to it and then writes the stats.
stop_app() {
    [ -n "$app" ] || return 0
    kill -TERM "$app" 2>/dev/null
    wait "$app"
    app_status=$?
    app=
}
trap 'stop_app; mc_stop_all; rm -rf "$WORK"' EXIT
KV_LOAD=$CLIENT_BUILD/bin/tierpage-kv-load
KEYS=4194 # 16 MiB of 4000-byte values

stop_here() { fail "$1"; finish; exit 1; }

mc_start tier 128 >/dev/null || stop_here "the tier's memcached did not start"
mc_stack_file "$WORK/stack.yaml" mc-app-$$ 4MiB "127.0.0.1:$MC_PORT"

# Helpers of the checks; $port is the paged memcached of the run.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
kv() { "$KV_LOAD" --kind memcached --server "127.0.0.1:$port" --keys "$KEYS" --connections 4 "$@"; }
# field FILE PHASE.KEY (or KEY): one value of tierpage-kv-load's JSON line
field() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k]
print(d)' "$1" "$2"
}

# paged_memcached TRACKING: the whole check, with TIERPAGE_WRITE_TRACKING
# set to TRACKING for the paged memcached.
paged_memcached() {
    local tracking=$1
    echo "  with write tracking: $tracking"
    port=$(mc_free_port) || stop_here "no free port for the paged memcached"
    TIERPAGE_WRITE_TRACKING=$tracking timeout 600 "$TIERPAGE" run -c "$WORK/stack.yaml" --stats "$WORK/app.json" -- \
        memcached -u root -l 127.0.0.1 -p "$port" -U 0 -m 64 -M </dev/null >"$WORK/app.log" 2>&1 &
    app=$!
    if wait_while_running "$app" 30 listening; then pass "memcached starts under tierpage run (4 MiB resident)"; else
        sed 's/^/      /' "$WORK/app.log"; stop_here "memcached did not start under tierpage run"; fi

    kv --load --ops 10000 --set-ratio 0.2 --verify >"$WORK/run.json" 2>"$WORK/run.err"
    status=$?
    if [ "$status" = 0 ] && [ "$(field "$WORK/run.json" verify)" = ok ]; then
        pass "$KEYS keys loaded, 10000 requests driven, every key read back right"
    else
        fail "load, drive and read back: exit $status"; sed 's/^/      /' "$WORK/run.json" "$WORK/run.err" | tail -10
    fi
    for phase in run readback; do
        wrong=$(field "$WORK/run.json" "$phase.wrong" 2>/dev/null || echo missing)
        done_=$(field "$WORK/run.json" "$phase.requests" 2>/dev/null || echo 0)
        want=$([ "$phase" = run ] && echo 10000 || echo "$KEYS")
        [ "$wrong" = 0 ] && [ "$done_" = "$want" ] && pass "$phase: $done_ requests, none wrong" ||
            fail "$phase: $done_ requests of $want, wrong: $wrong"
    done
    sets=$(field "$WORK/run.json" run.sets 2>/dev/null || echo 0)
    [ "$sets" -gt 1000 ] && pass "the drive wrote $sets new values" || fail "the drive wrote $sets values"

    # Set every key again (generation 0), then change one and delete another
    # behind the checker's back.
    kv --load >"$WORK/reload.json" 2>&1 || fail "reloading: $(tail -1 "$WORK/reload.json")"
    printf 'set key:000000000042 0 0 5\r\nwrong\r\ndelete key:000000000007\r\nquit\r\n' |
        (exec 3<>"/dev/tcp/127.0.0.1/$port" && cat >&3 && cat <&3) | tr -d '\r' >"$WORK/tamper.out"
    [ "$(paste -sd' ' "$WORK/tamper.out")" = "STORED DELETED" ] && pass "one key changed and one deleted" ||
        fail "tampering: $(paste -sd' ' "$WORK/tamper.out")"
    kv --verify >"$WORK/tampered.json" 2>"$WORK/tampered.err"
    status=$?
    wrong=$(field "$WORK/tampered.json" readback.wrong 2>/dev/null || echo missing)
    [ "$status" = 1 ] && [ "$wrong" = 2 ] && pass "the read back finds exactly those 2 values wrong (exit 1)" ||
        fail "the read back after tampering: exit $status, $wrong wrong (expected exit 1, 2 wrong)"
    grep -q 'key:000000000042\|key:000000000007' "$WORK/tampered.err" && pass "it names a tampered key" ||
        fail "no tampered key named: $(head -3 "$WORK/tampered.err")"

    items=$(mc_stat tier curr_items)
    [ "${items:-0}" -gt 1000 ] && pass "the tier's server holds $items pages" || fail "the tier's server holds ${items:-no} pages"

    stop_app
    [ "$app_status" = 0 ] && pass "memcached and tierpage run ended on SIGTERM (exit 0)" ||
        { fail "tierpage run exited $app_status"; tail -5 "$WORK/app.log" | sed 's/^/      /'; }

    # It was paged: faults served, pages written to the memcached tier and
    # brought back from it.
    faults=$(json_field "$WORK/app.json" faults 2>/dev/null || echo 0)
    puts=$(tier_field "$WORK/app.json" memcached puts)
    hits=$(tier_field "$WORK/app.json" memcached hits)
    [ "$faults" -gt 10000 ] && pass "$faults faults served" || fail "faults served: $faults"
    [ "$puts" -gt 1000 ] && [ "$hits" -gt 1000 ] && pass "the memcached tier took $puts pages and gave back $hits" ||
        fail "the memcached tier: $puts puts, $hits hits"
    # Its GETs write the pages they read: no first write is a write fault
    # (the kernel records it, or the page was mapped writable with its digest).
    write_faults=$(json_field "$WORK/app.json" write_faults 2>/dev/null || echo -1)
    [ "$write_faults" -ge 0 ] && [ $((write_faults * 100)) -le "$hits" ] &&
        pass "$write_faults write faults for $hits pages read back" ||
        fail "$write_faults write faults for $hits pages read back (expected under 1%)"
}

# The kernel's tracking where offered, then write faults: there a page
# from the memcached tier is mapped writable and compared by digest.
paged_memcached auto
paged_memcached faults
finish
