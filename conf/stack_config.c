/* Stack files: YAML read with libyaml's document API, checked key by key into
 * a struct tp_conf. Every error names the file, the 1-based line and column
 * of the node at fault, and the key path ("tiers[1].capacity"). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "stack_config.h"
#include "tierpage_limits.h"
#include "units.h"

#define TP_CONF_NAME_MAX 64      /* `name:` of the stack */
#define TP_CONF_TIER_NAME_MAX 63 /* fits struct tp_tier_stats.name */
#define TP_CONF_FILE_MAX (16u << 20)
#define TP_CONF_SHOWN_MAX 40     /* how much of a bad value an error quotes */
#define TP_CONF_DEFAULT_MALLOC_THRESHOLD (1u << 20)
#define TP_CONF_PAGE_SIZE 4096
#define TP_CONF_DEFAULT_STORE_TIMEOUT_MS 30000u
#define TP_CONF_MAX_STORE_TIMEOUT_MS (24u * 3600u * 1000u)
#define TP_STRINGIFY_(x) #x
#define TP_STRINGIFY(x) TP_STRINGIFY_(x)

#define EXPECT_SIZE "expected a size such as 64MiB"
#define EXPECT_NAME "expected 1 to %d characters from A-Z a-z 0-9 _ . -"
#define EXPECT_PLUGIN "expected a plugin name (a-z 0-9 _ -) or a path containing '/'"
#define TOP_LEVEL_KEYS \
    "name, namespace, resident, malloc_threshold, handler_threads, policy, store_timeout, prefetch, prefetch_window, " \
    "prefetch_map_ahead, write_tracking, evictor_priority, allowed_uids, tiers"
#define TP_CONF_MAX_UIDS 64

struct loader {
    const char *source;
    const char *default_name; /* the stack's name when the file gives none, or NULL */
    yaml_document_t *doc;
    tierpage_error *err;
};

/* ---- errors ---------------------------------------------------------- */

static void report_at_position(const struct loader *ld, int line, int column, const char *key,
                               const char *fmt, ...)
{
    char *message;
    size_t size, n;
    va_list ap;

    if (!ld->err)
        return;
    message = ld->err->message;
    size = sizeof ld->err->message;
    if (key)
        n = (size_t)snprintf(message, size, "%s:%d:%d: %s: ", ld->source, line, column, key);
    else
        n = (size_t)snprintf(message, size, "%s:%d:%d: ", ld->source, line, column);
    if (n < size) {
        va_start(ap, fmt);
        vsnprintf(message + n, size - n, fmt, ap);
        va_end(ap);
    }
    snprintf(ld->err->key, sizeof ld->err->key, "%s", key ? key : "");
}

/* -1 as an expression rather than a variadic function's result, so that the
 * static analyzer, which does not follow calls into variadic functions, sees
 * that every failure returns it. */
#define fail_at_position(...) (report_at_position(__VA_ARGS__), -1)
#define report_at(ld, mark, key, ...) \
    report_at_position((ld), (int)(mark).line + 1, (int)(mark).column + 1, (key), __VA_ARGS__)
#define fail_at(...) (report_at(__VA_ARGS__), -1)

static int fail_no_memory(const struct loader *ld)
{
    if (ld->err)
        tierpage_error_set(ld->err, -1, NULL, "%s: out of memory", ld->source);
    return -1;
}

