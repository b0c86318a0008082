#include "fork_clients.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

static int out_of_order(char *why, size_t len, const char *what)
{
    snprintf(why, len, "%s", what);
    return -EPROTO;
}

int tpd_fork_prepare(int sock, struct tpd_vm *vm, char *why, size_t len)
{
    uint64_t token = 0;
    while (token == 0)
        if (getrandom(&token, sizeof token, 0) != sizeof token) {
            tpd_reply(sock, -errno, 0, 0, "cannot draw a token for the fork: %s", strerror(errno));
            return 0;
        }
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    int pending = vm->fork_token != 0;
    if (!pending && client) {
        vm->fork_token = token;
        vm->fork_attached = vm->fork_copied = 0;
    }
    pthread_mutex_unlock(&vm->lock);
    if (pending)
        return out_of_order(why, len, "FORK_PREPARE while a fork of this client is in progress");
    if (!client)
        return out_of_order(why, len, "FORK_PREPARE from a client whose pages are being released");
    tp_remote_fork_freeze(client);
    tpd_reply(sock, 0, token, 0, "%s: pages frozen for a fork", vm->name);
    return 0;
}

/* The entry whose fork `token` names, with fork_busy counted (it stays,
 * and its fork does not end, until fork_unbusy); NULL when none. */
static struct tpd_vm *fork_parent(struct tpd_vms *vms, uint64_t token)
{
    pthread_mutex_lock(&vms->lock);
    struct tpd_vm *head = vms->head;
    pthread_mutex_unlock(&vms->lock);
    /* VMs are never freed; children's entries only once unlisted. */
    for (struct tpd_vm *vm = head; vm; vm = vm->next) {
        pthread_mutex_lock(&vm->lock);
        int found = vm->fork_token == token;
        vm->fork_busy += found;
        pthread_mutex_unlock(&vm->lock);
        if (found)
            return vm;
    }
    pthread_mutex_lock(&vms->children_lock);
    struct tpd_vm *vm = vms->children;
    for (; vm; vm = vm->next) {
        pthread_mutex_lock(&vm->lock);
        int found = vm->fork_token == token;
        vm->fork_busy += found;
        pthread_mutex_unlock(&vm->lock);
        if (found)
            break;
    }
    pthread_mutex_unlock(&vms->children_lock);
    return vm;
}

static void fork_unbusy(struct tpd_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (--vm->fork_busy == 0)
        pthread_cond_broadcast(&vm->fork_idle);
    pthread_mutex_unlock(&vm->lock);
}

int tpd_fork_attach(struct tpd_vms *vms, int sock, const struct ucred *peer, uint64_t token, int uffd,
                    struct tpd_vm **child, char *why, size_t len)
{
    struct tpd_vm *parent = token ? fork_parent(vms, token) : NULL;
    if (!parent) {
        close(uffd);
        return out_of_order(why, len, "FORK_ATTACH names no fork in progress");
    }
    pthread_mutex_lock(&parent->lock);
    int again = parent->fork_attached;
    parent->fork_attached = 1;
    struct tp_remote *parent_client = parent->client;
    pthread_mutex_unlock(&parent->lock);
    struct tpd_vm *root = parent->root ? parent->root : parent;
    if (again || !parent_client) {
        fork_unbusy(parent);
        close(uffd);
        return out_of_order(why, len, again ? "FORK_ATTACH for a fork whose child has attached already"
                                            : "FORK_ATTACH for a fork of a client that is going");
    }
    if (!tpd_vm_allows(root, peer->uid)) {
        fork_unbusy(parent);
        close(uffd);
        tpd_log("warning", "VM %s: refused a forked child, pid %ld: uid %u is not allowed by %s", root->name,
                (long)peer->pid, (unsigned)peer->uid, root->path);
        tpd_reply(sock, -EACCES, 0, 0, "uid %u may not attach to VM %s (allowed_uids in %s)", (unsigned)peer->uid,
                  root->name, root->path);
        return 0;
    }
    tierpage_error err = {{0}, {0}};
    struct tpd_vm *vm = tpd_vm_open_child(vms, root, parent, peer->pid, &err);
    int rc = vm ? tp_remote_attach(vm->stack, uffd, peer->pid, &vm->client, &err) : -ENOMEM;
    fork_unbusy(parent);
    if (rc < 0) {
        close(uffd);
        if (vm)
            tpd_vm_close_child(vms, vm);
        tpd_log("error", "%s: cannot serve the child pid %ld forked by pid %ld: %s", parent->name, (long)peer->pid,
                (long)parent->client_pid, err.message);
        tpd_reply(sock, rc, 0, 0, "%s: cannot serve a forked child: %s", parent->name, err.message);
        return 0;
    }
    pthread_mutex_lock(&vm->lock);
    vm->client_pid = peer->pid;
    vm->client_sock = sock;
    vm->forked_by = token;
    pthread_mutex_unlock(&vm->lock);
    *child = vm;
    tpd_log("info", "%s: pid %ld forked pid %ld, served as %s", parent->name, (long)parent->client_pid,
            (long)peer->pid, vm->name);
    tpd_reply(sock, 0, tp_page_size(vm->stack), tp_malloc_threshold(vm->stack), "attached as %s", vm->name);
    return 0;
}

