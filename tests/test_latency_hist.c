/* tierpage-bench's latency histogram on known data: its buckets, its
 * quantiles (exact below 128 ns, never below the true value and within
 * 1/64 of it above), merging, and the CDF file it writes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latency_hist.h"

static struct latency_hist *fresh(void)
{
    struct latency_hist *h = calloc(1, sizeof *h);
    ck_assert_ptr_nonnull(h);
    return h;
}

START_TEST(every_value_falls_in_a_bucket_whose_top_bounds_it_within_a_64th)
{
    /* Every value up to 2^16, then each power of two up to the largest
     * counted apart and the values on either side of it. */
    uint64_t values[(1u << 16) + 3 * LAT_MAX_BIT];
    size_t n = 0;
    for (uint64_t v = 0; v < (1u << 16); v++)
        values[n++] = v;
    for (unsigned bit = 16; bit <= LAT_MAX_BIT; bit++) {
        values[n++] = (1ull << bit) - 1;
        values[n++] = 1ull << bit;
        values[n++] = (1ull << bit) + 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = values[i];
        unsigned b = lat_bucket(v);
        ck_assert_uint_lt(b, LAT_BUCKETS);
        uint64_t top = lat_bucket_top(b);
        ck_assert_uint_ge(top, v);
        ck_assert_uint_le(top - v, v / 64);
        if (b > 0)
            ck_assert_uint_lt(lat_bucket_top(b - 1), v); /* the bucket below ends before v */
    }
    /* The largest values counted apart, and beyond them the last bucket. */
    uint64_t big = (2ull << LAT_MAX_BIT) - 1;
    ck_assert_uint_eq(lat_bucket(big), LAT_BUCKETS - 1);
    ck_assert_uint_eq(lat_bucket_top(LAT_BUCKETS - 1), big);
    ck_assert_uint_eq(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
}
END_TEST

START_TEST(small_values_give_exact_quantiles)
{
    struct latency_hist *h = fresh();
    for (uint64_t v = 1; v <= 100; v++) /* 1..100 ns, once each */
        lat_record(h, v);
    ck_assert_uint_eq(h->total, 100);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.01), 1);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.50), 50);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.90), 90);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.99), 99);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.999), 100); /* rank ceil(99.9) = 100 */
    ck_assert_uint_eq(lat_quantile_ns(h, 1.0), 100);
    free(h);
}
END_TEST

START_TEST(large_values_give_the_top_of_their_bucket)
{
    struct latency_hist *h = fresh();
    /* 9,000 accesses of 20 µs, 900 of 1 ms, 99 of 50 ms and one of 3 s. */
    for (int i = 0; i < 9000; i++)
        lat_record(h, 20000);
    for (int i = 0; i < 900; i++)
        lat_record(h, 1000000);
    for (int i = 0; i < 99; i++)
        lat_record(h, 50000000);
    lat_record(h, 3000000000ull);
    ck_assert_uint_eq(lat_quantile_ns(h, 0.50), lat_bucket_top(lat_bucket(20000)));
    ck_assert_uint_eq(lat_quantile_ns(h, 0.90), lat_bucket_top(lat_bucket(20000))); /* rank 9000 */
    ck_assert_uint_eq(lat_quantile_ns(h, 0.99), lat_bucket_top(lat_bucket(1000000))); /* rank 9900 */
    ck_assert_uint_eq(lat_quantile_ns(h, 0.999), lat_bucket_top(lat_bucket(50000000)));
    ck_assert_uint_eq(lat_quantile_ns(h, 0.99995), 3000000000ull); /* rank 10,000: capped at the max */
    ck_assert_uint_eq(lat_quantile_ns(h, 1.0), 3000000000ull);
    /* The buckets' tops: 20,000 ns lies in one 256 ns wide from 19,968. */
    ck_assert_uint_eq(lat_bucket_top(lat_bucket(20000)), 20223);
    ck_assert_uint_eq(lat_bucket_top(lat_bucket(1000000)), 1007615);
    free(h);
}
END_TEST

START_TEST(merged_histograms_count_both)
{
    struct latency_hist *a = fresh(), *b = fresh();
    for (uint64_t v = 1; v <= 50; v++)
        lat_record(a, v);
    for (uint64_t v = 51; v <= 100; v++)
        lat_record(b, v);
    ck_assert_uint_eq(lat_quantile_ns(a, 1.0), 50);
    lat_merge(a, b);
    ck_assert_uint_eq(a->total, 100);
    ck_assert_uint_eq(a->max_ns, 100);
    ck_assert_uint_eq(lat_quantile_ns(a, 0.75), 75);
    free(a);
    free(b);
}
END_TEST

START_TEST(an_empty_histogram_says_zero)
{
    struct latency_hist *h = fresh();
    ck_assert_uint_eq(lat_quantile_ns(h, 0.5), 0);
    ck_assert_uint_eq(lat_quantile_ns(h, 1.0), 0);
    free(h);
}
END_TEST

START_TEST(the_cdf_file_lists_each_bucket_with_its_running_fraction)
{
    struct latency_hist *h = fresh();
    lat_record(h, 10);
    lat_record(h, 10);
    lat_record(h, 20000);
    lat_record(h, 1000000);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(lat_write_cdf(h, f, "known data"), 0);
    fclose(f);
    ck_assert_str_eq(text, "# known data\n"
                           "# 4 values; columns: bucket top (us), count, fraction at or below\n"
                           "0.010 2 0.500000000\n"
                           "20.223 1 0.750000000\n"
                           "1000.000 1 1.000000000\n"); /* the last top capped at the max */
    free(text);
    free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("latency_hist");
    TCase *tc = tcase_create("hist");
    tcase_add_test(tc, every_value_falls_in_a_bucket_whose_top_bounds_it_within_a_64th);
    tcase_add_test(tc, small_values_give_exact_quantiles);
    tcase_add_test(tc, large_values_give_the_top_of_their_bucket);
    tcase_add_test(tc, merged_histograms_count_both);
    tcase_add_test(tc, an_empty_histogram_says_zero);
    tcase_add_test(tc, the_cdf_file_lists_each_bucket_with_its_running_fraction);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
