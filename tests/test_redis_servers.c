/* The redis tier against real servers, driven directly (linked, not
 * dlopen'ed) so the tests can look inside a store: where the ring puts each
 * page, and how many MOVED and ASK redirections it followed.
 *
 * tests/redis_check.sh starts the servers and sets:
 *   REDIS_TEST_SERVERS   three plain servers, host:port,...
 *   REDIS_TEST_CLUSTER   one seed of a three-master cluster, host:port
 */
#include <check.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ns_keys.h"
#include "redis_tier.h"
#include "store_host.h"

#define PAGE 4096

static const tierpage_store_ops *ops;
static char servers[1024], seed[256];
static char server_list[3][64];

static void fill(unsigned char *page, uint64_t key, unsigned gen)
{
    for (size_t i = 0; i < PAGE; i++)
        page[i] = (unsigned char)(key * 31 + i * 7 + gen);
}

/* Opens `instance` of the namespace, or with NULL the namespace exclusive. */
static int open_as(const char *ns, const char *instance, const tierpage_store_option *opts, size_t n,
                   struct redis_store **out, tierpage_error *err)
{
    static struct tp_store_host host;
    tierpage_store_params params = {.namespace_name = ns, .page_size = PAGE, .options = opts, .option_count = n,
                                    .instance = instance, .exclusive = instance == NULL,
                                    .host = tp_store_host_init(&host, "redis")};
    void *store = NULL;
    int rc = ops->open(&params, &store, err);
    *out = store;
    return rc;
}

static struct redis_store *open_store(const char *ns, const tierpage_store_option *opts, size_t n)
{
    tierpage_error err = {{0}, {0}};
    struct redis_store *store;
    int rc = open_as(ns, NULL, opts, n, &store, &err);
    ck_assert_msg(rc == 0, "open %s failed: %d %s", ns, rc, err.message);
    return store;
}

static void put(struct redis_store *s, uint64_t key, unsigned gen)
{
    unsigned char page[PAGE];
    tierpage_error err = {{0}, {0}};
    fill(page, key, gen);
    int rc = ops->put(s, key, page, &err);
    ck_assert_msg(rc == 0, "put %" PRIu64 ": %d %s", key, rc, err.message);
}

static void get_ok(struct redis_store *s, uint64_t key, unsigned gen)
{
    unsigned char page[PAGE], want[PAGE];
    tierpage_error err = {{0}, {0}};
    int rc = ops->get(s, key, page, &err);
    ck_assert_msg(rc == 0, "get %" PRIu64 ": %d %s", key, rc, err.message);
    fill(want, key, gen);
    ck_assert_msg(memcmp(page, want, PAGE) == 0, "page %" PRIu64 " read back wrong", key);
}

static redisContext *connect_to(const char *endpoint)
{
    char host[64];
    snprintf(host, sizeof host, "%s", endpoint);
    char *colon = strrchr(host, ':');
    ck_assert_ptr_nonnull(colon);
    *colon = '\0';
    redisContext *c = redisConnect(host, atoi(colon + 1));
    ck_assert_msg(c && !c->err, "cannot connect to %s", endpoint);
    return c;
}

static long long integer_reply(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "'%s %s': reply type %d (%s)", fmt, arg, r->type,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* EXISTS on a node importing the key's slot, which answers only after ASKING. */
static long long exists_asking(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "ASKING");
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "ASKING refused");
    freeReplyObject(r);
    return integer_reply(c, "EXISTS %s", key);
}

