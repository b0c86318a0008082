/* The clock policy keeps a skewed workload's hot pages better than FIFO. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "core_fixture.h"
#include "page_map.h"

/* Zipf-distributed page numbers (theta 0.99) from a fixed seed. */
static size_t *zipf_sequence(size_t pages, size_t count)
{
    double *cdf = malloc(pages * sizeof *cdf);
    double sum = 0;
    for (size_t i = 0; i < pages; i++)
        sum += 1.0 / pow((double)(i + 1), 0.99);
    double acc = 0;
    for (size_t i = 0; i < pages; i++) {
        acc += 1.0 / pow((double)(i + 1), 0.99) / sum;
        cdf[i] = acc;
    }
    size_t *seq = malloc(count * sizeof *seq);
    unsigned seed = 42;
    for (size_t k = 0; k < count; k++) {
        double u = (double)rand_r(&seed) / RAND_MAX;
        size_t lo = 0, hi = pages - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        seq[k] = (lo * 2654435761u) % pages; /* scatter ranks over the region */
    }
    free(cdf);
    return seq;
}

static uint64_t faults_for(const char *policy, const size_t *seq, size_t pages, size_t count)
{
    tp_stack *s = open_two_tier(pages * 4 / 4 /* KiB: a quarter of the pages */, 64 * 1024, 64 * 1024, policy, 1);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, pages * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < pages; i++)
        fill_page(m, i, 0);
    uint64_t before = stats_of(s).faults;
    for (size_t k = 0; k < count; k++)
        ck_assert(page_matches(m, seq[k], 0));
    uint64_t faults = stats_of(s).faults - before;
    tp_stack_close(s);
    remove_shm();
    return faults;
}

START_TEST(clock_beats_fifo_on_zipf)
{
    size_t pages = 4096, count = 40000;
    size_t *seq = zipf_sequence(pages, count);
    uint64_t fifo = faults_for("fifo", seq, pages, count);
    uint64_t clock = faults_for("clock", seq, pages, count);
    free(seq);
    ck_assert_msg(clock < fifo * 9 / 10, "clock faults %llu, fifo faults %llu", (unsigned long long)clock,
                  (unsigned long long)fifo);
}
END_TEST

START_TEST(hot_pages_are_checked_less_often)
{
    /* 8 hot pages read before each of 2000 cold pages is written once,
     * through a 32-page resident set (no background evictor below 64
     * pages, so the run is the same every time). The hot pages stay
     * resident; each time the hand unmaps one to see whether it is still in
     * use, its next read is a minor fault. A hot page found in use is passed
     * over TP_HEAT_MAX times before it is checked again. */
    enum { HOT = 8, COLD = 2000 };
    tp_stack *s = open_two_tier(32 * PAGE / 1024, 16 * 1024, 16 * 1024, "clock", 1);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, (HOT + COLD) * PAGE, &err);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < HOT; i++)
        fill_page(m, i, 1);
    for (size_t k = 0; k < COLD; k++) {
        for (size_t i = 0; i < HOT; i++)
            ck_assert(page_matches(m, i, 1));
        fill_page(m, HOT + k, 1);
    }
    struct tp_stats st = stats_of(s);
    /* The hand's first sweep finds every page marked by its fault and takes
     * the oldest, hot or not; after that no hot page leaves. */
    ck_assert_uint_le(st.faults, HOT + COLD + HOT);
    /* Checked on every pass of the hand, the hot pages take 1312 minor
     * faults here (TP_HEAT_MAX 0); passed over three times, 440. */
    ck_assert_msg(st.minor_faults * 3 < COLD, "minor faults %llu for %d cold pages",
                  (unsigned long long)st.minor_faults, COLD);
    tp_stack_close(s);
    remove_shm();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("zipf");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, clock_beats_fifo_on_zipf);
    tcase_add_test(tc, hot_pages_are_checked_less_often);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
