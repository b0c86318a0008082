/* Stack files: the examples, every key, defaults, options, and every error
 * with its file:line:col and key. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack_config.h"
#include "units.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* A stack's first lines that every test stack shares. */
#define HEAD "name: t\nresident: 4MiB\n"

static struct tp_conf *sentinel = (struct tp_conf *)&sentinel;

static const char *source_dir(void)
{
    const char *dir = getenv("TIERPAGE_SOURCE_DIR");
    ck_assert_msg(dir && *dir, "TIERPAGE_SOURCE_DIR must name the source tree");
    return dir;
}

static struct tp_conf *load_ok(const char *yaml)
{
    struct tp_conf *conf = NULL;
    tierpage_error err = {0};
    int rc = tp_conf_load_string(yaml, strlen(yaml), "t.yaml", &conf, &err);
    ck_assert_msg(rc == 0, "expected success, got: %s", err.message);
    ck_assert_ptr_nonnull(conf);
    return conf;
}

/* Loads `yaml` expecting failure; returns the message, and checks that the
 * out pointer was left alone. */
static const char *load_fail(const char *yaml, tierpage_error *err)
{
    struct tp_conf *conf = sentinel;
    memset(err, 0, sizeof *err);
    ck_assert_int_eq(tp_conf_load_string(yaml, strlen(yaml), "t.yaml", &conf, err), -1);
    ck_assert_ptr_eq(conf, sentinel);
    ck_assert_uint_lt(strlen(err->message), sizeof err->message);
    return err->message;
}

/* ---- examples -------------------------------------------------------- */

START_TEST(every_example_parses)
{
    char dir_path[4096];
    DIR *dir;
    struct dirent *e;
    int parsed = 0;

    snprintf(dir_path, sizeof dir_path, "%s/conf/examples", source_dir());
    dir = opendir(dir_path);
    ck_assert_msg(dir != NULL, "cannot open %s", dir_path);
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[8192];
        struct tp_conf *conf = NULL;
        tierpage_error err = {0};

        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        ck_assert_msg(tp_conf_load_file(path, &conf, &err) == 0, "%s: %s", path, err.message);
        ck_assert_str_eq(conf->source, path);
        ck_assert_uint_gt(conf->resident, 0);
        ck_assert_uint_eq(conf->resident % 4096, 0);
        ck_assert_uint_ge(conf->tier_count, 1);
        tp_conf_free(conf);
        parsed++;
    }
    closedir(dir);
    ck_assert_int_ge(parsed, 2);
}
END_TEST

static struct tp_conf *load_example(const char *name)
{
    char path[4096];
    struct tp_conf *conf = NULL;
    tierpage_error err = {0};

    snprintf(path, sizeof path, "%s/conf/examples/%s", source_dir(), name);
    ck_assert_msg(tp_conf_load_file(path, &conf, &err) == 0, "%s", err.message);
    return conf;
}

START_TEST(local_example_is_the_default_stack)
{
    struct tp_conf *conf = load_example("local.yaml");

    ck_assert_str_eq(conf->name, "local");
    ck_assert_uint_eq(conf->resident, 64 * MiB);
    ck_assert_uint_eq(conf->malloc_threshold, 1 * MiB);
    ck_assert_uint_eq(conf->handler_threads, TP_HANDLERS_AUTO);
    ck_assert_int_eq(conf->policy, TP_POLICY_CLOCK);
    ck_assert_uint_eq(conf->store_timeout_ms, 30000);
    ck_assert_int_eq(conf->prefetch, 1);
    ck_assert_uint_eq(conf->prefetch_window, 256);
    ck_assert_int_eq(conf->write_tracking, TP_WRITES_AUTO);
    ck_assert_int_eq(conf->evictor_priority, TP_EVICTOR_BACKGROUND);
    ck_assert_uint_eq(conf->tier_count, 2);
    ck_assert_str_eq(conf->tiers[0].plugin, "dram");
    ck_assert_str_eq(conf->tiers[0].name, "dram");
    ck_assert_uint_eq(conf->tiers[0].capacity, 256 * MiB);
    ck_assert_uint_eq(conf->tiers[0].option_count, 0);
    ck_assert_str_eq(conf->tiers[1].plugin, "pmem");
    ck_assert_str_eq(conf->tiers[1].name, "pmem");
    ck_assert_uint_eq(conf->tiers[1].capacity, 1 * GiB);
    ck_assert_uint_eq(conf->tiers[1].option_count, 2);
    ck_assert_str_eq(conf->tiers[1].options[0].key, "path");
    ck_assert_str_eq(conf->tiers[1].options[0].value, "/tmp/tierpage-local.pmem");
    ck_assert_str_eq(conf->tiers[1].options[1].key, "durable");
    ck_assert_str_eq(conf->tiers[1].options[1].value, "false");
    tp_conf_free(conf);
}
END_TEST

START_TEST(small_example_is_tiny)
{
    struct tp_conf *conf = load_example("small.yaml");

    ck_assert_str_eq(conf->name, "small");
    ck_assert_uint_eq(conf->resident, 4 * MiB);
    ck_assert_uint_eq(conf->tier_count, 2);
    ck_assert_str_eq(conf->tiers[0].plugin, "dram");
    ck_assert_uint_eq(conf->tiers[0].capacity, 16 * MiB);
    ck_assert_str_eq(conf->tiers[1].plugin, "pmem");
    ck_assert_uint_eq(conf->tiers[1].capacity, 1 * GiB);
    ck_assert_str_eq(tp_conf_option_value(&conf->tiers[1], "path"), "/tmp/tierpage-small.pmem");
    tp_conf_free(conf);
}
END_TEST

