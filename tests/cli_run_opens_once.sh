# tierpage run opens the stack once, in the program, before its main: the
# counting store (tests/fixtures/counting_store.c) records each open and
# close of its tier with the pid that made it.
. "$(dirname "$0")/script_lib.sh"
trap 'rm -rf "$WORK"' EXIT
OPENS=$WORK/opens
# stack FILE [EXTRA]: 4 MiB resident, a dram tier for every page, then the
# counting tier (EXTRA: one more line of its options)
stack() {
    cat >"$1" <<YAML
name: opens-$$
resident: 4MiB
tiers:
  - plugin: dram
    capacity: 64MiB
  - plugin: $BUILD/tests/fixtures/tierpage-counting.so
    opens_file: $OPENS
${2:-}
YAML
}
stack "$WORK/s.yaml"

# lines of the opens file, "open N" and "close N", as one line of text
opens() { tr '\n' ' ' <"$OPENS" 2>/dev/null | sed 's/ $//'; }

rm -f "$OPENS"
"$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/st.json" -- \
    "$BENCH" --size 16MiB --accesses 20000 --verify --quiet >"$WORK/out" 2>&1 &
run=$!
wait "$run"
status=$?
[ "$status" = 0 ] && pass "a verified workload under tierpage run" || { fail "the workload exited $status"; tail -5 "$WORK/out"; }
[ -f "$WORK/st.json" ] && [ "$(json_field "$WORK/st.json" evictions)" -gt 0 ] && pass "  it was paged" ||
    fail "  it was not paged"
got=$(opens)
case $got in
"open $run") fail "  the stack was opened by tierpage run itself ($got)" ;;
"open "[0-9]*) [ "$(grep -c . "$OPENS")" = 1 ] && pass "  the tier was opened once, by the program ($got)" ||
    fail "  the tier was opened more than once: $got" ;;
*) fail "  the tier's opens: '$got', expected one" ;;
esac

rm -f "$OPENS"
expect_status 0 "a program that serves nothing" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- true
got=$(opens)
case $got in
"open "*" close "*) set -- $got
    [ "$2" = "$4" ] && pass "  its stack was opened once and closed at its exit ($got)" || fail "  opens: $got" ;;
*) fail "  its tier's opens: '$got', expected one open and one close" ;;
esac
expect_output "true was not served" "  run says it was not served"

# A shell that execs the program: the shell's stack, which served nothing,
# is closed before the exec, and the program opens its own.
rm -f "$OPENS"
expect_status 0 "a shell that execs the workload" -- "$TIERPAGE" run -c "$WORK/s.yaml" -- \
    sh -c 'exec "$@"' sh "$BENCH" --size 16MiB --accesses 20000 --verify --quiet
got=$(opens)
case $got in
"open "*" close "*" open "*) set -- $got
    [ "$2" = "$4" ] && [ "$4" = "$6" ] && [ $# = 6 ] &&
        pass "  the shell's stack was closed before the exec, the program opened one ($got)" ||
        fail "  opens: $got" ;;
*) fail "  the tier's opens: '$got', expected open, close, open" ;;
esac

# A stack that cannot open stops the program before its main, with the
# place in the file and status 2.
stack "$WORK/bad.yaml" "    bogus: 1"
rm -f "$OPENS" "$WORK/started"
expect_status 2 "a store that rejects an option stops the run" -- \
    "$TIERPAGE" run -c "$WORK/bad.yaml" -- sh -c 'touch "$1"' sh "$WORK/started"
expect_output "bad.yaml:[0-9]+:[0-9]+: tiers\[1\]\.bogus \(plugin [^)]*tierpage-counting\.so\): counting: unknown option 'bogus'" \
    "  the message names the option's place in the file"
[ ! -e "$WORK/started" ] && pass "  the program did not start" || fail "  the program ran"
[ ! -s "$OPENS" ] && pass "  nothing was opened" || fail "  opens: $(opens)"
finish
