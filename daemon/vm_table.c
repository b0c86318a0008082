#include "vm_table.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "reexec.h"
#include "stack_changes.h"
#include "stack_config.h"
#include "tierpage_private.h"
#include "vm_recovery.h"
#include "vm_stack.h"
#include "vm_state.h"

int tpd_vm_name_of_file(const char *file, char name[TPD_NAME_MAX])
{
    const char *dot = strrchr(file, '.');
    if (!dot || (strcmp(dot, ".yaml") != 0 && strcmp(dot, ".yml") != 0))
        return -1;
    size_t n = (size_t)(dot - file);
    if (n == 0 || n >= TPD_NAME_MAX)
        return -1;
    char buf[TPD_NAME_MAX] = {0};
    memcpy(buf, file, n);
    if (!tpd_name_ok(buf))
        return -1;
    memcpy(name, buf, TPD_NAME_MAX);
    return 0;
}

static void set_uids(struct tpd_vm *vm, const struct tp_conf *conf)
{
    size_t n = conf->allowed_uid_count < TPD_MAX_ALLOWED_UIDS ? conf->allowed_uid_count : TPD_MAX_ALLOWED_UIDS;
    if (n)
        memcpy(vm->allowed_uids, conf->allowed_uids, n * sizeof *vm->allowed_uids);
    vm->allowed_uid_count = n;
}

static void vm_init_locks(struct tpd_vm *vm)
{
    pthread_rwlock_init(&vm->stack_lock, NULL);
    pthread_mutex_init(&vm->lock, NULL);
    pthread_mutex_init(&vm->cap_lock, NULL);
    pthread_cond_init(&vm->released, NULL);
    pthread_cond_init(&vm->promoter.ended, NULL);
    pthread_cond_init(&vm->fork_idle, NULL);
}

static void vm_free(struct tpd_vm *vm)
{
    pthread_cond_destroy(&vm->fork_idle);
    pthread_cond_destroy(&vm->promoter.ended);
    pthread_cond_destroy(&vm->released);
    pthread_mutex_destroy(&vm->cap_lock);
    pthread_mutex_destroy(&vm->lock);
    pthread_rwlock_destroy(&vm->stack_lock);
    free(vm);
}

/* A VM of one file, its stack not open yet: NULL (reported) when its
 * path is too long or memory is short. */
static struct tpd_vm *vm_new(const char *dir, const char *file, const char *name)
{
    struct tpd_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return NULL;
    snprintf(vm->name, sizeof vm->name, "%s", name);
    if ((size_t)snprintf(vm->path, sizeof vm->path, "%s/%.*s", dir, NAME_MAX, file) >= sizeof vm->path) {
        tpd_log("error", "VM %s: the path of %s/%s is too long", name, dir, file);
        free(vm);
        return NULL;
    }
    vm_init_locks(vm);
    return vm;
}

/* Open the VM of one file: NULL (reported) when it cannot load. */
static struct tpd_vm *vm_open(const char *dir, const char *file, const char *name)
{
    struct tpd_vm *vm = vm_new(dir, file, name);
    if (!vm)
        return NULL;
    tierpage_error err = {{0}, {0}};
    tpd_state_vm_removed(name); /* what a daemon that died with no client attached left */
    if (tpd_vm_stack_open(vm, &err) < 0) {
        tpd_log("error", "VM %s: %s", name, err.message);
        vm_free(vm);
        return NULL;
    }
    set_uids(vm, vm->conf);
    vm->wanted_cap = vm->conf->resident;
    return vm;
}

