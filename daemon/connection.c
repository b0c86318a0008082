#include "connection.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fork_clients.h"
#include "log.h"
#include "operator.h"
#include "pager_thread.h"
#include "vm_recovery.h"
#include "vm_stack.h"
#include "vm_state.h"

struct tpd_connection {
    struct tpd_daemon *d;
    int sock;
    struct ucred peer;
    int said_hello;
    int progress;        /* its HELLO asked for PROGRESS (TPD_HELLO_PROGRESS) */
    struct tpd_vm *vm;   /* attached to, or NULL */
    int resuming;        /* between RESUME and RESUME_DONE */
    pthread_t thread;
    struct tpd_connection *next;
};

/* Live connections, for shutdown and restart. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_gone = PTHREAD_COND_INITIALIZER; /* one went, or finished its work */
static struct tpd_connection *live;
/* A restart (restart.h) drains the connections: while DRAINING, the work
 * in progress (a request, or the release of a client that went) finishes
 * and none starts; once HANDED_OVER, nothing starts at all. A connection
 * that would start work parks instead, for good: the daemon's state is
 * handed to the binary executed next, which the client asks again.
 * Under live_lock. */
static enum { SERVING, DRAINING, HANDED_OVER } drain_phase = SERVING;
static int working;                   /* connections doing work now */
static pthread_cond_t never = PTHREAD_COND_INITIALIZER; /* what parked connections wait on */

static void unlist(struct tpd_connection *c)
{
    pthread_mutex_lock(&live_lock);
    struct tpd_connection **p = &live;
    while (*p && *p != c)
        p = &(*p)->next;
    if (*p)
        *p = c->next;
    pthread_cond_broadcast(&live_gone);
    pthread_mutex_unlock(&live_lock);
}

static int is_operator_type(uint16_t type)
{
    return type >= TPD_STATUS && type <= TPD_RESTART;
}

/* The operator requests that name no VM. */
static int is_daemon_request(uint16_t type)
{
    return type == TPD_STATUS || type == TPD_DAEMON_INFO || type == TPD_RESTART;
}

/* Structure checks beyond the framing: size, names, descriptors. NULL
 * when the request is well formed, else what is wrong. */
static const char *malformation(const struct tpd_connection *c, const struct tpd_message *m, char *why, size_t len)
{
    uint16_t type = tpd_header_of(m)->type;
    size_t want = tpd_request_size(type);
    if (want == 0) {
        snprintf(why, len, "unknown message type %u", type);
        return why;
    }
    if (!tpd_request_size_ok(type, m->length)) {
        snprintf(why, len, "a message of type %u has %zu bytes, expected %zu", type, m->length, want);
        return why;
    }
    if (!c->said_hello && type != TPD_HELLO)
        return "the first message must be HELLO";
    if (c->said_hello && type == TPD_HELLO)
        return "HELLO was already said";
    int wants_fd = type == TPD_ATTACH || type == TPD_REGION_ADD || type == TPD_FORK_ATTACH || type == TPD_RESUME;
    if (m->fd_count != wants_fd) {
        snprintf(why, len, "a message of type %u carries %d file descriptors, expected %d", type, m->fd_count,
                 wants_fd);
        return why;
    }
    const char *name = (const char *)m->buf + sizeof(struct tpd_header);
    if ((type == TPD_ATTACH || type == TPD_VM_INFO || type == TPD_RESUME) && !tpd_name_ok(name))
        return "the VM name is not a name (1 to 63 of A-Z a-z 0-9 _ . -, NUL-terminated)";
    if (is_operator_type(type) && !is_daemon_request(type) && !tpd_entry_name_ok(name))
        return "the VM name is not a name (1 to 63 of A-Z a-z 0-9 _ . -, NUL-terminated, or a forked child's "
               "NAME/PID)";
    if (type == TPD_DEMOTE && !tpd_name_ok(((const struct tpd_demote *)m->buf)->tier))
        return "the tier name is not a name (1 to 63 of A-Z a-z 0-9 _ . -, NUL-terminated)";
    return NULL;
}

