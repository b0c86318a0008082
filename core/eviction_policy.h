/* Which resident page to evict next. Clock: a page used since the hand
 * last passed gets a second chance, and is unmapped so that its next use
 * shows (as a minor fault that marks it REFERENCED again). A page seen used
 * again that way is hot: the hand passes it over TP_HEAT_MAX times before
 * checking it again. A prefetched page not used yet is passed over once
 * (page_state.h): the same turn of the hand a page a fault brought in gets
 * before it may go, and no more. Fifo: the hand takes pages in the order
 * they came in. */
#ifndef TIERPAGE_EVICTION_POLICY_H
#define TIERPAGE_EVICTION_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page_map.h"
#include "resident_set.h"
#include "stack_config.h"

/* Unmap the page from the program, keeping its content, so that its next
 * use is seen. */
typedef void tp_unmap_to_check_fn(void *ctx, uint32_t id);

/* Clock: what checking the references of a page beside one the hand
 * checks may do with it, so that one unmapping checks a run of pages. */
enum tp_neighbour_check {
    TP_NEIGHBOUR_UNMAPPED, /* not mapped in the program: unmapping it again costs nothing */
    TP_NEIGHBOUR_CHECKED,  /* due for a check, as the hand would make it: now no longer
                              REFERENCED, to be unmapped, and passed over once more */
    TP_NEIGHBOUR_KEEP,     /* mapped and not due (hot, BUSY, locked): must stay mapped */
};

/* p: a page beside one the hand checks, or NULL when never touched. Called
 * with the lock that guards the page map held. */
enum tp_neighbour_check tp_check_neighbour(struct tp_page *p);

/* Whether page p (NULL when never touched) is known not to be mapped in
 * the program, so that unmapping it along with the pages around it costs
 * nothing and changes nothing. For the pages of a region this process
 * unmaps itself (not another process's: the hand leaves those mapped).
 * Called with the lock that guards the page map held; changes nothing. */
bool tp_page_known_unmapped(const struct tp_page *p);

/* Page ids [first, end) of one region to unmap from the program. */
struct tp_unmap_range {
    uint32_t first, end;
    const void *region; /* ranges of different regions never merge */
};

/* The most pages between two ranges looked at to merge them: a 2 MiB
 * page table of 4 KiB pages. The kernel flushes the TLBs at least once
 * for each page table it unmaps a written page of the memfd from, so a
 * merge across a longer gap would save no flush. */
#define TP_UNMAP_GAP_MAX 512u

/* Sorts the n ranges by first id (order[k]: the index of the k-th) and
 * merges them, in that order, into as few ranges as can be unmapped in
 * their place: two ranges of one region merge when they overlap or touch,
 * or when every page between them (at most TP_UNMAP_GAP_MAX) is
 * tp_page_known_unmapped. merged[j] covers pieces[j] of the sorted
 * ranges, after those merged[0..j) cover. Returns the number of merged
 * ranges. Called with the lock that guards the page map held; changes
 * nothing in it. */
size_t tp_merge_unmap_ranges(const struct tp_page_map *m, const struct tp_unmap_range *ranges, size_t n,
                             size_t *order, struct tp_unmap_range *merged, size_t *pieces);

/* Who the victim makes room for. */
enum tp_victim_for {
    TP_VICTIM_FOR_ANY,      /* a fault, the evictor, a resize: any page due */
    TP_VICTIM_FOR_PREFETCH, /* pages fetched ahead: never one fetched ahead and unused */
};

/* The next page to evict, moving the hand past it; TP_NIL when every
 * resident page is BUSY or, for a prefetch, when the hand stops at a
 * prefetched page not used yet (it stays under the hand, the next victim
 * for anyone else): pages fetched ahead must not push out the ones fetched
 * before them, which the program has yet to reach. TP_NIL as well once
 * the hand has passed *budget slots, each pass taken off it: see
 * tp_rest_of_turn_budget. Called with the lock that guards the resident
 * set and the page map held; never drops it. */
uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        enum tp_victim_for victim_for, size_t *budget, tp_unmap_to_check_fn *unmap_to_check,
                        void *ctx);

/* The slots the hand may pass to find the first victim of one making of
 * room (one or more batches, taken one after the other): up to three
 * turns, when every page is hot. */
size_t tp_first_pick_budget(const struct tp_resident_set *r);

/* After the first victim, found with `budget` left of
 * tp_first_pick_budget: what the rest may pass, so that one making of room
 * goes round at most once. A page the hand checks is unmapped for its next
 * use to show, and the program has had no time to use it before the hand
 * comes round again in the same making of room: a second turn would evict
 * it, however hot, with the pages found cold. */
size_t tp_rest_of_turn_budget(const struct tp_resident_set *r, size_t budget);

#endif
