#!/bin/sh
# /init of the compatibility guest (tests/compat_qemu.sh): runs memtester
# over most of the guest's RAM, then powers off. The kernel command line
# words tierpage.memtest=SIZE, tierpage.loops=N and tierpage.mask=MASK
# (MEMTESTER_TEST_MASK) say how much, how often and which tests.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

size=160M loops=2 mask=0x3
for word in $(cat /proc/cmdline); do
    case "$word" in
        tierpage.memtest=*) size=${word#*=} ;;
        tierpage.loops=*) loops=${word#*=} ;;
        tierpage.mask=*) mask=${word#*=} ;;
    esac
done
echo "guest: kernel $(uname -r), $(awk '/MemTotal/ {print $2 / 1024 " MiB"}' /proc/meminfo), memtester $size x $loops (mask $mask)"
if MEMTESTER_TEST_MASK=$mask memtester "$size" "$loops"; then
    echo "ok    memtester $size, $loops loops"
    echo "1 passed, 0 failed"
else
    echo "FAIL  memtester $size, $loops loops: exit $?"
    echo "0 passed, 1 failed"
fi
echo "TIERPAGE-GUEST-DONE"
poweroff -f
