#!/bin/bash
# Real servers with more data than memory: redis-server and memcached, each
# loaded with --data of incompressible values (tierpage-kv-load), then
# driven, then every key read back and checked, under
#   plain      the server alone, no limit (the reference)
#   swapfile   kernel swap to a swap file, the server alone in a memory
#              cgroup of --data / 4
#   zram       kernel swap on zram (lz4), the same cgroup limit
#   dram       tierpage run, resident --data / 4, then a dram tier
#   memcached  tierpage run, resident --data / 4, a 16 MiB dram tier, then a
#              second memcached
#   redis      the same with a second redis-server
# Redis is driven by redis-benchmark (GETs of `key:__rand_int__`, which are
# the loaded keys), memcached by tierpage-kv-load (gets and --set-ratio sets,
# every value checked). Requests/s and p50/p99/p999 latency, medians over
# --reps, side by side. A value read back wrong or missing stops the script
# at once (exit 1, naming the run and the key): no table is printed over
# wrong data. Everything it starts (servers, swap, zram, cgroup) is stopped
# or removed on exit (bench/bench_lib.sh).
set -u

usage() {
    cat <<'EOF'
usage: bench/app_compare.sh [OPTIONS]

  --apps LIST        of redis memcached (default both)
  --setups LIST      of plain swapfile zram dram memcached redis (default all)
  --data SIZE        values loaded into the server (default 512MiB)
  --value-size N     bytes per value (default 4000)
  --ops N            requests driven per run (default 100000)
  --connections C    client connections (default 4)
  --set-ratio R      memcached runs: share of sets (default 0.1)
  --reps K           repetitions (default 1); medians over them
  --build DIR        build directory (default: the repository's build/)
  --swapfile PATH    where to make the swap file (default /var/tmp/tierpage-app-compare-PID.swap)
  --log DIR          keep every run's output there (default: a new directory under /tmp)
  --help             this text

Needs root (swap, zram, cgroups), redis-server, redis-benchmark, redis-cli,
memcached and jq. Redis p999 is redis-benchmark's: the first bucket of its
latency distribution at or above 99.9% (an upper bound at its precision).
Exit status: 0 every run done and every value right; 1 a value read back
wrong or missing (the script stops at once) or a run that failed; 2 bad
arguments.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BENCH_NAME=app_compare
BENCH_SERVERS=yes
. "$here/bench_lib.sh"
bench_traps

apps="redis memcached"
setups="plain swapfile zram dram memcached redis"
data=512MiB
value_size=4000
ops=100000
connections=4
set_ratio=0.1
reps=1
build=$repo/build
swapfile=/var/tmp/tierpage-app-compare-$$.swap
log=

while [ $# -gt 0 ]; do
    case "$1" in
    --apps) apps=$(echo "${2:?--apps needs a value}" | tr ',' ' '); shift 2 ;;
    --setups) setups=$(echo "${2:?--setups needs a value}" | tr ',' ' '); shift 2 ;;
    --data) data=${2:?--data needs a value}; shift 2 ;;
    --value-size) value_size=${2:?--value-size needs a value}; shift 2 ;;
    --ops) ops=${2:?--ops needs a value}; shift 2 ;;
    --connections) connections=${2:?--connections needs a value}; shift 2 ;;
    --set-ratio) set_ratio=${2:?--set-ratio needs a value}; shift 2 ;;
    --reps) reps=${2:?--reps needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --swapfile) swapfile=${2:?--swapfile needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "app_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for a in $apps; do
    case "$a" in redis | memcached) ;; *) echo "app_compare: unknown app '$a'" >&2; exit 2 ;; esac
done
for s in $setups; do
    case "$s" in plain | swapfile | zram | dram | memcached | redis) ;;
    *) echo "app_compare: unknown setup '$s'" >&2; exit 2 ;; esac
done
for v in "$value_size" "$ops" "$connections" "$reps"; do
    case "$v" in '' | *[!0-9]* | 0) echo "app_compare: --value-size, --ops, --connections and --reps take a positive whole number" >&2; exit 2 ;; esac
