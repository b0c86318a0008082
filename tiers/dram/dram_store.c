/* dram: a page pool in local memory.
 *
 * The pool (dram_pool.h) holds capacity / page_size page slots and a table
 * of (key, seq) entries, one per slot: anonymous memory, or with `path`, a
 * file on tmpfs that outlives the process (LAYOUT.md). A chained hash
 * table in private memory maps keys to slots; free slots are linked
 * through the same slot_next array. Reopening a file rebuilds it from the
 * slot table.
 *
 * Write order, so that a process killed at any instruction leaves only
 * whole pages committed: a put writes the page, then (release) its slot's
 * seq, the commit point; an overwrite first sets seq to 0, so a torn page
 * is never committed (the caller still has the page: the core keeps it
 * resident until the put returns). A delete sets seq to 0 before the slot
 * can be taken again.
 *
 * Locking: one mutex guards the index, the free list, next_seq and the
 * counters. Page data and seq are written outside the lock: the ABI never
 * issues two calls for the same key at once, so a slot found under the
 * lock cannot be freed or reused while its page is being copied.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dram_pool.h"
#include "tierpage_store.h"
#include "key_hash.h"

#define DRAM_NONE UINT32_MAX

struct dram_store {
    pthread_mutex_t lock;
    size_t page_size;
    struct dram_pool pool;
    uint32_t bucket_mask;
    uint32_t *buckets;       /* bucket -> first slot, DRAM_NONE when empty */
    uint32_t *slot_next;     /* slot -> next slot in its bucket chain, or in the free list */
    uint32_t free_head;
    uint32_t used;
    uint64_t next_seq;       /* the seq of the next put */
};

static uint32_t hash_key(uint64_t key)
{
    return (uint32_t)tier_fmix64(key);
}

static unsigned char *slot_page(struct dram_store *s, uint32_t slot)
{
    return s->pool.pages + (size_t)slot * s->page_size;
}

static uint64_t slot_key(struct dram_store *s, uint32_t slot)
{
    return s->pool.entries[slot].key;
}

/* The commit point of a slot: seq != 0 says its page is whole. Release: the
 * page and key written before are in memory first. */
static void slot_commit(struct dram_store *s, uint32_t slot, uint64_t seq)
{
    __atomic_store_n(&s->pool.entries[slot].seq, seq, __ATOMIC_RELEASE);
}

/* Called with the lock held. */
static uint32_t index_find(struct dram_store *s, uint64_t key)
{
    uint32_t i = s->buckets[hash_key(key) & s->bucket_mask];
    while (i != DRAM_NONE && slot_key(s, i) != key)
        i = s->slot_next[i];
    return i;
}

static void index_link(struct dram_store *s, uint64_t key, uint32_t slot)
{
    uint32_t *head = &s->buckets[hash_key(key) & s->bucket_mask];
    s->slot_next[slot] = *head;
    *head = slot;
}

/* Finds the slot of `key`, or takes a free one and links it in (its seq
 * is 0: not committed). Returns DRAM_NONE when the key is new and no slot
 * is free. Lock held. */
static uint32_t index_find_or_add(struct dram_store *s, uint64_t key)
{
    uint32_t slot = index_find(s, key);
    if (slot != DRAM_NONE || s->free_head == DRAM_NONE)
        return slot;
    slot = s->free_head;
    s->free_head = s->slot_next[slot];
    s->pool.entries[slot].key = key;
    index_link(s, key, slot);
    s->used++;
    return slot;
}

/* Unlinks `key`, uncommits its slot and returns it to the free list.
 * Lock held. */
static int index_remove(struct dram_store *s, uint64_t key)
{
    uint32_t *link = &s->buckets[hash_key(key) & s->bucket_mask];
    while (*link != DRAM_NONE && slot_key(s, *link) != key)
        link = &s->slot_next[*link];
    if (*link == DRAM_NONE)
        return -ENOENT;
    uint32_t slot = *link;
    slot_commit(s, slot, 0);
    *link = s->slot_next[slot];
    s->slot_next[slot] = s->free_head;
    s->free_head = slot;
    s->used--;
    return 0;
}

/* Builds the index from the slot table: committed slots are linked under
 * their keys, the others are free. A key committed in two slots cannot
 * happen (an overwrite reuses its slot); the later seq is kept if it did.
 * Lock held, or the store not shared yet. */
