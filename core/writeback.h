/* The write-back queue of a remote tier: pages put into the tier are
 * copied here and sent in batches by a thread of the queue's own, off the
 * fault path. Until the store acknowledges a page, the queue is where the
 * page lives, and a fault on it is served from here. Deletes of copies that
 * went stale are held here too, up to a number set at start: a put of the
 * same page before its delete is sent overwrites the stale copy, and the
 * store never serves the delete. Only the held deletes over that number
 * are sent, oldest first; all of them when the queue is flushed or
 * stopped, or when the store refuses a page as full.
 *
 * The queue knows nothing of the stack: it sends through the calls its
 * owner (the tier chain) gives it, and asks the owner what to do with a
 * page the store refused as full. */
#ifndef TIERPAGE_WRITEBACK_H
#define TIERPAGE_WRITEBACK_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

struct tp_writeback;

/* Called from the queue's thread, with no lock of the queue held. */
struct tp_writeback_target {
    void *ctx;
    const char *name;   /* the tier's, for messages */
    /* Put pages[i] under keys[i] for i < n into the store; results[i] is
     * each one's result (0, -ENOSPC for full, or another -errno). */
    void (*put)(void *ctx, size_t n, const uint64_t *keys, const void *const *pages, int *results,
                tierpage_error *err);
    /* Delete keys[i] for i < n; results[i] is 0 (also when there was
     * none) or -errno. */
    void (*del)(void *ctx, size_t n, const uint64_t *keys, int *results, tierpage_error *err);
    /* The store refused the page as full: find it another place. 0 when
     * it has one (or needs none any more), -EAGAIN to be asked again
     * later, another -errno with err set when it fits nowhere. */
    int (*full)(void *ctx, struct tp_writeback *wb, uint32_t id, const void *page, tierpage_error *err);
    /* After each batch: pages the store acknowledged, and refused as full. */
    void (*sent)(void *ctx, size_t acknowledged, size_t refused);
    /* The queue cannot place its pages (the store kept refusing them for
     * timeout_ns, or a full store's page fits nowhere): stop the program
     * served. Returns only where one process serves many (tierpaged): the
     * queue is then abandoned until tp_writeback_resume. */
    void (*failed)(void *ctx, const char *why);
};

/* A queue of `bytes` (rounded down to pages, at least one), holding up to
 * stale_hold deletes (0: each is sent at once). A store that keeps
 * refusing pages (not as full) for timeout_ns is reported to
 * target->failed. */
int tp_writeback_start(const struct tp_writeback_target *target, size_t page_size, uint64_t bytes,
                       size_t stale_hold, uint64_t timeout_ns, struct tp_writeback **out, tierpage_error *err);
/* Lowers the number of deletes held to stale_hold (a larger number than
 * the queue started with is ignored); those over it are sent. */
void tp_writeback_set_stale_hold(struct tp_writeback *wb, size_t stale_hold);
/* Sends everything queued and held, then stops the thread and frees the
 * queue. */
void tp_writeback_stop(struct tp_writeback *wb);
/* Waits until every page queued so far has been acknowledged and every
 * held delete sent. */
void tp_writeback_flush(struct tp_writeback *wb);

/* Abandoned (after target->failed returned), the queue drops every page
 * it held and every put and delete given to it, and a get of any page
 * fails with -EIO: the store's copy may be older than the page dropped.
 * Resumed, it queues again; the stack that resumes it holds no page that
 * the queue dropped. */
void tp_writeback_resume(struct tp_writeback *wb);

/* Queue a copy of the page (waits while the queue is full). */
void tp_writeback_put(struct tp_writeback *wb, uint32_t id, const void *page);

/* The same, then wait until the store has answered the put: 0 when it
 * acknowledged the page; -ENOSPC when it refused it as full (the page is
 * handed back, not given to target->full: the caller, which must hold the
 * page so that no one else puts it meanwhile, finds it another place);
 * -EIO when the queue dropped it (abandoned). For a page whose other copy
 * must stay until the store holds this one: the only copy must never be
 * in the queue's memory when the pager's state outlives the process. */
int tp_writeback_put_acked(struct tp_writeback *wb, uint32_t id, const void *page);
/* The store's answer to one put, filled in by the queue's thread. */
struct tp_writeback_ticket {
    int done;
    int result; /* once done: as tp_writeback_put_acked returns */
};
/* Queue a copy of the page (waits while the queue is full), its answer to
 * come in `ticket`, without waiting for it: tp_writeback_put_acked in two
 * steps, so that one thread can have many puts in flight. The ticket must
 * stay where it is, and the page held by the caller, until
 * tp_writeback_wait has seen it answered. Takes and releases the queue's
 * lock; no lock of the caller's may be held (the queue's thread takes the
 * stack lock to count and place pages). */
void tp_writeback_put_ticket(struct tp_writeback *wb, uint32_t id, const void *page,
                             struct tp_writeback_ticket *ticket);
/* Wait until tickets[i] for i < n are all answered. Same locking. */
void tp_writeback_wait(struct tp_writeback *wb, const struct tp_writeback_ticket *tickets, size_t n);
/* 0 and the page when a copy is queued; -ENODATA when its delete is held
 * or being sent (the store's copy is stale: do not read it); -ENOENT when
 * neither; -EIO while the queue is abandoned. */
int tp_writeback_get(struct tp_writeback *wb, uint32_t id, void *page);
/* Drop queued copies of the page and hold the delete of the store's copy,
 * to be sent after any send of the page in progress (waits while the
 * held deletes fill their room). */
void tp_writeback_delete(struct tp_writeback *wb, uint32_t id);
/* 1 when a put of the page waits in the queue, not yet being sent: a copy
 * newer than one being sent. */
int tp_writeback_put_waiting(struct tp_writeback *wb, uint32_t id);

struct tp_writeback_stats {
    uint64_t queued_pages, batches, sent_pages, queue_hits, deleted_pages;
    uint64_t deletes_overwritten; /* held deletes a put of the same page made needless */
    uint64_t stale_held;          /* now: deletes held */
    uint64_t stale_hold;          /* how many it may hold */
    uint64_t depth_pages;    /* now: entries queued or being sent */
    uint64_t capacity_pages; /* the queue's size */
};
void tp_writeback_stats(struct tp_writeback *wb, struct tp_writeback_stats *out);

#endif