/* Whether the peer of sock has closed its end. */
static int peer_closed(int sock)
{
    struct pollfd p = {.fd = sock, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ATTACH and VM_INFO: the VM, when this peer may use it; else replied. */
static struct tpd_vm *usable_vm(struct tpd_connection *c, const char *name)
{
    struct tpd_vm *vm = tpd_vm_find(&c->d->vms, name);
    char refused[512];
    if (!vm && tpd_vm_refused(&c->d->vms, name, refused, sizeof refused)) {
        tpd_reply(c->sock, -EIO, 0, 0, "VM %s is not served: the state a daemon that died left of it is refused: %s",
                  name, refused);
        return NULL;
    }
    if (!vm) {
        tpd_reply(c->sock, -ENOENT, 0, 0, "no VM named '%s' (its stack file would be %s/%s.yaml)", name,
                  c->d->vms.dir, name);
        return NULL;
    }
    if (!tpd_vm_allows(vm, c->peer.uid)) {
        tpd_log("warning", "VM %s: refused pid %ld: uid %u is not allowed by %s", name, (long)c->peer.pid,
                (unsigned)c->peer.uid, vm->path);
        tpd_reply(c->sock, -EACCES, 0, 0, "uid %u may not attach to VM %s (allowed_uids in %s)",
                  (unsigned)c->peer.uid, name, vm->path);
        return NULL;
    }
    return vm;
}

/* Returns with vm's stack read-held (tpd_vm_stack_get) and vm->lock held,
 * once the VM's last client has gone, its pages released and a pending
 * stack change applied (vm_stack.h), or while another client holds it. A
 * client that just exited or exec'd has closed its connection, and its
 * pages are being released: wait for that rather than refuse. The wait is
 * on vm->lock alone: the stack change that ends it takes the stack lock
 * for writing. */
static tp_stack *hold_free_vm(struct tpd_vm *vm)
{
    for (;;) {
        pthread_mutex_lock(&vm->lock);
        while (vm->releasing || (vm->client && peer_closed(vm->client_sock)))
            pthread_cond_wait(&vm->released, &vm->lock);
        pthread_mutex_unlock(&vm->lock);
        tp_stack *stack = tpd_vm_stack_get(vm);
        pthread_mutex_lock(&vm->lock);
        if (!vm->releasing && !(vm->client && peer_closed(vm->client_sock)))
            return stack;
        pthread_mutex_unlock(&vm->lock);
        tpd_vm_stack_put(vm);
    }
}

static void attach(struct tpd_connection *c, struct tpd_message *m)
{
    const struct tpd_vm_request *r = m->buf;
    int uffd = m->fds[0];
    m->fd_count = 0;
    struct tpd_vm *vm = c->vm ? NULL : usable_vm(c, r->vm);
    if (c->vm)
        tpd_reply(c->sock, -EBUSY, 0, 0, "this connection is already attached to VM %s", c->vm->name);
    if (!vm) {
        close(uffd);
        return;
    }
    tierpage_error err = {{0}, {0}};
    tp_stack *stack = hold_free_vm(vm);
    /* A VM waiting for the client a daemon that died served is that
     * client's while it lives; once it is gone, its state is dropped. */
    pid_t waiting_for = vm->recovery && vm->recovery->state != TPD_RECOVERY_RESUMED ? vm->recovery->pid : 0;
    if (waiting_for && !vm->client && kill(waiting_for, 0) < 0 && errno == ESRCH) {
        pthread_mutex_unlock(&vm->lock);
        tpd_recovery_drop(vm, stack);
        tpd_state_client_gone(vm->name);
        pthread_mutex_lock(&vm->lock);
        waiting_for = vm->recovery ? vm->recovery->pid : 0;
    }
    if (waiting_for && !vm->client) {
        pthread_mutex_unlock(&vm->lock);
        tpd_vm_stack_put(vm);
        close(uffd);
        tpd_reply(c->sock, -EBUSY, 0, 0, "VM %s waits for pid %ld, its client when the daemon before this one died, "
                  "to resume", vm->name, (long)waiting_for);
        return;
    }
    int rc = vm->gone     ? -ENOENT
             : vm->client ? -EBUSY
                          : tp_remote_attach(stack, uffd, c->peer.pid, &vm->client, &err);
    if (rc == 0) {
        vm->client_pid = c->peer.pid;
        vm->client_sock = c->sock;
        if (tpd_state_client_attached(vm->name, c->peer.pid, stack, vm->state_generation, vm->state_map, &err) < 0)
            tpd_log("warning", "VM %s: %s; a daemon started after this one dies could not serve pid %ld again",
                    vm->name, err.message, (long)c->peer.pid);
    }
    pid_t holder = vm->client_pid;
    pthread_mutex_unlock(&vm->lock);
    size_t page_size = tp_page_size(stack);
    size_t malloc_threshold = tp_malloc_threshold(stack);
    tpd_vm_stack_put(vm);
    if (rc < 0) {
        close(uffd);
        if (rc == -EBUSY)
            tpd_reply(c->sock, rc, 0, 0, "VM %s is served to pid %ld already", vm->name, (long)holder);
        else if (rc == -ENOENT)
            tpd_reply(c->sock, rc, 0, 0, "VM %s: its stack file was removed", vm->name);
        else
            tpd_reply(c->sock, rc, 0, 0, "VM %s: %s", vm->name, err.message);
        return;
    }
    c->vm = vm;
    tpd_log("info", "VM %s: pid %ld (uid %u) attached", vm->name, (long)c->peer.pid, (unsigned)c->peer.uid);
    tpd_reply(c->sock, 0, page_size, malloc_threshold, "attached to VM %s", vm->name);
}

static void detach(struct tpd_connection *c)
{
    struct tpd_vm *vm = c->vm;
    if (!vm)
        return;
    /* A fork of this client in progress ends: its pages must move again
     * to be released. */
    tpd_fork_end(vm);
    /* The VM stays taken until the pages are released and a pending
     * change of its stack applied: a new client's regions must not meet
     * the old one's, and must land on the new stack. */
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    vm->releasing = 1; /* no promote starts now */
    pthread_mutex_unlock(&vm->lock);
    if (c->resuming && client)
        tp_remote_fork_thaw(client); /* its pages move again, to be released */
    if (!vm->root)
        tpd_state_client_gone(vm->name); /* before its pages go: no daemon may serve them again */
    tpd_promote_stop(vm);
    if (client)
        tp_remote_detach(client);
    pthread_mutex_lock(&vm->lock);
    vm->client = NULL;
    pthread_mutex_unlock(&vm->lock);
    if (vm->recovery) {
        /* Served again and gone, or gone while resuming: what the dead
         * daemon left of it goes too. */
        tp_stack *stack = tpd_vm_stack_get(vm);
        tpd_recovery_drop(vm, stack);
        tpd_vm_stack_put(vm);
    }
    c->resuming = 0;
    c->vm = NULL;
    tpd_log("info", "VM %s: pid %ld detached; its pages are released in every tier", vm->name, (long)c->peer.pid);
    if (!vm->root)
        tpd_vm_stack_program_gone(&c->d->vms, vm);
    pthread_mutex_lock(&vm->lock);
    vm->releasing = 0;
    pthread_cond_broadcast(&vm->released);
    pthread_mutex_unlock(&vm->lock);
    if (vm->root) {
        /* A forked child's entry goes with it: maybe the VM's last program. */
        struct tpd_vm *root = vm->root;
        tpd_vm_close_child(&c->d->vms, vm);
        tpd_vm_stack_program_gone(&c->d->vms, root);
    }
}

/* RESUME: a client of a daemon that died, back with its userfaultfd. 0
 * when replied, -EPROTO with `why` when it does not fit the connection. */
static int resume(struct tpd_connection *c, struct tpd_message *m, char *why, size_t len)
{
    const struct tpd_vm_request *r = m->buf;
    int uffd = m->fds[0];
    m->fd_count = 0;
    if (c->vm) {
        close(uffd);
        snprintf(why, len, "RESUME on a connection attached to %s already", c->vm->name);
        return -EPROTO;
    }
    char refused[512];
    struct tpd_vm *vm = tpd_vm_find(&c->d->vms, r->vm);
    if (!vm && tpd_vm_refused(&c->d->vms, r->vm, refused, sizeof refused)) {
        close(uffd);
        tpd_reply(c->sock, -EIO, 0, 0, "VM %s is not served: the state a daemon that died left of it is refused: %s",
                  r->vm, refused);
        return 0;
    }
    if (!vm || !tpd_vm_allows(vm, c->peer.uid)) {
        close(uffd);
        if (vm)
            tpd_reply(c->sock, -EACCES, 0, 0, "uid %u may not resume VM %s (allowed_uids in %s)",
                      (unsigned)c->peer.uid, r->vm, vm->path);
        else
            tpd_reply(c->sock, -ENOENT, 0, 0, "tierpaged has no state of VM %s to resume", r->vm);
        return 0;
    }
    tierpage_error err = {{0}, {0}};
    tp_stack *stack = hold_free_vm(vm);
    struct tpd_recovery *rec = vm->recovery;
    int rc = 0;
    if (!rec || rec->state == TPD_RECOVERY_RESUMED)
        rc = -ENOENT;
    else if (rec->state == TPD_RECOVERY_RESUMING || vm->client)
        rc = -EBUSY;
    else if (rec->pid != c->peer.pid)
        rc = -EACCES;
    else
        rc = tp_remote_attach_held(stack, uffd, c->peer.pid, &vm->client, &err);
    if (rc == 0) {
        vm->client_pid = c->peer.pid;
        vm->client_sock = c->sock;
    }
    pid_t waiting_for = rec ? rec->pid : 0;
    pthread_mutex_unlock(&vm->lock);
    size_t page_size = tp_page_size(stack), malloc_threshold = tp_malloc_threshold(stack);
    tpd_vm_stack_put(vm);
    if (rc < 0) {
        close(uffd);
        if (rc == -ENOENT)
            tpd_reply(c->sock, rc, 0, 0, "tierpaged has no state of VM %s to resume", vm->name);
        else if (rc == -EBUSY)
            tpd_reply(c->sock, rc, 0, 0, "VM %s is being resumed or served already", vm->name);
        else if (rc == -EACCES)
            tpd_reply(c->sock, rc, 0, 0, "VM %s waits for pid %ld to resume it, not pid %ld", vm->name,
                      (long)waiting_for, (long)c->peer.pid);
        else
            tpd_reply(c->sock, rc, 0, 0, "VM %s: %s", vm->name, err.message);
        return 0;
    }
    c->vm = vm;
    c->resuming = 1;
    tpd_recovery_resuming(vm);
    tpd_log("info", "VM %s: pid %ld resumes; waiting for its regions", vm->name, (long)c->peer.pid);
    tpd_reply(c->sock, 0, page_size, malloc_threshold, "resuming VM %s", vm->name);
    return 0;
}

/* REGION_ADD between RESUME and RESUME_DONE. */
static void resume_region(struct tpd_connection *c, struct tpd_message *m)
{
    struct tpd_region_add r = tpd_region_add_of(m);
    int memfd = m->fds[0];
    m->fd_count = 0;
    tierpage_error err = {{0}, {0}};
    tp_stack *stack = tpd_vm_stack_get(c->vm);
    int rc = tpd_recovery_region(c->vm, stack, memfd, r.addr, r.length, r.offset, &err);
    tpd_vm_stack_put(c->vm);
    if (rc < 0) {
        close(memfd);
        tpd_log("warning", "VM %s: pid %ld resuming: %s", c->vm->name, (long)c->peer.pid, err.message);
        tpd_reply(c->sock, rc, 0, 0, "VM %s: %s", c->vm->name, err.message);
        return;
    }
    tpd_reply(c->sock, 0, 0, 0, "%s", "");
}

static void resume_done(struct tpd_connection *c)
{
    tierpage_error err = {{0}, {0}};
    tp_stack *stack = tpd_vm_stack_get(c->vm);
    int rc = tpd_recovery_done(c->vm, stack, &err);
    tpd_vm_stack_put(c->vm);
    if (rc < 0) {
        tpd_log("error", "VM %s: pid %ld cannot resume: %s", c->vm->name, (long)c->peer.pid, err.message);
        tpd_reply(c->sock, rc, 0, 0, "VM %s: %s", c->vm->name, err.message);
        return;
    }
    c->resuming = 0;
    tpd_reply(c->sock, 0, (uint64_t)rc, 0, "VM %s resumed: %d regions served again", c->vm->name, rc);
}

/* FORK_*: 0 when replied, -EPROTO with `why` when the request does not
 * fit (the connection then closes). */
static int fork_request(struct tpd_connection *c, struct tpd_message *m, char *why, size_t len)
{
    uint16_t type = tpd_header_of(m)->type;
    const struct tpd_fork *f = m->buf;
    if (type == TPD_FORK_ATTACH) {
        int uffd = m->fds[0];
        m->fd_count = 0;
        if (c->vm) {
            close(uffd);
            snprintf(why, len, "FORK_ATTACH on a connection attached to %s already", c->vm->name);
            return -EPROTO;
        }
        return tpd_fork_attach(&c->d->vms, c->sock, &c->peer, f->token, uffd, &c->vm, why, len);
    }
    if (!c->vm) {
        snprintf(why, len, "a fork request before ATTACH");
        return -EPROTO;
    }
    if (type == TPD_FORK_PREPARE)
        return tpd_fork_prepare(c->sock, c->vm, why, len);
    if (type == TPD_FORK_COPY)
        return tpd_fork_copy(&c->d->vms, c->sock, c->vm, f->token, why, len);
    return tpd_fork_done(c->sock, c->vm, f->token, why, len);
}

static void region_request(struct tpd_connection *c, struct tpd_message *m)
{
    const struct tpd_range *r = m->buf;
    uint16_t type = tpd_header_of(m)->type;
    int memfd = m->fd_count ? m->fds[0] : -1;
    m->fd_count = 0;
    if (!c->vm) {
        if (memfd >= 0)
            close(memfd);
        tpd_reply(c->sock, -ENOTCONN, 0, 0, "ATTACH to a VM first");
        return;
    }
    pthread_mutex_lock(&c->vm->lock);
    struct tp_remote *client = c->vm->client;
    pthread_mutex_unlock(&c->vm->lock);
    tierpage_error err = {{0}, {0}};
    int rc;
    if (type == TPD_REGION_ADD) {
        struct tpd_region_add add = tpd_region_add_of(m);
        rc = tp_remote_add_region(client, memfd, add.addr, add.length, add.offset, &err);
        if (rc < 0)
            close(memfd);
    } else if (type == TPD_LOCK) {
        const struct tpd_lock *l = m->buf;
        rc = tp_remote_lock(client, l->addr, l->length, l->lock != 0, &err);
    } else {
        rc = tp_remote_release(client, r->addr, r->length, type == TPD_DONTNEED, &err);
    }
    /* The regions are recorded before the reply: a client told its region
     * is served finds it recorded should this daemon die (STATE.md). */
    if (rc == 0 && !c->vm->root && type != TPD_DONTNEED && type != TPD_LOCK &&
        tpd_state_regions_changed(c->vm->name, client, &err) < 0)
        tpd_log("warning", "VM %s: %s; a daemon started after this one dies could not serve pid %ld again",
                c->vm->name, err.message, (long)c->peer.pid);
    if (rc < 0)
        tpd_reply(c->sock, rc, 0, 0, "VM %s: %s", c->vm->name, err.message);
    else
        tpd_reply(c->sock, 0, 0, 0, "%s", "");
}

/* One well-formed request: 0, or -EPROTO with `why` for one that does not
 * fit the connection's state (replied, then the connection closes). */
static int dispatch(struct tpd_connection *c, struct tpd_message *m, char *why, size_t len)
{
    uint16_t type = tpd_header_of(m)->type;
    if (c->resuming && type == TPD_REGION_ADD) {
        resume_region(c, m);
        return 0;
    } else if (c->resuming && type == TPD_RESUME_DONE) {
        resume_done(c);
        return 0;
    } else if (c->resuming) {
        snprintf(why, len, "a message of type %u between RESUME and RESUME_DONE, where only REGION_ADD may come",
                 type);
        return -EPROTO;
    }
    if (type >= TPD_FORK_PREPARE && type <= TPD_FORK_DONE) {
        return fork_request(c, m, why, len);
    } else if (type == TPD_HELLO) {
        const struct tpd_hello *h = m->buf;
        c->said_hello = 1;
        c->progress = (h->flags & TPD_HELLO_PROGRESS) != 0;
        if (h->version != TPD_VERSION)
            tpd_reply(c->sock, -EPROTONOSUPPORT, TPD_VERSION, 0, "this daemon speaks protocol version %u, not %u",
                      TPD_VERSION, h->version);
        else
            tpd_reply(c->sock, 0, TPD_VERSION, h->flags & TPD_HELLO_PROGRESS, "tierpaged");
    } else if (type == TPD_VM_INFO) {
        const struct tpd_vm_request *r = m->buf;
        struct tpd_vm *vm = usable_vm(c, r->vm);
        if (vm) {
            tp_stack *stack = tpd_vm_stack_get(vm);
            tpd_reply(c->sock, 0, tp_malloc_threshold(stack), tp_page_size(stack), "VM %s", vm->name);
            tpd_vm_stack_put(vm);
        }
    } else if (type == TPD_ATTACH) {
        attach(c, m);
    } else if (type == TPD_RESUME) {
        return resume(c, m, why, len);
    } else if (type == TPD_RESUME_DONE) {
        snprintf(why, len, "RESUME_DONE without RESUME");
        return -EPROTO;
    } else if (type == TPD_REGION_ADD || type == TPD_REGION_REMOVE || type == TPD_DONTNEED || type == TPD_LOCK) {
        region_request(c, m);
    } else if (!tpd_is_operator(c->d, c->peer.uid, c->peer.gid)) {
        tpd_log("warning", "refused an operator request of pid %ld: uid %u is neither root, the daemon's user "
                "nor in its group", (long)c->peer.pid, (unsigned)c->peer.uid);
        tpd_reply(c->sock, -EACCES, 0, 0, "uid %u may not give operator commands", (unsigned)c->peer.uid);
    } else {
        tpd_operator_request(c->d, c->sock, c->progress, m, c->peer.pid);
    }
    return 0;
}

/* Whether what tpd_recv gave (rc) may be worked on now: counted as work
 * until work_done. While the daemon restarts, an operator's well-formed
 * request is refused at once (returns 0), and anything else parks this
 * thread for good: a client's request is not answered (the client asks
 * again of the daemon that takes over), a client that went is not
 * released (the daemon that takes over finds its process gone). */
static int work_begins(struct tpd_connection *c, int rc, struct tpd_message *m)
{
    pthread_mutex_lock(&live_lock);
    if (drain_phase == SERVING || (drain_phase == DRAINING && rc <= 0)) {
        working++;
        pthread_mutex_unlock(&live_lock);
        return 1;
    }
    pthread_mutex_unlock(&live_lock);
    uint16_t type = rc > 0 ? tpd_header_of(m)->type : 0;
    char why[8];
    if (rc > 0 && c->said_hello && is_operator_type(type) && !malformation(c, m, why, sizeof why)) {
        tpd_reply(c->sock, -EAGAIN, 0, 0, "tierpaged is restarting: ask again in a moment (tierpage daemon info "
                  "answers once it is back)");
        return 0;
    }
    for (int i = 0; rc > 0 && i < m->fd_count; i++)
        close(m->fds[i]);
    pthread_mutex_lock(&live_lock);
    for (;;)
        pthread_cond_wait(&never, &live_lock);
}

static void work_done(void)
{
    pthread_mutex_lock(&live_lock);
    working--;
    pthread_cond_broadcast(&live_gone);
    pthread_mutex_unlock(&live_lock);
}

static void *connection_main(void *arg)
{
    struct tpd_connection *c = arg;
    void *buf = malloc(TPD_MAX_MESSAGE);
    struct tpd_message m = {.buf = buf, .capacity = TPD_MAX_MESSAGE};
    char why[256];
    while (buf) {
        int rc = tpd_recv(c->sock, &m, why, sizeof why);
        if (!work_begins(c, rc, &m))
            continue;
        if (rc == 0)
            break;
        const char *bad = rc == -EPROTO ? why : rc < 0 ? NULL : malformation(c, &m, why, sizeof why);
        if (rc < 0 && !bad)
            break; /* the connection failed */
        if (!bad && dispatch(c, &m, why, sizeof why) < 0)
            bad = why;
        if (bad) {
            tpd_log("warning", "malformed message from pid %ld (uid %u): %s; closing that connection",
                    (long)c->peer.pid, (unsigned)c->peer.uid, bad);
            for (int i = 0; i < m.fd_count; i++)
                close(m.fds[i]);
            tpd_reply(c->sock, -EPROTO, 0, 0, "malformed message: %s", bad);
            break;
        }
        /* A refused version gets its reply, then the connection closes. */
        if (tpd_header_of(&m)->type == TPD_HELLO && ((struct tpd_hello *)m.buf)->version != TPD_VERSION)
            break;
        work_done();
    }
    /* Its end is work too: counted since the last receive, or now. */
    if (!buf)
        work_begins(c, 0, &m);
    detach(c);
    free(buf);
    close(c->sock);
    unlist(c);
    free(c);
    work_done();
    return NULL;
}

int tpd_connection_start(struct tpd_daemon *d, int sock)
{
    struct tpd_connection *c = calloc(1, sizeof *c);
    if (!c) {
        close(sock);
        return -ENOMEM;
    }
    c->d = d;
    c->sock = sock;
    socklen_t len = sizeof c->peer;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
        int e = errno;
        close(sock);
        free(c);
        return -e;
    }
    pthread_mutex_lock(&live_lock);
    c->next = live;
    live = c;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&c->thread, &attr, connection_main, c);
    pthread_attr_destroy(&attr);
    if (rc) {
        live = c->next;
        pthread_mutex_unlock(&live_lock);
        close(sock);
        free(c);
        return -rc;
    }
    pthread_mutex_unlock(&live_lock);
    return 0;
}

