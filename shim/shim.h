/* State shared by the preload shim's files. */
#ifndef TIERPAGE_SHIM_H
#define TIERPAGE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage.h"

extern tp_stack *shim_stack;          /* NULL until the stack is open, or when inactive */
extern uint64_t shim_threshold;
extern int shim_in_child;             /* forked without exec: served memory is not here */
extern int shim_forked_child;         /* forked without exec, with served memory and a pager of its own */
extern int shim_lock_future;          /* mlockall(MCL_FUTURE): new served memory is locked */

/* The status a program stops with when its stack cannot open before its
 * main: the one `tierpage run` gives any stack that cannot open. */
#define SHIM_EXIT_STACK_CANNOT_OPEN 2

/* True when a call of this size should be served by the stack now; opens
 * it first in a process that has none yet (stack_life.c). */
int shim_serves(size_t size);
/* True once this process served any memory. */
int shim_served_any(void);
/* Before the program image is replaced: a stack that served nothing is
 * closed (stack_life.c). */
void shim_before_exec(void);
/* In a forked child that took its parent's stack as its own: it is this
 * process's now, and this process is not the program (stack_life.c). */
void shim_stack_now_ours(void);
void shim_install_fork_hooks(void);
/* Once the threshold is set: when the program's malloc comes before the
 * shim's, nothing is served, and the program is told (allocations.c). */
void shim_check_allocator(void);
/* Run pager code from a program thread: the pager's own allocations then
 * go to the real allocator. */
void shim_enter(void);
void shim_leave(void);
/* True on the pager's own threads, and while pager code runs on the program's. */
int shim_in_pager(void);

/* Before a stack opens: the descriptors the pager makes from here on are
 * kept from the program's closes (descriptors.c). */
void shim_guard_descriptors(void);

void *shim_map(void *hint, size_t size);
/* Region lookup; 0 and start/length when addr is served. */
int shim_lookup(const void *addr, void **start, size_t *length);
void shim_unmap_region(void *addr);

/* The kernel's own calls, bypassing every interposer. */
void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int real_munmap(void *addr, size_t len);

#endif
