#!/bin/sh
# usage: bench_args.sh TIERPAGE-BENCH
# Bad arguments exit 2 with a message that names the option; --help exits 0.
set -u
bench=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_bad() { # expected-message-part args...
    want=$1
    shift
    err=$("$bench" "$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" = 2 ] || fail "tierpage-bench $* exited $rc, expected 2"
    case "$err" in *"$want"*) ;; *) fail "tierpage-bench $*: message '$err' lacks '$want'" ;; esac
    echo "ok: $* -> $err" | head -n 1
}

expect_bad "--size: expected a size" --size 12XB
expect_bad "--size: expected a size" --size -5MiB
expect_bad "--size: expected a size" --size 0
expect_bad "--size needs a value" --size
expect_bad "--accesses: expected a positive whole number" --accesses 1.5
expect_bad "--pattern: expected random, zipf, seq or stride" --pattern hot
expect_bad "--stride: expected a positive whole number of pages" --stride 0
expect_bad "--stride: expected a positive whole number of pages" --stride x
expect_bad "--zipf-theta: expected a number between 0 and 1" --zipf-theta 1
expect_bad "--zipf-theta: expected a number between 0 and 1" --zipf-theta abc
expect_bad "--write-ratio: expected a number from 0 to 1" --write-ratio 1.5
expect_bad "--alloc: expected mmap or malloc" --alloc sbrk
expect_bad "--seed: expected a whole number" --seed x
expect_bad "unknown argument '--frobnicate'" --frobnicate
expect_bad "--latency-cdf needs a value" --latency-cdf
expect_bad "--latency-cdf: expected a file name" --latency-cdf ""
expect_bad "--until needs a value" --until
expect_bad "--until: expected a file name" --until ""

# --latency-cdf: every access counted in the file, which ends at fraction 1;
# a file that cannot be made is exit status 4, naming it.
cdf=/tmp/tierpage-bench-args-$$.cdf
trap 'rm -f "$cdf"' EXIT
"$bench" --size 1MiB --accesses 3000 --quiet --latency-cdf "$cdf" || fail "--latency-cdf run exited $?"
counted=$(awk '!/^#/ { n += $2 } END { print n }' "$cdf")
[ "$counted" = 3000 ] || fail "--latency-cdf counted $counted accesses, expected 3000"
last=$(awk '!/^#/ { f = $3 } END { print f }' "$cdf")
[ "$last" = 1.000000000 ] || fail "--latency-cdf ends at fraction $last, expected 1"
err=$("$bench" --size 1MiB --quiet --latency-cdf /nonexistent-dir/x.cdf 2>&1)
rc=$?
[ "$rc" = 4 ] || fail "an unwritable --latency-cdf exited $rc, expected 4"
case "$err" in *"cannot create /nonexistent-dir/x.cdf"*) ;; *) fail "unwritable --latency-cdf: message '$err'" ;; esac
echo "ok: --latency-cdf writes every access; an unwritable file is exit 4"

# --pattern stride: every --stride-th page, wrapping; every page verified.
out=$("$bench" --size 1MiB --pattern stride --stride 5 --accesses 3000 --verify --json --quiet) ||
    fail "--pattern stride run exited $?"
case "$out" in *'"pattern":"stride"'*'"verify":"ok"'*'"stride":5}') ;; *) fail "--pattern stride: $out" ;; esac
echo "ok: --pattern stride --stride 5 verifies"

# --until FILE: a file that exists stops the accesses at the first look
# (after 1024), in every thread, and the results count those made; the
# pages still verify. A file that never appears changes nothing.
until=/tmp/tierpage-bench-args-$$.until
trap 'rm -f "$cdf" "$until"' EXIT
: >"$until"
out=$("$bench" --size 1MiB --accesses 100000000 --until "$until" --verify --json --quiet) ||
    fail "--until run exited $?"
case "$out" in *'"accesses":1024,'*'"verify":"ok"'*) ;; *) fail "--until an existing file: $out" ;; esac
out=$("$bench" --size 1MiB --threads 2 --accesses 100000000 --until "$until" --verify --json --quiet) ||
    fail "--until --threads 2 run exited $?"
case "$out" in *'"accesses":2048,'*'"verify":"ok"'*) ;; *) fail "--until with 2 threads: $out" ;; esac
rm -f "$until"
out=$("$bench" --size 1MiB --accesses 3000 --until "$until" --verify --json --quiet) ||
    fail "--until a missing file exited $?"
case "$out" in *'"accesses":3000,'*'"verify":"ok"'*) ;; *) fail "--until a missing file: $out" ;; esac
echo "ok: --until stops the accesses once its file exists, and the pages verify"

help=$("$bench" --help) || fail "--help exited non-zero"
for opt in --size --accesses --pattern --stride --zipf-theta --write-ratio --seed --verify \
           --inject-corruption --alloc --json --quiet --latency-cdf --until --help; do
    echo "$help" | grep -q -- "$opt" || fail "--help does not mention $opt"
done
echo "PASS: bad arguments are refused"
