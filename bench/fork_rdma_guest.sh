#!/bin/bash
# bench/RESULTS.md "fork", the rdma row: tierpage-fork-cost in the
# Soft-RoCE test guest (QEMU -accel tcg, one vCPU; tests/guest/), since
# this machine has no RDMA device. In one boot it runs the benchmark alone,
# under a dram stack, and with the pages beyond the resident set and a
# small dram tier on memcached, redis-server and tierpage-memserver, all
# inside the guest, so the three remote tiers are compared under the same
# emulation. Emulation times say nothing about real RDMA (RESULTS.md, "RDMA
# tier"): read the rows against each other.
#
#   bench/fork_rdma_guest.sh [--size MiB] [--writes PAGES] [--rounds N] [--build DIR]
#
# Defaults: 32 MiB served, 8 MiB resident, 8 MiB of dram, the other 16 MiB
# (4096 pages) on the server; 1024 first writes a side; 3 rounds.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
size=32 writes=1024 rounds=3 build=$repo/build
while [ $# -gt 0 ]; do
    case "$1" in
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --writes) writes=${2:?--writes needs a value}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fork_rdma_guest: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for n in "$size" "$writes" "$rounds"; do
    case "$n" in '' | *[!0-9]*) echo "fork_rdma_guest: '$n' is not a whole number" >&2; exit 2 ;; esac
done
[ "$size" -ge 24 ] || { echo "fork_rdma_guest: --size must be at least 24 (MiB): 8 resident, 8 dram, the rest remote" >&2; exit 2; }
kernel=$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || { echo "fork_rdma_guest: no guest kernel /boot/vmlinuz-6.1.* (install linux-image-amd64)" >&2; exit 1; }
for f in "$build/bin/tierpage-fork-cost" /usr/bin/memcached /usr/bin/redis-server; do
    [ -x "$f" ] || { echo "fork_rdma_guest: $f is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tierpage-fork-rdma.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# What the guest runs in place of the RDMA checks (its /init starts it with
# RDMA_ADDR set once Soft-RoCE is up, and powers off after it).
cat >"$WORK/checks.sh" <<EOF
#!/bin/sh
SIZE=$size WRITES=$writes ROUNDS=$rounds
EOF
cat >>"$WORK/checks.sh" <<'EOF'
BIN=/opt/tierpage/bin
POOL=$((SIZE * 2))
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd # memcached -u root looks the user up
"$BIN/tierpage-memserver" --listen "$RDMA_ADDR" --port 7471 --pool ${POOL}MiB --slab 1MiB >/tmp/memserver.log 2>&1 &
memcached -u root -M -m $POOL -l 127.0.0.1 -p 11211 >/tmp/memcached.log 2>&1 &
redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --maxmemory-policy noeviction \
    >/tmp/redis.log 2>&1 &
for _ in $(seq 1 40); do
    grep -q "listening on" /tmp/memserver.log && grep -q "Ready to accept" /tmp/redis.log && break
    sleep 0.25
done
# stack FILE PLUGIN SERVER: 8 MiB resident, 8 MiB of dram, the rest on SERVER
stack() {
    printf 'name: bench-fork\nresident: 8MiB\ntiers:\n  - plugin: dram\n    capacity: 8MiB\n  - plugin: %s\n    servers: [%s]\n' \
        "$2" "$3" >"$1"
}
printf 'name: bench-fork\nresident: 8MiB\ntiers:\n  - plugin: dram\n    capacity: %sMiB\n' "$SIZE" >/tmp/dram.yaml
stack /tmp/memcached.yaml memcached 127.0.0.1:11211
stack /tmp/redis.yaml redis 127.0.0.1:6379
stack /tmp/rdma.yaml rdma "$RDMA_ADDR:7471"
cost() { /usr/bin/tierpage-fork-cost --size "$SIZE" --writes "$WRITES" --rounds "$ROUNDS"; }
echo "== alone"
cost 2>&1
for setup in dram memcached redis rdma; do
    echo "== $setup"
    "$BIN/tierpage" run -c /tmp/$setup.yaml --quiet -- /usr/bin/tierpage-fork-cost --size "$SIZE" --writes "$WRITES" \
        --rounds "$ROUNDS" 2>&1
done
echo TIERPAGE-GUEST-DONE
EOF

bash "$repo/tests/guest/build_initramfs.sh" --build "$build" --out "$WORK/guest.img" --checks "$WORK/checks.sh" \
    --add "$build/bin/tierpage-fork-cost" --add /usr/bin/memcached --add /usr/bin/redis-server >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; exit 1; }
echo "booting $kernel under QEMU (TCG), one vCPU, 1 GiB; $size MiB served, $((size - 16)) MiB of it on the server"
start=$(date +%s)
timeout 1200 qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot -nic none -kernel "$kernel" \
    -initrd "$WORK/guest.img" -append 'console=ttyS0 quiet panic=-1' </dev/null 2>&1 | tr -d '\r' >"$WORK/serial.log"
echo "the guest ran $(($(date +%s) - start)) s"
sed -n '/^== /,/^TIERPAGE-GUEST-DONE/p' "$WORK/serial.log" | grep -v TIERPAGE-GUEST-DONE
grep -q TIERPAGE-GUEST-DONE "$WORK/serial.log" || { echo "fork_rdma_guest: the guest did not finish" >&2;
    tail -20 "$WORK/serial.log" >&2; exit 1; }
