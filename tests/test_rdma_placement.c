/* Tests of the rdma tier's placement (tiers/rdma/rdma_placement.c): the
 * page index, slabs and their free-slot lists, and lost slabs. No RDMA
 * needed: the tier's data path runs in tests/rdma_guest.sh. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "rdma_placement.h"

#define PS 4096u

START_TEST(test_index_insert_find_remove_grow)
{
    struct rp_placement p;
    ck_assert_int_eq(rp_init(&p, 2, PS), 0);
    /* Enough keys to grow the entry array and the buckets several times. */
    for (uint64_t k = 0; k < 10000; k++) {
        rp_loc loc[2] = { rp_loc_make((unsigned)(k % 2), (uint32_t)(k / 256), (uint32_t)(k % 256)), RP_NONE };
        ck_assert_ptr_nonnull(rp_insert(&p, k * 7919, loc));
    }
    ck_assert_uint_eq(p.pages, 10000);
    for (uint64_t k = 0; k < 10000; k++) {
        struct rp_entry *e = rp_find(&p, k * 7919);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(rp_loc_server(e->loc[0]), k % 2);
        ck_assert_uint_eq(rp_loc_slab(e->loc[0]), k / 256);
        ck_assert_uint_eq(rp_loc_slot(e->loc[0]), k % 256);
        ck_assert(e->loc[1] == RP_NONE);
    }
    ck_assert_ptr_null(rp_find(&p, 1));
    rp_loc out[2];
    for (uint64_t k = 0; k < 10000; k += 2)
        ck_assert_int_eq(rp_remove(&p, k * 7919, out), 0);
    ck_assert_int_eq(rp_remove(&p, 0, out), -ENOENT);
    ck_assert_uint_eq(p.pages, 5000);
    for (uint64_t k = 0; k < 10000; k++)
        ck_assert((rp_find(&p, k * 7919) != NULL) == (k % 2 == 1));
    rp_clear_index(&p);
    ck_assert_uint_eq(p.pages, 0);
    ck_assert_ptr_null(rp_find(&p, 7919));
    rp_loc loc[2] = { rp_loc_make(1, 2, 3), rp_loc_make(0, 4, 5) };
    ck_assert_ptr_nonnull(rp_insert(&p, 42, loc));
    ck_assert(rp_find(&p, 42)->loc[1] == rp_loc_make(0, 4, 5));
    rp_destroy(&p);
}
END_TEST

START_TEST(test_slots_and_slabs)
{
    struct rp_placement p;
    ck_assert_int_eq(rp_init(&p, 1, PS), 0);
    rp_loc loc;
    ck_assert_int_eq(rp_take_slot(&p, 0, 0, &loc), -ENOSPC); /* no slab yet */
    ck_assert_int_eq(rp_add_slab(&p, 0, 0, 0x10000, 77, 5, 4 * PS), 0);
    rp_loc taken[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rp_take_slot(&p, 0, 0, &taken[i]), 0);
        ck_assert_uint_eq(rp_loc_slab(taken[i]), 0);
    }
    ck_assert_int_eq(rp_take_slot(&p, 0, 0, &loc), -ENOSPC); /* 4 slots, all taken */
    ck_assert_uint_eq(rp_free_slots(&p, 0, 0), 0);
    struct rp_slab *slab = rp_slab_of(&p, taken[2]);
    ck_assert_uint_eq(slab->rkey, 77);
    ck_assert_uint_eq(slab->server_slab, 5);
    ck_assert_int_eq(rp_release_slot(&p, taken[2]), 0);
    ck_assert_int_eq(rp_take_slot(&p, 0, 0, &loc), 0);
    ck_assert(loc == taken[2]); /* the freed slot is reused */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rp_release_slot(&p, taken[i]), 0);
    ck_assert_int_eq(rp_release_slot(&p, taken[3]), 1); /* the slab is empty now */
    rp_drop_slab(&p, 0, 0);
    ck_assert_int_eq(rp_take_slot(&p, 0, 0, &loc), -ENOSPC);
    /* A dropped slab's number is reused by the next one. */
    ck_assert_int_eq(rp_add_slab(&p, 0, 0, 0x20000, 78, 6, 2 * PS), 0);
    ck_assert_uint_eq(rp_free_slots(&p, 0, 0), 2);
    rp_destroy(&p);
}
END_TEST

START_TEST(test_lost_generation)
{
    struct rp_placement p;
    ck_assert_int_eq(rp_init(&p, 1, PS), 0);
    ck_assert_int_eq(rp_add_slab(&p, 0, 0, 0x10000, 1, 1, 8 * PS), 0);
    rp_loc loc;
    ck_assert_int_eq(rp_take_slot(&p, 0, 0, &loc), 0);
    /* The server forgot us: generation 1. Slabs of generation 0 are lost:
     * no slot is taken from them, and they count no free room. */
    ck_assert_int_eq(rp_take_slot(&p, 0, 1, &loc), -ENOSPC);
    ck_assert_uint_eq(rp_free_slots(&p, 0, 1), 0);
    ck_assert(!rp_slab_live(rp_slab_of(&p, loc), 1));
    ck_assert(rp_slab_live(rp_slab_of(&p, loc), 0));
    ck_assert_int_eq(rp_add_slab(&p, 0, 1, 0x90000, 2, 9, 8 * PS), 1);
    ck_assert_int_eq(rp_take_slot(&p, 0, 1, &loc), 0);
    ck_assert_uint_eq(rp_loc_slab(loc), 1);
    rp_destroy(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rdma_placement");
    TCase *tc = tcase_create("placement");
    tcase_add_test(tc, test_index_insert_find_remove_grow);
    tcase_add_test(tc, test_slots_and_slabs);
    tcase_add_test(tc, test_lost_generation);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
