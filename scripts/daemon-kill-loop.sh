#!/bin/bash
# The daemon's kill loop (ctest daemon_kill_loop, labels daemon and long):
# tierpaged SIGKILLed at least 20 times at random moments, during eviction
# bursts and during a demote, under tierpage-bench --verify and under a
# QEMU guest's memtester, a new one started each time on the state the
# killed one left; every workload must complete and verify
# (tests/daemon_kill_loop.sh). Builds first. SEED=N replays a run's random
# choices (each run prints its seed); KILLS=N kills more.
#   scripts/daemon-kill-loop.sh [ctest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -R '^daemon_kill_loop$' "$@"
