/* The pages one memcached tier instance has stored, and for each page the
 * servers that hold its copies and the generation of its last put.
 *
 * memcached cannot list or count one namespace's keys, so the tier keeps
 * them itself: usage counts them, an overwrite is told from a new page, and
 * a get or delete of a key never stored needs no round trip. The servers of
 * each page are kept because placement changes while a server is out of
 * service (its pages' new copies go to the next servers of the ring walk):
 * a get asks only the servers that acknowledged the page's last put, so a
 * server that comes back with an older copy is never read for it. A set
 * bit i is servers[i] of the tier (at most 64 servers). The generation is
 * what the last put stored in its copies' memcached flags: a copy with
 * other flags is an older one that a server stored late (memcached_store.c).
 *
 * 20 bytes a slot, at most 3/4 of the slots used: 27 to 53 bytes a page.
 *
 * Not locked: the tier holds its own mutex around every call. */
#ifndef TIERPAGE_MC_PAGEMAP_H
#define TIERPAGE_MC_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

/* 20 bytes: packed to 4-byte alignment, so the generation adds 4 bytes
 * and no padding. */
struct __attribute__((packed, aligned(4))) mc_pagemap_slot {
    uint64_t key;       /* MC_PAGEMAP_EMPTY when free */
    uint64_t servers;   /* bit i: servers[i] of the tier holds a copy */
    uint32_t gen;       /* the generation of its last put */
};

struct mc_pagemap {
    struct mc_pagemap_slot *slots; /* open addressing, linear probing */
    size_t mask;        /* slot count - 1, a power of two */
    size_t count;       /* keys held, the empty marker's key included */
    int holds_empty;    /* the key equal to the empty marker is held */
    uint64_t empty_servers; /* its servers */
    uint32_t empty_gen;     /* and generation */
};

void mc_pagemap_init(struct mc_pagemap *map);
void mc_pagemap_free(struct mc_pagemap *map);
/* 1 with the page's servers in *servers and its generation in *gen (each
 * when not NULL), 0 when the page is not held. */
int mc_pagemap_get(const struct mc_pagemap *map, uint64_t key, uint64_t *servers, uint32_t *gen);
/* Makes room for `count` keys so that the next adds cannot fail.
 * 0 or -ENOMEM. */
int mc_pagemap_reserve(struct mc_pagemap *map, size_t count);
/* Records the page's servers and generation: 1 when the key was added, 0
 * when it was there (both replaced); a new key needs room reserved. */
int mc_pagemap_set(struct mc_pagemap *map, uint64_t key, uint64_t servers, uint32_t gen);
/* Clears the bits of `servers` from the page's servers, when the page is
 * held at generation `gen` (a later put has recorded its own servers): 1
 * when it did, 0 when not. */
int mc_pagemap_forget_copies(struct mc_pagemap *map, uint64_t key, uint32_t gen, uint64_t servers);
/* 1 when removed, 0 when it was not there. */
int mc_pagemap_remove(struct mc_pagemap *map, uint64_t key);
/* Calls fn(arg, key, servers) for every page held; the map must not change
 * meanwhile. */
void mc_pagemap_each(const struct mc_pagemap *map, void (*fn)(void *arg, uint64_t key, uint64_t servers), void *arg);

#endif
