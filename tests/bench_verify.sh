#!/bin/sh
# usage: bench_verify.sh TIERPAGE-BENCH ARGS...
# Runs the workload with --verify --json and checks it passed: exit status 0
# and "verify":"ok" in its JSON line.
set -u
bench=$1
shift
out=$("$bench" "$@" --verify --json --quiet)
rc=$?
echo "$out"
if [ "$rc" != 0 ]; then
    echo "FAIL: tierpage-bench $* --verify exited $rc" >&2
    exit 1
fi
case "$out" in
    *'"verify":"ok"'*'"bad_pages":0'*) ;;
    *) echo "FAIL: no \"verify\":\"ok\" in the JSON line" >&2; exit 1 ;;
esac
case "$out" in
    *'"accesses_per_second":'*) ;;
    *) echo "FAIL: no accesses_per_second in the JSON line" >&2; exit 1 ;;
esac
echo "PASS: tierpage-bench $*"
