#include "ms_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int ms_pool_init(struct ms_pool *pool, uint64_t pool_bytes, uint64_t slab_bytes, char *why, size_t why_len)
{
    memset(pool, 0, sizeof *pool);
    if (slab_bytes == 0 || slab_bytes % 4096 || slab_bytes > pool_bytes) {
        snprintf(why, why_len, "the slab size must be a multiple of 4KiB and at most the pool size");
        return -EINVAL;
    }
    uint64_t count = pool_bytes / slab_bytes;
    if (count > UINT32_MAX / 2) {
        snprintf(why, why_len, "too many slabs (%llu): use a larger slab size", (unsigned long long)count);
        return -EINVAL;
    }
    pool->slab_bytes = slab_bytes;
    pool->slab_count = (uint32_t)count;
    pool->slabs = calloc(count, sizeof *pool->slabs);
    pool->free_stack = calloc(count, sizeof *pool->free_stack);
    if (!pool->slabs || !pool->free_stack) {
        ms_pool_destroy(pool);
        snprintf(why, why_len, "out of memory for %llu slabs", (unsigned long long)count);
        return -ENOMEM;
    }
    /* NORESERVE: memory is used only by slabs handed out (registration pins them). */
    void *base = mmap(NULL, count * slab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        ms_pool_destroy(pool);
        snprintf(why, why_len, "cannot map a pool of %llu bytes: %s", (unsigned long long)(count * slab_bytes),
                 strerror(e));
        return -e;
    }
    pool->base = base;
    for (uint32_t i = 0; i < pool->slab_count; i++) {
        pool->slabs[i].index = i;
        /* Lowest index on top, so slabs are handed out in order. */
        pool->free_stack[i] = pool->slab_count - 1 - i;
    }
    pool->free_count = pool->slab_count;
    return 0;
}

void ms_pool_destroy(struct ms_pool *pool)
{
    if (pool->slabs) {
        for (uint32_t i = 0; i < pool->slab_count; i++)
            if (pool->slabs[i].mr)
                ms_slab_unregister(pool->slabs[i].mr);
    }
    if (pool->base)
        munmap(pool->base, (size_t)pool->slab_count * pool->slab_bytes);
    free(pool->slabs);
    free(pool->free_stack);
    memset(pool, 0, sizeof *pool);
}

struct ms_slab *ms_pool_alloc(struct ms_pool *pool, struct ibv_pd *pd, struct ms_session *owner, int *rc)
{
    if (pool->free_count == 0) {
        *rc = -ENOSPC;
        return NULL;
    }
    uint32_t index = pool->free_stack[pool->free_count - 1];
    struct ms_slab *slab = &pool->slabs[index];
    slab->mr = ms_slab_register(pd, pool->base + (size_t)index * pool->slab_bytes, pool->slab_bytes);
    if (!slab->mr) {
        *rc = errno ? -errno : -EIO;
        return NULL;
    }
    pool->free_count--;
    slab->owner = owner;
    *rc = 0;
    return slab;
}

void ms_pool_free(struct ms_pool *pool, struct ms_slab *slab)
{
    if (!slab->mr)
        return;
    ms_slab_unregister(slab->mr);
    slab->mr = NULL;
    slab->owner = NULL;
    madvise(pool->base + (size_t)slab->index * pool->slab_bytes, pool->slab_bytes, MADV_DONTNEED);
    pool->free_stack[pool->free_count++] = slab->index;
}
