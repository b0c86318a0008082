#include "mc_pagemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MC_PAGEMAP_EMPTY UINT64_MAX

_Static_assert(sizeof(struct mc_pagemap_slot) == 20, "a page map slot is 20 bytes");

static size_t slot_of(uint64_t key, size_t mask)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

void mc_pagemap_init(struct mc_pagemap *map)
{
    memset(map, 0, sizeof *map);
}

void mc_pagemap_free(struct mc_pagemap *map)
{
    free(map->slots);
    memset(map, 0, sizeof *map);
}

/* The slot holding key, or NULL. */
static struct mc_pagemap_slot *find(const struct mc_pagemap *map, uint64_t key)
{
    if (!map->slots)
        return NULL;
    for (size_t i = slot_of(key, map->mask);; i = (i + 1) & map->mask) {
        if (map->slots[i].key == key)
            return &map->slots[i];
        if (map->slots[i].key == MC_PAGEMAP_EMPTY)
            return NULL;
    }
}

int mc_pagemap_get(const struct mc_pagemap *map, uint64_t key, uint64_t *servers, uint32_t *gen)
{
    if (key == MC_PAGEMAP_EMPTY) {
        if (map->holds_empty && servers)
            *servers = map->empty_servers;
        if (map->holds_empty && gen)
            *gen = map->empty_gen;
        return map->holds_empty;
    }
    const struct mc_pagemap_slot *slot = find(map, key);
    if (slot && servers)
        *servers = slot->servers;
    if (slot && gen)
        *gen = slot->gen;
    return slot != NULL;
}

static void insert_slot(struct mc_pagemap_slot *slots, size_t mask, uint64_t key, uint64_t servers, uint32_t gen)
{
    size_t i = slot_of(key, mask);
    while (slots[i].key != MC_PAGEMAP_EMPTY)
        i = (i + 1) & mask;
    slots[i].key = key;
    slots[i].servers = servers;
    slots[i].gen = gen;
}

int mc_pagemap_reserve(struct mc_pagemap *map, size_t count)
{
    size_t slots = map->slots ? map->mask + 1 : 0;
    if (count <= slots / 4 * 3)
        return 0; /* load stays at most three quarters */
    size_t want = slots ? slots : 1024;
    while (want / 4 * 3 < count) {
        if (want > SIZE_MAX / 4 / sizeof(struct mc_pagemap_slot))
            return -ENOMEM;
        want *= 2;
    }
    struct mc_pagemap_slot *grown = malloc(want * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    memset(grown, 0xff, want * sizeof *grown);
    for (size_t i = 0; i < slots; i++)
        if (map->slots[i].key != MC_PAGEMAP_EMPTY)
            insert_slot(grown, want - 1, map->slots[i].key, map->slots[i].servers, map->slots[i].gen);
    free(map->slots);
    map->slots = grown;
    map->mask = want - 1;
    return 0;
}

int mc_pagemap_set(struct mc_pagemap *map, uint64_t key, uint64_t servers, uint32_t gen)
{
    if (key == MC_PAGEMAP_EMPTY) {
        int added = !map->holds_empty;
        map->holds_empty = 1;
        map->empty_servers = servers;
        map->empty_gen = gen;
        map->count += (size_t)added;
        return added;
    }
    struct mc_pagemap_slot *slot = find(map, key);
    if (slot) {
        slot->servers = servers;
        slot->gen = gen;
        return 0;
    }
    insert_slot(map->slots, map->mask, key, servers, gen);
    map->count++;
    return 1;
}

int mc_pagemap_forget_copies(struct mc_pagemap *map, uint64_t key, uint32_t gen, uint64_t servers)
{
    if (key == MC_PAGEMAP_EMPTY) {
        if (!map->holds_empty || map->empty_gen != gen)
            return 0;
        map->empty_servers &= ~servers;
        return 1;
    }
    struct mc_pagemap_slot *slot = find(map, key);
    if (!slot || slot->gen != gen)
        return 0;
    slot->servers &= ~servers;
    return 1;
}

int mc_pagemap_remove(struct mc_pagemap *map, uint64_t key)
{
    if (key == MC_PAGEMAP_EMPTY) {
        if (!map->holds_empty)
            return 0;
        map->holds_empty = 0;
        map->count--;
        return 1;
    }
    if (!map->slots)
        return 0;
    size_t i = slot_of(key, map->mask);
    while (map->slots[i].key != key) {
        if (map->slots[i].key == MC_PAGEMAP_EMPTY)
            return 0;
        i = (i + 1) & map->mask;
    }
    /* Backward-shift deletion: move later members of the probe run into
     * the hole when their home slot allows, so no tombstones are needed. */
    size_t hole = i;
    for (size_t j = (i + 1) & map->mask; map->slots[j].key != MC_PAGEMAP_EMPTY; j = (j + 1) & map->mask) {
        size_t home = slot_of(map->slots[j].key, map->mask);
        /* j may move to hole when home is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            map->slots[hole] = map->slots[j];
            hole = j;
        }
    }
    map->slots[hole].key = MC_PAGEMAP_EMPTY;
    map->count--;
    return 1;
}

void mc_pagemap_each(const struct mc_pagemap *map, void (*fn)(void *arg, uint64_t key, uint64_t servers), void *arg)
{
    size_t slots = map->slots ? map->mask + 1 : 0;
    for (size_t i = 0; i < slots; i++)
        if (map->slots[i].key != MC_PAGEMAP_EMPTY)
            fn(arg, map->slots[i].key, map->slots[i].servers);
    if (map->holds_empty)
        fn(arg, MC_PAGEMAP_EMPTY, map->empty_servers);
}
