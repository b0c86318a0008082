#!/bin/bash
# The dram tier's pool in a file (`path:` on tmpfs) beside the anonymous
# pool, taking turns in one run: tierpage-fault-bench --same-cpu (a dram
# hit with no eviction on the fault path, and a hit at the resident cap,
# each fault also evicting a dirty page) with each stack, and tierpage-bench
# --pattern random --verify under `tierpage run` with each. Medians over
# --reps and the ratio file/anonymous. The pool file goes in --dir and is
# removed between runs (each run starts with a new file, as a first start
# does).
set -u

usage() {
    cat <<'EOF2'
usage: bench/dram_file_compare.sh [OPTIONS]

  --reps K        repetitions (default 5); medians over them
  --dir DIR       where the pool file goes, a tmpfs (default /dev/shm)
  --size SIZE     tierpage-bench working set (default 256MiB)
  --resident SIZE tierpage-bench's stacks' resident: (default 64MiB)
  --build DIR     build directory (default: the repository's build/)
  --log DIR       keep every run's output there (default: a new directory under /tmp)
  --help          this text

Needs root (userfaultfd) and jq.
EOF2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
reps=5
dir=/dev/shm
size=256MiB
resident=64MiB
build=$repo/build
log=
pool=

BENCH_NAME=dram_file_compare
. "$here/bench_lib.sh"
remove_pool() { [ -z "$pool" ] || rm -f "$pool"; }
bench_traps remove_pool

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --resident) resident=${2:?--resident needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "dram_file_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$reps" in '' | *[!0-9]* | 0) echo "dram_file_compare: --reps expects a positive integer, got '$reps'" >&2; exit 2 ;; esac
[ -d "$dir" ] || die "--dir $dir is not a directory"

tierpage=$build/bin/tierpage
bench=$build/bin/tierpage-bench
fault_bench=$build/bin/tierpage-fault-bench
for b in "$tierpage" "$bench" "$fault_bench"; do [ -x "$b" ] || die "no $b: build first"; done
command -v jq >/dev/null || die "jq not found (Debian: apt-get install jq)"
if [ -z "$log" ]; then
    log=$(mktemp -d /tmp/tierpage-dram-file-compare.XXXXXX)
else
    mkdir -p "$log" || die "cannot make $log"
fi
pool=$dir/tierpage-dram-file-compare-$$.dram

# The stacks: resident and capacity as given, the pool anonymous or in $pool.
write_stack() { # file resident capacity anon|file
    {
        printf 'name: dram-file-compare\nresident: %s\ntiers:\n  - plugin: dram\n    capacity: %s\n' "$2" "$3"
        [ "$4" = anon ] || printf '    path: %s\n' "$pool"
    } >"$1"
}
for mode in anon file; do
    write_stack "$log/fault-$mode.yaml" 256KiB 1GiB "$mode"
    write_stack "$log/bench-$mode.yaml" "$resident" 1GiB "$mode"
done

failures=0
run_one() { # fault|bench anon|file rep
    local name=$1-$2 out=$log/$1-$2-$3
    rm -f "$pool"
    if [ "$1" = fault ]; then
        run_child "$fault_bench" --same-cpu --stack "$log/fault-$2.yaml" --json >"$out.json" 2>"$out.stderr"
    else
        run_child "$tierpage" run -c "$log/bench-$2.yaml" -- "$bench" --size "$size" --pattern random --verify \
            --json --quiet >"$out.json" 2>"$out.stderr"
    fi
    local st=$? good
    # Each checks its pages: no bad page, or verify ok.
    if [ "$1" = fault ]; then good=$(jq -r '.bad_pages == 0' "$out.json"); else good=$(jq -r '.verify == "ok"' "$out.json"); fi
    if [ "$st" = 0 ] && [ "$good" = true ]; then
        cat "$out.json" >>"$log/$name.jsonl"
        note "$name rep $3: done"
    else
        note "$name rep $3 failed (status $st); see $out.stderr"
        tail -n 8 "$out.stderr" >&2
        failures=$((failures + 1))
    fi
}

bench_run_info "$log"
note "logs in $log"
for rep in $(seq 1 "$reps"); do
    if [ $((rep % 2)) = 1 ]; then order="anon file"; else order="file anon"; fi
    for what in fault bench; do
        for mode in $order; do run_one "$what" "$mode" "$rep"; done
    done
done
rm -f "$pool"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }'; }
row() { # label jq-filter file-prefix
    local a f
    a=$(median "$2" "$log/$3-anon.jsonl")
    f=$(median "$2" "$log/$3-file.jsonl")
    echo "| $1 | $a | $f | $(ratio "$a" "$f") |"
}
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps; pool file in $dir"
echo
echo "| what (µs) | anonymous pool | pool file | file / anonymous |"
echo "|---|---:|---:|---:|"
row "fault-bench: dram hit p50" .dram_hit.p50_us fault
row "fault-bench: dram hit p99" .dram_hit.p99_us fault
row "fault-bench: dram hit at the cap p50" .dram_hit_at_cap.p50_us fault
row "fault-bench: floor (uffd COPY, anonymous) p50" .floor_uffd_copy_anon.p50_us fault
row "tierpage-bench $size random, resident $resident: p50 per access" .us_per_access_p50 bench
row "tierpage-bench $size random, resident $resident: mean per access" .us_per_access_mean bench
[ "$failures" = 0 ] || die "$failures runs failed"
