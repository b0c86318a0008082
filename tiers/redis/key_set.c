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

/* Keys, then as many values, in one allocation. */
static uint64_t *new_table(uint64_t slots)
{
    uint64_t *t = malloc(2 * slots * sizeof *t);
    if (t) {
        memset(t, 0xff, slots * sizeof *t);
        memset(t + slots, 0, slots * sizeof *t);
    }
    return t;
}

int key_set_init(struct key_set *set)
{
    memset(set, 0, sizeof *set);
    set->slots = new_table(KEY_SET_INITIAL);
    if (!set->slots)
        return -ENOMEM;
    set->values = set->slots + KEY_SET_INITIAL;
    set->mask = KEY_SET_INITIAL - 1;
    pthread_mutex_init(&set->lock, NULL);
    pthread_cond_init(&set->unclaimed, NULL);
    return 0;
}

void key_set_destroy(struct key_set *set)
{
    if (!set->slots)
        return;
    free(set->slots);
    set->slots = set->values = NULL;
    pthread_cond_destroy(&set->unclaimed);
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
    uint64_t *t = new_table(new_slots), *old = set->slots, *old_values = set->values;
    if (!t)
        return -ENOMEM;
    set->slots = t;
    set->values = t + new_slots;
    set->mask = new_slots - 1;
    for (uint64_t i = 0; i < old_slots; i++) {
        if (old[i] == KEY_SET_EMPTY)
            continue;
        uint64_t j = probe(set, old[i]);
        set->slots[j] = old[i];
        set->values[j] = old_values[i];
    }
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
            set->values[i] = 0;
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
        if (rc && (set->empty_key_value & KEY_SET_DEGRADED))
            set->degraded--;
        set->has_empty_key = 0;
        set->empty_key_value = 0;
    } else {
        uint64_t i = probe(set, key);
        if (set->slots[i] == key) {
            rc = 1;
            if (set->values[i] & KEY_SET_DEGRADED)
                set->degraded--;
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
                    set->values[hole] = set->values[j];
                    hole = j;
                }
            }
            set->slots[hole] = KEY_SET_EMPTY;
            set->values[hole] = 0;
        }
    }
    set->count -= (uint64_t)rc;
    pthread_cond_broadcast(&set->unclaimed);
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
    memset(set->values, 0, (set->mask + 1) * sizeof *set->values);
    set->count = 0;
    set->degraded = 0;
    set->has_empty_key = 0;
    set->empty_key_value = 0;
    pthread_mutex_unlock(&set->lock);
}

/* Lock held: where the key's value is, or NULL when the key is absent. */
static uint64_t *value_of(struct key_set *set, uint64_t key)
{
    if (key == KEY_SET_EMPTY)
        return set->has_empty_key ? &set->empty_key_value : NULL;
    uint64_t i = probe(set, key);
    return set->slots[i] == key ? &set->values[i] : NULL;
}

/* Lock held: the value becomes v, keeping the count of DEGRADED keys. */
static void assign(struct key_set *set, uint64_t *value, uint64_t v)
{
    set->degraded += (v & KEY_SET_DEGRADED ? 1 : 0) - (*value & KEY_SET_DEGRADED ? 1 : 0);
    *value = v;
}

int key_set_get(struct key_set *set, uint64_t key, uint64_t *value)
{
    pthread_mutex_lock(&set->lock);
    uint64_t *v = value_of(set, key);
    if (v)
        *value = *v;
    pthread_mutex_unlock(&set->lock);
    return v != NULL;
}

int key_set_claim(struct key_set *set, uint64_t key, uint64_t *value)
{
    pthread_mutex_lock(&set->lock);
    uint64_t *v;
    while ((v = value_of(set, key)) && (*v & KEY_SET_BUSY))
        pthread_cond_wait(&set->unclaimed, &set->lock);
    if (v) {
        *v |= KEY_SET_BUSY;
        *value = *v & ~KEY_SET_BUSY;
    }
    pthread_mutex_unlock(&set->lock);
    return v != NULL;
}

