/* Write-back queues and stores that are full without saying so. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_fixture.h"
#include "stack_internal.h"
#include "tierpage_private.h"
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
     * dram: each leaves a stale copy whose delete is held in the queue,
     * and is sent, or made needless by the page's next put there (the
     * queue holds 40: twice dram's 16 pages, and its own 8). */
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
    ck_assert_uint_eq(wb.stale_hold, 40);
    ck_assert_uint_gt(wb.deletes_overwritten, 0);
    ck_assert_uint_eq(wb.stale_held, 0);
    tierpage_store_usage usage;
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(s->tiers[1].ops->usage(s->tiers[1].store, &usage, &err), 0);
    ck_assert_uint_eq(usage.pages, st.tiers[1].pages); /* no stale copy left behind */
    tp_stack_close(s);
}
END_TEST

/* With the page map in a file (tierpaged's stacks), no delete is held: a
 * recovery looking for a page that was being moved must not find a stale
 * copy of it. */
START_TEST(a_map_kept_in_a_file_holds_no_delete)
{
    char yaml[1024], map_path[128];
    snprintf(yaml, sizeof yaml,
             "name: stalemap\nresident: 32KiB\ntiers:\n"
             "  - plugin: dram\n    capacity: 64KiB\n"
             "  - plugin: %s\n    pages: 100000\n    writeback_queue: 32KiB\n",
             hidden_plugin());
    tp_stack *s = open_stack(yaml);
    snprintf(map_path, sizeof map_path, "/dev/shm/tierpage-test-stalemap-%ld.map", (long)getpid());
    unlink(map_path);
    tierpage_error err = {{0}, {0}};
    ck_assert_msg(tp_private_stack_keep_map_in(s, map_path, &err) == 0, "%s", err.message);
    write_and_check(s, 256, 4);
    struct tp_writeback_stats wb;
    tp_writeback_stats(s->tiers[1].writeback, &wb);
    ck_assert_uint_gt(wb.deleted_pages, 0);
    ck_assert_uint_eq(wb.stale_hold, 0);
    tp_stack_close(s);
    unlink(map_path);
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

/* A stack over the hidden store behind a write-back queue, then dram;
 * with `keep_map`, its page map in a file, as tierpaged keeps it (puts
 * into the queue are then acknowledged before the page's other copy goes). */
static tp_stack *open_queued(const char *name, const char *options, int keep_map, char *map_path, size_t len)
{
    char yaml[1024];
    /* 64 pages and more: the evictor runs, in batches. */
    snprintf(yaml, sizeof yaml,
             "name: %s\nresident: 512KiB\ntiers:\n"
             "  - plugin: %s\n    pages: 100000\n    writeback_queue: 64KiB\n%s"
             "  - plugin: dram\n    capacity: 8MiB\n",
             name, hidden_plugin(), options);
    tp_stack *s = open_stack(yaml);
    snprintf(map_path, len, "/dev/shm/tierpage-test-%s-%ld.map", name, (long)getpid());
    unlink(map_path);
    tierpage_error err = {{0}, {0}};
    if (keep_map)
        ck_assert_msg(tp_private_stack_keep_map_in(s, map_path, &err) == 0, "%s", err.message);
    return s;
}

struct writer {
    char *mem;
    size_t pages;
    uint32_t version;
};

static void *write_pages(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < w->pages; i++)
        fill_page(w->mem, i, w->version);
    return NULL;
}

/* Pages of the region at mem whose copy waits in tier 0's queue, compared with
 * what the region's memfd holds for them: returns how many differ (a punched
 * page reads as zeros), *queued how many were compared. */
static size_t queued_unlike_memfd(tp_stack *s, char *mem, size_t pages, size_t *queued)
{
    tp_lock_take(&s->lock);
    struct tp_region *r = tp_region_find(s, mem);
    int memfd = r->file->memfd;
    uint32_t first = r->first_id;
    off_t offset = r->offset;
    tp_lock_drop(&s->lock);
    static unsigned char copy[PAGE], held[PAGE];
    size_t unlike = 0;
    *queued = 0;
    for (size_t i = 0; i < pages; i++) {
        if (tp_writeback_get(s->tiers[0].writeback, first + (uint32_t)i, copy) != 0)
            continue;
        ck_assert_int_eq(pread(memfd, held, PAGE, offset + (off_t)(i * PAGE)), PAGE);
        unlike += memcmp(copy, held, PAGE) != 0;
        ++*queued;
    }
    return unlike;
}

