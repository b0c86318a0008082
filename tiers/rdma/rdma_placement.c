#include "rdma_placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "key_hash.h"

#define RP_END UINT32_MAX

static uint32_t hash_key(uint64_t key)
{
    return (uint32_t)tier_fmix64(key);
}

int rp_init(struct rp_placement *p, unsigned server_count, size_t page_size)
{
    memset(p, 0, sizeof *p);
    if (server_count == 0 || server_count > RP_MAX_SERVERS || page_size == 0)
        return -EINVAL;
    p->server_count = server_count;
    p->page_size = page_size;
    p->entry_free = RP_END;
    p->bucket_mask = 1023;
    p->buckets = malloc((p->bucket_mask + 1) * sizeof *p->buckets);
    if (!p->buckets)
        return -ENOMEM;
    memset(p->buckets, 0xff, (p->bucket_mask + 1) * sizeof *p->buckets);
    return 0;
}

void rp_destroy(struct rp_placement *p)
{
    for (unsigned s = 0; s < p->server_count; s++) {
        for (uint32_t i = 0; i < p->servers[s].count; i++)
            free(p->servers[s].slabs[i].next_free);
        free(p->servers[s].slabs);
    }
    free(p->buckets);
    free(p->entries);
    memset(p, 0, sizeof *p);
}

/* Doubles the entry array and the buckets, rehashing every entry. */
static int grow(struct rp_placement *p)
{
    uint32_t old_cap = p->entry_cap, cap = old_cap ? old_cap * 2 : 1024;
    if (cap < old_cap)
        return -ENOMEM;
    struct rp_entry *entries = realloc(p->entries, (size_t)cap * sizeof *entries);
    if (!entries)
        return -ENOMEM;
    p->entries = entries;
    for (uint32_t i = old_cap; i < cap; i++) {
        entries[i].key = 0;
        entries[i].loc[0] = entries[i].loc[1] = RP_NONE;
        entries[i].next = i + 1 < cap ? i + 1 : p->entry_free;
    }
    p->entry_free = old_cap;
    p->entry_cap = cap;
    if (cap > p->bucket_mask + 1) {
        uint32_t *buckets = malloc((size_t)cap * sizeof *buckets);
        if (!buckets)
            return 0; /* longer chains, still correct */
        memset(buckets, 0xff, (size_t)cap * sizeof *buckets);
        free(p->buckets);
        p->buckets = buckets;
        p->bucket_mask = cap - 1;
        for (uint32_t i = 0; i < old_cap; i++) {
            if (entries[i].loc[0] == RP_NONE && entries[i].loc[1] == RP_NONE)
                continue; /* on the free list */
            uint32_t *head = &buckets[hash_key(entries[i].key) & p->bucket_mask];
            entries[i].next = *head;
            *head = i;
        }
    }
    return 0;
}

struct rp_entry *rp_find(struct rp_placement *p, uint64_t key)
{
    uint32_t i = p->buckets[hash_key(key) & p->bucket_mask];
    while (i != RP_END && p->entries[i].key != key)
        i = p->entries[i].next;
    return i == RP_END ? NULL : &p->entries[i];
}

/* An entry in use always has at least one location, so a free entry is
 * told apart by having none. */
struct rp_entry *rp_insert(struct rp_placement *p, uint64_t key, const rp_loc loc[RP_MAX_REPLICAS])
{
    if (loc[0] == RP_NONE && loc[1] == RP_NONE)
        return NULL;
    if (p->entry_free == RP_END && grow(p))
        return NULL;
    uint32_t i = p->entry_free;
    struct rp_entry *e = &p->entries[i];
    p->entry_free = e->next;
    e->key = key;
    e->loc[0] = loc[0];
    e->loc[1] = loc[1];
    uint32_t *head = &p->buckets[hash_key(key) & p->bucket_mask];
    e->next = *head;
    *head = i;
    p->pages++;
    return e;
}

int rp_remove(struct rp_placement *p, uint64_t key, rp_loc loc[RP_MAX_REPLICAS])
{
    uint32_t *link = &p->buckets[hash_key(key) & p->bucket_mask];
    while (*link != RP_END && p->entries[*link].key != key)
        link = &p->entries[*link].next;
    if (*link == RP_END)
        return -ENOENT;
    uint32_t i = *link;
    struct rp_entry *e = &p->entries[i];
    *link = e->next;
    loc[0] = e->loc[0];
    loc[1] = e->loc[1];
    e->loc[0] = e->loc[1] = RP_NONE;
    e->next = p->entry_free;
    p->entry_free = i;
    p->pages--;
    return 0;
}