static void index_rebuild(struct dram_store *s)
{
    memset(s->buckets, 0xff, ((size_t)s->bucket_mask + 1) * sizeof *s->buckets);
    s->free_head = DRAM_NONE;
    s->used = 0;
    s->next_seq = 1;
    for (uint32_t i = s->pool.slot_count; i-- > 0;) {
        struct dram_slot_entry *e = &s->pool.entries[i];
        uint32_t other = e->seq ? index_find(s, e->key) : DRAM_NONE;
        if (other != DRAM_NONE && s->pool.entries[other].seq > e->seq)
            e->seq = 0;
        else if (other != DRAM_NONE)
            index_remove(s, e->key);
        if (e->seq == 0) {
            s->slot_next[i] = s->free_head;
            s->free_head = i;
            continue;
        }
        if (e->seq >= s->next_seq)
            s->next_seq = e->seq + 1;
        index_link(s, e->key, i);
        s->used++;
    }
}

static void dram_close(void *store)
{
    struct dram_store *s = store;
    if (!s)
        return;
    dram_pool_close(&s->pool);
    free(s->slot_next);
    free(s->buckets);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The pool's file from the options, or NULL; the only option is path. */
static int parse_options(const tierpage_store_params *params, const char **path, tierpage_error *err)
{
    *path = NULL;
    for (size_t i = 0; i < params->option_count; i++) {
        const tierpage_store_option *o = &params->options[i];
        if (strcmp(o->key, "path") != 0)
            return tierpage_error_set(err, -EINVAL, o->key, "dram: unknown option '%s' (dram takes capacity and path)",
                                      o->key);
        if (!o->value || !o->value[0])
            return tierpage_error_set(err, -EINVAL, "path", "dram: path: expected a file name");
        *path = o->value;
    }
    return 0;
}

static int dram_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    const char *path;
    int rc = parse_options(params, &path, err);
    if (rc < 0)
        return rc;
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "dram: page size must be greater than 0");
    if (params->capacity == 0)
        return tierpage_error_set(err, -EINVAL, "capacity", "dram: capacity is required and must be greater than 0");
    uint64_t pages = params->capacity / params->page_size;
    if (pages == 0)
        return tierpage_error_set(err, -EINVAL, "capacity",
                                  "dram: capacity %" PRIu64 " bytes is less than one page of %zu bytes",
                                  params->capacity, params->page_size);
    if (pages > INT32_MAX || pages > SIZE_MAX / params->page_size / 2)
        return tierpage_error_set(err, -EINVAL, "capacity", "dram: capacity %" PRIu64 " bytes is too large",
                                  params->capacity);
    /* A process of the run other than the one the file is for (a forked
     * child, a program started with exec) keeps its pages apart, in
     * private memory: the file is the other process's. */
    if (params->forked_from)
        path = NULL;

    struct dram_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "dram: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->page_size = params->page_size;
    s->pool.fd = -1;

    uint64_t bucket_count = 1;
    while (bucket_count < pages)
        bucket_count <<= 1;
    s->bucket_mask = (uint32_t)(bucket_count - 1);
    s->buckets = malloc(bucket_count * sizeof *s->buckets);
    s->slot_next = malloc(pages * sizeof *s->slot_next);
    if (!s->buckets || !s->slot_next) {
        dram_close(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "dram: out of memory for the index of %" PRIu64 " pages",
                                  pages);
    }
    const char *ns = params->namespace_name ? params->namespace_name : "";
    rc = path ? dram_pool_open_file(&s->pool, path, ns, params->page_size, (uint32_t)pages, err)
              : dram_pool_map_anonymous(&s->pool, params->page_size, (uint32_t)pages, err);
    if (rc < 0) {
        dram_close(s);
        return rc;
    }
    index_rebuild(s);
    *store = s;
    return 0;
}

static int dram_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = index_find(s, key);
    pthread_mutex_unlock(&s->lock);
    if (slot == DRAM_NONE)
        return -ENOENT;
    memcpy(page, slot_page(s, slot), s->page_size);
    return 0;
}

/* Writes a page into its slot: uncommitted while it is copied, committed
 * with `seq` after. */
static void write_slot(struct dram_store *s, uint32_t slot, uint64_t seq, const void *page)
{
    slot_commit(s, slot, 0);
    memcpy(slot_page(s, slot), page, s->page_size);
    slot_commit(s, slot, seq);
}

