/* Where the rdma tier's pages are: an index from page key to its copies,
 * and the slabs the servers gave, each cut into page slots with a free
 * list. Plain data structures, no verbs and no locking: the store guards
 * them with its lock.
 *
 * A copy's location packs the server, the slab (the plugin's number for
 * it, per server) and the slot into 64 bits. A slab remembers the
 * generation of its server's connection when it was given: when a server
 * restarts or forgets this client, the connection's generation moves on
 * and the slab counts as lost (rp_slab_live). */
#ifndef RDMA_PLACEMENT_H
#define RDMA_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#define RP_MAX_SERVERS 64
#define RP_MAX_REPLICAS 2
#define RP_NONE UINT64_MAX

typedef uint64_t rp_loc;

static inline rp_loc rp_loc_make(unsigned server, uint32_t slab, uint32_t slot)
{
    return (uint64_t)server << 56 | (uint64_t)(slab & 0xffffffu) << 32 | slot;
}
static inline unsigned rp_loc_server(rp_loc l) { return (unsigned)(l >> 56); }
static inline uint32_t rp_loc_slab(rp_loc l) { return (uint32_t)(l >> 32) & 0xffffffu; }
static inline uint32_t rp_loc_slot(rp_loc l) { return (uint32_t)l; }

enum rp_slab_state { RP_SLAB_UNUSED = 0, RP_SLAB_ACTIVE, RP_SLAB_RETIRING };

struct rp_slab {
    int state;
    uint32_t generation;      /* of the server's connection when the slab was given */
    uint64_t remote_addr;
    uint32_t rkey;
    uint32_t server_slab;     /* the server's number for it, for FREE */
    uint32_t slots, used;
    uint32_t free_head;       /* first free slot, UINT32_MAX when full */
    uint32_t *next_free;
};

struct rp_server {
    struct rp_slab *slabs;
    uint32_t count, cap;
    uint32_t hint;            /* a slab that had free slots */
};

struct rp_entry {
    uint64_t key;
    rp_loc loc[RP_MAX_REPLICAS]; /* RP_NONE where a copy is missing */
    uint32_t next;            /* bucket chain, or free list */
};

struct rp_placement {
    size_t page_size;
    unsigned server_count;
    struct rp_server servers[RP_MAX_SERVERS];
    uint32_t *buckets;
    uint32_t bucket_mask;
    struct rp_entry *entries;
    uint32_t entry_cap, entry_free;
    uint64_t pages;
};

int rp_init(struct rp_placement *p, unsigned server_count, size_t page_size);
void rp_destroy(struct rp_placement *p);

/* The index. rp_find returns NULL when the key is absent; rp_insert returns
 * NULL when memory ran out. Pointers stay valid until the next insert. */
struct rp_entry *rp_find(struct rp_placement *p, uint64_t key);
struct rp_entry *rp_insert(struct rp_placement *p, uint64_t key, const rp_loc loc[RP_MAX_REPLICAS]);
/* Removes the key; its locations go to `loc` (the caller releases them). */
int rp_remove(struct rp_placement *p, uint64_t key, rp_loc loc[RP_MAX_REPLICAS]);
/* Calls fn for every entry (used to drop them all). */
void rp_for_each(struct rp_placement *p, void (*fn)(struct rp_entry *e, void *arg), void *arg);
void rp_clear_index(struct rp_placement *p);

/* Slabs. */
struct rp_slab *rp_slab_of(struct rp_placement *p, rp_loc loc);
static inline int rp_slab_live(const struct rp_slab *s, uint32_t generation)
{
    return s->state != RP_SLAB_UNUSED && s->generation == generation;
}
/* Adds a slab the server gave; returns the plugin's number for it or -1. */
int rp_add_slab(struct rp_placement *p, unsigned server, uint32_t generation, uint64_t remote_addr, uint32_t rkey,
                uint32_t server_slab, uint64_t length);
/* Takes a free slot on a live, active slab of the server: 0, or -ENOSPC
 * when the server needs another slab first. */
int rp_take_slot(struct rp_placement *p, unsigned server, uint32_t generation, rp_loc *loc);
/* Gives a slot back. Returns 1 when its slab became empty (and is not lost). */
int rp_release_slot(struct rp_placement *p, rp_loc loc);
/* Forgets a slab (after FREE, or when its server lost it). */
void rp_drop_slab(struct rp_placement *p, unsigned server, uint32_t slab);
/* Slots still free on live slabs of the server. */
uint64_t rp_free_slots(struct rp_placement *p, unsigned server, uint32_t generation);

#endif
