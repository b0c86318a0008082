/* The control requests: HELLO, ALLOC and FREE (memserver_proto.h). */
#include <errno.h>
#include <string.h>

#include "memserver.h"
#include "ms_log.h"

static unsigned long long mib(uint64_t bytes)
{
    return (unsigned long long)(bytes >> 20);
}

static uint64_t free_bytes(struct memserver *s)
{
    return (uint64_t)s->pool.free_count * s->pool.slab_bytes;
}

static void reply_error(struct tpm_msg *reply, int err)
{
    reply->type = TPM_ERROR;
    reply->status = err;
}

/* AUTH: the server's nonce, for the client's proof in its HELLO. */
static void handle_auth(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, struct tpm_msg *reply)
{
    if (!s->key) {
        ms_log("client %s: asks to prove a shared secret, but this server has no --key-file; refused", conn->peer);
        reply_error(reply, ENOKEY);
        return;
    }
    if (conn->session || conn->challenged || tpm_nonce(conn->nonce) < 0) {
        ms_log("client %s: AUTH out of order, refused", conn->peer);
        reply_error(reply, EPROTO);
        return;
    }
    conn->challenged = 1;
    memcpy(conn->client_nonce, req->nonce, TPM_NONCE_BYTES);
    reply->type = TPM_AUTH_OK;
    memcpy(reply->nonce, conn->nonce, TPM_NONCE_BYTES);
}

/* With --key-file: whether the HELLO proves the key, for this connection's
 * nonces, its namespace and its session. */
static int hello_proves_key(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, const char *name)
{
    if (!conn->challenged || !(req->flags & TPM_HELLO_PROOF))
        return 0;
    uint8_t want[TPM_PROOF_BYTES];
    tpm_client_proof(s->key, conn->nonce, conn->client_nonce, name, req->session, want);
    return tpm_proof_equal(want, req->proof);
}

static void handle_hello(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, struct tpm_msg *reply)
{
    char name[TPM_NAMESPACE_MAX];
    memcpy(name, req->name, sizeof name);
    name[sizeof name - 1] = '\0';
    if (!name[0]) {
        ms_log("client %s: HELLO without a namespace, refused", conn->peer);
        reply_error(reply, EINVAL);
        return;
    }
    if (conn->session) {
        ms_log("client %s: second HELLO on one connection, refused", conn->peer);
        reply_error(reply, EPROTO);
        return;
    }
    if (s->key && !hello_proves_key(s, conn, req, name)) {
        ms_log("client %s (namespace %s): refused: it did not prove the shared secret of --key-file (%s)",
               conn->peer, name, conn->challenged ? "a wrong key" : "no key_file on its side");
        conn->challenged = 0; /* one try per connection */
        reply_error(reply, EACCES);
        return;
    }
    int exclusive = (req->flags & TPM_HELLO_EXCLUSIVE) != 0;
    if (exclusive) {
        for (struct ms_session *other = s->sessions; other; other = other->next) {
            if (!other->exclusive || other->token == req->session || strcmp(other->name, name) != 0)
                continue;
            ms_log("client %s: namespace %s is in use by another running stack (%s), refused", conn->peer, name,
                   other->conn ? other->conn->peer : "parked for a reconnect");
            reply_error(reply, EBUSY);
            return;
        }
    }
    struct ms_session *x = ms_session_find(s, name, req->session);
    if (x) {
        if (x->device != NULL && x->device != conn->device) {
            /* Its slabs are registered with another device's PD. */
            ms_log("client %s (namespace %s) came back through another device: its %u slabs are freed",
                   conn->peer, name, x->slab_count);
            ms_session_destroy(s, x);
            x = NULL;
        } else if (x->conn) {
            /* The client reconnected before this server saw the old
             * connection drop: the new connection takes the session over. */
            ms_log("client %s (namespace %s) took its session over from %s with %u slabs", conn->peer, name,
                   x->conn->peer, x->slab_count);
            x->conn->session = NULL;
        } else {
            ms_log("client %s (namespace %s) reconnected within the grace period: %u slabs reattached", conn->peer,
                   name, x->slab_count);
        }
    }
    if (!x) {
        x = ms_session_new(s, name, req->session);
        if (!x) {
            reply_error(reply, ENOMEM);
            return;
        }
        ms_log("client %s: hello, namespace %s (namespace holds %llu MiB)", conn->peer, name,
               mib(ms_namespace_bytes(s, name)));
    }
    x->conn = conn;
    x->device = conn->device;
    x->exclusive = exclusive;
    conn->session = x;
    reply->type = TPM_HELLO_OK;
    reply->instance = s->instance;
    reply->slabs = x->slab_count;
    reply->slab_bytes = s->pool.slab_bytes;
    reply->pool_bytes = (uint64_t)s->pool.slab_count * s->pool.slab_bytes;
    reply->free_bytes = free_bytes(s);
    if (s->key) /* the client's proof was good: now ours */
        tpm_server_proof(s->key, conn->client_nonce, conn->nonce, reply->proof);
}