/* ---- keys and defaults ----------------------------------------------- */

START_TEST(defaults_apply)
{
    struct tp_conf *conf = load_ok("name: web-1\nresident: 64MiB\ntiers:\n  - plugin: dram\n");

    ck_assert_str_eq(conf->source, "t.yaml");
    ck_assert_str_eq(conf->name, "web-1");
    ck_assert_uint_eq(conf->resident, 64 * MiB);
    ck_assert_uint_eq(conf->malloc_threshold, 1 * MiB);
    ck_assert_uint_eq(conf->handler_threads, TP_HANDLERS_AUTO);
    ck_assert_int_eq(conf->policy, TP_POLICY_CLOCK);
    ck_assert_int_eq(conf->exclusive_namespace, 0);
    ck_assert_uint_eq(conf->tier_count, 1);
    ck_assert_str_eq(conf->tiers[0].name, "dram");
    ck_assert_uint_eq(conf->tiers[0].capacity, 0);
    ck_assert_uint_eq(conf->tiers[0].option_count, 0);
    ck_assert_ptr_null(tp_conf_option_value(&conf->tiers[0], "path"));
    tp_conf_free(conf);
}
END_TEST

/* tierpaged's stacks directory names each stack by its file, NAME.yaml:
 * a file there may leave `name:` out, and one that gives it keeps it. */
START_TEST(a_stack_named_by_its_file_may_leave_name_out)
{
    static const char bare[] = "resident: 64MiB\ntiers:\n  - plugin: dram\n";
    static const char named[] = "name: given\nresident: 64MiB\ntiers:\n  - plugin: dram\n";
    struct tp_conf *conf = NULL;
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(tp_conf_load_string_named(bare, strlen(bare), "web-1.yaml", "web-1", &conf, &err), 0);
    ck_assert_str_eq(conf->name, "web-1");
    tp_conf_free(conf);
    ck_assert_int_eq(tp_conf_load_string_named(named, strlen(named), "web-1.yaml", "web-1", &conf, &err), 0);
    ck_assert_str_eq(conf->name, "given");
    tp_conf_free(conf);
    /* No default, or one that is no name: the key is required as ever. */
    conf = NULL;
    ck_assert_int_eq(tp_conf_load_string_named(bare, strlen(bare), "t.yaml", NULL, &conf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "t.yaml:1:1: name: required key is missing"));
    ck_assert_int_eq(tp_conf_load_string_named(bare, strlen(bare), "t.yaml", "no/name", &conf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "t.yaml:1:1: name: required key is missing"));
    ck_assert_ptr_null(conf);
}
END_TEST

START_TEST(a_bare_duration_is_milliseconds)
{
    /* The same reading as a store option's (connect_timeout_ms: 1500). */
    struct tp_conf *conf = load_ok("name: t\nresident: 64MiB\nstore_timeout: 1500\ntiers:\n  - plugin: dram\n");
    ck_assert_uint_eq(conf->store_timeout_ms, 1500);
    tp_conf_free(conf);
    conf = load_ok("name: t\nresident: 64MiB\nstore_timeout: 2 min\ntiers:\n  - plugin: dram\n");
    ck_assert_uint_eq(conf->store_timeout_ms, 120000);
    tp_conf_free(conf);
}
END_TEST

START_TEST(every_key_is_read)
{
    struct tp_conf *conf = load_ok("# comment first\n"
                                   "name: A.b_c-9\n"
                                   "namespace: exclusive\n"
                                   "resident: 1 GiB\n"
                                   "malloc_threshold: 256KiB\n"
                                   "handler_threads: 64\n"
                                   "policy: fifo\n"
                                   "store_timeout: 1500ms\n"
                                   "prefetch: off\n"
                                   "prefetch_window: 256\n"
                                   "write_tracking: faults\n"
                                   "evictor_priority: normal\n"
                                   "tiers:\n"
                                   "  - plugin: dram\n"
                                   "    name: fast\n"
                                   "    capacity: 8G\n");

    ck_assert_str_eq(conf->name, "A.b_c-9");
    ck_assert_int_eq(conf->exclusive_namespace, 1);
    ck_assert_uint_eq(conf->resident, 1 * GiB);
    ck_assert_uint_eq(conf->malloc_threshold, 256 * KiB);
    ck_assert_uint_eq(conf->handler_threads, 64);
    ck_assert_int_eq(conf->policy, TP_POLICY_FIFO);
    ck_assert_uint_eq(conf->store_timeout_ms, 1500);
    ck_assert_int_eq(conf->prefetch, 0);
    ck_assert_uint_eq(conf->prefetch_window, 256);
    ck_assert_int_eq(conf->write_tracking, TP_WRITES_FAULTS);
    ck_assert_int_eq(conf->evictor_priority, TP_EVICTOR_NORMAL);
    ck_assert_str_eq(conf->tiers[0].plugin, "dram");
    ck_assert_str_eq(conf->tiers[0].name, "fast");
    ck_assert_uint_eq(conf->tiers[0].capacity, 8 * GiB);
    ck_assert_int_eq(conf->tiers[0].line, 14);
    ck_assert_int_eq(conf->tiers[0].column, 5);
    ck_assert_int_eq(conf->tiers[0].plugin_line, 14);
    ck_assert_int_eq(conf->tiers[0].plugin_column, 13);
    tp_conf_free(conf);
}
END_TEST

