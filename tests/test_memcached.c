/* Tests of the memcached tier against real servers: placement on the ring,
 * replicas, a server killed under the store, namespaces, tier full, options.
 *
 * The suite starts its servers with tests/fixtures/memcached_servers.sh
 * (three on loopback ports, one on a unix socket; a test that needs a server
 * of its own starts it the same way) and stops them by PID at the end. A
 * server that cannot start fails the tests that need it. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "hash_ring.h"
#include "mc_key.h"
#include "mc_pagemap.h"
#include "tierpage.h"
#include "tierpage_store.h"

#define PAGE 4096
#define SERVERS 3

static char state_dir[256];
static char servers[SERVERS][64];   /* "127.0.0.1:PORT" */
static char unix_socket[512];
static char start_error[512];

/* ---------------------------------------------------------------- fixture */

static const char *fixture_script(void)
{
    static char path[4096];
    const char *src = getenv("TIERPAGE_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/memcached_servers.sh", src && *src ? src : TM_SOURCE_DIR);
    return path;
}

/* Runs the fixture script with `args` and reads up to `max` lines of its
 * output into lines[]. The number of lines, or -1 when it failed. */
static int run_fixture(const char *args, char lines[][512], int max)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "bash '%s' %s", fixture_script(), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (n < max)
            snprintf(lines[n++], 512, "%s", line);
    }
    return pclose(p) == 0 ? n : -1;
}

static void start_servers(void)
{
    snprintf(state_dir, sizeof state_dir, "/tmp/tierpage-mc-check.%d", (int)getpid());
    char args[1024], lines[SERVERS][512];
    snprintf(args, sizeof args, "start '%s/tcp' %d 64", state_dir, SERVERS);
    if (run_fixture(args, lines, SERVERS) != SERVERS) {
        snprintf(start_error, sizeof start_error, "the fixture could not start %d memcached servers", SERVERS);
        return;
    }
    for (int i = 0; i < SERVERS; i++)
        snprintf(servers[i], sizeof servers[i], "127.0.0.1:%.8s", lines[i]);
    snprintf(args, sizeof args, "start-unix '%s/unix' 16", state_dir);
    if (run_fixture(args, lines, 1) != 1)
        snprintf(start_error, sizeof start_error, "the fixture could not start memcached on a unix socket");
    else
        snprintf(unix_socket, sizeof unix_socket, "%s", lines[0]);
}

/* Every set of servers the suite or a test may have started. */
static const char *const server_sets[] = { "tcp", "unix", "victim", "victim1", "tiny", "gone", "stopped",
                                           "restarted", "deleting" };

static void stop_servers(void)
{
    char args[1024], lines[1][512];
    for (size_t i = 0; i < sizeof server_sets / sizeof server_sets[0]; i++) {
        snprintf(args, sizeof args, "stop '%s/%s'", state_dir, server_sets[i]);
        run_fixture(args, lines, 0);
    }
    rmdir(state_dir);
}

#define NEED_SERVERS() ck_assert_msg(start_error[0] == '\0', "%s", start_error)

/* A server of the test's own, in state_dir/NAME; its address in addr. */
static pid_t start_own_server(const char *name, int megabytes, char *addr, size_t len)
{
    char args[1024], lines[1][512], path[1024];
    snprintf(args, sizeof args, "start '%s/%s' 1 %d", state_dir, name, megabytes);
    ck_assert_msg(run_fixture(args, lines, 1) == 1, "the fixture could not start memcached '%s'", name);
    snprintf(addr, len, "127.0.0.1:%.8s", lines[0]);
    snprintf(path, sizeof path, "%s/%s/s1.server", state_dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int pid = 0;
    ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

static void stop_own_server(const char *name)
{
    char args[1024], lines[1][512];
    snprintf(args, sizeof args, "stop '%s/%s'", state_dir, name);
    run_fixture(args, lines, 0);
}

/* SIGSTOP is delivered when each of the server's threads next runs: on a
 * loaded machine a request sent right after kill() can still be answered.
 * Returns once every thread of pid is stopped (10 s at most). */
static void stop_server(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    for (int tries = 0; tries < 1000; tries++) {
        int running = 0;
        DIR *d = opendir(path);
        ck_assert_ptr_nonnull(d);
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char stat_path[384], line[512];
            snprintf(stat_path, sizeof stat_path, "%s/%s/stat", path, e->d_name);
            FILE *f = fopen(stat_path, "r");
            const char *state = f && fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
            if (f)
                fclose(f);
            if (state && state[1] == ' ' && state[2] != 'T' && state[2] != 't')
                running++;
        }
        closedir(d);
        if (!running)
            return;
        usleep(10 * 1000);
    }
    ck_abort_msg("server %d did not stop", (int)pid);
}

/* ---------------------------------------------------------------- helpers */

struct store {
    struct tp_plugin plugin;
    void *handle;
};

/* Opens as `instance` of the namespace; NULL opens it exclusive. */
static int store_open_as(struct store *st, const char *ns, const char *instance, const char *server_list,
                         const char *replicas, uint64_t capacity, tierpage_error *err)
{
    tierpage_store_option options[2] = { { "servers", server_list }, { "replicas", replicas } };
    memset(err, 0, sizeof *err);
    tierpage_error lerr;
    ck_assert_msg(tp_plugin_load("memcached", &st->plugin, &lerr) == 0, "load: %s", lerr.message);
    tierpage_store_params params = { .namespace_name = ns, .page_size = PAGE, .capacity = capacity,
                                     .options = options, .option_count = replicas ? 2 : 1,
                                     .instance = instance, .exclusive = instance == NULL,
                                     .host = tp_plugin_host(&st->plugin, "memcached") };
    int rc = st->plugin.ops->open(&params, &st->handle, err);
    if (rc)
        tp_plugin_unload(&st->plugin);
    return rc;
}

static int store_open(struct store *st, const char *ns, const char *server_list, const char *replicas,
                      uint64_t capacity, tierpage_error *err)
{
    return store_open_as(st, ns, NULL, server_list, replicas, capacity, err);
}

static void store_must_open(struct store *st, const char *ns, const char *server_list, const char *replicas)
{
    tierpage_error err;
    int rc = store_open(st, ns, server_list, replicas, 0, &err);
    ck_assert_msg(rc == 0, "open: %d %s", rc, err.message);
}

static void store_close(struct store *st)
{
    st->plugin.ops->close(st->handle);
    tp_plugin_unload(&st->plugin);
}

static void fill(unsigned char *page, uint64_t key, uint64_t gen)
{
    for (size_t i = 0; i < PAGE; i++)
        page[i] = (unsigned char)(key * 131 + gen * 17 + i * 7 + (i >> 8));
}

static int page_is(const unsigned char *page, uint64_t key, uint64_t gen)
{
    unsigned char want[PAGE];
    fill(want, key, gen);
    return memcmp(page, want, PAGE) == 0;
}

static void put_ok(struct store *st, uint64_t key, uint64_t gen)
{
    unsigned char page[PAGE];
    tierpage_error err;
    fill(page, key, gen);
    int rc = st->plugin.ops->put(st->handle, key, page, &err);
    ck_assert_msg(rc == 0, "put %" PRIu64 ": %d %s", key, rc, err.message);
}

static void get_is(struct store *st, uint64_t key, uint64_t gen)
{
    unsigned char page[PAGE];
    tierpage_error err;
    int rc = st->plugin.ops->get(st->handle, key, page, &err);
    ck_assert_msg(rc == 0, "get %" PRIu64 ": %d %s", key, rc, err.message);
    ck_assert_msg(page_is(page, key, gen), "page %" PRIu64 " read back wrong", key);
}

/* A connection to one server, outside the store. */
static memcached_st *direct(const char *server)
{
    memcached_st *m = memcached_create(NULL);
    ck_assert_ptr_nonnull(m);
    if (server[0] == '/') {
        ck_assert_int_eq(memcached_server_add_unix_socket(m, server), MEMCACHED_SUCCESS);
    } else {
        char host[64];
        snprintf(host, sizeof host, "%s", server);
        char *colon = strrchr(host, ':');
        *colon = '\0';
        ck_assert_int_eq(memcached_server_add(m, host, (in_port_t)atoi(colon + 1)), MEMCACHED_SUCCESS);
    }
    return m;
}

/* Whether `server` holds the page `key` of namespace `ns`; its bytes in
 * page and its item's flags in *flags, when not NULL. */
static int server_item(const char *server, const char *ns, uint64_t key, unsigned char *page, uint32_t *flags)
{
    char mkey[MC_KEY_MAX + 1];
    int len = mc_page_key(mkey, sizeof mkey, ns, key);
    memcached_st *m = direct(server);
    size_t value_len;
    uint32_t item_flags;
    memcached_return_t rc;
    char *value = memcached_get(m, mkey, (size_t)len, &value_len, &item_flags, &rc);
    int held = rc == MEMCACHED_SUCCESS && value;
    if (held && page) {
        ck_assert_uint_eq(value_len, PAGE);
        memcpy(page, value, PAGE);
    }
    if (held && flags)
        *flags = item_flags;
    free(value);
    memcached_free(m);
    return held;
}

static int server_holds(const char *server, const char *ns, uint64_t key, unsigned char *page)
{
    return server_item(server, ns, key, page, NULL);
}

/* Stores `page` with `flags` as the page `key` of `ns` on `server`, as a
 * set the tier sent long ago would land: behind the tier's back. */
static void server_store(const char *server, const char *ns, uint64_t key, const unsigned char *page,
                         uint32_t flags)
{
    char mkey[MC_KEY_MAX + 1];
    int len = mc_page_key(mkey, sizeof mkey, ns, key);
    memcached_st *m = direct(server);
    ck_assert_int_eq(memcached_set(m, mkey, (size_t)len, (const char *)page, PAGE, 0, flags), MEMCACHED_SUCCESS);
    memcached_free(m);
}

static void server_drop(const char *server, const char *ns, uint64_t key)
{
    char mkey[MC_KEY_MAX + 1];
    int len = mc_page_key(mkey, sizeof mkey, ns, key);
    memcached_st *m = direct(server);
    ck_assert_int_eq(memcached_delete(m, mkey, (size_t)len, 0), MEMCACHED_SUCCESS);
    memcached_free(m);
}

static uint64_t server_stat(const char *server, const char *name)
{
    memcached_st *m = direct(server);
    memcached_return_t rc;
    memcached_stat_st *stats = memcached_stat(m, NULL, &rc);
    ck_assert_msg(rc == MEMCACHED_SUCCESS && stats, "stats of %s", server);
    char *value = memcached_stat_get_value(m, stats, name, &rc);
    ck_assert_ptr_nonnull(value);
    uint64_t v = strtoull(value, NULL, 10);
    free(value);
    memcached_stat_free(m, stats);
    memcached_free(m);
    return v;
}

/* The servers that should hold `key`, by the tier's own ring. */
static size_t expected_servers(const char *const *names, size_t count, const char *ns, uint64_t key,
                               uint32_t *order)
{
    struct hash_ring ring;
    ck_assert_int_eq(hash_ring_build(&ring, names, count), 0);
    char mkey[MC_KEY_MAX + 1];
    int len = mc_page_key(mkey, sizeof mkey, ns, key);
    size_t n = hash_ring_lookup(&ring, hash_ring_hash(mkey, (size_t)len), order, MC_MAX_SERVERS);
    hash_ring_free(&ring);
    return n;
}

static void all_servers(char *buf, size_t len)
{
    snprintf(buf, len, "%s,%s,%s", servers[0], servers[1], servers[2]);
}

static void unique_ns(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "check-%s-%d", what, (int)getpid());
}

