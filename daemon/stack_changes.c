#include "stack_changes.h"

#include <stdio.h>
#include <string.h>

struct changes {
    char *out;
    size_t len, used, count;
};

static void note(struct changes *c, const char *what)
{
    int n = snprintf(c->out + c->used, c->len - c->used, "%s%s", c->count ? ", " : "", what);
    if (n > 0 && c->used + (size_t)n < c->len)
        c->used += (size_t)n;
    c->count++;
}

static void note_tier(struct changes *c, size_t tier, const char *key)
{
    char what[160];
    snprintf(what, sizeof what, "tiers[%zu].%s", tier, key);
    note(c, what);
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Options of tier i that one side has and the other lacks or gives
 * another value. */
static void compare_options(struct changes *c, size_t i, const struct tp_conf_tier *a, const struct tp_conf_tier *b)
{
    for (size_t k = 0; k < a->option_count; k++)
        if (!same(a->options[k].value, tp_conf_option_value(b, a->options[k].key)))
            note_tier(c, i, a->options[k].key);
    for (size_t k = 0; k < b->option_count; k++)
        if (!tp_conf_option_value(a, b->options[k].key))
            note_tier(c, i, b->options[k].key);
}

size_t tpd_fixed_changes(const struct tp_conf *a, const struct tp_conf *b, char *out, size_t len)
{
    struct changes c = {out, len, 0, 0};
    out[0] = '\0';
    if (!same(a->name, b->name))
        note(&c, "name");
    if (a->exclusive_namespace != b->exclusive_namespace)
        note(&c, "namespace");
    if (a->malloc_threshold != b->malloc_threshold)
        note(&c, "malloc_threshold");
    if (a->handler_threads != b->handler_threads)
        note(&c, "handler_threads");
    if (a->policy != b->policy)
        note(&c, "policy");
    if (a->evictor_priority != b->evictor_priority)
        note(&c, "evictor_priority");
    if (a->store_timeout_ms != b->store_timeout_ms)
        note(&c, "store_timeout");
    if (a->prefetch != b->prefetch || a->prefetch_window != b->prefetch_window ||
        a->prefetch_map_ahead != b->prefetch_map_ahead)
        note(&c, "prefetch");
    if (a->tier_count != b->tier_count) {
        char what[64];
        snprintf(what, sizeof what, "tiers (%zu of them, then %zu)", a->tier_count, b->tier_count);
        note(&c, what);
    }
    for (size_t i = 0; i < a->tier_count && i < b->tier_count; i++) {
        const struct tp_conf_tier *x = &a->tiers[i], *y = &b->tiers[i];
        if (!same(x->plugin, y->plugin))
            note_tier(&c, i, "plugin");
        if (!same(x->name, y->name))
            note_tier(&c, i, "name");
        if (x->capacity != y->capacity)
            note_tier(&c, i, "capacity");
        if (x->writeback_queue != y->writeback_queue)
            note_tier(&c, i, "writeback_queue");
        compare_options(&c, i, x, y);
    }
    return c.count;
}
