/* The set of page keys one memcached tier instance has stored.
 *
 * memcached cannot list or count one namespace's keys, so the tier keeps
 * them itself: usage counts them, an overwrite is told from a new page, and
 * a get or delete of a key never stored needs no round trip. Not locked:
 * the tier holds its own mutex around every call. */
#ifndef TIERPAGE_MC_KEYSET_H
#define TIERPAGE_MC_KEYSET_H

#include <stddef.h>
#include <stdint.h>

struct mc_keyset {
    uint64_t *slots;    /* open addressing, linear probing; MC_KEYSET_EMPTY when free */
    size_t mask;        /* slot count - 1, a power of two */
    size_t count;       /* keys held, the empty marker's key included */
    int holds_empty;    /* the key equal to the empty marker is held */
};

void mc_keyset_init(struct mc_keyset *set);
void mc_keyset_free(struct mc_keyset *set);
int mc_keyset_has(const struct mc_keyset *set, uint64_t key);
/* Makes room for `count` keys so that the next adds cannot fail.
 * 0 or -ENOMEM. */
int mc_keyset_reserve(struct mc_keyset *set, size_t count);
/* 1 when added, 0 when it was there; needs room reserved. */
int mc_keyset_add(struct mc_keyset *set, uint64_t key);
/* 1 when removed, 0 when it was not there. */
int mc_keyset_remove(struct mc_keyset *set, uint64_t key);
/* Calls fn(arg, key) for every key held; the set must not change meanwhile. */
void mc_keyset_each(const struct mc_keyset *set, void (*fn)(void *arg, uint64_t key), void *arg);

#endif
