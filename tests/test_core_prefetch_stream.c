/* The fault-stream detector of prefetch (prefetch_stream.c) on its own:
 * page ids noted as a region's faults would be, and the stride and bound
 * it gives for the next fetch. */
#include <check.h>
#include <stdint.h>

#include "prefetch_stream.h"

static struct tp_prefetch_stream stream;

static void setup(void)
{
    stream = (struct tp_prefetch_stream){{0}, 0, 0, 0, 0, 0};
}

static void note_all(const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tp_stream_note(&stream, ids[i]);
}

START_TEST(a_sweep_has_its_stride_and_no_bound)
{
    for (uint32_t id = 100; id < 110; id++)
        tp_stream_note(&stream, id);
    uint32_t run = 7;
    ck_assert_int_eq(tp_stream_trend(&stream, &run), 1);
    ck_assert_uint_eq(run, 0);
    setup();
    for (uint32_t id = 900; id > 860; id -= 4)
        tp_stream_note(&stream, id);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), -4);
}
END_TEST

START_TEST(too_few_faults_have_no_trend)
{
    const uint32_t ids[] = {10, 11, 12};
    note_all(ids, 3);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), 0);
}
END_TEST

START_TEST(a_stride_outlasts_a_stray_fault)
{
    const uint32_t ids[] = {30, 33, 36, 5000, 39, 42, 45, 48};
    note_all(ids, 8);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), 3);
    /* Fetching along the stride from a stray fault fetches strays. */
    tp_stream_note(&stream, 7000);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), 0);
    tp_stream_note(&stream, 51);
    tp_stream_note(&stream, 54);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), 3);
}
END_TEST

START_TEST(random_faults_have_no_trend)
{
    const uint32_t ids[] = {812, 17, 3090, 441, 2600, 95, 1777, 1203, 64, 2999};
    note_all(ids, 10);
    ck_assert_int_eq(tp_stream_trend(&stream, NULL), 0);
}
END_TEST

/* Values of a little over a page each, read one after the other in a
 * random order (a hash table's): the faults come in pairs. Only the first
 * page of a pair is followed by the next, and by one page only. */
START_TEST(pages_in_pairs_fetch_the_second_of_each_pair_only)
{
    const uint32_t firsts[] = {500, 120, 871, 333, 42, 760, 215, 990};
    uint32_t run;
    for (size_t i = 0; i < 8; i++) {
        tp_stream_note(&stream, firsts[i]);
        int64_t at_first = tp_stream_trend(&stream, &run);
        if (i >= 3) {
            ck_assert_int_eq(at_first, 1);
            ck_assert_uint_eq(run, 1);
        }
        tp_stream_note(&stream, firsts[i] + 1);
        if (i >= 2)
            ck_assert_int_eq(tp_stream_trend(&stream, &run), 0);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core_prefetch_stream");
    TCase *tc = tcase_create("prefetch_stream");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, a_sweep_has_its_stride_and_no_bound);
    tcase_add_test(tc, too_few_faults_have_no_trend);
    tcase_add_test(tc, a_stride_outlasts_a_stray_fault);
    tcase_add_test(tc, random_faults_have_no_trend);
    tcase_add_test(tc, pages_in_pairs_fetch_the_second_of_each_pair_only);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
