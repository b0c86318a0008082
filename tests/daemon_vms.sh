#!/bin/bash
# Two unmodified QEMU guests (-accel tcg, 256 MiB of RAM each) served by one
# tierpaged at once, each through a cap (48 MiB; 64 MiB in the long run)
# below what its memory test uses and a stack of its own (dram then pmem;
# dram then memcached). While their memory tests run, each
# is resized to 4 MiB (and runs so a while), resized back, demoted into
# its slow tier, promoted and flushed; status, stats and the Prometheus
# metrics show each move, and both guests' memtester passes. The guest is the compatibility suite's
# (tests/guest/build_initramfs.sh --no-rdma, tests/guest/memtest_init.sh).
# A guest is held with SIGSTOP from the start of its memory test while the
# moves are made and checked, so that the checks can be exact; it runs at
# 4 MiB for a while between them, and to its end after them.
# The time goes into paging: every one of memtester's sweeps over a buffer
# larger than the cap faults each of its pages in again, so the test's time
# follows MEMTEST_SIZE. A cap much below 48 MiB pages the guest's kernel
# all along, its boot too.
#   daemon_vms.sh [MEMTEST_SIZE [LOOPS [MASK [CAP_MIB]]]]   (default 64M 1 0x3 48)
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
GUEST_TIMEOUT=${TIERPAGE_GUEST_TIMEOUT:-3600}
# nosoftlockup: a guest held for a while would warn of it in the middle of
# memtester's output.
memtest_mib=${1:-64M}
memtest_mib=${memtest_mib%M}
cap_mib=${4:-48}
cap=$((cap_mib << 20))
memtest="nosoftlockup tierpage.memtest=${memtest_mib}M tierpage.loops=${2:-1} tierpage.mask=${3:-0x3}"
guests=()
trap 'for p in "${guests[@]:-}"; do [ -n "$p" ] && kill -CONT "$p" 2>/dev/null; done; mc_stop_all; daemon_cleanup' EXIT

guest_prerequisites || { finish; exit; }
command -v memtester >/dev/null || { need_pkg memtester memtester; finish; exit; }
guest_initramfs --no-rdma --init "$SRC/tests/guest/memtest_init.sh" --add "$(command -v memtester)" ||
    { finish; exit; }
mc_start vms 512 || { fail "memcached did not start"; finish; exit 1; }
vm_stack pm "${cap_mib}MiB" "$((cap_mib * 3 / 2))MiB" 512MiB        # dram, then pmem
cat >"$STACKS/mc.yaml" <<YAML
name: mc-$$
resident: ${cap_mib}MiB
tiers:
  - plugin: dram
    capacity: ${cap_mib}MiB
  - plugin: memcached
    servers: [127.0.0.1:$MC_PORT]
    connect_timeout_ms: 10s   # a loaded machine is no server gone
    io_timeout_ms: 10s
YAML
printf 'stacks: %s\nmetrics: 0\n' "$STACKS" >"$WORK/daemon.yaml"
start_daemon -c "$WORK/daemon.yaml" || exit 1
METRICS=$(sed -n 's|.*info: metrics on \(http://[^ ]*/metrics\)$|\1|p' "$WORK/daemon.log")
[ -n "$METRICS" ] && pass "metrics on $METRICS" || fail "the daemon named no metrics address"

# metric FAMILY VM [TIER]: the value of one sample of a scrape.
metric() {
    curl -s --max-time 60 "$METRICS" | awk -v family="$1" -v vm="$2" -v tier="${3:-}" '
        index($0, family "{vm=\"" vm "\"" (tier == "" ? "}" : ",tier=\"" tier "\"")) == 1 {print $2}'
}
# same_metric DESCRIPTION FAMILY VM VALUE [TIER]
same_metric() {
    local got
    got=$(metric "$2" "$3" "${5:-}")
    [ "$got" = "$4" ] && pass "$1" || fail "$1: metrics say '$got', expected $4"
}

# Both guests boot at once, each under tierpage run --daemon.
for vm in pm mc; do
    guest_boot "$WORK/$vm.log" 256 "$memtest" "$TIERPAGE" run --daemon "$SOCK" --vm "$vm" -- \
        >"$WORK/$vm.console" 2>&1 &
    eval "boot_$vm=$!"
done

# client_of VM: the pid attached to VM; fails when none.
client_of() {
    "$TIERPAGE" status --socket "$SOCK" | awk -v vm="$1" '$1 == vm && $2 != "-" {print $2; found = 1} END {exit !found}'
}
# Unanchored: the firmware's "Booting from ROM..." may end without a newline.
memtest_started() { grep -aqs 'guest: kernel' "$WORK/$1.log"; }

# hold VM: once its memory test runs, stop QEMU (SIGSTOP) until its moves.
hold() {
    local vm=$1 boot=boot_$1 qemu
    wait_while_running "${!boot}" 600 memtest_started "$vm" || { fail "$vm: the memory test never started"; return; }
    wait_while_running "${!boot}" 60 client_of "$vm" >/dev/null
    qemu=$(client_of "$vm")
    [ -n "$qemu" ] && kill -STOP "$qemu" && pass "$vm: QEMU (pid $qemu) is served, its memory test running" ||
        { fail "$vm: no client"; "$TIERPAGE" status --socket "$SOCK"; return; }
    guests+=("$qemu")
    eval "qemu_$vm=$qemu"
}