/* Keys of a namespace on one server. */
static long long count_keys(redisContext *c, const char *ns)
{
    char pattern[128];
    snprintf(pattern, sizeof pattern, "tp:%s:*", ns);
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    ck_assert_ptr_nonnull(r);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

static void key_name(const char *ns, uint64_t key, char *out, size_t size)
{
    snprintf(out, size, "tp:%s:%016" PRIx64, ns, key);
}

/* ------------------------------------------------------ plain servers */

START_TEST(sharding_follows_the_ring)
{
    char ns[32];
    snprintf(ns, sizeof ns, "shard-%d", (int)getpid());
    tierpage_store_option o[] = {{"servers", servers}};
    struct redis_store *s = open_store(ns, o, 1);
    enum { N = 600 };
    for (uint64_t k = 0; k < N; k++)
        put(s, k, 1);
    redisContext *c[3];
    long long total = 0;
    for (int i = 0; i < 3; i++) {
        c[i] = connect_to(server_list[i]);
        long long n = count_keys(c[i], ns);
        ck_assert_msg(n > N / 10, "server %s holds only %lld of %d pages", server_list[i], n, N);
        total += n;
    }
    ck_assert_int_eq(total, N);
    /* Each page is on the server the ring names for it. */
    for (uint64_t k = 0; k < N; k += 7) {
        char name[128];
        key_name(ns, k, name, sizeof name);
        uint32_t owner;
        hash_ring_lookup(&s->ring, hash_ring_hash(name, strlen(name)), &owner, 1);
        ck_assert_int_eq(integer_reply(c[owner], "EXISTS %s", name), 1);
    }
    tierpage_store_usage u;
    tierpage_error err;
    ck_assert_int_eq(ops->usage(s, &u, &err), 0);
    ck_assert_uint_eq(u.pages, N);
    ck_assert_uint_eq(u.used_bytes, (uint64_t)N * PAGE);
    /* The servers drop the store's idle connections (as a server timeout or
     * restart would): the next calls reconnect instead of failing. */
    for (int i = 0; i < 3; i++) {
        redisReply *r = redisCommand(c[i], "CLIENT KILL TYPE normal SKIPME yes");
        ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0, "CLIENT KILL killed nothing");
        freeReplyObject(r);
    }
    for (uint64_t k = 0; k < N; k += 3)
        get_ok(s, k, 1);
    for (int i = 0; i < 3; i++)
        redisFree(c[i]);
    ops->close(s);
}
END_TEST

START_TEST(replicas_on_distinct_servers)
{
    char ns[32];
    snprintf(ns, sizeof ns, "repl-%d", (int)getpid());
    tierpage_store_option o[] = {{"servers", servers}, {"replicas", "2"}};
    struct redis_store *s = open_store(ns, o, 2);
    redisContext *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(server_list[i]);
    enum { N = 200 };
    for (uint64_t k = 0; k < N; k++)
        put(s, k, 2);
    long long copies = 0;
    for (int i = 0; i < 3; i++)
        copies += count_keys(c[i], ns);
    ck_assert_int_eq(copies, 2 * N);
    for (uint64_t k = 0; k < N; k += 5) {
        char name[128];
        key_name(ns, k, name, sizeof name);
        uint32_t two[2];
        ck_assert_uint_eq(hash_ring_lookup(&s->ring, hash_ring_hash(name, strlen(name)), two, 2), 2);
        ck_assert_int_eq(integer_reply(c[two[0]], "EXISTS %s", name), 1);
        ck_assert_int_eq(integer_reply(c[two[1]], "EXISTS %s", name), 1);
    }
    /* The first copy lost: the get is served by the second. */
    char name[128];
    key_name(ns, 3, name, sizeof name);
    uint32_t two[2];
    hash_ring_lookup(&s->ring, hash_ring_hash(name, strlen(name)), two, 2);
    ck_assert_int_eq(integer_reply(c[two[0]], "DEL %s", name), 1);
    uint64_t before = s->counters.fallbacks;
    get_ok(s, 3, 2);
    ck_assert_uint_eq(s->counters.fallbacks, before + 1);
    /* Delete removes every copy. */
    tierpage_error err;
    ck_assert_int_eq(ops->del(s, 4, &err), 0);
    key_name(ns, 4, name, sizeof name);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(integer_reply(c[i], "EXISTS %s", name), 0);
    unsigned char page[PAGE];
    ck_assert_int_eq(ops->get(s, 4, page, &err), -ENOENT);
    ck_assert_int_eq(ops->del(s, 4, &err), -ENOENT);
    for (int i = 0; i < 3; i++)
        redisFree(c[i]);
    ops->close(s);
}
END_TEST