/* ------------------------------------------------------------ pure parts */

START_TEST(test_ring_spreads_and_moves_little)
{
    const char *names[4] = { "10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211", "10.0.0.4:11211" };
    struct hash_ring three, four;
    ck_assert_int_eq(hash_ring_build(&three, names, 3), 0);
    ck_assert_int_eq(hash_ring_build(&four, names, 4), 0);
    enum { KEYS = 30000 };
    unsigned per_server[3] = { 0 }, moved = 0;
    for (uint64_t k = 0; k < KEYS; k++) {
        char mkey[MC_KEY_MAX + 1];
        int len = mc_page_key(mkey, sizeof mkey, "ring", k);
        uint32_t a[MC_MAX_SERVERS], b[MC_MAX_SERVERS];
        uint64_t h = hash_ring_hash(mkey, (size_t)len);
        ck_assert_uint_eq(hash_ring_lookup(&three, h, a, MC_MAX_SERVERS), 3);
        ck_assert_uint_eq(hash_ring_lookup(&four, h, b, MC_MAX_SERVERS), 4);
        ck_assert_uint_ne(a[0], a[1]);
        ck_assert_uint_ne(a[1], a[2]);
        ck_assert_uint_ne(a[0], a[2]);
        per_server[a[0]]++;
        if (a[0] != b[0]) {
            moved++;
            ck_assert_uint_eq(b[0], 3); /* a key only moves to the new server */
        }
    }
    for (int s = 0; s < 3; s++)
        ck_assert_msg(per_server[s] > KEYS / 5, "server %d got %u of %d keys", s, per_server[s], KEYS);
    ck_assert_msg(moved > KEYS / 8 && moved < KEYS * 2 / 5, "adding a fourth server moved %u of %d keys", moved, KEYS);
    hash_ring_free(&three);
    hash_ring_free(&four);
}
END_TEST

START_TEST(test_page_key_format)
{
    char buf[MC_KEY_MAX + 1];
    ck_assert_int_eq(mc_page_key(buf, sizeof buf, "web-1", 0x2a), 25);
    ck_assert_str_eq(buf, "tp:web-1:000000000000002a");
    uint64_t key;
    ck_assert_int_eq(mc_page_key_parse(buf, 25, &key), 0);
    ck_assert_uint_eq(key, 0x2a);
    ck_assert_int_eq(mc_page_key(buf, sizeof buf, "x", UINT64_MAX), 21);
    ck_assert_int_eq(mc_page_key_parse(buf, 21, &key), 0);
    ck_assert_uint_eq(key, UINT64_MAX);
    ck_assert_int_eq(mc_page_key_parse("tp:x:zz", 7, &key), -1);
}
END_TEST

