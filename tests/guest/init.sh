#!/bin/sh
# /init of the RDMA test guest: mounts the kernel file systems, loads
# Soft-RoCE, puts an rxe device on a dummy network device (the guest has no
# NIC: its RDMA traffic never leaves it), runs /rdma_checks.sh and powers off.
# The kernel command line word tierpage.checks=NAME picks what the checks
# script runs (default: all; see rdma_checks.sh), tierpage.rounds=N how many
# rounds fork-loop runs.
export PATH=/opt/tierpage/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm

setup_rdma() {
    for m in $(cat /etc/modules.load); do
        insmod "/lib/modules/$m" || { echo "guest: insmod $m failed"; return 1; }
    done
    ip link set lo up
    # Loading dummy.ko makes dummy0 itself (numdummies=1).
    [ -d /sys/class/net/dummy0 ] || ip link add dummy0 type dummy || return 1
    ip addr add 10.47.0.1/24 dev dummy0
    ip link set dummy0 up
    if [ -x /usr/sbin/rdma ]; then
        rdma link add rxe0 type rxe netdev dummy0 || return 1
    else
        echo dummy0 >/sys/module/rdma_rxe/parameters/add || return 1
    fi
    # Wait for the verbs device node.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        ls /dev/infiniband/uverbs* >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "guest: no /dev/infiniband/uverbs* after adding the rxe link"
    return 1
}

checks=all
for word in $(cat /proc/cmdline); do
    case "$word" in
    tierpage.checks=*) checks=${word#tierpage.checks=} ;;
    tierpage.rounds=*) export TP_ROUNDS=${word#tierpage.rounds=} ;;
    esac
done

echo "guest: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s), $(awk '/MemTotal/ {print $2 / 1024 " MiB"}' /proc/meminfo)"
if setup_rdma; then
    echo "guest: rxe0 on dummy0 (10.47.0.1): $(ls /sys/class/infiniband 2>/dev/null | tr '\n' ' ')"
    # RDMA_NETDEV: the checks may take dummy0 down for a moment (a lost connection).
    RDMA_ADDR=10.47.0.1 RDMA_NETDEV=dummy0 sh /rdma_checks.sh "$checks"
else
    echo "FAIL  guest setup: Soft-RoCE did not come up"
    echo "0 passed, 1 failed"
    echo "TIERPAGE-GUEST-DONE"
fi
sync
poweroff -f
