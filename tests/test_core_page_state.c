/* The page-state module, the resident set and the eviction policy on their
 * own: no stack, no stores, no userfaultfd. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "eviction_policy.h"
#include "page_state.h"

enum { PAGES = 64 };

static struct tp_mutex lock;
static struct tp_pages pg;
static uint32_t first;

static void setup(void)
{
    tp_lock_init(&lock);
    ck_assert_int_eq(tp_pages_init(&pg, &lock, 4), 0);
    ck_assert_int_eq(tp_page_map_alloc(&pg.map, PAGES, &first), 0);
    for (uint32_t i = 0; i < PAGES; i++)
        ck_assert_ptr_nonnull(tp_page_touch(&pg.map, first + i));
    tp_lock_take(&lock);
}

static void teardown(void)
{
    tp_lock_drop(&lock);
    tp_pages_destroy(&pg);
    tp_lock_destroy(&lock);
}

/* Claim the page, put its copy into tier t as a store would, release it. */
static void store_in(uint32_t id, size_t t)
{
    tp_page_claim(&pg, id);
    if (tp_page(&pg, id)->tier != t)
        ck_assert(tp_tier_reserve(&pg, t, 0));
    tp_page_land(&pg, id, t);
    tp_page_release(&pg, id);
}

/* Bring the page in as a fault does. */
static void bring_in(uint32_t id, unsigned flags)
{
    tp_page_claim(&pg, id);
    tp_page_reserve_resident(&pg);
    tp_page_make_resident(&pg, id, flags);
    tp_page_release(&pg, id);
}

/* Bring the page in as a prefetch does: fetched ahead, mapped in the
 * program at once (`mapped`, as prefetch_map_ahead does) or not. */
static void fetch_ahead_mapped(uint32_t id, int mapped)
{
    tp_page_claim(&pg, id);
    ck_assert(tp_tier_reserve(&pg, 0, 0));
    tp_page_land(&pg, id, 0);
    tp_page_make_stored(&pg, id); /* only its tier holds it */
    tp_page_reserve_resident(&pg);
    tp_page_make_prefetched(&pg, id, mapped, 0);
    tp_page_release(&pg, id);
}

static void fetch_ahead(uint32_t id)
{
    fetch_ahead_mapped(id, 0);
}

static void *release_later(void *arg)
{
    uint32_t id = *(uint32_t *)arg;
    usleep(50 * 1000);
    tp_page_release_unlocked(&pg, id);
    return NULL;
}

START_TEST(waiters_wait_until_the_page_is_released)
{
    uint32_t id = first + 3;
    tp_page_claim(&pg, id);
    ck_assert(tp_page(&pg, id)->flags & TP_PAGE_BUSY);
    pthread_t t;
    tp_lock_drop(&lock);
    ck_assert_int_eq(pthread_create(&t, NULL, release_later, &id), 0);
    tp_lock_take(&lock);
    tp_page_wait_idle(&pg, id);
    ck_assert(!(tp_page(&pg, id)->flags & TP_PAGE_BUSY));
    ck_assert(tp_lock_held(&lock) || !TP_LOCK_CHECKS);
    tp_lock_drop(&lock);
    pthread_join(t, NULL);
    tp_lock_take(&lock);
}
END_TEST

START_TEST(landing_moves_the_page_between_tier_lists)
{
    uint32_t a = first, b = first + 1;
    store_in(a, 0);
    store_in(b, 0);
    ck_assert_uint_eq(pg.tiers[0].count, 2);
    ck_assert_uint_eq(pg.tiers[0].head, a);
    ck_assert_uint_eq(pg.tiers[0].tail, b);

    tp_page_claim(&pg, a);
    ck_assert(tp_tier_reserve(&pg, 1, 0));
    ck_assert_uint_eq(tp_page_land(&pg, a, 1), 0); /* left tier 0, for the caller to delete */
    tp_page_release(&pg, a);
    ck_assert_uint_eq(tp_page(&pg, a)->tier, 1);
    ck_assert_uint_eq(pg.tiers[0].count, 1);
    ck_assert_uint_eq(pg.tiers[1].count, 1);
    ck_assert_uint_eq(pg.tiers[0].head, b);
    ck_assert_uint_eq(pg.tiers[0].tail, b);
    ck_assert_uint_eq(pg.tiers[1].head, a);
}
END_TEST

START_TEST(landing_again_in_the_same_tier_makes_the_page_newest)
{
    uint32_t a = first, b = first + 1, c = first + 2;
    store_in(a, 0);
    store_in(b, 0);
    store_in(c, 0);
    tp_page_claim(&pg, a);
    ck_assert_uint_eq(tp_page_land(&pg, a, 0), TP_NO_TIER); /* overwritten in place: nothing to delete */
    tp_page_release(&pg, a);
    ck_assert_uint_eq(pg.tiers[0].count, 3);
    ck_assert_uint_eq(pg.tiers[0].tail, a);
    /* The coldest idle page is b; a BUSY one is passed over. */
    tp_page_claim(&pg, b);
    ck_assert_uint_eq(tp_tier_claim_coldest(&pg, 0), c);
    ck_assert(tp_page(&pg, c)->flags & TP_PAGE_BUSY);
    tp_page_release(&pg, b);
    tp_page_release(&pg, c);
    ck_assert_uint_eq(tp_tier_claim_coldest(&pg, 1), TP_NIL);
}
END_TEST