START_TEST(test_pagemap_keeps_each_pages_servers_and_generation)
{
    struct mc_pagemap map;
    mc_pagemap_init(&map);
    enum { N = 50000 };
    ck_assert_int_eq(mc_pagemap_reserve(&map, N + 1), 0);
    for (uint64_t k = 0; k < N; k++)
        ck_assert_int_eq(mc_pagemap_set(&map, k * 4096, k % 64 + 1, (uint32_t)(k * 3 + 1)), 1);
    ck_assert_int_eq(mc_pagemap_set(&map, UINT64_MAX, 1ull << 63, UINT32_MAX), 1);
    ck_assert_int_eq(mc_pagemap_set(&map, 4096, 6, 7), 0); /* moved: its servers and generation replaced */
    ck_assert_uint_eq(map.count, N + 1);
    for (uint64_t k = 0; k < N; k += 2)
        ck_assert_int_eq(mc_pagemap_remove(&map, k * 4096), 1);
    ck_assert_int_eq(mc_pagemap_remove(&map, 1), 0);
    /* A copy forgotten only at the generation it was found under. */
    ck_assert_int_eq(mc_pagemap_forget_copies(&map, 3 * 4096, 9, 4), 0);
    ck_assert_int_eq(mc_pagemap_forget_copies(&map, 3 * 4096, 10, 4 | 1), 1);
    for (uint64_t k = 0; k < N; k++) {
        uint64_t servers = 0;
        uint32_t gen = 0;
        ck_assert_int_eq(mc_pagemap_get(&map, k * 4096, &servers, &gen), (int)(k % 2));
        if (k % 2 == 0)
            continue;
        ck_assert_uint_eq(servers, k == 1 ? 6 : k == 3 ? 0 : k % 64 + 1);
        ck_assert_uint_eq(gen, k == 1 ? 7 : k * 3 + 1);
    }
    uint64_t servers = 0;
    uint32_t gen = 0;
    ck_assert_int_eq(mc_pagemap_get(&map, UINT64_MAX, &servers, &gen), 1);
    ck_assert_uint_eq(servers, 1ull << 63);
    ck_assert_uint_eq(gen, UINT32_MAX);
    ck_assert_int_eq(mc_pagemap_remove(&map, UINT64_MAX), 1);
    ck_assert_int_eq(mc_pagemap_get(&map, UINT64_MAX, NULL, NULL), 0);
    ck_assert_uint_eq(map.count, N / 2);
    mc_pagemap_free(&map);
}
END_TEST

/* ---------------------------------------------------------- with servers */

START_TEST(test_pages_land_where_the_ring_says)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "shard");
    struct store st;
    store_must_open(&st, ns, list, NULL);
    uint64_t before[SERVERS]; /* the store's lease included */
    for (int s = 0; s < SERVERS; s++)
        before[s] = server_stat(servers[s], "curr_items");
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    enum { N = 300 };
    unsigned on[SERVERS] = { 0 };
    for (uint64_t k = 0; k < N; k++) {
        put_ok(&st, k, 1);
        uint32_t order[MC_MAX_SERVERS];
        expected_servers(names, SERVERS, ns, k, order);
        for (int s = 0; s < SERVERS; s++)
            ck_assert_int_eq(server_holds(servers[s], ns, k, NULL), (uint32_t)s == order[0]);
        on[order[0]]++;
    }
    for (int s = 0; s < SERVERS; s++) {
        ck_assert_msg(on[s] > N / 10, "server %s got %u of %d pages", servers[s], on[s], N);
        ck_assert_uint_ge(server_stat(servers[s], "curr_items"), before[s] + on[s]);
    }
    for (uint64_t k = 0; k < N; k++)
        get_is(&st, k, 1);
    tierpage_store_usage u;
    tierpage_error err;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, N);
    ck_assert_uint_eq(u.used_bytes, (uint64_t)N * PAGE);
    ck_assert_uint_eq(u.capacity_bytes, 3ull * 64 << 20); /* limit_maxbytes summed */
    for (uint64_t k = 0; k < N; k++)
        ck_assert_int_eq(st.plugin.ops->del(st.handle, k, &err), 0);
    for (int s = 0; s < SERVERS; s++)
        ck_assert_uint_eq(server_stat(servers[s], "curr_items"), before[s]);
    store_close(&st);
}
END_TEST

START_TEST(test_replicas_two_distinct_servers_and_delete_removes_both)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "replicas");
    struct store st;
    store_must_open(&st, ns, list, "2");
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    tierpage_store_usage u;
    tierpage_error err;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.capacity_bytes, (3ull * 64 << 20) / 2);
    for (uint64_t k = 0; k < 100; k++) {
        put_ok(&st, k, 3);
        uint32_t order[MC_MAX_SERVERS];
        expected_servers(names, SERVERS, ns, k, order);
        unsigned char page[PAGE];
        for (int i = 0; i < SERVERS; i++) {
            int held = server_holds(servers[order[i]], ns, k, page);
            ck_assert_msg(held == (i < 2), "page %" PRIu64 ": server %d of its walk %s it", k, i + 1,
                          held ? "holds" : "lacks");
            if (held)
                ck_assert(page_is(page, k, 3));
        }
    }
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, 100);
    for (uint64_t k = 0; k < 100; k++) {
        ck_assert_int_eq(st.plugin.ops->del(st.handle, k, &err), 0);
        for (int s = 0; s < SERVERS; s++)
            ck_assert(!server_holds(servers[s], ns, k, NULL));
    }
    ck_assert_int_eq(st.plugin.ops->del(st.handle, 5, &err), -ENOENT);
    store_close(&st);
}
END_TEST

START_TEST(test_get_reads_the_next_replica_when_a_copy_is_gone)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "nextcopy");
    struct store st;
    store_must_open(&st, ns, list, "2");
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    enum { N = 40 };
    uint64_t keys[N];
    unsigned char buf[N][PAGE];
    void *pages[N];
    int results[N];
    tierpage_error err;
    for (uint64_t k = 0; k < N; k++) {
        put_ok(&st, k, 4);
        uint32_t order[MC_MAX_SERVERS];
        expected_servers(names, SERVERS, ns, k, order);
        server_drop(servers[order[k % 2]], ns, k); /* first copy of even pages, second of odd ones */
        keys[k] = k;
        pages[k] = buf[k];
    }
    for (uint64_t k = 0; k < N; k++)
        get_is(&st, k, 4);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(st.plugin.ops->get_batch(st.handle, N, keys, pages, results, &err), 0);
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_int_eq(results[k], 0);
        ck_assert(page_is(buf[k], k, 4));
    }
    /* Both copies gone: the page is missing, never a page of zeros. */
    uint32_t order[MC_MAX_SERVERS];
    expected_servers(names, SERVERS, ns, 0, order);
    server_drop(servers[order[1]], ns, 0);
    ck_assert_int_eq(st.plugin.ops->get(st.handle, 0, buf[0], &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.message, "0000000000000000"));
    store_close(&st);
}
END_TEST

START_TEST(test_a_killed_server_fails_over_to_its_replica)
{
    NEED_SERVERS();
    char victim[64], list[256], ns[64];
    pid_t pid = start_own_server("victim", 64, victim, sizeof victim);
    snprintf(list, sizeof list, "%s,%s", servers[0], victim);
    unique_ns(ns, sizeof ns, "killed");
    struct store st;
    store_must_open(&st, ns, list, "2");
    enum { N = 200 };
    for (uint64_t k = 0; k < N; k++)
        put_ok(&st, k, 5);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    usleep(100 * 1000);
    /* Reads fall through to the copy on the live server; puts and deletes
     * go on with the servers left. */
    for (uint64_t k = 0; k < N; k++)
        get_is(&st, k, 5);
    for (uint64_t k = N; k < N + 50; k++)
        put_ok(&st, k, 6);
    for (uint64_t k = N; k < N + 50; k++)
        get_is(&st, k, 6);
    tierpage_error err;
    for (uint64_t k = 0; k < N + 50; k += 3)
        ck_assert_int_eq(st.plugin.ops->del(st.handle, k, &err), 0);
    unsigned char page[PAGE];
    ck_assert_int_eq(st.plugin.ops->get(st.handle, 3, page, &err), -ENOENT);
    store_close(&st);
    stop_own_server("victim");
}
END_TEST