static uint64_t under_replicated(struct redis_store *s)
{
    tierpage_store_usage u = {0, 0, 0, 0};
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(ops->usage(s, &u, &err), 0);
    return u.under_replicated_pages;
}

/* The usage counts the pages short of a copy (what the stack's stats
 * show) until the refill has written them again. */
START_TEST(pages_short_of_a_copy_are_counted_until_refilled)
{
    char ns[32];
    snprintf(ns, sizeof ns, "short-%d", (int)getpid());
    tierpage_store_option o[] = {{"servers", servers}, {"replicas", "2"}};
    struct redis_store *s = open_store(ns, o, 2);
    /* The test runs the refill passes itself, so that it can read the
     * count between them. */
    ns_heartbeat_stop(s->refiller);
    s->refiller = NULL;
    redisContext *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(server_list[i]);
    enum { N = 60 };
    uint32_t first_copy[N], second_copy[N];
    for (uint64_t k = 0; k < N; k++) {
        put(s, k, 4);
        char name[128];
        key_name(ns, k, name, sizeof name);
        uint32_t two[2];
        ck_assert_uint_eq(hash_ring_lookup(&s->ring, hash_ring_hash(name, strlen(name)), two, 2), 2);
        first_copy[k] = two[0];
        second_copy[k] = two[1];
    }
    ck_assert_uint_eq(under_replicated(s), 0);
    /* Every page loses its first copy (a server that lost data); each get
     * is served by the second copy and finds the first one missing. */
    for (uint64_t k = 0; k < N; k++) {
        char name[128];
        key_name(ns, k, name, sizeof name);
        ck_assert_int_eq(integer_reply(c[first_copy[k]], "DEL %s", name), 1);
    }
    for (uint64_t k = 0; k < N; k++)
        get_ok(s, k, 4);
    ck_assert_uint_eq(under_replicated(s), N);
    for (int pass = 0; pass < 50 && under_replicated(s) > 0; pass++)
        redis_refill_pass(s);
    ck_assert_uint_eq(under_replicated(s), 0);
    for (uint64_t k = 0; k < N; k++) {
        char name[128];
        key_name(ns, k, name, sizeof name);
        ck_assert_int_eq(integer_reply(c[first_copy[k]], "EXISTS %s", name), 1);
        ck_assert_int_eq(integer_reply(c[second_copy[k]], "EXISTS %s", name), 1);
    }
    for (int i = 0; i < 3; i++)
        redisFree(c[i]);
    ops->close(s);
}
END_TEST

