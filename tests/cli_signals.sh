# tierpage run: a program's signal handlers never run on the pager's threads.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 4MiB 16MiB 1GiB

# A 200 µs SIGALRM whose handler reads and writes served memory while the
# program sweeps 32 MiB through a 4 MiB cap. Delivered to a pager thread,
# the handler would fault there and the pager would wait for itself.
expect_status 0 "a 200 µs interval timer whose handler touches served memory finishes" -- \
    timeout 120 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/t.json" -- "$BUILD/tests/itimer_signals"
expect_output "signals handled, all pages checked" "every page holds what the sweep and the handler wrote"
[ "$(json_field "$WORK/t.json" evictions)" -gt 8192 ] && pass "the timer program was paged" || fail "itimer_signals evictions in stats"

finish
