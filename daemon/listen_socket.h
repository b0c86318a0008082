/* The control socket: created with its mode (and group) before anyone can
 * connect; a stale socket left by a daemon that died is replaced, a live
 * one is not. */
#ifndef TIERPAGED_LISTEN_SOCKET_H
#define TIERPAGED_LISTEN_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

/* The listening socket, or -1 with the reason in why. gid (gid_t)-1: none. */
int tpd_listen(const char *path, mode_t mode, gid_t gid, char *why, size_t why_len);

#endif
