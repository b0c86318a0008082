/* Opening and closing a stack: config, plugins, stores, userfaultfd. The
 * parsed config is read at open only: what the parts of the stack need
 * later is copied out of it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_link.h"
#include "eviction.h"
#include "evictor_thread.h"
#include "fault_handler.h"
#include "fork_reaper.h"
#include "instance_id.h"
#include "page_map_file.h"
#include "pager_thread.h"
#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_private.h"
#include "uffd.h"
#include "write_tracking.h"
#include "writeback.h"

/* The write-back queue of a remote tier when the stack file sets none. */
#define TP_DEFAULT_WRITEBACK_QUEUE (4u << 20)

/* Open tier t's store with the options it keeps; `forked_from` is the
 * parent's instance id when this stack is a forked child's; `recovering`
 * when the stack is a killed pager's, opened again under its instance. */
static int open_store(struct tp_stack *s, struct tp_tier *t, uint64_t capacity, const char *forked_from,
                      int recovering, tierpage_error *err)
{
    tp_store_host_set_thread_create(tp_store_thread_create);
    tierpage_store_params params = {
        .namespace_name = s->namespace_name,
        .page_size = s->page_size,
        .capacity = capacity,
        .options = t->options,
        .option_count = t->option_count,
        .instance = s->instance,
        .exclusive = s->exclusive_namespace,
        .host = tp_plugin_host(&t->plugin, t->name),
        .forked_from = forked_from,
        .recovering = recovering,
    };
    /* A store may start threads of its own (a lease heartbeat): they are
     * pager threads too, and inherit this mask. */
    sigset_t old_mask;
    tp_block_async_signals(&old_mask);
    int rc = t->ops->open(&params, &t->store, err);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    /* What this instance is may depend on its options (the dram store on
     * a file is not private memory): its own flags, when it says them. */
    if (rc == 0 && t->store)
        t->flags = t->ops->instance_flags ? t->ops->instance_flags(t->store) : t->ops->flags;
    return rc;
}

/* `apart_from`: NULL, or the instance of another stack of the same run
 * whose stores a store that keeps a process's pages apart
 * (TIERPAGE_STORE_FORK_APART) must not share: it opens apart, as in a
 * forked child. */
static int open_tier(struct tp_stack *s, const struct tp_conf *c, size_t i, const char *apart_from,
                     int recovering, tierpage_error *err)
{
    const struct tp_conf_tier *ct = &c->tiers[i];
    struct tp_tier *t = &s->tiers[i];
    tierpage_error perr = {{0}, {0}};
    snprintf(t->name, sizeof t->name, "%s", ct->name);
    t->stack = s;
    t->index = i;
    if (tp_plugin_load(ct->plugin, &t->plugin, &perr) < 0)
        return tierpage_error_set(err, -ENOENT, "plugin", "%s:%d:%d: tiers[%zu].plugin: %s", c->source,
                                  ct->plugin_line, ct->plugin_column, i, perr.message);
    t->ops = t->plugin.ops;
    t->serial = (t->ops->flags & TIERPAGE_STORE_SERIAL) != 0;
    pthread_mutex_init(&t->serial_lock, NULL);

    /* A store may keep the strings it was opened with until it is closed
     * (the rdma tier names its namespace again when it reconnects): the
     * tier keeps its own copy, as the stack keeps the namespace's. */
    t->options = calloc(ct->option_count + 1, sizeof *t->options);
    if (!t->options)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    for (size_t k = 0; k < ct->option_count; k++) {
        char *key = strdup(ct->options[k].key), *value = ct->options[k].value ? strdup(ct->options[k].value) : NULL;
        t->options[k] = (tierpage_store_option){key, value};
        t->option_count = k + 1;
        if (!key || (ct->options[k].value && !value))
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    }
    int rc = open_store(s, t, ct->capacity, (t->ops->flags & TIERPAGE_STORE_FORK_APART) ? apart_from : NULL,
                        recovering, &perr);
    if (rc < 0 || !t->store) {
        int line = ct->line, col = ct->column;
        const char *key = perr.key[0] ? perr.key : NULL;
        if (key)
            tp_conf_option_position(ct, key, &line, &col);
        tierpage_error_set(err, rc < 0 ? rc : -EINVAL, key, "%s:%d:%d: tiers[%zu]%s%s (plugin %s): %s", c->source,
                           line, col, i, key ? "." : "", key ? key : "", ct->plugin,
                           perr.message[0] ? perr.message : "the store refused to open");
        tp_plugin_unload(&t->plugin);
        t->ops = NULL;
        return rc < 0 ? rc : -EINVAL;
    }
    /* A stack starts with no pages, unless it recovers the pages a killed
     * pager left in its stores. */
    if (!recovering && t->ops->clear && (rc = t->ops->clear(t->store, &perr)) < 0) {
        tierpage_error_set(err, rc, NULL, "%s:%d:%d: tiers[%zu] (plugin %s): cannot clear pages left by an earlier "
                           "run: %s", c->source, ct->line, ct->column, i, ct->plugin, perr.message);
        t->ops->close(t->store);
        tp_plugin_unload(&t->plugin);
        t->ops = NULL;
        return rc;
    }
    t->capacity_pages = ct->capacity / s->page_size;
    if (t->capacity_pages == 0) {
        tierpage_store_usage u;
        if (tp_tier_usage(s, i, &u, &perr) == 0)
            t->capacity_pages = u.capacity_bytes / s->page_size;
    }
    uint64_t queue = ct->writeback_queue;
    if (queue == TP_CONF_DEFAULT_QUEUE)
        queue = (t->ops->flags & TIERPAGE_STORE_REMOTE) ? TP_DEFAULT_WRITEBACK_QUEUE : 0;
    t->writeback_bytes = queue;
    if (queue && (rc = tp_chain_start_queue(s, i, queue, err)) < 0) {
        t->ops->close(t->store);
        tp_plugin_unload(&t->plugin);
        t->ops = NULL;
        return rc;
    }
    return 0;
}