START_TEST(test_without_replicas_a_killed_server_is_an_error_naming_it)
{
    NEED_SERVERS();
    char victim[64], list[256], ns[64];
    pid_t pid = start_own_server("victim1", 64, victim, sizeof victim);
    snprintf(list, sizeof list, "%s,%s", servers[1], victim);
    unique_ns(ns, sizeof ns, "lost");
    struct store st;
    store_must_open(&st, ns, list, NULL);
    enum { N = 100 };
    for (uint64_t k = 0; k < N; k++)
        put_ok(&st, k, 7);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    usleep(100 * 1000);
    unsigned lost = 0;
    for (uint64_t k = 0; k < N; k++) {
        unsigned char page[PAGE];
        tierpage_error err = { { 0 }, { 0 } };
        int rc = st.plugin.ops->get(st.handle, k, page, &err);
        if (rc == 0) {
            ck_assert(page_is(page, k, 7));
            continue;
        }
        lost++;
        ck_assert_int_lt(rc, 0);
        ck_assert_int_ne(rc, -ENOSPC);
        ck_assert_msg(strstr(err.message, victim), "message '%s' does not name %s", err.message, victim);
    }
    ck_assert_msg(lost > 10 && lost < N, "%u of %d pages lost with one of two servers", lost, N);
    store_close(&st);
    stop_own_server("victim1");
}
END_TEST

/* ------------------------------------------- servers that leave and come back */

/* What the tier logged (tp_set_store_log), for the tests that read it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[16384];

static void capture_log(void *arg, int level, const char *tier, const char *message)
{
    (void)arg;
    (void)level;
    (void)tier;
    pthread_mutex_lock(&log_lock);
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", message);
    pthread_mutex_unlock(&log_lock);
}

/* Whether a line of the log holds both texts. */
static int log_has(const char *a, const char *b)
{
    int found = 0;
    pthread_mutex_lock(&log_lock);
    for (char *line = logged; *line && !found;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char copy[1024];
        snprintf(copy, sizeof copy, "%.*s", (int)len, line);
        found = strstr(copy, a) && strstr(copy, b);
        line += len + (end != NULL);
    }
    pthread_mutex_unlock(&log_lock);
    return found;
}

/* Opens exclusive with the servers, one copy each, and the prober's
 * waits short. */
static void store_open_probed(struct store *st, const char *ns, const char *server_list)
{
    tierpage_store_option options[3] = { { "servers", server_list }, { "probe_ms", "20ms" },
                                          { "probe_max_ms", "500ms" } };
    tierpage_error err, lerr;
    ck_assert_msg(tp_plugin_load("memcached", &st->plugin, &lerr) == 0, "load: %s", lerr.message);
    tierpage_store_params params = { .namespace_name = ns, .page_size = PAGE, .options = options,
                                     .option_count = 3, .exclusive = 1,
                                     .host = tp_plugin_host(&st->plugin, "memcached") };
    int rc = st->plugin.ops->open(&params, &st->handle, &err);
    ck_assert_msg(rc == 0, "open: %d %s", rc, err.message);
}

/* Names of at most this many bytes, for open_beside_own_server. */
#define OWN_TEXT_LEN 64

/* A server of the test's own, `name` (64 MiB), beside servers[beside]:
 * the store opened on both (store_open_probed) under a namespace of its
 * own, the tier's log captured. The own server's address in victim, the
 * namespace in ns (OWN_TEXT_LEN bytes each); returns the server's pid. */
static pid_t open_beside_own_server(struct store *st, const char *name, int beside, char *victim, char *ns)
{
    char list[256];
    pid_t pid = start_own_server(name, 64, victim, OWN_TEXT_LEN);
    snprintf(list, sizeof list, "%s,%s", servers[beside], victim);
    unique_ns(ns, OWN_TEXT_LEN, name);
    tp_set_store_log(capture_log, NULL);
    store_open_probed(st, ns, list);
    return pid;
}

/* A get of `key` tried again while it fails as the core retries a store
 * (not -ENOENT), for up to 60 s: its last result. */
static int get_until_answered(struct store *st, uint64_t key, unsigned char *page, tierpage_error *err)
{
    int rc = -EIO;
    for (int tries = 0; tries < 1200; tries++) {
        memset(err, 0, sizeof *err);
        rc = st->plugin.ops->get(st->handle, key, page, err);
        if (rc == 0 || rc == -ENOENT)
            break;
        usleep(50 * 1000);
    }
    return rc;
}

/* The pages of the tier that `server` holds: on[k] for k < n. */
static unsigned pages_on(const char *server, const char *ns, int n, int *on)
{
    unsigned count = 0;
    for (int k = 0; k < n; k++)
        count += (unsigned)(on[k] = server_holds(server, ns, (uint64_t)k, NULL));
    return count;
}

/* A server stopped (SIGSTOP) past the io timeout leaves service; pages
 * rewritten meanwhile go to the other server, pages deleted meanwhile stay
 * deleted; once it runs again the prober brings it back, its untouched
 * pages are read from it, and the older copies it held of the rewritten
 * and deleted ones are gone from it before it serves again. */
START_TEST(test_a_stopped_server_comes_back_and_is_never_read_stale)
{
    NEED_SERVERS();
    char victim[OWN_TEXT_LEN], ns[OWN_TEXT_LEN];
    struct store st;
    pid_t pid = open_beside_own_server(&st, "stopped", 0, victim, ns);
    enum { N = 60 };
    int on[N];
    for (uint64_t k = 0; k < N; k++)
        put_ok(&st, k, 1);
    unsigned held = pages_on(victim, ns, N, on);
    ck_assert_msg(held >= 6 && held < N, "%u of %d pages on the victim", held, N);

    stop_server(pid);
    unsigned char page[PAGE];
    tierpage_error err = { { 0 }, { 0 } };
    int first = -1, seen = 0;
    for (int k = 0; k < N && first < 0; k++)
        if (on[k])
            first = k;
    int rc = st.plugin.ops->get(st.handle, (uint64_t)first, page, &err);
    ck_assert_msg(rc < 0 && rc != -ENOENT, "get from a stopped server: %d %s", rc, err.message);
    ck_assert_msg(strstr(err.message, victim), "'%s' does not name %s", err.message, victim);
    /* While it is out: every third of its pages rewritten, every third deleted. */
    for (int k = 0; k < N; k++) {
        if (!on[k] || k == first)
            continue;
        if (seen % 3 == 0)
            put_ok(&st, (uint64_t)k, 2);
        else if (seen % 3 == 1)
            ck_assert_int_eq(st.plugin.ops->del(st.handle, (uint64_t)k, &err), 0);
        on[k] = 1 + seen++ % 3; /* 1 rewritten, 2 deleted, 3 untouched */
    }
    on[first] = 3;
    rc = st.plugin.ops->get(st.handle, (uint64_t)first, page, &err);
    ck_assert_int_eq(rc, -EIO); /* out of service: the core tries again */
    ck_assert_msg(strstr(err.message, victim) && strstr(err.message, "out of service"), "%s", err.message);

    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    rc = get_until_answered(&st, (uint64_t)first, page, &err);
    ck_assert_msg(rc == 0, "the server never came back: %d %s", rc, err.message);
    ck_assert(page_is(page, (uint64_t)first, 1));
    for (int k = 0; k < N; k++) {
        if (on[k] == 1) {
            get_is(&st, (uint64_t)k, 2);
            ck_assert_msg(!server_holds(victim, ns, (uint64_t)k, NULL), "page %d: the victim kept its older copy", k);
        } else if (on[k] == 2) {
            ck_assert_int_eq(st.plugin.ops->get(st.handle, (uint64_t)k, page, &err), -ENOENT);
            ck_assert_msg(!server_holds(victim, ns, (uint64_t)k, NULL), "page %d: the victim kept a deleted page", k);
        } else {
            get_is(&st, (uint64_t)k, 1);
        }
    }
    /* Rewritten again, a moved page goes back to its place on the ring,
     * and the copy it had on the other server goes. */
    for (int k = 0; k < N; k++) {
        if (on[k] != 1)
            continue;
        put_ok(&st, (uint64_t)k, 3);
        get_is(&st, (uint64_t)k, 3);
        ck_assert(server_holds(victim, ns, (uint64_t)k, page) && page_is(page, (uint64_t)k, 3));
        ck_assert(!server_holds(servers[0], ns, (uint64_t)k, NULL));
    }
    ck_assert_msg(log_has(victim, "taken out of service"), "log: %s", logged);
    ck_assert_msg(log_has(victim, "back in service"), "log: %s", logged);
    ck_assert_msg(log_has(victim, "of pages deleted or written elsewhere while it was out"), "log: %s", logged);
    store_close(&st);
    stop_own_server("stopped");
}
END_TEST

