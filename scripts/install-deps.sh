#!/bin/bash
# Installs the Debian packages tierpage needs to build and test, when missing.
#   scripts/install-deps.sh          build and run
#   scripts/install-deps.sh --test   also what the test suite uses
#   scripts/install-deps.sh --analyze  also clang's static analyzer
set -euo pipefail
packages=(build-essential cmake pkg-config libyaml-dev libpmem-dev check libmemcached-dev libhiredis-dev python3
          libibverbs-dev librdmacm-dev nettle-dev libxxhash-dev)
if [ "${1:-}" = "--analyze" ]; then
    packages+=(clang clang-tools)
fi
if [ "${1:-}" = "--test" ]; then
    packages+=(memcached redis-server redis-tools)
    # Programs with an allocator of their own (tests/cli_allocators.sh).
    packages+=(libjemalloc-dev libtcmalloc-minimal4)
    # The fuzz targets (fuzz/) are built with clang's libFuzzer; CI also
    # builds Release with clang.
    packages+=(clang libclang-rt-14-dev)
    # The rdma tier's tests boot a QEMU guest with Soft-RoCE (tests/guest/).
    packages+=(rdma-core ibverbs-providers qemu-system-x86 linux-image-amd64 busybox-static cpio iproute2)
    # The compatibility suite's programs (tests/compat_*.sh); setpriv
    # (util-linux) runs memtester without the right to lock.
    packages+=(memtester stress-ng sqlite3 util-linux)
    # tierpaged's metrics endpoint: scraped with curl, its text checked by
    # the Prometheus client's own parser (tests/daemon_metrics.sh).
    packages+=(curl python3-prometheus-client)
    # The installed manual pages are rendered with warnings on, the unit
    # checked by systemd-analyze (tests/install_packaging.sh).
    packages+=(man-db groff-base systemd)
    # bench/plot.py draws the benchmarks' charts; tests/bench_plot.sh runs it.
    packages+=(python3-matplotlib)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "tierpage: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