done
data_bytes=$(to_bytes "$data") || { echo "app_compare: --data: expected a size such as 512MiB" >&2; exit 2; }
keys=$((data_bytes / value_size))
limit_bytes=$((data_bytes / 4))
resident_mib=$((limit_bytes / 1048576))
swap_mib=$((data_bytes * 2 / 1048576))

tierpage=$build/bin/tierpage
kv_load=$build/bin/tierpage-kv-load
for b in "$tierpage" "$kv_load"; do
    [ -x "$b" ] || die "$b not found: build it first (cmake -S $repo -B $build && cmake --build $build)"
done
for tool in redis-server redis-benchmark redis-cli memcached jq; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install redis-server redis-tools memcached jq)"
done
[ "$(id -u)" = 0 ] || die "needs root (swap, zram and cgroups)"
case " $setups " in *" swapfile "* | *" zram "*) cg_detect || exit 1 ;; esac
case " $setups " in *" zram "*) zram_check || die "no zram to use: leave zram out of --setups" ;; esac

bench_log_dir app-compare

# ---- the server under test, started behind a prefix ----

PREFIX=()   # tierpage run ... -- , or cg_exec, or nothing
APP_ADDR=
APP_PID=

start_app() { # app name
    if [ "$1" = redis ]; then
        REDIS_PREFIX=("${PREFIX[@]}")
        redis_start "$2" --save '' --appendonly no --maxmemory-policy noeviction || return 1
        REDIS_PREFIX=()
        APP_ADDR=${REDIS_ADDR[$2]}
        APP_PID=${REDIS_PID[$2]}
        return 0
    fi
    local port
    port=$(mc_free_port) || return 1
    "${PREFIX[@]}" memcached -u root -l 127.0.0.1 -p "$port" -U 0 -m $((data_bytes * 2 / 1048576 + 64)) -M \
        </dev/null >>"$MC_STATE_DIR/$2.log" 2>&1 &
    APP_PID=$!
    echo "$APP_PID $port" >"$MC_STATE_DIR/$2.server"
    APP_ADDR=127.0.0.1:$port
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.05
    done
    note "memcached did not start; its log:"
    tail -5 "$MC_STATE_DIR/$2.log" >&2
    return 1
}

stop_app() { # app name
    if [ "$1" = redis ]; then
        redis_cli "$2" shutdown nosave >/dev/null 2>&1
        for _ in $(seq 100); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$APP_PID" 2>/dev/null
        wait "$APP_PID" 2>/dev/null
        unset "REDIS_PID[$2]"
    else
        mc_stop "$2"
    fi
}

# ---- the tiers' own servers and the stacks ----

# Starts the tier's server for a setup and writes its stack file; STACK_FILE
# is its path (not a command substitution: the servers' state must stay in
# this shell for bench_cleanup).
STACK_FILE=
tier_stack() { # setup
    local f=$log/stack-$1.yaml
    STACK_FILE=$f
    {
        echo "name: app-compare-$1"
        echo "resident: ${resident_mib}MiB"
        echo "tiers:"
        echo "  - plugin: dram"
        if [ "$1" = dram ]; then echo "    capacity: $((swap_mib))MiB"; else echo "    capacity: 16MiB"; fi
        case "$1" in
        memcached)
            mc_stop tier
            mc_start tier $((swap_mib + 64)) >/dev/null || die "the tier's memcached did not start"
            echo "  - plugin: memcached"
            echo "    servers: [127.0.0.1:$MC_PORT]"
            ;;
        redis)
            if [ -n "${REDIS_PID[tier]:-}" ]; then
                redis_cli tier shutdown nosave >/dev/null 2>&1
                wait "${REDIS_PID[tier]}" 2>/dev/null
                unset "REDIS_PID[tier]"
            fi
            redis_start tier >/dev/null || die "the tier's redis-server did not start"
            echo "  - plugin: redis"
            echo "    servers: [${REDIS_ADDR[tier]}]"
            ;;
        esac
    } >"$f"
}

# ---- one run ----

failures=0

