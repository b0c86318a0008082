/* A stack recovered after its pager was killed: the keys a store holds
 * that the page map does not name in that tier are deleted. A kill between
 * a page's put into its new tier and the map naming it there, or between
 * the map moving it and the old copy's delete, leaves such a key behind;
 * in a store of fixed capacity (a dram pool, a pmem file) each one is a
 * slot lost for good, and repeated kills would shrink the tier. */
#include <errno.h>
#include <stdlib.h>

#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_private.h"

struct keys {
    uint64_t *v;
    size_t count, alloc;
};

static int collect(void *ctx, uint64_t key)
{
    struct keys *k = ctx;
    if (k->count == k->alloc) {
        size_t alloc = k->alloc ? k->alloc * 2 : 1024;
        uint64_t *grown = realloc(k->v, alloc * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        k->v = grown;
        k->alloc = alloc;
    }
    k->v[k->count++] = key;
    return 0;
}

/* Whether the page map names page `key` in tier t. Takes the stack lock. */
static int named_in(struct tp_stack *s, uint64_t key, size_t t)
{
    if (key >= TP_NIL)
        return 0;
    tp_lock_take(&s->lock);
    const struct tp_page *p = tp_page_find(&s->pages.map, (uint32_t)key);
    int named = p && p->tier == t;
    tp_lock_drop(&s->lock);
    return named;
}

long tp_private_stack_sweep_tier(tp_stack *s, size_t t, tierpage_error *err)
{
    struct keys k = {NULL, 0, 0};
    /* The keys first, then the deletes: a store lists under its own lock. */
    int rc = tp_private_stack_tier_list(s, t, collect, &k, err);
    if (rc == -ENOMEM)
        tierpage_error_set(err, rc, NULL, "out of memory listing tier '%s'", s->tiers[t].name);
    long deleted = 0;
    for (size_t i = 0; i < k.count && rc == 0; i++) {
        if (named_in(s, k.v[i], t))
            continue;
        rc = tp_tier_del(s, t, (uint32_t)k.v[i], err);
        deleted += rc == 0;
    }
    free(k.v);
    return rc < 0 ? rc : deleted;
}

long tp_private_stack_sweep(tp_stack *s, tierpage_error *err)
{
    long deleted = 0;
    for (size_t t = 0; t < s->tier_count; t++) {
        tierpage_error why = {{0}, {0}};
        long n = tp_private_stack_sweep_tier(s, t, &why);
        if (n == -ENOTSUP)
            continue; /* a store that cannot list: a remote one, whose stale copies are overwritten */
        if (n < 0)
            return tierpage_error_set(err, (int)n, NULL, "tier '%s': %s", s->tiers[t].name, why.message);
        deleted += n;
    }
    return deleted;
}
