/* The redis tier's parts that need no server: slot hashing, the slot map
 * read from a CLUSTER SLOTS reply, the consistent-hash ring, the key set, option parsing. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_map.h"
#include "hash_ring.h"
#include "key_set.h"
#include "ns_keys.h"
#include "redis_options.h"
#include "store_host.h"

START_TEST(crc16_and_slots)
{
    /* The reference values of the Redis Cluster specification. */
    ck_assert_uint_eq(cluster_crc16("123456789", 9), 0x31c3);
    ck_assert_uint_eq(cluster_key_slot("foo", 3), 12182);
    ck_assert_uint_eq(cluster_key_slot("{user1000}.following", 20), cluster_key_slot("{user1000}.followers", 20));
    ck_assert_uint_eq(cluster_key_slot("{user1000}.following", 20), cluster_key_slot("user1000", 8));
    /* An empty tag hashes the whole key. */
    ck_assert_uint_eq(cluster_key_slot("foo{}{bar}", 10), cluster_crc16("foo{}{bar}", 10) & 16383);
    ck_assert_uint_eq(cluster_key_slot("foo{{bar}}zap", 13), cluster_key_slot("{bar", 4));
}
END_TEST

/* The reply hiredis reads from RESP text. */
static redisReply *reply_of(const char *resp)
{
    redisReader *reader = redisReaderCreate();
    void *reply = NULL;
    redisReaderFeed(reader, resp, strlen(resp));
    ck_assert_int_eq(redisReaderGetReply(reader, &reply), REDIS_OK);
    ck_assert_ptr_nonnull(reply);
    redisReaderFree(reader);
    return reply;
}

