/* Write-back queues and stores that are full without saying so. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"
#include "stack_internal.h"
#include "writeback.h"

static const char *hidden_plugin(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/hidden.so", getenv("TIERPAGE_BUILD_DIR"));
    return path;
}

static void write_and_check(tp_stack *s, size_t pages, uint32_t rounds)
{
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (uint32_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < pages; i++)
            fill_page(m, i, r);
        for (size_t i = 0; i < pages; i++)
            ck_assert_msg(page_matches(m, i, r), "page %zu wrong in round %u", i, r);
    }
}

START_TEST(queued_tiers_keep_every_page)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: wb\nresident: 32KiB\ntiers:\n"
             "  - plugin: dram\n    capacity: 128KiB\n    writeback_queue: 16KiB\n"
             "  - plugin: pmem\n    path: %s\n    capacity: 8MiB\n    writeback_queue: 64KiB\n",
             shm_path("wb"));
    tp_stack *s = open_stack(yaml);
    write_and_check(s, 512, 3);
    tp_stack_flush(s);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.tiers[0].puts, 0);
    ck_assert_uint_gt(st.tiers[1].puts, 0);
    ck_assert_uint_gt(st.tiers[1].hits, 0);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(stale_copies_are_deleted_through_the_queue)
{
    /* Pages come back from the queued tier, are written, and go down into
     * dram: each leaves a stale copy whose delete waits in the queue (or is
     * replaced by the page's next put there). */
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: stale\nresident: 32KiB\ntiers:\n"
             "  - plugin: dram\n    capacity: 64KiB\n"
             "  - plugin: %s\n    pages: 100000\n    writeback_queue: 32KiB\n",
             hidden_plugin());
    tp_stack *s = open_stack(yaml);
    write_and_check(s, 256, 4);
    tp_stack_flush(s);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.tiers[1].hits, 0);
    struct tp_writeback_stats wb;
    tp_writeback_stats(s->tiers[1].writeback, &wb);
    ck_assert_uint_gt(wb.deleted_pages, 0);
    tierpage_store_usage usage;
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(s->tiers[1].ops->usage(s->tiers[1].store, &usage, &err), 0);
    ck_assert_uint_eq(usage.pages, st.tiers[1].pages); /* no stale copy left behind */
    tp_stack_close(s);
}
END_TEST

START_TEST(a_store_full_without_warning_cascades)
{
    /* The core thinks the hidden tier unbounded: it learns from -ENOSPC. */
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: full\nresident: 32KiB\ntiers:\n"
             "  - plugin: %s\n    pages: 40\n%s"
             "  - plugin: dram\n    capacity: 8MiB\n",
             hidden_plugin(), _i == 0 ? "" : "    writeback_queue: 32KiB\n");
    tp_stack *s = open_stack(yaml);
    write_and_check(s, 256, 2);
    tp_stack_flush(s);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.tiers[0].full_events, 0);
    ck_assert_uint_gt(st.tiers[1].puts, 0);
    ck_assert_uint_le(st.tiers[0].pages, 40);
    tp_stack_close(s);
}
END_TEST

START_TEST(threads_with_a_queue)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: wbt\nresident: 64KiB\nhandler_threads: 3\ntiers:\n"
             "  - plugin: %s\n    pages: 100\n    writeback_queue: 8KiB\n"
             "  - plugin: pmem\n    path: %s\n    capacity: 8MiB\n    writeback_queue: 32KiB\n",
             hidden_plugin(), shm_path("wbt"));
    tp_stack *s = open_stack(yaml);
    tierpage_error err = {{0}, {0}};
    size_t pages = 512;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    write_from_threads(m, pages, 4);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(every_tier_full_with_queues_stops_the_program)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: nofit\nresident: 16KiB\ntiers:\n"
             "  - plugin: %s\n    pages: 8\n    writeback_queue: 8KiB\n"
             "  - plugin: %s\n    name: second\n    pages: 8\n    writeback_queue: 8KiB\n",
             hidden_plugin(), hidden_plugin());
    tp_stack *s = open_stack(yaml);
    write_and_check(s, 64, 1);
    tp_stack_flush(s);
    ck_abort_msg("64 pages fit in 4 + 8 + 8");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("writeback");
    TCase *tc = tcase_create("queues");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, queued_tiers_keep_every_page);
    tcase_add_test(tc, stale_copies_are_deleted_through_the_queue);
    tcase_add_loop_test(tc, a_store_full_without_warning_cascades, 0, 2);
    tcase_add_test(tc, threads_with_a_queue);
    tcase_add_exit_test(tc, every_tier_full_with_queues_stops_the_program, 125);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
