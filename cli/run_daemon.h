#ifndef TIERPAGE_RUN_DAEMON_H
#define TIERPAGE_RUN_DAEMON_H

#include <stddef.h>

/* 0 when the daemon at `socket` would let this process attach to `vm`;
 * -1 with the reason (naming the socket). */
int tp_run_daemon_vm_check(const char *socket, const char *vm, char *why, size_t why_len);

#endif
