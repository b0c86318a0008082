/* A VM's stack in force (struct tpd_vm's stack, conf and text, under its
 * stack_lock): opened from the VM's file, used by the connections, the
 * operator commands, the metrics server, the resident budget and the
 * promoter, and replaced when SIGHUP finds keys of the file changed that a
 * running stack keeps (its tiers, policy, ...: stack_changes.h). It is
 * replaced at once when no program is attached to the VM (no client and
 * no forked child's entry), else when its last program goes, before the
 * next can attach. A stack that cannot open is logged, naming the file,
 * and the stack in force stays. */
#ifndef TIERPAGED_VM_STACK_H
#define TIERPAGED_VM_STACK_H

#include "vm_table.h"

/* Open the stack of vm->path into vm (stack, conf and text), with the
 * failure handler set. 0, or -1 with err. Before vm is shared: no lock. */
int tpd_vm_stack_open(struct tpd_vm *vm, tierpage_error *err);
/* Close what tpd_vm_stack_open opened. Nothing else may use vm. */
void tpd_vm_stack_close(struct tpd_vm *vm);

/* Takes vm->stack_lock for reading and returns the stack in force, which
 * stays until tpd_vm_stack_put. No other lock of vm may be held (the
 * stack lock comes first). */
tp_stack *tpd_vm_stack_get(struct tpd_vm *vm);
/* Releases vm->stack_lock, read-held by tpd_vm_stack_get. */
void tpd_vm_stack_put(struct tpd_vm *vm);

/* SIGHUP found `keys` of vm's file changed (tpd_fixed_changes): open the
 * file's stack now, or mark the change pending while a program is
 * attached. No lock held; takes vm->stack_lock for writing. */
void tpd_vm_stack_changed(struct tpd_vms *vms, struct tpd_vm *vm, const char *keys);
/* A program of vm is gone: its client detached (vm->client is NULL, vm
 * still `releasing`) or a forked child's entry of vm was closed. A pending
 * change is applied when no program is left. No lock held. */
void tpd_vm_stack_program_gone(struct tpd_vms *vms, struct tpd_vm *vm);

/* For status and stats: "pending", "applied", "refused" (the changed
 * stack could not open) or NULL when the file never changed. Called with
 * vm->lock held. */
const char *tpd_vm_stack_change_word(const struct tpd_vm *vm);

/* The failure handler of every entry's stack (tp_stack_set_failure_handler):
 * stops the program attached. */
void tpd_vm_failed(void *vm, const char *why);

#endif
