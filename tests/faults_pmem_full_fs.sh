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
finish
