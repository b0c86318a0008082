#include "redis_exec.h"

#include "reply_wait.h"

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

/* For commands with a GET among them (a fault, or prefetch, waits for
 * them): sends what is buffered, then waits for the first reply spinning
 * before it blocks (reply_wait.h); redisGetReply then reads it without
 * waiting. Puts and deletes come from the write-back queue's thread, which
 * no program waits for: spinning there would take a CPU from the program.
 * A failure here is left for redisGetReply to meet and report. */
static void await_replies(redisContext *c, const struct redis_conn_settings *settings, const struct redis_cmd *cmds,
                          size_t count, size_t first)
{
    int gets = 0;
    for (size_t i = first; i < count && !gets; i++)
        gets = cmds[i].state == REDIS_CMD_PENDING && cmds[i].node == cmds[first].node && strcmp(cmds[i].name, "GET") == 0;
    if (!gets || !settings->reply_spin_us)
        return;
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return;
    reply_spin(c->fd, settings->reply_spin_us);
}

/* Runs the PENDING commands of one node (from `first` on) on one connection.
 * Returns 1 when the connection broke before any reply came back: nothing
 * was recorded, and the caller may try again on a new connection. */
static int exec_node_once(struct redis_cmd *cmds, size_t count, size_t first, int last_try)
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
        return 0;
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
    await_replies(c, node->settings, cmds, count, first);
    int replies = 0;
    for (size_t i = first; i < count; i++) {
        struct redis_cmd *cmd = &cmds[i];
        if (cmd->state != REDIS_CMD_PENDING || cmd->node != node)
            continue;
        if (i >= sent_end || c->err) {
            if (!replies && !last_try && c->err) {
                redis_node_release(node, c);
                return 1;
            }
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
            if (!replies && !last_try) {
                redis_node_release(node, c);
                return 1;
            }
            snprintf(why, sizeof why, "redis: %s: %s", node->addr.name, c->errstr);
            fail(cmd, c->err == REDIS_ERR_IO && errno == EAGAIN ? -ETIMEDOUT : -EIO, why);
            continue;
        }
        cmd->reply = reply;
        cmd->state = REDIS_CMD_DONE;
        replies++;
    }
    redis_node_release(node, c);
    return 0;
}

/* A pooled connection may have been closed by the server while idle (its
 * timeout, a restart): when one breaks before answering anything, the
 * commands go once more on a new connection. They are GET, SET and DEL of
 * single keys, which may safely run twice. */
static void exec_node(struct redis_cmd *cmds, size_t count, size_t first)
{
    if (exec_node_once(cmds, count, first, 0))
        exec_node_once(cmds, count, first, 1);
}

void redis_exec(struct redis_cmd *cmds, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (cmds[i].state == REDIS_CMD_PENDING)
            exec_node(cmds, count, i);
}
