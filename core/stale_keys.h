/* The keys of a store whose copies went stale, their deletes held back:
 * a set of page ids in the order they were added, oldest first. A put of a
 * page overwrites its stale copy, so a delete held until then is a delete
 * the store never has to serve. Not locked: its owner (the write-back
 * queue) holds its own lock around every call. */
#ifndef TIERPAGE_STALE_KEYS_H
#define TIERPAGE_STALE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_stale_keys {
    size_t capacity, count;
    uint32_t *id, *chain, *prev, *next; /* per slot */
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t oldest, newest, free_list;
};

/* Room for `capacity` ids (at least one). 0 or -ENOMEM. */
int tp_stale_keys_init(struct tp_stale_keys *k, size_t capacity);
void tp_stale_keys_destroy(struct tp_stale_keys *k);

/* Adds id as the newest, or leaves it where it is when it is held already.
 * The caller makes room first: the set must not be full. */
void tp_stale_keys_add(struct tp_stale_keys *k, uint32_t id);
/* 1 when id was held (it is not any more), else 0. */
bool tp_stale_keys_remove(struct tp_stale_keys *k, uint32_t id);
bool tp_stale_keys_contains(const struct tp_stale_keys *k, uint32_t id);
/* Takes up to max of the oldest ids out of the set into out[], oldest
 * first; returns how many. */
size_t tp_stale_keys_take_oldest(struct tp_stale_keys *k, uint32_t *out, size_t max);
/* Forgets every id. */
void tp_stale_keys_clear(struct tp_stale_keys *k);

#endif
