#!/bin/sh
# usage: bench_corrupt.sh TIERPAGE-BENCH
# The verifier must catch a flipped byte: exit status 1, and the bad page
# named on stderr. If this passes, a clean --verify run means something.
set -u
bench=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
for alloc in mmap malloc; do
    err=$("$bench" --size 8MiB --pattern random --alloc "$alloc" --inject-corruption --quiet 2>&1 >/dev/null)
    rc=$?
    echo "$err"
    [ "$rc" = 1 ] || fail "--inject-corruption (alloc $alloc) exited $rc, expected 1"
    echo "$err" | grep -q "verify: page 1024 (region offset 0x400000" ||
        fail "the corrupted page 1024 is not reported (alloc $alloc)"
    echo "$err" | grep -q "verify: FAILED: 1 of 2048 pages differ" ||
        fail "no 'verify: FAILED: 1 of 2048 pages differ' (alloc $alloc)"
done
echo "PASS: the verifier reports a flipped byte"
