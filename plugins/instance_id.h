/* The id of one running stack: what keeps its pages apart from every other
 * running stack's in a shared store (tierpage_store_params.instance). */
#ifndef TIERPAGE_INSTANCE_ID_H
#define TIERPAGE_INSTANCE_ID_H

#include <stddef.h>

#define TP_INSTANCE_ID_LEN 16

/* Writes 16 lowercase hex digits and a NUL into out (at least 17 bytes),
 * mixed from the host name, the pid, the clocks and the kernel's random
 * bytes: two stacks opened at once, in one process or on two hosts, get
 * different ids. */
void tp_instance_id(char *out, size_t size);

#endif