START_TEST(clear_takes_only_its_namespace)
{
    char a[32], b[32], a_longer[40];
    snprintf(a, sizeof a, "clr-%d", (int)getpid());
    snprintf(b, sizeof b, "keep-%d", (int)getpid());
    snprintf(a_longer, sizeof a_longer, "%s-2", a); /* shares a's name as a prefix */
    tierpage_store_option o[] = {{"servers", servers}};
    struct redis_store *sa = open_store(a, o, 1), *sb = open_store(b, o, 1), *sc = open_store(a_longer, o, 1);
    for (uint64_t k = 0; k < 300; k++) {
        put(sa, k, 3);
        put(sb, k, 4);
        put(sc, k, 5);
    }
    redisContext *c = connect_to(server_list[0]);
    redisReply *r = redisCommand(c, "SET %s %s", "unrelated-key", "x");
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "SET unrelated-key failed");
    freeReplyObject(r);
    tierpage_error err;
    ck_assert_int_eq(ops->clear(sa, &err), 0);
    long long left_a = 0, left_b = 0, left_c = 0;
    for (int i = 0; i < 3; i++) {
        redisContext *ci = connect_to(server_list[i]);
        left_a += count_keys(ci, a);
        left_b += count_keys(ci, b);
        left_c += count_keys(ci, a_longer);
        redisFree(ci);
    }
    ck_assert_int_eq(left_a, 0);
    ck_assert_int_eq(left_b, 300);
    ck_assert_int_eq(left_c, 300);
    ck_assert_int_eq(integer_reply(c, "EXISTS %s", "unrelated-key"), 1);
    tierpage_store_usage u;
    ck_assert_int_eq(ops->usage(sa, &u, &err), 0);
    ck_assert_uint_eq(u.pages, 0);
    get_ok(sb, 17, 4);
    ck_assert_int_eq(ops->clear(sb, &err), 0);
    ck_assert_int_eq(ops->clear(sc, &err), 0);
    integer_reply(c, "DEL %s", "unrelated-key");
    redisFree(c);
    ops->close(sa);
    ops->close(sb);
    ops->close(sc);
}
END_TEST

/* Two running instances of one namespace keep their pages apart; clear
 * takes its own instance's pages and a dead instance's (no lease), never a
 * running one's; close takes its pages and lease; an exclusive namespace
 * refuses a second open while the first is open. */
START_TEST(instances_of_one_namespace_never_meet)
{
    char ns[32];
    snprintf(ns, sizeof ns, "inst-%d", (int)getpid());
    tierpage_store_option o[] = {{"servers", servers}};
    struct redis_store *a, *b;
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(open_as(ns, "00000000000000a1", o, 1, &a, &err), 0);
    ck_assert_int_eq(open_as(ns, "00000000000000b2", o, 1, &b, &err), 0);
    for (uint64_t k = 0; k < 60; k++) {
        put(a, k, 6);
        put(b, k, 7);
    }
    redisContext *c = connect_to(server_list[0]);
    char dead[128];
    snprintf(dead, sizeof dead, "tp:%s:00000000000000d3:0000000000000001", ns);
    freeReplyObject(redisCommand(c, "SET %s %s", dead, "left by a killed stack"));
    ck_assert_int_eq(ops->clear(a, &err), 0);
    ck_assert_int_eq(integer_reply(c, "EXISTS %s", dead), 0);
    unsigned char page[PAGE];
    ck_assert_int_eq(ops->get(a, 3, page, &err), -ENOENT);
    for (uint64_t k = 0; k < 60; k++)
        get_ok(b, k, 7);
    ops->close(b);
    char pattern[64], lease[64];
    snprintf(pattern, sizeof pattern, "%s:00000000000000b2", ns);
    snprintf(lease, sizeof lease, "tpl:%s:00000000000000b2", ns);
    long long left = 0;
    for (int i = 0; i < 3; i++) {
        redisContext *ci = connect_to(server_list[i]);
        left += count_keys(ci, pattern) + integer_reply(ci, "EXISTS %s", lease);
        redisFree(ci);
    }
    ck_assert_int_eq(left, 0);
    ops->close(a);

    struct redis_store *x, *y;
    ck_assert_int_eq(open_as(ns, NULL, o, 1, &x, &err), 0);
    ck_assert_int_eq(open_as(ns, NULL, o, 1, &y, &err), -EBUSY);
    ck_assert_msg(strstr(err.message, server_list[0]) && strstr(err.message, ns) &&
                  strstr(err.message, "is in use by another running stack"), "refusal: %s", err.message);
    ops->close(x);
    ck_assert_int_eq(open_as(ns, NULL, o, 1, &y, &err), 0);
    ops->close(y);
    redisFree(c);
}
END_TEST

/* ------------------------------------------------------------ cluster */

static char *myid(redisContext *c)
{
    redisReply *r = redisCommand(c, "CLUSTER MYID");
    ck_assert_msg(r && r->type == REDIS_REPLY_STRING, "CLUSTER MYID failed");
    char *id = strdup(r->str);
    freeReplyObject(r);
    return id;
}