static void handle_alloc(struct memserver *s, struct ms_conn *conn, struct tpm_msg *reply)
{
    struct ms_session *x = conn->session;
    uint64_t held = ms_namespace_bytes(s, x->name);
    if (s->opt.quota_bytes && held + s->pool.slab_bytes > s->opt.quota_bytes) {
        ms_log("client %s (namespace %s): slab refused, the namespace holds %llu MiB of its quota of %llu MiB",
               conn->peer, x->name, mib(held), mib(s->opt.quota_bytes));
        reply->type = TPM_FULL;
        reply->free_bytes = free_bytes(s);
        return;
    }
    int rc;
    struct ms_slab *slab = ms_pool_alloc(&s->pool, conn->device->pd, x, &rc);
    if (!slab && rc == -ENOSPC) {
        ms_log("client %s (namespace %s): slab refused, the pool is full (%llu MiB)", conn->peer, x->name,
               mib((uint64_t)s->pool.slab_count * s->pool.slab_bytes));
        reply->type = TPM_FULL;
        reply->free_bytes = 0;
        return;
    }
    if (!slab) {
        ms_log("client %s (namespace %s): cannot register a slab: %s", conn->peer, x->name, strerror(-rc));
        reply_error(reply, -rc);
        return;
    }
    if (ms_session_add_slab(x, slab)) {
        ms_pool_free(&s->pool, slab);
        reply_error(reply, ENOMEM);
        return;
    }
    reply->type = TPM_ALLOC_OK;
    reply->slab = slab->index;
    reply->addr = (uint64_t)(uintptr_t)slab->mr->addr;
    reply->length = s->pool.slab_bytes;
    reply->rkey = slab->mr->rkey;
    reply->free_bytes = free_bytes(s);
    ms_log("client %s (namespace %s): slab %u allocated; namespace holds %llu MiB, pool %llu MiB free", conn->peer,
           x->name, slab->index, mib(held + s->pool.slab_bytes), mib(reply->free_bytes));
}

static void handle_free(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, struct tpm_msg *reply)
{
    struct ms_session *x = conn->session;
    if (ms_session_drop_slab(s, x, req->slab)) {
        ms_log("client %s (namespace %s): FREE of slab %u, which it does not hold", conn->peer, x->name, req->slab);
        reply_error(reply, ENOENT);
        return;
    }
    reply->type = TPM_FREE_OK;
    reply->free_bytes = free_bytes(s);
    ms_log("client %s (namespace %s): slab %u freed; namespace holds %llu MiB, pool %llu MiB free", conn->peer,
           x->name, req->slab, mib(ms_namespace_bytes(s, x->name)), mib(reply->free_bytes));
}

void ms_handle_request(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, struct tpm_msg *reply)
{
    memset(reply, 0, sizeof *reply);
    reply->magic = TPM_MAGIC;
    reply->version = TPM_VERSION;
    if (req->magic != TPM_MAGIC || req->version != TPM_VERSION) {
        ms_log("client %s: message with magic %#x version %u, refused", conn->peer, req->magic, req->version);
        reply_error(reply, EPROTO);
        return;
    }
    if (req->type == TPM_AUTH) {
        handle_auth(s, conn, req, reply);
        return;
    }
    if (req->type == TPM_HELLO) {
        handle_hello(s, conn, req, reply);
        return;
    }
    if (!conn->session) {
        ms_log("client %s: request %u before HELLO, refused", conn->peer, req->type);
        reply_error(reply, EPROTO);
        return;
    }
    switch (req->type) {
    case TPM_ALLOC:
        handle_alloc(s, conn, reply);
        break;
    case TPM_FREE:
        handle_free(s, conn, req, reply);
        break;
    case TPM_BYE: {
        struct ms_session *x = conn->session;
        ms_log("client %s (namespace %s): closing, freed its %u slabs", conn->peer, x->name, x->slab_count);
        ms_session_destroy(s, x);
        reply->type = TPM_BYE_OK;
        break;
    }
    default:
        ms_log("client %s: unknown request type %u", conn->peer, req->type);
        reply_error(reply, EPROTO);
    }
}
