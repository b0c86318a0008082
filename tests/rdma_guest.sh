# The RDMA tier on real verbs. The host kernels of our machines have no
# RDMA, so this boots a guest (QEMU, -accel tcg, Debian's 6.1 kernel) from
# an initramfs that holds this build tree's binaries, loads Soft-RoCE
# (rdma_rxe) on a dummy network device, and runs tests/guest/rdma_checks.sh
# there: memservers, the conformance kit, tierpage-bench --verify through
# dram -> rdma, replicas: 2 with a memserver killed mid-run, a connection
# lost for two seconds (dummy0 down) under a run on a memserver with
# --grace, one running stack per namespace (two runs of one stack file at
# once, a killed run's slabs freed, namespace: exclusive refusing a second
# start), fork (parent and child each with their own memory, the child's
# session freed when it exits, is killed or execs), a memserver that is
# not there. The guest has no NIC (-nic none): its RDMA traffic
# stays inside it. On a host that has an RDMA device the same checks run
# directly on the host instead.
. "$(dirname "$0")/script_lib.sh"

CHECKS=$SRC/tests/guest/rdma_checks.sh
GUEST_TIMEOUT=${TIERPAGE_GUEST_TIMEOUT:-600}

if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
    # A host with RDMA: use the first IPv4 address of a device's network link.
    netdev=$(rdma link show 2>/dev/null | sed -n 's/.* netdev \([^ ]*\).*/\1/p' | head -1)
    addr=$(ip -4 -o addr show dev "${netdev:-none}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
    if [ -z "$addr" ]; then
        fail "this host has an RDMA device but no IPv4 address on its network device (${netdev:-unknown})"
        finish; exit
    fi
    echo "RDMA device on this host ($(ls /sys/class/infiniband | tr '\n' ' ')): running the checks here on $addr"
    PATH=$BUILD/tests:$PATH TP_BIN=$BUILD/bin RDMA_ADDR=$addr sh "$CHECKS" all 2>&1 | tee "$WORK/host.log"
    guest_judge "RDMA checks" "$WORK/host.log"
    finish; exit
fi

# No RDMA here: boot a guest.
guest_prerequisites || { finish; exit; }
ls /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so >/dev/null 2>&1 ||
    { need_pkg "the rxe verbs provider" ibverbs-providers; finish; exit; }
# fork_cow (tests/programs/fork_cow.c) for the fork checks.
guest_initramfs --build "$BUILD" --kernel-version "${GUEST_KERNEL#/boot/vmlinuz-}" --add "$BUILD/tests/fork_cow" ||
    { finish; exit; }
# TIERPAGE_RDMA_CHECKS=smoke|reconnect|namespaces|secret|fork runs only
# those; fork-loop runs the fork checks TIERPAGE_RDMA_ROUNDS times (default 30).
guest_boot "$WORK/serial.log" 1024 "${TIERPAGE_RDMA_CHECKS:+tierpage.checks=$TIERPAGE_RDMA_CHECKS}${TIERPAGE_RDMA_ROUNDS:+ tierpage.rounds=$TIERPAGE_RDMA_ROUNDS}"
guest_judge "RDMA checks" "$WORK/serial.log"
finish
