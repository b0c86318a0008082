/* Tests of the host services a store gets at open: the option parsers
 * (good and bad values, the message naming the key) and the log. */
#include "test_tiers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "store_host.h"
#include "tierpage.h"

static struct tp_store_host host_storage;
static const tierpage_host *host;
static tierpage_error err;

static void setup(void)
{
    host = tp_store_host_init(&host_storage, "t");
    memset(&err, 0, sizeof err);
}

/* The last call failed with -EINVAL, err naming `key` and saying `text`. */
#define ck_refused(rc, want_key, text)                                                                \
    do {                                                                                              \
        ck_assert_int_eq((rc), -EINVAL);                                                              \
        ck_assert_str_eq(err.key, (want_key));                                                        \
        ck_assert_msg(strstr(err.message, (text)), "message '%s' lacks '%s'", err.message, (text));    \
    } while (0)

START_TEST(test_table_is_versioned_and_complete)
{
    ck_assert_uint_eq(host->version, TIERPAGE_HOST_VERSION);
    ck_assert_uint_eq(host->struct_size, sizeof(tierpage_host));
    ck_assert(TIERPAGE_HOST_HAS(host, parse_servers));
    ck_assert_ptr_nonnull(host->log);
    ck_assert_ptr_nonnull(host->parse_uint);
    ck_assert_ptr_nonnull(host->parse_size);
    ck_assert_ptr_nonnull(host->parse_duration_ms);
    ck_assert_ptr_nonnull(host->parse_bool);
    ck_assert_ptr_nonnull(host->parse_servers);
    /* A table from an older core is shorter: what it lacks reads as absent. */
    static tierpage_host older_table;
    older_table = *host;
    older_table.struct_size = (uint32_t)offsetof(tierpage_host, parse_uint);
    const tierpage_host *older = &older_table, *none = NULL;
    ck_assert(TIERPAGE_HOST_HAS(older, log));
    ck_assert(!TIERPAGE_HOST_HAS(older, parse_uint));
    ck_assert(!TIERPAGE_HOST_HAS(none, log));
}
END_TEST

