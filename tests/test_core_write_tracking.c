/* Write tracking by the kernel (write_tracking.h) through the library
 * API, beside write faults, with a dram tier and a real memcached: a page
 * written after it was fetched from a tier comes back written after its
 * eviction, a page only read is dropped without a put, and no write fault
 * reaches a handler (a remote tier's page is tracked by the kernel, or
 * without it compared with its digest; a local tier's compared with its
 * copy). Needs root and memcached
 * (tests/fixtures/memcached_servers.sh starts one on a free port). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core_fixture.h"

enum { PAGES = 96 };

static char mc_dir[256];
static char mc_server[64];
static char mc_error[256];

static const char *fixture_script(void)
{
    static char path[4096];
    const char *src = getenv("TIERPAGE_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/memcached_servers.sh", src && *src ? src : ".");
    return path;
}

static void start_memcached(void)
{
    snprintf(mc_dir, sizeof mc_dir, "/tmp/tierpage-wt-mc.%d", (int)getpid());
    char cmd[8192], line[64] = "";
    snprintf(cmd, sizeof cmd, "bash '%s' start '%s' 1 64", fixture_script(), mc_dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p) || pclose(p) != 0) {
        snprintf(mc_error, sizeof mc_error, "the fixture could not start memcached (%.180s)", fixture_script());
        return;
    }
    line[strcspn(line, "\n")] = '\0';
    snprintf(mc_server, sizeof mc_server, "127.0.0.1:%.8s", line);
}

static void stop_memcached(void)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "bash '%s' stop '%s'", fixture_script(), mc_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_core_write_tracking: stopping memcached failed\n");
}

/* A stack with one tier, `dram` or `memcached`, the scheme asked for,
 * and the policy (prefetch off with "clock-alone"). */
static tp_stack *open_with(const char *tier, const char *tracking, const char *policy)
{
    const char *prefetch = strcmp(policy, "clock-alone") == 0 ? "off" : "on";
    if (strcmp(policy, "clock-alone") == 0)
        policy = "clock";
    char yaml[1024];
    if (strcmp(tier, "memcached") == 0) {
        ck_assert_msg(mc_server[0], "%s", mc_error);
        snprintf(yaml, sizeof yaml,
                 "name: wt\nresident: %uKiB\npolicy: %s\nprefetch: %s\nwrite_tracking: %s\n"
                 "tiers:\n  - plugin: memcached\n    servers: [%s]\n",
                 PAGES * PAGE / 1024, policy, prefetch, tracking, mc_server);
    } else {
        snprintf(yaml, sizeof yaml,
                 "name: wt\nresident: %uKiB\npolicy: %s\nprefetch: %s\nwrite_tracking: %s\n"
                 "tiers:\n  - plugin: dram\n    capacity: %uKiB\n",
                 PAGES * PAGE / 1024, policy, prefetch, tracking, 2 * PAGES * PAGE / 1024);
    }
    return open_stack(yaml);
}

/* The page the first eviction left resident, never stored (PAGES for
 * none): most often the last one written (fifo), but the evictor is at
 * work as the last pages are written, and the shrink to one page can find
 * its batch under way: another page is then left, or none. */
static size_t left_resident = PAGES;

/* A third of the pages, and the one never stored, which is then written
 * like the others. */
static int written_in_round_2(size_t i)
{
    return i % 3 == 0 || i == left_resident;
}

/* The page of m the stack holds resident, if any (PAGES for none). */
static size_t the_resident_page(const char *m)
{
    unsigned char in_core[PAGES];
    ck_assert_int_eq(mincore((void *)m, PAGES * PAGE, in_core), 0);
    size_t found = PAGES, count = 0;
    for (size_t i = 0; i < PAGES; i++)
        if (in_core[i] & 1) {
            found = i;
            count++;
        }
    ck_assert_uint_le(count, 1);
    return found;
}

static void set_resident(tp_stack *s, size_t pages)
{
    tierpage_error err = {{0}, {0}};
    ck_assert_msg(tp_set_resident(s, pages * PAGE, &err) == 0, "%s", err.message);
    tp_stack_flush(s);
}

/* Every page written (version 1) and sent to the tier, but perhaps one;
 * then room to spare, so that reading them back fetches each and evicts
 * none (the evictor stays asleep). */
static char *map_and_send_to_tier(tp_stack *s)
{
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < PAGES; i++)
        fill_page(m, i, 1);
    set_resident(s, 1);
    left_resident = the_resident_page(m);
    set_resident(s, 4 * PAGES);
    return m;
}

