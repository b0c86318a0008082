#include "vm_stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "stack_changes.h"
#include "tierpage_private.h"
#include "vm_recovery.h"
#include "vm_state.h"

/* A stack file is small; this is only a bound on a wrong one. */
#define TEXT_MAX (16u << 20)

/* The whole of a file, NUL-ended, in *text. 0, or -1 with err. */
static int read_text(const char *path, char **text, tierpage_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tierpage_error_set(err, -errno, NULL, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 1 >= cap) {
            char *grown = cap < TEXT_MAX ? realloc(buf, cap ? cap * 2 : 4096) : NULL;
            if (!grown) {
                tierpage_error_set(err, -EFBIG, NULL, "%s: cannot read: %s", path,
                                   cap < TEXT_MAX ? "out of memory" : "larger than 16 MiB");
                goto fail;
            }
            buf = grown;
            cap = cap ? cap * 2 : 4096;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        tierpage_error_set(err, -EIO, NULL, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    *text = buf;
    return 0;
fail:
    fclose(f);
    free(buf);
    return -1;
}

/* The name of generation G's page map file. */
static void map_name_of(char name[64], unsigned generation)
{
    snprintf(name, 64, "map.%u", generation);
}

/* The file's text, its configuration and a stack opened from that same
 * text (the file may change meanwhile), its dram pools and page map in
 * the VM's state directory (vm_state.h), for stack `generation` of the
 * VM. 0, or -1 with err. */
static int open_file(const char *vm, const char *path, unsigned generation, char **text, struct tp_conf **conf,
                     tp_stack **stack, tierpage_error *err)
{
    *text = NULL;
    *conf = NULL;
    *stack = NULL;
    struct tp_conf *stack_conf = NULL;
    char map_name[64];
    map_name_of(map_name, generation);
    if (read_text(path, text, err) < 0)
        return -1;
    if (tp_conf_load_string_named(*text, strlen(*text), path, vm, conf, err) < 0 ||
        tp_conf_load_string_named(*text, strlen(*text), path, vm, &stack_conf, err) < 0 ||
        tpd_state_give_paths(stack_conf, vm, generation, err) < 0)
        goto fail;
    *stack = tp_private_stack_open_conf(stack_conf, NULL, err);
    stack_conf = NULL; /* the open took it */
    if (!*stack || tpd_state_stack_opened(vm, *stack, *text, generation, map_name, err) < 0)
        goto fail;
    return 0;
fail:
    if (*stack)
        tp_stack_close(*stack);
    *stack = NULL;
    tpd_state_stack_closed(vm, generation);
    tp_conf_free(stack_conf);
    tp_conf_free(*conf);
    free(*text);
    *conf = NULL;
    *text = NULL;
    return -1;
}

/* A page of the VM could not be served (fatal.c, tp_stack_fail): the
 * program it belongs to is stopped, not the daemon. It gets a STOP with
 * the reason (its shim prints it and exits 125), and its connection is
 * shut down for reading, so that the connection's thread releases its
 * pages (detach) and closes. The other VMs go on. Called from a thread of
 * the VM's stack, no lock of the stack held. */
void tpd_vm_failed(void *arg, const char *why)
{
    struct tpd_vm *vm = arg;
    pthread_mutex_lock(&vm->lock);
    if (vm->client) {
        tpd_log("error", "VM %s: stopping pid %ld: %s; its pages are released, the other VMs go on", vm->name,
                (long)vm->client_pid, why);
        tpd_send_stop(vm->client_sock, why);
        shutdown(vm->client_sock, SHUT_RD);
    } else {
        tpd_log("error", "VM %s: %s (no program attached; the tier's queued pages are dropped)", vm->name, why);
    }
    pthread_mutex_unlock(&vm->lock);
}

int tpd_vm_stack_open(struct tpd_vm *vm, tierpage_error *err)
{
    if (open_file(vm->name, vm->path, vm->state_generation, &vm->text, &vm->conf, &vm->stack, err) < 0)
        return -1;
    map_name_of(vm->state_map, vm->state_generation);
    tp_stack_set_failure_handler(vm->stack, tpd_vm_failed, vm);
    return 0;
}

void tpd_vm_stack_close(struct tpd_vm *vm)
{
    tp_stack_close(vm->stack);
    tp_conf_free(vm->conf);
    free(vm->text);
    vm->stack = NULL;
    vm->conf = NULL;
    vm->text = NULL;
}

tp_stack *tpd_vm_stack_get(struct tpd_vm *vm)
{
    pthread_rwlock_rdlock(&vm->stack_lock);
    return vm->stack;
}

void tpd_vm_stack_put(struct tpd_vm *vm)
{
    pthread_rwlock_unlock(&vm->stack_lock);
}

const char *tpd_vm_stack_change_word(const struct tpd_vm *vm)
{
    switch (vm->stack_change) {
    case TPD_STACK_PENDING: return "pending";
    case TPD_STACK_CHANGED: return "applied";
    case TPD_STACK_KEPT: return "refused";
    default: return NULL;
    }
}

/* Called with vms->children_lock and vm->lock held: the pid of the
 * program attached to vm (its client, else one of its forked children's
 * entries), or 0 when none is. */
static pid_t program_of(struct tpd_vms *vms, struct tpd_vm *vm)
{
    if (vm->client)
        return vm->client_pid;
    /* The client a daemon that died served, which may come back to it. */
    if (vm->recovery && vm->recovery->state == TPD_RECOVERY_WAITING)
        return vm->recovery->pid;
    for (struct tpd_vm *child = vms->children; child; child = child->next)
        if (child->root == vm)
            return child->client_pid ? child->client_pid : -1;
    return 0;
}

static void set_change(struct tpd_vm *vm, enum tpd_stack_change state)
{
    pthread_mutex_lock(&vm->lock);
    vm->stack_change = state;
    pthread_mutex_unlock(&vm->lock);
}

/* Called with vm->stack_lock write-held, no other lock: no one uses the
 * stack in force, and no program is attached to it (so it holds no page).
 * Opens the file's stack in its place, or keeps it when that cannot open. */
static void reopen(struct tpd_vm *vm, const char *keys)
{
    char *text;
    struct tp_conf *conf;
    tp_stack *stack;
    tierpage_error err = {{0}, {0}};
    if (open_file(vm->name, vm->path, vm->state_generation + 1, &text, &conf, &stack, &err) < 0) {
        tpd_log("error", "VM %s: the stack of %s (changing %s) cannot open: %s; the stack in force stays", vm->name,
                vm->path, keys, err.message);
        set_change(vm, TPD_STACK_KEPT);
        return;
    }
    char now[sizeof vm->changed_keys];
    if (tpd_fixed_changes(vm->conf, conf, now, sizeof now) == 0) {
        tpd_log("info", "VM %s: %s no longer changes %s: the stack in force stays", vm->name, vm->path, keys);
        tp_stack_close(stack);
        tpd_state_stack_closed(vm->name, vm->state_generation + 1);
        tp_conf_free(conf);
        free(text);
        set_change(vm, TPD_STACK_SAME);
        return;
    }
    tp_stack_set_failure_handler(stack, tpd_vm_failed, vm);
    tp_stack *old = vm->stack;
    struct tp_conf *old_conf = vm->conf;
    char *old_text = vm->text;
    vm->stack = stack;
    vm->conf = conf;
    vm->text = text;
    tp_stack_close(old);
    tpd_state_stack_closed(vm->name, vm->state_generation++);
    map_name_of(vm->state_map, vm->state_generation);
    tp_conf_free(old_conf);
    free(old_text);
    /* The cap the file, an operator or the budget set stays in force. */
    pthread_mutex_lock(&vm->cap_lock);
    pthread_mutex_lock(&vm->lock);
    uint64_t cap = vm->allotment && vm->allotment < vm->wanted_cap ? vm->allotment : vm->wanted_cap;
    snprintf(vm->changed_keys, sizeof vm->changed_keys, "%s", now);
    vm->stack_change = TPD_STACK_CHANGED;
    pthread_mutex_unlock(&vm->lock);
    if (tp_set_resident(stack, cap, &err) < 0)
        tpd_log("error", "VM %s: resident %llu bytes: %s", vm->name, (unsigned long long)cap, err.message);
    pthread_mutex_unlock(&vm->cap_lock);
    tpd_log("info", "VM %s: stack %s opened again for its changed %s (%zu tiers); the old one is closed", vm->name,
            vm->path, now, conf->tier_count);
}

/* Marks the change pending when a program is attached to vm: its pid
 * then, else 0. Checked and marked under the locks a program's arrival
 * and departure take, so that the one that goes last sees the mark. */
static pid_t pend_if_attached(struct tpd_vms *vms, struct tpd_vm *vm, const char *keys)
{
    pthread_mutex_lock(&vms->children_lock);
    pthread_mutex_lock(&vm->lock);
    pid_t pid = program_of(vms, vm);
    if (pid) {
        vm->stack_change = TPD_STACK_PENDING;
        snprintf(vm->changed_keys, sizeof vm->changed_keys, "%s", keys);
    }
    pthread_mutex_unlock(&vm->lock);
    pthread_mutex_unlock(&vms->children_lock);
    return pid;
}

void tpd_vm_stack_changed(struct tpd_vms *vms, struct tpd_vm *vm, const char *keys)
{
    /* A program attached: its stack stays, without waiting for the
     * stack's users (a demote may take long). */
    pid_t pid = pend_if_attached(vms, vm, keys);
    if (!pid) {
        pthread_rwlock_wrlock(&vm->stack_lock);
        /* One may have attached while the users finished. */
        pid = pend_if_attached(vms, vm, keys);
        if (!pid)
            reopen(vm, keys);
        pthread_rwlock_unlock(&vm->stack_lock);
    }
    if (pid)
        tpd_log("info", "VM %s: %s changes %s: pending, the stack is opened again once its program (pid %ld) and "
                "every child it forked have detached", vm->name, vm->path, keys, (long)pid);
}

void tpd_vm_stack_program_gone(struct tpd_vms *vms, struct tpd_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    int pending = vm->stack_change == TPD_STACK_PENDING;
    pthread_mutex_unlock(&vm->lock);
    if (!pending)
        return;
    pthread_rwlock_wrlock(&vm->stack_lock);
    char keys[sizeof vm->changed_keys];
    pthread_mutex_lock(&vms->children_lock);
    pthread_mutex_lock(&vm->lock);
    int now = vm->stack_change == TPD_STACK_PENDING && program_of(vms, vm) == 0;
    memcpy(keys, vm->changed_keys, sizeof keys);
    pthread_mutex_unlock(&vm->lock);
    pthread_mutex_unlock(&vms->children_lock);
    if (now) {
        tpd_log("info", "VM %s: its last program detached: applying the pending change of %s", vm->name, keys);
        reopen(vm, keys);
    }
    pthread_rwlock_unlock(&vm->stack_lock);
}
