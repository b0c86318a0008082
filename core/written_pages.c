#include "written_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pagemap_scan.h"
#include "uffd.h"


int tp_written_offered(char *why, size_t why_len)
{
    uint64_t features = tp_uffd_offered_features();
    if (!(features & UFFD_FEATURE_WP_ASYNC)) {
        snprintf(why, why_len, "this kernel's userfaultfd lacks UFFD_FEATURE_WP_ASYNC (Linux 6.7 or later has it)");
        return 0;
    }
    int fd = tp_written_open();
    if (fd < 0) {
        snprintf(why, why_len, "cannot open /proc/self/pagemap: %s", strerror(-fd));
        return 0;
    }
    /* An empty range: answered at once by a kernel that has the ioctl. */
    struct pm_scan_arg a = {.size = sizeof a};
    int rc = ioctl(fd, PAGEMAP_SCAN, &a) < 0 ? errno : 0;
    close(fd);
    if (rc) {
        snprintf(why, why_len, "/proc/self/pagemap has no PAGEMAP_SCAN ioctl: %s (Linux 6.7 or later has it)",
                 strerror(rc));
        return 0;
    }
    return 1;
}

int tp_written_open(void)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Regions read per call; a range written in more runs than this is read
 * in more calls, each going on where the last one stopped. */
#define SCAN_REGIONS 32

long tp_written_scan(int pagemap_fd, void *addr, size_t count, size_t page_size, int reprotect,
                     uint64_t *written)
{
    memset(written, 0, (count + 63) / 64 * sizeof *written);
    uintptr_t base = (uintptr_t)addr, end = base + count * page_size;
    struct page_region vec[SCAN_REGIONS];
    long found = 0;
    for (uintptr_t at = base; at < end;) {
        struct pm_scan_arg a = {
            .size = sizeof a,
            .flags = reprotect ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
            .start = at,
            .end = end,
            .vec = (uintptr_t)vec,
            .vec_len = SCAN_REGIONS,
            .category_mask = PAGE_IS_WRITTEN,
            .return_mask = PAGE_IS_WRITTEN,
        };
        long n = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        for (long k = 0; k < n; k++) {
            for (uintptr_t p = vec[k].start; p < vec[k].end; p += page_size) {
                size_t i = (p - base) / page_size;
                written[i / 64] |= (uint64_t)1 << (i % 64);
                found++;
            }
        }
        if (a.walk_end <= at) /* the kernel made no progress: never expected */
            return -EIO;
        at = a.walk_end;
    }
    return found;
}
