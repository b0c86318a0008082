# QEMU (-accel tcg) booting a guest of 320 MiB whose init runs memtester
# over 200 MiB of it, twice, under tierpage run with a 128 MiB resident cap
# (QEMU maps guest RAM with mmap64, which the shim serves), compared with
# the same guest booted without tierpage. The guest is a busybox initramfs
# built by tests/guest/build_initramfs.sh --no-rdma, with
# tests/guest/memtest_init.sh as its /init. Label long: about 2 minutes
# without tierpage and 4 under it here.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
GUEST_TIMEOUT=${TIERPAGE_GUEST_TIMEOUT:-3600}
small_stack "$WORK/s.yaml" 128MiB 64MiB 1GiB
memtest='tierpage.memtest=200M tierpage.loops=2 tierpage.mask=0x3'

guest_prerequisites || { finish; exit; }
command -v memtester >/dev/null || { need_pkg memtester memtester; finish; exit; }
guest_initramfs --no-rdma --init "$SRC/tests/guest/memtest_init.sh" --add "$(command -v memtester)" ||
    { finish; exit; }

guest_boot "$WORK/plain.log" 320 "$memtest"
guest_judge "the guest's memtester without tierpage" "$WORK/plain.log"
guest_boot "$WORK/paged.log" 320 "$memtest" "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/qemu.json" --
guest_judge "the guest's memtester under tierpage run, 128 MiB resident" "$WORK/paged.log"
memtester_results "$WORK/plain.log" >"$WORK/plain.results"
memtester_results "$WORK/paged.log" >"$WORK/paged.results"
[ "$(grep -c ': ok$' "$WORK/paged.results")" = 6 ] && ! grep -qv ': ok$' "$WORK/paged.results" &&
    pass "every memtester test ok, in both loops" || fail "the guest's memtester: $(cat "$WORK/paged.results")"
expect_same "the same results as without tierpage" "$WORK/plain.results" "$WORK/paged.results"
expect_paged "qemu-system-x86_64" "$WORK/qemu.json"
python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["mapped_bytes"] < 320 << 20)' "$WORK/qemu.json" &&
    pass "the guest's RAM was served (mapped_bytes)" || fail "less than the guest's 320 MiB was served"
finish