START_TEST(a_tier_gives_no_place_beyond_its_capacity)
{
    ck_assert(tp_tier_reserve(&pg, 0, 2));
    ck_assert(tp_tier_reserve(&pg, 0, 2));
    ck_assert(!tp_tier_reserve(&pg, 0, 2));
    tp_tier_unreserve(&pg, 0);
    ck_assert(tp_tier_reserve(&pg, 0, 2));
    ck_assert(tp_tier_reserve(&pg, 0, 0)); /* 0: unbounded */
    ck_assert_uint_eq(pg.tiers[0].count, 3);
}
END_TEST

START_TEST(an_evicted_page_is_stored_when_a_tier_holds_it_and_empty_otherwise)
{
    uint32_t kept = first, zero = first + 1;
    store_in(kept, 0);
    bring_in(kept, TP_RESIDENT_DIRTY | TP_RESIDENT_UNSURE);
    bring_in(zero, 0);
    ck_assert_uint_eq(pg.resident.count, 2);
    ck_assert_uint_eq(pg.resident.peak, 2);
    ck_assert_uint_eq(tp_page(&pg, kept)->state, TP_PAGE_RESIDENT);
    ck_assert(tp_page(&pg, kept)->flags & TP_PAGE_DIRTY);

    tp_page_claim(&pg, kept);
    tp_page_mark_clean(&pg, kept);
    tp_page_evicted(&pg, kept);
    tp_page_release(&pg, kept);
    tp_page_claim(&pg, zero);
    tp_page_evicted(&pg, zero);
    tp_page_release(&pg, zero);

    ck_assert_uint_eq(tp_page(&pg, kept)->state, TP_PAGE_STORED);
    ck_assert_uint_eq(tp_page(&pg, zero)->state, TP_PAGE_EMPTY);
    ck_assert_uint_eq(tp_page(&pg, kept)->flags & (TP_PAGE_DIRTY | TP_PAGE_UNSURE | TP_PAGE_REFERENCED), 0);
    ck_assert_uint_eq(pg.resident.count, 0);
    ck_assert_uint_eq(pg.resident.peak, 2);
    ck_assert_uint_eq(pg.resident.free_count, pg.resident.slot_count);
}
END_TEST

START_TEST(a_forgotten_page_reads_as_zeros)
{
    uint32_t id = first + 5;
    store_in(id, 2);
    bring_in(id, TP_RESIDENT_UNSURE);
    tp_page_claim(&pg, id);
    ck_assert_uint_eq(tp_page_drop_copy(&pg, id), 2);
    ck_assert_uint_eq(tp_page_drop_copy(&pg, id), TP_NO_TIER);
    ck_assert(!(tp_page(&pg, id)->flags & TP_PAGE_UNSURE));
    tp_page_release(&pg, id);
    ck_assert_uint_eq(pg.tiers[2].count, 0);
    ck_assert_uint_eq(pg.tiers[2].head, TP_NIL);

    tp_page_forget(&pg, id, 1);
    ck_assert_uint_eq(tp_page(&pg, id)->state, TP_PAGE_EMPTY);
    ck_assert(tp_page(&pg, id)->flags & TP_PAGE_UNMAPPED);
    ck_assert_uint_eq(pg.resident.count, 0);
}
END_TEST

START_TEST(a_message_read_before_its_page_left_is_stale)
{
    uint32_t id = first;
    bring_in(id, 0);
    uint32_t before = tp_resident_tick(&pg.resident, 16);
    tp_page_claim(&pg, id);
    tp_page_evicted(&pg, id);
    tp_page_release(&pg, id);
    uint32_t after = tp_resident_tick(&pg.resident, 16);
    ck_assert(tp_page_left_since(&pg, id, before));
    ck_assert(!tp_page_left_since(&pg, id, before)); /* the page's tick moved back to it */
    ck_assert(!tp_page_left_since(&pg, id, after));
}
END_TEST

/* Debug builds check the lock contract each function states. */
START_TEST(claiming_without_the_lock_is_caught)
{
    tp_lock_drop(&lock);
    tp_page_claim(&pg, first);
}
END_TEST

static uint32_t unmapped[PAGES];
static size_t unmapped_count;

static void note_unmap(void *ctx, uint32_t id)
{
    (void)ctx;
    unmapped[unmapped_count++] = id;
}

/* One pick alone, a batch of one. */
static uint32_t pick_for(enum tp_eviction_policy policy, enum tp_victim_for victim_for)
{
    size_t budget = tp_first_pick_budget(&pg.resident);
    return tp_pick_victim(&pg.resident, &pg.map, policy, victim_for, &budget, note_unmap, NULL);
}

