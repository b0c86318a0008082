/* How the pager learns which resident pages the program wrote.
 *
 * In both schemes a page read from a local tier is mapped writable and
 * compared with its tier's copy at eviction (UNSURE, page_map.h), and
 * any other page brought in by a read is mapped write-protected.
 *
 * By the kernel (TP_WRITES_KERNEL): the userfaultfd is opened with
 * UFFD_FEATURE_WP_ASYNC, and a write to a write-protected page is
 * resolved by the kernel, which records it in the page table: no write
 * fault reaches a handler. The pager reads what was written with
 * PAGEMAP_SCAN (written_pages.h) where it needs to know: at eviction, and
 * when it maps a page back with write protection (a minor fault), which
 * would otherwise hide an earlier write. Since a write-protect fault no
 * longer stops a writer, eviction stops writes by unmapping the page from
 * the program first: its next touch is a minor fault that waits for the
 * eviction.
 *
 * By faults (TP_WRITES_FAULTS): the first write to a write-protected page
 * is a write-protect fault a handler resolves. Used where the kernel lacks
 * the above, when the stack file asks for it, and always for tierpaged's
 * clients (the daemon cannot unmap another process's pages to stop its
 * writes). */
#ifndef TIERPAGE_WRITE_TRACKING_H
#define TIERPAGE_WRITE_TRACKING_H

#include <sys/uio.h>

#include "stack_internal.h"

/* At open, before the userfaultfd is opened: the scheme the stack file
 * asks for (`write_tracking:`), or, for auto, the best this kernel
 * offers. -errno with err set when `kernel` was asked for and is missing. */
int tp_write_tracking_start(struct tp_stack *s, enum tp_write_tracking wanted, tierpage_error *err);
void tp_write_tracking_stop(struct tp_stack *s);

/* Called without the stack lock, the `pages` pages at addr (the
 * program's mapping) BUSY for the caller: unmap them from the program,
 * keeping their content, so that nothing writes them until they are
 * mapped again. 0 or -errno. */
int tp_stop_writes(struct tp_stack *s, char *addr, size_t pages);

/* The same for `n` runs of pages, in one system call where the kernel
 * offers it (process_madvise on the process itself, Linux 6.13; the TLB
 * of the other CPUs is then flushed once for all runs, not once a run).
 * Sets unmapped[i] for each run that was. Any lock. */
void tp_unmap_runs(struct tp_stack *s, const struct iovec *runs, size_t n, int *unmapped);

/* With the kernel tracking its region's writes: 1 when the page at addr
 * (the program's mapping) reads as written, 0 when not, -errno when the
 * kernel could not say. Any lock. */
int tp_page_written_by_kernel(struct tp_stack *s, char *addr);
/* The same for `count` pages (at most 64) at addr, in one call: bit i of
 * *written for page i. Returns the number written, or -errno. */
long tp_pages_written_by_kernel(struct tp_stack *s, char *addr, size_t count, uint64_t *written);

/* Whether the page at `offset` of memfd no longer holds `content` (one
 * page): read from the file, never through the program's mapping, which
 * the evictor may unmap meanwhile (the read would then be a fault on the
 * caller's own userfaultfd). 1 also when it cannot be read. Any lock. */
int tp_page_changed_in_file(const struct tp_stack *s, int memfd, off_t offset, const void *content);

/* fork: in the parent, pages lock held and frozen, before the resident
 * pages are copied: mark DIRTY each resident page the kernel saw written
 * (the child starts without the parent's page tables). 0 or -errno. */
int tp_write_tracking_fork_parent(struct tp_stack *s);
/* In the child, its regions registered: its own /proc/self/pagemap, and
 * its clean resident pages write-protected (never mapped in the child,
 * they would read as written). 0 or -errno with err set. */
int tp_write_tracking_fork_child(struct tp_stack *s, tierpage_error *err);

#endif
