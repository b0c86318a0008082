/* The VMs tierpaged serves: one stack file each in the stacks directory
 * (file name = VM name), each opened at load and kept while the daemon
 * runs; a VM's stack is opened again when its file's tiers or other fixed
 * keys change (vm_stack.c). */
#ifndef TIERPAGED_VM_TABLE_H
#define TIERPAGED_VM_TABLE_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "promoter.h"
#include "stack_config.h"
#include "tierpage.h"
#include "tierpage_daemon.h"
#include "wire.h"

#define TPD_MAX_ALLOWED_UIDS 64

struct tpd_vm {
    char name[TPD_NAME_MAX];
    char path[PATH_MAX];
    /* The stack in force, the file's text and its configuration it was
     * opened from. Read-held while any of them is used (vm_stack.h); write-held
     * to replace them. Taken before cap_lock, children_lock and lock.
     * A forked child's entry never replaces its stack. */
    pthread_rwlock_t stack_lock;
    tp_stack *stack;
    struct tp_conf *conf;
    char *text;
    unsigned state_generation; /* names the stack's files in the state directory (vm_state.h) */
    char state_map[64];        /* its page map file's name there */
    /* A VM a daemon that died served, waiting for its client, resuming or
     * resumed (vm_recovery.h); NULL otherwise. Under lock. */
    struct tpd_recovery *recovery;
    pthread_mutex_t lock;      /* guards everything below */
    uint32_t allowed_uids[TPD_MAX_ALLOWED_UIDS];
    size_t allowed_uid_count;  /* 0: the daemon's own uid */
    struct tp_remote *client;  /* the attached client (until its pages are released), or NULL */
    pid_t client_pid;
    int client_sock;           /* its connection */
    int releasing;             /* its pages are being released */
    struct tpd_promoter promoter;
    pthread_cond_t released;   /* client became NULL */
    int gone;                  /* its file was removed: no new client */
    /* Its file changed keys a running stack keeps (stack_changes.h): the
     * stack is opened again once no program is attached (vm_stack.c). */
    enum tpd_stack_change { TPD_STACK_SAME, TPD_STACK_PENDING, TPD_STACK_CHANGED, TPD_STACK_KEPT } stack_change;
    char changed_keys[256];    /* those keys, as stack_changes.h names them */
    /* The resident budget (budget.c): the cap the stack file or an
     * operator asked for, what the budget allows (0: no limit), the recent
     * fault rate and the faults counted at the last look. */
    uint64_t wanted_cap, allotment, budget_faults;
    double fault_rate;
    pthread_mutex_t cap_lock;  /* deciding and applying the cap; taken before lock */
    /* fork (fork_clients.c). A forked client's child is served by an entry
     * of its own, NAME/PID: a stack of its own opened from the VM's file,
     * kept in tpd_vms.children while the child is attached. */
    struct tpd_vm *root;       /* such an entry: the VM whose file it was opened from; NULL for a VM */
    uint64_t fork_token;       /* nonzero while a fork of the client is in progress (its pages frozen) */
    int fork_attached;         /* the child of that fork has attached */
    int fork_copied;           /* and has its copy */
    int fork_busy;             /* requests using this entry as the parent of a fork */
    pthread_cond_t fork_idle;  /* fork_busy became 0 */
    uint64_t forked_by;        /* a child's entry: the token of the fork it came from, until copied */
    int pinned;                /* a child's entry: held by tpd_vm_pin_children (under children_lock) */
    struct tpd_vm *next;
};

struct tpd_vms {
    char dir[PATH_MAX];
    pthread_mutex_t lock;      /* guards the list (VMs are never freed before exit) */
    struct tpd_vm *head;
    pthread_mutex_t children_lock; /* guards children; taken before a vm's lock */
    struct tpd_vm *children;   /* forked clients' entries, freed when their client goes */
    pthread_cond_t unpinned;   /* a child's entry's pinned became 0 */
};

/* Load every stack file of `dir`. -1 when one cannot load (each reported
 * with file:line:col), nothing left open then. */
int tpd_vms_load(struct tpd_vms *vms, const char *dir);
/* SIGHUP: read the directory again. Changed `resident:` and `allowed_uids:`
 * take effect at once; changed tiers and other keys a running stack keeps
 * replace the VM's stack, at once or once no program is attached
 * (vm_stack.h); new files add VMs; a broken file is reported and its VM
 * keeps its stack. Called by the main thread, no lock held. */
void tpd_vms_reload(struct tpd_vms *vms);
struct tpd_vm *tpd_vm_find(struct tpd_vms *vms, const char *name);
/* Whether uid may attach to vm (root always may). */
int tpd_vm_allows(struct tpd_vm *vm, uid_t uid);
/* A forked client's entry NAME/PID (pid's), opened from the text of
 * `root`'s stack in force apart from `parent`'s stack (its own instance in
 * shared stores, its own pmem file) with parent's resident cap, and listed
 * in vms->children. `parent` (root or a child's entry) has a fork in
 * progress: its stack stays. No lock held; takes root's stack_lock for
 * reading. NULL with err when it cannot open. */
struct tpd_vm *tpd_vm_open_child(struct tpd_vms *vms, struct tpd_vm *root, struct tpd_vm *parent, pid_t pid,
                                 tierpage_error *err);
/* Unlist such an entry, its client detached, close its stack, free it
 * (once no one has it pinned). No lock held. */
void tpd_vm_close_child(struct tpd_vms *vms, struct tpd_vm *child);
/* The forked clients' entries listed now, each pinned: it stays (its
 * stack open) until tpd_vm_unpin_children, without children_lock held
 * meanwhile. A new array of *count (NULL when none, or out of memory). No
 * lock held. */
struct tpd_vm **tpd_vm_pin_children(struct tpd_vms *vms, size_t *count);
/* Unpin them and free the array. No lock held. */
void tpd_vm_unpin_children(struct tpd_vms *vms, struct tpd_vm **children, size_t count);
/* Close every stack (clients detached first). With `remove_state` (a
 * clean stop) each VM's state directory goes; without (a daemon that
 * could not start) the state a daemon that died left stays for the next. */
void tpd_vms_close(struct tpd_vms *vms, int remove_state);

/* The VM name a stack file's name gives ("web1.yaml" -> "web1"), in
 * `name`; 0, or -1 when the file is not a stack file or the name not valid. */
int tpd_vm_name_of_file(const char *file, char name[TPD_NAME_MAX]);

#endif
