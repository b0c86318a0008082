#!/bin/bash
# `tierpage demote VM --to pmem` of a running 256 MiB QEMU guest, beside
# the same guest not demoted, side by side under one tierpaged: two guests
# (-accel tcg, 256 MiB, 64 MiB resident, dram 256 MiB then pmem:
# all of a guest fits its dram tier, so only a demote sends pages to pmem) boot at once and
# run memtester (tests/guest/memtest_init.sh). Once both have touched
# their memory test's buffer (read from the daemon's stats, not from the
# console, which reaches this script late), both QEMUs are held (SIGSTOP),
# one is demoted into pmem (timed, and its resident footprint read after),
# and both go on. Each guest's time from then to its end, and the pages
# each read back from pmem, say what faulting back in cost.
#   bench/daemon_demote.sh [--reps N] [--memtest SIZE_MIB] [--loops N]
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TIERPAGE_SOURCE_DIR=$(cd "$here/.." && pwd) TIERPAGE_BUILD_DIR=${TIERPAGE_BUILD_DIR:-$(cd "$here/.." && pwd)/build}
. "$TIERPAGE_SOURCE_DIR/tests/script_lib.sh"
. "$TIERPAGE_SOURCE_DIR/tests/daemon_lib.sh"
. "$here/bench_lib.sh"
reps=1 memtest_mib=160 loops=2
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=${2:?--reps needs a number}; shift 2 ;;
        --memtest) memtest_mib=${2:?--memtest needs a size in MiB}; shift 2 ;;
        --loops) loops=${2:?--loops needs a number}; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "daemon_demote: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$reps" "$memtest_mib" "$loops"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "daemon_demote: '$n' is not a positive whole number" >&2; exit 2; }
done
[ "$memtest_mib" -le 200 ] || { echo "daemon_demote: --memtest $memtest_mib does not fit a 256 MiB guest (at most 200)" >&2; exit 2; }
GUEST_TIMEOUT=3600
memtest="nosoftlockup tierpage.memtest=${memtest_mib}M tierpage.loops=$loops tierpage.mask=0x3"
guest_prerequisites || exit 1
guest_initramfs --no-rdma --init "$SRC/tests/guest/memtest_init.sh" --add "$(command -v memtester)" >/dev/null || exit 1
vm_stack plain 64MiB 256MiB 512MiB
vm_stack demoted 64MiB 256MiB 512MiB
start_daemon || exit 1

client_of() { "$TIERPAGE" status --socket "$SOCK" | awk -v vm="$1" '$1 == vm && $2 != "-" {print $2; f = 1} END {exit !f}'; }
# touched_mib VM: the guest's pages in its resident set and in every tier.
touched_mib() {
    "$TIERPAGE" stats "$1" --json --socket "$SOCK" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print((s["resident_bytes"] + 4096 * sum(t["pages"] for t in s["tiers"])) >> 20)'
}
# in_test VM: memtester has touched its whole buffer (it mlocks it first).
in_test() { client_of "$1" >/dev/null && [ "$(touched_mib "$1")" -ge $((memtest_mib + 16)) ]; }

echo "machine: $(nproc) vCPUs, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "guests: 256 MiB, 64 MiB resident, dram 256MiB then pmem; memtester ${memtest_mib}M, $loops loops"
plain_s=() demoted_s=()
for rep in $(seq "$reps"); do
    order="plain demoted"; [ $((rep % 2)) = 0 ] && order="demoted plain" # who boots first
    for vm in $order; do
        guest_boot "$WORK/$vm.log" 256 "$memtest" "$TIERPAGE" run --daemon "$SOCK" --vm "$vm" -- >"$WORK/$vm.console" 2>&1 &
        eval "boot_$vm=$!"
    done
    # each guest is held as soon as it is in its test, so both are held
    # at the same point of it
    hold_ready() {
        local vm q
        for vm in plain demoted; do
            q=qemu_$vm
            [ -z "${!q:-}" ] && in_test "$vm" && { eval "qemu_$vm=$(client_of "$vm")"; kill -STOP "${!q}"; }
        done
        [ -n "${qemu_plain:-}" ] && [ -n "${qemu_demoted:-}" ]
    }
    qemu_plain= qemu_demoted=
    wait_while_running "" 1200 hold_ready || { echo "daemon_demote: the guests did not both start their memory tests" >&2; exit 1; }
    before=$(stat_of demoted resident_bytes)
    hits0_plain=$(stat_of plain hits pmem) hits0_demoted=$(stat_of demoted hits pmem)
    t0=$(date +%s.%N)
    "$TIERPAGE" demote demoted --to pmem --socket "$SOCK" >/dev/null || exit 1
    t1=$(date +%s.%N)
    after=$(stat_of demoted resident_bytes); pmem=$(stat_of demoted pages pmem)
    kill -CONT "$qemu_plain" "$qemu_demoted"
    t2=$(date +%s.%N)
    # pages read back from pmem up to the end: read while the clients run.
    hits1_plain=$hits0_plain hits1_demoted=$hits0_demoted
    while kill -0 "$boot_plain" 2>/dev/null || kill -0 "$boot_demoted" 2>/dev/null; do
        for vm in plain demoted; do
            h=$(stat_of "$vm" hits pmem 2>/dev/null) && [ "$h" -gt 0 ] 2>/dev/null && eval "hits1_$vm=$h"
        done
        sleep 0.5
    done
    ends=()
    for vm in plain demoted; do
        boot=boot_$vm
        wait "${!boot}"
        ends+=("$(date -r "$WORK/$vm.log" +%s.%N)") # its last line: the guest powering off
        grep -aq '^1 passed, 0 failed' "$WORK/$vm.log" || { echo "daemon_demote: $vm's memory test failed" >&2; exit 1; }
    done
    awk -v a="$t0" -v b="$t1" -v r0="$before" -v r1="$after" -v p="$pmem" -v rep="$rep" 'BEGIN {
        printf "rep %d: demote %.2f s; resident %d -> %d bytes (%.2f%% of the guest'"'"'s 256 MiB); %d pages in pmem\n", rep, b - a, r0, r1, r1 * 100 / 268435456, p }'
    plain_s+=("$(awk -v s="$t2" -v e="${ends[0]}" 'BEGIN {printf "%.1f", e - s}')")
    demoted_s+=("$(awk -v s="$t2" -v e="${ends[1]}" 'BEGIN {printf "%.1f", e - s}')")
    echo "rep $rep: from the demote to the end: not demoted ${plain_s[-1]} s ($((${hits1_plain:-0} - hits0_plain)) pages read from pmem), demoted ${demoted_s[-1]} s ($((${hits1_demoted:-0} - hits0_demoted)) pages read from pmem)"
done
p=$(printf "%s\n" "${plain_s[@]}" | median_of) d=$(printf "%s\n" "${demoted_s[@]}" | median_of)
awk -v p="$p" -v d="$d" -v n="$reps" 'BEGIN {printf "median of %d: not demoted %.1f s, demoted %.1f s (%.2fx)\n", n, p, d, d / p}'
stop_daemon
