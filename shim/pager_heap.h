/* The pager's own heap, used while the program brings its own allocator
 * (jemalloc, tcmalloc, ...): the pager's allocations must never land in
 * memory it serves, which that allocator's chunks may be. Blocks are owned
 * by address, so a block allocated on one side and freed on the other
 * (thread-local buffers, loader structures) always goes back where it
 * came from. */
#ifndef TIERPAGE_SHIM_PAGER_HEAP_H
#define TIERPAGE_SHIM_PAGER_HEAP_H

#include <stddef.h>

/* alignment 0 means the default (16 bytes). NULL with errno ENOMEM. */
void *pager_heap_alloc(size_t size, size_t alignment);
void *pager_heap_realloc(void *p, size_t size);
void pager_heap_free(void *p);
size_t pager_heap_usable_size(const void *p);
/* True when p was handed out by this heap. */
int pager_heap_owns(const void *p);

/* Around fork: the heap's lock is held across it, so that a child never
 * starts with it taken by a pager thread it does not have. */
void pager_heap_fork_prepare(void);
void pager_heap_fork_done(void);

#endif
