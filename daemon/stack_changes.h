/* What of a stack file cannot change under a running stack: its tiers
 * (the stores are open, and pages live in them) and the settings read once
 * at open. SIGHUP applies `resident:` and `allowed_uids:` at once; for
 * these the VM's stack is opened again (vm_stack.h). */
#ifndef TIERPAGED_STACK_CHANGES_H
#define TIERPAGED_STACK_CHANGES_H

#include <stddef.h>

#include "stack_config.h"

/* The keys whose values differ between the stack in force and the file
 * read again, as "tiers[1].capacity, policy" in `out`; how many. */
size_t tpd_fixed_changes(const struct tp_conf *in_force, const struct tp_conf *read, char *out, size_t len);

#endif