START_TEST(slot_map_from_cluster_slots)
{
    static const struct redis_conn_settings settings = {.connect_timeout_ms = 100, .io_timeout_ms = 100};
    struct redis_address seed;
    ck_assert_int_eq(redis_address_parse("127.0.0.1:7000", 14, &seed), 0);
    struct cluster_map *map = cluster_map_new(&seed, 1, &settings);
    redisReply *two = reply_of("*2\r\n"
                               "*3\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
                               "*3\r\n:8192\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n");
    ck_assert_int_eq(cluster_map_load_slots(map, two, "10.0.0.9"), 0);
    ck_assert_str_eq(cluster_map_lookup(map, 0)->addr.name, "127.0.0.1:7000");
    ck_assert_str_eq(cluster_map_lookup(map, 16383)->addr.name, "10.0.0.9:7001");
    ck_assert_uint_eq(cluster_map_uncovered(map), 0);
    /* A new or reset node knows of no slot: the map it would give is not
     * the cluster's, and the one read before stays. */
    redisReply *none = reply_of("*0\r\n");
    ck_assert_int_eq(cluster_map_load_slots(map, none, "10.0.0.9"), -ENOENT);
    ck_assert_uint_eq(cluster_map_uncovered(map), 0);
    redisReply *bad = reply_of("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    ck_assert_int_eq(cluster_map_load_slots(map, bad, "10.0.0.9"), -EPROTO);
    ck_assert_str_eq(cluster_map_lookup(map, 0)->addr.name, "127.0.0.1:7000");
    freeReplyObject(two);
    freeReplyObject(none);
    freeReplyObject(bad);
    cluster_map_free(map);
}
END_TEST

static const char *three[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
static const char *four[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"};

static uint64_t key_hash(unsigned i)
{
    char key[64];
    int n = snprintf(key, sizeof key, "tp:test:%x", i);
    return hash_ring_hash(key, (size_t)n);
}

START_TEST(ring_spreads_keys)
{
    struct hash_ring ring;
    ck_assert_int_eq(hash_ring_build(&ring, three, 3), 0);
    unsigned counts[3] = {0, 0, 0};
    enum { N = 30000 };
    for (unsigned i = 0; i < N; i++) {
        uint32_t s;
        ck_assert_uint_eq(hash_ring_lookup(&ring, key_hash(i), &s, 1), 1);
        ck_assert_uint_lt(s, 3);
        counts[s]++;
    }
    /* 160 points a server: each share within 20% of a third. */
    for (int s = 0; s < 3; s++)
        ck_assert_msg(counts[s] > N / 3 * 8 / 10 && counts[s] < N / 3 * 12 / 10, "server %d has %u of %u keys", s,
                      counts[s], N);
    hash_ring_free(&ring);
}
END_TEST

START_TEST(ring_replicas_are_distinct_and_stable)
{
    struct hash_ring ring;
    ck_assert_int_eq(hash_ring_build(&ring, three, 3), 0);
    for (unsigned i = 0; i < 2000; i++) {
        uint32_t two[2], one;
        ck_assert_uint_eq(hash_ring_lookup(&ring, key_hash(i), two, 2), 2);
        ck_assert_uint_ne(two[0], two[1]);
        hash_ring_lookup(&ring, key_hash(i), &one, 1);
        ck_assert_uint_eq(one, two[0]); /* the first replica is the key's owner */
    }
    uint32_t all[5];
    ck_assert_uint_eq(hash_ring_lookup(&ring, 42, all, 5), 3); /* no more than the servers */
    hash_ring_free(&ring);
}
END_TEST

START_TEST(ring_adding_a_server_moves_only_its_keys)
{
    struct hash_ring r3, r4;
    ck_assert_int_eq(hash_ring_build(&r3, three, 3), 0);
    ck_assert_int_eq(hash_ring_build(&r4, four, 4), 0);
    enum { N = 20000 };
    unsigned moved = 0;
    for (unsigned i = 0; i < N; i++) {
        uint32_t a, b;
        hash_ring_lookup(&r3, key_hash(i), &a, 1);
        hash_ring_lookup(&r4, key_hash(i), &b, 1);
        if (a != b) {
            ck_assert_uint_eq(b, 3); /* a key only ever moves to the new server */
            moved++;
        }
    }
    ck_assert_msg(moved > N / 4 * 7 / 10 && moved < N / 4 * 13 / 10, "%u of %u keys moved", moved, N);
    hash_ring_free(&r3);
    hash_ring_free(&r4);
}
END_TEST

START_TEST(key_set_counts)
{
    struct key_set set;
    ck_assert_int_eq(key_set_init(&set), 0);
    enum { N = 50000 };
    for (uint64_t k = 0; k < N; k++)
        ck_assert_int_eq(key_set_add(&set, k * 7919), 1);
    ck_assert_int_eq(key_set_add(&set, 7919), 0);
    ck_assert_int_eq(key_set_add(&set, UINT64_MAX), 1);
    ck_assert_uint_eq(key_set_count(&set), N + 1);
    for (uint64_t k = 0; k < N; k += 2)
        ck_assert_int_eq(key_set_remove(&set, k * 7919), 1);
    ck_assert_int_eq(key_set_remove(&set, 0), 0);
    for (uint64_t k = 0; k < N; k++)
        ck_assert_int_eq(key_set_contains(&set, k * 7919), (int)(k % 2));
    ck_assert_int_eq(key_set_contains(&set, UINT64_MAX), 1);
    ck_assert_int_eq(key_set_remove(&set, UINT64_MAX), 1);
    ck_assert_uint_eq(key_set_count(&set), N / 2);
    key_set_clear(&set);
    ck_assert_uint_eq(key_set_count(&set), 0);
    ck_assert_int_eq(key_set_contains(&set, 7919), 0);
    key_set_destroy(&set);
}
END_TEST

/* Each key keeps its page's version through growth and deletions; the
 * DEGRADED count follows every change; a claim is exclusive. */
START_TEST(key_set_versions_and_degraded_pages)
{
    struct key_set set;
    ck_assert_int_eq(key_set_init(&set), 0);
    enum { N = 20000 };
    for (uint64_t k = 0; k < N; k++)
        ck_assert_int_eq(key_set_settle(&set, k * 31, (k + 1) | (k % 3 == 0 ? KEY_SET_DEGRADED : 0)), 1);
    ck_assert_uint_eq(key_set_degraded(&set), (N + 2) / 3);
    for (uint64_t k = 0; k < N; k += 2)
        key_set_remove(&set, k * 31);
    uint64_t v, expect_degraded = 0;
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_int_eq(key_set_get(&set, k * 31, &v), (int)(k % 2));
        if (k % 2) {
            ck_assert_uint_eq(v & KEY_SET_VERSION_MASK, k + 1);
            expect_degraded += k % 3 == 0;
        }
    }
    ck_assert_uint_eq(key_set_degraded(&set), expect_degraded);

    /* A claimed key cannot be claimed again until settled. */
    ck_assert_int_eq(key_set_claim(&set, 31, &v), 1);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(key_set_try_claim(&set, 31, &v), 0);
    ck_assert_int_eq(key_set_settle(&set, 31, 7), 0);
    ck_assert_int_eq(key_set_try_claim(&set, 31, &v), 1);
    key_set_unclaim(&set, 31);
    ck_assert_int_eq(key_set_claim(&set, 12345678, &v), 0); /* absent: nothing to claim */

    /* Every key to check: listed in batches, each once. */
    key_set_degrade_all(&set);
    ck_assert_uint_eq(key_set_degraded(&set), key_set_count(&set));
    uint64_t keys[100], cursor = 0, listed = 0;
    do
        listed += key_set_list_degraded(&set, keys, 100, &cursor);
    while (cursor != 0);
    ck_assert_uint_eq(listed, key_set_count(&set));
    key_set_settle(&set, 31, 9);
    ck_assert_uint_eq(key_set_degraded(&set), key_set_count(&set) - 1);
    key_set_mark_degraded(&set, 31);
    ck_assert_uint_eq(key_set_degraded(&set), key_set_count(&set));
    key_set_clear(&set);
    ck_assert_uint_eq(key_set_degraded(&set), 0);
    key_set_destroy(&set);
}
END_TEST

/* Batches that share keys, claimed by two threads in opposite orders. */
struct batch_claimer {
    struct key_set *set;
    uint64_t keys[3];
    int rounds;
};

static void *claim_batches(void *arg)
{
    struct batch_claimer *c = arg;
    int skip[3] = {0, 0, 0};
    for (int r = 0; r < c->rounds; r++) {
        key_set_claim_all(c->set, 3, c->keys, skip);
        for (int i = 0; i < 3; i++) {
            uint64_t v;
            ck_assert_int_eq(key_set_try_claim(c->set, c->keys[i], &v), 0); /* held by this batch */
            ck_assert_int_eq(key_set_get(c->set, c->keys[i], &v), 1);
            key_set_settle(c->set, c->keys[i], (v & KEY_SET_VERSION_MASK) + 1);
        }
    }
    return NULL;
}

struct claim_waiter {
    struct key_set *set;
    int done;
};

static void *claim_two(void *arg)
{
    struct claim_waiter *w = arg;
    uint64_t keys[2] = {2, 1};
    int skip[2] = {0, 0};
    key_set_claim_all(w->set, 2, keys, skip);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    key_set_unclaim(w->set, 1);
    key_set_unclaim(w->set, 2);
    return NULL;
}

/* A batch's claims are taken together: never some while waiting for the
 * others, so batches sharing keys in any order all finish; a key given
 * twice does not wait on itself; skipped and absent keys are left alone. */
START_TEST(key_set_batch_claims)
{
    struct key_set set;
    ck_assert_int_eq(key_set_init(&set), 0);
    for (uint64_t k = 1; k <= 3; k++)
        ck_assert_int_eq(key_set_settle(&set, k, 0), 1);

    uint64_t twice[3] = {2, 2, 99};
    int none[3] = {0, 0, 0};
    key_set_claim_all(&set, 3, twice, none);
    uint64_t v;
    ck_assert_int_eq(key_set_try_claim(&set, 2, &v), 0);
    ck_assert_int_eq(key_set_contains(&set, 99), 0);
    key_set_unclaim(&set, 2);

    uint64_t one_skipped[2] = {1, 3};
    int skip_3[2] = {0, 1};
    key_set_claim_all(&set, 2, one_skipped, skip_3);
    ck_assert_int_eq(key_set_try_claim(&set, 3, &v), 1);
    key_set_unclaim(&set, 3);

    /* Key 1 is still claimed: a batch holding it waits until it is given back. */
    struct claim_waiter w = {&set, 0};
    pthread_t waiter;
    ck_assert_int_eq(pthread_create(&waiter, NULL, claim_two, &w), 0);
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    ck_assert_int_eq(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
    ck_assert_int_eq(key_set_try_claim(&set, 2, &v), 1); /* nothing taken while it waits */
    key_set_unclaim(&set, 2);
    key_set_unclaim(&set, 1);
    pthread_join(waiter, NULL);
    ck_assert_int_eq(w.done, 1);

    enum { ROUNDS = 20000 };
    struct batch_claimer up = {&set, {1, 2, 3}, ROUNDS}, down = {&set, {3, 2, 1}, ROUNDS};
    pthread_t a, b;
    ck_assert_int_eq(pthread_create(&a, NULL, claim_batches, &up), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, claim_batches, &down), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    for (uint64_t k = 1; k <= 3; k++) {
        ck_assert_int_eq(key_set_get(&set, k, &v), 1);
        ck_assert_uint_eq(v, 2 * ROUNDS);
    }
    key_set_destroy(&set);
}
END_TEST

/* parse KEY=VALUE... ; returns the rc, err filled. */
static int parse(struct redis_options *o, tierpage_error *err, int n, ...)
{
    tierpage_store_option opts[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        opts[i].key = va_arg(ap, const char *);
        opts[i].value = va_arg(ap, const char *);
    }
    va_end(ap);
    static struct tp_store_host host;
    tierpage_store_params params = {.namespace_name = "ns", .page_size = 4096, .options = opts,
                                    .option_count = (size_t)n, .host = tp_store_host_init(&host, "redis")};
    memset(err, 0, sizeof *err);
    return redis_options_parse(&params, o, err);
}

/* Key names of one running stack per namespace (tiers/common/ns_keys.h). */
START_TEST(namespace_keys)
{
    struct ns_keys k;
    tierpage_error err = {{0}, {0}};
    tierpage_store_params p = {.namespace_name = "web-1", .page_size = 4096, .instance = "0123456789abcdef"};
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), 0);
    char key[NS_PAGE_KEY_MAX + 1], inst[NS_ID_LEN + 1];
    size_t n = ns_page_key(&k, 0x2a, key, sizeof key);
    ck_assert_str_eq(key, "tp:web-1:0123456789abcdef:000000000000002a");
    ck_assert_uint_eq(n, strlen(key));
    ck_assert_str_eq(k.lease, "tpl:web-1:0123456789abcdef");
    ck_assert_int_eq(ns_key_classify(&k, key, n, inst), NS_KEY_INSTANCE);
    ck_assert_str_eq(inst, "0123456789abcdef");
    ck_assert_int_eq(ns_key_classify(&k, "tp:web-1:000000000000002a", 25, inst), NS_KEY_EXCLUSIVE);
    ck_assert_int_eq(ns_key_classify(&k, "tp:web-12:000000000000002a", 26, inst), NS_KEY_FOREIGN);
    ck_assert_int_eq(ns_key_classify(&k, "tp:web-1:0123456789abcdeX:000000000000002a", 42, inst), NS_KEY_FOREIGN);
    ck_assert_int_eq(ns_key_classify(&k, "tpl:web-1:0123456789abcdef", 26, inst), NS_KEY_FOREIGN);
    char lease[NS_PREFIX_MAX + 2];
    ns_lease_key_of(&k, "fedcba9876543210", lease, sizeof lease);
    ck_assert_str_eq(lease, "tpl:web-1:fedcba9876543210");

    p.exclusive = 1;
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), 0);
    ns_page_key(&k, 0x2a, key, sizeof key);
    ck_assert_str_eq(key, "tp:web-1:000000000000002a");
    ck_assert_str_eq(k.lease, "tpl:web-1");
    p.exclusive = 0;
    p.instance = NULL; /* a caller that predates the field: exclusive */
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), 0);
    ck_assert_int_eq(k.exclusive, 1);

    p.instance = "0123";
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), -EINVAL);
    p.instance = "0123456789abcdef";
    p.namespace_name = "a:b";
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "':'"));
    p.namespace_name = "";
    ck_assert_int_eq(ns_keys_init(&k, &p, "t", &err), -EINVAL);
}
END_TEST

