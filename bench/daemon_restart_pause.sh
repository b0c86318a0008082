#!/bin/bash
# The pause a program sees when tierpaged restarts (`tierpage daemon
# restart`): tierpage-bench --verify over --size (256 MiB by default)
# under a daemon of the script's own, its VM's pages in a 64 MiB resident
# set, a 128 MiB dram tier and pmem (a file on /dev/shm). One run without
# a restart, then one with --restarts restarts, a second apart once the
# run pages: for each restart the time from the request to the VM served
# again (the command's "recovered in X s"; the program's faults are read
# from then on), and for each run the longest single access the program
# saw (the pause, with the fault that waited it out) beside its p99.99.
#
#   bench/daemon_restart_pause.sh [--build DIR] [--size SIZE] [--restarts N] [--accesses N]
set -u
BUILD=build SIZE=256MiB RESTARTS=5 ACCESSES=600000
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --restarts) RESTARTS=$2; shift 2 ;;
    --accesses) ACCESSES=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--size SIZE] [--restarts N] [--accesses N]" >&2; exit 2 ;;
    esac
done
TIERPAGE=$BUILD/bin/tierpage
WORK=$(mktemp -d /tmp/tierpage-restart-pause.XXXXXX)
STATE=/dev/shm/tierpage-restart-pause-$$
SOCK=$WORK/tierpaged.sock
daemon=
run=
cleanup() {
    [ -n "$run" ] && kill -KILL "$run" 2>/dev/null
    [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    rm -rf "$WORK" "$STATE" /dev/shm/tierpage-restart-pause-$$.pmem
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$WORK/stacks"
cat >"$WORK/stacks/pause.yaml" <<YAML
name: pause-$$
resident: 64MiB
tiers:
  - plugin: dram
    capacity: 128MiB
  - plugin: pmem
    path: /dev/shm/tierpage-restart-pause-$$.pmem
    capacity: 512MiB
YAML
"$BUILD/bin/tierpaged" --stacks "$WORK/stacks" --socket "$SOCK" --state-dir "$STATE" 2>"$WORK/daemon.log" &
daemon=$!
for _ in $(seq 100); do "$TIERPAGE" status --socket "$SOCK" >/dev/null 2>&1 && break; sleep 0.1; done

pmem_pages() {
    "$TIERPAGE" stats pause --json --socket "$SOCK" 2>/dev/null |
        python3 -c 'import json,sys; print(next(t["pages"] for t in json.load(sys.stdin)["tiers"] if t["name"]=="pmem"))' 2>/dev/null || echo 0
}
# one_run RESTARTS: a verified run, restarting the daemon RESTARTS times.
one_run() {
    "$TIERPAGE" run --daemon "$SOCK" --vm pause -- "$BUILD/bin/tierpage-bench" --size "$SIZE" \
        --accesses "$ACCESSES" --verify --json --quiet >"$WORK/run.json" 2>"$WORK/run.err" &
    run=$!
    : >"$WORK/pauses"
    : >"$WORK/handed"
    for i in $(seq "$1"); do
        while [ "$(pmem_pages)" -lt 1000 ] && kill -0 "$run" 2>/dev/null; do sleep 0.2; done
        sleep 1
        kill -0 "$run" 2>/dev/null || { echo "the run ended before restart $i" >&2; break; }
        "$TIERPAGE" daemon restart --socket "$SOCK" >"$WORK/restart.out"
        sed -n 's/^restarted: .* recovered in \([0-9.]*\) s$/\1/p' "$WORK/restart.out" >>"$WORK/pauses"
        sed -n 's/^handed over: .* in \([0-9.]*\) s; executing .*/\1/p' "$WORK/restart.out" >>"$WORK/handed"
    done
    wait "$run"
    local rc=$?
    run=
    grep -q '"verify":"ok"' "$WORK/run.json" || { echo "the run failed (exit $rc): $(cat "$WORK/run.err")" >&2; exit 1; }
    python3 - "$WORK/run.json" "$WORK/pauses" "$1" "$WORK/handed" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
p = [float(x) for x in open(sys.argv[2]).read().split()]
h = [float(x) for x in open(sys.argv[4]).read().split()]
line = "%d restarts: run verified, %.1f s, p99.99 %.1f ms, longest access %.1f ms" % (
    int(sys.argv[3]), r["access_seconds"], r["us_per_access_p9999"] / 1e3, r["us_per_access_max"] / 1e3)
if p:
    line += "; request to VM served again: median %.0f ms, max %.0f ms (%s)" % (
        statistics.median(p) * 1e3, max(p) * 1e3, " ".join("%.0f" % (x * 1e3) for x in p))
if h:
    line += "; of which the old daemon's hand-over (drain, flush, freeze): median %.1f ms" % (statistics.median(h) * 1e3)
print(line)
PY
}
echo "tierpage-bench --size $SIZE --accesses $ACCESSES --verify under tierpaged: resident 64MiB, dram 128MiB, pmem"
one_run 0
one_run "$RESTARTS"
grep -o "restart [0-9]*: .* serves again, [0-9.]* s after the restart was asked for" "$WORK/daemon.log" |
    sed 's/^/  daemon: /'
