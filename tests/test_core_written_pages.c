/* Reading which pages were written from the kernel (written_pages.c) on
 * its own: shmem pages registered with a userfaultfd opened with
 * UFFD_FEATURE_WP_ASYNC, as the pager registers its regions, written by
 * this process and read back with PAGEMAP_SCAN. Needs root (userfaultfd). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uffd.h"
#include "written_pages.h"

#define PAGE 4096u
enum { PAGES = 256 };

static int offered;
static char why[200];
static int uffd = -1, pagemap = -1, memfd = -1;
static char *mem, *alias;

static void setup(void)
{
    offered = tp_written_offered(why, sizeof why);
    if (!offered)
        return;
    char msg[256];
    uffd = tp_uffd_open(1, msg, sizeof msg);
    ck_assert_msg(uffd >= 0, "%s", msg);
    pagemap = tp_written_open();
    ck_assert_int_ge(pagemap, 0);
    memfd = memfd_create("test_written_pages", MFD_CLOEXEC);
    ck_assert_int_eq(ftruncate(memfd, PAGES * PAGE), 0);
    mem = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    alias = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    ck_assert(mem != MAP_FAILED && alias != MAP_FAILED);
    ck_assert_int_eq(tp_uffd_register(uffd, mem, PAGES * PAGE, 1), 0);
}

static void teardown(void)
{
    if (!offered)
        return;
    munmap(mem, PAGES * PAGE);
    munmap(alias, PAGES * PAGE);
    close(memfd);
    close(pagemap);
    close(uffd);
}

/* Every page mapped write-protected, as a read fault maps it. */
static void map_all_protected(void)
{
    static unsigned char page[PAGE];
    for (size_t i = 0; i < PAGES; i++) {
        memset(page, (int)(i & 0xff), PAGE);
        ck_assert_int_eq(tp_uffd_copy(uffd, mem + i * PAGE, page, PAGE, 1), 0);
    }
}

static long scan(uint64_t *written, int reprotect)
{
    long n = tp_written_scan(pagemap, mem, PAGES, PAGE, reprotect, written);
    ck_assert_int_ge(n, 0);
    return n;
}

START_TEST(this_kernel_offers_it)
{
    /* DESIGN.md: these machines run Linux 6.18. A kernel without it makes
     * the pager fall back to write faults, which the stack tests check. */
    ck_assert_msg(offered, "%s", why);
}
END_TEST

START_TEST(written_pages_are_told_from_read_ones)
{
    if (!offered)
        return;
    map_all_protected();
    size_t expected = 0;
    for (size_t i = 0; i < PAGES; i++) {
        volatile char *p = mem + i * PAGE;
        if (i % 3 == 0 || i == 63 || i == 64) {
            p[100] = 1; /* resolved by the kernel: no handler runs here */
            expected++;
        } else {
            (void)p[100];
        }
    }
    uint64_t written[PAGES / 64];
    ck_assert_int_eq(scan(written, 0), (long)expected);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(tp_written_test(written, i) == (i % 3 == 0 || i == 63 || i == 64), "page %zu", i);
    /* Reading leaves the record as it was. */
    ck_assert_int_eq(scan(written, 0), (long)expected);
}
END_TEST

START_TEST(more_runs_than_one_call_reads_are_all_found)
{
    if (!offered)
        return;
    map_all_protected();
    for (size_t i = 0; i < PAGES; i += 2)
        mem[i * PAGE] = 2; /* PAGES / 2 runs of one page */
    uint64_t written[PAGES / 64];
    ck_assert_int_eq(scan(written, 0), PAGES / 2);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_int_eq(tp_written_test(written, i), i % 2 == 0);
}
END_TEST

START_TEST(unmapping_keeps_what_was_written)
{
    if (!offered)
        return;
    map_all_protected();
    for (size_t i = 0; i < PAGES; i += 5)
        mem[i * PAGE] = 3;
    ck_assert_int_eq(madvise(mem, PAGES * PAGE, MADV_DONTNEED), 0);
    uint64_t written[PAGES / 64];
    scan(written, 0);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(tp_written_test(written, i) == (i % 5 == 0), "page %zu after MADV_DONTNEED", i);
    /* Mapped back write-protected (a minor fault's UFFDIO_CONTINUE), a
     * page reads as unwritten again: what the pager must ask before. */
    ck_assert_int_eq(tp_uffd_continue(uffd, mem, PAGE, 1), 0);
    ck_assert_int_eq(tp_written_scan(pagemap, mem, 1, PAGE, 0, written), 0);
    ck_assert_int_eq(mem[0], 3);
}
END_TEST

START_TEST(reprotecting_starts_the_record_again)
{
    if (!offered)
        return;
    map_all_protected();
    for (size_t i = 0; i < PAGES; i++)
        mem[i * PAGE + 7] = 4;
    uint64_t written[PAGES / 64];
    ck_assert_int_eq(scan(written, 1), PAGES);
    ck_assert_int_eq(scan(written, 0), 0);
    mem[200 * PAGE] = 5;
    ck_assert_int_eq(scan(written, 0), 1);
    ck_assert(tp_written_test(written, 200));
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_int_eq(mem[i * PAGE + 7], 4);
}
END_TEST

START_TEST(what_reads_as_written_without_a_protected_mapping)
{
    if (!offered)
        return;
    /* Never mapped: written (the pager knows a prefetched page is not). */
    uint64_t written[PAGES / 64];
    ck_assert_int_eq(scan(written, 0), PAGES);
    /* Written through another mapping of the file: not seen. */
    map_all_protected();
    alias[9 * PAGE] = 6;
    ck_assert_int_eq(scan(written, 0), 0);
    ck_assert_int_eq(mem[9 * PAGE], 6);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core_written_pages");
    TCase *tc = tcase_create("written_pages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, this_kernel_offers_it);
    tcase_add_test(tc, written_pages_are_told_from_read_ones);
    tcase_add_test(tc, more_runs_than_one_call_reads_are_all_found);
    tcase_add_test(tc, unmapping_keeps_what_was_written);
    tcase_add_test(tc, reprotecting_starts_the_record_again);
    tcase_add_test(tc, what_reads_as_written_without_a_protected_mapping);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