/* Lock held: a key of the batch is claimed by another thread. */
static int any_claimed(struct key_set *set, size_t count, const uint64_t *keys, const int *skip)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t *v = skip[i] ? NULL : value_of(set, keys[i]);
        if (v && (*v & KEY_SET_BUSY))
            return 1;
    }
    return 0;
}

void key_set_claim_all(struct key_set *set, size_t count, const uint64_t *keys, const int *skip)
{
    pthread_mutex_lock(&set->lock);
    while (any_claimed(set, count, keys, skip))
        pthread_cond_wait(&set->unclaimed, &set->lock);
    for (size_t i = 0; i < count; i++) {
        uint64_t *v = skip[i] ? NULL : value_of(set, keys[i]);
        if (v)
            *v |= KEY_SET_BUSY;
    }
    pthread_mutex_unlock(&set->lock);
}

int key_set_try_claim(struct key_set *set, uint64_t key, uint64_t *value)
{
    pthread_mutex_lock(&set->lock);
    uint64_t *v = value_of(set, key);
    int claimed = v && !(*v & KEY_SET_BUSY);
    if (claimed) {
        *v |= KEY_SET_BUSY;
        *value = *v & ~KEY_SET_BUSY;
    }
    pthread_mutex_unlock(&set->lock);
    return claimed;
}

void key_set_mark_degraded(struct key_set *set, uint64_t key)
{
    pthread_mutex_lock(&set->lock);
    uint64_t *v = value_of(set, key);
    if (v)
        assign(set, v, *v | KEY_SET_DEGRADED);
    pthread_mutex_unlock(&set->lock);
}

int key_set_settle(struct key_set *set, uint64_t key, uint64_t value)
{
    int added = 0;
    pthread_mutex_lock(&set->lock);
    uint64_t *v = value_of(set, key);
    if (!v) {
        pthread_mutex_unlock(&set->lock);
        added = key_set_add(set, key);
        if (added < 0)
            return added;
        pthread_mutex_lock(&set->lock);
        v = value_of(set, key);
    }
    assign(set, v, value & ~KEY_SET_BUSY);
    pthread_cond_broadcast(&set->unclaimed);
    pthread_mutex_unlock(&set->lock);
    return added;
}

void key_set_unclaim(struct key_set *set, uint64_t key)
{
    pthread_mutex_lock(&set->lock);
    uint64_t *v = value_of(set, key);
    if (v)
        *v &= ~KEY_SET_BUSY;
    pthread_cond_broadcast(&set->unclaimed);
    pthread_mutex_unlock(&set->lock);
}

void key_set_degrade_all(struct key_set *set)
{
    pthread_mutex_lock(&set->lock);
    for (uint64_t i = 0; i <= set->mask; i++)
        if (set->slots[i] != KEY_SET_EMPTY)
            set->values[i] |= KEY_SET_DEGRADED;
    if (set->has_empty_key)
        set->empty_key_value |= KEY_SET_DEGRADED;
    set->degraded = set->count;
    pthread_mutex_unlock(&set->lock);
}

uint64_t key_set_degraded(struct key_set *set)
{
    pthread_mutex_lock(&set->lock);
    uint64_t n = set->degraded;
    pthread_mutex_unlock(&set->lock);
    return n;
}

size_t key_set_list_degraded(struct key_set *set, uint64_t *keys, size_t max, uint64_t *cursor)
{
    size_t n = 0;
    pthread_mutex_lock(&set->lock);
    if (*cursor == 0 && set->has_empty_key && (set->empty_key_value & KEY_SET_DEGRADED) && n < max)
        keys[n++] = KEY_SET_EMPTY;
    uint64_t i = *cursor;
    for (; i <= set->mask && n < max; i++)
        if (set->slots[i] != KEY_SET_EMPTY && (set->values[i] & KEY_SET_DEGRADED))
            keys[n++] = set->slots[i];
    *cursor = i > set->mask ? 0 : i;
    pthread_mutex_unlock(&set->lock);
    return n;
}
