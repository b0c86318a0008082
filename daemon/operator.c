#include "operator.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "progress.h"
#include "reexec.h"
#include "restart.h"
#include "tierpage_private.h"
#include "vm_recovery.h"
#include "vm_stack.h"

int tpd_is_operator(const struct tpd_daemon *d, uid_t uid, gid_t gid)
{
    if (uid == 0 || uid == getuid())
        return 1;
    if (!d->has_group)
        return 0;
    if (gid == d->group)
        return 1;
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return 0;
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (groups[i] == d->group)
            return 1;
    return 0;
}

/* Reply with what `write` prints (status 0, the two values). */
static void reply_printed(int sock, void (*write)(FILE *, void *), void *arg, uint64_t v0, uint64_t v1)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        tpd_reply(sock, -ENOMEM, 0, 0, "out of memory");
        return;
    }
    write(out, arg);
    fclose(out);
    tpd_reply(sock, 0, v0, v1, "%s", text ? text : "");
    free(text);
}

/* One line of `status`: a VM, or a forked child's entry, with the stats
 * of its stack. */
static void print_entry(FILE *out, struct tpd_vm *vm, const struct tp_stats *stats)
{
    const struct tp_stats st = *stats;
    pthread_mutex_lock(&vm->lock);
    const char *change = tpd_vm_stack_change_word(vm);
    int pending = vm->stack_change == TPD_STACK_PENDING, refused = vm->stack_change == TPD_STACK_KEPT;
    char client[16] = "-";
    if (vm->client)
        snprintf(client, sizeof client, "%ld", (long)vm->client_pid);
    int promoting = vm->promoter.running;
    unsigned long long promoted = (unsigned long long)vm->promoter.brought;
    int recovery = vm->recovery ? (int)vm->recovery->state : -1;
    long waiting_for = vm->recovery ? (long)vm->recovery->pid : 0;
    pthread_mutex_unlock(&vm->lock);
    fprintf(out, "%-16s %8s %12llu %12llu %10llu ", vm->name, client, (unsigned long long)st.resident_bytes,
            (unsigned long long)st.resident_cap_bytes, (unsigned long long)st.faults);
    for (size_t i = 0; i < st.tier_count; i++)
        fprintf(out, " %s:%llu", st.tiers[i].name, (unsigned long long)st.tiers[i].pages);
    if (promoting)
        fprintf(out, "  (promoting, %llu pages in so far)", promoted);
    if (pending || refused)
        fprintf(out, "  (stack change %s)", change);
    if (recovery == TPD_RECOVERY_WAITING)
        fprintf(out, "  (waiting for its client, pid %ld)", waiting_for);
    else if (recovery == TPD_RECOVERY_RESUMING)
        fprintf(out, "  (resuming)");
    else if (recovery == TPD_RECOVERY_RESUMED)
        fprintf(out, "  (recovered)");
    fputc('\n', out);
}

static void print_status(FILE *out, void *arg)
{
    struct tpd_daemon *d = arg;
    fprintf(out, "%-16s %8s %12s %12s %10s  %s\n", "VM", "CLIENT", "RESIDENT", "CAP", "FAULTS", "PAGES PER TIER");
    pthread_mutex_lock(&d->vms.lock);
    struct tpd_vm *head = d->vms.head;
    pthread_mutex_unlock(&d->vms.lock);
    for (struct tpd_vm *vm = head; vm; vm = vm->next) {
        struct tp_stats st;
        tp_stack_stats(tpd_vm_stack_get(vm), &st);
        tpd_vm_stack_put(vm);
        print_entry(out, vm, &st);
        /* Its forked clients' entries, NAME/PID, below it (their stacks
         * are never replaced; they stay while listed). */
        pthread_mutex_lock(&d->vms.children_lock);
        for (struct tpd_vm *child = d->vms.children; child; child = child->next)
            if (child->root == vm) {
                tp_stack_stats(child->stack, &st);
                print_entry(out, child, &st);
            }
        pthread_mutex_unlock(&d->vms.children_lock);
    }
    tpd_vm_print_refused(&d->vms, out);
    tpd_budget_print(d->budget, out);
}

