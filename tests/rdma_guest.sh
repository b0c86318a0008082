# The RDMA tier on real verbs. The host kernels of our machines have no
# RDMA, so this boots a guest (QEMU, -accel tcg, Debian's 6.1 kernel) from
# an initramfs that holds this build tree's binaries, loads Soft-RoCE
# (rdma_rxe) on a dummy network device, and runs tests/guest/rdma_checks.sh
# there: memservers, the conformance kit, tierpage-bench --verify through
# dram -> rdma, replicas: 2 with a memserver killed mid-run, a connection
# lost for two seconds (dummy0 down) under a run on a memserver with
# --grace, one running stack per namespace (two runs of one stack file at
# once, a killed run's slabs freed, namespace: exclusive refusing a second
# start), a memserver that is not there. The guest has no NIC (-nic none): its RDMA traffic
# stays inside it. On a host that has an RDMA device the same checks run
# directly on the host instead.
. "$(dirname "$0")/script_lib.sh"

CHECKS=$SRC/tests/guest/rdma_checks.sh
GUEST_TIMEOUT=${TIERPAGE_GUEST_TIMEOUT:-600}

# judge FILE: the checks' closing lines decide.
judge() {
    local summary
    summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    if ! grep -aq 'TIERPAGE-GUEST-DONE' "$1"; then
        fail "the RDMA checks did not finish (no sentinel): see the output above"
    elif [ -z "$summary" ]; then
        fail "the RDMA checks printed no summary"
    elif echo "$summary" | grep -q ' 0 failed'; then
        pass "RDMA checks: $summary"
    else
        fail "RDMA checks: $summary"
    fi
}

if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
    # A host with RDMA: use the first IPv4 address of a device's network link.
    netdev=$(rdma link show 2>/dev/null | sed -n 's/.* netdev \([^ ]*\).*/\1/p' | head -1)
    addr=$(ip -4 -o addr show dev "${netdev:-none}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
    if [ -z "$addr" ]; then
        fail "this host has an RDMA device but no IPv4 address on its network device (${netdev:-unknown})"
        finish; exit
    fi
    echo "RDMA device on this host ($(ls /sys/class/infiniband | tr '\n' ' ')): running the checks here on $addr"
    TP_BIN=$BUILD/bin RDMA_ADDR=$addr sh "$CHECKS" all 2>&1 | tee "$WORK/host.log"
    judge "$WORK/host.log"
    finish; exit
fi

# No RDMA here: boot a guest.
need_pkg() { fail "$1 is missing: install $2 (scripts/install-deps.sh --test installs it)"; }
missing=0
command -v qemu-system-x86_64 >/dev/null || { need_pkg qemu-system-x86_64 qemu-system-x86; missing=1; }
kernel=$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || { need_pkg "the guest kernel /boot/vmlinuz-6.1.*" linux-image-amd64; missing=1; }
[ -x /bin/busybox ] || { need_pkg busybox busybox-static; missing=1; }
command -v cpio >/dev/null || { need_pkg cpio cpio; missing=1; }
ls /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so >/dev/null 2>&1 ||
    { need_pkg "the rxe verbs provider" ibverbs-providers; missing=1; }
if [ "$missing" = 1 ]; then finish; exit; fi
kver=${kernel#/boot/vmlinuz-}

if bash "$SRC/tests/guest/build_initramfs.sh" --build "$BUILD" --out "$WORK/guest.img" --kernel-version "$kver" \
    >"$WORK/build.log" 2>&1; then
    pass "initramfs: $(tail -1 "$WORK/build.log" | sed 's/^build_initramfs: //')"
else
    fail "cannot build the initramfs"; sed 's/^/      /' "$WORK/build.log"; finish; exit
fi

echo "booting $kernel under QEMU (TCG); the guest's serial console follows"
start=$(date +%s)
timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$WORK/guest.img" -append 'console=ttyS0 quiet panic=-1' </dev/null 2>&1 |
    tr -d '\r' | sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$WORK/serial.log"
status=${PIPESTATUS[0]}
echo "guest ran $(($(date +%s) - start)) s"
[ "$status" = 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT}s"
judge "$WORK/serial.log"
finish