static uint32_t pick(enum tp_eviction_policy policy)
{
    return pick_for(policy, TP_VICTIM_FOR_ANY);
}

START_TEST(clock_gives_used_pages_a_second_chance)
{
    unmapped_count = 0;
    for (uint32_t i = 0; i < 3; i++)
        bring_in(first + i, 0); /* each comes in used */
    /* The hand unmaps each used page to see whether it is used again, then
     * takes the first one that was not. */
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first);
    ck_assert_uint_eq(unmapped_count, 3);
    ck_assert_uint_eq(unmapped[0], first);
    /* Page 1 is used again (a minor fault): it is hot and passed over. */
    tp_page_note_use(&pg, first + 1, 0);
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first + 2);
    ck_assert_uint_eq(tp_page(&pg, first + 1)->heat, TP_HEAT_MAX - 1);
}
END_TEST

/* A batch of picks (one eviction of many pages) goes round once: the
 * pages it checked are unmapped for their next use to show, and a second
 * turn would take them before the program could use them. */
START_TEST(a_batch_never_evicts_a_page_it_checked)
{
    unmapped_count = 0;
    for (uint32_t i = 0; i < 3; i++)
        bring_in(first + i, 0);
    size_t budget = tp_first_pick_budget(&pg.resident);
    /* Every page was used: the first pick goes round twice and takes the
     * first it checked, as a batch must take one. */
    ck_assert_uint_eq(tp_pick_victim(&pg.resident, &pg.map, TP_POLICY_CLOCK, TP_VICTIM_FOR_ANY, &budget, note_unmap,
                                     NULL),
                      first);
    ck_assert_uint_eq(unmapped_count, 3);
    tp_page_claim(&pg, first);
    budget = tp_rest_of_turn_budget(&pg.resident, budget);
    ck_assert_uint_eq(tp_pick_victim(&pg.resident, &pg.map, TP_POLICY_CLOCK, TP_VICTIM_FOR_ANY, &budget, note_unmap,
                                     NULL),
                      TP_NIL);
    /* The next batch may: the program has had the time to use them. */
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first + 1);
    tp_page_release(&pg, first);
}
END_TEST

START_TEST(a_page_fetched_ahead_gets_the_turn_a_faulted_page_gets)
{
    unmapped_count = 0;
    fetch_ahead(first);
    bring_in(first + 1, 0);
    /* Both are passed over once: the faulted page unmapped to check it, the
     * page fetched ahead (never mapped) not. Then the first is taken,
     * unused. */
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first);
    ck_assert_uint_eq(unmapped_count, 1);
    ck_assert_uint_eq(unmapped[0], first + 1);
    tp_page_claim(&pg, first);
    ck_assert_int_eq(tp_page_evicted(&pg, first), 1); /* evicted unused */
    tp_page_release(&pg, first);
}
END_TEST

/* A page mapped ahead: the hand gives it the same one turn, unmapping it
 * as it passes (its next use is then a minor fault, as for any page the
 * hand checks; a neighbour's check leaves it mapped: the program is most
 * likely about to reach it), and takes it unused if nothing showed its
 * use. Unlike a page fetched ahead and never mapped, it may have been
 * written. */
START_TEST(a_page_mapped_ahead_stays_mapped_and_may_be_written)
{
    unmapped_count = 0;
    fetch_ahead_mapped(first, 1);
    fetch_ahead(first + 1);
    ck_assert(!tp_page_never_mapped(tp_page(&pg, first)));
    ck_assert(tp_page_never_mapped(tp_page(&pg, first + 1)));
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first)), TP_NEIGHBOUR_KEEP);
    ck_assert_uint_eq(tp_page(&pg, first)->flags & (TP_PAGE_PREFETCHED | TP_PAGE_AHEAD),
                      TP_PAGE_PREFETCHED | TP_PAGE_AHEAD);
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first);
    ck_assert_uint_eq(unmapped_count, 1);
    ck_assert_uint_eq(unmapped[0], first);
    tp_page_claim(&pg, first);
    ck_assert_int_eq(tp_page_evicted(&pg, first), 1); /* evicted unused */
    ck_assert_uint_eq(tp_page(&pg, first)->flags & (TP_PAGE_PREFETCHED | TP_PAGE_AHEAD), 0);
    tp_page_release(&pg, first);
    /* Used, it is a page a fault brought in: mapped, checked by the hand. */
    fetch_ahead_mapped(first + 2, 1);
    ck_assert_int_eq(tp_page_note_prefetch_use(&pg, first + 2, 0), 1);
    ck_assert_uint_eq(tp_page(&pg, first + 2)->flags & (TP_PAGE_PREFETCHED | TP_PAGE_AHEAD | TP_PAGE_REFERENCED),
                      TP_PAGE_REFERENCED);
    tp_page_claim(&pg, first + 2);
    ck_assert_int_eq(tp_page_evicted(&pg, first + 2), 0);
    tp_page_release(&pg, first + 2);
}
END_TEST