/* Text for "got ...": the value quoted (shortened, one line), or the kind of node. */
static const char *describe(const yaml_node_t *node, char *buf, size_t len)
{
    size_t n, cut;

    if (!node)
        return "nothing";
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a list";
    n = node->data.scalar.length;
    if (n == 0 && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return "nothing";

    cut = n;
    if (cut > TP_CONF_SHOWN_MAX) {
        cut = TP_CONF_SHOWN_MAX;
        while (cut > 0 && (node->data.scalar.value[cut] & 0xC0) == 0x80)
            cut--; /* never split a UTF-8 character */
    }
    snprintf(buf, len, "'%.*s%s'", (int)cut, (const char *)node->data.scalar.value,
             cut < n ? "..." : "");
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return buf;
}

/* A key as it may appear in a message: shortened, one line, "''" when empty. */
static const char *key_shown(const yaml_node_t *key, char *buf, size_t len)
{
    size_t n;

    if (describe(key, buf, len) != buf)
        return "''";
    n = strlen(buf); /* 'text' -> text */
    memmove(buf, buf + 1, n - 2);
    buf[n - 2] = '\0';
    return buf;
}

static int fail_expected(const struct loader *ld, const yaml_node_t *node, const char *key,
                         const char *expected)
{
    char shown[TP_CONF_SHOWN_MAX + 8];
    return fail_at(ld, node->start_mark, key, "%s, got %s", expected,
                   describe(node, shown, sizeof shown));
}

/* ---- nodes ----------------------------------------------------------- */

static yaml_node_t *node_at(const struct loader *ld, int index)
{
    return yaml_document_get_node(ld->doc, index);
}

static bool is_empty_plain(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0 &&
           node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* The scalar's text, or an error naming what was expected instead. */
static const char *scalar_text(const struct loader *ld, const yaml_node_t *node, const char *key,
                               const char *expected)
{
    if (node->type != YAML_SCALAR_NODE) {
        fail_expected(ld, node, key, expected);
        return NULL;
    }
    if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length) {
        report_at(ld, node->start_mark, key, "%s, got text with a NUL character", expected);
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

static int copy_text(const struct loader *ld, const char *text, char **out)
{
    *out = strdup(text);
    return *out ? 0 : fail_no_memory(ld);
}

/* The same key twice in one mapping: point at the second. */
static int check_duplicate(const struct loader *ld, const yaml_node_t *first,
                           const yaml_node_t *again, const char *key)
{
    if (!first)
        return 0;
    return fail_at(ld, again->start_mark, key, "duplicate key, first given at line %d, column %d",
                   (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
}

static bool is_name(const char *text, size_t max, const char *allowed_punct, bool upper_ok)
{
    size_t n = strlen(text);

    if (n == 0 || n > max)
        return false;
    for (const char *p = text; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                  (upper_ok && *p >= 'A' && *p <= 'Z') || strchr(allowed_punct, *p);
        if (!ok)
            return false;
    }
    return true;
}

static bool is_stack_or_tier_name(const char *text, size_t max)
{
    return is_name(text, max, "_.-", true);
}

/* ---- values ---------------------------------------------------------- */

static int read_size(const struct loader *ld, const yaml_node_t *node, const char *key,
                     uint64_t *bytes)
{
    const char *text = scalar_text(ld, node, key, EXPECT_SIZE);
    if (!text)
        return -1;
    if (tp_parse_size(text, bytes) != 0)
        return fail_expected(ld, node, key, EXPECT_SIZE);
    return 0;
}

static int read_name(const struct loader *ld, const yaml_node_t *node, const char *key,
                     size_t max, char **out)
{
    char expected[80];
    const char *text;

    snprintf(expected, sizeof expected, EXPECT_NAME, (int)max);
    text = scalar_text(ld, node, key, expected);
    if (!text)
        return -1;
    if (!is_stack_or_tier_name(text, max))
        return fail_expected(ld, node, key, expected);
    return copy_text(ld, text, out);
}

static int read_resident(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    if (read_size(ld, node, "resident", &conf->resident) != 0)
        return -1;
    if (conf->resident == 0)
        return fail_expected(ld, node, "resident", "expected a size greater than 0");
    if (conf->resident % TP_CONF_PAGE_SIZE != 0)
        return fail_expected(ld, node, "resident", "expected a multiple of 4KiB (4096 bytes)");
    return 0;
}

static int read_handler_threads(const struct loader *ld, const yaml_node_t *node,
                                struct tp_conf *conf)
{
    static const char expected[] = "expected auto or an integer from 1 to " TP_STRINGIFY(TP_MAX_HANDLER_THREADS);
    const char *text = scalar_text(ld, node, "handler_threads", expected);
    uint64_t value;

    if (!text)
        return -1;
    if (strcmp(text, "auto") == 0) {
        conf->handler_threads = TP_HANDLERS_AUTO;
        return 0;
    }
    if (tp_parse_uint(text, &value) != 0 || value < 1 || value > TP_MAX_HANDLER_THREADS)
        return fail_expected(ld, node, "handler_threads", expected);
    conf->handler_threads = (unsigned)value;
    return 0;
}

static int read_store_timeout(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const char expected[] = "expected a duration such as 30s or 500ms, at most 24h";
    const char *text = scalar_text(ld, node, "store_timeout", expected);
    uint64_t ms;

    if (!text)
        return -1;
    if (tp_parse_duration_ms(text, &ms) != 0 || ms > TP_CONF_MAX_STORE_TIMEOUT_MS)
        return fail_expected(ld, node, "store_timeout", expected);
    conf->store_timeout_ms = ms;
    return 0;
}

/* A key whose value is one of a few names; each name's value is >= 0. */
struct choice {
    const char *name;
    int value;
};

/* The value of the name `node` holds, or -1 (reported) when it holds none
 * of them; `expected` lists the names for the message. */
static int read_choice(const struct loader *ld, const yaml_node_t *node, const char *key, const char *expected,
                       const struct choice *choices, size_t count)
{
    const char *text = scalar_text(ld, node, key, expected);

    if (!text)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (strcmp(text, choices[i].name) == 0)
            return choices[i].value;
    return fail_expected(ld, node, key, expected);
}

#define READ_CHOICE(ld, node, key, expected, choices) \
    read_choice(ld, node, key, expected, choices, sizeof choices / sizeof choices[0])

static int read_on_off(const struct loader *ld, const yaml_node_t *node, const char *key, int *out)
{
    static const struct choice on_off[] = {{"on", 1}, {"off", 0}};
    int value = READ_CHOICE(ld, node, key, "expected on or off", on_off);
    if (value < 0)
        return -1;
    *out = value;
    return 0;
}

static int read_policy(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const struct choice policies[] = {{"clock", TP_POLICY_CLOCK}, {"fifo", TP_POLICY_FIFO}};
    int value = READ_CHOICE(ld, node, "policy", "expected clock or fifo", policies);
    if (value < 0)
        return -1;
    conf->policy = (enum tp_eviction_policy)value;
    return 0;
}

static int read_write_tracking(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const struct choice trackings[] = {
        {"auto", TP_WRITES_AUTO}, {"kernel", TP_WRITES_KERNEL}, {"faults", TP_WRITES_FAULTS}};
    int value = READ_CHOICE(ld, node, "write_tracking", "expected auto, kernel or faults", trackings);
    if (value < 0)
        return -1;
    conf->write_tracking = (enum tp_write_tracking)value;
    return 0;
}

static int read_evictor_priority(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const struct choice priorities[] = {{"background", TP_EVICTOR_BACKGROUND}, {"normal", TP_EVICTOR_NORMAL}};
    int value = READ_CHOICE(ld, node, "evictor_priority", "expected background or normal", priorities);
    if (value < 0)
        return -1;
    conf->evictor_priority = (enum tp_evictor_priority)value;
    return 0;
}

static int read_prefetch_window(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const char expected[] = "expected a number of pages from 1 to " TP_STRINGIFY(TP_CONF_MAX_PREFETCH_WINDOW);
    const char *text = scalar_text(ld, node, "prefetch_window", expected);
    uint64_t value;

    if (!text)
        return -1;
    if (tp_parse_uint(text, &value) != 0 || value < 1 || value > TP_CONF_MAX_PREFETCH_WINDOW)
        return fail_expected(ld, node, "prefetch_window", expected);
    conf->prefetch_window = (unsigned)value;
    return 0;
}

static int read_namespace(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const char expected[] = "expected per-instance or exclusive";
    const char *text = scalar_text(ld, node, "namespace", expected);

    if (!text)
        return -1;
    if (strcmp(text, "per-instance") == 0)
        conf->exclusive_namespace = 0;
    else if (strcmp(text, "exclusive") == 0)
        conf->exclusive_namespace = 1;
    else
        return fail_expected(ld, node, "namespace", expected);
    return 0;
}

/* `allowed_uids: [1000, 1001]`: who may attach under tierpaged. */
static int read_allowed_uids(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const char expected[] = "expected a list of numeric user ids such as [1000, 1001]";
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_expected(ld, node, "allowed_uids", expected);
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count == 0 || count > TP_CONF_MAX_UIDS)
        return fail_at(ld, node->start_mark, "allowed_uids", "expected 1 to %d user ids, got %zu",
                       TP_CONF_MAX_UIDS, count);
    conf->allowed_uids = calloc(count, sizeof *conf->allowed_uids);
    if (!conf->allowed_uids)
        return fail_no_memory(ld);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(ld, node->data.sequence.items.start[i]);
        const char *text = scalar_text(ld, item, "allowed_uids", expected);
        if (!text)
            return -1;
        uint64_t uid;
        if (tp_parse_uint(text, &uid) < 0 || uid >= UINT32_MAX)
            return fail_expected(ld, item, "allowed_uids", expected);
        conf->allowed_uids[i] = (uint32_t)uid;
        conf->allowed_uid_count = i + 1;
    }
    return 0;
}

/* ---- tiers ----------------------------------------------------------- */

/* "/usr/lib/tierpage/tierpage-redis.so" -> "redis"; NULL when nothing usable remains. */
static char *name_from_plugin_path(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t n;
    char *name;

    base = base ? base + 1 : path;
    if (strncmp(base, "tierpage-", 9) == 0)
        base += 9;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    name = strndup(base, n);
    return name;
}

/* An option's value: a scalar as written, or a list of scalars joined by ','. */
static int read_option_value(const struct loader *ld, const yaml_node_t *node, const char *key,
                             char **out)
{
    static const char expected[] = "expected a value or a list of values";
    const char *text;
    size_t len = 0, used = 0;
    char *joined;

    if (node->type == YAML_MAPPING_NODE)
        return fail_expected(ld, node, key, expected);
    if (node->type == YAML_SCALAR_NODE) {
        text = scalar_text(ld, node, key, expected);
        return text ? copy_text(ld, text, out) : -1;
    }

    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        const yaml_node_t *item = node_at(ld, *it);
        char item_key[200];

        snprintf(item_key, sizeof item_key, "%s[%d]", key,
                 (int)(it - node->data.sequence.items.start));
        if (!scalar_text(ld, item, item_key, "expected a value"))
            return -1;
        len += item->data.scalar.length + 1;
    }
    joined = malloc(len + 1);
    if (!joined)
        return fail_no_memory(ld);
    joined[0] = '\0';
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        const yaml_node_t *item = node_at(ld, *it);
        if (used)
            joined[used++] = ',';
        memcpy(joined + used, item->data.scalar.value, item->data.scalar.length);
        used += item->data.scalar.length;
        joined[used] = '\0';
    }
    *out = joined;
    return 0;
}

static int read_plugin(const struct loader *ld, const yaml_node_t *node, const char *key,
                       struct tp_conf_tier *tier)
{
    const char *text = scalar_text(ld, node, key, EXPECT_PLUGIN);

    if (!text)
        return -1;
    if (!strchr(text, '/') && !is_name(text, TP_CONF_NAME_MAX, "_-", false))
        return fail_expected(ld, node, key, EXPECT_PLUGIN);
    tier->plugin_line = (int)node->start_mark.line + 1;
    tier->plugin_column = (int)node->start_mark.column + 1;
    return copy_text(ld, text, &tier->plugin);
}

static int read_tier(const struct loader *ld, const yaml_node_t *map, int index,
                     struct tp_conf *conf)
{
    struct tp_conf_tier *tier = &conf->tiers[index];
    const yaml_node_t *plugin_key = NULL, *name_key = NULL, *capacity_key = NULL, *queue_key = NULL;
    const yaml_node_t *plugin_value = NULL, *name_value = NULL;
    char path[64], key[160];
    size_t pairs;

    snprintf(path, sizeof path, "tiers[%d]", index);
    if (map->type != YAML_MAPPING_NODE)
        return fail_expected(ld, map, path, "expected a mapping with plugin: and its options");
    tier->line = (int)map->start_mark.line + 1;
    tier->column = (int)map->start_mark.column + 1;

    pairs = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (pairs) {
        tier->options = calloc(pairs, sizeof *tier->options);
        if (!tier->options)
            return fail_no_memory(ld);
    }

    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const yaml_node_t *k = node_at(ld, pair->key), *v = node_at(ld, pair->value);
        char shown[TP_CONF_SHOWN_MAX + 8];
        const char *name = scalar_text(ld, k, path, "expected a key");

        if (!name)
            return -1;
        snprintf(key, sizeof key, "%s.%s", path, key_shown(k, shown, sizeof shown));

        if (strcmp(name, "plugin") == 0) {
            if (check_duplicate(ld, plugin_key, k, key) || read_plugin(ld, v, key, tier))
                return -1;
            plugin_key = k;
            plugin_value = v;
        } else if (strcmp(name, "name") == 0) {
            if (check_duplicate(ld, name_key, k, key) ||
                read_name(ld, v, key, TP_CONF_TIER_NAME_MAX, &tier->name))
                return -1;
            name_key = k;
            name_value = v;
        } else if (strcmp(name, "capacity") == 0) {
            if (check_duplicate(ld, capacity_key, k, key) ||
                read_size(ld, v, key, &tier->capacity))
                return -1;
            if (tier->capacity < TP_CONF_PAGE_SIZE)
                return fail_expected(ld, v, key, "expected at least 4KiB, one page (leave "
                                                 "capacity out for no limit)");
            capacity_key = k;
        } else if (strcmp(name, "writeback_queue") == 0) {
            if (check_duplicate(ld, queue_key, k, key) || read_size(ld, v, key, &tier->writeback_queue))
                return -1;
            if (tier->writeback_queue != 0 && tier->writeback_queue < TP_CONF_PAGE_SIZE)
                return fail_expected(ld, v, key, "expected 0 (no queue) or at least 4KiB, one page");
            queue_key = k;
        } else {
            struct tp_conf_option *opt = &tier->options[tier->option_count];
            for (size_t i = 0; i < tier->option_count; i++)
                if (strcmp(tier->options[i].key, name) == 0)
                    return fail_at(ld, k->start_mark, key,
                                   "duplicate key, first given at line %d, column %d",
                                   tier->options[i].line, tier->options[i].column);
            if (read_option_value(ld, v, key, &opt->value) != 0)
                return -1;
            if (copy_text(ld, name, &opt->key) != 0) {
                free(opt->value);
                opt->value = NULL;
                return -1;
            }
            opt->line = (int)k->start_mark.line + 1;
            opt->column = (int)k->start_mark.column + 1;
            tier->option_count++;
        }
    }

    snprintf(key, sizeof key, "%s.plugin", path);
    if (!plugin_key)
        return fail_at(ld, map->start_mark, key, "required key is missing, " EXPECT_PLUGIN);

    if (!tier->name) {
        if (!strchr(tier->plugin, '/')) {
            if (copy_text(ld, tier->plugin, &tier->name) != 0)
                return -1;
        } else {
            tier->name = name_from_plugin_path(tier->plugin);
            if (!tier->name)
                return fail_no_memory(ld);
            if (!is_stack_or_tier_name(tier->name, TP_CONF_TIER_NAME_MAX)) {
                char shown[TP_CONF_SHOWN_MAX + 8];
                snprintf(key, sizeof key, "%s.name", path);
                return fail_at(ld, plugin_value->start_mark, key,
                               "required key is missing, no tier name can be made from %s",
                               describe(plugin_value, shown, sizeof shown));
            }
        }
    }

    for (int i = 0; i < index; i++) {
        if (strcmp(conf->tiers[i].name, tier->name) == 0) {
            const yaml_node_t *at = name_value ? name_value : plugin_value;
            char expected[96];
            snprintf(key, sizeof key, "%s.name", path);
            snprintf(expected, sizeof expected,
                     "expected a tier name not used by tiers[%d] (add or change name:)", i);
            return fail_at(ld, at->start_mark, key, "%s, got '%s'", expected, tier->name);
        }
    }
    return 0;
}

