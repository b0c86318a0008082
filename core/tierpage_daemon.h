/* What tierpaged needs of the core: serving memory that another process
 * maps. The process (a client) keeps its memory: each region is a memfd it
 * maps where its program sees it, registered with its own userfaultfd. The
 * stack maps the memfd too and serves the faults of that userfaultfd on the
 * same path as its own regions'. One client per stack at a time: regions
 * are kept by the client's addresses. Internal to tierpage (not exported
 * by libtierpage.so): tierpaged links tierpage_internal. */
#ifndef TIERPAGE_DAEMON_H
#define TIERPAGE_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

#include "tierpage.h"

struct tp_remote;

/* What tierpaged does when a page of the stack cannot be served (a store
 * that kept failing, a page gone from its tier, the client's memory that
 * cannot be filled): stop that client. Called once per failure until the
 * next tp_remote_attach, from whatever thread of the stack met it (no lock
 * of the stack held); it must not call into the stack. */
typedef void tp_failure_handler(void *arg, const char *why);
/* From now on a failure of the stack calls `handler` instead of ending the
 * process, and the stack backs out of the failed work: the client's
 * faults are no longer served, and tiers whose write-back queue failed
 * drop what they hold. Set before a client attaches. */
void tp_stack_set_failure_handler(tp_stack *stack, tp_failure_handler *handler, void *arg);
/* The stack serves again after a failure: a new client attached. */
void tp_stack_failure_clear(tp_stack *stack);

/* Pages one promote step fetches at most, with one get_batch. */
#define TP_PROMOTE_BATCH 64
/* One step of tp_promote, for a caller that promotes in the background:
 * from *cursor (an address of the client, 0 at first), the next stored
 * pages of one tier, up to `max`, while the resident cap less the
 * evictor's margin has room. Returns pages brought in, 0 when the cap is
 * full or no stored page is left (*cursor is then 0), or -errno. */
long tp_promote_step(tp_stack *stack, uintptr_t *cursor, size_t max, tierpage_error *err);

/* Serve the faults read from `uffd` (a client's userfaultfd) on a thread of
 * the stack's, which follows the CPU of client `pid`'s faulting thread
 * (handler_placement.h). Takes uffd on success. */
int tp_remote_attach(tp_stack *stack, int uffd, pid_t pid, struct tp_remote **out, tierpage_error *err);
/* tp_remote_attach in two steps, for a client that gives its regions
 * before its faults may be served (a client resuming after a daemon
 * died): the client is attached, its faults not read until
 * tp_remote_start. A client never started is detached as any. */
int tp_remote_attach_held(tp_stack *stack, int uffd, pid_t pid, struct tp_remote **out, tierpage_error *err);
int tp_remote_start(struct tp_remote *client, tierpage_error *err);
/* Serve [addr, addr+length) of the client, backed by `memfd` from
 * `offset` (page-aligned; taken on success). */
int tp_remote_add_region(struct tp_remote *client, int memfd, uint64_t addr, uint64_t length, uint64_t offset,
                         tierpage_error *err);
/* The client unmaps [addr, addr+length) (discard 0) or forgets its content
 * (discard 1): its pages are forgotten in every tier. */
int tp_remote_release(struct tp_remote *client, uint64_t addr, uint64_t length, int discard,
                      tierpage_error *err);
/* A region of the client as the stack serves it: where it is in the
 * client and the first of its page ids (the keys its pages are stored
 * under, consecutive), for a daemon that keeps them to serve the client
 * again after a crash. */
struct tp_remote_region {
    uint64_t addr, length;
    uint64_t offset; /* of addr in the region's memfd */
    uint32_t first_id;
};
/* The client's regions in address order, up to `max` into out; returns how
 * many there are (more than max: call again with room). No lock held;
 * takes the stack lock. */
size_t tp_remote_regions(struct tp_remote *client, struct tp_remote_region *out, size_t max);
/* mlock (lock 1) or munlock of [addr, addr+length) of the client, as
 * tp_lock. */
int tp_remote_lock(struct tp_remote *client, uint64_t addr, uint64_t length, int lock, tierpage_error *err);
/* The client went away: its fault thread stops and every page of its
 * regions is released in every tier. Frees client. */
