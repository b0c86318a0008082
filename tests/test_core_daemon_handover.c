/* The record of what a tierpaged client handed over (daemon_handover.c),
 * on its own: regions added, then unmapped whole, from the front, from
 * the end and in the middle, as a client's munmaps cut them; each piece
 * keeps its memfd and where in it the piece starts. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon_handover.h"

#define PAGE 4096u

/* The piece of h that starts at addr, or NULL. */
static const struct tp_handover_range *piece_at(const struct tp_handover *h, uint64_t addr)
{
    for (size_t i = 0; i < h->count; i++)
        if (h->ranges[i].addr == addr)
            return &h->ranges[i];
    return NULL;
}

static void expect_piece(const struct tp_handover *h, uint64_t addr, uint64_t length, int memfd, uint64_t offset)
{
    const struct tp_handover_range *r = piece_at(h, addr);
    ck_assert_msg(r != NULL, "no piece at 0x%llx", (unsigned long long)addr);
    ck_assert_uint_eq(r->length, length);
    ck_assert_int_eq(r->memfd, memfd);
    ck_assert_uint_eq(r->offset, offset);
}

START_TEST(regions_added_are_recorded_whole)
{
    struct tp_handover h = {0};
    ck_assert_int_eq(tp_handover_add(&h, 7, 0x100000, 16 * PAGE), 0);
    ck_assert_int_eq(tp_handover_add(&h, 8, 0x200000, 4 * PAGE), 0);
    ck_assert_uint_eq(h.count, 2);
    expect_piece(&h, 0x100000, 16 * PAGE, 7, 0);
    expect_piece(&h, 0x200000, 4 * PAGE, 8, 0);
    tp_handover_free(&h);
}
END_TEST

START_TEST(unmapped_pieces_leave_with_their_offsets_kept)
{
    struct tp_handover h = {0};
    ck_assert_int_eq(tp_handover_add(&h, 7, 0x100000, 16 * PAGE), 0);
    /* Its end, then its front: what is left starts 2 pages into the file. */
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000 + 12 * PAGE, 4 * PAGE), 0);
    expect_piece(&h, 0x100000, 12 * PAGE, 7, 0);
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000, 2 * PAGE), 0);
    ck_assert_uint_eq(h.count, 1);
    expect_piece(&h, 0x100000 + 2 * PAGE, 10 * PAGE, 7, 2 * PAGE);
    /* The middle: two pieces of one file. */
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000 + 5 * PAGE, 3 * PAGE), 0);
    ck_assert_uint_eq(h.count, 2);
    expect_piece(&h, 0x100000 + 2 * PAGE, 3 * PAGE, 7, 2 * PAGE);
    expect_piece(&h, 0x100000 + 8 * PAGE, 4 * PAGE, 7, 8 * PAGE);
    tp_handover_free(&h);
}
END_TEST

START_TEST(a_cut_over_several_regions_and_holes_takes_only_what_it_covers)
{
    struct tp_handover h = {0};
    ck_assert_int_eq(tp_handover_add(&h, 3, 0x100000, 4 * PAGE), 0);
    ck_assert_int_eq(tp_handover_add(&h, 4, 0x100000 + 8 * PAGE, 4 * PAGE), 0);
    ck_assert_int_eq(tp_handover_add(&h, 5, 0x100000 + 16 * PAGE, 4 * PAGE), 0);
    /* From inside the first, over the hole and all of the second, into the third. */
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000 + 2 * PAGE, 16 * PAGE), 0);
    ck_assert_uint_eq(h.count, 2);
    expect_piece(&h, 0x100000, 2 * PAGE, 3, 0);
    expect_piece(&h, 0x100000 + 18 * PAGE, 2 * PAGE, 5, 2 * PAGE);
    /* A range nothing serves changes nothing; a cut to the top of the
     * address space takes everything above its start. */
    ck_assert_int_eq(tp_handover_cut(&h, 0x10000, PAGE), 0);
    ck_assert_uint_eq(h.count, 2);
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000 + PAGE, UINT64_MAX), 0);
    ck_assert_uint_eq(h.count, 1);
    expect_piece(&h, 0x100000, PAGE, 3, 0);
    ck_assert_int_eq(tp_handover_cut(&h, 0x100000, PAGE), 0);
    ck_assert_uint_eq(h.count, 0);
    tp_handover_free(&h);
}
END_TEST

START_TEST(many_regions_cut_in_their_middles)
{
    struct tp_handover h = {0};
    enum { N = 100 };
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(tp_handover_add(&h, i, 0x1000000 + (uint64_t)i * 64 * PAGE, 32 * PAGE), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(tp_handover_cut(&h, 0x1000000 + (uint64_t)i * 64 * PAGE + 10 * PAGE, PAGE), 0);
    ck_assert_uint_eq(h.count, 2 * N);
    for (int i = 0; i < N; i++) {
        uint64_t base = 0x1000000 + (uint64_t)i * 64 * PAGE;
        expect_piece(&h, base, 10 * PAGE, i, 0);
        expect_piece(&h, base + 11 * PAGE, 21 * PAGE, i, 11 * PAGE);
    }
    tp_handover_free(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("daemon_handover");
    TCase *tc = tcase_create("record");
    tcase_add_test(tc, regions_added_are_recorded_whole);
    tcase_add_test(tc, unmapped_pieces_leave_with_their_offsets_kept);
    tcase_add_test(tc, a_cut_over_several_regions_and_holes_takes_only_what_it_covers);
    tcase_add_test(tc, many_regions_cut_in_their_middles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
