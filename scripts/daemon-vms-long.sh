#!/bin/bash
# The long run of the daemon's VM test (ctest daemon_vms_long, labels daemon
# and long): two QEMU guests of 256 MiB under one tierpaged, each through a
# 64 MiB cap, running memtester over 168 MiB three times while the operator
# resizes, demotes, promotes and flushes them (tests/daemon_vms.sh). Builds
# first.
#   scripts/daemon-vms-long.sh [ctest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -R '^daemon_vms_long$' "$@"
