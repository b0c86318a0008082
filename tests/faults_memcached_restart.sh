# A memcached server restarted empty in the middle of a verified run, while
# it held the only copy of pages: tierpage must notice a page that is gone
# and stop the program with a message naming the tier (exit 125), never
# hand it a zero page.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
trap 'mc_stop_all; rm -rf "$WORK"' EXIT

if mc_start only 256; then pass "a memcached server"; else fail "memcached did not start"; finish; exit 1; fi
mc_stack_file "$WORK/s.yaml" mc-restart-$$ 2MiB "127.0.0.1:$MC_PORT" "store_timeout: 5s"
"$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 64MiB --accesses 400000 --verify >"$WORK/out" 2>&1 &
run_pid=$!
# Pages are in the server once the run has gone through the pattern pass.
wait_while_running "$run_pid" 10 more_than 8000 mc_stat only curr_items
items=$(mc_stat only curr_items)
if kill -0 "$run_pid" 2>/dev/null && mc_restart only 256; then
    pass "the server held $items pages and was restarted empty during the run"
else
    fail "the run ended, or the server did not restart ($items pages)"
fi
expect_exit "the program was stopped" 125 "$run_pid" "$WORK/out"
# A fault finds its page gone once the tier has taken the restarted server
# back (or, had it not come back, the server out of service until
# store_timeout): either way the message names the tier.
expect_output "tierpage: fatal: .*tier 'memcached'" "the message names the tier"
expect_no_wrong_data "the program" "$WORK/out"
finish
