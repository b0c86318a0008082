#!/bin/bash
# Runs tierpage's libFuzzer targets (fuzz/).
#   scripts/fuzz.sh TARGET|all [--minutes N | --seconds N] [--build DIR]
# Without --build, configures and builds build-fuzz/ with clang first.
# Each target starts from its seed corpus (fuzz/corpus/TARGET, read only)
# and keeps what it learns in DIR/fuzz-runs/TARGET/corpus, so a later run
# goes on from there. A finding is written to DIR/fuzz-runs/TARGET/ and the
# script exits non-zero: fix it, then add the input to fuzz/corpus/TARGET/.
# Runs under nice: the fuzzers use a whole CPU each.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
targets=(conf redis memserver memcached)

usage() {
    echo "usage: $0 TARGET|all [--minutes N | --seconds N] [--build DIR]" >&2
    echo "targets: ${targets[*]}" >&2
    exit 2
}

[ $# -ge 1 ] || usage
which=$1
shift
seconds=60
build=""
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) [ $# -ge 2 ] || usage; seconds=$(($2 * 60)); shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    *) usage ;;
    esac
done
if [ "$which" = all ]; then
    run=("${targets[@]}")
else
    [[ " ${targets[*]} " == *" $which "* ]] || usage
    run=("$which")
fi

if [ -z "$build" ]; then
    build=$src/build-fuzz
    CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERPAGE_FUZZ=ON >/dev/null
    cmake --build "$build" -j2 --target fuzzers
fi

status=0
for t in "${run[@]}"; do
    exe=$build/fuzz/fuzz-$t
    work=$build/fuzz-runs/$t
    mkdir -p "$work/corpus"
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$work/")
    [ -f "$src/fuzz/dict/$t.dict" ] && args+=(-dict="$src/fuzz/dict/$t.dict")
    echo "== fuzz-$t for ${seconds}s"
    if ! nice -n 10 "$exe" "${args[@]}" "$work/corpus" "$src/fuzz/corpus/$t"; then
        echo "fuzz-$t: found a problem; the input is in $work/ (crash-*, leak-*, timeout-*, oom-*)" >&2
        status=1
    fi
done
exit $status