START_TEST(a_prefetch_never_pushes_out_a_page_fetched_ahead_unused)
{
    fetch_ahead(first);
    bring_in(first + 1, 0);
    fetch_ahead(first + 2);
    /* Past its one pass, the page fetched ahead is due; a prefetch stops
     * there, leaving it under the hand, and everyone else takes it. */
    ck_assert_uint_eq(pick_for(TP_POLICY_CLOCK, TP_VICTIM_FOR_PREFETCH), TP_NIL);
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), first);
    /* Fifo stops there too, and takes what is not fetched ahead. */
    ck_assert_uint_eq(pick_for(TP_POLICY_FIFO, TP_VICTIM_FOR_PREFETCH), first + 1);
    ck_assert_uint_eq(pick_for(TP_POLICY_FIFO, TP_VICTIM_FOR_PREFETCH), TP_NIL);
    /* Once used, it is a page like any other. */
    ck_assert_int_eq(tp_page_note_prefetch_use(&pg, first + 2, 0), 1);
    ck_assert_uint_eq(pick_for(TP_POLICY_FIFO, TP_VICTIM_FOR_PREFETCH), first + 2);
}
END_TEST

START_TEST(a_hot_page_is_checked_again_after_its_heat_runs_out)
{
    unmapped_count = 0;
    bring_in(first, 0);
    bring_in(first + 1, 0);
    tp_page_note_use(&pg, first, 0);
    tp_page_note_use(&pg, first + 1, 0);
    /* Both hot: the hand passes each TP_HEAT_MAX times, unmapping it on the
     * last pass, then finds them unused and takes the first (a pick gives
     * up after three turns of the hand, and the next goes on). */
    uint32_t id = TP_NIL;
    for (int turns = 0; id == TP_NIL && turns <= TP_HEAT_MAX; turns += 3)
        id = pick(TP_POLICY_CLOCK);
    ck_assert_uint_eq(id, first);
    ck_assert_uint_eq(unmapped_count, 2);
    ck_assert_uint_eq(tp_page(&pg, first)->heat, 0);
}
END_TEST

START_TEST(a_check_takes_along_the_neighbours_due_for_one)
{
    /* Not touched, or resident but not mapped (checked already): free to
     * unmap again with the others. */
    ck_assert_int_eq(tp_check_neighbour(NULL), TP_NEIGHBOUR_UNMAPPED);
    store_in(first, 0);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first)), TP_NEIGHBOUR_UNMAPPED);
    /* Mapped since its fault, not hot: checked now, as the hand would. */
    bring_in(first + 1, 0);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 1)), TP_NEIGHBOUR_CHECKED);
    ck_assert(!(tp_page(&pg, first + 1)->flags & TP_PAGE_REFERENCED));
    ck_assert_uint_eq(tp_page(&pg, first + 1)->heat, 1); /* a full turn of the hand before it may go */
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 1)), TP_NEIGHBOUR_UNMAPPED);
    /* Hot, or being moved: stays mapped, its flags untouched. */
    bring_in(first + 2, 0);
    tp_page_note_use(&pg, first + 2, 0);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 2)), TP_NEIGHBOUR_KEEP);
    ck_assert(tp_page(&pg, first + 2)->flags & TP_PAGE_REFERENCED);
    bring_in(first + 3, 0);
    tp_page_claim(&pg, first + 3);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 3)), TP_NEIGHBOUR_KEEP);
    tp_page_release(&pg, first + 3);
}
END_TEST

static size_t merge(const struct tp_unmap_range *ranges, size_t n, size_t *order, struct tp_unmap_range *merged,
                    size_t *pieces)
{
    return tp_merge_unmap_ranges(&pg.map, ranges, n, order, merged, pieces);
}

static void assert_range(const struct tp_unmap_range *r, uint32_t from, uint32_t to, const void *region)
{
    ck_assert_uint_eq(r->first, from);
    ck_assert_uint_eq(r->end, to);
    ck_assert_ptr_eq(r->region, region);
}

/* Ranges of one region merge, sorted, across pages not mapped in the
 * program: never touched, stored, empty, or resident and unmapped by a
 * check or fetched ahead and not mapped; overlapping ranges merge too. */
