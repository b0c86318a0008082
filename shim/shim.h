/* State shared by the preload shim's files. */
#ifndef TIERPAGE_SHIM_H
#define TIERPAGE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage.h"

extern tp_stack *shim_stack;          /* NULL until the stack is open, or when inactive */
extern uint64_t shim_threshold;
extern int shim_in_child;             /* forked without exec: served memory is not here */
extern int shim_lock_future;          /* mlockall(MCL_FUTURE): new served memory is locked */

/* True when a call of this size should be served by the stack now. */
int shim_serves(size_t size);
/* Run pager code from a program thread: the pager's own allocations then
 * go to the real allocator. */
void shim_enter(void);
void shim_leave(void);
/* True on the pager's own threads, and while pager code runs on the program's. */
int shim_in_pager(void);

void *shim_map(void *hint, size_t size);
/* Region lookup; 0 and start/length when addr is served. */
int shim_lookup(const void *addr, void **start, size_t *length);
void shim_unmap_region(void *addr);

/* The kernel's own calls, bypassing every interposer. */
void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int real_munmap(void *addr, size_t len);

#endif
