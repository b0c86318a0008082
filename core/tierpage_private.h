/* Private to tierpage's own preload shim (shim/), which links the core's
 * objects in rather than loading libtierpage.so: nothing here is exported
 * by libtierpage.so, and nothing here is a promise to anyone else. The
 * names say so. */
#ifndef TIERPAGE_PRIVATE_H
#define TIERPAGE_PRIVATE_H

#include "tierpage.h"

/* Pager code is about to run on the calling (program) thread, or has
 * finished: while entered, the thread counts as one of the pager's, so the
 * shim sends its allocations to the real allocator instead of serving them
 * (serving them could fault into the pager itself). Calls nest. */
void tp_private_pager_enter(void);
void tp_private_pager_leave(void);
/* True on the pager's own threads (fault handlers, evictor, write-back
 * senders) and on a program thread between enter and leave. */
int tp_private_in_pager(void);

/* The core tells `hook` of each descriptor it creates without the C
 * library's creators (its userfaultfd), so that the shim can keep the
 * program from closing it (shim/descriptors.c); the hook returns the
 * number the core is to use (the same descriptor, perhaps moved). */
void tp_private_on_pager_fd(int (*hook)(int fd));

/* daemon_timeout: how long a tierpaged client waits for a daemon that went
 * away to come back (daemon_link.h) before its program is stopped; 0 stops
 * it at once. tp_stack_open_daemon waits the default. */
#define TP_DAEMON_TIMEOUT_DEFAULT_MS 60000u
#define TP_DAEMON_TIMEOUT_MAX_MS (24u * 3600u * 1000u)
tp_stack *tp_private_stack_open_daemon(const char *socket, const char *vm, uint64_t timeout_ms, tierpage_error *err);

/* fork: a child gets its own copy of the served memory as it was at the
 * fork, paged by a pager of its own (stack_fork.c; README, "fork"). For
 * pthread_atfork, on the forking thread.
 *
 * Before fork(): takes the stack's regions lock and lock (held until one
 * of the two calls after it), waits until no page is being moved and
 * keeps new moves from starting, then, when the child can have served
 * memory, copies every resident page into a new memfd the child will
 * take. */
void tp_private_stack_fork_prepare(tp_stack *stack);
/* After fork(), in the parent: sends the child the pages its tiers need
 * copied, drops the copies and the locks; the pager goes on. */
void tp_private_stack_fork_parent(tp_stack *stack);
/* After fork(), in the child, its only thread: the child's own
 * userfaultfd, regions on the copies, stores, handlers and evictor; the
 * stack is then the child's. Returns 0, or a negative errno with err set:
 * -ENOTSUP when this stack cannot give a child served memory (err says
 * why), other values when setting it up failed. On failure the stack must
 * not be used again in the child. */
int tp_private_stack_fork_child(tp_stack *stack, tierpage_error *err);
/* For a process about to exit: the pages its forked children that already
 * ended left on servers are removed now, before the thread that watches
 * them goes with the process (fork_reaper.h). Children still running keep
 * theirs. */
void tp_private_stack_reap_children(tp_stack *stack);

/* A process of a run other than the program (one the program started with
 * exec, or a child it forked before it served anything) opens the stack
 * file apart from the program's stack, whose stores the program may hold
 * (a pmem file is locked by its one user): each store that keeps a
 * process's pages apart (TIERPAGE_STORE_FORK_APART) is opened as in a
 * forked child, with `apart_from` (the program's instance id, "" when
 * unknown) as tierpage_store_params.forked_from; the others as
 * tp_stack_open_file opens them. */
tp_stack *tp_private_stack_open_apart(const char *path, const char *apart_from, tierpage_error *err);
/* The same for a forked child served apart from its parent's process
 * (tierpaged's entry of a forked client), from the text of the stack file
 * the parent's stack was opened from (source_name names it in errors):
 * per-instance in shared stores even when it says `namespace: exclusive`,
 * which the parent holds. */
tp_stack *tp_private_stack_open_forked(const char *yaml, const char *source_name, const char *parent_instance,
                                       tierpage_error *err);
/* A stack a killed pager left, opened again to carry on (a restarted
 * tierpaged): its stores are opened under `instance`, the id the killed
 * pager's stack had (16 hex digits, tp_private_stack_instance), and are not
 * cleared: what they hold are the stack's pages. Nothing maps them yet:
 * the caller rebuilds the page map and finds each store's keys with
 * tp_private_stack_tier_list. */
tp_stack *tp_private_stack_open_recovering(const char *yaml, const char *source_name, const char *instance,
                                           tierpage_error *err);
/* A stack opened from a parsed stack file, which it frees: tierpaged's,
 * which gives tiers options their file does not (a dram tier's pool file
 * in its state directory), so that errors still name the file's lines. As
 * tp_stack_open_file opens, or with `recover_instance` (not NULL) as
 * tp_private_stack_open_recovering. */
struct tp_conf;
tp_stack *tp_private_stack_open_conf(struct tp_conf *conf, const char *recover_instance, tierpage_error *err);
/* Calls each(ctx, key) for every key tier `tier`'s store holds (the
 * store's list operation), stopping at the first non-zero return, which
 * it returns; -ENOTSUP when the store cannot list. Nothing else may use
 * the stack meanwhile. */
int tp_private_stack_tier_list(tp_stack *stack, size_t tier, int (*each)(void *ctx, uint64_t key), void *ctx,
                               tierpage_error *err);
/* A recovered stack whose page map is final (every region of its client
 * given again, no page moving): every key tier `tier`'s store holds that
 * the map does not name in that tier is deleted, the slot a killed pager
 * left behind freed. Returns the keys deleted, -ENOTSUP when the store
 * cannot list, or -errno with err. Nothing may move a page meanwhile. */
long tp_private_stack_sweep_tier(tp_stack *stack, size_t tier, tierpage_error *err);
/* The same for every tier whose store can list its keys (dram, pmem); the
 * others are skipped. Returns the keys deleted, or -errno with err naming
 * the tier. */
long tp_private_stack_sweep(tp_stack *stack, tierpage_error *err);
/* Keeps the stack's page map in a new file at `path` (on tmpfs;
 * page_map_file.h), so that a pager recovering after this one was killed
 * can rebuild it. Before the stack serves a page only; the file stays when
 * the stack closes. */
int tp_private_stack_keep_map_in(tp_stack *stack, const char *path, tierpage_error *err);
/* The stack's instance id (tierpage_store_params.instance). */
const char *tp_private_stack_instance(const tp_stack *stack);

/* The stats as tp_stats_write_json writes them, into buf (NUL-ended when
 * size > 0), without allocating: safe where malloc is not (an _exit from a
 * signal handler). Returns the length the whole text needs, as snprintf
 * does; TP_STATS_JSON_MAX always suffices. */
#define TP_STATS_JSON_MAX 16384
size_t tp_private_stats_format_json(const struct tp_stats *stats, char *buf, size_t size);

#endif