static int read_tiers(const struct loader *ld, const yaml_node_t *node, struct tp_conf *conf)
{
    static const char expected[] = "expected a list of 1 to 8 tiers";
    size_t count;

    if (node->type != YAML_SEQUENCE_NODE)
        return fail_expected(ld, node, "tiers", expected);
    count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count == 0)
        return fail_at(ld, node->start_mark, "tiers", "%s, got an empty list", expected);
    if (count > TP_MAX_TIERS)
        return fail_at(ld, node_at(ld, node->data.sequence.items.start[TP_MAX_TIERS])->start_mark,
                       "tiers", "expected at most %d tiers, got %zu", TP_MAX_TIERS, count);

    conf->tiers = calloc(count, sizeof *conf->tiers);
    if (!conf->tiers)
        return fail_no_memory(ld);
    conf->tier_count = count;
    for (size_t i = 0; i < count; i++)
        conf->tiers[i].writeback_queue = TP_CONF_DEFAULT_QUEUE;
    for (size_t i = 0; i < count; i++)
        if (read_tier(ld, node_at(ld, node->data.sequence.items.start[i]), (int)i, conf) != 0)
            return -1;
    return 0;
}

/* ---- the stack ------------------------------------------------------- */

enum top_key { KEY_NAME, KEY_NAMESPACE, KEY_RESIDENT, KEY_MALLOC_THRESHOLD, KEY_HANDLER_THREADS, KEY_POLICY,
               KEY_STORE_TIMEOUT, KEY_PREFETCH, KEY_PREFETCH_WINDOW, KEY_PREFETCH_MAP_AHEAD, KEY_WRITE_TRACKING, KEY_EVICTOR_PRIORITY, KEY_ALLOWED_UIDS, KEY_TIERS,
               KEY_COUNT };