/* Every page sent to the tier, then read back (a fetch: mapped
 * write-protected, or writable where compared at eviction), a third of
 * them written again (version 2). */
static char *fetch_then_write_some(tp_stack *s)
{
    char *m = map_and_send_to_tier(s);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(page_matches(m, i, 1), "page %zu", i);
    for (size_t i = 0; i < PAGES; i++)
        if (written_in_round_2(i))
            fill_page(m, i, 2);
    return m;
}

/* Newest first: the pages still resident after an eviction are read
 * before a fault evicts them. */
static void check_all(const char *m)
{
    for (size_t i = PAGES; i-- > 0;)
        ck_assert_msg(page_matches(m, i, written_in_round_2(i) ? 2 : 1), "page %zu lost its %s", i,
                      written_in_round_2(i) ? "write" : "content");
}

/* Every page but one evicted: exactly the `written` pages put (the one
 * left resident may be one of them), every other dropped clean. Returns
 * the stats after. */
static struct tp_stats evict_expecting_puts(tp_stack *s, size_t written, struct tp_stats *before)
{
    *before = stats_of(s);
    set_resident(s, 1);
    struct tp_stats after = stats_of(s);
    uint64_t puts = after.tiers[0].puts - before->tiers[0].puts;
    uint64_t drops = after.clean_drops - before->clean_drops;
    ck_assert_uint_le(puts, written);
    ck_assert_uint_ge(puts + 1, written);
    ck_assert_uint_eq(puts + drops + 1, PAGES);
    return after;
}

/* The scenario on one stack: the written pages are put, exactly those
 * (the one page the last eviction leaves resident aside), the others
 * dropped clean; every page reads back as last written. */
static void written_pages_are_put_and_read_ones_dropped(const char *tier, const char *tracking)
{
    tp_stack *s = open_with(tier, tracking, "fifo");
    struct tp_stats st = stats_of(s);
    int kernel = strcmp(st.write_tracking, "kernel") == 0;
    ck_assert_msg(kernel == (strcmp(tracking, "faults") != 0), "write tracking: %s", st.write_tracking);
    char *m = fetch_then_write_some(s);
    size_t written = 0;
    for (size_t i = 0; i < PAGES; i++)
        written += (size_t)written_in_round_2(i);

    struct tp_stats before;
    struct tp_stats after = evict_expecting_puts(s, written, &before);
    uint64_t puts = after.tiers[0].puts - before.tiers[0].puts;
    if (kernel && strcmp(tier, "memcached") == 0) {
        /* Found by PAGEMAP_SCAN: all but the page never stored, resident
         * since its first write (DIRTY). */
        ck_assert_uint_eq(after.write_faults, 0);
        uint64_t found = after.kernel_written - before.kernel_written;
        ck_assert_uint_le(found, puts);
        ck_assert_uint_ge(found + 1, puts);
    } else if (kernel) {
        /* A local tier's page was mapped writable and compared. */
        ck_assert_uint_eq(after.write_faults, 0);
        ck_assert_uint_eq(after.kernel_written, 0);
    } else {
        /* Mapped writable, compared at eviction: a local tier's page with
         * its copy, a remote tier's with the digest of what it was mapped
         * with. No first write is a round trip to a handler. */
        ck_assert_uint_eq(after.write_faults, 0);
        ck_assert_uint_eq(after.kernel_written, 0);
    }
    check_all(m);
    tp_stack_close(s);
}

START_TEST(dram_kernel_tracking_is_exact)
{
    written_pages_are_put_and_read_ones_dropped("dram", "kernel");
}
END_TEST

START_TEST(dram_write_faults_are_exact)
{
    written_pages_are_put_and_read_ones_dropped("dram", "faults");
}
END_TEST

START_TEST(memcached_kernel_tracking_is_exact)
{
    written_pages_are_put_and_read_ones_dropped("memcached", "kernel");
}
END_TEST

START_TEST(memcached_write_faults_are_exact)
{
    written_pages_are_put_and_read_ones_dropped("memcached", "faults");
}
END_TEST

/* Without the kernel's tracking a remote tier's page is mapped writable
 * as it is read back, and compared at eviction with the digest of what it
 * was mapped with: written again with the same bytes, it is dropped as
 * clean (its tier's copy is the same); one byte changed, it is put. */
