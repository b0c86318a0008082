#!/bin/bash
# The metrics endpoint: off unless the daemon config names an address, on
# loopback when it names only a port; GET /metrics in the Prometheus text
# format (checked with the prometheus_client parser), each value equal to
# what `tierpage stats VM --json` says; clients that stall or send garbage
# neither stall the VM's faults nor other scrapes.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
PY=/usr/bin/python3   # Debian's, with python3-prometheus-client

vm_stack vm1 16MiB 8MiB 256MiB
# A write-back queue on the pmem tier, so that its depth is shown.
echo "    writeback_queue: 1MiB" >>"$STACKS/vm1.yaml"
vm_stack idle 4MiB 16MiB

# Off by default: a daemon without `metrics:` listens on no TCP port.
start_daemon || exit 1
if ss -Hltnp 2>/dev/null | grep -q "pid=$daemon_pid,"; then fail "no metrics port without metrics:"; else
    pass "no metrics port without metrics:"; fi
grep -q "metrics on" "$WORK/daemon.log" && fail "the log speaks of metrics" || pass "nor does the log"
stop_daemon

# A bad address is refused with the file, line and column.
printf 'stacks: %s\nmetrics: 127.0.0.1:99999\n' "$STACKS" >"$WORK/bad.yaml"
expect_status 2 "a port out of range is refused" -- "$TIERPAGED" -c "$WORK/bad.yaml" --socket "$SOCK"
expect_output "bad.yaml:2:10: metrics: expected PORT, IPv4:PORT or \[IPv6\]:PORT .*got '127.0.0.1:99999'" \
    "naming the file, line, column and value"
expect_status 2 "--metrics with a host name is refused" -- "$TIERPAGED" --stacks "$STACKS" --socket "$SOCK" \
    --metrics localhost:9464
expect_output "got 'localhost:9464'" "naming the value"

# Only a port: loopback. Port 0: the kernel picks one, the log names it.
printf 'stacks: %s\nmetrics: 0\n' "$STACKS" >"$WORK/daemon.yaml"
: >"$WORK/daemon.log"
start_daemon -c "$WORK/daemon.yaml" || exit 1
addr=$(sed -n 's|.*info: metrics on http://\([^/]*\)/metrics$|\1|p' "$WORK/daemon.log")
case "$addr" in 127.0.0.1:[1-9]*) pass "a bare port listens on loopback ($addr)" ;;
    *) fail "metrics address '$addr'"; cat "$WORK/daemon.log"; exit 1 ;; esac
port=${addr#*:}
URL="http://$addr/metrics"

coproc HOLDER { exec "$TIERPAGE" run --daemon "$SOCK" --vm vm1 -- "$HOLDER" 48 2>"$WORK/holder.err"; }
holder_run_pid=$HOLDER_PID
ask() { echo "$1" >&"${HOLDER[1]}"; read -r reply <&"${HOLDER[0]}"; echo "$reply"; }
read -r ready holder_pid <&"${HOLDER[0]}"
[ "$ready" = ready ] && pass "the holder filled 48MiB under the daemon" || { fail "holder: '$ready'"; exit 1; }

# Two clients that never finish a request, and one that sends half of one:
# faults and other scrapes go on meanwhile.
exec 5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port" 7<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metr' >&5
[ "$(ask verify)" = ok ] && pass "every page intact (faults served) while HTTP clients stall" ||
    fail "pages wrong while HTTP clients stall"
code=$(curl -s --max-time 60 -o "$WORK/scrape0" -w '%{http_code}' "$URL")
[ "$code" = 200 ] && grep -q '^tierpage_vm_faults_total{vm="vm1"} [1-9]' "$WORK/scrape0" &&
    pass "a scrape is answered while others stall" || fail "scrape while others stall: HTTP '$code'"
exec 5>&- 6>&- 7>&-

# Garbage, wrong methods and paths, an endless header: each gets its error.
http_status() { printf '%b' "$1" >&8 2>/dev/null; head -c 200 <&8 | head -1 | tr -d '\r'; }
exec 8<>"/dev/tcp/127.0.0.1/$port"
reply=$(http_status 'no such request\r\n\r\n'); exec 8>&-
[ "$reply" = "HTTP/1.1 400 Bad Request" ] && pass "garbage: 400" || fail "garbage: '$reply'"
exec 8<>"/dev/tcp/127.0.0.1/$port"
reply=$(http_status 'GET /metrics HTTP/1.1\r\nHost: x\r\n\0\r\n\r\n'); exec 8>&-
[ "$reply" = "HTTP/1.1 400 Bad Request" ] && pass "a NUL byte: 400" || fail "a NUL byte: '$reply'"
exec 8<>"/dev/tcp/127.0.0.1/$port"
reply=$(http_status "GET /metrics HTTP/1.1\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)"); exec 8>&-
[ "$reply" = "HTTP/1.1 431 Request Header Fields Too Large" ] && pass "an endless header: 431" ||
    fail "an endless header: '$reply'"
code=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X POST "$URL")
[ "$code" = 405 ] && pass "POST: 405" || fail "POST: $code"
code=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' "http://$addr/")
[ "$code" = 404 ] && pass "another path: 404" || fail "another path: $code"