void tp_remote_detach(struct tp_remote *client);

/* fork of a client (remote_fork.c). The client's pages stop moving
 * (faults, evictions, promotes wait) until tp_remote_fork_thaw, so that a
 * child can copy them as they are at the fork. No lock held. */
void tp_remote_fork_freeze(struct tp_remote *client);
void tp_remote_fork_thaw(struct tp_remote *client);
/* parent frozen; child attached to a stack of its own opened from the
 * same stack file, its regions added at the parent's addresses. Every page
 * of the parent that is resident or in a tier becomes the child's, as it
 * is: a resident page's content into the child's memfd (resident there), a
 * tier's copy read from the parent's tier and put into the same tier of
 * the child's stack. Returns the pages copied, or -errno with err. No lock
 * held; the parent's regions must not change meanwhile (its client is in
 * fork(), holding its connection). */
long tp_remote_fork_copy(struct tp_remote *parent, struct tp_remote *child, tierpage_error *err);

/* A client of a tierpaged that was killed, served again by a new one
 * (remote_resume.c, issue 13). The new daemon opened the dead one's stack
 * with tp_private_stack_open_recovering and keeps its own map in a new
 * file; the dead one's map file tells where each page was. */
struct tp_recovered_map;
/* The pages the map file at `path` (page_map_file.h) holds, and in
 * `instance` the stack it belongs to. NULL with `msg` naming the file and
 * what is wrong with it (truncated, not a map file, another version). */
struct tp_recovered_map *tp_recovered_map_read(const char *path, char instance[17], char *msg, size_t len);
uint64_t tp_recovered_map_page_size(const struct tp_recovered_map *map);
void tp_recovered_map_free(struct tp_recovered_map *map);
/* Serve [addr, addr+length) of the client (attached to that stack) again,
 * backed by `memfd` from `offset` (taken on success), under page ids from first_id as
 * the dead daemon did. A page with data in the memfd is resident (the
 * client maps it, and may have written it: it counts as dirty, its tier
 * copy kept until it is evicted); any other page the map names in a tier
 * is stored there, found, for a page the dead daemon was moving (BUSY), in
 * the tier the map names or the other one of the move (page_map_file.h);
 * the rest read as zeros. The resident set may pass its cap: set the cap
 * again once every region is back. Threads of the client waiting on a
 * fault of the range are woken, to fault again: the dead daemon may have
 * read their faults. -EIO when a page the map names is in no tier and not
 * in the memfd. No lock held. */
int tp_remote_resume_region(struct tp_remote *client, int memfd, uint64_t addr, uint64_t length, uint64_t offset,
                            uint32_t first_id, const struct tp_recovered_map *map, tierpage_error *err);
/* The pages of ids [first_id, first_id + count) that the map names in a
 * tier are deleted there (a region the client no longer has). Returns the
 * copies deleted. No lock held; no region holds those ids. */
long tp_recovered_map_forget(tp_stack *stack, const struct tp_recovered_map *map, uint32_t first_id, uint64_t count);

/* What tierpaged's metrics show beyond struct tp_stats. */
#define TP_LATENCY_BUCKETS 14
/* The upper bounds of the fault latency buckets, in nanoseconds, rising. */
extern const uint64_t tp_latency_bounds_ns[TP_LATENCY_BUCKETS];
struct tp_stack_metrics {
    /* Missing-page faults served (tp_stats.faults), by how long each took
     * from the handler taking it to the page mapped: counts[b] is the
     * faults above bound b - 1 and at most bound b (not cumulative);
     * counts[TP_LATENCY_BUCKETS] those above the last bound. */
    uint64_t latency_counts[TP_LATENCY_BUCKETS + 1];
    uint64_t latency_sum_ns;
    /* Per tier: pages waiting in its write-back queue (queued or being
     * sent), and the queue's size in pages; both 0 without a queue. */
    uint64_t queue_pages[TP_MAX_TIERS];
    uint64_t queue_capacity_pages[TP_MAX_TIERS];
};
void tp_stack_metrics(tp_stack *stack, struct tp_stack_metrics *out);

#endif
