/* The owner of every page's state. A page is EMPTY, RESIDENT or STORED,
 * has at most one tier holding its copy (and sits in that tier's list,
 * coldest first), and is BUSY while one thread moves it; every change of
 * these goes through the functions below, and so does the resident set.
 * Each says which lock it expects: "pages->lock held" means held on entry
 * and on return. */
#ifndef TIERPAGE_PAGE_STATE_H
#define TIERPAGE_PAGE_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "checked_lock.h"
#include "page_map.h"
#include "resident_set.h"
#include "tierpage.h"

/* The pages whose copy one tier holds, coldest first. */
struct tp_tier_pages {
    uint32_t head, tail;
    uint64_t count;      /* pages in the list, and places reserved for puts in flight */
};

struct tp_pages {
    struct tp_mutex *lock;          /* the stack lock: guards everything here */
    pthread_cond_t idle;           /* a BUSY page became idle, or the pages thawed */
    uint64_t busy;                 /* pages BUSY now */
    int frozen;                    /* a fork is copying the pages: no new move starts */
    struct tp_page_map map;
    struct tp_resident_set resident;
    struct tp_tier_pages tiers[TP_MAX_TIERS];
    uint64_t locked;                /* pages with TP_PAGE_LOCKED */
};

/* What a page brought in is known to be. */
enum tp_resident_flags {
    TP_RESIDENT_DIRTY = TP_PAGE_DIRTY,   /* mapped writable */
    TP_RESIDENT_UNSURE = TP_PAGE_UNSURE, /* mapped writable on a read: compare at eviction */
};

int tp_pages_init(struct tp_pages *pg, struct tp_mutex *lock, uint64_t resident_cap_pages);
void tp_pages_destroy(struct tp_pages *pg);

/* A page known to have been touched (page_map.h): resident, stored, BUSY,
 * locked or in a list. tp_page_find and tp_page_touch for any other. */
static inline struct tp_page *tp_page(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock); /* the map's table may be growing under another thread */
    return tp_page_get(&pg->map, id);
}

/* Called with pages->lock held; drops it while the page is BUSY or the
 * pages are frozen, and holds it again when the page is idle and may be
 * claimed. */
void tp_page_wait_idle(struct tp_pages *pg, uint32_t id);
/* pages->lock held: no move starts from now on (a thread already moving a
 * page may still claim the pages that move needs); returns, lock held,
 * once no page is BUSY. The lock is dropped while waiting. */
void tp_pages_freeze(struct tp_pages *pg);
/* pages->lock held: moves may start again; waiters are woken. */
void tp_pages_thaw(struct tp_pages *pg);
/* pages->lock held: 1 while frozen, when a thread that holds no BUSY page
 * must not start a move. */
static inline int tp_pages_frozen(const struct tp_pages *pg)
{
    return pg->frozen;
}
/* pages->lock held, the page idle and touched: it becomes BUSY for the
 * caller, and only the caller changes its tier or state until it releases
 * it. */
