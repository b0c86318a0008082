#!/bin/sh
# usage: bench_plot.sh PLOT.PY FIXTURES
# bench/plot.py on the logs checked in under tests/fixtures/plot (one per
# comparison script, as their --log DIR holds them): every chart written as
# vector SVG, with its series named, its title's machine and date, and the
# medians and shares the fixture's runs give; bad logs refused with a
# message naming the file at fault and a non-zero exit.
set -u
plot=$1
fixtures=$2
work=$(mktemp -d /tmp/tierpage-plot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { echo "ok: $*"; }

# ---- good logs ----

if "$plot" --out "$work/out" "$fixtures/swap" "$fixtures/prefetch" "$fixtures/threads" "$fixtures/kv" \
    "$fixtures/app" >"$work/list" 2>"$work/err"; then
    pass "plot.py on the five fixture logs"
else
    fail "plot.py on the fixture logs exited non-zero:"
    cat "$work/err"
fi

# has FILE TEXT...: the chart exists, is SVG without raster images, and
# holds each TEXT (the SVG keeps text as text).
has() {
    f=$work/out/$1
    shift
    if [ ! -s "$f" ]; then fail "$f not written"; return; fi
    grep -q '<svg' "$f" || fail "$f is not SVG"
    ! grep -q '<image' "$f" || fail "$f holds a raster image"
    grep -qF "$f" "$work/list" || fail "$f not listed on stdout"
    for t in "$@"; do
        grep -qF -- "$t" "$f" || fail "$(basename "$f") lacks '$t'"
    done
    pass "$(basename "$f"): $*"
}
machine="2 vCPUs (fixture CPU), 24 GiB, Linux 6.1, 2026-12-01 17:00 UTC"
# Medians of the fixture's runs: 20000 and 70000 accesses/s on random.
has swap-accesses.svg "kernel swap, swap file (n=3)" "tierpage, dram tier (n=3)" random zipf "20.0k" "70.0k" \
    "105.0k" "accesses/s" "$machine" "load average 1.00 1.00 1.00 at the start" "tierpage-bench 32 MiB"
has swap-latency-random.svg "kernel swap, swap file" "tierpage, dram tier" "p50 and p99 only" "latency (µs" "$machine"
has swap-latency-zipf.svg "kernel swap, swap file" "tierpage, dram tier"
has prefetch-accesses.svg "prefetch on (n=3)" "prefetch off (n=3)" "dram, seq" "memcached, random" "65.0k" "19.5k"
# Accuracy 39899/40000 (the median run), coverage 7990/(7990+32000) on random.
has prefetch-accuracy.svg "accuracy, dram" "coverage, dram" "accuracy, memcached" "coverage, memcached" \
    "99.7%" "99.9%" "20.0%" "share of pages (%)" seq random "$machine"
has prefetch-latency-seq.svg "dram, prefetch on" "memcached, prefetch off"
has prefetch-latency-random.svg "dram, prefetch on"
has threads-accesses.svg "each thread its own slice (n=3)" "all threads sharing one region (--shared) (n=3)" \
    "40.0k" "60.0k" "42.0k" "faulting threads" "aggregate accesses/s"
has kv-accesses.svg "kernel swap, swap file (n=2)" "tierpage, memcached tier (n=2)"
# The memcached runs left CDF files (paging-memcached.1.cdf, .2.cdf): their
# every access drawn, the swap file's runs through p50/p99 only.
has kv-latency.svg "kernel swap, swap file" "tierpage, memcached tier (n=2)" "CDF of every access" \
    "setups without CDF files: step CDF through p50 and p99 only"
has swap-latency-random.svg "step CDF through p50 and p99 only"
has app-requests.svg "plain (n=2)" "swapfile (n=2)" "dram (n=2)" "requests/s" redis "60.0k"
has app-latency-redis.svg plain swapfile dram "p50, p99 and p999 only"
total=$(cat "$work"/out/*.svg | wc -c)
[ "$total" -lt 500000 ] && pass "all charts $total bytes" || fail "charts take $total bytes"

# ---- bad input ----

# refused WHAT MESSAGE-PART ARGS...: exit status 1, MESSAGE-PART on stderr.
refused() {
    what=$1 want=$2
    shift 2
    "$plot" --out "$work/bad-out" "$@" >/dev/null 2>"$work/err"
    st=$?
    if [ "$st" = 1 ] && grep -qF -- "$want" "$work/err"; then
        pass "$what refused: $(head -n 1 "$work/err")"
    else
        fail "$what: exit $st, expected 1 with '$want'; stderr: $(cat "$work/err")"
    fi
}
refused "a missing directory" "$work/nowhere: no such directory" "$work/nowhere"
mkdir "$work/empty"
refused "a directory of no script's log" "$work/empty: no runs of a comparison script" "$work/empty"
mkdir "$work/blank"
: >"$work/blank/swapfile-random.jsonl"
refused "a log whose files hold no runs" "swapfile-random.jsonl: no runs in them" "$work/blank"
cp -r "$fixtures/swap" "$work/torn"
echo '{"size_bytes": 33554432, "pages"' >>"$work/torn/swapfile-zipf.jsonl"
refused "a torn line" "$work/torn/swapfile-zipf.jsonl:4: not JSON" "$work/torn"
cp -r "$fixtures/swap" "$work/word"
sed -i '2s/"accesses_per_second":[0-9.]*/"accesses_per_second":"fast"/' "$work/word/tierpage-dram-128-random.jsonl"
refused "a field that is not a number" "$work/word/tierpage-dram-128-random.jsonl:2: no number 'accesses_per_second'" \
    "$work/word"
cp -r "$fixtures/swap" "$work/array"
echo '[1, 2]' >>"$work/array/swapfile-random.jsonl"
refused "a line that is not an object" "$work/array/swapfile-random.jsonl:4: expected a JSON object" "$work/array"
cp -r "$fixtures/swap" "$work/info"
echo '{"machine": "2 vCPUs", "date": ' >"$work/info/run-info.json"
refused "a torn run-info.json" "$work/info/run-info.json: not JSON" "$work/info"
cp -r "$fixtures/kv" "$work/cdf"
sed -i '5s/.*/20.223 many 0.7/' "$work/cdf/paging-memcached.2.cdf"
refused "a torn CDF line" "$work/cdf/paging-memcached.2.cdf:5: expected 'bucket-top-µs count fraction'" "$work/cdf"
cp -r "$fixtures/kv" "$work/cdf-empty"
: >"$work/cdf-empty/paging-memcached.1.cdf"
refused "an empty CDF file" "$work/cdf-empty/paging-memcached.1.cdf: no buckets" "$work/cdf-empty"
cp -r "$fixtures/prefetch" "$work/mixed"
cp "$fixtures/threads/slices-1.jsonl" "$work/mixed/"
refused "two scripts' logs in one directory" "holds the logs of more than one script" "$work/mixed"
cp -r "$fixtures/swap" "$work/swap2"
refused "two logs of one script" "more than one swap_compare.sh log given" "$fixtures/swap" "$work/swap2"
[ ! -e "$work/bad-out" ] || [ -z "$(ls "$work/bad-out")" ] && pass "nothing written for bad input" ||
    fail "charts written for bad input: $(ls "$work/bad-out")"

"$plot" --frobnicate >/dev/null 2>&1
st=$?
[ "$st" = 2 ] && pass "an unknown option exits 2" || fail "an unknown option exited $st"
if "$plot" --help >"$work/help"; then
    for t in --out LOGDIR swap_compare.sh prefetch_compare.sh threads_compare.sh kv_compare.sh app_compare.sh \
        run-info.json "step CDF"; do
        grep -qF -- "$t" "$work/help" || fail "--help does not mention $t"
    done
    pass "--help"
else
    fail "--help exited non-zero"
fi

[ "$failed" = 0 ] && echo "PASS: bench/plot.py" || echo "FAILED: $failed checks"
[ "$failed" = 0 ]
