#!/bin/bash
# Builds Release with GCC and with clang (build only: the builds packagers
# make, where -O3 finds what -O2 does not; warnings are errors there too),
# then builds tierpage and runs the test suite (all but the soak runs,
# label `long`) twice: a plain build,
# then a build under AddressSanitizer and UndefinedBehaviorSanitizer
# (leaving out the tests that preload the malloc-replacing shim, which a
# sanitizer runtime cannot share malloc with, but for the daemon's: there
# the sanitized tierpaged serves the plain build's clients); then builds the fuzz targets
# with clang's libFuzzer and runs each for a few seconds. Installs what it
# needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
jobs=$(nproc)

for cc in gcc clang; do
    echo "== Release build with $cc (build only)"
    cmake -S . -B build-release-$cc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$cc >/dev/null
    cmake --build build-release-$cc -j2
done

echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -LE long)

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
# The daemon tests run there too: the sanitized tierpaged serves the plain
# build's clients (TIERPAGE_CLIENT_BUILD_DIR). TIERPAGE_TEST_LIGHT=1: the
# heaviest of them make fewer restarts, kills and rounds of the same kind.
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DTIERPAGE_SANITIZE=ON \
    -DTIERPAGE_CLIENT_BUILD_DIR="$PWD/build" >/dev/null
cmake --build build-sanitize -j"$jobs"
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 TIERPAGE_TEST_LIGHT=1 \
    ctest --output-on-failure -LE 'preload|long')

echo "== libFuzzer build (clang): each fuzz target briefly"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERPAGE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers
(cd build-fuzz && ctest --output-on-failure -L fuzz)
