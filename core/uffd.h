/* Thin wrappers over the userfaultfd ioctls the pager uses. */
#ifndef TIERPAGE_UFFD_H
#define TIERPAGE_UFFD_H

#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdint.h>

/* Newer than Debian 12's kernel headers; the running kernel has them. */
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC ((__u64)1 << 15)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* Features the pager needs: shmem MISSING, WP and MINOR faults. */
#define TP_UFFD_FEATURES \
    (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID)

/* Returns the fd, or -errno with a message in msg. With `async_wp`, the
 * kernel resolves write-protect faults itself (UFFD_FEATURE_WP_ASYNC):
 * none reaches a handler, and writes are read with written_pages.h. */
int tp_uffd_open(int async_wp, char *msg, size_t msg_len);
/* The features this kernel's userfaultfd offers; 0 when it has none. */
uint64_t tp_uffd_offered_features(void);
int tp_uffd_register(int uffd, void *addr, size_t len, int with_minor);
int tp_uffd_unregister(int uffd, void *addr, size_t len);
/* Fill a missing page; write_protect maps it so the first write faults. */
int tp_uffd_copy(int uffd, void *dst, const void *src, size_t len, int write_protect);
int tp_uffd_zeropage(int uffd, void *dst, size_t len);
/* Map [dst, dst + len) of a minor-mode region from its file; with
 * `write_protect`, so that the first write faults. Kernels before 6.4
 * cannot do that in one step: the range is mapped, then protected, and a
 * thread of the program may write to it in between without a fault. A
 * caller that maps write-protected where tp_uffd_continue_wp_is_exact()
 * was 0 compares the pages after the call with what they held before: a
 * page changed was written (a failed call may have mapped any part). */
int tp_uffd_continue(int uffd, void *dst, size_t len, int write_protect);
/* 1 once a write-protected UFFDIO_CONTINUE worked in one step; 0 before
 * that is known, and on kernels that refuse it. */
int tp_uffd_continue_wp_is_exact(void);
/* Tests only: when set, called in that moment between mapping and
 * protecting, as a thread of the program that writes there then runs. */
extern void (*tp_uffd_two_step_gap)(void *dst, size_t len);
/* `wake` applies when removing protection (the kernel takes no DONTWAKE with WP). */
int tp_uffd_writeprotect(int uffd, void *addr, size_t len, int protect, int wake);
int tp_uffd_wake(int uffd, void *addr, size_t len);

#endif