struct stats_print {
    struct tp_stats st;
    int json;
    const char *change; /* tpd_vm_stack_change_word, or NULL */
    char keys[sizeof ((struct tpd_vm *)0)->changed_keys];
};

/* The stack's stats, and for a VM whose file changed, what became of the
 * change: "stack_change" and "stack_changed_keys" in JSON. */
static void print_stats(FILE *out, void *arg)
{
    struct stats_print *p = arg;
    if (!p->json) {
        tp_stats_print(&p->st, out);
        if (p->change)
            fprintf(out, "stack change %s: %s\n", p->change, p->keys);
        return;
    }
    char text[TP_STATS_JSON_MAX];
    size_t len = tp_private_stats_format_json(&p->st, text, sizeof text);
    if (len >= sizeof text || len < 2 || !p->change) {
        tp_stats_write_json(&p->st, out);
        return;
    }
    /* The object ends with "}\n": the two keys go before it. */
    fprintf(out, "%.*s, \"stack_change\": \"%s\", \"stack_changed_keys\": \"", (int)(len - 2), text, p->change);
    for (const char *c = p->keys; *c; c++)
        fprintf(out, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    fputs("\"}\n", out);
}

static void reply_result(int sock, int rc, const tierpage_error *err, uint64_t value, const char *done)
{
    if (rc < 0)
        tpd_reply(sock, rc, 0, 0, "%s", err->message[0] ? err->message : strerror(-rc));
    else
        tpd_reply(sock, 0, value, 0, "%s", done);
}

/* A request naming a forked client's entry, NAME/PID: stats only (the
 * entry goes with its client; it is read under the list's lock). */
static void child_request(struct tpd_daemon *d, int sock, const struct tpd_message *m, const char *name)
{
    uint16_t type = tpd_header_of(m)->type;
    struct stats_print p = {.json = type == TPD_STATS && (((const struct tpd_stats_request *)m->buf)->flags &
                                                          TPD_STATS_JSON) != 0};
    pthread_mutex_lock(&d->vms.children_lock);
    struct tpd_vm *child = d->vms.children;
    while (child && strcmp(child->name, name) != 0)
        child = child->next;
    if (child && type == TPD_STATS)
        tp_stack_stats(child->stack, &p.st);
    pthread_mutex_unlock(&d->vms.children_lock);
    if (!child)
        tpd_reply(sock, -ENOENT, 0, 0, "no forked child's entry named '%s' (`tierpage status` lists them)", name);
    else if (type != TPD_STATS)
        tpd_reply(sock, -EINVAL, 0, 0, "%s is a forked child's entry: it takes stats only (its resident cap, tiers "
                  "and pages follow its VM's at the fork)", name);
    else
        reply_printed(sock, print_stats, &p, p.st.resident_bytes, p.st.resident_cap_bytes);
}

/* The pages a stack's work has moved so far: what RESIZE, DEMOTE and
 * FLUSH do shows here (evictions, pages put and acknowledged, moves
 * between tiers), and so do faults. Called with the stack held. */
static uint64_t pages_moved(void *stack)
{
    struct tp_stats st;
    tp_stack_stats(stack, &st);
    uint64_t n = st.evictions + st.faults + st.prefetched_pages;
    for (size_t i = 0; i < st.tier_count; i++)
        n += st.tiers[i].puts + st.tiers[i].demotions;
    return n;
}

/* PROGRESS of a long request on sock, when its operator asked for it
 * (HELLO's TPD_HELLO_PROGRESS); NULL otherwise. */
static struct tpd_progress *progress_of(int progress, int sock, const char *request, const struct tpd_vm *vm,
                                        tpd_progress_count count, void *arg)
{
    if (!progress)
        return NULL;
    char what[128];
    snprintf(what, sizeof what, "%s of VM %s", request, vm->name);
    return tpd_progress_start(sock, what, count, arg);
}

/* STATS, RESIZE, DEMOTE and FLUSH on a VM's stack in force. Called with
 * vm->stack_lock read-held (tpd_vm_stack_get: the stack stays). */
static void stack_request(int sock, int progress, struct tpd_vm *vm, tp_stack *stack, const struct tpd_message *m)
{
    uint16_t type = tpd_header_of(m)->type;
    struct tpd_progress *report;
    tierpage_error err = {{0}, {0}};
    char done[160];
    int rc;
    switch (type) {
    case TPD_STATS: {
        const struct tpd_stats_request *r = m->buf;
        struct stats_print p = {.json = (r->flags & TPD_STATS_JSON) != 0};
        tp_stack_stats(stack, &p.st);
        pthread_mutex_lock(&vm->lock);
        p.change = tpd_vm_stack_change_word(vm);
        memcpy(p.keys, vm->changed_keys, sizeof p.keys);
        pthread_mutex_unlock(&vm->lock);
        reply_printed(sock, print_stats, &p, p.st.resident_bytes, p.st.resident_cap_bytes);
        return;
    }
    case TPD_RESIZE: {
        const struct tpd_resize *r = m->buf;
        size_t page = tp_page_size(stack);
        if (r->bytes < page) {
            tpd_reply(sock, -EINVAL, 0, 0, "%llu bytes is less than one page (%zu bytes)",
                      (unsigned long long)r->bytes, page);
            return;
        }
        report = progress_of(progress, sock, "resize", vm, pages_moved, stack);
        rc = tpd_vm_set_wanted_cap(vm, r->bytes, &err);
        tpd_progress_stop(report);
        snprintf(done, sizeof done, "%s: resident cap %llu bytes", vm->name, (unsigned long long)r->bytes);
        if (rc == 0)
            tpd_log("info", "VM %s: resized to %llu bytes", vm->name, (unsigned long long)r->bytes);
        reply_result(sock, rc, &err, r->bytes, done);
        return;
    }
    case TPD_DEMOTE: {
        const struct tpd_demote *r = m->buf;
        report = progress_of(progress, sock, "demote", vm, pages_moved, stack);
        rc = tp_demote_all(stack, r->tier, &err);
        tpd_progress_stop(report);
        snprintf(done, sizeof done, "%s: every page in tier %s", vm->name, r->tier);
        if (rc == 0)
            tpd_log("info", "VM %s: demoted to tier %s", vm->name, r->tier);
        reply_result(sock, rc, &err, 0, done);
        return;
    }
    case TPD_FLUSH:
        report = progress_of(progress, sock, "flush", vm, pages_moved, stack);
        tp_stack_flush(stack);
        tpd_progress_stop(report);
        snprintf(done, sizeof done, "%s: write-back queues empty", vm->name);
        reply_result(sock, 0, &err, 0, done);
        return;
    default:
        tpd_reply(sock, -EPROTO, 0, 0, "message type %u is not an operator request", type);
        return;
    }
}

/* The pages the VM's promote run brought in so far. No lock held. */
static uint64_t pages_promoted(void *arg)
{
    struct tpd_vm *vm = arg;
    pthread_mutex_lock(&vm->lock);
    uint64_t n = vm->promoter.brought;
    pthread_mutex_unlock(&vm->lock);
    return n;
}

/* PROMOTE and PROMOTE_WAIT: the VM's promote thread, which runs only
 * while a client is attached (vm_stack.h: the stack stays meanwhile). */
static void promote_request(int sock, int progress, struct tpd_vm *vm, uint16_t type)
{
    char done[160];
    if (type == TPD_PROMOTE) {
        /* Answered at once: the pages come in on the VM's promote thread. */
        pthread_mutex_lock(&vm->lock);
        int rc = vm->client && !vm->releasing ? tpd_promote_start(vm) : 0;
        uint64_t so_far = vm->promoter.brought;
        int running = vm->promoter.running;
        pthread_mutex_unlock(&vm->lock);
        if (rc < 0)
            tpd_reply(sock, rc, 0, 0, "%s: cannot start promoting: %s", vm->name, strerror(-rc));
        else if (running)
            tpd_reply(sock, 0, so_far, 0, "%s: promoting in the background%s (%llu pages in so far)", vm->name,
                      rc == 0 ? ", already" : "", (unsigned long long)so_far);
        else
            tpd_reply(sock, 0, 0, 0, "%s: no program attached, nothing to promote", vm->name);
        return;
    }
    struct tpd_progress *report = progress_of(progress, sock, "promote", vm, pages_promoted, vm);
    pthread_mutex_lock(&vm->lock);
    tpd_promote_wait(vm);
    uint64_t n = vm->promoter.brought;
    pthread_mutex_unlock(&vm->lock);
    tpd_progress_stop(report);
    snprintf(done, sizeof done, "%s: %llu pages brought in", vm->name, (unsigned long long)n);
    tpd_reply(sock, 0, n, 0, "%s", done);
}

/* DAEMON_INFO: one "key value" line each; what `tierpage daemon info`
 * shows and `tierpage daemon restart` waits on. */
static void print_info(FILE *out, void *arg)
{
    struct tpd_daemon *d = arg;
    int vms = 0, clients = 0, waiting = 0, recovered = 0;
    pthread_mutex_lock(&d->vms.lock);
    struct tpd_vm *head = d->vms.head;
    pthread_mutex_unlock(&d->vms.lock);
    for (struct tpd_vm *vm = head; vm; vm = vm->next) {
        pthread_mutex_lock(&vm->lock);
        vms++;
        clients += vm->client != NULL;
        /* A VM waits for a client whose process lives (one that is gone
         * never comes: its state goes at the next ATTACH). */
        if (vm->recovery && vm->recovery->state != TPD_RECOVERY_RESUMED &&
            (kill(vm->recovery->pid, 0) == 0 || errno != ESRCH))
            waiting++;
        recovered += vm->recovery && vm->recovery->state == TPD_RECOVERY_RESUMED;
        pthread_mutex_unlock(&vm->lock);
    }
    struct stat st;
    unsigned long long inode = stat("/proc/self/exe", &st) == 0 ? (unsigned long long)st.st_ino : 0;
    fprintf(out, "pid %ld\nversion %s\nbinary %s\nrunning_inode %llu\nrestarts %u\nvms %d\nclients %d\n"
            "waiting %d\nrecovered %d\n", (long)getpid(), TIERPAGE_VERSION, tpd_reexec_binary(), inode,
            tpd_reexec_restarts(), vms, clients, waiting, recovered);
}

void tpd_operator_request(struct tpd_daemon *d, int sock, int progress, const struct tpd_message *m, pid_t peer)
{
    uint16_t type = tpd_header_of(m)->type;
    if (type == TPD_STATUS) {
        reply_printed(sock, print_status, d, 0, 0);
        return;
    }
    if (type == TPD_DAEMON_INFO) {
        reply_printed(sock, print_info, d, (uint64_t)getpid(), tpd_reexec_restarts());
        return;
    }
    if (type == TPD_RESTART) {
        if (!tpd_state_kept()) {
            tpd_reply(sock, -EOPNOTSUPP, 0, 0, "tierpaged keeps no state (state_dir \"\"): a restart would stop "
                      "every program it serves; stop it and start it again instead");
            return;
        }
        /* Answered by the main thread once the state is handed over. */
        int rc = tpd_restart_ask(sock, peer);
        if (rc == -EALREADY)
            tpd_reply(sock, rc, 0, 0, "tierpaged is restarting already");
        else if (rc < 0)
            tpd_reply(sock, rc, 0, 0, "cannot ask the daemon's main thread to restart: %s", strerror(-rc));
        return;
    }
    /* Every other operator request starts with a VM name. */
    const char *name = (const char *)m->buf + sizeof(struct tpd_header);
    if (strchr(name, '/')) {
        child_request(d, sock, m, name);
        return;
    }
    struct tpd_vm *vm = tpd_vm_find(&d->vms, name);
    if (!vm) {
        tpd_reply(sock, -ENOENT, 0, 0, "no VM named '%s' (its stack file would be %s/%s.yaml)", name, d->vms.dir,
                  name);
        return;
    }
    if (type == TPD_PROMOTE || type == TPD_PROMOTE_WAIT) {
        promote_request(sock, progress, vm, type);
        return;
    }
    tp_stack *stack = tpd_vm_stack_get(vm);
    stack_request(sock, progress, vm, stack, m);
    tpd_vm_stack_put(vm);
}