# Values tierpage-kv-load found wrong or missing (driven and read back), 0
# when none.
wrong_values() { # its JSON
    jq '[(.run, .readback) | select(. != null) | .wrong] | add // 0' "$1" 2>/dev/null || echo 0
}

# Wrong data is no benchmark result: stop here, naming the run and what
# tierpage-kv-load said of the first wrong key (bench_cleanup stops the rest).
check_data() { # name
    local wrong
    wrong=$(wrong_values "$log/$1.verify.json")
    [ "${wrong:-0}" = 0 ] && return 0
    note "$1: DATA MISMATCH: $wrong values read back wrong or missing:"
    grep 'wrong or missing' "$log/$1.stderr" | head -5 >&2
    note "stopping; every run's output is in $log"
    exit 1
}

# redis-benchmark's output: requests/s, and p50/p99/p999 in µs from its
# latency distribution (the first bucket at or above each percentile).
parse_redis_benchmark() { # file -> JSON
    awk '
        /throughput summary:/ { rps = $3 }
        /^ *[0-9.]+% <= [0-9.]+ milliseconds/ {
            p = $1; sub("%", "", p); v = $3 * 1000
            if (p + 0 >= 50 && p50 == "") p50 = v
            if (p + 0 >= 99 && p99 == "") p99 = v
            if (p + 0 >= 99.9 && p999 == "") p999 = v
        }
        END { printf "{\"requests_per_second\":%s,\"p50_us\":%s,\"p99_us\":%s,\"p999_us\":%s}\n",
              rps == "" ? "null" : rps, p50 == "" ? "null" : p50, p99 == "" ? "null" : p99, p999 == "" ? "null" : p999 }
    ' "$1"
}

run_one() { # app setup rep
    local app=$1 setup=$2 rep=$3 name=$1-$2-$3 st=0
    PREFIX=()
    case "$setup" in
    swapfile | zram) cg_make "app-$setup" "$limit_bytes"; PREFIX=(cg_exec) ;;
    dram | memcached | redis)
        tier_stack "$setup"
        PREFIX=("$tierpage" run -c "$STACK_FILE" --quiet --stats "$log/$name.stats.json" --) ;;
    esac
    if ! start_app "$app" app 2>>"$log/$name.stderr"; then
        note "$name: the server did not start; see $log/$name.stderr"
        failures=$((failures + 1))
        cg_remove
        return
    fi
    local load_args=(--kind "$app" --server "$APP_ADDR" --keys "$keys" --value-size "$value_size"
        --connections "$connections")
    if ! run_child "$kv_load" "${load_args[@]}" --load >"$log/$name.load.json" 2>>"$log/$name.stderr"; then
        note "$name: loading failed; see $log/$name.stderr"
        st=1
    elif [ "$app" = redis ]; then
        run_child redis-benchmark -h 127.0.0.1 -p "${APP_ADDR##*:}" -t get -n "$ops" -r "$keys" -c "$connections" \
            --precision 3 >"$log/$name.benchmark" 2>>"$log/$name.stderr" || st=1
        parse_redis_benchmark "$log/$name.benchmark" >"$log/$name.run.json"
        # Every key read back and checked: nothing was written since the load.
        run_child "$kv_load" "${load_args[@]}" --verify >"$log/$name.verify.json" 2>>"$log/$name.stderr" || st=1
        jq -c --slurpfile v "$log/$name.verify.json" '. + {verify: $v[0].verify}' "$log/$name.run.json" \
            >"$log/$name.result.json" 2>/dev/null
    else
        run_child "$kv_load" "${load_args[@]}" --ops "$ops" --set-ratio "$set_ratio" --verify \
            >"$log/$name.verify.json" 2>>"$log/$name.stderr" || st=1
        jq -c '.run + {verify: .verify}' "$log/$name.verify.json" >"$log/$name.result.json" 2>/dev/null
    fi
    check_data "$name"
    local kills=0
    if [ -n "$cg_dir" ]; then
        kills=$(cg_oom_kills)
        echo "peak $(($(cg_peak) / 1048576)) MiB, oom kills ${kills:-0}" >"$log/$name.cgroup"
    fi
    stop_app "$app" app
    cg_remove
    # The memory cgroup sometimes OOM-kills the server instead of swapping
    # (bench/RESULTS.md, swap baselines): counted, and the run made again.
    if [ "$st" != 0 ] && [ "${kills:-0}" -gt 0 ]; then
        echo "$name" >>"$log/oom-kills"
        note "$name: the memory cgroup OOM-killed the server"
        return 2
    fi
    [ ! -s "$log/$name.result.json" ] || cat "$log/$name.result.json" >>"$log/$app-$setup.jsonl"
    if [ "$st" != 0 ]; then
        note "$name failed; see $log/$name.stderr"
        tail -n 5 "$log/$name.stderr" >&2
        failures=$((failures + 1))
    fi
    note "$name: $(tail -n 1 "$log/$app-$setup.jsonl" 2>/dev/null | jq -r '"\(.requests_per_second | floor) requests/s, p99 \(.p99_us) us, data \(.verify)"' 2>/dev/null)"
}