static void cluster_cmd(redisContext *c, const char *fmt, unsigned slot, const char *id)
{
    redisReply *r = redisCommand(c, fmt, slot, id);
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "'%s' (slot %u): %s", fmt, slot,
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    freeReplyObject(r);
}

static void migrate(redisContext *from, const struct redis_address *to, const char *key)
{
    redisReply *r = redisCommand(from, "MIGRATE %s %d %s 0 5000", to->host, to->port, key);
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "MIGRATE %s: %s", key,
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    freeReplyObject(r);
}

/* Moves `slot` with its keys from src to dst the way redis-cli reshard does,
 * stopping after the keys moved (ASK phase) when finish is 0. */
static void move_slot_start(redisContext *src, redisContext *dst, const struct redis_address *dst_addr,
                            unsigned slot, const char *const *keys, size_t n)
{
    char *src_id = myid(src), *dst_id = myid(dst);
    cluster_cmd(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
    cluster_cmd(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
    for (size_t i = 0; i < n; i++)
        migrate(src, dst_addr, keys[i]);
    free(src_id);
    free(dst_id);
}

static void move_slot_finish(redisContext *const *all, size_t count, redisContext *dst, unsigned slot)
{
    char *dst_id = myid(dst);
    cluster_cmd(dst, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
    for (size_t i = 0; i < count; i++)
        if (all[i] != dst)
            cluster_cmd(all[i], "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
    free(dst_id);
}

START_TEST(cluster_follows_ask_and_moved)
{
    char ns[32];
    snprintf(ns, sizeof ns, "ask-%d", (int)getpid());
    tierpage_store_option o[] = {{"servers", seed}, {"cluster", "true"}};
    struct redis_store *s = open_store(ns, o, 2);
    struct redis_node *masters[8];
    ck_assert_uint_eq(cluster_map_masters(s->cluster, masters, 8), 3);

    /* Two keys of one slot. */
    char name1[128], name2[128];
    uint64_t k1 = 1, k2 = 2;
    key_name(ns, k1, name1, sizeof name1);
    unsigned slot = cluster_key_slot(name1, strlen(name1));
    for (;; k2++) {
        key_name(ns, k2, name2, sizeof name2);
        if (cluster_key_slot(name2, strlen(name2)) == slot)
            break;
    }
    put(s, k1, 6);
    struct redis_node *src_node = cluster_map_lookup(s->cluster, (uint16_t)slot);
    struct redis_node *dst_node = masters[0] == src_node ? masters[1] : masters[0];
    redisContext *all[3];
    redisContext *src = NULL, *dst = NULL;
    for (int i = 0; i < 3; i++) {
        all[i] = connect_to(masters[i]->addr.name);
        if (masters[i] == src_node)
            src = all[i];
        if (masters[i] == dst_node)
            dst = all[i];
    }

    /* ASK: k1 already moved to dst, the slot still migrating. */
    const char *keys[] = {name1};
    move_slot_start(src, dst, &dst_node->addr, slot, keys, 1);
    uint64_t ask = s->counters.ask, moved = s->counters.moved;
    get_ok(s, k1, 6);
    ck_assert_uint_gt(s->counters.ask, ask);
    ck_assert_ptr_eq(cluster_map_lookup(s->cluster, (uint16_t)slot), src_node); /* ASK leaves the map alone */
    /* A new key of a migrating slot goes to the importing node. */
    ask = s->counters.ask;
    put(s, k2, 7);
    ck_assert_uint_gt(s->counters.ask, ask);
    ck_assert_int_eq(exists_asking(dst, name2), 1);

    /* MOVED: the slot now belongs to dst. */
    move_slot_finish(all, 3, dst, slot);
    get_ok(s, k1, 6);
    get_ok(s, k2, 7);
    ck_assert_uint_gt(s->counters.moved, moved);
    ck_assert_ptr_eq(cluster_map_lookup(s->cluster, (uint16_t)slot), dst_node);
    moved = s->counters.moved;
    get_ok(s, k1, 6);
    ck_assert_uint_eq(s->counters.moved, moved); /* the map learnt it */

    /* A pipelined batch over every master while the slot moves back: the
     * replies of k1 and k2 are MOVED, the others are answered at once. */
    const char *both[] = {name1, name2};
    move_slot_start(dst, src, &src_node->addr, slot, both, 2);
    move_slot_finish(all, 3, src, slot);
    enum { N = 40 };
    uint64_t bkeys[N];
    unsigned char *buf = malloc((size_t)N * PAGE), *want = malloc(PAGE);
    void *pages[N];
    const void *cpages[N];
    int results[N];
    tierpage_error err = {{0}, {0}};
    bkeys[0] = k1;
    bkeys[1] = k2;
    for (int i = 2; i < N; i++)
        bkeys[i] = 1000 + (uint64_t)i;
    for (int i = 0; i < N; i++) {
        pages[i] = buf + (size_t)i * PAGE;
        cpages[i] = pages[i];
        fill(pages[i], bkeys[i], 8);
    }
    for (int i = 2; i < N; i++)
        put(s, bkeys[i], 8);
    memset(buf, 0, (size_t)N * PAGE);
    moved = s->counters.moved;
    ck_assert_int_eq(ops->get_batch(s, N, bkeys, pages, results, &err), 0);
    ck_assert_uint_ge(s->counters.moved, moved + 1);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(results[i], 0);
        fill(want, bkeys[i], i == 0 ? 6 : i == 1 ? 7 : 8);
        ck_assert_msg(memcmp(pages[i], want, PAGE) == 0, "batch page %d wrong", i);
    }
    for (int i = 0; i < N; i++)
        fill(pages[i], bkeys[i], 9);
    ck_assert_int_eq(ops->put_batch(s, N, bkeys, cpages, results, &err), 0);
    for (int i = 0; i < N; i++)
        get_ok(s, bkeys[i], 9);
    ck_assert_int_eq(ops->clear(s, &err), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(count_keys(all[i], ns), 0);
        redisFree(all[i]);
    }
    free(buf);
    free(want);
    ops->close(s);
}
END_TEST

int main(void)
{
    const char *env_servers = getenv("REDIS_TEST_SERVERS"), *env_seed = getenv("REDIS_TEST_CLUSTER");
    if (!env_servers || !env_seed) {
        fprintf(stderr, "set REDIS_TEST_SERVERS and REDIS_TEST_CLUSTER (tests/redis_check.sh does)\n");
        return 1;
    }
    snprintf(servers, sizeof servers, "%s", env_servers);
    snprintf(seed, sizeof seed, "%s", env_seed);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", env_servers);
    int n = 0;
    for (char *tok = strtok(copy, ","); tok && n < 3; tok = strtok(NULL, ","))
        snprintf(server_list[n++], sizeof server_list[0], "%s", tok);
    if (n != 3) {
        fprintf(stderr, "REDIS_TEST_SERVERS needs three servers\n");
        return 1;
    }
    ops = tierpage_store_entry();

    Suite *s = suite_create("redis servers");
    TCase *plain = tcase_create("plain servers");
    tcase_add_test(plain, sharding_follows_the_ring);
    tcase_add_test(plain, replicas_on_distinct_servers);
    tcase_add_test(plain, pages_short_of_a_copy_are_counted_until_refilled);
    tcase_add_test(plain, clear_takes_only_its_namespace);
    tcase_add_test(plain, instances_of_one_namespace_never_meet);
    suite_add_tcase(s, plain);
    TCase *cluster = tcase_create("cluster");
    tcase_add_test(cluster, cluster_follows_ask_and_moved);
    suite_add_tcase(s, cluster);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
