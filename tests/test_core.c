/* The fault resolver through the library API: every page reads back as
 * written, whatever path it took down and up the chain. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_fixture.h"

START_TEST(first_touch_is_zero_without_a_store)
{
    tp_stack *s = open_two_tier(64, 256, 1024, "clock", 1);
    tierpage_error err = {{0}, {0}};
    unsigned char *m = tp_map(s, NULL, 16 * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < 16 * PAGE; i++)
        ck_assert_uint_eq(m[i], 0);
    m[5 * PAGE] = 1; /* a write after a read fault */
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.zero_fills, 16);
    ck_assert_uint_eq(st.faults, 16);
    /* A write-protect fault, unless the kernel resolves it itself. */
    ck_assert_uint_eq(st.write_faults, strcmp(st.write_tracking, "kernel") == 0 ? 0 : 1);
    ck_assert_uint_eq(st.tiers[0].puts + st.tiers[1].puts, 0);
    ck_assert_uint_eq(st.tiers[0].hits + st.tiers[1].hits, 0);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(pages_round_trip_through_both_tiers)
{
    /* 256 pages through a 16-page resident set, a 64-page dram tier and pmem. */
    tp_stack *s = open_two_tier(64, 256, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 256;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (uint32_t round = 0; round < 3; round++) {
        for (size_t i = 0; i < pages; i++)
            fill_page(m, i, round);
        /* Newest first: the last pages evicted are still in dram. */
        for (size_t i = pages; i-- > 0;)
            ck_assert_msg(page_matches(m, i, round), "page %zu wrong in round %u", i, round);
    }
    struct tp_stats st = stats_of(s);
    ck_assert_uint_le(st.peak_resident_bytes, 64 * 1024);
    ck_assert_uint_gt(st.writebacks, 0);
    ck_assert_uint_gt(st.tiers[0].hits, 0);
    ck_assert_uint_gt(st.tiers[1].hits, 0);
    ck_assert_uint_gt(st.tiers[0].demotions, 0);
    ck_assert_uint_le(st.tiers[0].pages, 64);
    ck_assert_uint_eq(st.resident_bytes / PAGE + st.tiers[0].pages + st.tiers[1].pages >= pages, 1);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(clean_pages_are_dropped_without_a_write)
{
    tp_stack *s = open_two_tier(64, 1024, 1024, "fifo", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 64;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, 7);
    ck_assert_int_eq(tp_set_resident(s, PAGE, &err), 0);
    uint64_t puts_before = stats_of(s).tiers[0].puts;
    ck_assert_uint_eq(puts_before, pages - 1 + 0 * 1);
    ck_assert_int_eq(tp_set_resident(s, 64 * 1024, &err), 0);
    /* Read only: pages come back writable (a read is usually followed by a
     * write), and at eviction, found equal to their dram copies, are
     * dropped without a write. */
    for (size_t i = 0; i < pages; i++)
        ck_assert(page_matches(m, i, 7));
    struct tp_stats st = stats_of(s);
    ck_assert_int_eq(tp_set_resident(s, PAGE, &err), 0);
    struct tp_stats after = stats_of(s);
    ck_assert_uint_eq(after.tiers[0].puts, st.tiers[0].puts); /* nothing written */
    ck_assert_uint_gt(after.clean_drops, st.clean_drops);
    ck_assert_uint_le(after.resident_bytes, PAGE);
    for (size_t i = 0; i < pages; i++)
        ck_assert(page_matches(m, i, 7));
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(pages_written_each_residency_come_back_writable)
{
    /* Read-modify-write of every page, three rounds through a one-page
     * resident set: a page read back from dram is mapped writable, so its
     * write needs no second fault, and every write reaches the tier. The
     * last round changes one byte only. */
    tp_stack *s = open_two_tier(64, 1024, 1024, "fifo", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 32;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, 0);
    ck_assert_int_eq(tp_set_resident(s, PAGE, &err), 0);
    uint64_t write_faults = stats_of(s).write_faults;
    for (uint32_t round = 1; round <= 2; round++) {
        for (size_t i = 0; i < pages; i++) {
            ck_assert(page_matches(m, i, round - 1));
            fill_page(m, i, round);
        }
    }
    for (size_t i = 0; i < pages; i++) {
        ck_assert(page_matches(m, i, 2));
        m[i * PAGE + PAGE - 1] ^= 0x5a;
    }
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.write_faults, write_faults);
    ck_assert_uint_ge(st.tiers[0].hits, 3 * (pages - 1));
    ck_assert_int_eq(tp_set_resident(s, PAGE, &err), 0);
    for (size_t i = 0; i < pages; i++) {
        m[i * PAGE + PAGE - 1] ^= 0x5a;
        ck_assert_msg(page_matches(m, i, 2), "page %zu lost its one-byte change", i);
    }
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(read_only_zero_pages_are_never_stored)
{
    tp_stack *s = open_two_tier(16, 1024, 1024, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 128;
    volatile unsigned char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull((void *)m);
    unsigned sum = 0;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < pages; i++)
            sum += m[i * PAGE + 100];
    ck_assert_uint_eq(sum, 0);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.tiers[0].puts, 0);
    /* the second round refaults every page but the few still resident */
    ck_assert_uint_ge(st.zero_fills, 2 * pages - 4);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(a_full_tier_cascades_to_the_next)
{
    tp_stack *s = open_two_tier(16, 32, 8192, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 512;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, 1);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_le(st.tiers[0].pages, 8);
    ck_assert_uint_ge(st.tiers[1].pages, pages - 8 - 4);
    ck_assert_uint_ge(st.tiers[0].demotions, pages - 8 - 4);
    for (size_t i = 0; i < pages; i++)
        ck_assert_msg(page_matches(m, i, 1), "page %zu", i);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(every_tier_full_stops_the_program)
{
    /* 8 + 8 + 4 pages of room for 64 pages of data: the pager must stop the
     * program with an error rather than lose a page. */
    tp_stack *s = open_two_tier(16, 32, 32, "clock", 1);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, 64 * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < 64; i++)
        fill_page(m, i, 1);
    ck_abort_msg("writing more than the stack holds did not stop the program");
}
END_TEST

/* Sixteen threads on the same pages, far more than stay resident: each
 * access takes the page's lock, checks the page holds its last version and
 * writes the next; every page is checked again at the end. */
enum { SHARED_PAGES = 1024, SHARED_THREADS = 16, SHARED_ACCESSES = 1500 };
static pthread_mutex_t shared_locks[SHARED_PAGES];
static uint32_t shared_versions[SHARED_PAGES];

struct sharer {
    char *mem;
    unsigned seed;
    int bad;
};

static void *sharer_main(void *arg)
{
    struct sharer *sh = arg;
    unsigned x = sh->seed;
    for (int k = 0; k < SHARED_ACCESSES; k++) {
        x = x * 1103515245u + 12345u;
        size_t page = (x >> 8) % SHARED_PAGES;
        pthread_mutex_lock(&shared_locks[page]);
        if (!page_matches(sh->mem, page, shared_versions[page]))
            sh->bad++;
        fill_page(sh->mem, page, ++shared_versions[page]);
        pthread_mutex_unlock(&shared_locks[page]);
    }
    return NULL;
}

START_TEST(sixteen_threads_share_pages_beyond_the_resident_cap)
{
    tp_stack *s = open_two_tier(128, 8192, 8192, "clock", 2);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, SHARED_PAGES * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < SHARED_PAGES; i++) {
        pthread_mutex_init(&shared_locks[i], NULL);
        shared_versions[i] = 1;
        fill_page(m, i, 1);
    }
    struct sharer sh[SHARED_THREADS];
    pthread_t t[SHARED_THREADS];
    for (unsigned i = 0; i < SHARED_THREADS; i++) {
        sh[i] = (struct sharer){m, 7919u * (i + 1), 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, sharer_main, &sh[i]), 0);
    }
    for (unsigned i = 0; i < SHARED_THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(sh[i].bad == 0, "thread %u read %d pages not as last written", i, sh[i].bad);
    }
    for (size_t i = 0; i < SHARED_PAGES; i++)
        ck_assert_msg(page_matches(m, i, shared_versions[i]), "page %zu", i);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.faults - st.zero_fills, SHARED_THREADS * SHARED_ACCESSES / 2);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(threads_fault_concurrently)
{
    tp_stack *s = open_two_tier(128, 512, 8192, "clock", 3);
    tierpage_error err = {{0}, {0}};
    size_t pages = 1024;
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    write_from_threads(m, pages, 3);
    for (size_t i = 0; i < pages; i++)
        ck_assert(page_matches(m, i, 3));
    tp_stack_close(s);
    remove_shm();
}
END_TEST

struct reader {
    volatile uint64_t *word;
    uint64_t expect;
    pthread_barrier_t *go;
    int ok;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    pthread_barrier_wait(r->go);
    r->ok = *r->word == r->expect;
    return NULL;
}

START_TEST(concurrent_faults_on_one_page_are_served_once)
{
    tp_stack *s = open_two_tier(64, 1024, 1024, "clock", 2);
    tierpage_error err = {{0}, {0}};
    uint64_t *m = tp_map(s, NULL, 4 * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (int round = 0; round < 20; round++) {
        m[0] = 1000 + (uint64_t)round;
        /* Page 0 out. The fault that brought it in may still hold it after
         * the program went on (the page is let go of after it is mapped),
         * so a fault on another page could not evict it yet; demoting the
         * region waits for it. */
        ck_assert_int_eq(tp_demote_region(s, m, "dram", &err), 0);
        ck_assert_uint_eq(stats_of(s).resident_bytes, 0);
        uint64_t faults = stats_of(s).faults;
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 4);
        struct reader r[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            r[i] = (struct reader){m, 1000 + (uint64_t)round, &go, 0};
            pthread_create(&t[i], NULL, reader_main, &r[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            ck_assert(r[i].ok);
        }
        pthread_barrier_destroy(&go);
        ck_assert_uint_eq(stats_of(s).faults, faults + 1);
    }
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(shrinking_the_cap_evicts_at_once)
{
    tp_stack *s = open_two_tier(1024, 4096, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, 256 * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < 256; i++)
        fill_page(m, i, 2);
    ck_assert_uint_ge(stats_of(s).resident_bytes, 240 * PAGE); /* the evictor keeps a little room free */
    ck_assert_int_eq(tp_set_resident(s, 8 * PAGE, &err), 0);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_le(st.resident_bytes, 8 * PAGE);
    ck_assert_uint_eq(st.resident_cap_bytes, 8 * PAGE);
    for (size_t i = 0; i < 256; i++)
        ck_assert(page_matches(m, i, 2));
    ck_assert_uint_le(stats_of(s).peak_resident_bytes, 256 * PAGE);
    ck_assert_int_lt(tp_set_resident(s, 100, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.message, "at least one page"));
    tp_stack_close(s);
    remove_shm();
}
END_TEST

struct toucher {
    char *m;
    size_t pages;
    atomic_int stop;
    int bad;
};

/* Writes and reads back pages of the region over and over. */
static void *toucher_main(void *arg)
{
    struct toucher *t = arg;
    for (uint32_t round = 1; !atomic_load(&t->stop); round++)
        for (size_t i = 0; i < t->pages; i++) {
            fill_page(t->m, i, round);
            t->bad += !page_matches(t->m, i, round);
        }
    return NULL;
}

START_TEST(demote_while_the_program_touches_the_region)
{
    /* Pages the demote evicts are faulted back in by the program while the
     * demote goes on; it must move only pages no fault holds. */
    tp_stack *s = open_two_tier(64, 1024, 4096, "clock", 2);
    tierpage_error err = {{0}, {0}};
    struct toucher t = {tp_map(s, NULL, 32 * PAGE, &err), 32, 0, 0};
    ck_assert_ptr_nonnull(t.m);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, toucher_main, &t), 0);
    for (int i = 0; i < 200; i++)
        ck_assert_msg(tp_demote_region(s, t.m, i % 2 ? "pmem" : "dram", &err) == 0, "%s", err.message);
    atomic_store(&t.stop, 1);
    pthread_join(thread, NULL);
    ck_assert_int_eq(t.bad, 0);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(demote_moves_a_region_to_the_named_tier)
{
    tp_stack *s = open_two_tier(256, 1024, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, 128 * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < 128; i++)
        fill_page(m, i, 4);
    ck_assert_int_eq(tp_demote_region(s, m + PAGE, "pmem", &err), 0);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.tiers[1].pages, 128);
    ck_assert_uint_eq(st.tiers[0].pages, 0);
    ck_assert_uint_eq(st.resident_bytes, 0);
    for (size_t i = 0; i < 128; i++)
        ck_assert(page_matches(m, i, 4));
    st = stats_of(s);
    /* Each page from pmem, by a fault or fetched ahead of one and not
     * evicted unused (a page mapped ahead and only read is counted used
     * only once the program is seen past it, or at its eviction). */
    ck_assert_uint_eq(st.tiers[1].hits + st.prefetched_pages - st.prefetch_wasted, 128);
    ck_assert_uint_le(st.prefetch_hits, st.prefetched_pages);
    ck_assert_int_lt(tp_demote_region(s, m, "nvme", &err), 0);
    ck_assert_ptr_nonnull(strstr(err.message, "no tier named 'nvme'"));
    int local;
    ck_assert_int_lt(tp_demote_region(s, &local, "pmem", &err), 0);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

/* `pages` pages mapped and filled with version `round`. */
static char *map_filled(tp_stack *s, size_t pages, uint32_t round)
{
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, round);
    return m;
}

/* Everything was unmapped: nothing is left mapped, resident or stored. */
static void assert_nothing_left(tp_stack *s)
{
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.mapped_bytes, 0);
    ck_assert_uint_eq(st.tiers[0].pages + st.tiers[1].pages, 0);
    ck_assert_uint_eq(st.resident_bytes, 0);
}

START_TEST(discard_and_partial_unmap)
{
    tp_stack *s = open_two_tier(32, 1024, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 64;
    char *m = map_filled(s, pages, 5);
    ck_assert_int_eq(tp_discard(s, m + 8 * PAGE, 8 * PAGE, &err), 0);
    for (size_t i = 8; i < 16; i++)
        for (size_t k = 0; k < PAGE; k++)
            ck_assert_int_eq(m[i * PAGE + k], 0);
    ck_assert_int_eq(tp_unmap(s, m + 32 * PAGE, 16 * PAGE, &err), 0);
    ck_assert(tp_owns(s, m));
    for (size_t i = 0; i < pages; i++)
        if ((i < 8 || i >= 16) && (i < 32 || i >= 48))
            ck_assert_msg(page_matches(m, i, 5), "page %zu", i);
    ck_assert_int_eq(tp_unmap(s, m, 32 * PAGE, &err), 0);
    ck_assert_int_eq(tp_unmap(s, m + 48 * PAGE, 16 * PAGE, &err), 0);
    ck_assert(!tp_owns(s, m));
    assert_nothing_left(s);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(mapping_into_a_hole_or_over_served_pages)
{
    tp_stack *s = open_two_tier(32, 1024, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t pages = 64;
    char *m = map_filled(s, pages, 5);
    /* The middle goes: the region is split in two pieces. */
    ck_assert_int_eq(tp_unmap(s, m + 16 * PAGE, 16 * PAGE, &err), 0);
    void *start;
    size_t length;
    ck_assert(!tp_owns(s, m + 16 * PAGE));
    ck_assert_int_eq(tp_region_bounds(s, m, &start, &length), 0);
    ck_assert_ptr_eq(start, m);
    ck_assert_uint_eq(length, 16 * PAGE);
    ck_assert_int_eq(tp_region_bounds(s, m + 40 * PAGE, &start, &length), 0);
    ck_assert_ptr_eq(start, m + 32 * PAGE);
    ck_assert_uint_eq(length, 32 * PAGE);
    /* Fresh memory into the hole, then over live served pages. */
    ck_assert_ptr_eq(tp_map(s, m + 16 * PAGE, 16 * PAGE, &err), m + 16 * PAGE);
    ck_assert_ptr_eq(tp_map(s, m + 40 * PAGE, 8 * PAGE, &err), m + 40 * PAGE);
    for (size_t i = 16; i < 32; i++)
        ck_assert_msg(m[i * PAGE] == 0 && m[i * PAGE + PAGE - 1] == 0, "page %zu in the hole", i);
    for (size_t i = 40; i < 48; i++)
        ck_assert_msg(m[i * PAGE] == 0 && m[i * PAGE + PAGE - 1] == 0, "page %zu mapped over", i);
    for (size_t i = 16; i < 32; i++)
        fill_page(m, i, 6);
    for (size_t i = 40; i < 48; i++)
        fill_page(m, i, 7);
    for (size_t i = 0; i < pages; i++) {
        unsigned round = i >= 16 && i < 32 ? 6 : i >= 40 && i < 48 ? 7 : 5;
        ck_assert_msg(page_matches(m, i, round), "page %zu", i);
    }
    ck_assert_uint_eq(stats_of(s).mapped_bytes, pages * PAGE);
    ck_assert_int_eq(tp_unmap(s, m, pages * PAGE, &err), 0);
    ck_assert(!tp_owns(s, m) && !tp_owns(s, m + 20 * PAGE) && !tp_owns(s, m + 63 * PAGE));
    assert_nothing_left(s);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(locked_pages_stay_resident)
{
    tp_stack *s = open_two_tier(256, 1024, 4096, "clock", 1); /* a 64-page cap */
    tierpage_error err = {{0}, {0}};
    size_t pages = 256;
    char *m = map_filled(s, pages, 8);
    ck_assert_int_eq(tp_lock(s, m, 16 * PAGE, 1, &err), 0);
    for (size_t i = 0; i < 16; i++)
        ck_assert(page_matches(m, i, 8)); /* brought in, and held */
    for (size_t round = 9; round < 11; round++)
        for (size_t i = 16; i < pages; i++)
            fill_page(m, i, (uint32_t)round);
    unsigned char vec[16];
    ck_assert_int_eq(mincore(m, 16 * PAGE, vec), 0);
    for (size_t i = 0; i < 16; i++)
        ck_assert_msg(vec[i] & 1, "locked page %zu was evicted", i);
    ck_assert_int_eq(tp_lock(s, m, pages * PAGE, 1, &err), -ENOMEM);
    ck_assert_ptr_nonnull(strstr(err.message, "resident cap"));
    ck_assert_int_eq(tp_set_resident(s, 16 * PAGE, &err), -EBUSY);
    ck_assert_int_eq(tp_lock(s, m, 16 * PAGE, 0, &err), 0);
    ck_assert_int_eq(tp_set_resident(s, 16 * PAGE, &err), 0);
    for (size_t i = 0; i < pages; i++)
        ck_assert_msg(page_matches(m, i, i < 16 ? 8 : 10), "page %zu", i);
    ck_assert_int_eq(tp_unmap(s, m, pages * PAGE, &err), 0);
    assert_nothing_left(s);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(metadata_grows_with_pages_touched_not_with_the_mapping)
{
    tp_stack *s = open_two_tier(256, 4096, 4096, "clock", 1);
    tierpage_error err = {{0}, {0}};
    size_t len = (size_t)1 << 40, pages = len / PAGE;
    char *m = tp_map(s, NULL, len, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    struct tp_stats st = stats_of(s);
    ck_assert_uint_eq(st.mapped_bytes, len);
    ck_assert_uint_eq(st.metadata_bytes, 0);
    /* 512 pages in a run, then 256 lone pages across the terabyte. */
    enum { RUN = 512, LONE = 256 };
    for (size_t i = 0; i < RUN; i++)
        fill_page(m, i, 3);
    for (size_t k = 1; k <= LONE; k++)
        fill_page(m, k * (pages / (LONE + 1)), 4);
    for (size_t i = 0; i < RUN; i++)
        ck_assert_msg(page_matches(m, i, 3), "page %zu", i);
    for (size_t k = 1; k <= LONE; k++)
        ck_assert_msg(page_matches(m, k * (pages / (LONE + 1)), 4), "lone page %zu", k);
    st = stats_of(s);
    /* Pages in runs: 32 bytes each at most; a lone page: its chunk of 16
     * pages (280 bytes) and its share of the table (16-byte slots, at
     * least a quarter in use): 344 bytes. */
    ck_assert_uint_le(st.metadata_bytes, 32 * RUN + LONE * 344);
    ck_assert_int_eq(tp_unmap(s, m, len, &err), 0);
    assert_nothing_left(s);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(fixed_address_mapping)
{
    tp_stack *s = open_two_tier(64, 1024, 1024, "clock", 1);
    tierpage_error err = {{0}, {0}};
    char *want = mmap(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(want, MAP_FAILED);
    char *m = tp_map(s, want, 8 * PAGE, &err);
    ck_assert_ptr_eq(m, want);
    fill_page(m, 3, 9);
    ck_assert(page_matches(m, 3, 9));
    tp_stack_close(s);
    remove_shm();
}
END_TEST

START_TEST(pages_left_by_an_earlier_run_are_cleared)
{
    /* A run that ends without closing its stack leaves pages in pmem; the
     * next run must start with the whole capacity, not fill up on them. */
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: test\nresident: 16KiB\ntiers:\n  - plugin: dram\n    capacity: 16KiB\n"
             "  - plugin: pmem\n    path: %s\n    capacity: 512KiB\n", shm_path("earlier-run"));
    for (int run = 0; run < 3; run++) {
        pid_t pid = fork();
        if (pid == 0) {
            tierpage_error err = {{0}, {0}};
            tp_stack *s = tp_stack_open_string(yaml, "test", &err);
            if (!s)
                _exit(3);
            char *m = tp_map(s, NULL, 100 * PAGE, &err);
            for (size_t i = 0; i < 100; i++)
                fill_page(m, i, (uint32_t)run);
            for (size_t i = 0; i < 100; i++)
                if (!page_matches(m, i, (uint32_t)run))
                    _exit(4);
            _exit(stats_of(s).tiers[1].pages >= 90 ? 0 : 5);
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run %d ended with status 0x%x", run, st);
    }
    remove_shm();
}
END_TEST

START_TEST(open_errors_name_the_place)
{
    tierpage_error err = {{0}, {0}};
    ck_assert_ptr_null(tp_stack_open_string("name: x\nresident: 1MiB\ntiers:\n  - plugin: nosuch\n", "s.yaml", &err));
    ck_assert_msg(strstr(err.message, "s.yaml:4:13") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "nosuch") != NULL, "%s", err.message);
    ck_assert_ptr_null(tp_stack_open_string("name: x\nresident: 1MiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n"
                                            "    colour: blue\n",
                                            "s.yaml", &err));
    ck_assert_msg(strstr(err.message, "s.yaml:6:5") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "colour") != NULL, "%s", err.message);
    ck_assert_ptr_null(tp_stack_open_file("/nonexistent/stack.yaml", &err));
    ck_assert_msg(strstr(err.message, "/nonexistent/stack.yaml") != NULL, "%s", err.message);
}
END_TEST

Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("data path");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, first_touch_is_zero_without_a_store);
    tcase_add_test(tc, pages_round_trip_through_both_tiers);
    tcase_add_test(tc, clean_pages_are_dropped_without_a_write);
    tcase_add_test(tc, pages_written_each_residency_come_back_writable);
    tcase_add_test(tc, read_only_zero_pages_are_never_stored);
    tcase_add_test(tc, a_full_tier_cascades_to_the_next);
    tcase_add_exit_test(tc, every_tier_full_stops_the_program, 125);
    tcase_add_test(tc, threads_fault_concurrently);
    tcase_add_test(tc, sixteen_threads_share_pages_beyond_the_resident_cap);
    tcase_add_test(tc, concurrent_faults_on_one_page_are_served_once);
    tcase_add_test(tc, shrinking_the_cap_evicts_at_once);
    tcase_add_test(tc, demote_moves_a_region_to_the_named_tier);
    tcase_add_test(tc, demote_while_the_program_touches_the_region);
    tcase_add_test(tc, discard_and_partial_unmap);
    tcase_add_test(tc, mapping_into_a_hole_or_over_served_pages);
    tcase_add_test(tc, locked_pages_stay_resident);
    tcase_add_test(tc, metadata_grows_with_pages_touched_not_with_the_mapping);
    tcase_add_test(tc, fixed_address_mapping);
    tcase_add_test(tc, pages_left_by_an_earlier_run_are_cleared);
    tcase_add_test(tc, open_errors_name_the_place);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