/* del_batch through the store's operations table, which must have it. */
static int del_batch(struct store *st, size_t n, const uint64_t *keys, int *results, tierpage_error *err)
{
    ck_assert_ptr_nonnull(st->plugin.ops->del_batch);
    memset(err, 0, sizeof *err);
    return st->plugin.ops->del_batch(st->handle, n, keys, results, err);
}

/* A batch of deletes removes every copy on every server and says which
 * keys it never held; one sent while a server is stopped (SIGSTOP) past
 * the io timeout deletes the copies on the server that answers, takes the
 * stopped one out of service, and that server's copies are deleted before
 * it serves again: the pages deleted read as missing throughout, and the
 * pages not deleted read back intact once it is back. */
START_TEST(test_del_batch_deletes_every_copy_and_a_stopped_server_its_own_when_back)
{
    NEED_SERVERS();
    char victim[OWN_TEXT_LEN], ns[OWN_TEXT_LEN];
    struct store st;
    pid_t pid = open_beside_own_server(&st, "deleting", 0, victim, ns);
    enum { N = 90, PART = N / 3 };
    int on[N];
    for (uint64_t k = 0; k < N; k++)
        put_ok(&st, k, 1);
    unsigned held = pages_on(victim, ns, N, on);
    ck_assert_msg(held >= 10 && held < N - 10, "%u of %d pages on the victim", held, N);

    /* Both servers in service: the first third, and two keys never put. */
    uint64_t keys[PART + 2];
    int results[PART + 2];
    tierpage_error err;
    for (int i = 0; i < PART; i++)
        keys[i] = (uint64_t)i;
    keys[PART] = 1000, keys[PART + 1] = 1001;
    ck_assert_int_eq(del_batch(&st, PART + 2, keys, results, &err), 0);
    unsigned char page[PAGE];
    for (int i = 0; i < PART + 2; i++) {
        ck_assert_msg(results[i] == (i < PART ? 0 : -ENOENT), "key %" PRIu64 ": %d", keys[i], results[i]);
        ck_assert_msg(!server_holds(servers[0], ns, keys[i], NULL) && !server_holds(victim, ns, keys[i], NULL),
                      "page %" PRIu64 " still on a server", keys[i]);
        ck_assert_int_eq(st.plugin.ops->get(st.handle, keys[i], page, &err), -ENOENT);
    }

    /* The victim stopped: the second third. */
    stop_server(pid);
    for (int i = 0; i < PART; i++)
        keys[i] = (uint64_t)(PART + i);
    int rc = del_batch(&st, PART, keys, results, &err);
    ck_assert_msg(rc == 0, "del_batch with a server stopped: %d %s", rc, err.message);
    for (int i = 0; i < PART; i++) {
        ck_assert_int_eq(results[i], 0);
        ck_assert_msg(!server_holds(servers[0], ns, keys[i], NULL), "page %" PRIu64 " still on %s", keys[i],
                      servers[0]);
        ck_assert_int_eq(st.plugin.ops->get(st.handle, keys[i], page, &err), -ENOENT);
    }
    ck_assert_msg(log_has(victim, "taken out of service"), "log: %s", logged);

    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    int first = -1;
    for (int k = 2 * PART; k < N && first < 0; k++)
        if (on[k])
            first = k;
    ck_assert_int_ge(first, 0);
    rc = get_until_answered(&st, (uint64_t)first, page, &err);
    ck_assert_msg(rc == 0, "the server never came back: %d %s", rc, err.message);
    for (int k = 0; k < 2 * PART; k++) {
        ck_assert_msg(!server_holds(victim, ns, (uint64_t)k, NULL), "page %d: the victim kept a deleted page", k);
        ck_assert_int_eq(st.plugin.ops->get(st.handle, (uint64_t)k, page, &err), -ENOENT);
    }
    for (int k = 2 * PART; k < N; k++)
        get_is(&st, (uint64_t)k, 1);
    ck_assert_msg(log_has(victim, "of pages deleted or written elsewhere while it was out"), "log: %s", logged);

    /* Back in service: the last third, from both servers again. */
    for (int i = 0; i < PART; i++)
        keys[i] = (uint64_t)(2 * PART + i);
    ck_assert_int_eq(del_batch(&st, PART, keys, results, &err), 0);
    for (int i = 0; i < PART; i++) {
        ck_assert_int_eq(results[i], 0);
        ck_assert(!server_holds(servers[0], ns, keys[i], NULL) && !server_holds(victim, ns, keys[i], NULL));
    }
    tierpage_store_usage u;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, 0);
    store_close(&st);
    stop_own_server("deleting");
}
END_TEST

/* A set that a stopped server carries out late, once it runs again, after
 * the page was put there anew: the server then holds the older page, with
 * the older put's flags. Each put leaves a page's copies the page's new
 * generation in their flags; the older copy is not read as current: the
 * replica that holds the current one is read instead, and the log names
 * the server. */
START_TEST(test_an_older_copy_stored_late_is_never_read_as_current)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "late");
    tp_set_store_log(capture_log, NULL);
    struct store st;
    store_must_open(&st, ns, list, "2");
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    enum { N = 20 };
    uint64_t keys[N];
    unsigned char old[N][PAGE], buf[N][PAGE];
    void *pages[N];
    int results[N];
    tierpage_error err;
    uint32_t old_flags[N];
    for (uint64_t k = 0; k < N; k++) {
        put_ok(&st, k, 1);
        uint32_t order[MC_MAX_SERVERS], flags_again;
        expected_servers(names, SERVERS, ns, k, order);
        ck_assert(server_item(servers[order[0]], ns, k, old[k], &old_flags[k]));
        ck_assert(server_item(servers[order[1]], ns, k, NULL, &flags_again));
        ck_assert_uint_eq(flags_again, old_flags[k]); /* both copies of one put: one generation */
        keys[k] = k;
        pages[k] = buf[k];
    }
    /* Put again: batched for the even pages, one by one for the odd. */
    unsigned char fresh[N][PAGE];
    const void *fresh_pages[N];
    for (uint64_t k = 0; k < N; k++) {
        fill(fresh[k], k, 2);
        fresh_pages[k] = fresh[k];
    }
    uint64_t even[N / 2];
    const void *even_pages[N / 2];
    for (uint64_t k = 0; k < N / 2; k++) {
        even[k] = 2 * k;
        even_pages[k] = fresh_pages[2 * k];
    }
    ck_assert_int_eq(st.plugin.ops->put_batch(st.handle, N / 2, even, even_pages, results, &err), 0);
    for (uint64_t k = 1; k < N; k += 2)
        put_ok(&st, k, 2);
    /* The late sets: the first copy of each page goes back to its first put. */
    for (uint64_t k = 0; k < N; k++) {
        uint32_t order[MC_MAX_SERVERS], flags_now;
        expected_servers(names, SERVERS, ns, k, order);
        ck_assert(server_item(servers[order[0]], ns, k, NULL, &flags_now));
        ck_assert_uint_ne(flags_now, old_flags[k]);
        server_store(servers[order[0]], ns, k, old[k], old_flags[k]);
    }
    for (uint64_t k = 0; k < N; k += 2)
        get_is(&st, k, 2);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(st.plugin.ops->get_batch(st.handle, N, keys, pages, results, &err), 0);
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_int_eq(results[k], 0);
        ck_assert_msg(page_is(buf[k], k, 2), "page %" PRIu64 " read back as its older copy", k);
    }
    uint32_t order[MC_MAX_SERVERS];
    expected_servers(names, SERVERS, ns, 0, order);
    ck_assert_msg(log_has(servers[order[0]], "older than generation"), "log: %s", logged);
    /* Put once more, every copy is current again, where the ring says. */
    put_ok(&st, 0, 3);
    get_is(&st, 0, 3);
    unsigned char page[PAGE];
    ck_assert(server_holds(servers[order[0]], ns, 0, page) && page_is(page, 0, 3));
    store_close(&st);
}
END_TEST