/* The store holds every put at a gate while a program writes more pages
 * than its resident cap: evicted pages wait in the queue. With the map in a
 * file (tierpaged), each of them must still be whole in the memfd the
 * client keeps, since a daemon killed now loses the queue; in-process
 * (run 1), the queue may hold the only copy, and the same check sees the
 * punched pages: it can tell. Then every page reads back. */
START_TEST(an_evicted_page_stays_in_its_memfd_until_its_put_is_acknowledged)
{
    int keep_map = _i == 0;
    char gate[256], options[512], map_path[256];
    snprintf(gate, sizeof gate, "/dev/shm/tierpage-test-gate-%ld", (long)getpid());
    snprintf(options, sizeof options, "    gate_file: %s\n", gate);
    tp_stack *s = open_queued("gated", options, keep_map, map_path, sizeof map_path);
    tierpage_error err = {{0}, {0}};
    size_t pages = 384;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, 1);
    for (size_t i = 0; i < pages; i++)
        ck_assert_msg(page_matches(m, i, 1), "page %zu wrong", i);

    int fd = open(gate, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct writer w = {m, pages, 2};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, write_pages, &w), 0);
    /* With the map in a file every put is waited for: an eviction batch
     * whose one written page is held at the gate stops the evictions
     * behind it, and the queue may hold no more than that page. */
    size_t want = keep_map ? 1 : 2;
    struct tp_writeback_stats st = {0};
    for (int tries = 0; tries < 10000 && st.depth_pages < want; tries++) {
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
        tp_writeback_stats(s->tiers[0].writeback, &st);
    }
    ck_assert_uint_ge(st.depth_pages, want);
    struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL); /* time for an early punch to happen */
    size_t queued, unlike = queued_unlike_memfd(s, m, pages, &queued);
    unlink(gate);
    pthread_join(t, NULL);
    ck_assert_uint_ge(queued, 1);
    if (keep_map)
        ck_assert_msg(unlike == 0, "%zu of %zu pages in the queue were freed from the memfd before the store had "
                      "them", unlike, queued);
    else
        ck_assert_msg(unlike > 0, "in-process, no page in the queue was freed: the check cannot tell");
    for (size_t i = 0; i < pages; i++)
        ck_assert_msg(page_matches(m, i, 2), "page %zu wrong after the gate opened", i);
    tp_stack_close(s);
    unlink(map_path);
}
END_TEST

/* One key the store always refuses as full, among pages evicted in
 * batches: that page goes to the next tier and reads back, as do all the
 * others, in both modes. */
START_TEST(a_put_refused_in_a_batch_keeps_its_page)
{
    int keep_map = _i == 0;
    char map_path[256];
    enum { REFUSED = 5 };
    char options[64];
    snprintf(options, sizeof options, "    refuse_key: %d\n", REFUSED);
    tp_stack *s = open_queued("refused", options, keep_map, map_path, sizeof map_path);
    tierpage_error err = {{0}, {0}};
    size_t pages = 512;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    tp_lock_take(&s->lock);
    uint32_t first = tp_region_find(s, m)->first_id;
    tp_lock_drop(&s->lock);
    ck_assert_uint_le(first, REFUSED); /* the refused key is one of these pages */
    for (uint32_t round = 1; round <= 3; round++) {
        for (size_t i = 0; i < pages; i++)
            fill_page(m, i, round);
        for (size_t i = 0; i < pages; i++)
            ck_assert_msg(page_matches(m, i, round), "page %zu wrong in round %u", i, round);
    }
    tp_stack_flush(s);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.tiers[0].full_events, 0);
    ck_assert_uint_gt(st.tiers[1].puts, 0);
    tp_stack_close(s);
    unlink(map_path);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("writeback");
    TCase *tc = tcase_create("queues");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, queued_tiers_keep_every_page);
    tcase_add_test(tc, stale_copies_are_deleted_through_the_queue);
    tcase_add_test(tc, a_map_kept_in_a_file_holds_no_delete);
    tcase_add_loop_test(tc, a_store_full_without_warning_cascades, 0, 2);
    tcase_add_test(tc, threads_with_a_queue);
    tcase_add_loop_test(tc, an_evicted_page_stays_in_its_memfd_until_its_put_is_acknowledged, 0, 2);
    tcase_add_loop_test(tc, a_put_refused_in_a_batch_keeps_its_page, 0, 2);
    tcase_add_exit_test(tc, every_tier_full_with_queues_stops_the_program, 125);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
