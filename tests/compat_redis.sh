# Debian's redis-server (jemalloc) under tierpage run through a 16 MiB
# resident cap, loaded with about 120 MiB of strings, hashes, lists and
# sorted sets (redis-cli --pipe), then BGSAVE while clients write; the RDB
# file is loaded by a fresh server without tierpage and compared with
# DEBUG DIGEST, and so is a server without tierpage loaded the same way.
# Clients write only database 1 during the save, so database 0 must come
# back exactly as loaded.
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/redis_servers.sh"
trap 'redis_stop_all; cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 16MiB 16MiB 1GiB

python3 - "$WORK/load.resp" <<'PY'
import sys
def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(sys.argv[1], "wb") as f:
    for i in range(80000):
        f.write(command("SET", "key:%d" % i, (b"%08d:" % (i * 7919)) * 100 + b"v" * (i % 50)))
    for i in range(2000):
        f.write(command("HSET", "hash:%d" % i, *[x for j in range(20) for x in ("f%d" % j, "%d-%d" % (i, j * j))]))
    for i in range(1000):
        f.write(command("RPUSH", "list:%d" % i, *["%d.%d" % (i, j) for j in range(50)]))
    for i in range(500):
        f.write(command("ZADD", "zset:%d" % i, *[x for j in range(40) for x in (j * 1.5 + i, "m%d" % (j * i))]))
PY
digest() { redis_cli "$1" debug digest; }

REDIS_PREFIX=(bash -c 'exec 2>>"$0"; exec "$@"' "$WORK/paged.err"
    timeout 1200 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/redis.json" --)
need "redis-server starts under tierpage run" -- redis_start paged --enable-debug-command yes
REDIS_PREFIX=()
need "a redis-server without tierpage starts" -- redis_start plain --enable-debug-command yes

for name in plain paged; do
    redis_cli "$name" --pipe <"$WORK/load.resp" >"$WORK/$name.pipe" 2>&1
    grep -q 'errors: 0, replies: 83500' "$WORK/$name.pipe" && pass "$name: redis-cli --pipe loaded 83500 keys" ||
        fail "$name: redis-cli --pipe: $(tail -1 "$WORK/$name.pipe")"
done
loaded=$(digest paged)
[ "$loaded" = "$(digest plain)" ] && pass "the same DEBUG DIGEST as without tierpage ($loaded)" ||
    fail "DEBUG DIGEST $loaded under tierpage, $(digest plain) without"

# Clients write database 1 while the server saves.
redis-benchmark -h 127.0.0.1 -p "${REDIS_PORT[paged]}" --dbnum 1 -t set,lpush -n 30000 -r 10000 -d 512 -P 8 -q \
    >"$WORK/writers.log" 2>&1 &
writers=$!
redis_cli paged bgsave >"$WORK/bgsave.log" 2>&1
expect_output "Background saving started" "BGSAVE starts while clients write" "$WORK/bgsave.log"
for _ in $(seq 600); do
    redis_cli paged info persistence | grep -q 'rdb_bgsave_in_progress:0' && break
    sleep 0.1
done
wait "$writers" && pass "the clients' writes went through" || fail "redis-benchmark: $(tail -3 "$WORK/writers.log")"
redis_cli paged info persistence >"$WORK/persistence"
expect_output "rdb_last_bgsave_status:ok" "BGSAVE succeeds" "$WORK/persistence"
[ "$(digest paged)" != "$loaded" ] && pass "database 1 was written meanwhile" || fail "the clients wrote nothing"

mkdir -p "$REDIS_DIR/fresh"
cp "$REDIS_DIR/paged/dump.rdb" "$REDIS_DIR/fresh/dump.rdb"
need "a fresh redis-server without tierpage loads the RDB" -- redis_start fresh --enable-debug-command yes
redis_cli fresh -n 1 flushdb >/dev/null
[ "$(digest fresh)" = "$loaded" ] && pass "BGSAVE's RDB holds database 0 as loaded" ||
    fail "database 0 from the RDB: DEBUG DIGEST $(digest fresh), loaded $loaded"
redis_cli paged shutdown nosave >/dev/null 2>&1
wait "${REDIS_PID[paged]}"
unset "REDIS_PID[paged]"
expect_paged "redis-server" "$WORK/redis.json"
finish