static void close_tiers(struct tp_stack *s)
{
    /* Queues first: a queue may still move pages down to a later tier. */
    for (size_t i = 0; i < s->tier_count; i++) {
        tp_writeback_stop(s->tiers[i].writeback);
        s->tiers[i].writeback = NULL;
    }
    for (size_t i = 0; i < TP_MAX_TIERS; i++) {
        struct tp_tier *t = &s->tiers[i];
        if (t->ops) {
            t->ops->close(t->store);
            tp_plugin_unload(&t->plugin);
            pthread_mutex_destroy(&t->serial_lock);
            t->ops = NULL;
        }
        for (size_t k = 0; k < t->option_count; k++) {
            free((char *)t->options[k].key);
            free((char *)t->options[k].value);
        }
        free(t->options);
        t->options = NULL;
        t->option_count = 0;
    }
}

/* Frees conf. `apart_from` as open_tier takes it. `recover_instance`:
 * NULL, or the instance id of the stack a killed pager left, which this
 * one takes over with the pages its stores hold. */
static tp_stack *stack_open(struct tp_conf *conf, const char *apart_from, const char *recover_instance,
                            tierpage_error *err)
{
    struct tp_stack *s = calloc(1, sizeof *s);
    if (!s) {
        tp_conf_free(conf);
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->policy = conf->policy;
    s->malloc_threshold = conf->malloc_threshold;
    s->store_timeout_ns = conf->store_timeout_ms * 1000000ull;
    s->prefetch_window = conf->prefetch ? conf->prefetch_window : 0;
    s->prefetch_map_ahead = conf->prefetch_map_ahead;
    s->namespace_name = conf->name ? strdup(conf->name) : NULL;
    s->page_size = 4096;
    s->uffd = s->pagemap_fd = -1;
    s->fork.lifeline[0] = s->fork.lifeline[1] = s->fork.own_lifeline = -1;
    s->exclusive_namespace = conf->exclusive_namespace;
    if (recover_instance)
        snprintf(s->instance, sizeof s->instance, "%s", recover_instance);
    else
        tp_instance_id(s->instance, sizeof s->instance);
    tp_lock_init(&s->lock);
    pthread_mutex_init(&s->regions_lock, NULL);
    void *zeros = mmap(NULL, s->page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (zeros == MAP_FAILED) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory for a page of zeros");
        goto fail;
    }
    s->zero_page = zeros;
    s->digest_seed = tp_page_digest_seed();
    if (tp_pages_init(&s->pages, &s->lock, conf->resident / s->page_size) < 0) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory for the resident set");
        goto fail;
    }
    if (conf->name && !s->namespace_name) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        goto fail;
    }

    for (size_t i = 0; i < conf->tier_count; i++) {
        if (open_tier(s, conf, i, apart_from, recover_instance != NULL, err) < 0)
            goto fail;
        s->tier_count = i + 1;
    }
    if (tp_write_tracking_start(s, conf->write_tracking, err) < 0)
        goto fail;
    char msg[256];
    s->uffd = tp_uffd_open(s->write_tracking == TP_WRITES_KERNEL, msg, sizeof msg);
    if (s->uffd < 0) {
        tierpage_error_set(err, s->uffd, NULL, "%s", msg);
        goto fail;
    }
    s->handler_threads = conf->handler_threads;
    s->evictor.background = conf->evictor_priority == TP_EVICTOR_BACKGROUND;
    if (tp_evictor_start(s, err) < 0 || tp_handlers_start(s, conf->handler_threads, err) < 0)
        goto fail;
    tp_conf_free(conf);
    return s;