START_TEST(a_remote_page_is_compared_with_its_digest)
{
    tp_stack *s = open_with("memcached", "faults", "fifo");
    char *m = map_and_send_to_tier(s);
    size_t changed = 0;
    for (size_t i = 0; i < PAGES; i++) {
        ck_assert_msg(page_matches(m, i, 1), "page %zu", i);
        if (i % 3 == 1) {
            fill_page(m, i, 1);
        } else if (i % 3 == 2) {
            m[i * PAGE + (i * 131) % PAGE] ^= 0x01;
            changed++;
        }
    }
    /* The page never stored is put whatever was written to it. */
    size_t put = changed + (left_resident < PAGES && left_resident % 3 != 2);
    struct tp_stats before;
    ck_assert_uint_eq(evict_expecting_puts(s, put, &before).write_faults, 0);
    for (size_t i = PAGES; i-- > 0;) {
        if (i % 3 == 2)
            m[i * PAGE + (i * 131) % PAGE] ^= 0x01;
        ck_assert_msg(page_matches(m, i, 1), "page %zu %s", i, i % 3 == 2 ? "lost its one-byte change" : "changed");
    }
    tp_stack_close(s);
}
END_TEST

/* Clock unmaps resident pages to see their use; a page written before
 * that, mapped back write-protected by its next minor fault, would read
 * as unwritten at eviction: the pager asks the kernel before it maps it.
 * (Without prefetch, which would bring pages in ahead of those faults.) */
START_TEST(a_write_before_a_reference_check_is_kept)
{
    tp_stack *s = open_with("memcached", "kernel", "clock-alone");
    char *m = fetch_then_write_some(s);
    set_resident(s, PAGES);
    set_resident(s, PAGES * 3 / 4); /* the hand unmaps every page to check it, then evicts */
    check_all(m);                   /* minor faults map the checked pages back */
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.minor_faults, 0);
    ck_assert_uint_gt(st.kernel_written, 0);
    set_resident(s, 1);
    check_all(m);
    ck_assert_uint_eq(stats_of(s).write_faults, 0);
    tp_stack_close(s);
}
END_TEST

/* Pages written, evicted and read again many times through a small
 * resident set with prefetch on: sequential sweeps, the kernel's tracking. */
START_TEST(sweeps_with_prefetch_keep_every_write)
{
    tp_stack *s = open_with("dram", "kernel", "clock");
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    set_resident(s, PAGES / 4);
    for (uint32_t round = 0; round < 6; round++) {
        for (size_t i = 0; i < PAGES; i++) {
            if (round == 0 || (i + round) % 4 == 0)
                fill_page(m, i, round);
        }
        for (size_t i = 0; i < PAGES; i++) {
            uint32_t last = round;
            while (last > 0 && (i + last) % 4 != 0)
                last--;
            ck_assert_msg(page_matches(m, i, last), "page %zu in round %u", i, round);
        }
    }
    struct tp_stats st = stats_of(s);
    ck_assert_uint_gt(st.prefetched_pages, 0);
    ck_assert_uint_gt(st.clean_drops, 0);
    ck_assert_uint_eq(st.write_faults, 0);
    tp_stack_close(s);
}
END_TEST

START_TEST(a_bad_override_is_refused_by_name)
{
    setenv("TIERPAGE_WRITE_TRACKING", "dirty-bits", 1);
    tierpage_error err = {{0}, {0}};
    tp_stack *s = tp_stack_open_string("name: wt\nresident: 64KiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n", "t", &err);
    unsetenv("TIERPAGE_WRITE_TRACKING");
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, "TIERPAGE_WRITE_TRACKING") && strstr(err.message, "dirty-bits"), "%s",
                  err.message);
}
END_TEST

int main(void)
{
    start_memcached();
    Suite *suite = suite_create("core_write_tracking");
    TCase *tc = tcase_create("write_tracking");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dram_kernel_tracking_is_exact);
    tcase_add_test(tc, dram_write_faults_are_exact);
    tcase_add_test(tc, memcached_kernel_tracking_is_exact);
    tcase_add_test(tc, memcached_write_faults_are_exact);
    tcase_add_test(tc, a_remote_page_is_compared_with_its_digest);
    tcase_add_test(tc, a_write_before_a_reference_check_is_kept);
    tcase_add_test(tc, sweeps_with_prefetch_keep_every_write);
    tcase_add_test(tc, a_bad_override_is_refused_by_name);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    stop_memcached();
    return failed ? 1 : 0;
}