START_TEST(options)
{
    static struct redis_options o;
    tierpage_error err;
    ck_assert_int_eq(parse(&o, &err, 1, "servers", "127.0.0.1:6379, /run/redis.sock,[::1]:7000,db.example:1"), 0);
    ck_assert_uint_eq(o.server_count, 4);
    ck_assert_str_eq(o.servers[0].host, "127.0.0.1");
    ck_assert_int_eq(o.servers[0].port, 6379);
    ck_assert_str_eq(o.servers[1].host, "/run/redis.sock");
    ck_assert_int_eq(o.servers[1].port, 0);
    ck_assert_str_eq(o.servers[2].host, "::1");
    ck_assert_str_eq(o.servers[2].name, "[::1]:7000");
    ck_assert_uint_eq(o.replicas, 1);
    ck_assert_int_eq(o.cluster, 0);
    ck_assert_int_eq(o.policy_check, REDIS_POLICY_REFUSE);

    ck_assert_int_eq(parse(&o, &err, 6, "servers", "a:1,b:2,c:3", "replicas", "3", "password", "pw", "user", "u",
                           "io_timeout_ms", "250", "eviction_policy_check", "warn"), 0);
    ck_assert_uint_eq(o.replicas, 3);
    ck_assert_int_eq(o.io_timeout_ms, 250);
    ck_assert_int_eq(o.connect_timeout_ms, 1000);
    ck_assert_int_eq(o.policy_check, REDIS_POLICY_WARN);

    /* The host's rules: a default port, unix:PATH, durations with units. */
    ck_assert_int_eq(parse(&o, &err, 3, "servers", "localhost, unix:/run/r.sock", "connect_timeout_ms", "2s",
                           "io_timeout_ms", "1min"), 0);
    ck_assert_uint_eq(o.server_count, 2);
    ck_assert_str_eq(o.servers[0].name, "localhost:6379");
    ck_assert_int_eq(o.servers[0].port, 6379);
    ck_assert_str_eq(o.servers[1].host, "/run/r.sock");
    ck_assert_str_eq(o.servers[1].name, "/run/r.sock");
    ck_assert_int_eq(o.servers[1].port, 0);
    ck_assert_int_eq(o.connect_timeout_ms, 2000);
    ck_assert_int_eq(o.io_timeout_ms, 60000);
    ck_assert_int_eq(parse(&o, &err, 2, "servers", "a:1", "lease_ms", "1500"), 0);
    ck_assert_uint_eq(o.lease_ms, 1500);
    ck_assert_int_eq(parse(&o, &err, 2, "servers", "a:1", "lease_ms", "15s"), 0);
    ck_assert_uint_eq(o.lease_ms, 15000);
    ck_assert_int_eq(parse(&o, &err, 2, "servers", "a:1", "lease_ms", "999"), -EINVAL);
    ck_assert_str_eq(err.key, "lease_ms");
    ck_assert_ptr_nonnull(strstr(err.message, "lease_ms: expected a duration from 1s to 1h"));

    /* Each bad value is refused with the key named. */
    struct { const char *key, *value, *want; } bad[] = {
        {"servers", "", "servers"},
        {"servers", "localhost:", "servers"},
        {"servers", "a:1,,b:2", "servers"},
        {"servers", "a:1,", "servers"},
        {"servers", "a:0", "servers"},
        {"servers", "a:70000", "servers"},
        {"servers", "a:1,a:1", "servers"},
        {"cluster", "maybe", "cluster"},
        {"replicas", "0", "replicas"},
        {"replicas", "two", "replicas"},
        {"connect_timeout_ms", "-5", "connect_timeout_ms"},
        {"io_timeout_ms", "10h", "io_timeout_ms"},
        {"io_timeout_ms", "0", "io_timeout_ms"},
        {"eviction_policy_check", "ignore", "eviction_policy_check"},
        {"colour", "blue", "colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = strcmp(bad[i].key, "servers") == 0 ? parse(&o, &err, 1, bad[i].key, bad[i].value)
                                                    : parse(&o, &err, 2, "servers", "a:1,b:2", bad[i].key, bad[i].value);
        ck_assert_msg(rc == -EINVAL, "%s=%s accepted", bad[i].key, bad[i].value);
        ck_assert_str_eq(err.key, bad[i].want);
        ck_assert_msg(err.message[0], "no message for %s", bad[i].key);
    }
    ck_assert_int_eq(parse(&o, &err, 2, "servers", "a:1,b:2", "replicas", "3"), -EINVAL);
    ck_assert_str_eq(err.key, "replicas");
    ck_assert_int_eq(parse(&o, &err, 3, "servers", "a:1,b:2", "cluster", "true", "replicas", "2"), -EINVAL);
    ck_assert_str_eq(err.key, "replicas");
    ck_assert_int_eq(parse(&o, &err, 2, "servers", "a:1", "user", "u"), -EINVAL);
    ck_assert_str_eq(err.key, "user");
    ck_assert_int_eq(parse(&o, &err, 1, "replicas", "1"), -EINVAL);
    ck_assert_str_eq(err.key, "servers");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("parts");
    tcase_add_test(tc, crc16_and_slots);
    tcase_add_test(tc, slot_map_from_cluster_slots);
    tcase_add_test(tc, ring_spreads_keys);
    tcase_add_test(tc, key_set_versions_and_degraded_pages);
    tcase_add_test(tc, key_set_batch_claims);
    tcase_add_test(tc, ring_replicas_are_distinct_and_stable);
    tcase_add_test(tc, ring_adding_a_server_moves_only_its_keys);
    tcase_add_test(tc, key_set_counts);
    tcase_add_test(tc, options);
    tcase_add_test(tc, namespace_keys);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
