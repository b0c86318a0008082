#!/bin/bash
# `tierpage demote VM --to pmem` of a running 256 MiB QEMU guest, beside
# the same guest not demoted, side by side under one tierpaged: two guests
# (-accel tcg, 256 MiB, 64 MiB resident, dram then pmem) boot at once and
# run memtester (tests/guest/memtest_init.sh); once both memory tests run,
# both QEMUs are held (SIGSTOP), one is demoted into pmem (timed, and its
# resident footprint read after), and both go on. Each guest's run time
# from then to its end says how long the demoted one took to fault back in.
#   bench/daemon_demote.sh [MEMTEST_SIZE]     (default 160M)
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TIERPAGE_SOURCE_DIR=$(cd "$here/.." && pwd) TIERPAGE_BUILD_DIR=${TIERPAGE_BUILD_DIR:-$(cd "$here/.." && pwd)/build}
. "$TIERPAGE_SOURCE_DIR/tests/script_lib.sh"
. "$TIERPAGE_SOURCE_DIR/tests/daemon_lib.sh"
GUEST_TIMEOUT=3600
memtest="nosoftlockup tierpage.memtest=${1:-160M} tierpage.loops=1 tierpage.mask=0x3"
guest_prerequisites || exit 1
guest_initramfs --no-rdma --init "$SRC/tests/guest/memtest_init.sh" --add "$(command -v memtester)" >/dev/null || exit 1
vm_stack plain 64MiB 128MiB 512MiB
vm_stack demoted 64MiB 128MiB 512MiB
start_daemon || exit 1
for vm in plain demoted; do
    guest_boot "$WORK/$vm.log" 256 "$memtest" "$TIERPAGE" run --daemon "$SOCK" --vm "$vm" -- >"$WORK/$vm.console" 2>&1 &
    eval "boot_$vm=$!"
done
client_of() { "$TIERPAGE" status --socket "$SOCK" | awk -v vm="$1" '$1 == vm && $2 != "-" {print $2; f = 1} END {exit !f}'; }
started() { grep -aqs 'guest: kernel' "$WORK/$1.log" && client_of "$1" >/dev/null; }
for vm in plain demoted; do
    boot=boot_$vm
    wait_while_running "${!boot}" 1200 started "$vm" || { echo "daemon_demote: $vm did not start its memory test" >&2; exit 1; }
    eval "qemu_$vm=$(client_of "$vm")"
    q=qemu_$vm; kill -STOP "${!q}"
done
before=$(stat_of demoted resident_bytes)
t0=$(date +%s.%N)
"$TIERPAGE" demote demoted --to pmem --socket "$SOCK" >/dev/null || exit 1
t1=$(date +%s.%N)
after=$(stat_of demoted resident_bytes); pmem=$(stat_of demoted pages pmem)
kill -CONT "$qemu_plain" "$qemu_demoted"
t2=$(date +%s.%N)
ends=()
for vm in plain demoted; do
    boot=boot_$vm
    wait "${!boot}"
    ends+=("$(date -r "$WORK/$vm.log" +%s.%N)") # its last line: the guest powering off
    grep -aq '^1 passed, 0 failed' "$WORK/$vm.log" || echo "daemon_demote: $vm's memory test failed" >&2
done
echo "machine: $(nproc) vCPUs, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "guests: 256 MiB, 64 MiB resident, dram 128MiB then pmem; memtester ${1:-160M}, 1 loop"
awk -v a="$t0" -v b="$t1" -v r0="$before" -v r1="$after" -v p="$pmem" 'BEGIN {
    printf "demote: %.2f s; resident %d -> %d bytes (%.2f%% of the guest'"'"'s 256 MiB); %d pages in pmem\n", b - a, r0, r1, r1 * 100 / 268435456, p }'
awk -v s="$t2" -v p="${ends[0]}" -v d="${ends[1]}" 'BEGIN {
    printf "from the demote to the end of the memory test: not demoted %.1f s, demoted %.1f s\n", p - s, d - s }'
stop_daemon
