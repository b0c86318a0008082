/* Fuzz target: tierpage-memserver's control requests (memserver_proto.h)
 * from a few clients at once, with disconnects and grace periods between
 * them. The requests go through ms_handle_request with the real sessions
 * and pool; only the registration of slabs with an RDMA device (there is
 * none here) and the log are stood in for. After every step, each slab is
 * either free or held by exactly one session, sessions and connections
 * point at each other, and no two exclusive sessions share a namespace.
 *
 * With setup bit 7 the server holds a key (--key-file): a client must AUTH
 * and prove it in its HELLO; well-formed HELLOs carry the right proof when
 * bit 3 of their second byte says so.
 *
 * Input: one byte of setup, then steps. A step's first byte names a
 * client (bits 0-1) and what happens (bits 2-3): a raw message of
 * sizeof(struct tpm_msg) bytes, a well-formed message built from the next
 * four bytes, the client disconnecting, or the grace timer firing. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memserver.h"
#include "ms_log.h"

#define CHECK(cond) ((cond) ? (void)0 : abort())
#define CLIENTS 4

static uint32_t next_rkey;
static int failing_registrations;

void ms_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
}

struct ibv_mr *ms_slab_register(struct ibv_pd *pd, void *addr, size_t length)
{
    if (failing_registrations && ++next_rkey % 3 == 0) {
        errno = EFAULT;
        return NULL;
    }
    struct ibv_mr *mr = calloc(1, sizeof *mr);
    if (!mr) {
        errno = ENOMEM;
        return NULL;
    }
    mr->pd = pd;
    mr->addr = addr;
    mr->length = length;
    mr->rkey = ++next_rkey;
    return mr;
}

void ms_slab_unregister(struct ibv_mr *mr)
{
    free(mr);
}

static void connect_client(struct memserver *s, struct ms_conn *conn, int client, unsigned serial)
{
    memset(conn, 0, sizeof *conn);
    conn->device = &s->devices[client % 2];
    snprintf(conn->peer, sizeof conn->peer, "10.0.0.%d:%u", client + 1, serial);
}

static int session_listed(struct memserver *s, const struct ms_session *x)
{
    for (struct ms_session *y = s->sessions; y; y = y->next)
        if (y == x)
            return 1;
    return 0;
}

static void check_state(struct memserver *s, struct ms_conn *conns)
{
    uint32_t held = 0;
    for (struct ms_session *x = s->sessions; x; x = x->next) {
        CHECK(x->name[0] != '\0' && memchr(x->name, '\0', sizeof x->name));
        CHECK(x->slab_count <= x->slab_cap);
        for (uint32_t i = 0; i < x->slab_count; i++)
            CHECK(x->slabs[i]->mr && x->slabs[i]->owner == x);
        held += x->slab_count;
        if (x->conn)
            CHECK(x->conn->session == x);
        for (struct ms_session *y = x->next; y; y = y->next) {
            CHECK(y->token != x->token || strcmp(y->name, x->name) != 0);
            CHECK(!x->exclusive || !y->exclusive || strcmp(y->name, x->name) != 0);
        }
    }
    CHECK(held + s->pool.free_count == s->pool.slab_count);
    for (uint32_t i = 0; i < s->pool.free_count; i++)
        CHECK(!s->pool.slabs[s->pool.free_stack[i]].mr);
    for (int c = 0; c < CLIENTS; c++)
        if (conns[c].session)
            CHECK(session_listed(s, conns[c].session) && conns[c].session->conn == &conns[c]);
}

static void check_reply(const struct memserver *s, const struct ms_conn *conn, const struct tpm_msg *reply)
{
    CHECK(reply->magic == TPM_MAGIC && reply->version == TPM_VERSION);
    switch (reply->type) {
    case TPM_HELLO_OK:
        CHECK(conn->session && reply->slabs == conn->session->slab_count);
        if (s->key) { /* only after the client's proof, and with the server's */
            uint8_t want[TPM_PROOF_BYTES];
            CHECK(conn->challenged);
            tpm_server_proof(s->key, conn->client_nonce, conn->nonce, want);
            CHECK(tpm_proof_equal(want, reply->proof));
        }
        break;
    case TPM_ALLOC_OK:
        CHECK(reply->slab < s->pool.slab_count && s->pool.slabs[reply->slab].owner == conn->session);
        CHECK(reply->length == s->pool.slab_bytes);
        break;
    case TPM_AUTH_OK:
        CHECK(s->key && conn->challenged && !conn->session);
        break;
    case TPM_FULL:
    case TPM_FREE_OK:
    case TPM_BYE_OK:
        break;
    case TPM_ERROR:
        CHECK(reply->status > 0);
        break;
    default:
        abort();
    }
}