START_TEST(flow_style_and_clock_policy)
{
    struct tp_conf *conf = load_ok("{name: f, resident: 8192, policy: clock, malloc_threshold: 0, "
                                   "tiers: [{plugin: dram}, {plugin: pmem, path: /x}]}");

    ck_assert_uint_eq(conf->resident, 8192);
    ck_assert_uint_eq(conf->malloc_threshold, 0);
    ck_assert_int_eq(conf->policy, TP_POLICY_CLOCK);
    ck_assert_uint_eq(conf->tier_count, 2);
    ck_assert_int_eq(conf->tiers[1].line, 1);
    ck_assert_str_eq(conf->tiers[1].options[0].value, "/x");
    tp_conf_free(conf);
}
END_TEST

START_TEST(eight_tiers_are_allowed)
{
    struct tp_conf *conf = load_ok(HEAD "tiers:\n"
                                   "  - {plugin: a}\n  - {plugin: b}\n  - {plugin: c}\n"
                                   "  - {plugin: d}\n  - {plugin: e}\n  - {plugin: f}\n"
                                   "  - {plugin: g}\n  - {plugin: h}\n");
    ck_assert_uint_eq(conf->tier_count, 8);
    ck_assert_str_eq(conf->tiers[7].name, "h");
    tp_conf_free(conf);
}
END_TEST

/* ---- options --------------------------------------------------------- */

START_TEST(options_pass_through_as_strings)
{
    struct tp_conf *conf = load_ok(HEAD "tiers:\n"
                                   "  - plugin: redis\n"             /* 4 */
                                   "    servers: [127.0.0.1:6379, /run/redis.sock]\n"
                                   "    hosts:\n"                    /* 6 */
                                   "      - a:1\n"
                                   "      - b:2\n"
                                   "    timeout_ms: 250\n"           /* 9 */
                                   "    tls: true\n"
                                   "    password: \"p: w#d\"\n"
                                   "    empty_list: []\n"
                                   "    blank:\n"
                                   "    capacity: 2MiB\n");
    const struct tp_conf_tier *tier = &conf->tiers[0];
    static const char *const want[][2] = {
        {"servers", "127.0.0.1:6379,/run/redis.sock"},
        {"hosts", "a:1,b:2"},
        {"timeout_ms", "250"},
        {"tls", "true"},
        {"password", "p: w#d"},
        {"empty_list", ""},
        {"blank", ""},
    };
    int line, column;

    ck_assert_uint_eq(tier->capacity, 2 * MiB);
    ck_assert_uint_eq(tier->option_count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < tier->option_count; i++) {
        ck_assert_str_eq(tier->options[i].key, want[i][0]);
        ck_assert_str_eq(tier->options[i].value, want[i][1]);
        ck_assert_str_eq(tp_conf_option_value(tier, want[i][0]), want[i][1]);
    }
    ck_assert_int_eq(tier->options[0].line, 5);
    ck_assert_int_eq(tier->options[0].column, 5);

    tp_conf_option_position(tier, "timeout_ms", &line, &column);
    ck_assert_int_eq(line, 9);
    ck_assert_int_eq(column, 5);
    tp_conf_option_position(tier, "hosts", &line, &column);
    ck_assert_int_eq(line, 6);
    tp_conf_option_position(tier, "not_there", &line, &column); /* the tier itself */
    ck_assert_int_eq(line, 4);
    ck_assert_int_eq(column, 5);
    ck_assert_ptr_null(tp_conf_option_value(tier, "plugin"));
    ck_assert_ptr_null(tp_conf_option_value(tier, "capacity"));
    tp_conf_free(conf);
}
END_TEST

/* ---- tier names ------------------------------------------------------ */