START_TEST(test_uint)
{
    uint64_t v = 7;
    ck_assert_int_eq(host->parse_uint("n", "0", 0, 10, &v, &err), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(host->parse_uint("n", "0042", 1, 64, &v, &err), 0);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(host->parse_uint("n", "18446744073709551615", 0, UINT64_MAX, &v, &err), 0);
    ck_assert_uint_eq(v, UINT64_MAX);

    ck_refused(host->parse_uint("replicas", "65", 1, 64, &v, &err), "replicas",
               "replicas: expected an integer from 1 to 64, got '65'");
    ck_refused(host->parse_uint("replicas", "0", 1, 64, &v, &err), "replicas", "got '0'");
    ck_refused(host->parse_uint("replicas", "", 1, 64, &v, &err), "replicas", "got nothing");
    ck_refused(host->parse_uint("replicas", NULL, 1, 64, &v, &err), "replicas", "got nothing");
    const char *bad[] = { "-1", "+1", " 1", "1 ", "0x10", "1.5", "two", "1e3", "18446744073709551616" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_refused(host->parse_uint("queue_depth", bad[i], 0, UINT64_MAX, &v, &err), "queue_depth", "expected an integer");
    ck_assert_uint_eq(v, UINT64_MAX); /* untouched by a refusal */
}
END_TEST

START_TEST(test_size)
{
    uint64_t v = 0;
    struct { const char *text; uint64_t bytes; } good[] = {
        { "4096", 4096 }, { "64MiB", 64ull << 20 }, { "64 MiB", 64ull << 20 }, { "8G", 8ull << 30 },
        { "1KB", 1024 }, { "2TiB", 2ull << 40 }, { "12B", 12 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(host->parse_size("s", good[i].text, 0, UINT64_MAX, &v, &err) == 0, "%s: %s", good[i].text,
                      err.message);
        ck_assert_uint_eq(v, good[i].bytes);
    }
    const char *bad[] = { "1.5GiB", "4PiB", "-1", "64mib", "MiB", "64MiB ", "lots", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_refused(host->parse_size("slab", bad[i], 0, UINT64_MAX, &v, &err), "slab",
                   "slab: expected a size such as 64MiB");
    ck_refused(host->parse_size("slab", "2GiB", 4096, 1ull << 30, &v, &err), "slab",
               "slab: expected a size from 4KiB to 1GiB, got '2GiB'");
    ck_refused(host->parse_size("slab", "1K", 4096, 1ull << 30, &v, &err), "slab", "got '1K'");
}
END_TEST

START_TEST(test_duration)
{
    uint64_t v = 0;
    struct { const char *text; uint64_t ms; } good[] = {
        { "500ms", 500 }, { "2s", 2000 }, { "2 s", 2000 }, { "1min", 60000 }, { "250", 250 }, { "1", 1 },
        { "600000", 600000 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(host->parse_duration_ms("t", good[i].text, 1, 600000, &v, &err) == 0, "%s: %s",
                      good[i].text, err.message);
        ck_assert_uint_eq(v, good[i].ms);
    }
    ck_refused(host->parse_duration_ms("io_timeout_ms", "0", 1, 600000, &v, &err), "io_timeout_ms",
               "io_timeout_ms: expected a duration from 1ms to 10min such as 500ms or 2s, got '0'");
    ck_refused(host->parse_duration_ms("io_timeout_ms", "11min", 1, 600000, &v, &err), "io_timeout_ms",
               "got '11min'");
    /* The stack file's spellings (store_timeout: 2h) are a store option's too. */
    ck_assert_int_eq(host->parse_duration_ms("t", "2h", 0, UINT64_MAX, &v, &err), 0);
    ck_assert_uint_eq(v, 7200000);
    ck_assert_int_eq(host->parse_duration_ms("t", "3000us", 0, UINT64_MAX, &v, &err), 0);
    ck_assert_uint_eq(v, 3);
    ck_refused(host->parse_duration_ms("io_timeout_ms", "2h", 1, 600000, &v, &err), "io_timeout_ms",
               "io_timeout_ms: expected a duration from 1ms to 10min such as 500ms or 2s, got '2h'");
    const char *bad[] = { "", "1.5s", "2d", "1500us", "-1", "soon", "s", "2 S", "1000 ms ", "99999999999999999999s",
                          "307445734561825861min" /* overflows when multiplied */ };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_refused(host->parse_duration_ms("t", bad[i], 0, UINT64_MAX, &v, &err), "t", "expected a duration");
}
END_TEST

START_TEST(test_bool)
{
    int v = -1;
    ck_assert_int_eq(host->parse_bool("b", "true", &v, &err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(host->parse_bool("b", "no", &v, &err), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(host->parse_bool("b", "yes", &v, &err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(host->parse_bool("b", "false", &v, &err), 0);
    ck_assert_int_eq(v, 0);
    const char *bad[] = { "maybe", "1", "TRUE", "", " true", "on" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_refused(host->parse_bool("cluster", bad[i], &v, &err), "cluster", "cluster: expected true or false");
}
END_TEST

static tierpage_server servers[8];
static size_t count;

static int servers_of(const char *text, uint16_t default_port, uint32_t flags, size_t max)
{
    memset(&err, 0, sizeof err);
    return host->parse_servers("servers", text, default_port, flags, servers, max, &count, &err);
}

START_TEST(test_servers)
{
    ck_assert_int_eq(servers_of(" 127.0.0.1:11212, [::1]:7000,db.example ,[fe80::1%eth0], /run/m.sock,"
                                "unix:/tmp/x.sock,./rel.sock", 11211, TIERPAGE_SERVERS_UNIX, 8), 0);
    ck_assert_uint_eq(count, 7);
    struct { const char *name, *host; uint16_t port; } want[] = {
        { "127.0.0.1:11212", "127.0.0.1", 11212 }, { "[::1]:7000", "::1", 7000 },
        { "db.example", "db.example", 11211 },     { "[fe80::1%eth0]", "fe80::1%eth0", 11211 },
        { "/run/m.sock", "/run/m.sock", 0 },       { "unix:/tmp/x.sock", "/tmp/x.sock", 0 },
        { "./rel.sock", "./rel.sock", 0 },
    };
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(servers[i].name, want[i].name);
        ck_assert_str_eq(servers[i].host, want[i].host);
        ck_assert_uint_eq(servers[i].port, want[i].port);
    }
    ck_assert_int_eq(servers_of("a:1", 0, 0, 1), 0);
    ck_assert_uint_eq(count, 1);

    struct { const char *text; uint16_t port; uint32_t flags; size_t max; const char *why; } bad[] = {
        { "", 1, 0, 8, "servers: expected a list of servers such as [host:port, ...], got nothing" },
        { "  ", 1, 0, 8, "got nothing" },
        { "a:1,,b:2", 1, 0, 8, "servers: entry 2 of the list is empty, expected host:port" },
        { "a:1, ", 1, 0, 8, "entry 2 of the list is empty" },
        { ",a:1", 1, 0, 8, "entry 1 of the list is empty" },
        { "a:0", 1, 0, 8, "servers: 'a:0': expected a port from 1 to 65535" },
        { "a:70000", 1, 0, 8, "expected a port from 1 to 65535" },
        { "a:", 1, 0, 8, "expected a port from 1 to 65535" },
        { "a:1x", 1, 0, 8, "expected a port from 1 to 65535" },
        { "::1:5", 1, 0, 8, "write an IPv6 address in brackets" },
        { "[::1", 1, 0, 8, "expected [IPv6 address]:port, got '[::1'" },
        { "[::1]7000", 1, 0, 8, "expected [IPv6 address]:port" },
        { "[]:1", 1, 0, 8, "has no host" },
        { ":1", 1, 0, 8, "has no host" },
        { "a b:1", 1, 0, 8, "servers: expected host:port, got 'a b:1'" },
        { "a:1,a:1", 1, 0, 8, "'a:1' is listed twice" },
        { "a, a:11211", 11211, 0, 8, "'a:11211' is listed twice" },
        { "a:1,b:1,c:1", 1, 0, 2, "servers: expected at most 2 servers" },
        { "/run/x.sock", 1, 0, 8, "this store cannot use a unix socket" },
        { "unix:", 1, TIERPAGE_SERVERS_UNIX, 8, "expected unix:PATH" },
        { "unix:/run/x,/run/x", 1, TIERPAGE_SERVERS_UNIX, 8, "'/run/x' is listed twice" },
        { "a", 0, 0, 8, "servers: 'a' has no port, expected host:port" },
        { "nowhere", 0, TIERPAGE_SERVERS_UNIX, 8, "has no port" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = servers_of(bad[i].text, bad[i].port, bad[i].flags, bad[i].max);
        ck_assert_msg(rc == -EINVAL, "'%s' accepted", bad[i].text);
        ck_assert_str_eq(err.key, "servers");
        ck_assert_msg(strstr(err.message, bad[i].why), "'%s': message '%s' lacks '%s'", bad[i].text, err.message,
                      bad[i].why);
    }
    char long_path[200] = "/";
    memset(long_path + 1, 'p', 120);
    ck_refused(servers_of(long_path, 1, TIERPAGE_SERVERS_UNIX, 8), "servers", "a socket path has at most 107");
    char long_entry[400];
    memset(long_entry, 'h', 300);
    long_entry[300] = '\0';
    ck_refused(servers_of(long_entry, 1, 0, 8), "servers", "is too long");
}
END_TEST

/* ---------------------------------------------------------------- the log */

struct captured {
    int calls, level;
    char tier[64], message[512];
};

static void capture(void *arg, int level, const char *tier, const char *message)
{
    struct captured *c = arg;
    c->calls++;
    c->level = level;
    snprintf(c->tier, sizeof c->tier, "%s", tier);
    snprintf(c->message, sizeof c->message, "%s", message);
}

START_TEST(test_log_goes_to_the_sink_with_the_tier_name)
{
    struct captured c = { 0 };
    struct tp_store_host other;
    const tierpage_host *h = tp_store_host_init(&other, "cold-redis");
    tp_set_store_log(capture, &c);
    tierpage_log(h, TIERPAGE_LOG_WARNING, "server %s is unreachable (%d)", "10.0.0.1:6379", 3);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.level, TIERPAGE_LOG_WARNING);
    ck_assert_str_eq(c.tier, "cold-redis");
    ck_assert_str_eq(c.message, "server 10.0.0.1:6379 is unreachable (3)");
    tp_set_store_log(NULL, NULL); /* silenced, as under tierpage run --quiet */
    tierpage_log(h, TIERPAGE_LOG_ERROR, "not seen");
    ck_assert_int_eq(c.calls, 1);
    tierpage_log(NULL, TIERPAGE_LOG_ERROR, "no host: dropped, not a crash");
}
END_TEST

/* The example store takes options through the host's parsers and logs
 * through it: what it logs reaches the sink, named by the tier. */
START_TEST(test_example_store_parses_and_logs_through_the_host)
{
    char path[4096];
    tt_fixture_path(path, sizeof path, "example");
    struct tp_plugin plugin;
    tierpage_error lerr = { { 0 }, { 0 } };
    ck_assert_msg(tp_plugin_load(path, &plugin, &lerr) == 0, "%s", lerr.message);
    struct captured c = { 0 };
    tp_set_store_log(capture, &c);

    tierpage_store_option options[2] = { { "buckets", "64" }, { "verbose", "yes" } };
    tierpage_store_params params = { .namespace_name = "ns", .page_size = 4096, .capacity = 1 << 20,
                                     .options = options, .option_count = 2,
                                     .host = tp_plugin_host(&plugin, "warm") };
    void *store = NULL;
    ck_assert_msg(plugin.ops->open(&params, &store, &err) == 0, "%s", err.message);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_str_eq(c.tier, "warm");
    ck_assert_msg(strstr(c.message, "64 buckets"), "%s", c.message);
    plugin.ops->close(store);
    ck_assert_int_eq(c.calls, 2);

    options[0].value = "lots";
    store = NULL;
    ck_refused(plugin.ops->open(&params, &store, &err), "buckets", "buckets: expected an integer from 1 to");
    ck_assert_ptr_null(store);
    options[0].value = "64";
    options[1].value = "sometimes";
    ck_refused(plugin.ops->open(&params, &store, &err), "verbose", "verbose: expected true or false, got 'sometimes'");
    tp_plugin_unload(&plugin);
}
END_TEST

Suite *tt_host_suite(void)
{
    Suite *s = suite_create("host services");
    TCase *tc = tcase_create("parsers");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_table_is_versioned_and_complete);
    tcase_add_test(tc, test_uint);
    tcase_add_test(tc, test_size);
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_bool);
    tcase_add_test(tc, test_servers);
    suite_add_tcase(s, tc);
    TCase *log = tcase_create("log");
    tcase_add_checked_fixture(log, setup, NULL);
    tcase_add_test(log, test_log_goes_to_the_sink_with_the_tier_name);
    tcase_add_test(log, test_example_store_parses_and_logs_through_the_host);
    suite_add_tcase(s, log);
    return s;
}
