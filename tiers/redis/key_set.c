#include "key_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEY_SET_EMPTY UINT64_MAX
#define KEY_SET_INITIAL 1024

static uint64_t slot_of(uint64_t key, uint64_t mask)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key & mask;
}

static uint64_t *new_table(uint64_t slots)
{
    uint64_t *t = malloc(slots * sizeof *t);
    if (t)
        memset(t, 0xff, slots * sizeof *t);
    return t;
}

int key_set_init(struct key_set *set)
{
    memset(set, 0, sizeof *set);
    set->slots = new_table(KEY_SET_INITIAL);
    if (!set->slots)
        return -ENOMEM;
    set->mask = KEY_SET_INITIAL - 1;
    pthread_mutex_init(&set->lock, NULL);
    return 0;
}

void key_set_destroy(struct key_set *set)
{
    if (!set->slots)
        return;
    free(set->slots);
    set->slots = NULL;
    pthread_mutex_destroy(&set->lock);
}

/* Lock held. The slot holding key, or the empty slot where it would go. */
static uint64_t probe(const struct key_set *set, uint64_t key)
{
    uint64_t i = slot_of(key, set->mask);
    while (set->slots[i] != KEY_SET_EMPTY && set->slots[i] != key)
        i = (i + 1) & set->mask;
    return i;
}

static int grow(struct key_set *set)
{
    uint64_t old_slots = set->mask + 1, new_slots = old_slots * 2;
    uint64_t *t = new_table(new_slots), *old = set->slots;
    if (!t)
        return -ENOMEM;
    set->slots = t;
    set->mask = new_slots - 1;
    for (uint64_t i = 0; i < old_slots; i++)
        if (old[i] != KEY_SET_EMPTY)
            set->slots[probe(set, old[i])] = old[i];
    free(old);
    return 0;
}

int key_set_contains(struct key_set *set, uint64_t key)
{
    pthread_mutex_lock(&set->lock);
    int found = key == KEY_SET_EMPTY ? set->has_empty_key : set->slots[probe(set, key)] == key;
    pthread_mutex_unlock(&set->lock);
    return found;
}

int key_set_add(struct key_set *set, uint64_t key)
{
    int rc = 0;
    pthread_mutex_lock(&set->lock);
    if (key == KEY_SET_EMPTY) {
        rc = !set->has_empty_key;
        set->has_empty_key = 1;
    } else {
        uint64_t i = probe(set, key);
        if (set->slots[i] != key) {
            /* Keep the load under 1/2 so probes stay short. */
            if ((set->count + 1) * 2 > set->mask + 1) {
                if (grow(set) < 0) {
                    pthread_mutex_unlock(&set->lock);
                    return -ENOMEM;
                }
                i = probe(set, key);
            }
            set->slots[i] = key;
            rc = 1;
        }
    }
    set->count += (uint64_t)rc;
    pthread_mutex_unlock(&set->lock);
    return rc;
}

int key_set_remove(struct key_set *set, uint64_t key)
{
    int rc = 0;
    pthread_mutex_lock(&set->lock);
    if (key == KEY_SET_EMPTY) {
        rc = set->has_empty_key;
        set->has_empty_key = 0;
    } else {
        uint64_t i = probe(set, key);
        if (set->slots[i] == key) {
            rc = 1;
            /* Backward-shift deletion: move later members of the probe run
             * into the hole when their home slot allows it. */
            uint64_t hole = i, j = i;
            for (;;) {
                j = (j + 1) & set->mask;
                if (set->slots[j] == KEY_SET_EMPTY)
                    break;
                uint64_t home = slot_of(set->slots[j], set->mask);
                /* j may move to hole when home is not in (hole, j] cyclically. */
                int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
                if (!stays) {
                    set->slots[hole] = set->slots[j];
                    hole = j;
                }
            }
            set->slots[hole] = KEY_SET_EMPTY;
        }
    }
    set->count -= (uint64_t)rc;
    pthread_mutex_unlock(&set->lock);
    return rc;
}

uint64_t key_set_count(struct key_set *set)
{
    pthread_mutex_lock(&set->lock);
    uint64_t n = set->count;
    pthread_mutex_unlock(&set->lock);
    return n;
}

void key_set_clear(struct key_set *set)
{
    pthread_mutex_lock(&set->lock);
    memset(set->slots, 0xff, (set->mask + 1) * sizeof *set->slots);
    set->count = 0;
    set->has_empty_key = 0;
    pthread_mutex_unlock(&set->lock);
}