fail:
    tp_conf_free(conf);
    tp_stack_close(s);
    return NULL;
}

tp_stack *tp_stack_open_file(const char *path, tierpage_error *err)
{
    struct tp_conf *conf;
    if (tp_conf_load_file(path, &conf, err) < 0)
        return NULL;
    return stack_open(conf, NULL, NULL, err);
}

tp_stack *tp_private_stack_open_apart(const char *path, const char *apart_from, tierpage_error *err)
{
    struct tp_conf *conf;
    if (tp_conf_load_file(path, &conf, err) < 0)
        return NULL;
    return stack_open(conf, apart_from, NULL, err);
}

tp_stack *tp_private_stack_open_forked(const char *yaml, const char *source_name, const char *parent_instance,
                                       tierpage_error *err)
{
    struct tp_conf *conf;
    if (tp_conf_load_string(yaml, strlen(yaml), source_name, &conf, err) < 0)
        return NULL;
    /* The parent holds the namespace (exclusive or not): the child's pages
     * are under its own instance, as an in-process child's are. */
    conf->exclusive_namespace = 0;
    return stack_open(conf, parent_instance, NULL, err);
}

static int is_instance_id(const char *id)
{
    size_t n = 0;
    while (id[n] && strchr("0123456789abcdef", id[n]))
        n++;
    return n == 16 && id[n] == '\0';
}

tp_stack *tp_private_stack_open_recovering(const char *yaml, const char *source_name, const char *instance,
                                           tierpage_error *err)
{
    if (!instance || !is_instance_id(instance)) {
        tierpage_error_set(err, -EINVAL, NULL, "%s: cannot recover the stack of instance '%s': an instance id "
                           "is 16 hex digits", source_name, instance ? instance : "(none)");
        return NULL;
    }
    struct tp_conf *conf;
    if (tp_conf_load_string(yaml, strlen(yaml), source_name, &conf, err) < 0)
        return NULL;
    return stack_open(conf, NULL, instance, err);
}

tp_stack *tp_private_stack_open_conf(struct tp_conf *conf, const char *recover_instance, tierpage_error *err)
{
    if (recover_instance && !is_instance_id(recover_instance)) {
        tierpage_error_set(err, -EINVAL, NULL, "%s: cannot recover the stack of instance '%s': an instance id "
                           "is 16 hex digits", conf->source ? conf->source : "stack", recover_instance);
        tp_conf_free(conf);
        return NULL;
    }
    return stack_open(conf, NULL, recover_instance, err);
}

int tp_private_stack_tier_list(tp_stack *s, size_t tier, int (*each)(void *ctx, uint64_t key), void *ctx,
                               tierpage_error *err)
{
    if (tier >= s->tier_count)
        return tierpage_error_set(err, -EINVAL, NULL, "no tier %zu: the stack has %zu", tier, s->tier_count);
    struct tp_tier *t = &s->tiers[tier];
    if (!t->ops->list)
        return tierpage_error_set(err, -ENOTSUP, NULL, "tier '%s' (plugin %s) cannot list the pages it holds",
                                  t->name, t->ops->name);
    return t->ops->list(t->store, each, ctx, err);
}

