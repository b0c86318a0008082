# tierpage run: programs with glibc's malloc, with jemalloc or tcmalloc of
# their own, and Debian's redis-server (jemalloc), each allocating well
# beyond the resident cap and checking what it reads back.
. "$(dirname "$0")/script_lib.sh"
REDIS_RUN=
trap '[ -n "$REDIS_RUN" ] && kill "$REDIS_RUN" 2>/dev/null; cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 8MiB 32MiB 1GiB

# churn NAME PROGRAM [ENV...]: alloc_churn's checks pass and its memory was paged
churn() {
    local name=$1 program=$2
    shift 2
    expect_status 0 "$name: every entry point of the malloc family, beyond the cap" -- \
        env "$@" timeout 300 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/$name.json" -- "$program"
    expect_output "all blocks checked" "$name: every block reads back as written"
    local ev
    ev=$(json_field "$WORK/$name.json" evictions 2>/dev/null || echo 0)
    [ "$ev" -gt 10000 ] && pass "$name: its memory was paged ($ev evictions)" || fail "$name: $ev evictions"
}

churn glibc "$BUILD/tests/alloc_churn"
# A non-PIE program that takes malloc's address (Debian's python3): its
# malloc symbol is undefined but has a value, its PLT entry. It once was
# taken for an allocator of the program's own, whose calls then looped
# back into the shim forever.
if readelf --dyn-syms -W "$BUILD/tests/alloc_churn_nopie" | awk '$8 ~ /^malloc@/ && $7 == "UND" && $2 !~ /^0+$/ {f=1} END {exit !f}'
then pass "alloc_churn_nopie has malloc as a PLT entry with an address"
else fail "alloc_churn_nopie's malloc is not a PLT entry with an address: this part tests nothing"; fi
churn nopie "$BUILD/tests/alloc_churn_nopie"

if [ -x "$BUILD/tests/alloc_churn_jemalloc" ]; then
    ldd "$BUILD/tests/alloc_churn_jemalloc" | grep -q libjemalloc && pass "alloc_churn_jemalloc links jemalloc" ||
        fail "alloc_churn_jemalloc does not link jemalloc"
    churn jemalloc "$BUILD/tests/alloc_churn_jemalloc"
else
    fail "alloc_churn_jemalloc was not built: install libjemalloc-dev (scripts/install-deps.sh --test)"
fi

tcmalloc=$(ldconfig -p | awk '/libtcmalloc_minimal\.so\.4 /{print $NF; exit}')
if [ -n "$tcmalloc" ]; then
    churn tcmalloc "$BUILD/tests/alloc_churn" LD_PRELOAD="$tcmalloc"
else
    fail "libtcmalloc_minimal.so.4 is missing: install libtcmalloc-minimal4 (scripts/install-deps.sh --test)"
fi

# Debian's redis-server, linked with jemalloc, loaded with 120 MiB of
# values through a 16 MiB cap; every value read back.
if ldd "$(command -v redis-server)" | grep -q libjemalloc; then pass "redis-server links jemalloc"; else
    fail "redis-server does not link jemalloc: this part tests nothing"; fi
small_stack "$WORK/r.yaml" 16MiB 64MiB 1GiB
sock=$WORK/redis.sock
"$TIERPAGE" run -c "$WORK/r.yaml" --stats "$WORK/redis.json" -- redis-server --port 0 --unixsocket "$sock" \
    --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" >"$WORK/redis.out" 2>&1 &
REDIS_RUN=$!
answers_ping() { redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG; }
if wait_while_running "$REDIS_RUN" 20 answers_ping; then pass "redis-server starts under tierpage run"; else
    fail "redis-server did not start"; sed 's/^/      /' "$WORK/redis.out" | tail -10; fi
timeout 600 python3 - "$sock" >"$WORK/out" 2>&1 <<'PY'
import socket, sys
KEYS, SIZE, BATCH = 60000, 2000, 500
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
def value(i):
    return (b"%08d:" % i) * (SIZE // 9) + b"v" * (SIZE % 9)
def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
def reply():
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        data = f.read(n + 2)
        return None if n < 0 else data[:-2]
    return line.rstrip(b"\r\n")
for first in range(0, KEYS, BATCH):
    s.sendall(b"".join(command(b"SET", b"key:%d" % i, value(i)) for i in range(first, first + BATCH)))
    for _ in range(BATCH):
        r = reply()
        assert r == b"+OK", r
bad = 0
for first in range(0, KEYS, BATCH):
    s.sendall(b"".join(command(b"GET", b"key:%d" % i) for i in range(first, first + BATCH)))
    for i in range(first, first + BATCH):
        if reply() != value(i):
            bad += 1
s.sendall(command(b"DBSIZE"))
print("keys %s, %d wrong values" % (reply().decode(), bad))
sys.exit(1 if bad else 0)
PY
[ $? = 0 ] && pass "redis-server: 60000 values of 2000 bytes read back" || { fail "redis values"; cat "$WORK/out"; }
expect_output "keys :60000, 0 wrong" "redis-server holds every key"
redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1
wait "$REDIS_RUN"
status=$?
REDIS_RUN=
[ "$status" = 0 ] && pass "redis-server exits 0 under tierpage run" || { fail "redis-server exit $status"; tail -5 "$WORK/redis.out"; }
ev=$(json_field "$WORK/redis.json" evictions 2>/dev/null || echo 0)
[ "$ev" -gt 10000 ] && pass "redis-server's memory was paged ($ev evictions)" || fail "redis-server: $ev evictions"

finish