static int dram_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = index_find_or_add(s, key);
    uint64_t seq = s->next_seq++;
    pthread_mutex_unlock(&s->lock);
    if (slot == DRAM_NONE)
        return -ENOSPC;
    write_slot(s, slot, seq, page);
    return 0;
}

static int dram_del(void *store, uint64_t key, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    int rc = index_remove(s, key);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int dram_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    usage->capacity_bytes = (uint64_t)s->pool.slot_count * s->page_size;
    usage->used_bytes = (uint64_t)s->used * s->page_size;
    usage->pages = s->used;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Drops every page: the core calls it right after open, so a reopened
 * file starts empty as anonymous memory does. */
static int dram_clear(void *store, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    if (s->used) {
        for (uint32_t i = 0; i < s->pool.slot_count; i++)
            slot_commit(s, i, 0);
        index_rebuild(s);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Every key held: what a reopened file holds, for a pager that recovers
 * its state. */
static int dram_list(void *store, int (*each)(void *ctx, uint64_t key), void *ctx, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    int rc = 0;
    for (uint32_t i = 0; i < s->pool.slot_count && rc == 0; i++)
        if (s->pool.entries[i].seq != 0)
            rc = each(ctx, s->pool.entries[i].key);
    return rc;
}

/* The file makes the instance neither private memory nor gone at close. */
static uint32_t dram_instance_flags(void *store)
{
    struct dram_store *s = store;
    uint32_t flags = TIERPAGE_STORE_LOCAL | TIERPAGE_STORE_FORK_APART;
    return s->pool.fd >= 0 ? flags | TIERPAGE_STORE_PERSISTENT : flags | TIERPAGE_STORE_FORK_PRIVATE;
}

/* In a forked child, on its copy of a file-backed instance: the file and
 * its lock stay the parent's. The mapping goes too: it holds the locked
 * open file as the descriptor does, and the child never uses the
 * instance again. */
static void dram_forget(void *store)
{
    struct dram_store *s = store;
    if (s->pool.fd >= 0)
        dram_pool_close(&s->pool);
}

/* The copy half of a batch, outside the lock: results[i] holds the slot
 * resolved for keys[i] or a negative errno; each becomes 0 once copied.
 * Copies out of the slots into `out`, or into them from `in` (one is NULL)
 * committing page i with first_seq + i. Returns the first error. */
static int copy_resolved_slots(struct dram_store *s, size_t count, int *results, void *const *out,
                               const void *const *in, uint64_t first_seq)
{
    int first = 0;
    for (size_t i = 0; i < count; i++) {
        if (results[i] < 0) {
            if (!first)
                first = results[i];
            continue;
        }
        uint32_t slot = (uint32_t)results[i];
        if (out)
            memcpy(out[i], slot_page(s, slot), s->page_size);
        else
            write_slot(s, slot, first_seq + i, in[i]);
        results[i] = 0;
    }
    return first;
}

/* Batches resolve every key under one lock acquisition, then copy. */
static int dram_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                          tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        uint32_t slot = index_find(s, keys[i]);
        results[i] = slot == DRAM_NONE ? -ENOENT : (int)slot;
    }
    pthread_mutex_unlock(&s->lock);
    return copy_resolved_slots(s, count, results, pages, NULL, 0);
}

static int dram_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages, int *results,
                          tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        uint32_t slot = index_find_or_add(s, keys[i]);
        results[i] = slot == DRAM_NONE ? -ENOSPC : (int)slot;
    }
    uint64_t first_seq = s->next_seq;
    s->next_seq += count;
    pthread_mutex_unlock(&s->lock);
    return copy_resolved_slots(s, count, results, NULL, pages, first_seq);
}

static const tierpage_store_ops dram_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "dram",
    .description = "page pool in local memory",
    /* An instance on a file is not FORK_PRIVATE: see dram_instance_flags. */
    .flags = TIERPAGE_STORE_LOCAL | TIERPAGE_STORE_FORK_PRIVATE | TIERPAGE_STORE_FORK_APART,
    .open = dram_open,
    .close = dram_close,
    .get = dram_get,
    .put = dram_put,
    .del = dram_del,
    .usage = dram_usage,
    .get_batch = dram_get_batch,
    .put_batch = dram_put_batch,
    .clear = dram_clear,
    .forget = dram_forget,
    .instance_flags = dram_instance_flags,
    .list = dram_list,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &dram_ops;
}
