#!/bin/bash
# The RDMA guest's fork checks in a loop (ctest rdma_guest_fork_loop, labels
# rdma and long): a QEMU guest with Debian's 6.1 kernel and Soft-RoCE runs
# fork_cow over dram -> rdma, basic, with a killed child and with a child
# that execs, ROUNDS times (default 30), every word of parent and child
# checked each time (tests/rdma_guest.sh, tests/guest/rdma_checks.sh).
# Linux before 6.4 maps a page and write-protects it in two steps, which
# no host kernel here exercises. Builds first.
#   ROUNDS=N scripts/rdma-fork-loop.sh [ctest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cd build && TIERPAGE_RDMA_ROUNDS=${ROUNDS:-30} ctest --output-on-failure -R '^rdma_guest_fork_loop$' "$@"
