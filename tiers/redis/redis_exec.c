#include "redis_exec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void redis_cmd_reset(struct redis_cmd *cmd)
{
    if (cmd->reply)
        freeReplyObject(cmd->reply);
    cmd->reply = NULL;
    cmd->failure = 0;
    cmd->refused = 0;
    cmd->why[0] = '\0';
    cmd->state = REDIS_CMD_PENDING;
}

static void fail(struct redis_cmd *cmd, int code, const char *why)
{
    cmd->state = REDIS_CMD_DONE;
    cmd->reply = NULL;
    cmd->failure = code;
    snprintf(cmd->why, sizeof cmd->why, "%s", why);
}

static int append(redisContext *c, struct redis_cmd *cmd)
{
    if (cmd->asking && redisAppendCommand(c, "ASKING") != REDIS_OK)
        return -1;
    const char *argv[3] = {cmd->name, cmd->key, cmd->value};
    size_t argvlen[3] = {strlen(cmd->name), cmd->key_len, cmd->value_len};
    return redisAppendCommandArgv(c, cmd->value ? 3 : 2, argv, argvlen) == REDIS_OK ? 0 : -1;
}

/* Runs the PENDING commands of one node (from `first` on) on one connection. */
static void exec_node(struct redis_cmd *cmds, size_t count, size_t first)
{
    struct redis_node *node = cmds[first].node;
    char why[400];
    int refused;
    redisContext *c = redis_node_acquire(node, why, sizeof why, &refused);
    if (!c) {
        for (size_t i = first; i < count; i++) {
            if (cmds[i].state == REDIS_CMD_PENDING && cmds[i].node == node) {
                fail(&cmds[i], refused ? -EACCES : -EIO, why);
                cmds[i].refused = refused;
            }
        }
        return;
    }
    /* Write every command first, then read every reply: one round trip. */
    size_t sent_end = first;
    for (size_t i = first; i < count; i++) {
        if (cmds[i].state != REDIS_CMD_PENDING || cmds[i].node != node)
            continue;
        if (append(c, &cmds[i]) < 0)
            break;
        sent_end = i + 1;
    }
    for (size_t i = first; i < count; i++) {
        struct redis_cmd *cmd = &cmds[i];
        if (cmd->state != REDIS_CMD_PENDING || cmd->node != node)
            continue;
        if (i >= sent_end || c->err) {
            snprintf(why, sizeof why, "redis: %s: %s", node->addr.name, c->err ? c->errstr : "cannot send");
            fail(cmd, c->err == REDIS_ERR_IO && errno == EAGAIN ? -ETIMEDOUT : -EIO, why);
            continue;
        }
        void *reply = NULL;
        int ok = 1;
        if (cmd->asking) {
            /* ASKING's own +OK comes first. */
            ok = redisGetReply(c, &reply) == REDIS_OK;
            if (reply)
                freeReplyObject(reply);
            reply = NULL;
        }
        if (!ok || redisGetReply(c, &reply) != REDIS_OK) {
            snprintf(why, sizeof why, "redis: %s: %s", node->addr.name, c->errstr);
            fail(cmd, c->err == REDIS_ERR_IO && errno == EAGAIN ? -ETIMEDOUT : -EIO, why);
            continue;
        }
        cmd->reply = reply;
        cmd->state = REDIS_CMD_DONE;
    }
    redis_node_release(node, c);
}

void redis_exec(struct redis_cmd *cmds, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (cmds[i].state == REDIS_CMD_PENDING)
            exec_node(cmds, count, i);
}
