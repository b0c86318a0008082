# sqlite3 with an in-memory database of a million rows and an index (about
# 150 MiB of page cache, which -pagecache hands it in one allocation)
# through a 32 MiB resident cap: its integrity check passes, and its
# queries answer as without tierpage.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 32MiB 32MiB 1GiB

cat >"$WORK/q.sql" <<'SQL'
PRAGMA cache_size=-400000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
INSERT INTO t SELECT x, (x * 2654435761) % 1000003, printf('%040d', x * 7) FROM c;
CREATE INDEX tk ON t(k);
UPDATE t SET v = 'x' || substr(v, 38, 3) || v WHERE id % 3 = 0;
DELETE FROM t WHERE id % 10 = 7;
PRAGMA integrity_check;
SELECT count(*), sum(k), sum(length(v)), min(v), max(v) FROM t;
SELECT k % 97 AS b, count(*), sum(id) FROM t GROUP BY b ORDER BY b;
SELECT id, v FROM t WHERE k BETWEEN 5000 AND 5100 ORDER BY id;
SQL
# -pagecache SIZE N: one allocation of N slots for the page cache.
sqlite=(sqlite3 -batch -pagecache 4368 40000 :memory:)
expect_status 0 "sqlite3 without tierpage" -- sh -c '"$@" <"$0" >"$0.plain"' "$WORK/q.sql" "${sqlite[@]}"
expect_status 0 "sqlite3 under tierpage run, 32 MiB resident" -- sh -c '"$@" <"$0" >"$0.paged"' "$WORK/q.sql" \
    timeout 600 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/sqlite.json" -- "${sqlite[@]}"
[ "$(head -1 "$WORK/q.sql.paged")" = ok ] && pass "PRAGMA integrity_check: ok" ||
    fail "integrity_check: $(head -3 "$WORK/q.sql.paged")"
[ "$(sed -n 2p "$WORK/q.sql.paged" | cut -d'|' -f1)" = 900000 ] && pass "900000 rows" ||
    fail "rows: $(sed -n 2p "$WORK/q.sql.paged")"
expect_same "the same answers as without tierpage" "$WORK/q.sql.plain" "$WORK/q.sql.paged"
expect_paged "sqlite3" "$WORK/sqlite.json"
finish