static const char *const top_key_names[KEY_COUNT] = {
    "name", "namespace", "resident", "malloc_threshold", "handler_threads", "policy", "store_timeout", "prefetch",
    "prefetch_window", "prefetch_map_ahead", "write_tracking", "evictor_priority", "allowed_uids", "tiers",
};

static int read_top_value(const struct loader *ld, enum top_key which, const yaml_node_t *v,
                          struct tp_conf *conf)
{
    switch (which) {
    case KEY_NAME: return read_name(ld, v, "name", TP_CONF_NAME_MAX, &conf->name);
    case KEY_NAMESPACE: return read_namespace(ld, v, conf);
    case KEY_RESIDENT: return read_resident(ld, v, conf);
    case KEY_MALLOC_THRESHOLD: return read_size(ld, v, "malloc_threshold", &conf->malloc_threshold);
    case KEY_HANDLER_THREADS: return read_handler_threads(ld, v, conf);
    case KEY_POLICY: return read_policy(ld, v, conf);
    case KEY_STORE_TIMEOUT: return read_store_timeout(ld, v, conf);
    case KEY_PREFETCH: return read_on_off(ld, v, "prefetch", &conf->prefetch);
    case KEY_PREFETCH_WINDOW: return read_prefetch_window(ld, v, conf);
    case KEY_PREFETCH_MAP_AHEAD: return read_on_off(ld, v, "prefetch_map_ahead", &conf->prefetch_map_ahead);
    case KEY_WRITE_TRACKING: return read_write_tracking(ld, v, conf);
    case KEY_EVICTOR_PRIORITY: return read_evictor_priority(ld, v, conf);
    case KEY_ALLOWED_UIDS: return read_allowed_uids(ld, v, conf);
    case KEY_TIERS: return read_tiers(ld, v, conf);
    case KEY_COUNT: break;
    }
    return -1;
}