START_TEST(ranges_merge_across_pages_not_mapped)
{
    static const int a, b;
    uint32_t far;
    ck_assert_int_eq(tp_page_map_alloc(&pg.map, 2048, &far), 0); /* never touched */
    store_in(first + 1, 0);
    /* first + 2: touched, empty */
    bring_in(first + 3, 0);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 3)), TP_NEIGHBOUR_CHECKED);
    fetch_ahead(first + 9);
    for (uint32_t id = first + 1; id < first + 4; id++)
        ck_assert(tp_page_known_unmapped(tp_page(&pg, id)));
    ck_assert(tp_page_known_unmapped(tp_page_find(&pg.map, far + 1)));
    ck_assert(tp_page_known_unmapped(tp_page(&pg, first + 9)));
    const struct tp_unmap_range ranges[] = {
        {first + 4, first + 6, &a}, {first, first + 1, &a}, {far + 3, far + 4, &b}, {far, far + 1, &b},
        {first + 5, first + 8, &a}, {first + 10, first + 11, &a},
        /* a gap of TP_UNMAP_GAP_MAX pages merges, a longer one is not looked at */
        {far + 4 + TP_UNMAP_GAP_MAX, far + 5 + TP_UNMAP_GAP_MAX, &b},
        {far + 6 + 2 * TP_UNMAP_GAP_MAX, far + 7 + 2 * TP_UNMAP_GAP_MAX, &b},
    };
    size_t n = sizeof ranges / sizeof ranges[0], order[8], pieces[8];
    struct tp_unmap_range merged[8];
    ck_assert_uint_eq(merge(ranges, n, order, merged, pieces), 3);
    assert_range(&merged[0], first, first + 11, &a); /* page first + 8: empty, first + 9: fetched ahead */
    ck_assert_uint_eq(pieces[0], 4);
    assert_range(&merged[1], far, far + 5 + TP_UNMAP_GAP_MAX, &b);
    ck_assert_uint_eq(pieces[1], 3);
    assert_range(&merged[2], far + 6 + 2 * TP_UNMAP_GAP_MAX, far + 7 + 2 * TP_UNMAP_GAP_MAX, &b);
    ck_assert_uint_eq(pieces[2], 1);
    const size_t sorted[] = {1, 0, 4, 5, 3, 2, 6, 7};
    for (size_t k = 0; k < n; k++)
        ck_assert_uint_eq(order[k], sorted[k]);
}
END_TEST

/* A page that may be mapped ends a merge: used since its check
 * (REFERENCED), mapped ahead (AHEAD), being moved (BUSY) or mlocked
 * (LOCKED). So does another region, even right beside. */
START_TEST(a_page_that_may_be_mapped_ends_a_merge)
{
    static const int a, b;
    const struct tp_unmap_range ranges[] = {{first, first + 1, &a}, {first + 2, first + 3, &a}};
    size_t order[3], pieces[3];
    struct tp_unmap_range merged[3];
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 1);
    bring_in(first + 1, 0); /* mapped by its fault */
    ck_assert(!tp_page_known_unmapped(tp_page(&pg, first + 1)));
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 2);
    assert_range(&merged[0], first, first + 1, &a);
    assert_range(&merged[1], first + 2, first + 3, &a);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 1)), TP_NEIGHBOUR_CHECKED);
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 1);
    tp_page_note_use(&pg, first + 1, 0); /* used again: mapped by its minor fault */
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 2);
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 1)), TP_NEIGHBOUR_KEEP); /* hot */
    tp_page(&pg, first + 1)->heat = 0;
    ck_assert_int_eq(tp_check_neighbour(tp_page(&pg, first + 1)), TP_NEIGHBOUR_CHECKED);
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 1);
    tp_page_claim(&pg, first + 1);
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 2);
    tp_page_release(&pg, first + 1);
    tp_page_set_locked(&pg, first + 1, 1);
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 2);
    tp_page_set_locked(&pg, first + 1, 0);
    ck_assert_uint_eq(merge(ranges, 2, order, merged, pieces), 1);
    /* A BUSY page not yet resident: a fault may be mapping it. */
    tp_page_claim(&pg, first + 4);
    const struct tp_unmap_range around_busy[] = {{first + 3, first + 4, &a}, {first + 5, first + 6, &a}};
    ck_assert_uint_eq(merge(around_busy, 2, order, merged, pieces), 2);
    tp_page_release(&pg, first + 4);
    ck_assert_uint_eq(merge(around_busy, 2, order, merged, pieces), 1);

    fetch_ahead_mapped(first + 7, 1);
    const struct tp_unmap_range around_ahead[] = {{first + 6, first + 7, &a}, {first + 8, first + 9, &a}};
    ck_assert_uint_eq(merge(around_ahead, 2, order, merged, pieces), 2);

    const struct tp_unmap_range regions[] = {{first + 10, first + 11, &a}, {first + 11, first + 12, &b},
                                             {first + 13, first + 14, &a}};
    ck_assert_uint_eq(merge(regions, 3, order, merged, pieces), 3);
    assert_range(&merged[0], first + 10, first + 11, &a);
    assert_range(&merged[1], first + 11, first + 12, &b);
    assert_range(&merged[2], first + 13, first + 14, &a);
}
END_TEST

START_TEST(fifo_takes_pages_in_the_order_they_came_and_never_unmaps)
{
    unmapped_count = 0;
    for (uint32_t i = 0; i < 4; i++)
        bring_in(first + i, 0);
    tp_page_note_use(&pg, first, 1);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t id = pick(TP_POLICY_FIFO);
        ck_assert_uint_eq(id, first + i);
        tp_page_claim(&pg, id);
        tp_page_evicted(&pg, id);
        tp_page_release(&pg, id);
    }
    ck_assert_uint_eq(unmapped_count, 0);
    ck_assert_uint_eq(pick(TP_POLICY_FIFO), TP_NIL);
}
END_TEST