int tp_private_stack_keep_map_in(tp_stack *s, const char *path, tierpage_error *err)
{
    char msg[256];
    struct tp_page_map_file *f;
    int rc = tp_page_map_file_create(path, s->instance, s->page_size, &f, msg, sizeof msg);
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "%s", msg);
    tp_lock_take(&s->lock);
    rc = tp_page_map_keep_in(&s->pages.map, f);
    tp_lock_drop(&s->lock);
    if (rc < 0) {
        tp_page_map_file_close(f);
        unlink(path);
        return tierpage_error_set(err, rc, NULL, "page map file %s: the map must go into its file before the stack "
                                  "serves a page", path);
    }
    /* A pager killed with deletes held would leave stale copies that its
     * recovery, looking for a page it was moving, could take for the page. */
    for (size_t i = 0; i < s->tier_count; i++)
        if (s->tiers[i].writeback)
            tp_writeback_set_stale_hold(s->tiers[i].writeback, 0);
    return 0;
}

const char *tp_private_stack_instance(const tp_stack *s)
{
    return s->instance;
}

tp_stack *tp_stack_open_string(const char *yaml, const char *source_name, tierpage_error *err)
{
    struct tp_conf *conf;
    if (tp_conf_load_string(yaml, strlen(yaml), source_name ? source_name : "<string>", &conf, err) < 0)
        return NULL;
    return stack_open(conf, NULL, NULL, err);
}

tp_stack *tp_stack_open_daemon(const char *socket, const char *vm, tierpage_error *err)
{
    return tp_private_stack_open_daemon(socket, vm, TP_DAEMON_TIMEOUT_DEFAULT_MS, err);
}

tp_stack *tp_private_stack_open_daemon(const char *socket, const char *vm, uint64_t timeout_ms, tierpage_error *err)
{
    struct tp_stack *s = calloc(1, sizeof *s);
    if (!s) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        return NULL;
    }
    /* The daemon's policy sees no minor faults of this process. */
    s->policy = TP_POLICY_FIFO;
    s->page_size = 4096;
    s->uffd = s->pagemap_fd = -1;
    s->fork.lifeline[0] = s->fork.lifeline[1] = s->fork.own_lifeline = -1;
    /* The daemon maps and evicts these pages: it cannot unmap them from
     * this process to stop its writes, which the kernel's tracking needs. */
    s->write_tracking = TP_WRITES_FAULTS;
    snprintf(s->write_tracking_note, sizeof s->write_tracking_note,
             "faults: the pages are served by tierpaged, which cannot unmap them from this process");
    tp_lock_init(&s->lock);
    pthread_mutex_init(&s->regions_lock, NULL);
    if (tp_pages_init(&s->pages, &s->lock, 1) < 0) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory for the page map");
        goto fail;
    }
    char msg[256];
    s->uffd = tp_uffd_open(0, msg, sizeof msg);
    if (s->uffd < 0) {
        tierpage_error_set(err, s->uffd, NULL, "%s", msg);
        goto fail;
    }
    if (tp_daemon_link_open(socket, vm, timeout_ms, s->uffd, &s->daemon, &s->malloc_threshold, err) < 0)
        goto fail;
    return s;

fail:
    tp_stack_close(s);
    return NULL;
}

int tp_tier_reopen_in_child(struct tp_stack *s, size_t i, const char *parent_instance, tierpage_error *err)
{
    struct tp_tier *t = &s->tiers[i];
    tierpage_error perr = {{0}, {0}};
    /* The parent's store and queue stay as they were, unused: closing them
     * would speak on the parent's connections, and the queue's thread is
     * not here to stop. A private store behind a queue is not what the
     * page map says (puts and deletes wait in the queue): the child gets
     * a new one, filled as every other store it opens. */
    int queued = t->writeback != NULL;
    t->writeback = NULL;
    if (!(t->flags & TIERPAGE_STORE_FORK_PRIVATE) || queued) {
        if (t->flags & TIERPAGE_STORE_FORK_PRIVATE)
            t->ops->close(t->store); /* private memory only: nothing of the parent's */
        else if (t->ops->forget)
            t->ops->forget(t->store);
        t->store = NULL;
        int rc = open_store(s, t, t->capacity_pages * s->page_size, parent_instance, 0, &perr);
        if (rc < 0 || !t->store)
            return tierpage_error_set(err, rc < 0 ? rc : -EINVAL, NULL, "tier '%s' (plugin %s): %s", t->name,
                                      t->ops->name, perr.message[0] ? perr.message : "the store refused to open");
    }
    if (t->writeback_bytes)
        return tp_chain_start_queue(s, i, t->writeback_bytes, err);
    return 0;
}