static int read_stack(const struct loader *ld, const yaml_node_t *root, struct tp_conf *conf)
{
    const yaml_node_t *seen[KEY_COUNT] = {0};

    if (root->type != YAML_MAPPING_NODE)
        return fail_expected(ld, root, NULL,
                             "expected a mapping of stack keys (name, resident, tiers, ...)");

    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        const yaml_node_t *k = node_at(ld, pair->key), *v = node_at(ld, pair->value);
        char shown[TP_CONF_SHOWN_MAX + 8];
        const char *name;
        int which = 0;

        name = scalar_text(ld, k, NULL, "expected a key such as name or tiers");
        if (!name)
            return -1;
        while (which < KEY_COUNT && strcmp(name, top_key_names[which]) != 0)
            which++;
        if (which == KEY_COUNT)
            return fail_at(ld, k->start_mark, key_shown(k, shown, sizeof shown),
                           "unknown key, expected one of %s", TOP_LEVEL_KEYS);
        if (check_duplicate(ld, seen[which], k, top_key_names[which]) != 0)
            return -1;
        seen[which] = k;
        if (read_top_value(ld, (enum top_key)which, v, conf) != 0)
            return -1;
    }

    if (!seen[KEY_NAME] && ld->default_name && is_stack_or_tier_name(ld->default_name, TP_CONF_NAME_MAX)) {
        if (copy_text(ld, ld->default_name, &conf->name) != 0)
            return -1;
    } else if (!seen[KEY_NAME]) {
        return fail_at(ld, root->start_mark, "name", "required key is missing, " EXPECT_NAME,
                       TP_CONF_NAME_MAX);
    }
    if (!seen[KEY_RESIDENT])
        return fail_at(ld, root->start_mark, "resident", "required key is missing, %s",
                       EXPECT_SIZE);
    if (!seen[KEY_TIERS])
        return fail_at(ld, root->start_mark, "tiers",
                       "required key is missing, expected a list of 1 to 8 tiers");
    return 0;
}

