#include "stale_keys.h"

#include <errno.h>
#include <stdlib.h>

#define NONE UINT32_MAX

static uint32_t *bucket_of(const struct tp_stale_keys *k, uint32_t id)
{
    return &k->buckets[(id * 2654435761u) & k->bucket_mask];
}

/* The slot holding id, or NONE. */
static uint32_t find(const struct tp_stale_keys *k, uint32_t id)
{
    uint32_t s = *bucket_of(k, id);
    while (s != NONE && k->id[s] != id)
        s = k->chain[s];
    return s;
}

void tp_stale_keys_clear(struct tp_stale_keys *k)
{
    for (uint32_t b = 0; b <= k->bucket_mask; b++)
        k->buckets[b] = NONE;
    for (size_t s = 0; s < k->capacity; s++)
        k->next[s] = s + 1 < k->capacity ? (uint32_t)(s + 1) : NONE;
    k->free_list = 0;
    k->oldest = k->newest = NONE;
    k->count = 0;
}

int tp_stale_keys_init(struct tp_stale_keys *k, size_t capacity)
{
    *k = (struct tp_stale_keys){0};
    k->capacity = capacity ? capacity : 1;
    uint32_t buckets = 1;
    while (buckets < k->capacity * 2)
        buckets <<= 1;
    k->bucket_mask = buckets - 1;
    k->id = malloc(k->capacity * sizeof *k->id);
    k->chain = malloc(k->capacity * sizeof *k->chain);
    k->prev = malloc(k->capacity * sizeof *k->prev);
    k->next = malloc(k->capacity * sizeof *k->next);
    k->buckets = malloc(buckets * sizeof *k->buckets);
    if (!k->id || !k->chain || !k->prev || !k->next || !k->buckets) {
        tp_stale_keys_destroy(k);
        return -ENOMEM;
    }
    tp_stale_keys_clear(k);
    return 0;
}

void tp_stale_keys_destroy(struct tp_stale_keys *k)
{
    free(k->id);
    free(k->chain);
    free(k->prev);
    free(k->next);
    free(k->buckets);
    *k = (struct tp_stale_keys){0};
}

void tp_stale_keys_add(struct tp_stale_keys *k, uint32_t id)
{
    if (find(k, id) != NONE)
        return;
    uint32_t s = k->free_list;
    k->free_list = k->next[s];
    k->id[s] = id;
    k->chain[s] = *bucket_of(k, id);
    *bucket_of(k, id) = s;
    k->prev[s] = k->newest;
    k->next[s] = NONE;
    if (k->newest != NONE)
        k->next[k->newest] = s;
    else
        k->oldest = s;
    k->newest = s;
    k->count++;
}

/* Unlinks slot s, holding id, from its bucket and from the order, and
 * frees it. */
static void drop(struct tp_stale_keys *k, uint32_t s)
{
    uint32_t *link = bucket_of(k, k->id[s]);
    while (*link != s)
        link = &k->chain[*link];
    *link = k->chain[s];
    if (k->prev[s] != NONE)
        k->next[k->prev[s]] = k->next[s];
    else
        k->oldest = k->next[s];
    if (k->next[s] != NONE)
        k->prev[k->next[s]] = k->prev[s];
    else
        k->newest = k->prev[s];
    k->next[s] = k->free_list;
    k->free_list = s;
    k->count--;
}

bool tp_stale_keys_remove(struct tp_stale_keys *k, uint32_t id)
{
    uint32_t s = find(k, id);
    if (s == NONE)
        return false;
    drop(k, s);
    return true;
}

bool tp_stale_keys_contains(const struct tp_stale_keys *k, uint32_t id)
{
    return find(k, id) != NONE;
}

size_t tp_stale_keys_take_oldest(struct tp_stale_keys *k, uint32_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && k->oldest != NONE) {
        out[n++] = k->id[k->oldest];
        drop(k, k->oldest);
    }
    return n;
}