void tp_stack_close(tp_stack *s)
{
    if (!s)
        return;
    tp_handlers_stop(s);
    tp_evictor_stop(s);
    tp_reaper_stop(s);
    while (s->region_count) {
        struct tp_region *r = s->regions[0];
        tp_unmap(s, r->start, r->length, NULL);
    }
    close_tiers(s);
    tp_daemon_link_close(s->daemon);
    if (s->uffd >= 0)
        close(s->uffd);
    tp_write_tracking_stop(s);
    if (s->fork.own_lifeline >= 0)
        close(s->fork.own_lifeline);
    tp_pages_destroy(&s->pages);
    free(s->namespace_name);
    if (s->zero_page)
        munmap((void *)s->zero_page, s->page_size);
    free(s->regions);
    free(s->regions_by_id);
    pthread_mutex_destroy(&s->regions_lock);
    tp_lock_destroy(&s->lock);
    free(s);
}

void tp_stack_flush(tp_stack *s)
{
    for (size_t i = 0; i < s->tier_count; i++)
        if (s->tiers[i].writeback)
            tp_writeback_flush(s->tiers[i].writeback);
}

uint64_t tp_malloc_threshold(const tp_stack *s)
{
    return s->malloc_threshold;
}

size_t tp_page_size(const tp_stack *s)
{
    return s->page_size;
}

void tp_stack_stats(tp_stack *s, struct tp_stats *out)
{
    tp_lock_take(&s->lock);
    const struct tp_resident_set *r = &s->pages.resident;
    *out = s->counters;
    out->metadata_bytes = tp_page_map_bytes(&s->pages.map);
    out->resident_bytes = r->count * s->page_size;
    out->peak_resident_bytes = r->peak * s->page_size;
    out->resident_cap_bytes = r->cap_pages * s->page_size;
    out->tier_count = s->tier_count;
    snprintf(out->write_tracking, sizeof out->write_tracking, "%s", s->write_tracking_note);
    for (size_t i = 0; i < s->tier_count; i++) {
        const struct tp_tier *t = &s->tiers[i];
        struct tp_tier_stats *ts = &out->tiers[i];
        snprintf(ts->name, sizeof ts->name, "%s", t->name);
        snprintf(ts->plugin, sizeof ts->plugin, "%s", t->ops ? t->ops->name : "?");
        ts->capacity_bytes = t->capacity_pages * s->page_size;
        ts->pages = s->pages.tiers[i].count;
        ts->hits = t->hits;
        ts->puts = t->puts;
        ts->demotions = t->demotions;
        ts->bytes_in = t->bytes_in;
        ts->bytes_out = t->bytes_out;
        ts->full_events = t->full_events;
    }
    tp_lock_drop(&s->lock);
    /* What only the stores know, asked without the stack lock. */
    for (size_t i = 0; i < s->tier_count; i++) {
        tierpage_store_usage u;
        tierpage_error ignored = {{0}, {0}};
        if (tp_tier_usage(s, i, &u, &ignored) == 0)
            out->tiers[i].under_replicated_pages = u.under_replicated_pages;
    }
}

/* Called with the stack lock held; drops it while evicting and waiting,
 * and holds it again on return. Pages that faults are still bringing in
 * cannot be evicted yet: wait for them, so that the cap holds when this
 * returns. */
static int shrink_to_cap(struct tp_stack *s, tierpage_error *err)
{
    struct tp_resident_set *r = &s->pages.resident;
    for (;;) {
        int rc = tp_make_room(s, 0, err);
        if (rc < 0 || r->count <= r->cap_pages)
            return rc;
        tp_lock_wait(&s->pages.idle, &s->lock);
    }
}

