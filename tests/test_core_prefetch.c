/* Prefetch through the library API: sequential and strided fault streams
 * are fetched ahead (and every page still reads back as written), random
 * ones and `prefetch: off` stacks are not. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core_fixture.h"

#define REGION_PAGES 1024u  /* 4 MiB: 16 times the resident cap */
#define HOLE_FIRST 300u     /* pages [HOLE_FIRST, HOLE_END) are never written */
#define HOLE_END 310u

/* dram (256 KiB) -> pmem: a 64-page resident set over a 1024-page region
 * spills most pages to pmem. One handler thread: the fault stream is the
 * program's own order. */
static tp_stack *open_prefetch_stack(const char *prefetch)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: prefetch\n"
             "resident: 256KiB\n"
             "handler_threads: 1\n"
             "prefetch: %s\n"
             "prefetch_window: 32\n"
             "tiers:\n"
             "  - plugin: dram\n"
             "    capacity: 256KiB\n"
             "  - plugin: pmem\n"
             "    path: %s\n"
             "    capacity: 8MiB\n",
             prefetch, shm_path("prefetch"));
    return open_stack(yaml);
}

static int in_hole(size_t i)
{
    return i >= HOLE_FIRST && i < HOLE_END;
}

static int page_is_zero(const char *m, size_t i)
{
    for (size_t k = 0; k < PAGE; k++)
        if (m[i * PAGE + k])
            return 0;
    return 1;
}

/* Every page but the hole written with version 1; then pushed out of the
 * resident set by a pass over the last pages. */
static char *map_written(tp_stack *s)
{
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, REGION_PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < REGION_PAGES; i++)
        if (!in_hole(i))
            fill_page(m, i, 1);
    return m;
}

/* Read page i (and check it), then write version 2 over it. */
static void check_and_rewrite(char *m, size_t i)
{
    if (in_hole(i)) {
        ck_assert_msg(page_is_zero(m, i), "never-written page %zu is not zeros", i);
        return;
    }
    ck_assert_msg(page_matches(m, i, 1), "page %zu wrong", i);
    fill_page(m, i, 2);
}

static void check_all(char *m, uint32_t version_of_touched, size_t stride)
{
    for (size_t i = 0; i < REGION_PAGES; i++) {
        if (in_hole(i))
            ck_assert_msg(page_is_zero(m, i), "never-written page %zu is not zeros", i);
        else
            ck_assert_msg(page_matches(m, i, i % stride == 0 ? version_of_touched : 1), "page %zu wrong", i);
    }
}

/* A sweep over every stride-th page: checked and rewritten; the stats
 * before and after. */
static void sweep(tp_stack *s, char *m, size_t stride, struct tp_stats *before, struct tp_stats *after)
{
    *before = stats_of(s);
    for (size_t i = 0; i < REGION_PAGES; i += stride)
        check_and_rewrite(m, i);
    *after = stats_of(s);
}

START_TEST(sequential_sweep_is_prefetched_and_reads_back)
{
    tp_stack *s = open_prefetch_stack("on");
    char *m = map_written(s);
    struct tp_stats before, st;
    sweep(s, m, 1, &before, &st);
    uint64_t prefetched = st.prefetched_pages - before.prefetched_pages;
    uint64_t used = st.prefetch_hits - before.prefetch_hits;
    uint64_t fetched_by_faults = (st.faults - st.zero_fills) - (before.faults - before.zero_fills);
    ck_assert_uint_gt(prefetched, REGION_PAGES / 2);
    /* Only pages a tier held: the hole was answered with zeros by faults. */
    ck_assert_uint_le(used, REGION_PAGES - (HOLE_END - HOLE_FIRST));
    ck_assert_uint_eq(st.zero_fills - before.zero_fills, HOLE_END - HOLE_FIRST);
    /* Most of the sweep was served ahead of its faults. */
    ck_assert_uint_gt(used, 4 * fetched_by_faults);
    ck_assert_uint_ge(used * 10, prefetched * 8);
    check_all(m, 2, 1);
    /* Unused prefetched pages may be evicted; nothing is lost either way. */
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(tp_set_resident(s, 4 * PAGE, &err), 0);
    check_all(m, 2, 1);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(strided_sweep_is_detected)
{
    tp_stack *s = open_prefetch_stack("on");
    char *m = map_written(s);
    const size_t stride = 3;
    struct tp_stats before, st;
    sweep(s, m, stride, &before, &st);
    uint64_t prefetched = st.prefetched_pages - before.prefetched_pages;
    uint64_t used = st.prefetch_hits - before.prefetch_hits;
    ck_assert_uint_gt(prefetched, REGION_PAGES / stride / 2);
    /* Along the stride only: at least 80% of what came ahead was used. */
    ck_assert_msg(used * 10 >= prefetched * 8, "%llu of %llu prefetched pages used", (unsigned long long)used,
                  (unsigned long long)prefetched);
    check_all(m, 2, stride);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(random_access_prefetches_almost_nothing)
{
    tp_stack *s = open_prefetch_stack("on");
    char *m = map_written(s);
    struct tp_stats before = stats_of(s);
    uint32_t x = 2463534242u;
    unsigned char touched[REGION_PAGES] = {0};
    for (int n = 0; n < 3000; n++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t i = x % REGION_PAGES;
        if (in_hole(i)) {
            ck_assert(page_is_zero(m, i));
            continue;
        }
        ck_assert_msg(page_matches(m, i, touched[i] ? 2 : 1), "page %zu wrong", i);
        if (!touched[i])
            fill_page(m, i, 2);
        touched[i] = 1;
    }
    struct tp_stats st = stats_of(s);
    uint64_t faults = st.faults - before.faults;
    ck_assert_uint_gt(faults, 1000);
    ck_assert_msg((st.prefetched_pages - before.prefetched_pages) * 100 <= faults,
                  "%llu pages prefetched for %llu random faults",
                  (unsigned long long)(st.prefetched_pages - before.prefetched_pages), (unsigned long long)faults);
    for (size_t i = 0; i < REGION_PAGES; i++)
        if (!in_hole(i))
            ck_assert_msg(page_matches(m, i, touched[i] ? 2 : 1), "page %zu wrong", i);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(prefetch_off_prefetches_nothing)
{
    tp_stack *s = open_prefetch_stack("off");
    char *m = map_written(s);
    struct tp_stats before, st;
    sweep(s, m, 1, &before, &st);
    check_all(m, 2, 1);
    ck_assert_uint_eq(st.prefetched_pages, 0);
    ck_assert_uint_eq(st.prefetch_hits, 0);
    ck_assert_uint_eq(st.prefetch_wasted, 0);
    ck_assert_uint_gt(st.faults - st.zero_fills, REGION_PAGES - 64 - (HOLE_END - HOLE_FIRST));
    tp_stack_close(s);
    remove_shm();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_prefetch");
    TCase *tc = tcase_create("prefetch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sequential_sweep_is_prefetched_and_reads_back);
    tcase_add_test(tc, strided_sweep_is_detected);
    tcase_add_test(tc, random_access_prefetches_almost_nothing);
    tcase_add_test(tc, prefetch_off_prefetches_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