/* With one copy, an older copy stored late leaves the page with no current
 * copy anywhere: the get fails with -ENOENT and says why (the core stops the
 * program), never the older page. */
START_TEST(test_an_older_copy_stored_late_without_replicas_is_an_error)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "late1");
    struct store st;
    store_must_open(&st, ns, list, NULL);
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    uint32_t order[MC_MAX_SERVERS], flags;
    unsigned char old[PAGE], page[PAGE];
    put_ok(&st, 7, 1);
    expected_servers(names, SERVERS, ns, 7, order);
    ck_assert(server_item(servers[order[0]], ns, 7, old, &flags));
    put_ok(&st, 7, 2);
    server_store(servers[order[0]], ns, 7, old, flags);
    tierpage_error err = { { 0 }, { 0 } };
    memset(page, 0, sizeof page);
    ck_assert_int_eq(st.plugin.ops->get(st.handle, 7, page, &err), -ENOENT);
    ck_assert_msg(strstr(err.message, "0000000000000007") && strstr(err.message, "no current copy") &&
                  strstr(err.message, servers[order[0]]), "%s", err.message);
    ck_assert(!page_is(page, 7, 1));
    /* A batch says the same of it, and reads the pages around it. */
    put_ok(&st, 8, 1);
    uint64_t keys[2] = { 7, 8 };
    unsigned char buf[2][PAGE];
    void *pages[2] = { buf[0], buf[1] };
    int results[2];
    ck_assert_int_eq(st.plugin.ops->get_batch(st.handle, 2, keys, pages, results, &err), -ENOENT);
    ck_assert_int_eq(results[0], -ENOENT);
    ck_assert_int_eq(results[1], 0);
    ck_assert(page_is(buf[1], 8, 1));
    ck_assert_msg(strstr(err.message, "no current copy"), "%s", err.message);
    store_close(&st);
}
END_TEST

/* A server restarted empty comes back, and a page whose only copy it held
 * is missing (-ENOENT: the core stops the program), never read as zeros
 * or as another page. */
START_TEST(test_a_server_restarted_empty_comes_back_and_its_pages_are_missing)
{
    NEED_SERVERS();
    char victim[OWN_TEXT_LEN], ns[OWN_TEXT_LEN];
    struct store st;
    open_beside_own_server(&st, "restarted", 1, victim, ns);
    enum { N = 60 };
    int on[N];
    for (uint64_t k = 0; k < N; k++)
        put_ok(&st, k, 4);
    ck_assert_uint_gt(pages_on(victim, ns, N, on), 0);
    /* Read once: the tier keeps a connection to the server, which the
     * restart resets, so the next get fails and takes it out of service. */
    for (uint64_t k = 0; k < N; k++)
        get_is(&st, k, 4);

    char args[1024], lines[1][512];
    snprintf(args, sizeof args, "restart '%s/restarted' 64", state_dir);
    ck_assert_msg(run_fixture(args, lines, 1) == 1, "the fixture could not restart the server");
    for (int k = 0; k < N; k++) {
        unsigned char page[PAGE];
        tierpage_error err = { { 0 }, { 0 } };
        int rc = get_until_answered(&st, (uint64_t)k, page, &err);
        if (!on[k]) {
            ck_assert_msg(rc == 0 && page_is(page, (uint64_t)k, 4), "page %d: %d %s", k, rc, err.message);
            continue;
        }
        ck_assert_msg(rc == -ENOENT, "page %d of the restarted server: %d %s", k, rc, err.message);
        ck_assert_msg(strstr(err.message, "is on none of"), "%s", err.message);
    }
    ck_assert_msg(log_has(victim, "back in service"), "log: %s", logged);
    /* Back in service: new pages go to it again. */
    for (uint64_t k = N; k < 2 * N; k++)
        put_ok(&st, k, 5);
    int later[2 * N];
    ck_assert_uint_gt(pages_on(victim, ns, 2 * N, later), 0);
    for (uint64_t k = N; k < 2 * N; k++)
        get_is(&st, k, 5);
    store_close(&st);
    stop_own_server("restarted");
}
END_TEST

START_TEST(test_namespaces_keep_stacks_apart)
{
    NEED_SERVERS();
    char list[256], ns_a[64], ns_b[64];
    all_servers(list, sizeof list);
    unique_ns(ns_a, sizeof ns_a, "vm-a");
    unique_ns(ns_b, sizeof ns_b, "vm-b");
    struct store a, b;
    store_must_open(&a, ns_a, list, NULL);
    store_must_open(&b, ns_b, list, NULL);
    for (uint64_t k = 0; k < 50; k++) {
        put_ok(&a, k, 10);
        put_ok(&b, k, 20);
    }
    for (uint64_t k = 0; k < 50; k++) {
        get_is(&a, k, 10);
        get_is(&b, k, 20);
    }
    tierpage_error err;
    for (uint64_t k = 0; k < 50; k += 2)
        ck_assert_int_eq(a.plugin.ops->del(a.handle, k, &err), 0);
    for (uint64_t k = 0; k < 50; k++)
        get_is(&b, k, 20);
    /* On the servers the copies are separate items. */
    int found_a = 0, found_b = 0;
    for (int s = 0; s < SERVERS; s++) {
        found_a += server_holds(servers[s], ns_a, 1, NULL);
        found_b += server_holds(servers[s], ns_b, 1, NULL);
    }
    ck_assert_int_eq(found_a, 1);
    ck_assert_int_eq(found_b, 1);
    tierpage_store_usage ua, ub;
    ck_assert_int_eq(a.plugin.ops->usage(a.handle, &ua, &err), 0);
    ck_assert_int_eq(b.plugin.ops->usage(b.handle, &ub, &err), 0);
    ck_assert_uint_eq(ua.pages, 25);
    ck_assert_uint_eq(ub.pages, 50);
    store_close(&a);
    /* A new instance of the stack starts with no pages of the old one's. */
    struct store a2;
    store_must_open(&a2, ns_a, list, NULL);
    unsigned char page[PAGE];
    ck_assert_int_eq(a2.plugin.ops->get(a2.handle, 1, page, &err), -ENOENT);
    store_close(&a2);
    store_close(&b);
}
END_TEST

/* Two running instances of one namespace keep their pages apart, a close
 * takes its instance's pages with it, and an exclusive namespace refuses a
 * second open while the first is open. */
