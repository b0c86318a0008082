/* The write-back queue of a remote tier: pages put into the tier are
 * copied here and sent in batches by a thread of the queue's own, off the
 * fault path. Until the store acknowledges a page, the queue is where the
 * page lives, and a fault on it is served from here. Deletes of copies that
 * went stale wait here too, and a put of the same page before they are sent
 * replaces them: the put overwrites the stale copy anyway. */
#ifndef TIERPAGE_WRITEBACK_H
#define TIERPAGE_WRITEBACK_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

struct tp_stack;
struct tp_writeback;

/* A queue of `bytes` (rounded down to pages, at least one) for tier t. */
int tp_writeback_start(struct tp_stack *s, size_t t, uint64_t bytes, struct tp_writeback **out,
                       tierpage_error *err);
/* Sends everything queued, then stops the thread and frees the queue. */
void tp_writeback_stop(struct tp_writeback *wb);
/* Waits until every page queued so far has been acknowledged. */
void tp_writeback_flush(struct tp_writeback *wb);

/* Queue a copy of the page (waits while the queue is full). */
void tp_writeback_put(struct tp_writeback *wb, uint32_t id, const void *page);
/* 0 and the page when a copy is queued; -ENODATA when its delete is queued
 * (the store's copy is stale: do not read it); -ENOENT when neither. */
int tp_writeback_get(struct tp_writeback *wb, uint32_t id, void *page);
/* Drop queued copies of the page and queue the delete of the store's copy,
 * to be sent after any send of the page in progress. */
void tp_writeback_delete(struct tp_writeback *wb, uint32_t id);

struct tp_writeback_stats {
    uint64_t queued_pages, batches, sent_pages, queue_hits, deleted_pages;
};
void tp_writeback_stats(struct tp_writeback *wb, struct tp_writeback_stats *out);

#endif