/* ---- loading --------------------------------------------------------- */

/* libyaml's reader reports a byte offset, not a mark: count lines ourselves. */
static void position_of_offset(const char *text, size_t len, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int fail_yaml(const struct loader *ld, const yaml_parser_t *parser, const char *text,
                     size_t len)
{
    const char *problem = parser->problem ? parser->problem : "unknown problem";

    if (parser->error == YAML_MEMORY_ERROR)
        return fail_no_memory(ld);
    if (parser->error == YAML_READER_ERROR) {
        int line, col;
        position_of_offset(text, len, parser->problem_offset, &line, &col);
        if (parser->problem_value != -1)
            return fail_at_position(ld, line, col, NULL, "not readable as YAML text: %s (#%X)",
                                    problem, (unsigned)parser->problem_value);
        return fail_at_position(ld, line, col, NULL, "not readable as YAML text: %s", problem);
    }
    if (parser->context)
        return fail_at(ld, parser->problem_mark, NULL, "YAML syntax error: %s (%s at line %d, column %d)",
                       problem, parser->context, (int)parser->context_mark.line + 1,
                       (int)parser->context_mark.column + 1);
    return fail_at(ld, parser->problem_mark, NULL, "YAML syntax error: %s", problem);
}

int tp_conf_load_string(const char *yaml, size_t len, const char *source_name,
                        struct tp_conf **out, tierpage_error *err)
{
    return tp_conf_load_string_named(yaml, len, source_name, NULL, out, err);
}

int tp_conf_load_string_named(const char *yaml, size_t len, const char *source_name, const char *default_name,
                              struct tp_conf **out, tierpage_error *err)
{
    struct loader ld = {.source = source_name ? source_name : "<string>", .default_name = default_name, .err = err};
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    yaml_node_t *root;
    struct tp_conf *conf = NULL;
    int rc = -1;

    if (!yaml)
        return fail_at_position(&ld, 1, 1, NULL, "the stack file is empty");
    if (!yaml_parser_initialize(&parser))
        return fail_no_memory(&ld);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fail_yaml(&ld, &parser, yaml, len);
        yaml_parser_delete(&parser);
        return -1;
    }
    ld.doc = &doc;

    root = yaml_document_get_root_node(&doc);
    if (!root || is_empty_plain(root)) {
        report_at_position(&ld, 1, 1, NULL,
                           "the stack file is empty, expected a mapping with name, resident and tiers");
        goto done;
    }

    /* One stack per file: a second document is a mistake, not something to ignore. */
    if (!yaml_parser_load(&parser, &extra)) {
        fail_yaml(&ld, &parser, yaml, len);
        goto done;
    }
    if (yaml_document_get_root_node(&extra)) {
        report_at(&ld, extra.start_mark, NULL, "expected one YAML document, got a second one");
        yaml_document_delete(&extra);
        goto done;
    }
    yaml_document_delete(&extra);

    conf = calloc(1, sizeof *conf);
    if (!conf || !(conf->source = strdup(ld.source))) {
        fail_no_memory(&ld);
        goto done;
    }
    conf->malloc_threshold = TP_CONF_DEFAULT_MALLOC_THRESHOLD;
    conf->handler_threads = TP_HANDLERS_AUTO;
    conf->policy = TP_POLICY_CLOCK;
    conf->evictor_priority = TP_EVICTOR_BACKGROUND;
    conf->store_timeout_ms = TP_CONF_DEFAULT_STORE_TIMEOUT_MS;
    conf->prefetch = 1;
    conf->prefetch_window = TP_CONF_DEFAULT_PREFETCH_WINDOW;
    conf->prefetch_map_ahead = 1;
    if (read_stack(&ld, root, conf) != 0)
        goto done;

    *out = conf;
    conf = NULL;
    rc = 0;
done:
    tp_conf_free(conf);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int tp_conf_load_file(const char *path, struct tp_conf **out, tierpage_error *err)
{
    return tp_conf_load_file_named(path, NULL, out, err);
}

int tp_conf_load_file_named(const char *path, const char *default_name, struct tp_conf **out, tierpage_error *err)
{
    struct loader ld = {.source = path ? path : "<null>", .err = err};
    FILE *f;
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc, saved;

    if (!path) {
        tierpage_error_set(err, -1, NULL, "no stack file given");
        return -1;
    }
    f = fopen(path, "rb");
    if (!f) {
        tierpage_error_set(err, -1, NULL, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            char *grown;
            if (cap >= TP_CONF_FILE_MAX) {
                fclose(f);
                free(text);
                tierpage_error_set(err, -1, NULL, "%s: cannot read: larger than %u MiB", path,
                                   TP_CONF_FILE_MAX >> 20);
                return -1;
            }
            cap = cap ? cap * 2 : 4096;
            grown = realloc(text, cap);
            if (!grown) {
                fclose(f);
                free(text);
                return fail_no_memory(&ld);
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        saved = errno;
        fclose(f);
        free(text);
        tierpage_error_set(err, -1, NULL, "%s: cannot read: %s", path,
                           strerror(saved ? saved : EIO));
        return -1;
    }
    fclose(f);

    rc = tp_conf_load_string_named(text ? text : "", len, path, default_name, out, err);
    free(text);
    return rc;
}

void tp_conf_free(struct tp_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->tier_count; i++) {
        struct tp_conf_tier *tier = &conf->tiers[i];
        for (size_t j = 0; j < tier->option_count; j++) {
            free(tier->options[j].key);
            free(tier->options[j].value);
        }
        free(tier->options);
        free(tier->plugin);
        free(tier->name);
    }
    free(conf->tiers);
    free(conf->allowed_uids);
    free(conf->name);
    free(conf->source);
    free(conf);
}

void tp_conf_option_position(const struct tp_conf_tier *tier, const char *key, int *line,
                             int *column)
{
    for (size_t i = 0; key && i < tier->option_count; i++) {
        if (strcmp(tier->options[i].key, key) == 0) {
            *line = tier->options[i].line;
            *column = tier->options[i].column;
            return;
        }
    }
    *line = tier->line;
    *column = tier->column;
}

const char *tp_conf_option_value(const struct tp_conf_tier *tier, const char *key)
{
    for (size_t i = 0; i < tier->option_count; i++)
        if (strcmp(tier->options[i].key, key) == 0)
            return tier->options[i].value;
    return NULL;
}