START_TEST(test_instances_of_one_namespace_never_meet)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "inst");
    struct store a, b;
    tierpage_error err;
    ck_assert_int_eq(store_open_as(&a, ns, "00000000000000a1", list, NULL, 0, &err), 0);
    ck_assert_int_eq(store_open_as(&b, ns, "00000000000000b2", list, NULL, 0, &err), 0);
    for (uint64_t k = 0; k < 40; k++) {
        put_ok(&a, k, 30);
        put_ok(&b, k, 40);
    }
    ck_assert_int_eq(a.plugin.ops->clear(a.handle, &err), 0); /* a's own pages, never b's */
    unsigned char page[PAGE];
    ck_assert_int_eq(a.plugin.ops->get(a.handle, 5, page, &err), -ENOENT);
    for (uint64_t k = 0; k < 40; k++)
        get_is(&b, k, 40);
    for (uint64_t k = 0; k < 40; k++)
        put_ok(&a, k, 31);
    store_close(&b);
    char b_ns[96];
    snprintf(b_ns, sizeof b_ns, "%s:00000000000000b2", ns);
    int left = 0;
    for (int s = 0; s < SERVERS; s++)
        for (uint64_t k = 0; k < 40; k++)
            left += server_holds(servers[s], b_ns, k, NULL);
    ck_assert_msg(left == 0, "%d pages of a closed instance are left", left);
    for (uint64_t k = 0; k < 40; k++)
        get_is(&a, k, 31);
    store_close(&a);

    struct store x, y;
    ck_assert_int_eq(store_open_as(&x, ns, NULL, list, NULL, 0, &err), 0);
    ck_assert_int_eq(store_open_as(&y, ns, NULL, list, NULL, 0, &err), -EBUSY);
    ck_assert_msg(strstr(err.message, "127.0.0.1:") && strstr(err.message, ns) &&
                  strstr(err.message, "is in use by another running stack"), "refusal: %s", err.message);
    store_close(&x);
    ck_assert_int_eq(store_open_as(&y, ns, NULL, list, NULL, 0, &err), 0);
    store_close(&y);
}
END_TEST

/* A batch of puts is pipelined per server: every copy lands where the ring
 * says with its bytes; an overwrite whose copy a server lost (replace finds
 * nothing) sets it again; a batch of gets reads them all back. */
START_TEST(test_put_batch_writes_every_copy_and_overwrites)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "putbatch");
    struct store st;
    store_must_open(&st, ns, list, "2");
    const char *names[SERVERS] = { servers[0], servers[1], servers[2] };
    enum { N = 150 };
    static unsigned char buf[N][PAGE];
    uint64_t keys[N];
    const void *in[N];
    void *out[N];
    int results[N];
    tierpage_error err;
    for (uint64_t gen = 1; gen <= 2; gen++) {
        for (uint64_t k = 0; k < N; k++) {
            keys[k] = k;
            fill(buf[k], k, gen);
            in[k] = buf[k];
            results[k] = -1;
        }
        int rc = st.plugin.ops->put_batch(st.handle, N, keys, in, results, &err);
        ck_assert_msg(rc == 0, "put_batch gen %" PRIu64 ": %d %s", gen, rc, err.message);
        for (uint64_t k = 0; k < N; k++) {
            ck_assert_int_eq(results[k], 0);
            uint32_t order[MC_MAX_SERVERS];
            expected_servers(names, SERVERS, ns, k, order);
            unsigned char page[PAGE];
            for (int i = 0; i < SERVERS; i++) {
                int held = server_holds(servers[order[i]], ns, k, page);
                ck_assert_msg(held == (i < 2), "gen %" PRIu64 " page %" PRIu64 ": server %d of its walk %s it", gen,
                              k, i + 1, held ? "holds" : "lacks");
                if (held)
                    ck_assert_msg(page_is(page, k, gen), "page %" PRIu64 " on server %d is not gen %" PRIu64, k,
                                  i + 1, gen);
            }
            /* Before the overwrite, one copy of every third page goes missing. */
            if (gen == 1 && k % 3 == 0)
                server_drop(servers[order[k % 2]], ns, k);
        }
    }
    tierpage_store_usage u;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, N);
    memset(buf, 0, sizeof buf);
    for (uint64_t k = 0; k < N; k++)
        out[k] = buf[k];
    ck_assert_int_eq(st.plugin.ops->get_batch(st.handle, N, keys, out, results, &err), 0);
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_int_eq(results[k], 0);
        ck_assert_msg(page_is(buf[k], k, 2), "page %" PRIu64 " read back wrong", k);
    }
    store_close(&st);
}
END_TEST

/* A batch that fills the server: the pages it took are acknowledged and
 * read back, the rest are -ENOSPC (tier full), and usage counts only the
 * pages taken. */
START_TEST(test_put_batch_to_a_full_server_acknowledges_what_it_took)
{
    NEED_SERVERS();
    char tiny[64], ns[64];
    start_own_server("tiny", 8, tiny, sizeof tiny);
    unique_ns(ns, sizeof ns, "batchfull");
    struct store st;
    store_must_open(&st, ns, tiny, NULL);
    enum { N = 4096 };
    unsigned char (*buf)[PAGE] = malloc((size_t)N * PAGE);
    uint64_t *keys = malloc(N * sizeof *keys);
    const void **in = malloc(N * sizeof *in);
    int *results = malloc(N * sizeof *results);
    ck_assert(buf && keys && in && results);
    for (uint64_t k = 0; k < N; k++) {
        keys[k] = k;
        fill(buf[k], k, 11);
        in[k] = buf[k];
    }
    tierpage_error err;
    int rc = st.plugin.ops->put_batch(st.handle, N, keys, in, results, &err);
    ck_assert_msg(rc == -ENOSPC, "put_batch returned %d (%s), expected -ENOSPC", rc, err.message);
    ck_assert_ptr_nonnull(strstr(err.message, tiny));
    uint64_t taken = 0, refused = 0;
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_msg(results[k] == 0 || results[k] == -ENOSPC, "page %" PRIu64 ": %d", k, results[k]);
        if (results[k] == 0) {
            taken++;
            get_is(&st, k, 11);
        } else {
            refused++;
            ck_assert(!server_holds(tiny, ns, k, NULL));
        }
    }
    ck_assert_uint_gt(taken, 100);
    ck_assert_uint_gt(refused, 0);
    tierpage_store_usage u;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, taken);
    store_close(&st);
    stop_own_server("tiny");
    free(buf);
    free(keys);
    free(in);
    free(results);
}
END_TEST

/* A batch far larger than a unix socket's buffer holds replies for (each
 * small reply is charged ~1 KiB): sent in chunks whose replies are read as
 * they come, or both sides would wait for each other. */
START_TEST(test_put_batch_over_a_unix_socket)
{
    NEED_SERVERS();
    char ns[64];
    unique_ns(ns, sizeof ns, "unixbatch");
    struct store st;
    store_must_open(&st, ns, unix_socket, NULL);
    enum { N = 1024 };
    static unsigned char buf[N][PAGE];
    uint64_t keys[N];
    const void *in[N];
    int results[N];
    tierpage_error err;
    for (uint64_t k = 0; k < N; k++) {
        keys[k] = 1000 + k;
        fill(buf[k], keys[k], 12);
        in[k] = buf[k];
    }
    ck_assert_int_eq(st.plugin.ops->put_batch(st.handle, N, keys, in, results, &err), 0);
    for (uint64_t k = 0; k < N; k++) {
        ck_assert_int_eq(results[k], 0);
        get_is(&st, keys[k], 12);
        unsigned char page[PAGE];
        ck_assert(server_holds(unix_socket, ns, keys[k], page));
        ck_assert(page_is(page, keys[k], 12));
    }
    store_close(&st);
}
END_TEST

START_TEST(test_unix_socket_server)
{
    NEED_SERVERS();
    char ns[64];
    unique_ns(ns, sizeof ns, "unix");
    struct store st;
    store_must_open(&st, ns, unix_socket, NULL);
    for (uint64_t k = 0; k < 20; k++)
        put_ok(&st, k, 8);
    for (uint64_t k = 0; k < 20; k++)
        get_is(&st, k, 8);
    ck_assert(server_holds(unix_socket, ns, 3, NULL));
    store_close(&st);
}
END_TEST

