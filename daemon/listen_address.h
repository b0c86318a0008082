/* The address of a TCP listener given in tierpaged's config: "PORT" (on
 * 127.0.0.1: loopback unless said otherwise), "IPv4:PORT" or
 * "[IPv6]:PORT". Port 0 lets the kernel choose one (the log says which). */
#ifndef TIERPAGED_LISTEN_ADDRESS_H
#define TIERPAGED_LISTEN_ADDRESS_H

#include <stddef.h>
#include <sys/socket.h>

struct tpd_address {
    struct sockaddr_storage sa;
    socklen_t len;
};

/* 0, or -1 with what was expected in `why`. */
int tpd_address_parse(const char *text, struct tpd_address *out, char *why, size_t why_len);
/* "127.0.0.1:9464" or "[::1]:9464" into buf. */
const char *tpd_address_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