int tp_set_resident(tp_stack *s, uint64_t bytes, tierpage_error *err)
{
    uint64_t pages = bytes / s->page_size;
    if (pages == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "the resident cap must be at least one page (%zu bytes)",
                                  s->page_size);
    tp_lock_take(&s->lock);
    if (s->pages.locked && s->pages.locked + 16 > pages) {
        uint64_t locked = s->pages.locked;
        tp_lock_drop(&s->lock);
        return tierpage_error_set(err, -EBUSY, NULL, "%llu pages are mlocked: the resident cap cannot go below them",
                                  (unsigned long long)locked);
    }
    int rc = tp_resident_resize(&s->pages.resident, &s->pages.map, pages);
    tp_evictor_set_marks(s);
    if (rc < 0) {
        tierpage_error_set(err, rc, NULL, "out of memory resizing the resident set");
    } else {
        rc = shrink_to_cap(s, err);
        if (rc == 0)
            rc = tp_resident_resize(&s->pages.resident, &s->pages.map, pages); /* shrink the slot array now that few pages are left */
    }
    tp_lock_drop(&s->lock);
    return rc;
}

/* The index of the tier named `name`, or tier_count when none. */
static size_t tier_named(const struct tp_stack *s, const char *name)
{
    for (size_t i = 0; i < s->tier_count; i++)
        if (strcmp(s->tiers[i].name, name) == 0)
            return i;
    return s->tier_count;
}

static int no_such_tier(const struct tp_stack *s, const char *name, tierpage_error *err)
{
    char names[256] = "";
    size_t n = 0;
    for (size_t i = 0; i < s->tier_count && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", s->tiers[i].name);
    return tierpage_error_set(err, -ENOENT, NULL, "no tier named '%s' in this stack (its tiers: %s)", name, names);
}

int tp_demote_region(tp_stack *s, void *addr, const char *tier_name, tierpage_error *err)
{
    size_t target = tier_named(s, tier_name);
    if (target == s->tier_count)
        return no_such_tier(s, tier_name, err);
    /* The region must not be cut while the lock is dropped below. */
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    struct tp_region *r = tp_region_find(s, addr);
    if (!r) {
        tp_lock_drop(&s->lock);
        pthread_mutex_unlock(&s->regions_lock);
        return tierpage_error_set(err, -EINVAL, NULL, "%p is not in a region this stack serves", addr);
    }
    int rc = 0;
    struct tp_page_walk walk;
    uint32_t run, n;
    tp_page_walk_start(&walk, &s->pages.map, r->first_id, r->page_count);
    while (rc == 0 && tp_page_walk_next(&walk, &run, &n)) {
        for (uint32_t id = run; id < run + n && rc == 0; id++) {
            tp_page_wait_idle(&s->pages, id);
            const struct tp_page *p = tp_page_find(&s->pages.map, id);
            if (!p || (p->flags & TP_PAGE_LOCKED))
                continue; /* never touched, or mlocked: stays resident */
            if (p->state == TP_PAGE_RESIDENT)
                rc = tp_evict_page(s, id, err);
            p = tp_page_find(&s->pages.map, id); /* the lock was dropped */
            if (rc < 0 || !p || p->state != TP_PAGE_STORED || p->tier >= target)
                continue;
            tp_page_claim(&s->pages, id);
            tp_lock_drop(&s->lock);
            rc = tp_chain_move(s, id, target, err);
            tp_lock_take(&s->lock);
            tp_page_release(&s->pages, id);
        }
    }
    tp_page_walk_end(&walk);
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
    return rc;
}

int tp_demote_all(tp_stack *s, const char *tier_name, tierpage_error *err)
{
    if (tier_named(s, tier_name) == s->tier_count)
        return no_such_tier(s, tier_name, err);
    char *from = NULL;
    for (;;) {
        tp_lock_take(&s->lock);
        struct tp_region *r = tp_region_from(s, from);
        char *start = r ? r->start : NULL;
        size_t length = r ? r->length : 0;
        tp_lock_drop(&s->lock);
        if (!r)
            return 0;
        int rc = tp_demote_region(s, start, tier_name, err);
        if (rc < 0 && rc != -EINVAL) /* EINVAL: the region went meanwhile */
            return rc;
        from = start + length;
    }
}