START_TEST(tier_names_default_from_the_plugin)
{
    struct tp_conf *conf = load_ok(HEAD "tiers:\n"
                                   "  - plugin: dram\n"
                                   "  - plugin: /opt/tierpage/lib/tierpage-redis.so\n"
                                   "  - plugin: ./libmystore.so\n"
                                   "  - plugin: plugins/custom\n"
                                   "  - plugin: dram\n"
                                   "    name: dram2\n"
                                   "  - plugin: /x/tierpage-pmem.so\n"
                                   "    name: cold\n");
    static const char *const want[] = {"dram", "redis", "libmystore", "custom", "dram2", "cold"};

    ck_assert_uint_eq(conf->tier_count, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(conf->tiers[i].name, want[i]);
    ck_assert_str_eq(conf->tiers[1].plugin, "/opt/tierpage/lib/tierpage-redis.so");
    tp_conf_free(conf);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

struct error_case {
    const char *yaml;
    const char *message;
    const char *key; /* err.key */
};

static const struct error_case error_cases[] = {
    /* empty */
    {"", "t.yaml:1:1: the stack file is empty, expected a mapping with name, resident and tiers", ""},
    {"# only a comment\n\n",
     "t.yaml:1:1: the stack file is empty, expected a mapping with name, resident and tiers", ""},
    {"---\n", "t.yaml:1:1: the stack file is empty, expected a mapping with name, resident and tiers", ""},

    /* the file as a whole */
    {"- a\n- b\n", "t.yaml:1:1: expected a mapping of stack keys (name, resident, tiers, ...), got a list", ""},
    {"hello\n", "t.yaml:1:1: expected a mapping of stack keys (name, resident, tiers, ...), got 'hello'", ""},
    {HEAD "tiers: [{plugin: dram}]\n---\nname: u\n",
     "t.yaml:4:1: expected one YAML document, got a second one", ""},
    {"? [a]\n: b\n", "t.yaml:1:3: expected a key such as name or tiers, got a list", ""},

    /* unknown and duplicate keys */
    {"name: t\nresident: 4MiB\nnaem: b\n",
     "t.yaml:3:1: naem: unknown key, expected one of name, namespace, resident, malloc_threshold, "
     "handler_threads, policy, store_timeout, prefetch, prefetch_window, prefetch_map_ahead, write_tracking, evictor_priority, allowed_uids, tiers", "naem"},
    {"name: t\nresident: 4MiB\nresident: 8MiB\n",
     "t.yaml:3:1: resident: duplicate key, first given at line 2, column 1", "resident"},
    {HEAD "tiers:\n  - plugin: dram\n    capacity: 1MiB\n    capacity: 2MiB\n",
     "t.yaml:6:5: tiers[0].capacity: duplicate key, first given at line 5, column 5",
     "tiers[0].capacity"},
    {HEAD "tiers:\n  - plugin: dram\n    plugin: pmem\n",
     "t.yaml:5:5: tiers[0].plugin: duplicate key, first given at line 4, column 5", "tiers[0].plugin"},
    {HEAD "tiers:\n  - plugin: redis\n    servers: a\n    servers: b\n",
     "t.yaml:6:5: tiers[0].servers: duplicate key, first given at line 5, column 5",
     "tiers[0].servers"},

    /* missing required keys point at the mapping */
    {"# a stack\nresident: 4MiB\ntiers: [{plugin: dram}]\n",
     "t.yaml:2:1: name: required key is missing, expected 1 to 64 characters from A-Z a-z 0-9 _ . -",
     "name"},
    {"name: t\ntiers: [{plugin: dram}]\n",
     "t.yaml:1:1: resident: required key is missing, expected a size such as 64MiB", "resident"},
    {HEAD "policy: fifo\n",
     "t.yaml:1:1: tiers: required key is missing, expected a list of 1 to 8 tiers", "tiers"},
    {HEAD "tiers:\n  - plugin: dram\n  - capacity: 1GiB\n    path: /x\n",
     "t.yaml:5:5: tiers[1].plugin: required key is missing, expected a plugin name (a-z 0-9 _ -) "
     "or a path containing '/'", "tiers[1].plugin"},

    /* wrong types */
    {"name: [a, b]\n",
     "t.yaml:1:7: name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -, got a list", "name"},
    {"name: t\nresident: {a: 1}\n",
     "t.yaml:2:11: resident: expected a size such as 64MiB, got a mapping", "resident"},
    {HEAD "tiers: dram\n", "t.yaml:3:8: tiers: expected a list of 1 to 8 tiers, got 'dram'", "tiers"},
    {HEAD "tiers:\n  plugin: dram\n",
     "t.yaml:4:3: tiers: expected a list of 1 to 8 tiers, got a mapping", "tiers"},
    {HEAD "tiers:\n  - dram\n",
     "t.yaml:4:5: tiers[0]: expected a mapping with plugin: and its options, got 'dram'", "tiers[0]"},
    {HEAD "tiers:\n  - plugin: [dram]\n",
     "t.yaml:4:13: tiers[0].plugin: expected a plugin name (a-z 0-9 _ -) or a path containing '/', "
     "got a list", "tiers[0].plugin"},
    {HEAD "tiers:\n  - plugin: redis\n    servers: {a: 1}\n",
     "t.yaml:5:14: tiers[0].servers: expected a value or a list of values, got a mapping",
     "tiers[0].servers"},
    {HEAD "tiers:\n  - plugin: redis\n    servers: [a, [b]]\n",
     "t.yaml:5:18: tiers[0].servers[1]: expected a value, got a list", "tiers[0].servers[1]"},
    {HEAD "tiers:\n  - plugin: redis\n    servers:\n      - a\n      - {b: 1}\n",
     "t.yaml:7:9: tiers[0].servers[1]: expected a value, got a mapping", "tiers[0].servers[1]"},

    /* sizes */
    {"name: t\nresident: lots\n",
     "t.yaml:2:11: resident: expected a size such as 64MiB, got 'lots'", "resident"},
    {"name: t\nresident:\n", "t.yaml:2:10: resident: expected a size such as 64MiB, got nothing",
     "resident"},
    {"name: t\nresident: -4096\n",
     "t.yaml:2:11: resident: expected a size such as 64MiB, got '-4096'", "resident"},
    {"name: t\nresident: 0\n",
     "t.yaml:2:11: resident: expected a size greater than 0, got '0'", "resident"},
    {"name: t\nresident: 10000\n",
     "t.yaml:2:11: resident: expected a multiple of 4KiB (4096 bytes), got '10000'", "resident"},
    {"name: t\nresident: 4MiB\nmalloc_threshold: 1.5MiB\n",
     "t.yaml:3:19: malloc_threshold: expected a size such as 64MiB, got '1.5MiB'", "malloc_threshold"},
    {HEAD "tiers:\n  - plugin: dram\n    capacity: 4PiB\n",
     "t.yaml:5:15: tiers[0].capacity: expected a size such as 64MiB, got '4PiB'", "tiers[0].capacity"},
    {HEAD "tiers:\n  - plugin: dram\n    capacity: 0MiB\n",
     "t.yaml:5:15: tiers[0].capacity: expected at least 4KiB, one page (leave capacity out for no "
     "limit), got '0MiB'", "tiers[0].capacity"},
    {HEAD "tiers:\n  - plugin: dram\n    capacity: 4095\n",
     "t.yaml:5:15: tiers[0].capacity: expected at least 4KiB, one page (leave capacity out for no "
     "limit), got '4095'", "tiers[0].capacity"},
    {HEAD "tiers:\n  - plugin: dram\n    capacity: 99999999999999999999\n",
     "t.yaml:5:15: tiers[0].capacity: expected a size such as 64MiB, got '99999999999999999999'",
     "tiers[0].capacity"},

    /* tiers count */
    {HEAD "tiers: []\n", "t.yaml:3:8: tiers: expected a list of 1 to 8 tiers, got an empty list", "tiers"},
    {HEAD "tiers:\n"
          "  - {plugin: a}\n  - {plugin: b}\n  - {plugin: c}\n"
          "  - {plugin: d}\n  - {plugin: e}\n  - {plugin: f}\n"
          "  - {plugin: g}\n  - {plugin: h}\n  - {plugin: i}\n",
     "t.yaml:12:5: tiers: expected at most 8 tiers, got 9", "tiers"},

    /* store timeout */
    {"name: t\nstore_timeout: 30sec\n",
     "t.yaml:2:16: store_timeout: expected a duration such as 30s or 500ms, at most 24h, got '30sec'", "store_timeout"},
    {"name: t\nstore_timeout: 1500us\n",
     "t.yaml:2:16: store_timeout: expected a duration such as 30s or 500ms, at most 24h, got '1500us'", "store_timeout"},
    {"name: t\nstore_timeout: 1.5s\n",
     "t.yaml:2:16: store_timeout: expected a duration such as 30s or 500ms, at most 24h, got '1.5s'", "store_timeout"},
    {"name: t\nstore_timeout: 25h\n",
     "t.yaml:2:16: store_timeout: expected a duration such as 30s or 500ms, at most 24h, got '25h'", "store_timeout"},
    {"name: t\nstore_timeout: [1s]\n",
     "t.yaml:2:16: store_timeout: expected a duration such as 30s or 500ms, at most 24h, got a list", "store_timeout"},

    /* namespace, policy and handler threads */
    {"name: t\nnamespace: shared\n",
     "t.yaml:2:12: namespace: expected per-instance or exclusive, got 'shared'", "namespace"},
    {"name: t\nnamespace: [exclusive]\n",
     "t.yaml:2:12: namespace: expected per-instance or exclusive, got a list", "namespace"},
    {"name: t\nnamespace: exclusive\nnamespace: per-instance\n",
     "t.yaml:3:1: namespace: duplicate key, first given at line 2, column 1", "namespace"},

    {"name: t\npolicy: lru\n", "t.yaml:2:9: policy: expected clock or fifo, got 'lru'", "policy"},
    {"name: t\npolicy: CLOCK\n", "t.yaml:2:9: policy: expected clock or fifo, got 'CLOCK'", "policy"},
    {"name: t\nprefetch: yes\n", "t.yaml:2:11: prefetch: expected on or off, got 'yes'", "prefetch"},
    {"name: t\nwrite_tracking: soft-dirty\n",
     "t.yaml:2:17: write_tracking: expected auto, kernel or faults, got 'soft-dirty'", "write_tracking"},
    {"name: t\nevictor_priority: idle\n",
     "t.yaml:2:19: evictor_priority: expected background or normal, got 'idle'", "evictor_priority"},
    {"name: t\nprefetch: [on]\n", "t.yaml:2:11: prefetch: expected on or off, got a list", "prefetch"},
    {"name: t\nprefetch_window: 0\n",
     "t.yaml:2:18: prefetch_window: expected a number of pages from 1 to 256, got '0'", "prefetch_window"},
    {"name: t\nprefetch_window: 257\n",
     "t.yaml:2:18: prefetch_window: expected a number of pages from 1 to 256, got '257'", "prefetch_window"},
    {"name: t\nprefetch_window: 64KiB\n",
     "t.yaml:2:18: prefetch_window: expected a number of pages from 1 to 256, got '64KiB'", "prefetch_window"},
    {"name: t\nprefetch_window: -4\n",
     "t.yaml:2:18: prefetch_window: expected a number of pages from 1 to 256, got '-4'", "prefetch_window"},
    {"name: t\nhandler_threads: 0\n",
     "t.yaml:2:18: handler_threads: expected auto or an integer from 1 to 64, got '0'", "handler_threads"},
    {"name: t\nhandler_threads: 65\n",
     "t.yaml:2:18: handler_threads: expected auto or an integer from 1 to 64, got '65'", "handler_threads"},
    {"name: t\nhandler_threads: -1\n",
     "t.yaml:2:18: handler_threads: expected auto or an integer from 1 to 64, got '-1'", "handler_threads"},
    {"name: t\nhandler_threads: two\n",
     "t.yaml:2:18: handler_threads: expected auto or an integer from 1 to 64, got 'two'", "handler_threads"},
    {"name: t\nhandler_threads: 99999999999\n",
     "t.yaml:2:18: handler_threads: expected auto or an integer from 1 to 64, got '99999999999'",
     "handler_threads"},

    /* names */
    {"name: web 1\n",
     "t.yaml:1:7: name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -, got 'web 1'", "name"},
    {"name: ''\n", "t.yaml:1:7: name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -, got ''",
     "name"},
    {"name: \"a\\0b\"\n",
     "t.yaml:1:7: name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -, got text with a NUL "
     "character", "name"},
    {"name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", /* 65 */
     "t.yaml:1:7: name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -, got "
     "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'", "name"},
    {HEAD "tiers:\n  - plugin: Dram\n",
     "t.yaml:4:13: tiers[0].plugin: expected a plugin name (a-z 0-9 _ -) or a path containing '/', "
     "got 'Dram'", "tiers[0].plugin"},
    {HEAD "tiers:\n  - plugin: dram\n    name: 'fast tier'\n",
     "t.yaml:5:11: tiers[0].name: expected 1 to 63 characters from A-Z a-z 0-9 _ . -, got 'fast tier'",
     "tiers[0].name"},
    {HEAD "tiers:\n  - plugin: dram\n  - plugin: pmem\n  - plugin: dram\n",
     "t.yaml:6:13: tiers[2].name: expected a tier name not used by tiers[0] (add or change name:), "
     "got 'dram'", "tiers[2].name"},
    {HEAD "tiers:\n  - plugin: dram\n    name: fast\n  - plugin: pmem\n    name: fast\n",
     "t.yaml:7:11: tiers[1].name: expected a tier name not used by tiers[0] (add or change name:), "
     "got 'fast'", "tiers[1].name"},
    {HEAD "tiers:\n  - plugin: redis\n  - plugin: /usr/lib/tierpage/tierpage-redis.so\n",
     "t.yaml:5:13: tiers[1].name: expected a tier name not used by tiers[0] (add or change name:), "
     "got 'redis'", "tiers[1].name"},
    {HEAD "tiers:\n  - plugin: /opt/stores/\n",
     "t.yaml:4:13: tiers[0].name: required key is missing, no tier name can be made from "
     "'/opt/stores/'", "tiers[0].name"},

    /* YAML itself */
    {"name: t\n  resident: 4MiB\n",
     "t.yaml:2:11: YAML syntax error: mapping values are not allowed in this context", ""},
    {"name: t\nresident: [4MiB\n",
     "t.yaml:3:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
     "sequence at line 2, column 11)", ""},
    {"name: t\n\tresident: 4MiB\n",
     "t.yaml:2:1: YAML syntax error: found a tab character that violates indentation (while "
     "scanning a plain scalar at line 1, column 7)", ""},
    {"name: *nothing\n", "t.yaml:1:7: YAML syntax error: found undefined alias", ""},
    {"name: t\nresident: \xff\n",
     "t.yaml:2:11: not readable as YAML text: invalid leading UTF-8 octet (#FF)", ""},
};

START_TEST(every_mistake_is_located)
{
    const struct error_case *c = &error_cases[_i];
    tierpage_error err;
    const char *message = load_fail(c->yaml, &err);

    ck_assert_msg(strcmp(message, c->message) == 0, "case %d:\n  want %s\n  got  %s", _i,
                  c->message, message);
    ck_assert_str_eq(err.key, c->key);
}
END_TEST

START_TEST(long_values_are_shortened_in_messages)
{
    char yaml[2048], value[1001];
    tierpage_error err;
    const char *message;

    memset(value, 'x', 1000);
    value[1000] = '\0';
    snprintf(yaml, sizeof yaml, "name: t\nresident: %s\n", value);
    message = load_fail(yaml, &err);
    ck_assert_str_eq(message, "t.yaml:2:11: resident: expected a size such as 64MiB, got "
                              "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");

    snprintf(yaml, sizeof yaml, "name: t\n%s: 1\n", value); /* a long unknown key */
    message = load_fail(yaml, &err);
    {
        static const char want[] = "t.yaml:2:1: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: unknown key";
        ck_assert_msg(strncmp(message, want, strlen(want)) == 0, "%s", message);
    }
}
END_TEST

START_TEST(a_source_name_is_optional)
{
    tierpage_error err = {0};
    struct tp_conf *conf = NULL;
    const char yaml[] = "name: t\n";

    ck_assert_int_eq(tp_conf_load_string(yaml, strlen(yaml), NULL, &conf, &err), -1);
    ck_assert_str_eq(err.message, "<string>:1:1: resident: required key is missing, expected a "
                                  "size such as 64MiB");
    ck_assert_ptr_null(conf);
}
END_TEST

START_TEST(only_len_bytes_are_read)
{
    const char yaml[] = HEAD "tiers: [{plugin: dram}]\nbogus: 1\n";
    size_t len = strlen(HEAD "tiers: [{plugin: dram}]\n");
    struct tp_conf *conf = NULL;
    tierpage_error err = {0};

    ck_assert_int_eq(tp_conf_load_string(yaml, len, "t.yaml", &conf, &err), 0);
    ck_assert_uint_eq(conf->tier_count, 1);
    tp_conf_free(conf);
}
END_TEST

/* ---- files ----------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(file_errors)
{
    char dir[] = "/tmp/tierpage-test-conf-XXXXXX";
    char path[256], expected[512];
    struct tp_conf *conf = sentinel;
    tierpage_error err = {0};

    ck_assert_ptr_nonnull(mkdtemp(dir));

    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    ck_assert_int_eq(tp_conf_load_file(path, &conf, &err), -1);
    snprintf(expected, sizeof expected, "%s: cannot read: No such file or directory", path);
    ck_assert_str_eq(err.message, expected);

    ck_assert_int_eq(tp_conf_load_file(dir, &conf, &err), -1);
    snprintf(expected, sizeof expected, "%s: cannot read: Is a directory", dir);
    ck_assert_str_eq(err.message, expected);

    snprintf(path, sizeof path, "%s/empty.yaml", dir);
    write_file(path, "");
    ck_assert_int_eq(tp_conf_load_file(path, &conf, &err), -1);
    snprintf(expected, sizeof expected,
             "%s:1:1: the stack file is empty, expected a mapping with name, resident and tiers", path);
    ck_assert_str_eq(err.message, expected);
    unlink(path);

    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    write_file(path, "name: t\nresident: 4MiB\ntiers:\n  - plugin: dram\n    capacity: big\n");
    ck_assert_int_eq(tp_conf_load_file(path, &conf, &err), -1);
    snprintf(expected, sizeof expected,
             "%s:5:15: tiers[0].capacity: expected a size such as 64MiB, got 'big'", path);
    ck_assert_str_eq(err.message, expected);
    ck_assert_ptr_eq(conf, sentinel);

    /* A file larger than libyaml's input buffer still parses whole. */
    {
        size_t cap = 64 * 1024, len = 0;
        char *big = malloc(cap);
        ck_assert_ptr_nonnull(big);
        len += (size_t)snprintf(big, cap, "name: big\nresident: 4MiB\n");
        while (len < cap - 200)
            len += (size_t)snprintf(big + len, cap - len, "# padding padding padding\n");
        snprintf(big + len, cap - len, "tiers:\n  - plugin: dram\n    capacity: 3MiB\n");
        write_file(path, big);
        free(big);
    }
    conf = NULL;
    ck_assert_msg(tp_conf_load_file(path, &conf, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(conf->tiers[0].capacity, 3 * MiB);
    tp_conf_free(conf);
    unlink(path);

    ck_assert_int_eq(rmdir(dir), 0);
    tp_conf_free(NULL);
}
END_TEST

/* ---- sizes ----------------------------------------------------------- */

static const struct {
    const char *text;
    uint64_t bytes;
} good_sizes[] = {
    {"0", 0},
    {"4096", 4096},
    {"4096B", 4096},
    {"1K", KiB},
    {"1KB", KiB},
    {"1KiB", KiB},
    {"64MiB", 64 * MiB},
    {"64 MiB", 64 * MiB},
    {"64\tMB", 64 * MiB},
    {"64M", 64 * MiB},
    {"3GiB", 3 * GiB},
    {"3G", 3 * GiB},
    {"3GB", 3 * GiB},
    {"2TiB", 2 * TiB},
    {"2T", 2 * TiB},
    {"2TB", 2 * TiB},
    {"007KiB", 7 * KiB},
    {"16777215TiB", UINT64_C(16777215) * TiB},
    {"18446744073709551615", UINT64_MAX},
    {"18446744073709551615B", UINT64_MAX},
};

static const char *const bad_sizes[] = {
    "",        " 1MiB", "MiB",  "-1",     "+1",    "1.5GiB", "1,5GiB", "1MiB ", "1 MiB B",
    "1mib",    "1kb",   "1k",   "1PiB",   "1EiB",  "1iB",    "1Mi",    "0x10",  "1e6",
    "16777216TiB",  "18446744073709551616", "99999999999999999999999", "18014398509481984KiB",
};

START_TEST(sizes_parse)
{
    uint64_t bytes = 12345;
    ck_assert_msg(tp_parse_size(good_sizes[_i].text, &bytes) == 0, "'%s'", good_sizes[_i].text);
    ck_assert_uint_eq(bytes, good_sizes[_i].bytes);
}
END_TEST

START_TEST(bad_sizes_are_rejected)
{
    uint64_t bytes = 12345;
    ck_assert_msg(tp_parse_size(bad_sizes[_i], &bytes) == -1, "'%s' was accepted", bad_sizes[_i]);
    ck_assert_uint_eq(bytes, 12345);
}
END_TEST

static const struct {
    uint64_t bytes;
    const char *text;
} formatted_sizes[] = {
    {0, "0B"},
    {1, "1B"},
    {4096, "4KiB"},
    {1536, "1536B"},
    {12345, "12.1KiB"},
    {64 * MiB, "64MiB"},
    {1025 * KiB, "1025KiB"},
    {4 * GiB, "4GiB"},
    {3 * TiB, "3TiB"},
    {20000 * TiB, "20000TiB"},
    {123456789, "117.7MiB"},
    {UINT64_MAX, "16777216.0TiB"},
};

START_TEST(sizes_format)
{
    char buf[32];
    uint64_t back;

    tp_format_size(formatted_sizes[_i].bytes, buf, sizeof buf);
    ck_assert_str_eq(buf, formatted_sizes[_i].text);
    if (!strchr(buf, '.')) { /* exact forms read back to the same size */
        ck_assert_int_eq(tp_parse_size(buf, &back), 0);
        ck_assert_uint_eq(back, formatted_sizes[_i].bytes);
    }
}
END_TEST

START_TEST(format_size_respects_the_buffer)
{
    char buf[4] = "zzz";
    tp_format_size(64 * MiB, buf, sizeof buf);
    ck_assert_str_eq(buf, "64M");
    tp_format_size(64 * MiB, buf, 0); /* writes nothing */
    ck_assert_str_eq(buf, "64M");
}
END_TEST

/* ---- durations and integers: one reading for stack keys and store
 * options (the host services use the same functions) ------------------ */

static const struct {
    const char *text;
    uint64_t us;
} good_durations[] = {
    {"0", 0},
    {"1500", 1500000}, /* a bare number is milliseconds, as store options always read it */
    {"1500ms", 1500000},
    {"1500 ms", 1500000},
    {"250us", 250},
    {"2s", 2000000},
    {"2\ts", 2000000},
    {"3min", 180000000},
    {"24h", UINT64_C(86400000000)},
    {"0h", 0},
    {"18446744073709551615us", UINT64_MAX},
};

static const char *const bad_durations[] = {
    "", " 1s", "s", "-1s", "+1s", "1.5s", "1,5s", "1s ", "1 s s", "1S", "1sec", "1m", "1d",
    "0x10", "1e3", "18446744073709551616us", "18446744073709551615ms", "5124095576030432h",
};

START_TEST(durations_parse)
{
    uint64_t us = 12345;
    ck_assert_msg(tp_parse_duration_us(good_durations[_i].text, &us) == 0, "'%s'", good_durations[_i].text);
    ck_assert_uint_eq(us, good_durations[_i].us);
    uint64_t ms = 12345;
    int whole = good_durations[_i].us % 1000 == 0;
    ck_assert_int_eq(tp_parse_duration_ms(good_durations[_i].text, &ms), whole ? 0 : -1);
    ck_assert_uint_eq(ms, whole ? good_durations[_i].us / 1000 : 12345);
}
END_TEST

START_TEST(bad_durations_are_rejected)
{
    uint64_t us = 12345;
    ck_assert_msg(tp_parse_duration_us(bad_durations[_i], &us) == -1, "'%s' was accepted", bad_durations[_i]);
    ck_assert_uint_eq(us, 12345);
}
END_TEST

START_TEST(durations_format)
{
    static const struct { uint64_t ms; const char *text; } cases[] = {
        {0, "0ms"}, {999, "999ms"}, {1000, "1s"}, {1500, "1500ms"}, {90000, "90s"},
        {120000, "2min"}, {3600000, "1h"}, {5400000, "90min"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        uint64_t back;
        tp_format_duration_ms(cases[i].ms, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].text);
        ck_assert_int_eq(tp_parse_duration_ms(buf, &back), 0);
        ck_assert_uint_eq(back, cases[i].ms);
    }
}
END_TEST

START_TEST(integers_are_digits_only)
{
    uint64_t n = 7;
    ck_assert_int_eq(tp_parse_uint("0", &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(tp_parse_uint("0064", &n), 0);
    ck_assert_uint_eq(n, 64);
    ck_assert_int_eq(tp_parse_uint("18446744073709551615", &n), 0);
    ck_assert_uint_eq(n, UINT64_MAX);
    static const char *const bad[] = {"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0", "1k",
                                      "18446744073709551616", NULL};
    for (size_t i = 0; bad[i]; i++)
        ck_assert_msg(tp_parse_uint(bad[i], &n) == -1, "'%s' was accepted", bad[i]);
    ck_assert_int_eq(tp_parse_uint(NULL, &n), -1);
    uint64_t v;
    const char *end = tp_read_uint("12ms", &v);
    ck_assert_ptr_nonnull(end);
    ck_assert_str_eq(end, "ms");
    ck_assert_uint_eq(v, 12);
    ck_assert_ptr_null(tp_read_uint("ms", &v));
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("examples");
    tcase_add_test(tc, every_example_parses);
    tcase_add_test(tc, local_example_is_the_default_stack);
    tcase_add_test(tc, small_example_is_tiny);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_test(tc, defaults_apply);
    tcase_add_test(tc, a_stack_named_by_its_file_may_leave_name_out);
    tcase_add_test(tc, every_key_is_read);
    tcase_add_test(tc, a_bare_duration_is_milliseconds);
    tcase_add_test(tc, flow_style_and_clock_policy);
    tcase_add_test(tc, eight_tiers_are_allowed);
    tcase_add_test(tc, options_pass_through_as_strings);
    tcase_add_test(tc, tier_names_default_from_the_plugin);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, every_mistake_is_located, 0,
                        (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, long_values_are_shortened_in_messages);
    tcase_add_test(tc, a_source_name_is_optional);
    tcase_add_test(tc, only_len_bytes_are_read);
    tcase_add_test(tc, file_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_add_loop_test(tc, sizes_parse, 0, (int)(sizeof good_sizes / sizeof good_sizes[0]));
    tcase_add_loop_test(tc, bad_sizes_are_rejected, 0, (int)(sizeof bad_sizes / sizeof bad_sizes[0]));
    tcase_add_loop_test(tc, sizes_format, 0,
                        (int)(sizeof formatted_sizes / sizeof formatted_sizes[0]));
    tcase_add_test(tc, format_size_respects_the_buffer);
    tcase_add_loop_test(tc, durations_parse, 0, (int)(sizeof good_durations / sizeof good_durations[0]));
    tcase_add_loop_test(tc, bad_durations_are_rejected, 0,
                        (int)(sizeof bad_durations / sizeof bad_durations[0]));
    tcase_add_test(tc, durations_format);
    tcase_add_test(tc, integers_are_digits_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(conf_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
