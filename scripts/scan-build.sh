#!/bin/bash
# Runs clang's static analyzer (scan-build) over the whole tree, in a fresh
# Debug build in build-scan/, and fails when it reports anything; the HTML
# reports are left in build-scan/reports/ (open them with scan-view).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --analyze
rm -rf build-scan
scan-build -o build-scan/reports cmake -S . -B build-scan -DCMAKE_BUILD_TYPE=Debug >/dev/null
scan-build -o build-scan/reports --status-bugs make -C build-scan -j2