/* A message the server may well accept: a known type, one of a few
 * namespaces and sessions, a slab number near the pool's. */
static void well_formed(const struct memserver *s, const struct ms_conn *conn, const uint8_t *b, struct tpm_msg *req)
{
    static const char *const names[] = {"", "web-1", "web-2", "a-namespace-of-sixty-three-characters-exactly-0123456789abcdefgh"};
    req->magic = TPM_MAGIC;
    req->version = TPM_VERSION;
    req->type = (uint16_t)(b[0] % (TPM_AUTH_OK + 1));
    req->session = b[1] & 3;
    req->flags = b[1] & 4 ? TPM_HELLO_EXCLUSIVE : 0;
    req->slab = b[2] & 15;
    snprintf(req->name, sizeof req->name, "%s", names[b[3] & 3]);
    memset(req->nonce, b[2], sizeof req->nonce);
    if (req->type == TPM_HELLO && s->key && conn->challenged && (b[1] & 8)) {
        req->flags |= TPM_HELLO_PROOF;
        tpm_client_proof(s->key, conn->nonce, conn->client_nonce, req->name, req->session, req->proof);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct memserver s;
    memset(&s, 0, sizeof s);
    uint8_t setup = data[0];
    s.opt.grace_seconds = setup & 1 ? 3600 : 0;
    s.opt.slab_bytes = 4096;
    s.opt.quota_bytes = (uint64_t)((setup >> 1) & 3) * s.opt.slab_bytes;
    s.opt.pool_bytes = (uint64_t)(2 + ((setup >> 3) & 7)) * s.opt.slab_bytes;
    failing_registrations = setup >> 6 & 1;
    next_rkey = 0;
    s.instance = 0x1234;
    s.device_count = 2;
    static struct tpm_key key = {16, "0123456789abcdef"};
    s.key = setup >> 7 ? &key : NULL;
    char why[128];
    if (ms_pool_init(&s.pool, s.opt.pool_bytes, s.opt.slab_bytes, why, sizeof why) != 0)
        abort();

    struct ms_conn conns[CLIENTS];
    unsigned serial = 0;
    for (int c = 0; c < CLIENTS; c++)
        connect_client(&s, &conns[c], c, serial++);

    size_t at = 1;
    while (at < size) {
        uint8_t step = data[at++];
        struct ms_conn *conn = &conns[step & 3];
        struct tpm_msg req, reply;
        memset(&req, 0, sizeof req);
        switch ((step >> 2) & 3) {
        case 0: {
            size_t n = size - at < sizeof req ? size - at : sizeof req;
            memcpy(&req, data + at, n);
            at += n;
            ms_handle_request(&s, conn, &req, &reply);
            check_reply(&s, conn, &reply);
            break;
        }
        case 1: {
            uint8_t b[4] = {0};
            for (int i = 0; i < 4 && at < size; i++)
                b[i] = data[at++];
            well_formed(&s, conn, b, &req);
            ms_handle_request(&s, conn, &req, &reply);
            check_reply(&s, conn, &reply);
            break;
        }
        case 2:
            if (conn->session)
                ms_session_detach(&s, conn->session, conn->peer);
            connect_client(&s, conn, step & 3, serial++);
            break;
        default:
            ms_sessions_expire(&s);
            CHECK(ms_sessions_next_timeout_ms(&s) >= -1);
        }
        check_state(&s, conns);
    }

    while (s.sessions)
        ms_session_destroy(&s, s.sessions);
    CHECK(s.pool.free_count == s.pool.slab_count);
    ms_pool_destroy(&s.pool);
    return 0;
}
