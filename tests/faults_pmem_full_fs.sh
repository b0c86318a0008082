# A pmem tier whose file is on a filesystem that fills up during a verified
# run (a small tmpfs, mounted here: needs root). The tier's file is
# allocated in full when it is created, so a full filesystem cannot take a
# page's room away later (no SIGBUS from the mapping); the tier says "full"
# at its capacity and the chain goes on to the next tier. A file that does
# not fit is refused at start with the file and the reason.
. "$(dirname "$0")/script_lib.sh"
MNT=$WORK/mnt
mkdir -p "$MNT"
trap 'umount "$MNT" 2>/dev/null; rm -rf "$WORK"' EXIT
if [ "$(id -u)" != 0 ]; then fail "this test mounts a tmpfs and needs root"; finish; exit 1; fi
if mount -t tmpfs -o size=40m tierpage-test "$MNT"; then pass "a 40 MiB tmpfs"; else
    fail "cannot mount a tmpfs"; finish; exit 1; fi

stack() {
    cat >"$WORK/s.yaml" <<YAML
name: pmem-full-$$
resident: 2MiB
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: pmem
    path: $MNT/tier.pmem
    capacity: $1
  - plugin: dram
    name: spill
    capacity: 128MiB
YAML
}

stack 24MiB
"$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/st.json" -- \
    "$BENCH" --size 64MiB --accesses 60000 --verify >"$WORK/out" 2>&1 &
run_pid=$!
# Wait until the tier's file is allocated (24 MiB of the filesystem used).
for i in $(seq 1 400); do
    [ "$(df --output=used -k "$MNT" | tail -1)" -ge 24576 ] && break
    sleep 0.05
done
# Fill what is left of the filesystem while the run writes pages.
dd if=/dev/zero of="$MNT/filler" bs=1M 2>"$WORK/dd.out"
grep -q "No space left on device" "$WORK/dd.out" && pass "the filesystem filled up during the run" ||
    fail "dd did not fill the filesystem: $(tail -1 "$WORK/dd.out")"
wait "$run_pid"
status=$?
if [ "$status" = 0 ] && grep -q "^verify: *ok" "$WORK/out"; then pass "the run verified every page"; else
    fail "exit $status"; sed 's/^/      /' "$WORK/out" | tail -20; fi
demoted=$(tier_field "$WORK/st.json" pmem demotions 2>/dev/null || echo 0)
spill=$(tier_field "$WORK/st.json" spill puts 2>/dev/null || echo 0)
[ "$demoted" -gt 0 ] && pass "pmem, full, demoted $demoted pages" || fail "pmem demotions: $demoted"
[ "$spill" -gt 0 ] && pass "the next tier took $spill pages" || fail "spill puts: $spill"

# A full filesystem: a new pmem file cannot be made.
rm -f "$MNT/tier.pmem"
dd if=/dev/zero of="$MNT/filler2" bs=1M 2>/dev/null
stack 8MiB
expect_status 2 "a pmem file that does not fit is refused at start" -- \
    "$TIERPAGE" run -c "$WORK/s.yaml" -- "$BENCH" --size 8MiB --quiet
expect_output "s.yaml:[0-9]+:[0-9]+: tiers\[1\]\.path \(plugin pmem\): pmem: cannot create $MNT/tier.pmem .*(No space left on device|ENOSPC)" \
    "  with the file and the reason"
[ ! -e "$MNT/tier.pmem" ] && pass "  and no half-made file is left" || fail "  a half-made file is left"

# A process of the run other than the program (here started by a shell)
# has a pmem file of its own, sparse: its pages' room is allocated a MiB
# at a time as they go in. On a filesystem with 4 MiB left, the tier says
# "full" when no more room can be allocated (no SIGBUS from the mapping),
# the chain goes on to the next tier, and the run verifies every page. (A
# file of its own made in full would not fit: the process could not start.)
rm -f "$MNT"/filler*
stack 16MiB
expect_status 0 "the program's pmem file, made in full" -- "$TIERPAGE" check "$WORK/s.yaml"
free_kib=$(df --output=avail -k "$MNT" | tail -1)
dd if=/dev/zero of="$MNT/filler" bs=1K count=$((free_kib - 4096)) 2>/dev/null
"$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/sparse.json" -- \
    sh -c "'$BENCH' --size 64MiB --accesses 60000 --verify; exit \$?" >"$WORK/out" 2>&1
status=$?
if [ "$status" = 0 ] && grep -q "^verify: *ok" "$WORK/out"; then pass "the run verified every page"; else
    fail "exit $status"; sed 's/^/      /' "$WORK/out" | tail -20; fi
bench_stats=$(ls "$WORK"/sparse.json.* 2>/dev/null | head -1)
full=$(tier_field "$bench_stats" pmem full_events)
puts=$(tier_field "$bench_stats" pmem puts)
spill=$(tier_field "$bench_stats" spill puts)
[ "$puts" -gt 0 ] && [ "$full" -gt 0 ] &&
    pass "its own pmem file (16 MiB, where 4 MiB were left) took pages, then said full $full times" ||
    fail "pmem puts $puts, full events $full (${bench_stats:-no stats file})"
[ "$spill" -gt 0 ] && pass "the next tier took $spill pages" || fail "spill puts: $spill"
[ "$(ls "$MNT" | grep -c fork-)" = 0 ] && pass "its file is gone" || fail "left: $(ls "$MNT")"
finish