/* Calls `each` for each stack file of dir, in name order. */
static int for_each_file(const char *dir, int (*each)(struct tpd_vms *, const char *, const char *), struct tpd_vms *vms)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        tpd_log("error", "cannot read the stacks directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char name[TPD_NAME_MAX];
        if (names[i]->d_name[0] != '.' && tpd_vm_name_of_file(names[i]->d_name, name) == 0 &&
            each(vms, names[i]->d_name, name) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* The VM of one file whose state a daemon that died left (vm_recovery.h):
 * NULL (reported, and the VM refused) when that state is not whole. */
static struct tpd_vm *vm_recover(struct tpd_vms *vms, const char *dir, const char *file, const char *name)
{
    struct tpd_vm *vm = vm_new(dir, file, name);
    if (!vm)
        return NULL;
    char why[512];
    if (tpd_vm_recover(vm, why, sizeof why) < 0) {
        tpd_log("error", "VM %s: refused, not served: %s (its state is left in %s/%s; remove it and send "
                "SIGHUP to serve the VM afresh)", name, why, tpd_state_dir(), name);
        tpd_vm_refuse(vms, name, why);
        vm_free(vm);
        return NULL;
    }
    set_uids(vm, vm->conf);
    vm->wanted_cap = vm->conf->resident;
    tpd_log("info", "VM %s: found the state of %s serving pid %ld: its stack is open again; waiting for its client",
            name, tpd_reexec_restarts() ? "the daemon before this restart" : "a daemon that died",
            (long)vm->recovery->pid);
    return vm;
}

static int load_one(struct tpd_vms *vms, const char *file, const char *name)
{
    if (tpd_vm_find(vms, name)) {
        tpd_log("error", "VM %s: %s/%s names a VM another file already names", name, vms->dir, file);
        return -1;
    }
    /* A refused VM stays refused while its state is there; once the
     * operator removed it, SIGHUP serves the VM afresh. */
    char why[8];
    if (tpd_vm_refused(vms, name, why, sizeof why) && tpd_state_vm_left(name))
        return 0;
    tpd_vm_unrefuse(vms, name);
    struct tpd_vm *vm;
    if (tpd_state_vm_left(name)) {
        /* A refused VM does not keep the daemon from serving the others. */
        if (!(vm = vm_recover(vms, vms->dir, file, name)))
            return 0;
    } else if (!(vm = vm_open(vms->dir, file, name))) {
        return -1;
    }
    pthread_mutex_lock(&vms->lock);
    struct tpd_vm **tail = &vms->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = vm;
    pthread_mutex_unlock(&vms->lock);
    struct tp_stats st;
    tp_stack_stats(vm->stack, &st);
    tpd_log("info", "VM %s: stack %s loaded (resident %llu bytes, %zu tiers)", name, vm->path,
            (unsigned long long)st.resident_cap_bytes, st.tier_count);
    return 0;
}

int tpd_vms_load(struct tpd_vms *vms, const char *dir)
{
    snprintf(vms->dir, sizeof vms->dir, "%s", dir);
    pthread_mutex_init(&vms->lock, NULL);
    pthread_mutex_init(&vms->children_lock, NULL);
    pthread_cond_init(&vms->unpinned, NULL);
    vms->head = NULL;
    vms->children = NULL;
    if (for_each_file(dir, load_one, vms) < 0) {
        tpd_vms_close(vms, 0);
        return -1;
    }
    return 0;
}

static int reload_one(struct tpd_vms *vms, const char *file, const char *name)
{
    struct tpd_vm *vm = tpd_vm_find(vms, name);
    if (!vm) {
        load_one(vms, file, name);
        return 0;
    }
    struct tp_conf *conf;
    tierpage_error err = {{0}, {0}};
    if (tp_conf_load_file_named(vm->path, name, &conf, &err) < 0) {
        tpd_log("error", "VM %s: %s; the stack in force stays", name, err.message);
        return 0;
    }
    /* Keys a running stack keeps: a stack of the file replaces it, now or
     * once no program is attached. */
    char fixed[sizeof vm->changed_keys];
    tpd_vm_stack_get(vm);
    size_t n = tpd_fixed_changes(vm->conf, conf, fixed, sizeof fixed);
    tpd_vm_stack_put(vm);
    if (n > 0)
        tpd_vm_stack_changed(vms, vm, fixed);
    pthread_mutex_lock(&vm->lock);
    uint64_t wanted = vm->wanted_cap;
    pthread_mutex_unlock(&vm->lock);
    if (conf->resident != wanted) {
        tpd_vm_stack_get(vm);
        int rc = tpd_vm_set_wanted_cap(vm, conf->resident, &err);
        tpd_vm_stack_put(vm);
        if (rc < 0)
            tpd_log("error", "VM %s: resident %llu bytes: %s", name, (unsigned long long)conf->resident,
                    err.message);
        else
            tpd_log("info", "VM %s: resident cap %llu -> %llu bytes", name, (unsigned long long)wanted,
                    (unsigned long long)conf->resident);
    }
    pthread_mutex_lock(&vm->lock);
    set_uids(vm, conf);
    vm->gone = 0;
    pthread_mutex_unlock(&vm->lock);
    tp_conf_free(conf);
    return 0;
}

void tpd_vms_reload(struct tpd_vms *vms)
{
    tpd_log("info", "SIGHUP: reading %s again", vms->dir);
    for (struct tpd_vm *vm = vms->head; vm; vm = vm->next) {
        pthread_mutex_lock(&vm->lock);
        int was_gone = vm->gone;
        vm->gone = access(vm->path, F_OK) < 0;
        if (vm->gone && !was_gone)
            tpd_log("info", "VM %s: %s was removed: no new client may attach", vm->name, vm->path);
        pthread_mutex_unlock(&vm->lock);
    }
    for_each_file(vms->dir, reload_one, vms);
}

struct tpd_vm *tpd_vm_find(struct tpd_vms *vms, const char *name)
{
    pthread_mutex_lock(&vms->lock);
    struct tpd_vm *vm = vms->head;
    while (vm && strcmp(vm->name, name) != 0)
        vm = vm->next;
    pthread_mutex_unlock(&vms->lock);
    return vm;
}

int tpd_vm_allows(struct tpd_vm *vm, uid_t uid)
{
    if (uid == 0)
        return 1;
    pthread_mutex_lock(&vm->lock);
    int ok = vm->allowed_uid_count == 0 && uid == getuid();
    for (size_t i = 0; i < vm->allowed_uid_count; i++)
        ok |= vm->allowed_uids[i] == uid;
    pthread_mutex_unlock(&vm->lock);
    return ok;
}

struct tpd_vm *tpd_vm_open_child(struct tpd_vms *vms, struct tpd_vm *root, struct tpd_vm *parent, pid_t pid,
                                 tierpage_error *err)
{
    struct tpd_vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if ((size_t)snprintf(vm->name, sizeof vm->name, "%s/%ld", root->name, (long)pid) >= sizeof vm->name) {
        tierpage_error_set(err, -ENAMETOOLONG, NULL, "VM %s: its name and the child's pid %ld pass %d characters",
                           root->name, (long)pid, TPD_NAME_MAX - 1);
        free(vm);
        return NULL;
    }
    memcpy(vm->path, root->path, sizeof vm->path);
    vm_init_locks(vm);
    vm->root = root;
    /* The child's stack is the parent's as it is in force (root's file
     * may have changed since: the change waits for the child too). */
    struct tp_stats st;
    tpd_vm_stack_get(root);
    tp_stack_stats(parent->stack, &st);
    vm->wanted_cap = st.resident_cap_bytes;
    vm->stack = tp_private_stack_open_forked(root->text, root->path, tp_private_stack_instance(parent->stack), err);
    tpd_vm_stack_put(root);
    if (!vm->stack || tp_set_resident(vm->stack, vm->wanted_cap, err) < 0) {
        tp_stack_close(vm->stack);
        vm_free(vm);
        return NULL;
    }
    tp_stack_set_failure_handler(vm->stack, tpd_vm_failed, vm);
    pthread_mutex_lock(&vms->children_lock);
    vm->next = vms->children;
    vms->children = vm;
    pthread_mutex_unlock(&vms->children_lock);
    return vm;
}

void tpd_vm_close_child(struct tpd_vms *vms, struct tpd_vm *child)
{
    pthread_mutex_lock(&vms->children_lock);
    struct tpd_vm **p = &vms->children;
    while (*p && *p != child)
        p = &(*p)->next;
    if (*p)
        *p = child->next;
    while (child->pinned)
        pthread_cond_wait(&vms->unpinned, &vms->children_lock);
    pthread_mutex_unlock(&vms->children_lock);
    tp_stack_close(child->stack);
    vm_free(child);
}

struct tpd_vm **tpd_vm_pin_children(struct tpd_vms *vms, size_t *count)
{
    *count = 0;
    pthread_mutex_lock(&vms->children_lock);
    size_t n = 0;
    for (struct tpd_vm *child = vms->children; child; child = child->next)
        n++;
    struct tpd_vm **pinned = n ? calloc(n, sizeof *pinned) : NULL;
    if (pinned) {
        for (struct tpd_vm *child = vms->children; child; child = child->next) {
            child->pinned++;
            pinned[(*count)++] = child;
        }
    }
    pthread_mutex_unlock(&vms->children_lock);
    return pinned;
}

void tpd_vm_unpin_children(struct tpd_vms *vms, struct tpd_vm **children, size_t count)
{
    pthread_mutex_lock(&vms->children_lock);
    for (size_t i = 0; i < count; i++)
        if (--children[i]->pinned == 0)
            pthread_cond_broadcast(&vms->unpinned);
    pthread_mutex_unlock(&vms->children_lock);
    free(children);
}

void tpd_vms_close(struct tpd_vms *vms, int remove_state)
{
    /* Every connection has ended: no child's entry is left, but be sure. */
    while (vms->children) {
        struct tpd_vm *child = vms->children;
        if (child->client)
            tp_remote_detach(child->client);
        tpd_vm_close_child(vms, child);
    }
    struct tpd_vm *vm = vms->head;
    while (vm) {
        struct tpd_vm *next = vm->next;
        tpd_promote_stop(vm);
        if (vm->client)
            tp_remote_detach(vm->client);
        tpd_vm_stack_close(vm);
        if (remove_state)
            tpd_state_vm_removed(vm->name);
        if (vm->recovery)
            tpd_recovery_free(vm->recovery);
        vm_free(vm);
        vm = next;
    }
    vms->head = NULL;
    pthread_cond_destroy(&vms->unpinned);
    pthread_mutex_destroy(&vms->children_lock);
    pthread_mutex_destroy(&vms->lock);
}