START_TEST(test_server_out_of_memory_is_tier_full)
{
    NEED_SERVERS();
    char tiny[64], ns[64];
    start_own_server("tiny", 8, tiny, sizeof tiny);
    unique_ns(ns, sizeof ns, "full");
    struct store st;
    store_must_open(&st, ns, tiny, NULL);
    tierpage_error err;
    unsigned char page[PAGE];
    uint64_t stored = 0;
    int rc = 0;
    for (; stored < 4096; stored++) {
        fill(page, stored, 9);
        rc = st.plugin.ops->put(st.handle, stored, page, &err);
        if (rc)
            break;
    }
    ck_assert_msg(rc == -ENOSPC, "put %" PRIu64 " returned %d (%s), expected -ENOSPC", stored + 1, rc, err.message);
    ck_assert_ptr_nonnull(strstr(err.message, tiny));
    ck_assert_uint_gt(stored, 100);
    tierpage_store_usage u;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.pages, stored);
    ck_assert_uint_le(u.used_bytes, u.capacity_bytes);
    get_is(&st, 0, 9);
    get_is(&st, stored - 1, 9);
    /* Room made by a delete is used again. */
    ck_assert_int_eq(st.plugin.ops->del(st.handle, 0, &err), 0);
    ck_assert_int_eq(st.plugin.ops->del(st.handle, 1, &err), 0);
    put_ok(&st, stored, 9);
    get_is(&st, stored, 9);
    store_close(&st);
    stop_own_server("tiny");
}
END_TEST

START_TEST(test_capacity_option_bounds_the_tier)
{
    NEED_SERVERS();
    char list[256], ns[64];
    all_servers(list, sizeof list);
    unique_ns(ns, sizeof ns, "cap");
    struct store st;
    tierpage_error err;
    ck_assert_int_eq(store_open(&st, ns, list, NULL, 10 * PAGE, &err), 0);
    for (uint64_t k = 0; k < 10; k++)
        put_ok(&st, k, 1);
    unsigned char page[PAGE];
    fill(page, 10, 1);
    ck_assert_int_eq(st.plugin.ops->put(st.handle, 10, page, &err), -ENOSPC);
    put_ok(&st, 3, 2); /* an overwrite needs no room */
    get_is(&st, 3, 2);
    tierpage_store_usage u;
    ck_assert_int_eq(st.plugin.ops->usage(st.handle, &u, &err), 0);
    ck_assert_uint_eq(u.capacity_bytes, 10 * PAGE);
    ck_assert_uint_eq(u.pages, 10);
    for (uint64_t k = 0; k < 10; k++)
        ck_assert_int_eq(st.plugin.ops->del(st.handle, k, &err), 0);
    store_close(&st);
}
END_TEST

static void expect_refused(const tierpage_store_option *options, size_t count, const char *key, const char *text)
{
    struct tp_plugin plugin;
    tierpage_error err;
    ck_assert_int_eq(tp_plugin_load("memcached", &plugin, &err), 0);
    tierpage_store_params params = { .namespace_name = "opts", .page_size = PAGE, .options = options,
                                     .option_count = count, .host = tp_plugin_host(&plugin, "memcached") };
    void *handle = NULL;
    memset(&err, 0, sizeof err);
    int rc = plugin.ops->open(&params, &handle, &err);
    ck_assert_msg(rc < 0, "open accepted options that should be refused (%s)", text);
    ck_assert_ptr_null(handle);
    ck_assert_str_eq(err.key, key);
    ck_assert_msg(strstr(err.message, text), "message '%s' lacks '%s'", err.message, text);
    tp_plugin_unload(&plugin);
}

START_TEST(test_bad_options_name_their_key)
{
    NEED_SERVERS();
    const char *s = servers[0];
    char two[160], down[64];
    snprintf(two, sizeof two, "%s, %s", s, s);
    expect_refused((tierpage_store_option[]){ { "replicas", "1" } }, 1, "servers", "servers is required");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "colour", "red" } }, 2, "colour",
                   "unknown option 'colour'");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "replicas", "0" } }, 2, "replicas",
                   "expected an integer");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "replicas", "2" } }, 2, "replicas",
                   "at least 2 servers");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "io_timeout_ms", "soon" } }, 2, "io_timeout_ms",
                   "io_timeout_ms: expected a duration from 1ms to 10min");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "connect_timeout_ms", "0" } }, 2,
                   "connect_timeout_ms", "expected a duration");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "probe_ms", "0" } }, 2, "probe_ms",
                   "probe_ms: expected a duration from 1ms to 10min");
    expect_refused((tierpage_store_option[]){ { "servers", s }, { "probe_ms", "5s" }, { "probe_max_ms", "1s" } }, 3,
                   "probe_max_ms", "is less than probe_ms");
    char with_empty[160];
    snprintf(with_empty, sizeof with_empty, "%s,,%s", s, s);
    expect_refused((tierpage_store_option[]){ { "servers", with_empty } }, 1, "servers",
                   "servers: entry 2 of the list is empty");
    expect_refused((tierpage_store_option[]){ { "servers", "127.0.0.1:99999" } }, 1, "servers", "port");
    expect_refused((tierpage_store_option[]){ { "servers", "127.0.0.1:,x" } }, 1, "servers", "port");
    expect_refused((tierpage_store_option[]){ { "servers", two } }, 1, "servers", "listed twice");
    /* A server that does not answer at open: named in the message. The
     * victim's port is free again once it was stopped. */
    start_own_server("gone", 8, down, sizeof down);
    stop_own_server("gone");
    char list[200];
    snprintf(list, sizeof list, "%s,%s", s, down);
    char want[120];
    snprintf(want, sizeof want, "memcached: cannot reach %s", down);
    expect_refused((tierpage_store_option[]){ { "servers", list } }, 1, "servers", want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memcached");
    TCase *pure = tcase_create("placement");
    tcase_add_test(pure, test_ring_spreads_and_moves_little);
    tcase_add_test(pure, test_page_key_format);
    tcase_add_test(pure, test_pagemap_keeps_each_pages_servers_and_generation);
    suite_add_tcase(s, pure);

    TCase *live = tcase_create("servers");
    tcase_set_timeout(live, 120);
    tcase_add_unchecked_fixture(live, start_servers, stop_servers);
    tcase_add_test(live, test_pages_land_where_the_ring_says);
    tcase_add_test(live, test_replicas_two_distinct_servers_and_delete_removes_both);
    tcase_add_test(live, test_get_reads_the_next_replica_when_a_copy_is_gone);
    tcase_add_test(live, test_a_killed_server_fails_over_to_its_replica);
    tcase_add_test(live, test_without_replicas_a_killed_server_is_an_error_naming_it);
    tcase_add_test(live, test_a_stopped_server_comes_back_and_is_never_read_stale);
    tcase_add_test(live, test_del_batch_deletes_every_copy_and_a_stopped_server_its_own_when_back);
    tcase_add_test(live, test_a_server_restarted_empty_comes_back_and_its_pages_are_missing);
    tcase_add_test(live, test_an_older_copy_stored_late_is_never_read_as_current);
    tcase_add_test(live, test_an_older_copy_stored_late_without_replicas_is_an_error);
    tcase_add_test(live, test_namespaces_keep_stacks_apart);
    tcase_add_test(live, test_instances_of_one_namespace_never_meet);
    tcase_add_test(live, test_unix_socket_server);
    tcase_add_test(live, test_put_batch_writes_every_copy_and_overwrites);
    tcase_add_test(live, test_put_batch_to_a_full_server_acknowledges_what_it_took);
    tcase_add_test(live, test_put_batch_over_a_unix_socket);
    tcase_add_test(live, test_server_out_of_memory_is_tier_full);
    tcase_add_test(live, test_capacity_option_bounds_the_tier);
    tcase_add_test(live, test_bad_options_name_their_key);
    suite_add_tcase(s, live);

    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner), run = srunner_ntests_run(runner);
    printf("%d passed, %d failed\n", run - failed, failed);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