START_TEST(no_victim_while_every_page_is_busy)
{
    bring_in(first, 0);
    bring_in(first + 1, 0);
    tp_page_claim(&pg, first);
    tp_page_claim(&pg, first + 1);
    ck_assert_uint_eq(pick(TP_POLICY_CLOCK), TP_NIL);
    ck_assert_uint_eq(pick(TP_POLICY_FIFO), TP_NIL);
    tp_page_release(&pg, first + 1);
    ck_assert_uint_eq(pick(TP_POLICY_FIFO), first + 1);
    tp_page_release(&pg, first);
}
END_TEST

START_TEST(resizing_keeps_the_pages_in_hand_order)
{
    for (uint32_t i = 0; i < 6; i++)
        bring_in(first + i, 0);
    ck_assert_uint_eq(pick(TP_POLICY_FIFO), first); /* the hand is past page 0 */
    size_t before = pg.resident.slot_count;
    ck_assert_int_eq(tp_resident_resize(&pg.resident, &pg.map, 20000), 0);
    ck_assert_uint_gt(pg.resident.slot_count, before);
    ck_assert_uint_eq(pg.resident.cap_pages, 20000);
    ck_assert_uint_eq(pg.resident.count, 6);
    /* From the hand on: pages 1..5, then 0. */
    for (uint32_t i = 1; i <= 6; i++) {
        uint32_t id = pick(TP_POLICY_FIFO);
        ck_assert_uint_eq(id, first + i % 6);
        ck_assert_uint_eq(pg.resident.slots[tp_page(&pg, id)->slot], id);
        tp_page_claim(&pg, id);
        tp_page_evicted(&pg, id);
        tp_page_release(&pg, id);
    }
    ck_assert_int_eq(tp_resident_resize(&pg.resident, &pg.map, 4), 0);
    ck_assert_uint_le(pg.resident.slot_count, before);
}
END_TEST

static struct tp_page_digest digest_for(uint32_t id)
{
    return (struct tp_page_digest){id + 1, (uint64_t)id * 7 + 1};
}

/* Every resident page but `without` has its own digest, `without` none. */
static void each_page_keeps_its_digest(uint32_t without)
{
    for (uint32_t id = first; id < first + PAGES; id++) {
        if (tp_page(&pg, id)->state != TP_PAGE_RESIDENT)
            continue;
        struct tp_page_digest d = tp_resident_digest(&pg.resident, &pg.map, id);
        if (id == without)
            ck_assert_msg(!tp_page_digest_known(d), "page %u has a digest", id - first);
        else
            ck_assert_msg(tp_page_digest_same(d, digest_for(id)), "page %u lost its digest", id - first);
    }
}

/* A page whose content is compared by digest at eviction must never get
 * another page's: the digest moves with its page when the page moves to
 * another slot (a page brought in behind the hand while the one there is
 * on its way out) and when the slots are rebuilt for a new cap. */
START_TEST(a_page_keeps_its_digest_through_moves_and_resizes)
{
    for (uint32_t i = 0; i < 6; i++) {
        bring_in(first + i, 0);
        tp_resident_set_digest(&pg.resident, &pg.map, first + i, digest_for(first + i));
    }
    size_t moves = 0;
    for (uint32_t k = 0; k < 20; k++) {
        /* A victim claimed and still resident, as during its eviction,
         * when another page comes in. */
        uint32_t victim = pick(TP_POLICY_FIFO);
        ck_assert_uint_ne(victim, TP_NIL);
        tp_page_claim(&pg, victim);
        uint32_t slot = tp_page(&pg, victim)->slot;
        uint32_t incoming = first + 6 + k;
        bring_in(incoming, 0);
        each_page_keeps_its_digest(incoming);
        tp_resident_set_digest(&pg.resident, &pg.map, incoming, digest_for(incoming));
        moves += tp_page(&pg, victim)->slot != slot;
        tp_page_evicted(&pg, victim);
        tp_page_release(&pg, victim);
        each_page_keeps_its_digest(TP_NIL);
    }
    ck_assert_uint_gt(moves, 0);
    ck_assert_int_eq(tp_resident_resize(&pg.resident, &pg.map, 20000), 0);
    each_page_keeps_its_digest(TP_NIL);
    ck_assert_int_eq(tp_resident_resize(&pg.resident, &pg.map, 4), 0);
    each_page_keeps_its_digest(TP_NIL);
    /* Gone and back: none until one is taken again. */
    uint32_t again = pick(TP_POLICY_FIFO);
    tp_page_claim(&pg, again);
    tp_page_evicted(&pg, again);
    tp_page_release(&pg, again);
    bring_in(again, 0);
    each_page_keeps_its_digest(again);
}
END_TEST