void tpd_connections_stop(void)
{
    pthread_mutex_lock(&live_lock);
    for (struct tpd_connection *c = live; c; c = c->next) {
        /* A program's pages are released now: it must not fault on. */
        tpd_send_stop(c->sock, "tierpaged is stopping (SIGTERM or SIGINT), and the pages it held for this program "
                               "go with it");
        shutdown(c->sock, SHUT_RDWR);
    }
    while (live)
        pthread_cond_wait(&live_gone, &live_lock);
    pthread_mutex_unlock(&live_lock);
}

int tpd_connections_drain(unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&live_lock);
    drain_phase = DRAINING;
    while (working > 0 && pthread_cond_timedwait(&live_gone, &live_lock, &until) == 0)
        ;
    int left = working;
    drain_phase = HANDED_OVER;
    pthread_mutex_unlock(&live_lock);
    return left;
}

/* The connections whose entry is a forked child's (want_children) or a
 * VM's client, in a new array of *count; NULL when none or out of memory.
 * Once drained, each one's thread is parked: the entries stay. */
static struct tpd_connection **attached(int want_children, size_t *count)
{
    *count = 0;
    pthread_mutex_lock(&live_lock);
    size_t n = 0;
    for (struct tpd_connection *c = live; c; c = c->next)
        n += c->vm && (c->vm->root != NULL) == want_children;
    struct tpd_connection **v = n ? calloc(n, sizeof *v) : NULL;
    for (struct tpd_connection *c = live; v && c; c = c->next)
        if (c->vm && (c->vm->root != NULL) == want_children)
            v[(*count)++] = c;
    pthread_mutex_unlock(&live_lock);
    return v;
}

size_t tpd_connections_stop_children(const char *why)
{
    size_t n;
    struct tpd_connection **children = attached(1, &n);
    for (size_t i = 0; i < n; i++) {
        struct tpd_connection *c = children[i];
        tpd_log("info", "VM %s: stopping pid %ld: %s", c->vm->name, (long)c->peer.pid, why);
        tpd_send_stop(c->sock, why);
        detach(c);
        shutdown(c->sock, SHUT_RDWR);
    }
    free(children);
    return n;
}

size_t tpd_connections_restarting(const char *why)
{
    size_t n;
    struct tpd_connection **clients = attached(0, &n);
    for (size_t i = 0; i < n; i++)
        tpd_send_restarting(clients[i]->sock, why);
    free(clients);
    return n;
}