# moves VM SLOW_TIER: the operator's moves on VM, held, during its memory test.
moves() {
    local vm=$1 slow=$2 boot=boot_$1 qemu=qemu_$1 faults resident pages n
    qemu=${!qemu:-}
    [ -n "$qemu" ] || return
    expect_status 0 "$vm: resize to 4MiB" -- "$TIERPAGE" resize "$vm" 4MiB --socket "$SOCK"
    resident=$(stat_of "$vm" resident_bytes)
    [ "$(stat_of "$vm" resident_cap_bytes)" = 4194304 ] && [ "$resident" -le 4194304 ] &&
        pass "$vm: stats show the 4MiB cap, resident $resident" || fail "$vm: resident $resident after resize"
    expect_status 0 "$vm: status too" -- "$TIERPAGE" status --socket "$SOCK"
    expect_output "^$vm +$qemu +[0-9]+ +4194304 " "$vm: status shows the 4MiB cap"
    same_metric "$vm: metrics show the 4MiB cap" tierpage_vm_resident_cap_bytes "$vm" 4194304
    # The guest runs a while at 4 MiB: a few thousand faults more.
    faults=$(stat_of "$vm" faults)
    kill -CONT "$qemu"
    wait_while_running "${!boot}" 600 more_than $((faults + 3000)) stat_of "$vm" faults
    kill -STOP "$qemu"
    resident=$(stat_of "$vm" resident_bytes)
    [ "$(stat_of "$vm" faults)" -gt $((faults + 3000)) ] && [ "$resident" -le 4194304 ] &&
        pass "$vm: the guest ran on at 4MiB ($(($(stat_of "$vm" faults) - faults)) faults), resident $resident" ||
        fail "$vm: at 4MiB: resident $resident"
    expect_status 0 "$vm: resize back to ${cap_mib}MiB" -- "$TIERPAGE" resize "$vm" "${cap_mib}MiB" --socket "$SOCK"
    [ "$(stat_of "$vm" resident_cap_bytes)" = "$cap" ] && pass "$vm: stats show the ${cap_mib}MiB cap" ||
        fail "$vm: cap not ${cap_mib}MiB"

    expect_status 0 "$vm: demote to $slow" -- "$TIERPAGE" demote "$vm" --to "$slow" --socket "$SOCK"
    expect_status 0 "$vm: flush" -- "$TIERPAGE" flush "$vm" --socket "$SOCK"
    pages=$(stat_of "$vm" pages "$slow"); resident=$(stat_of "$vm" resident_bytes)
    [ "$(stat_of "$vm" pages dram)" = 0 ] && [ "$resident" = 0 ] && [ "$pages" -gt 1000 ] &&
        pass "$vm: every page in $slow ($pages), none in dram, none resident" ||
        fail "$vm: after demote: dram $(stat_of "$vm" pages dram), $slow $pages, resident $resident"
    expect_status 0 "$vm: status shows it" -- "$TIERPAGE" status --socket "$SOCK"
    expect_output "^$vm +$qemu +0 +$cap +[0-9]+ +dram:0 $slow:$pages" "$vm: status: 0 resident, all in $slow"
    same_metric "$vm: metrics show $pages pages in $slow" tierpage_tier_pages "$vm" "$pages" "$slow"
    same_metric "$vm: metrics show none in dram" tierpage_tier_pages "$vm" 0 dram
    same_metric "$vm: metrics show none resident" tierpage_vm_resident_bytes "$vm" 0
    expect_status 0 "$vm: promote" -- "$TIERPAGE" promote "$vm" --wait --socket "$SOCK"
    n=$(sed -n "s/^$vm: \([0-9]*\) pages brought in$/\1/p" "$WORK/out")
    resident=$(stat_of "$vm" resident_bytes)
    [ -n "$n" ] && [ "$n" -gt 1000 ] && [ "$resident" = $((n * 4096)) ] &&
        pass "$vm: promote brought $n pages in from $slow, resident $resident" ||
        fail "$vm: promote: '$n' pages, resident $resident"
    same_metric "$vm: metrics show the promoted pages resident" tierpage_vm_resident_bytes "$vm" "$resident"
    kill -CONT "$qemu"
    expect_status 0 "$vm: flush while the guest runs" -- "$TIERPAGE" flush "$vm" --socket "$SOCK"
    memtest_done=$(grep -ac TIERPAGE-GUEST-DONE "$WORK/$vm.log")
    [ "$memtest_done" = 0 ] && pass "$vm: every move happened during its memory test" ||
        fail "$vm: the memory test ended before the moves did"
}
hold pm
hold mc
moves pm pmem
moves mc memcached
echo "status while both guests run:"; "$TIERPAGE" status --socket "$SOCK"

for vm in pm mc; do
    boot=boot_$vm
    wait "${!boot}"
    cat "$WORK/$vm.console"
    guest_judge "$vm: the guest's memtester under tierpaged" "$WORK/$vm.log"
    memtester_results "$WORK/$vm.log" >"$WORK/$vm.results"
    [ -s "$WORK/$vm.results" ] && ! grep -qv ': ok$' "$WORK/$vm.results" &&
        pass "$vm: every memtester test ok" || fail "$vm: memtester: $(cat "$WORK/$vm.results")"
done
# More faults than the memory test's pages twice over (50000 at most): its
# sweeps paged the buffer back in, not only filled it once.
min_faults=$((memtest_mib * 256 * 2))
[ "$min_faults" -le 50000 ] || min_faults=50000
[ "$(stat_of pm faults)" -gt "$min_faults" ] && [ "$(stat_of mc faults)" -gt "$min_faults" ] &&
    pass "the daemon served both guests' RAM ($(stat_of pm faults) and $(stat_of mc faults) faults, over $min_faults)" ||
    fail "too few faults served: $(stat_of pm faults) and $(stat_of mc faults), expected over $min_faults"
wait_for "both guests' pages are released when QEMU exits" released
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
