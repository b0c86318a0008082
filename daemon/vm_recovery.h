/* A VM a daemon that died was serving (issue 13): found at start by the
 * client record in its state directory (vm_state.h, daemon/STATE.md), its
 * stack opened again as the dead daemon left it (its stores not cleared,
 * under the same instance id), waiting for its client to come back with
 * RESUME, its regions and RESUME_DONE (PROTOCOL.md). A VM whose state is
 * truncated or corrupt is refused: listed by name with the reason, never
 * served, its files left for the operator; the other VMs go on. */
#ifndef TIERPAGED_VM_RECOVERY_H
#define TIERPAGED_VM_RECOVERY_H

#include <stdio.h>

#include "vm_state.h"
#include "vm_table.h"

enum tpd_recovery_state {
    TPD_RECOVERY_WAITING,  /* for its client's RESUME */
    TPD_RECOVERY_RESUMING, /* its client gives its regions; its pages do not move */
    TPD_RECOVERY_RESUMED,  /* served again, until that client goes */
};

struct tpd_recovery {
    enum tpd_recovery_state state;
    pid_t pid;                           /* the client the dead daemon served */
    char old_map[64];                    /* the dead daemon's map file */
    struct tpd_recorded_region *regions; /* the client's regions as recorded */
    size_t region_count;
    uint32_t next_id;                    /* for a region not recorded: ids above every recorded one */
    struct tp_recovered_map *map;        /* the dead daemon's map, read */
};

/* At load, before vm is shared: vm's directory holds a client record.
 * Opens vm's stack from the recorded text and instance, keeps its map in
 * a new file, and sets vm->recovery (WAITING). 0, or -1 with `why` naming
 * the file at fault. */
int tpd_vm_recover(struct tpd_vm *vm, char *why, size_t len);
/* A VM refused at load: its reason is kept (under vms->lock). */
void tpd_vm_refuse(struct tpd_vms *vms, const char *name, const char *why);
/* VM `name` is no longer refused (its state was removed). */
void tpd_vm_unrefuse(struct tpd_vms *vms, const char *name);
/* The reason VM `name` was refused, into why; 0 when it was not. */
int tpd_vm_refused(struct tpd_vms *vms, const char *name, char *why, size_t len);

/* For STATUS: a line for each refused VM, "NAME  -  (refused: WHY)". */
void tpd_vm_print_refused(struct tpd_vms *vms, FILE *out);

/* RESUME took vm for its client (vm->client attached, held): its pages
 * stop moving until tpd_recovery_done. No lock held. */
void tpd_recovery_resuming(struct tpd_vm *vm);
/* REGION_ADD while resuming: the region served again under its recorded
 * page ids, or as new when it overlaps none. 0, or -errno with err. The
 * stack read-held by the caller. */
int tpd_recovery_region(struct tpd_vm *vm, tp_stack *stack, int memfd, uint64_t addr, uint64_t length,
                        uint64_t offset, tierpage_error *err);
/* RESUME_DONE: the recorded regions not given again are forgotten, the
 * state recorded anew, the pages thawed, the cap set again and the
 * client's faults read. Returns the regions resumed, or -errno with err.
 * The stack read-held by the caller. */
int tpd_recovery_done(struct tpd_vm *vm, tp_stack *stack, tierpage_error *err);
/* The recovered state goes (its client went, or will never come: a new
 * client attaches): the pages of the recorded regions not served are
 * deleted from the tiers, the dead daemon's map file removed. Called with
 * the stack read-held, vm->client NULL or just detached. */
void tpd_recovery_drop(struct tpd_vm *vm, tp_stack *stack);

/* Frees what vm->recovery holds (the daemon stops). */
void tpd_recovery_free(struct tpd_recovery *r);

#endif