void rp_for_each(struct rp_placement *p, void (*fn)(struct rp_entry *e, void *arg), void *arg)
{
    for (uint32_t i = 0; i < p->entry_cap; i++)
        if (p->entries[i].loc[0] != RP_NONE || p->entries[i].loc[1] != RP_NONE)
            fn(&p->entries[i], arg);
}

void rp_clear_index(struct rp_placement *p)
{
    memset(p->buckets, 0xff, (size_t)(p->bucket_mask + 1) * sizeof *p->buckets);
    p->entry_free = RP_END;
    for (uint32_t i = p->entry_cap; i-- > 0;) {
        p->entries[i].loc[0] = p->entries[i].loc[1] = RP_NONE;
        p->entries[i].next = p->entry_free;
        p->entry_free = i;
    }
    p->pages = 0;
}

struct rp_slab *rp_slab_of(struct rp_placement *p, rp_loc loc)
{
    unsigned s = rp_loc_server(loc);
    uint32_t slab = rp_loc_slab(loc);
    if (s >= p->server_count || slab >= p->servers[s].count)
        return NULL;
    return &p->servers[s].slabs[slab];
}

int rp_add_slab(struct rp_placement *p, unsigned server, uint32_t generation, uint64_t remote_addr, uint32_t rkey,
                uint32_t server_slab, uint64_t length)
{
    struct rp_server *sv = &p->servers[server];
    uint64_t slots = length / p->page_size;
    if (slots == 0 || slots > UINT32_MAX - 1)
        return -1;
    uint32_t n = 0;
    while (n < sv->count && sv->slabs[n].state != RP_SLAB_UNUSED)
        n++;
    if (n == sv->count) {
        if (sv->count == 0xffffff)
            return -1;
        if (sv->count == sv->cap) {
            uint32_t cap = sv->cap ? sv->cap * 2 : 16;
            struct rp_slab *slabs = realloc(sv->slabs, cap * sizeof *slabs);
            if (!slabs)
                return -1;
            memset(slabs + sv->cap, 0, (cap - sv->cap) * sizeof *slabs);
            sv->slabs = slabs;
            sv->cap = cap;
        }
        sv->count++;
    }
    struct rp_slab *s = &sv->slabs[n];
    uint32_t *next_free = realloc(s->next_free, slots * sizeof *next_free);
    if (!next_free)
        return -1;
    for (uint32_t i = 0; i < slots; i++)
        next_free[i] = i + 1 < slots ? i + 1 : RP_END;
    *s = (struct rp_slab){ .state = RP_SLAB_ACTIVE, .generation = generation, .remote_addr = remote_addr,
                           .rkey = rkey, .server_slab = server_slab, .slots = (uint32_t)slots, .used = 0,
                           .free_head = 0, .next_free = next_free };
    sv->hint = n;
    return (int)n;
}

int rp_take_slot(struct rp_placement *p, unsigned server, uint32_t generation, rp_loc *loc)
{
    struct rp_server *sv = &p->servers[server];
    for (uint32_t k = 0; k < sv->count; k++) {
        uint32_t n = (sv->hint + k) % sv->count;
        struct rp_slab *s = &sv->slabs[n];
        if (s->state != RP_SLAB_ACTIVE || s->generation != generation || s->free_head == RP_END)
            continue;
        uint32_t slot = s->free_head;
        s->free_head = s->next_free[slot];
        s->used++;
        sv->hint = n;
        *loc = rp_loc_make(server, n, slot);
        return 0;
    }
    return -ENOSPC;
}

int rp_release_slot(struct rp_placement *p, rp_loc loc)
{
    struct rp_slab *s = rp_slab_of(p, loc);
    if (!s || s->state == RP_SLAB_UNUSED)
        return 0;
    uint32_t slot = rp_loc_slot(loc);
    s->next_free[slot] = s->free_head;
    s->free_head = slot;
    s->used--;
    return s->used == 0;
}

void rp_drop_slab(struct rp_placement *p, unsigned server, uint32_t slab)
{
    struct rp_server *sv = &p->servers[server];
    if (slab < sv->count)
        sv->slabs[slab].state = RP_SLAB_UNUSED;
}

uint64_t rp_free_slots(struct rp_placement *p, unsigned server, uint32_t generation)
{
    uint64_t n = 0;
    struct rp_server *sv = &p->servers[server];
    for (uint32_t i = 0; i < sv->count; i++) {
        struct rp_slab *s = &sv->slabs[i];
        if (s->state == RP_SLAB_ACTIVE && s->generation == generation)
            n += s->slots - s->used;
    }
    return n;
}
