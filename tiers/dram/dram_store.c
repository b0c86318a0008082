/* dram: a page pool in local memory.
 *
 * One anonymous mapping holds capacity / page_size page slots. A chained hash
 * table maps keys to slots; free slots are linked through the same
 * slot_next array. Per page the metadata is a key (8 bytes), a link
 * (4 bytes) and at most two bucket heads (8 bytes).
 *
 * Locking: one mutex guards the index, the free list and the counters. Page
 * data is copied outside the lock: the ABI never issues two calls for the
 * same key at once, so a slot found under the lock cannot be freed or reused
 * while its page is being copied.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tierpage_store.h"
#include "key_hash.h"

#define DRAM_NONE UINT32_MAX

struct dram_store {
    pthread_mutex_t lock;
    size_t page_size;
    uint32_t slot_count;
    uint32_t bucket_mask;
    uint32_t *buckets;       /* bucket -> first slot, DRAM_NONE when empty */
    uint64_t *slot_key;      /* slot -> key it holds */
    uint32_t *slot_next;     /* slot -> next slot in its bucket chain, or in the free list */
    uint32_t free_head;
    uint32_t used;
    unsigned char *pool;     /* slot_count * page_size bytes */
    size_t pool_bytes;
};

static uint32_t hash_key(uint64_t key)
{
    return (uint32_t)tier_fmix64(key);
}

static unsigned char *slot_page(struct dram_store *s, uint32_t slot)
{
    return s->pool + (size_t)slot * s->page_size;
}

/* Called with the lock held. */
static uint32_t index_find(struct dram_store *s, uint64_t key)
{
    uint32_t i = s->buckets[hash_key(key) & s->bucket_mask];
    while (i != DRAM_NONE && s->slot_key[i] != key)
        i = s->slot_next[i];
    return i;
}

/* Finds the slot of `key`, or takes a free one and links it in. Returns
 * DRAM_NONE when the key is new and no slot is free. Lock held. */
static uint32_t index_find_or_add(struct dram_store *s, uint64_t key)
{
    uint32_t slot = index_find(s, key);
    if (slot != DRAM_NONE || s->free_head == DRAM_NONE)
        return slot;
    slot = s->free_head;
    s->free_head = s->slot_next[slot];
    uint32_t *head = &s->buckets[hash_key(key) & s->bucket_mask];
    s->slot_key[slot] = key;
    s->slot_next[slot] = *head;
    *head = slot;
    s->used++;
    return slot;
}

/* Unlinks `key` and returns its slot to the free list. Lock held. */
static int index_remove(struct dram_store *s, uint64_t key)
{
    uint32_t *link = &s->buckets[hash_key(key) & s->bucket_mask];
    while (*link != DRAM_NONE && s->slot_key[*link] != key)
        link = &s->slot_next[*link];
    if (*link == DRAM_NONE)
        return -ENOENT;
    uint32_t slot = *link;
    *link = s->slot_next[slot];
    s->slot_next[slot] = s->free_head;
    s->free_head = slot;
    s->used--;
    return 0;
}

static void dram_close(void *store)
{
    struct dram_store *s = store;
    if (!s)
        return;
    if (s->pool)
        munmap(s->pool, s->pool_bytes);
    free(s->slot_key);
    free(s->slot_next);
    free(s->buckets);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int dram_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    if (params->option_count > 0)
        return tierpage_error_set(err, -EINVAL, params->options[0].key,
                                  "dram: unknown option '%s' (dram takes only capacity)", params->options[0].key);
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "dram: page size must be greater than 0");
    if (params->capacity == 0)
        return tierpage_error_set(err, -EINVAL, "capacity", "dram: capacity is required and must be greater than 0");
    uint64_t pages = params->capacity / params->page_size;
    if (pages == 0)
        return tierpage_error_set(err, -EINVAL, "capacity",
                                  "dram: capacity %" PRIu64 " bytes is less than one page of %zu bytes",
                                  params->capacity, params->page_size);
    if (pages > INT32_MAX || pages > SIZE_MAX / params->page_size)
        return tierpage_error_set(err, -EINVAL, "capacity", "dram: capacity %" PRIu64 " bytes is too large",
                                  params->capacity);

    struct dram_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "dram: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->page_size = params->page_size;
    s->slot_count = (uint32_t)pages;

    uint64_t bucket_count = 1;
    while (bucket_count < pages)
        bucket_count <<= 1;
    s->bucket_mask = (uint32_t)(bucket_count - 1);
    s->buckets = malloc(bucket_count * sizeof *s->buckets);
    s->slot_key = malloc(pages * sizeof *s->slot_key);
    s->slot_next = malloc(pages * sizeof *s->slot_next);
    if (!s->buckets || !s->slot_key || !s->slot_next) {
        dram_close(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "dram: out of memory for the index of %" PRIu64 " pages",
                                  pages);
    }
    memset(s->buckets, 0xff, bucket_count * sizeof *s->buckets);
    for (uint32_t i = 0; i < s->slot_count; i++)
        s->slot_next[i] = i + 1 < s->slot_count ? i + 1 : DRAM_NONE;
    s->free_head = 0;

    /* NORESERVE: the pool only costs memory for pages actually stored. */
    s->pool_bytes = (size_t)pages * params->page_size;
    s->pool = mmap(NULL, s->pool_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s->pool == MAP_FAILED) {
        int e = errno;
        s->pool = NULL;
        dram_close(s);
        return tierpage_error_set(err, -e, NULL, "dram: cannot map a pool of %zu bytes: %s", (size_t)pages * params->page_size,
                                  strerror(e));
    }
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

static int dram_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    (void)err;
    struct dram_store *s = store;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = index_find_or_add(s, key);
    pthread_mutex_unlock(&s->lock);
    if (slot == DRAM_NONE)
        return -ENOSPC;
    memcpy(slot_page(s, slot), page, s->page_size);
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
    usage->capacity_bytes = (uint64_t)s->slot_count * s->page_size;
    usage->used_bytes = (uint64_t)s->used * s->page_size;
    usage->pages = s->used;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* The copy half of a batch, outside the lock: results[i] holds the slot
 * resolved for keys[i] or a negative errno; each becomes 0 once copied.
 * Copies out of the slots into `out`, or into them from `in` (one is NULL).
 * Returns the first error. */
static int copy_resolved_slots(struct dram_store *s, size_t count, int *results, void *const *out,
                               const void *const *in)
{
    int first = 0;
    for (size_t i = 0; i < count; i++) {
        if (results[i] < 0) {
            if (!first)
                first = results[i];
            continue;
        }
        unsigned char *slot = slot_page(s, (uint32_t)results[i]);
        if (out)
            memcpy(out[i], slot, s->page_size);
        else
            memcpy(slot, in[i], s->page_size);
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
    return copy_resolved_slots(s, count, results, pages, NULL);
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
    pthread_mutex_unlock(&s->lock);
    return copy_resolved_slots(s, count, results, NULL, pages);
}

static const tierpage_store_ops dram_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "dram",
    .description = "page pool in local memory",
    .flags = TIERPAGE_STORE_LOCAL | TIERPAGE_STORE_FORK_PRIVATE,
    .open = dram_open,
    .close = dram_close,
    .get = dram_get,
    .put = dram_put,
    .del = dram_del,
    .usage = dram_usage,
    .get_batch = dram_get_batch,
    .put_batch = dram_put_batch,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &dram_ops;
}
