/* Kernels before 6.4 refuse UFFDIO_CONTINUE_MODE_WP: a page mapped
 * write-protected from the memfd (mapped ahead by prefetch, or at a minor
 * fault) is mapped writable first and protected after, and a thread of
 * the program can write it in that moment without a fault. Such a write
 * must not be lost: the page must not be taken for clean and dropped at
 * eviction. TIERPAGE_CONTINUE_WP=off takes that way on this kernel, and
 * the core's test hook writes each page in the moment, as another thread
 * of the program would; every page must read back with that write after
 * it went back to its tier. */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"
#include "stack_internal.h"
#include "uffd.h"

#define REGION_PAGES 1024u /* 16 times the resident set */
#define VERSION_WRITTEN 1u
#define VERSION_IN_GAP 3u

static char *region;
/* The pager's own mapping of the region's pages, not registered with its
 * userfaultfd: a write there is a write to the program's pages that can
 * never fault, even when the evictor has just unmapped the program's. */
static char *alias;
static unsigned char written_in_gap[REGION_PAGES];
static unsigned gaps, pages_in_gaps;
static int stopped, in_gap;

static void write_pages(void *dst, size_t len);

/* Runs in a handler thread, between the mapping and its protection. */
static void write_in_gap(void *dst, size_t len)
{
    __atomic_add_fetch(&in_gap, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&stopped, __ATOMIC_SEQ_CST))
        write_pages(dst, len);
    __atomic_sub_fetch(&in_gap, 1, __ATOMIC_SEQ_CST);
}

/* No write in a gap from here on: a batch fetched ahead of the sweep's
 * last faults may still be being mapped. */
static void stop_writing_in_gaps(void)
{
    __atomic_store_n(&stopped, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&tp_uffd_two_step_gap, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&in_gap, __ATOMIC_SEQ_CST))
        sched_yield();
}

static void write_pages(void *dst, size_t len)
{
    gaps++;
    for (size_t off = 0; off < len; off += PAGE) {
        size_t i = (size_t)((char *)dst + off - region) / PAGE;
        if (i >= REGION_PAGES)
            continue;
        fill_page(alias, i, VERSION_IN_GAP);
        written_in_gap[i] = 1;
        pages_in_gaps++;
    }
}

/* dram (256 KiB) -> faulty wrapping dram: a remote tier, whose pages come
 * back write-protected with the kernel's tracking (a local tier's are
 * mapped writable and compared with their copy at eviction instead; so
 * are a remote tier's without the kernel's tracking, compared with their
 * digest). */
static tp_stack *open_remote_stack(const char *write_tracking)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: two-step\n"
             "resident: 256KiB\n"
             "handler_threads: 1\n"
             "prefetch_window: 32\n"
             "write_tracking: %s\n"
             "tiers:\n"
             "  - plugin: dram\n"
             "    capacity: 256KiB\n"
             "  - plugin: faulty\n"
             "    wrap: dram\n"
             "    capacity: 8MiB\n",
             write_tracking);
    return open_stack(yaml);
}

/* in_two_steps: whether the sweep's pages fetched ahead are mapped
 * write-protected (in two steps, the gap written), or writable in one. */
static void check_writes_in_the_gap_are_kept(const char *write_tracking, int in_two_steps)
{
    tp_stack *s = open_remote_stack(write_tracking);
    tierpage_error err = {{0}, {0}};
    region = tp_map(s, NULL, REGION_PAGES * PAGE, &err);
    ck_assert_msg(region != NULL, "%s", err.message);
    const struct tp_region *r = tp_region_find(s, region);
    ck_assert(r != NULL && r->start == region);
    alias = r->alias;
    for (size_t i = 0; i < REGION_PAGES; i++)
        fill_page(region, i, VERSION_WRITTEN);
    memset(written_in_gap, 0, sizeof written_in_gap);
    gaps = pages_in_gaps = 0;

    /* A read sweep: pages fetched from the remote tier ahead of it are
     * mapped write-protected, in two steps. The reads race the writes in
     * the gaps, as a program's threads would: the content is checked
     * after. */
    __atomic_store_n(&stopped, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&tp_uffd_two_step_gap, write_in_gap, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < REGION_PAGES; i++)
        (void)*(volatile char *)(region + i * PAGE);
    stop_writing_in_gaps();
    struct tp_stats swept = stats_of(s);
    if (in_two_steps)
        ck_assert_msg(pages_in_gaps > REGION_PAGES / 4,
                      "%s: only %u pages mapped in two steps (%u times; %llu mapped ahead)", write_tracking,
                      pages_in_gaps, gaps, (unsigned long long)swept.prefetch_mapped);
    else
        ck_assert_msg(gaps == 0 && swept.prefetch_mapped > REGION_PAGES / 4,
                      "%s: %u pages mapped in two steps (%u times; %llu mapped ahead)", write_tracking,
                      pages_in_gaps, gaps, (unsigned long long)swept.prefetch_mapped);
    for (size_t i = 0; i < REGION_PAGES; i++) {
        uint32_t version = written_in_gap[i] ? VERSION_IN_GAP : VERSION_WRITTEN;
        ck_assert_msg(page_matches(region, i, version), "%s: page %zu wrong after the sweep", write_tracking, i);
    }

    /* Every page back to its tier: one written in the gap and dropped as
     * clean would read back as before it. */
    ck_assert_int_eq(tp_set_resident(s, 4 * PAGE, &err), 0);
    for (size_t i = 0; i < REGION_PAGES; i++) {
        uint32_t version = written_in_gap[i] ? VERSION_IN_GAP : VERSION_WRITTEN;
        ck_assert_msg(page_matches(region, i, version), "%s: page %zu (%s) lost its write", write_tracking, i,
                      written_in_gap[i] ? "written between its mapping and its protection" : "not written");
    }
    tp_stack_close(s);
}

START_TEST(with_write_faults_pages_fetched_ahead_are_mapped_writable_in_one_step)
{
    check_writes_in_the_gap_are_kept("faults", 0);
}
END_TEST

START_TEST(writes_between_mapping_and_protection_are_kept_with_the_kernels_tracking)
{
    check_writes_in_the_gap_are_kept("auto", 1);
}
END_TEST

int main(void)
{
    /* Before the first stack opens its userfaultfd. */
    setenv("TIERPAGE_CONTINUE_WP", "off", 1);
    Suite *s = suite_create("core_two_step_wp");
    TCase *tc = tcase_create("two_step_wp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, with_write_faults_pages_fetched_ahead_are_mapped_writable_in_one_step);
    tcase_add_test(tc, writes_between_mapping_and_protection_are_kept_with_the_kernels_tracking);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