# The values, once the holder is idle and the queues empty.
expect_status 0 "flush" -- "$TIERPAGE" flush vm1 --socket "$SOCK"
curl -s --max-time 60 -D "$WORK/headers" -o "$WORK/scrape" "$URL"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/headers" && pass "served as text/plain; version=0.0.4" ||
    fail "content type: $(cat "$WORK/headers")"
"$TIERPAGE" stats vm1 --json --socket "$SOCK" >"$WORK/vm1.json"
"$TIERPAGE" stats idle --json --socket "$SOCK" >"$WORK/idle.json"
"$PY" - "$WORK/scrape" "$WORK/vm1.json" "$WORK/idle.json" >"$WORK/check" 2>&1 <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}  # raises on a malformed line
stats = {"vm1": json.load(open(sys.argv[2])), "idle": json.load(open(sys.argv[3]))}
bad = []

def value(family, suffix="", **labels):
    got = [s.value for s in families[family].samples
           if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())]
    if len(got) != 1:
        bad.append("%s%s%s: %d samples" % (family, suffix, labels, len(got)))
        return None
    return got[0]

def same(what, got, want):
    if got != want:
        bad.append("%s: metrics %s, stats %s" % (what, got, want))

for vm, s in stats.items():
    for key, family, suffix in [("resident_bytes", "tierpage_vm_resident_bytes", ""),
                                ("peak_resident_bytes", "tierpage_vm_peak_resident_bytes", ""),
                                ("faults", "tierpage_vm_faults", "_total"),
                                ("zero_fills", "tierpage_vm_zero_fills", "_total"),
                                ("evictions", "tierpage_vm_evictions", "_total"),
                                ("writebacks", "tierpage_vm_writebacks", "_total")]:
        same("%s %s" % (vm, key), value(family, suffix, vm=vm), s[key])
    same(vm + " cap", value("tierpage_vm_resident_cap_bytes", vm=vm), s["resident_cap_bytes"])
    same(vm + " latency count = faults", value("tierpage_vm_fault_latency_seconds", "_count", vm=vm), s["faults"])
    buckets = [x for x in families["tierpage_vm_fault_latency_seconds"].samples
               if x.name.endswith("_bucket") and x.labels["vm"] == vm]
    counts = [x.value for x in buckets]
    if counts != sorted(counts) or buckets[-1].labels["le"] != "+Inf" or counts[-1] != s["faults"]:
        bad.append("%s buckets %s" % (vm, counts))
    for t in s["tiers"]:
        for key in ["pages", "capacity_bytes"]:
            same("%s %s %s" % (vm, t["name"], key), value("tierpage_tier_" + key, vm=vm, tier=t["name"]), t[key])
        for key in ["hits", "puts", "demotions", "bytes_in", "bytes_out"]:
            same("%s %s %s" % (vm, t["name"], key),
                 value("tierpage_tier_" + key, "_total", vm=vm, tier=t["name"], plugin=t["plugin"]), t[key])
same("vm1 attached", value("tierpage_vm_client_attached", vm="vm1"), 1)
same("idle attached", value("tierpage_vm_client_attached", vm="idle"), 0)
same("vms", value("tierpage_vms"), 2)
same("pmem queue depth after flush", value("tierpage_tier_writeback_queue_pages", vm="vm1", tier="pmem"), 0)
same("pmem queue size", value("tierpage_tier_writeback_queue_capacity_pages", vm="vm1", tier="pmem"), 256)
same("dram queue size", value("tierpage_tier_writeback_queue_capacity_pages", vm="vm1", tier="dram"), 0)
s = stats["vm1"]
if not (s["faults"] > 0 and s["evictions"] > 0 and s["writebacks"] > 0 and s["tiers"][1]["puts"] > 0):
    bad.append("vm1 did not page: %s" % s)
print("\n".join(bad) if bad else "ok %d families" % len(families))
PY
expect_output "^ok [0-9]+ families$" "the text parses and every value equals tierpage stats --json" "$WORK/check"
grep -c '^# TYPE ' "$WORK/scrape" | { read -r n; [ "$n" -ge 25 ] && pass "$n families typed" || fail "$n families"; }

[ "$(ask verify)" = ok ] && pass "every page still intact" || fail "pages wrong at the end"
ask exit >/dev/null
wait "$holder_run_pid" 2>/dev/null
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