START_TEST(locked_pages_are_counted_and_unmapping_unlocks)
{
    uint32_t a = first, b = first + 1;
    bring_in(a, 0);
    tp_page_set_locked(&pg, a, 1);
    tp_page_set_locked(&pg, a, 1); /* again: no change */
    tp_page_set_locked(&pg, b, 1);
    ck_assert_uint_eq(pg.locked, 2);
    ck_assert(tp_page(&pg, a)->flags & TP_PAGE_LOCKED);
    ck_assert_uint_eq(pick(TP_POLICY_FIFO), TP_NIL); /* a is resident but locked */
    tp_page_set_locked(&pg, b, 0);
    ck_assert_uint_eq(pg.locked, 1);
    tp_page_forget(&pg, a, 1);
    ck_assert_uint_eq(pg.locked, 0);
    ck_assert(!(tp_page(&pg, a)->flags & TP_PAGE_LOCKED));
}
END_TEST

START_TEST(a_page_brought_in_is_the_last_the_hand_reaches)
{
    for (uint32_t i = 0; i < 6; i++)
        bring_in(first + i, 0);
    /* Pages 3 and 1 leave (discarded, say): their slots, ahead of the
     * hand, are free. */
    uint32_t gone[] = {first + 3, first + 1};
    for (size_t i = 0; i < 2; i++) {
        tp_page_claim(&pg, gone[i]);
        tp_page_evicted(&pg, gone[i]);
        tp_page_release(&pg, gone[i]);
    }
    /* A page brought in now goes behind the hand, not into a free slot
     * ahead of it: the hand reaches every older page first, so a page is
     * not evicted before the thread that faulted it in could use it. */
    bring_in(first + 6, 0);
    for (size_t i = 0; i < 5; i++) {
        uint32_t id = pick(TP_POLICY_FIFO);
        ck_assert_uint_eq(id == first + 6, i == 4);
        ck_assert_uint_eq(pg.resident.slots[tp_page(&pg, id)->slot], id);
        tp_page_claim(&pg, id);
        tp_page_evicted(&pg, id);
        tp_page_release(&pg, id);
    }
}
END_TEST


