/* Pipelined execution of single-key commands: the commands bound for one
 * server are written on one connection (redisAppendCommandArgv) and their
 * replies read back in order (redisGetReply), one round trip per server. */
#ifndef TP_REDIS_EXEC_H
#define TP_REDIS_EXEC_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "ns_keys.h"
#include "redis_node.h"

#define REDIS_KEY_MAX NS_PAGE_KEY_MAX

enum redis_cmd_state {
    REDIS_CMD_PENDING, /* to be sent to `node` */
    REDIS_CMD_DONE,    /* reply or transport failure recorded */
};

struct redis_cmd {
    /* Set by the caller. */
    const char *name;      /* "GET", "SET", "DEL", "UNLINK" */
    char key[REDIS_KEY_MAX];
    size_t key_len;
    const void *value;     /* SET's page, else NULL */
    size_t value_len;
    size_t index;          /* the caller's own bookkeeping (which page) */
    struct redis_node *node;
    int asking;            /* send ASKING first (a cluster ASK redirection) */
    unsigned retries;      /* redirections and retries so far */

    /* Set by redis_exec. */
    enum redis_cmd_state state;
    redisReply *reply;     /* NULL when the command never got a reply */
    int failure;           /* negative errno when reply is NULL */
    int refused;           /* the server refused the connection (AUTH) */
    char why[400];         /* the failure, naming the server */
};

/* Sends every PENDING command to its node, pipelined per node, and marks
 * each DONE with its reply or its failure. */
void redis_exec(struct redis_cmd *cmds, size_t count);

/* Frees a command's reply and makes it PENDING again. */
void redis_cmd_reset(struct redis_cmd *cmd);

#endif
