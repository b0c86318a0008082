/* The faulty store's plan: option values, and decisions that depend on the
 * seed and the call's number alone, in the shares asked for. */
#include <check.h>
#include <stdlib.h>

#include "fault_plan.h"

START_TEST(shares_are_read_in_three_spellings)
{
    uint32_t ppm = 0;
    ck_assert_int_eq(fault_parse_share("0.001", &ppm), 0);
    ck_assert_uint_eq(ppm, 1000);
    ck_assert_int_eq(fault_parse_share("1/1000", &ppm), 0);
    ck_assert_uint_eq(ppm, 1000);
    ck_assert_int_eq(fault_parse_share("0.1%", &ppm), 0);
    ck_assert_uint_eq(ppm, 1000);
    ck_assert_int_eq(fault_parse_share("1", &ppm), 0);
    ck_assert_uint_eq(ppm, 1000000);
    ck_assert_int_eq(fault_parse_share("0", &ppm), 0);
    ck_assert_uint_eq(ppm, 0);
    const char *bad[] = {"", "-0.1", "1.5", "2", "0.0000001", "1/0", "3/2", "0.5x", ".5", "1/", "150%", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(fault_parse_share(bad[i], &ppm) == -EINVAL, "'%s' was taken as a share", bad[i]);
}
END_TEST

START_TEST(durations_read_as_everywhere_else)
{
    uint64_t ns = 0;
    ck_assert_int_eq(fault_parse_duration("250ms", &ns), 0);
    ck_assert_uint_eq(ns, 250000000u);
    ck_assert_int_eq(fault_parse_duration("2s", &ns), 0);
    ck_assert_uint_eq(ns, 2000000000u);
    ck_assert_int_eq(fault_parse_duration("0", &ns), 0);
    ck_assert_uint_eq(ns, 0);
    ck_assert_int_eq(fault_parse_duration("500us", &ns), 0);
    ck_assert_uint_eq(ns, 500000u);
    /* A bare number is milliseconds, and blanks may come before the unit,
     * as in the stack file and every store's options. */
    ck_assert_int_eq(fault_parse_duration("250", &ns), 0);
    ck_assert_uint_eq(ns, 250000000u);
    ck_assert_int_eq(fault_parse_duration("2 s", &ns), 0);
    ck_assert_uint_eq(ns, 2000000000u);
    ck_assert_int_eq(fault_parse_duration("1h", &ns), 0);
    ck_assert_uint_eq(ns, UINT64_C(3600000000000));
    ck_assert_int_eq(fault_parse_duration("1.5s", &ns), -EINVAL);
    ck_assert_int_eq(fault_parse_duration("2d", &ns), -EINVAL);
    ck_assert_int_eq(fault_parse_duration("18446744073709552us", &ns), -EINVAL); /* overflows in ns */
}
END_TEST

START_TEST(options_name_the_key_they_reject)
{
    struct fault_plan plan;
    fault_plan_init(&plan);
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(fault_plan_option(&plan, "get_eio", "1/1000", &err), 1);
    ck_assert_int_eq(fault_plan_option(&plan, "put_full", "0.5%", &err), 1);
    ck_assert_int_eq(fault_plan_option(&plan, "stall_time", "5ms", &err), 1);
    ck_assert_uint_eq(plan.eio[FAULT_GET], 1000);
    ck_assert_uint_eq(plan.put_full, 5000);
    ck_assert_uint_eq(plan.stall_ns, 5000000u);
    ck_assert_int_eq(fault_plan_option(&plan, "get_full", "0.1", &err), 0); /* only puts can be full */
    ck_assert_int_eq(fault_plan_option(&plan, "colour", "red", &err), 0);
    ck_assert_int_eq(fault_plan_option(&plan, "del_stall", "lots", &err), -EINVAL);
    ck_assert_str_eq(err.key, "del_stall");
    ck_assert_int_eq(fault_plan_option(&plan, "seed", "-1", &err), -EINVAL);
    ck_assert_str_eq(err.key, "seed");
}
END_TEST

static void count_faults(const struct fault_plan *plan, enum fault_call call, uint64_t calls, uint64_t counts[4])
{
    for (int k = 0; k < 4; k++)
        counts[k] = 0;
    for (uint64_t n = 0; n < calls; n++)
        counts[fault_plan_decide(plan, call, n)]++;
}

START_TEST(decisions_follow_the_shares_and_the_seed)
{
    struct fault_plan plan;
    fault_plan_init(&plan);
    plan.eio[FAULT_GET] = 1000;  /* 1/1000 */
    plan.put_full = 10000;       /* 1/100 */
    plan.stall[FAULT_PUT] = 100000;
    uint64_t counts[4], again[4];
    count_faults(&plan, FAULT_GET, 1000000, counts);
    ck_assert_msg(counts[FAULT_EIO] > 900 && counts[FAULT_EIO] < 1100, "%llu EIO in 1e6 gets at 1/1000",
                  (unsigned long long)counts[FAULT_EIO]);
    ck_assert_uint_eq(counts[FAULT_FULL] + counts[FAULT_STALL], 0);
    count_faults(&plan, FAULT_PUT, 1000000, counts);
    ck_assert_uint_eq(counts[FAULT_EIO], 0);
    ck_assert(counts[FAULT_FULL] > 9500 && counts[FAULT_FULL] < 10500);
    ck_assert(counts[FAULT_STALL] > 95000 && counts[FAULT_STALL] < 105000);
    count_faults(&plan, FAULT_DEL, 100000, counts);
    ck_assert_uint_eq(counts[FAULT_NONE], 100000);

    /* The same seed gives the same calls; another seed, others. */
    int same = 1, differ = 0;
    struct fault_plan other = plan;
    other.seed = 2;
    for (uint64_t n = 0; n < 100000; n++) {
        same &= fault_plan_decide(&plan, FAULT_GET, n) == fault_plan_decide(&plan, FAULT_GET, n);
        differ |= fault_plan_decide(&plan, FAULT_GET, n) != fault_plan_decide(&other, FAULT_GET, n);
    }
    ck_assert(same && differ);
    count_faults(&plan, FAULT_PUT, 1000, again);
    count_faults(&plan, FAULT_PUT, 1000, counts);
    for (int k = 0; k < 4; k++)
        ck_assert_uint_eq(again[k], counts[k]);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("fault_plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, shares_are_read_in_three_spellings);
    tcase_add_test(tc, durations_read_as_everywhere_else);
    tcase_add_test(tc, options_name_the_key_they_reject);
    tcase_add_test(tc, decisions_follow_the_shares_and_the_seed);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