/* The page map alone: filled lazily, a chunk at a time. */
START_TEST(a_huge_range_costs_nothing_until_touched)
{
    struct tp_page_map m;
    memset(&m, 0, sizeof m);
    uint32_t base;
    ck_assert_int_eq(tp_page_map_alloc(&m, 1u << 28, &base), 0); /* 1 TiB of 4 KiB pages */
    ck_assert_uint_eq(tp_page_map_bytes(&m), 0);
    ck_assert_ptr_null(tp_page_find(&m, base + 12345));
    /* Three pages far apart, and one next to the first. */
    uint32_t touched[] = {base + 5, base + 6, base + 1000003, base + (1u << 28) - 1};
    for (size_t i = 0; i < 4; i++) {
        struct tp_page *p = tp_page_touch(&m, touched[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->state, TP_PAGE_EMPTY);
        ck_assert_uint_eq(p->tier, TP_NO_TIER);
        ck_assert_uint_eq(p->slot, TP_NIL);
        p->flags = TP_PAGE_LOCKED;
    }
    ck_assert_ptr_eq(tp_page_find(&m, base + 5), tp_page_touch(&m, base + 5));
    ck_assert_uint_le(tp_page_map_bytes(&m), 3 * sizeof(struct tp_page_chunk) + 4096);

    /* A walk visits the touched chunks in order, clipped to its range. */
    struct tp_page_walk w;
    uint32_t run, n;
    tp_page_walk_start(&w, &m, base + 3, (1u << 28) - 3);
    ck_assert(tp_page_walk_next(&w, &run, &n));
    ck_assert_uint_eq(run, base + 3);
    ck_assert_uint_eq(n, TP_PAGE_CHUNK - 3);
    ck_assert(tp_page_walk_next(&w, &run, &n));
    ck_assert_uint_eq(run, (base + 1000003) & ~(TP_PAGE_CHUNK - 1));
    ck_assert_uint_eq(n, TP_PAGE_CHUNK);
    ck_assert(tp_page_walk_next(&w, &run, &n));
    ck_assert_uint_eq(run + n, base + (1u << 28));
    ck_assert(!tp_page_walk_next(&w, &run, &n));
    tp_page_walk_end(&w);
    /* A short range is probed chunk by chunk, with the same answer. */
    tp_page_walk_start(&w, &m, base + 999990, 20);
    ck_assert(tp_page_walk_next(&w, &run, &n));
    ck_assert_uint_eq(run, (base + 1000003) & ~(TP_PAGE_CHUNK - 1));
    ck_assert(!tp_page_walk_next(&w, &run, &n));
    tp_page_walk_end(&w);

    /* Released ids read as new again, and their chunks go. */
    tp_page_map_release(&m, base, 1u << 28);
    ck_assert_uint_eq(m.chunk_count, 0);
    uint32_t again;
    ck_assert_int_eq(tp_page_map_alloc(&m, 64, &again), 0);
    ck_assert_uint_eq(again, base);
    ck_assert_ptr_null(tp_page_find(&m, base + 5));
    tp_page_map_destroy(&m);
}
END_TEST

START_TEST(releasing_part_of_a_chunk_keeps_the_rest)
{
    struct tp_page_map m;
    memset(&m, 0, sizeof m);
    uint32_t a, b;
    ck_assert_int_eq(tp_page_map_alloc(&m, 8, &a), 0);
    ck_assert_int_eq(tp_page_map_alloc(&m, 8, &b), 0); /* the same chunk as a's */
    tp_page_touch(&m, a + 1)->state = TP_PAGE_STORED;
    tp_page_touch(&m, b + 1)->state = TP_PAGE_STORED;
    tp_page_map_release(&m, a, 8);
    ck_assert_uint_eq(tp_page_find(&m, a + 1)->state, TP_PAGE_EMPTY);
    ck_assert_uint_eq(tp_page_find(&m, b + 1)->state, TP_PAGE_STORED);
    tp_page_map_release(&m, b, 8);
    ck_assert_ptr_null(tp_page_find(&m, b + 1));
    tp_page_map_destroy(&m);
}
END_TEST

START_TEST(the_table_finds_every_chunk_through_growth_and_removals)
{
    struct tp_page_map m;
    memset(&m, 0, sizeof m);
    enum { RANGES = 3000, SPAN = 4096 };
    uint32_t first[RANGES];
    for (uint32_t i = 0; i < RANGES; i++) {
        ck_assert_int_eq(tp_page_map_alloc(&m, SPAN, &first[i]), 0);
        /* Pages at scattered places of each range, some in one chunk. */
        uint32_t at = (i * 2654435761u) % (SPAN - 40);
        tp_page_touch(&m, first[i] + at)->heat = (uint8_t)(i % 200 + 1);
        tp_page_touch(&m, first[i] + at + 33)->heat = (uint8_t)(i % 200 + 1);
    }
    /* Every third range goes: the table closes the holes it leaves. */
    for (uint32_t i = 0; i < RANGES; i += 3)
        tp_page_map_release(&m, first[i], SPAN);
    for (uint32_t i = 0; i < RANGES; i++) {
        uint32_t at = (i * 2654435761u) % (SPAN - 40);
        const struct tp_page *p = tp_page_find(&m, first[i] + at), *q = tp_page_find(&m, first[i] + at + 33);
        if (i % 3 == 0) {
            ck_assert_ptr_null(p);
            ck_assert_ptr_null(q);
        } else {
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq(p->heat, i % 200 + 1);
            ck_assert_uint_eq(q->heat, i % 200 + 1);
        }
    }
    tp_page_map_destroy(&m);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core_page_state");
    TCase *state = tcase_create("page_state");
    tcase_add_checked_fixture(state, setup, teardown);
    tcase_add_test(state, waiters_wait_until_the_page_is_released);
    tcase_add_test(state, landing_moves_the_page_between_tier_lists);
    tcase_add_test(state, landing_again_in_the_same_tier_makes_the_page_newest);
    tcase_add_test(state, a_tier_gives_no_place_beyond_its_capacity);
    tcase_add_test(state, an_evicted_page_is_stored_when_a_tier_holds_it_and_empty_otherwise);
    tcase_add_test(state, a_forgotten_page_reads_as_zeros);
    tcase_add_test(state, a_message_read_before_its_page_left_is_stale);
    tcase_add_test(state, locked_pages_are_counted_and_unmapping_unlocks);
    if (TP_LOCK_CHECKS)
        tcase_add_test_raise_signal(state, claiming_without_the_lock_is_caught, SIGABRT);
    suite_add_tcase(suite, state);

    TCase *policy = tcase_create("eviction_policy");
    tcase_add_checked_fixture(policy, setup, teardown);
    tcase_add_test(policy, clock_gives_used_pages_a_second_chance);
    tcase_add_test(policy, a_batch_never_evicts_a_page_it_checked);
    tcase_add_test(policy, a_page_fetched_ahead_gets_the_turn_a_faulted_page_gets);
    tcase_add_test(policy, a_prefetch_never_pushes_out_a_page_fetched_ahead_unused);
    tcase_add_test(policy, a_page_mapped_ahead_stays_mapped_and_may_be_written);
    tcase_add_test(policy, a_hot_page_is_checked_again_after_its_heat_runs_out);
    tcase_add_test(policy, a_check_takes_along_the_neighbours_due_for_one);
    tcase_add_test(policy, ranges_merge_across_pages_not_mapped);
    tcase_add_test(policy, a_page_that_may_be_mapped_ends_a_merge);
    tcase_add_test(policy, fifo_takes_pages_in_the_order_they_came_and_never_unmaps);
    tcase_add_test(policy, no_victim_while_every_page_is_busy);
    tcase_add_test(policy, resizing_keeps_the_pages_in_hand_order);
    tcase_add_test(policy, a_page_keeps_its_digest_through_moves_and_resizes);
    tcase_add_test(policy, a_page_brought_in_is_the_last_the_hand_reaches);
    suite_add_tcase(suite, policy);

    TCase *map = tcase_create("page_map");
    tcase_add_test(map, a_huge_range_costs_nothing_until_touched);
    tcase_add_test(map, releasing_part_of_a_chunk_keeps_the_rest);
    tcase_add_test(map, the_table_finds_every_chunk_through_growth_and_removals);
    suite_add_tcase(suite, map);

    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
