#!/bin/bash
# The long runs of the compatibility suite (ctest labels compat and long):
# memtester over 256 MiB through a 64 MiB cap, and a QEMU guest running
# memtester over most of its RAM with the RAM paged through a cap below it.
# Builds first.
#   scripts/compat-long.sh [ctest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -L compat -L long "$@"
