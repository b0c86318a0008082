/* The pool: one reserved mapping cut into equal slabs. A slab is registered
 * with the client's protection domain when it is handed out and
 * deregistered when it comes back, so a freed slab's rkey is dead: a client
 * that lost its slabs cannot write into a slab that now belongs to someone
 * else. A freed slab's memory is given back to the kernel (and reads as
 * zeros to its next owner, never as another namespace's pages). */
#ifndef MS_POOL_H
#define MS_POOL_H

#include <infiniband/verbs.h>
#include <stddef.h>
#include <stdint.h>

struct ms_session;

struct ms_slab {
    uint32_t index;
    struct ibv_mr *mr;          /* NULL while the slab is free */
    struct ms_session *owner;
};

struct ms_pool {
    unsigned char *base;
    size_t slab_bytes;
    uint32_t slab_count;
    uint32_t free_count;
    struct ms_slab *slabs;
    uint32_t *free_stack;       /* free slab indices; the top is free_stack[free_count - 1] */
};

/* Registers a slab's memory with `pd` for remote reads and writes, and
 * undoes it (ms_slab_mr.c): the pool's only use of the RDMA device. NULL
 * with errno set when registration fails. */
struct ibv_mr *ms_slab_register(struct ibv_pd *pd, void *addr, size_t length);
void ms_slab_unregister(struct ibv_mr *mr);

/* 0, or a negative errno value with a message in `why`. */
int ms_pool_init(struct ms_pool *pool, uint64_t pool_bytes, uint64_t slab_bytes, char *why, size_t why_len);
void ms_pool_destroy(struct ms_pool *pool);

/* Registers a free slab with `pd` for remote reads and writes. Returns it,
 * or NULL with *rc = -ENOSPC when every slab is taken, or another negative
 * errno value when registration failed. */
struct ms_slab *ms_pool_alloc(struct ms_pool *pool, struct ibv_pd *pd, struct ms_session *owner, int *rc);
void ms_pool_free(struct ms_pool *pool, struct ms_slab *slab);

#endif
