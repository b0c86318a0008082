#include "mc_keyset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MC_KEYSET_EMPTY UINT64_MAX

static size_t slot_of(uint64_t key, size_t mask)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

void mc_keyset_init(struct mc_keyset *set)
{
    memset(set, 0, sizeof *set);
}

void mc_keyset_free(struct mc_keyset *set)
{
    free(set->slots);
    memset(set, 0, sizeof *set);
}

int mc_keyset_has(const struct mc_keyset *set, uint64_t key)
{
    if (key == MC_KEYSET_EMPTY)
        return set->holds_empty;
    if (!set->slots)
        return 0;
    for (size_t i = slot_of(key, set->mask);; i = (i + 1) & set->mask) {
        if (set->slots[i] == key)
            return 1;
        if (set->slots[i] == MC_KEYSET_EMPTY)
            return 0;
    }
}

static void insert_slot(uint64_t *slots, size_t mask, uint64_t key)
{
    size_t i = slot_of(key, mask);
    while (slots[i] != MC_KEYSET_EMPTY)
        i = (i + 1) & mask;
    slots[i] = key;
}

int mc_keyset_reserve(struct mc_keyset *set, size_t count)
{
    size_t slots = set->slots ? set->mask + 1 : 0;
    if (count * 2 <= slots)
        return 0; /* load stays at most one half */
    size_t want = slots ? slots : 1024;
    while (want < count * 2) {
        if (want > SIZE_MAX / 4 / sizeof(uint64_t))
            return -ENOMEM;
        want *= 2;
    }
    uint64_t *grown = malloc(want * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    memset(grown, 0xff, want * sizeof *grown);
    for (size_t i = 0; i < slots; i++)
        if (set->slots[i] != MC_KEYSET_EMPTY)
            insert_slot(grown, want - 1, set->slots[i]);
    free(set->slots);
    set->slots = grown;
    set->mask = want - 1;
    return 0;
}

int mc_keyset_add(struct mc_keyset *set, uint64_t key)
{
    if (mc_keyset_has(set, key))
        return 0;
    if (key == MC_KEYSET_EMPTY)
        set->holds_empty = 1;
    else
        insert_slot(set->slots, set->mask, key);
    set->count++;
    return 1;
}

int mc_keyset_remove(struct mc_keyset *set, uint64_t key)
{
    if (key == MC_KEYSET_EMPTY) {
        if (!set->holds_empty)
            return 0;
        set->holds_empty = 0;
        set->count--;
        return 1;
    }
    if (!set->slots)
        return 0;
    size_t i = slot_of(key, set->mask);
    while (set->slots[i] != key) {
        if (set->slots[i] == MC_KEYSET_EMPTY)
            return 0;
        i = (i + 1) & set->mask;
    }
    /* Backward-shift deletion: move later members of the probe run into
     * the hole when their home slot allows, so no tombstones are needed. */
    size_t hole = i;
    for (size_t j = (i + 1) & set->mask; set->slots[j] != MC_KEYSET_EMPTY; j = (j + 1) & set->mask) {
        size_t home = slot_of(set->slots[j], set->mask);
        /* j may move to hole when home is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            set->slots[hole] = set->slots[j];
            hole = j;
        }
    }
    set->slots[hole] = MC_KEYSET_EMPTY;
    set->count--;
    return 1;
}

void mc_keyset_each(const struct mc_keyset *set, void (*fn)(void *arg, uint64_t key), void *arg)
{
    size_t slots = set->slots ? set->mask + 1 : 0;
    for (size_t i = 0; i < slots; i++)
        if (set->slots[i] != MC_KEYSET_EMPTY)
            fn(arg, set->slots[i]);
    if (set->holds_empty)
        fn(arg, MC_KEYSET_EMPTY);
}
