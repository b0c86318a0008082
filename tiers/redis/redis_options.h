/* The redis tier's options: parsed from the stack file's strings, checked,
 * and kept in one struct. */
#ifndef TP_REDIS_OPTIONS_H
#define TP_REDIS_OPTIONS_H

#include <stddef.h>

#include "ns_keys.h"
#include "tierpage_store.h"

#define REDIS_MAX_SERVERS 64
#define REDIS_HOST_MAX 108 /* a unix socket path is at most 107 characters */

/* One server: host and TCP port, or a unix socket path (port 0). */
struct redis_address {
    char host[REDIS_HOST_MAX]; /* host name or IP, or the socket path */
    int port;                  /* 0 for a unix socket */
    char name[REDIS_HOST_MAX + 12]; /* "host:port" or the path, for messages */
};

enum redis_policy_check { REDIS_POLICY_REFUSE, REDIS_POLICY_WARN };

struct redis_options {
    struct redis_address servers[REDIS_MAX_SERVERS];
    size_t server_count;
    int cluster;
    unsigned replicas;
    char password[256];
    char user[128];
    int has_password;
    int connect_timeout_ms;
    int io_timeout_ms;
    enum redis_policy_check policy_check;
    unsigned lease_ms;       /* a running stack's lease lives this long unrenewed (ns_keys.h) */
    unsigned reply_spin_us;  /* a wait for replies spins this long, then blocks (reply_wait.h) */
};

/* Fills `opts` from params->options. On a bad or unknown option returns a
 * negative errno with err->key naming it. */
int redis_options_parse(const tierpage_store_params *params, struct redis_options *opts, tierpage_error *err);

/* Parses "host:port", "[v6addr]:port" or a unix socket path (one that
 * starts with '/' or '.'). 0 or -EINVAL. */
int redis_address_parse(const char *text, size_t len, struct redis_address *addr);

#endif