int tpd_fork_copy(struct tpd_vms *vms, int sock, struct tpd_vm *child, uint64_t token, char *why, size_t len)
{
    pthread_mutex_lock(&child->lock);
    int mine = child->forked_by != 0 && child->forked_by == token;
    child->forked_by = 0; /* one copy */
    pthread_mutex_unlock(&child->lock);
    struct tpd_vm *parent = mine ? fork_parent(vms, token) : NULL;
    if (!mine)
        return out_of_order(why, len, "FORK_COPY names no fork this connection attached as the child of");
    if (!parent) {
        tpd_reply(sock, -ECANCELED, 0, 0, "%s: the fork was called off (its parent went)", child->name);
        return 0;
    }
    pthread_mutex_lock(&parent->lock);
    struct tp_remote *from = parent->fork_copied ? NULL : parent->client;
    parent->fork_copied = 1;
    pthread_mutex_unlock(&parent->lock);
    tierpage_error err = {{0}, {0}};
    long n = from ? tp_remote_fork_copy(from, child->client, &err) : -EALREADY;
    pid_t parent_pid = parent->client_pid;
    fork_unbusy(parent);
    if (n < 0) {
        tpd_log("error", "%s: cannot copy the pages of pid %ld: %s", child->name, (long)parent_pid,
                n == -EALREADY ? "a copy was made already" : err.message);
        tpd_reply(sock, (int)n, 0, 0, "%s: cannot copy the parent's pages: %s", child->name,
                  n == -EALREADY ? "a copy was made already" : err.message);
        return 0;
    }
    tpd_log("info", "%s: %ld pages of pid %ld copied", child->name, n, (long)parent_pid);
    tpd_reply(sock, 0, (uint64_t)n, 0, "%s: %ld pages copied", child->name, n);
    return 0;
}

/* vm->lock held: the fork ends; 1 when one was in progress. Waits for the
 * requests using it, dropping the lock meanwhile. */
static int end_locked(struct tpd_vm *vm)
{
    int pending = vm->fork_token != 0;
    vm->fork_token = 0;
    while (vm->fork_busy)
        pthread_cond_wait(&vm->fork_idle, &vm->lock);
    return pending;
}

int tpd_fork_done(int sock, struct tpd_vm *vm, uint64_t token, char *why, size_t len)
{
    pthread_mutex_lock(&vm->lock);
    int mine = vm->fork_token != 0 && vm->fork_token == token;
    struct tp_remote *client = vm->client;
    if (mine)
        end_locked(vm);
    pthread_mutex_unlock(&vm->lock);
    if (!mine)
        return out_of_order(why, len, "FORK_DONE names no fork of this client in progress");
    tp_remote_fork_thaw(client);
    tpd_reply(sock, 0, 0, 0, "%s: pages thawed", vm->name);
    return 0;
}

void tpd_fork_end(struct tpd_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    int pending = end_locked(vm);
    pthread_mutex_unlock(&vm->lock);
    if (pending && client)
        tp_remote_fork_thaw(client);
}
