/* The host-wide resident budget (DAEMON.yaml `resident_budget:`): when the
 * VMs' resident caps together would pass it (a forked client's entry,
 * NAME/PID, counting as a VM of its own), the VMs with the lowest recent
 * fault rate are shrunk first, each to no less than 1 MiB (or its whole
 * cap when smaller), so that the sum of the resident sets stays within the
 * budget (unless those floors alone pass it); a VM gets its cap back as
 * room comes free or as it faults more than another. A thread of its own
 * samples every VM's faults twice a second. */
#ifndef TIERPAGED_BUDGET_H
#define TIERPAGED_BUDGET_H

#include <stdint.h>
#include <stdio.h>

#include "vm_table.h"

struct tpd_budget;

/* Start enforcing `bytes` over vms. 0, or -1 with the reason in why. */
int tpd_budget_start(struct tpd_vms *vms, uint64_t bytes, struct tpd_budget **out, char *why, size_t why_len);
/* Stop the thread; frees b (NULL is fine). VMs keep the caps in force. */
void tpd_budget_stop(struct tpd_budget *b);

/* The cap the stack file or an operator asks for the VM: the budget lets
 * it have at most its allotment. Called with vm->stack_lock read-held
 * (tpd_vm_stack_get), without vm->lock; takes vm->cap_lock to decide and
 * apply the cap in one step. */
int tpd_vm_set_wanted_cap(struct tpd_vm *vm, uint64_t bytes, tierpage_error *err);

/* For `tierpage status`: the budget, the resident total, each VM (or
 * forked child's entry) it holds below its cap. Nothing without a budget. */
void tpd_budget_print(struct tpd_budget *b, FILE *out);

#endif