void tp_page_claim(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page BUSY for the caller: idle again, waiters woken. */
void tp_page_release(struct tp_pages *pg, uint32_t id);
/* The same, taking and dropping pages->lock (not held on entry). */
void tp_page_release_unlocked(struct tp_pages *pg, uint32_t id);

/* pages->lock held, the page BUSY: its copy now lives in tier t, whose
 * count already holds the place (tp_tier_reserve). It leaves the tier it
 * was in (uncounted there) or, already in t, becomes t's newest. Returns
 * the tier it left, TP_NO_TIER when none or t itself. */
size_t tp_page_land(struct tp_pages *pg, uint32_t id, size_t t);
/* pages->lock held, the page BUSY, EMPTY and landed in a tier
 * (tp_page_land): its only copy is that tier's. For a page whose copy was
 * put there directly: a forked tierpaged client's child's (remote_fork.c). */
void tp_page_make_stored(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page BUSY: no tier holds its copy any more (the
 * caller deletes it). Returns the tier that did, or TP_NO_TIER. */
size_t tp_page_drop_copy(struct tp_pages *pg, uint32_t id);

/* pages->lock held, the page not resident: 1 when it left the resident set
 * after `ticket` (tp_resident_tick) was taken. A fault message read before
 * its page left is most likely from a thread woken when the page came in,
 * the page evicted again before the message was handled: bringing the page
 * in for it would waste a fetch, while a wake costs nothing if nobody
 * waits, and a thread that does wait faults again and is read with a newer
 * ticket. The page's tick moves back to the ticket, which keeps wrapped
 * ticks from calling every later message stale. */
int tp_page_left_since(struct tp_pages *pg, uint32_t id, uint32_t ticket);
/* pages->lock held, the page BUSY and not resident: count its place in the
 * resident set before it is fetched. */
void tp_page_reserve_resident(struct tp_pages *pg);
/* pages->lock held, the page BUSY, its place reserved: mapped now, fresh
 * from its tier (now its newest page) or all zeros. */
void tp_page_make_resident(struct tp_pages *pg, uint32_t id, unsigned resident_flags);
/* pages->lock held, the page BUSY, its place reserved: its tier's copy is
 * in memory, fetched ahead of a fault. It comes in unused (not
 * REFERENCED) with one pass of the clock hand to wait (heat 1), the turn
 * a faulted page gets before it may go: the program must have a fair
 * chance to reach it, and a hot page still outlasts it. Not `mapped`, its
 * first use is a minor fault; `mapped` (AHEAD, with `resident_flags` as
 * tp_page_make_resident takes them: write-protected without), its use
 * shows only as a write, or as the program faulting further along. */
void tp_page_make_prefetched(struct tp_pages *pg, uint32_t id, int mapped, unsigned resident_flags);
/* A page fetched ahead, not used yet, that was never mapped in the
 * program: nothing can have written it. */
static inline int tp_page_never_mapped(const struct tp_page *p)
{
    return (p->flags & (TP_PAGE_PREFETCHED | TP_PAGE_AHEAD)) == TP_PAGE_PREFETCHED;
}
/* pages->lock held, the page BUSY and not resident: give back the place
 * tp_page_reserve_resident counted (its fetch failed). */
void tp_page_unreserve_resident(struct tp_pages *pg);
/* pages->lock held, the page resident: when it was prefetched and not used
 * yet, it is used now, counted REFERENCED as a page a fault brought in,
 * with `resident_flags` as tp_page_make_resident takes them; returns 1.
 * Otherwise changes nothing, returns 0. */
int tp_page_note_prefetch_use(struct tp_pages *pg, uint32_t id, unsigned resident_flags);
/* pages->lock held, the page resident: used (and written, with `write`)
 * since the clock hand unmapped it; hot for TP_HEAT_MAX passes. */
void tp_page_note_use(struct tp_pages *pg, uint32_t id, int write);
/* pages->lock held, the page resident: its first write. Returns 1 when it
 * was clean. */
int tp_page_note_write(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page resident: found written (by the kernel,
 * which resolved the write itself); unlike tp_page_note_write, says
 * nothing of its use. */
void tp_page_mark_dirty(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page BUSY: its content is its tier's copy (or
 * zeros, with none). */
void tp_page_mark_clean(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page BUSY and resident, its memory freed: STORED
 * when a tier holds its copy, EMPTY otherwise. Returns 1 when it had been
 * prefetched and was never used. */
int tp_page_evicted(struct tp_pages *pg, uint32_t id);
/* pages->lock held, the page idle and without a tier copy: it reads as
 * zeros from now on; with `unmapping`, the program has unmapped it (and
 * it is no longer mlocked, nor counted in pages->locked). */
void tp_page_forget(struct tp_pages *pg, uint32_t id, int unmapping);

/* pages->lock held: the program mlocked the page (`locked`: it is never
 * evicted; the page touched) or unlocked it; counted in pages->locked. */
void tp_page_set_locked(struct tp_pages *pg, uint32_t id, int locked);

/* pages->lock held: count a place in tier t for a put, when t has room
 * (`capacity_pages` 0: unbounded). Returns 1 when it did. */
int tp_tier_reserve(struct tp_pages *pg, size_t t, uint64_t capacity_pages);
/* pages->lock held: a reserved place the put did not use. */
void tp_tier_unreserve(struct tp_pages *pg, size_t t);
/* pages->lock held: the coldest page of tier t that no one is moving,
 * claimed for the caller; TP_NIL when none. */
uint32_t tp_tier_claim_coldest(struct tp_pages *pg, size_t t);

#endif
