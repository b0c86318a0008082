#!/bin/bash
# Builds tierpage and runs its main job on the default stack
# (conf/examples/local.yaml: 64 MiB resident, a 256 MiB dram tier, then pmem
# on a file under /tmp): 384 MiB written, 100k skewed accesses, every page
# verified at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
exec build/bin/tierpage run -c conf/examples/local.yaml -- \
    build/bin/tierpage-bench --size 384MiB --pattern zipf --accesses 100000 --verify "$@"
