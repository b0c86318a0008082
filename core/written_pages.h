/* Which pages the program wrote, as the kernel recorded it: with
 * UFFD_FEATURE_WP_ASYNC a write to a write-protected page is resolved by
 * the kernel itself, which clears the page's uffd-wp bit and lets the
 * write go on; PAGEMAP_SCAN on /proc/self/pagemap reads those bits for a
 * whole range in one call (and may set them again in the same walk).
 *
 * What reads as written (measured on Linux 6.18, checked by
 * test_core_written_pages): a page mapped without write protection, or
 * written since it was mapped write-protected; a page whose mapping was
 * zapped (MADV_DONTNEED, a punched hole) keeps what it read as before;
 * a page never mapped in the range reads as written. Writes through
 * another mapping of the same file (the pager's alias) are not seen. */
#ifndef TIERPAGE_WRITTEN_PAGES_H
#define TIERPAGE_WRITTEN_PAGES_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this kernel offers both (the userfaultfd feature and the ioctl);
 * else 0, with why it does not in `why`. */
int tp_written_offered(char *why, size_t why_len);

/* /proc/self/pagemap, for this process (a forked child opens its own: the
 * file reads the address space of the process that opened it); -errno. */
int tp_written_open(void);

/* Of the `count` pages of `page_size` at addr: bit i of `written` (count
 * bits; the words are cleared first) set for each page that reads as
 * written. With `reprotect`, every page of the range is write-protected
 * again in the same walk. Returns the number of written pages, or
 * -errno. */
long tp_written_scan(int pagemap_fd, void *addr, size_t count, size_t page_size, int reprotect,
                     uint64_t *written);

static inline int tp_written_test(const uint64_t *written, size_t i)
{
    return (int)((written[i / 64] >> (i % 64)) & 1u);
}

#endif