# run_one again after an OOM kill, up to 3 attempts in all.
run_setup() { # app setup rep
    local attempt
    for attempt in 1 2 3; do
        run_one "$@" && return
        [ $? = 2 ] || return
    done
    note "$1-$2-$3: OOM-killed in all 3 attempts"
    failures=$((failures + 1))
}

bench_run_info "$log"
note "logs in $log; $keys keys of $value_size bytes, resident and cgroup limit ${resident_mib} MiB"
for rep in $(seq 1 "$reps"); do
    for app in $apps; do
        # The order of the setups turns each repetition; swap is set up only
        # around its own runs.
        order=$(echo "$setups" | awk -v k="$((rep - 1))" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
        for setup in $order; do
            case "$setup" in
            swapfile)
                swap_free_wait || { note "$app swapfile skipped: swap stayed on"; failures=$((failures + 1)); continue; }
                swapfile_on "$swapfile" "$swap_mib"
                run_setup "$app" swapfile "$rep"
                swapfile_off ;;
            zram)
                swap_free_wait || { note "$app zram skipped: swap stayed on"; failures=$((failures + 1)); continue; }
                zram_on "$swap_mib"
                run_setup "$app" zram "$rep"
                zram_off ;;
            *) run_setup "$app" "$setup" "$rep" ;;
            esac
        done
    done
done

# ---- the table ----

echo
echo "machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $reps"
echo "$keys keys x $value_size bytes ($data); cgroup limit and tierpage resident: $resident_mib MiB; $connections connections, $ops requests"
echo "redis: redis-benchmark -t get -r $keys -c $connections; memcached: tierpage-kv-load --set-ratio $set_ratio; every key read back and checked after each run"
for app in $apps; do
    echo
    echo "| $app | requests/s | p50 µs | p99 µs | p999 µs | x swap file | x zram | data |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    base_file=$(median .requests_per_second "$log/$app-swapfile.jsonl")
    base_zram=$(median .requests_per_second "$log/$app-zram.jsonl")
    for setup in plain swapfile zram dram memcached redis; do
        f=$log/$app-$setup.jsonl
        [ -s "$f" ] || continue
        ok=$(jq -r .verify "$f" | sort -u | tr '\n' ' ')
        awk -v s="$setup" -v a="$(median .requests_per_second "$f")" -v p50="$(median .p50_us "$f")" \
            -v p99="$(median .p99_us "$f")" -v p999="$(median .p999_us "$f")" -v bf="$base_file" -v bz="$base_zram" \
            -v ok="$ok" 'BEGIN {
            rf = (bf != "nan" && bf > 0) ? sprintf("%.2f", a / bf) : "-"
            rz = (bz != "nan" && bz > 0) ? sprintf("%.2f", a / bz) : "-"
            printf "| %s | %.0f | %.1f | %.1f | %.1f | %s | %s | %s|\n", s, a, p50, p99, p999, rf, rz, ok }'
    done
done
echo
echo "runs failed: $failures; OOM-killed by the memory cgroup and run again: $(cat "$log/oom-kills" 2>/dev/null | wc -l); logs in $log"
[ "$failures" = 0 ]
