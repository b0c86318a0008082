#include "rdma_conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "clock_ms.h"
#include "memserver_proto.h"

#define WR_CTRL_SEND (1ull << 62)
#define WR_CTRL_RECV (1ull << 62 | 1)
#define RECONNECT_INTERVAL_MS 1000u
/* Between the attempts of a call waiting for a lost connection to come back. */
#define RECONNECT_PAUSE_MS 100u
/* Polls of the CQ before sleeping on its completion channel: a local
 * completion is often there within microseconds. */
#define SPIN_POLLS 200

/* The verbs objects live in a device context of the connection's own,
 * not in the one librdmacm keeps for the process: a forked child inherits
 * that one, shared with its parent, and what a child made in it would
 * outlive the child. In a context of its own, a connection's queue pair,
 * memory registrations and completion queue go with the process that
 * made them, whatever way it ends. So the queue pair is not attached to
 * the connection manager's id: connect_locked() moves it through its
 * states itself. */
struct rdma_conn_state {
    struct rdma_event_channel *events;
    struct rdma_cm_id *id;
    struct ibv_context *ctx;
    struct ibv_qp *qp;
    struct ibv_pd *pd;
    struct ibv_comp_channel *channel;
    struct ibv_cq *cq;
    struct ibv_mr *bounce_mr, *msg_mr;
    struct tpm_msg *msgs;     /* [0] request, [1] reply */
    int connected;
};

/* Records why the connection failed and fills err with it. */
__attribute__((format(printf, 4, 5))) static int conn_error(struct rdma_conn *c, tierpage_error *err, int code,
                                                            const char *fmt, ...)
{
    char why[sizeof c->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(c->last_error, sizeof c->last_error, "%s", why);
    return tierpage_error_set(err, code, NULL, "rdma: server %s: %s", c->name, why);
}

int rdma_conn_init(struct rdma_conn *c, const tierpage_server *where, const struct rdma_conn_config *cfg,
                   tierpage_error *err)
{
    memset(c, 0, sizeof *c);
    size_t name_len = strlen(where->name), host_len = strlen(where->host);
    if (name_len >= sizeof c->name || host_len >= sizeof c->host)
        return tierpage_error_set(err, -EINVAL, "servers", "servers: '%.40s...' is too long", where->name);
    memcpy(c->name, where->name, name_len + 1);
    memcpy(c->host, where->host, host_len + 1);
    snprintf(c->port, sizeof c->port, "%u", (unsigned)where->port);
    c->cfg = *cfg;
    pthread_mutex_init(&c->lock, NULL);
    c->bounce = aligned_alloc(4096, ((cfg->page_size * cfg->queue_depth + 4095) / 4096) * 4096);
    if (!c->bounce)
        return tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory for a bounce buffer");
    return 0;
}

static void teardown(struct rdma_conn *c)
{
    struct rdma_conn_state *st = c->st;
    if (!st)
        return;
    if (st->connected)
        rdma_disconnect(st->id);
    if (st->qp)
        ibv_destroy_qp(st->qp);
    if (st->cq)
        ibv_destroy_cq(st->cq);
    if (st->channel)
        ibv_destroy_comp_channel(st->channel);
    if (st->bounce_mr)
        ibv_dereg_mr(st->bounce_mr);
    if (st->msg_mr)
        ibv_dereg_mr(st->msg_mr);
    if (st->pd)
        ibv_dealloc_pd(st->pd);
    if (st->ctx)
        ibv_close_device(st->ctx);
    if (st->id)
        rdma_destroy_id(st->id);
    if (st->events)
        rdma_destroy_event_channel(st->events);
    free(st->msgs);
    free(st);
    c->st = NULL;
}

static void pause_ms(unsigned ms)
{
    struct timespec t = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    nanosleep(&t, NULL);
}

/* Whether the port under the connection is up (also when that cannot be told). */
static int port_active(const struct rdma_conn_state *st)
{
    struct ibv_port_attr attr;
    if (!st || !st->ctx || !st->id)
        return 1;
    return ibv_query_port(st->ctx, st->id->port_num, &attr) != 0 || attr.state == IBV_PORT_ACTIVE;
}

/* The connection broke under a call: drop it, and note when, so that
 * calls for the next io_timeout_ms wait for it to come back. Dropping it
 * sends the server a disconnect request, a management datagram; one sent
 * while the port is down can leave the device's management queue pair in
 * error (Soft-RoCE does), and then no connection through that device can
 * be made again. So a port that is down is first given io_timeout_ms to
 * come back. The failure can come a moment before the device reports the
 * port down (its route goes first): the port is looked at twice. */
static void lose(struct rdma_conn *c)
{
    uint64_t until = tier_now_ms() + c->cfg.io_timeout_ms;
    if (c->st && port_active(c->st))
        pause_ms(2 * RECONNECT_PAUSE_MS);
    while (c->st && !port_active(c->st) && tier_now_ms() < until)
        pause_ms(RECONNECT_PAUSE_MS);
    c->lost_ms = tier_now_ms();
    teardown(c);
}

/* Waits for the next connection-manager event; 0 when it is `want`. */
static int wait_cm_event(struct rdma_conn *c, enum rdma_cm_event_type want, int timeout_ms, tierpage_error *err)
{
    struct rdma_conn_state *st = c->st;
    struct pollfd pfd = { .fd = st->events->fd, .events = POLLIN };
    uint64_t deadline = tier_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = tier_now_ms();
        if (now >= deadline)
            return conn_error(c, err, -ETIMEDOUT, "no answer within connect_timeout_ms=%u while waiting for %s",
                              c->cfg.connect_timeout_ms, rdma_event_str(want));
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR)
            return conn_error(c, err, -errno, "poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        struct rdma_cm_event *ev;
        if (rdma_get_cm_event(st->events, &ev)) {
            if (errno == EAGAIN)
                continue;
            return conn_error(c, err, -errno, "rdma_get_cm_event: %s", strerror(errno));
        }
        enum rdma_cm_event_type got = ev->event;
        int status = ev->status;
        rdma_ack_cm_event(ev);
        if (got == want)
            return 0;
        if (got == RDMA_CM_EVENT_REJECTED)
            return conn_error(c, err, -ECONNREFUSED, "connection refused (is tierpage-memserver running there?)");
        return conn_error(c, err, -EHOSTUNREACH, "%s (status %d) while waiting for %s", rdma_event_str(got),
                          status, rdma_event_str(want));
    }
}

/* Collects `want` completions into wc, within io_timeout_ms. A disconnect
 * seen on the event channel ends the wait at once. */
static int wait_completions(struct rdma_conn *c, struct ibv_wc *wc, int want, tierpage_error *err)
{
    struct rdma_conn_state *st = c->st;
    int got = 0, spins = 0;
    uint64_t deadline = 0;
    while (got < want) {
        int n = ibv_poll_cq(st->cq, want - got, wc + got);
        if (n < 0)
            return conn_error(c, err, -EIO, "ibv_poll_cq failed");
        got += n;
        if (got == want || n > 0 || spins++ < SPIN_POLLS)
            continue;
        /* Sleep on the completion channel: arm, then look once more so a
         * completion that came before the arming is not missed. */
        if (ibv_req_notify_cq(st->cq, 0))
            return conn_error(c, err, -EIO, "ibv_req_notify_cq failed");
        n = ibv_poll_cq(st->cq, want - got, wc + got);
        if (n < 0)
            return conn_error(c, err, -EIO, "ibv_poll_cq failed");
        if (n > 0) {
            got += n;
            continue;
        }
        uint64_t now = tier_now_ms();
        if (!deadline)
            deadline = now + c->cfg.io_timeout_ms;
        if (now >= deadline)
            return conn_error(c, err, -ETIMEDOUT, "no completion within io_timeout_ms=%u", c->cfg.io_timeout_ms);
        struct pollfd pfd[2] = { { .fd = st->channel->fd, .events = POLLIN },
                                 { .fd = st->events->fd, .events = POLLIN } };
        int r = poll(pfd, 2, (int)(deadline - now));
        if (r < 0 && errno != EINTR)
            return conn_error(c, err, -errno, "poll: %s", strerror(errno));
        if (pfd[0].revents & POLLIN) {
            struct ibv_cq *cq;
            void *ctx;
            if (ibv_get_cq_event(st->channel, &cq, &ctx) == 0)
                ibv_ack_cq_events(cq, 1);
        }
        if (pfd[1].revents & POLLIN) {
            struct rdma_cm_event *ev;
            if (rdma_get_cm_event(st->events, &ev) == 0) {
                enum rdma_cm_event_type type = ev->event;
                rdma_ack_cm_event(ev);
                if (type == RDMA_CM_EVENT_DISCONNECTED || type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
                    st->connected = type == RDMA_CM_EVENT_DISCONNECTED ? 0 : st->connected;
                    return conn_error(c, err, -ECONNRESET, "the server closed the connection (%s)",
                                      rdma_event_str(type));
                }
            }
        }
        spins = 0;
    }
    return 0;
}

static int post_reply_recv(struct rdma_conn *c)
{
    struct rdma_conn_state *st = c->st;
    struct ibv_sge sge = { .addr = (uintptr_t)&st->msgs[1], .length = sizeof(struct tpm_msg), .lkey = st->msg_mr->lkey };
    struct ibv_recv_wr wr = { .wr_id = WR_CTRL_RECV, .sg_list = &sge, .num_sge = 1 }, *bad;
    return ibv_post_recv(st->qp, &wr, &bad);
}

/* One request and its reply. The connection lock is held. */
static int control(struct rdma_conn *c, struct tpm_msg *msg, tierpage_error *err)
{
    struct rdma_conn_state *st = c->st;
    msg->magic = TPM_MAGIC;
    msg->version = TPM_VERSION;
    st->msgs[0] = *msg;
    struct ibv_sge sge = { .addr = (uintptr_t)&st->msgs[0], .length = sizeof(struct tpm_msg), .lkey = st->msg_mr->lkey };
    struct ibv_send_wr wr = { .wr_id = WR_CTRL_SEND, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
                              .send_flags = IBV_SEND_SIGNALED },
                       *bad;
    if (ibv_post_send(st->qp, &wr, &bad))
        return conn_error(c, err, -EIO, "cannot send a request: %s", strerror(errno));
    struct ibv_wc wc[2];
    int rc = wait_completions(c, wc, 2, err);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++)
        if (wc[i].status != IBV_WC_SUCCESS)
            return conn_error(c, err, -EIO, "request failed: %s", ibv_wc_status_str(wc[i].status));
    *msg = st->msgs[1];
    if (post_reply_recv(c))
        return conn_error(c, err, -EIO, "cannot post a receive: %s", strerror(errno));
    if (msg->magic != TPM_MAGIC || msg->version != TPM_VERSION)
        return conn_error(c, err, -EPROTO, "the reply is not from a tierpage-memserver of this version");
    return 0;
}

/* With key_file: AUTH for the server's nonce, and `hello` gets the
 * client's proof; the server's comes in HELLO_OK (server_proved). The
 * connection lock is held. */
static int prove_key(struct rdma_conn *c, struct tpm_msg *hello, uint8_t client_nonce[TPM_NONCE_BYTES],
                     uint8_t server_nonce[TPM_NONCE_BYTES], tierpage_error *err)
{
    if (tpm_nonce(client_nonce) < 0)
        return conn_error(c, err, -EIO, "cannot draw a nonce: %s", strerror(errno));
    struct tpm_msg msg = { .type = TPM_AUTH };
    memcpy(msg.nonce, client_nonce, sizeof msg.nonce);
    int rc = control(c, &msg, err);
    if (rc)
        return rc;
    if (msg.type == TPM_ERROR && msg.status == ENOKEY)
        return conn_error(c, err, -EACCES, "the server asks for no shared secret (it was started without "
                          "--key-file) while key_file is set: refusing to give it pages");
    if (msg.type != TPM_AUTH_OK)
        return conn_error(c, err, msg.status ? -msg.status : -EPROTO, "AUTH refused: %s",
                          strerror(msg.status ? msg.status : EPROTO));
    memcpy(server_nonce, msg.nonce, TPM_NONCE_BYTES);
    hello->flags |= TPM_HELLO_PROOF;
    tpm_client_proof(c->cfg.key, msg.nonce, client_nonce, hello->name, hello->session, hello->proof);
    return 0;
}

/* Moves the connection's queue pair to `state` with the attributes the
 * connection manager gives for it (the path, the port, the reads in
 * flight both sides agreed on). 0, or -1 with errno set. */
static int move_qp(struct rdma_conn_state *st, enum ibv_qp_state state)
{
    struct ibv_qp_attr attr = { .qp_state = state };
    int mask = 0;
    if (rdma_init_qp_attr(st->id, &attr, &mask))
        return -1;
    /* As librdmacm does: older kernels add mask bits meant for RoCE
     * (21-23) that an InfiniBand port refuses. */
    struct ibv_port_attr port;
    if (state == IBV_QPS_RTR && ibv_query_port(st->ctx, st->id->port_num, &port) == 0 &&
        port.link_layer == IBV_LINK_LAYER_INFINIBAND)
        mask &= ~0xe00000;
    int rc = ibv_modify_qp(st->qp, &attr, mask);
    if (rc) {
        errno = rc;
        return -1;
    }
    return 0;
}

/* Brings the connection up and says HELLO. The connection lock is held. */
static int connect_locked(struct rdma_conn *c, tierpage_error *err)
{
    if (c->st)
        return 0;
    uint64_t now = tier_now_ms();
    if (now < c->next_attempt_ms)
        return tierpage_error_set(err, -EHOSTDOWN, NULL, "rdma: server %s is down: %s", c->name, c->last_error);
    c->next_attempt_ms = now + RECONNECT_INTERVAL_MS;
    c->attempt_ms = now;

    struct rdma_conn_state *st = c->st = calloc(1, sizeof *st);
    if (!st)
        return tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory");
    int rc, timeout = (int)c->cfg.connect_timeout_ms;
    st->events = rdma_create_event_channel();
    if (!st->events) {
        rc = conn_error(c, err, errno == ENODEV || errno == ENOENT ? -ENODEV : -errno,
                        "cannot open the RDMA connection manager (%s): this machine has no RDMA device",
                        strerror(errno));
        goto fail;
    }
    fcntl(st->events->fd, F_SETFL, fcntl(st->events->fd, F_GETFL) | O_NONBLOCK);
    if (rdma_create_id(st->events, &st->id, c, RDMA_PS_TCP)) {
        rc = conn_error(c, err, -errno, "rdma_create_id: %s", strerror(errno));
        goto fail;
    }
    struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai;
    int gai = getaddrinfo(c->host, c->port, &hints, &ai);
    if (gai) {
        rc = conn_error(c, err, -EHOSTUNREACH, "cannot resolve '%s': %s", c->host, gai_strerror(gai));
        goto fail;
    }
    rc = rdma_resolve_addr(st->id, NULL, ai->ai_addr, timeout);
    int e = errno;
    freeaddrinfo(ai);
    if (rc) {
        rc = conn_error(c, err, -e, "no RDMA route to the address: %s", strerror(e));
        goto fail;
    }
    if ((rc = wait_cm_event(c, RDMA_CM_EVENT_ADDR_RESOLVED, timeout, err)))
        goto fail;
    st->ctx = ibv_open_device(st->id->verbs->device);
    if (!st->ctx) {
        int why = errno ? errno : ENODEV;
        rc = conn_error(c, err, -why, "cannot open RDMA device %s: %s", ibv_get_device_name(st->id->verbs->device),
                        strerror(why));
        goto fail;
    }
    /* A connection request sent now would be lost, and could take the
     * device's management queue pair down with it (see lose()). */
    if (!port_active(st)) {
        rc = conn_error(c, err, -ENETDOWN, "the port of RDMA device %s is down",
                        ibv_get_device_name(st->id->verbs->device));
        goto fail;
    }
    if (rdma_resolve_route(st->id, timeout)) {
        rc = conn_error(c, err, -errno, "rdma_resolve_route: %s", strerror(errno));
        goto fail;
    }
    if ((rc = wait_cm_event(c, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout, err)))
        goto fail;

    struct ibv_device_attr attr;
    unsigned qd = c->cfg.queue_depth;
    st->pd = ibv_alloc_pd(st->ctx);
    st->channel = st->pd ? ibv_create_comp_channel(st->ctx) : NULL;
    st->cq = st->channel ? ibv_create_cq(st->ctx, (int)qd + 4, NULL, st->channel, 0) : NULL;
    if (!st->cq || ibv_query_device(st->ctx, &attr)) {
        rc = conn_error(c, err, -EIO, "cannot set up the device: %s", strerror(errno));
        goto fail;
    }
    fcntl(st->channel->fd, F_SETFL, fcntl(st->channel->fd, F_GETFL) | O_NONBLOCK);
    struct ibv_qp_init_attr qpa = {
        .send_cq = st->cq, .recv_cq = st->cq, .qp_type = IBV_QPT_RC, .sq_sig_all = 0,
        .cap = { .max_send_wr = qd + 1, .max_recv_wr = 2, .max_send_sge = 1, .max_recv_sge = 1 },
    };
    st->qp = ibv_create_qp(st->pd, &qpa);
    if (!st->qp || move_qp(st, IBV_QPS_INIT)) {
        rc = conn_error(c, err, -(errno ? errno : EIO), "cannot create the queue pair: %s",
                        strerror(errno ? errno : EIO));
        goto fail;
    }
    st->msgs = calloc(2, sizeof *st->msgs);
    st->msg_mr = st->msgs ? ibv_reg_mr(st->pd, st->msgs, 2 * sizeof *st->msgs, IBV_ACCESS_LOCAL_WRITE) : NULL;
    st->bounce_mr = ibv_reg_mr(st->pd, c->bounce, c->cfg.page_size * qd, IBV_ACCESS_LOCAL_WRITE);
    if (!st->msg_mr || !st->bounce_mr) {
        rc = conn_error(c, err, -ENOMEM, "cannot register buffers: %s (is RLIMIT_MEMLOCK too small?)",
                        strerror(errno));
        goto fail;
    }
    if (post_reply_recv(c)) {
        rc = conn_error(c, err, -EIO, "ibv_post_recv: %s", strerror(errno));
        goto fail;
    }
    unsigned reads = qd < (unsigned)attr.max_qp_init_rd_atom ? qd : (unsigned)attr.max_qp_init_rd_atom;
    struct rdma_conn_param param = { .initiator_depth = (uint8_t)(reads > 255 ? 255 : reads),
                                     .responder_resources = 0, .retry_count = 7, .rnr_retry_count = 7,
                                     .qp_num = st->qp->qp_num };
    if (rdma_connect(st->id, &param)) {
        rc = conn_error(c, err, -errno, "rdma_connect: %s", strerror(errno));
        goto fail;
    }
    /* The id has no queue pair: the server's answer comes as a connect
     * response, after which ours goes to RTR and RTS and the connection
     * is established (librdmacm does the same for a queue pair of its own). */
    if ((rc = wait_cm_event(c, RDMA_CM_EVENT_CONNECT_RESPONSE, timeout, err)))
        goto fail;
    if (move_qp(st, IBV_QPS_RTR) || move_qp(st, IBV_QPS_RTS) || rdma_establish(st->id)) {
        rc = conn_error(c, err, -(errno ? errno : EIO), "cannot establish the connection: %s",
                        strerror(errno ? errno : EIO));
        rdma_reject(st->id, NULL, 0);
        goto fail;
    }
    st->connected = 1;

    struct tpm_msg msg = { .type = TPM_HELLO, .session = c->cfg.session,
                           .flags = c->cfg.exclusive ? TPM_HELLO_EXCLUSIVE : 0 };
    snprintf(msg.name, sizeof msg.name, "%s", c->cfg.namespace_name);
    uint8_t client_nonce[TPM_NONCE_BYTES], server_nonce[TPM_NONCE_BYTES];
    if (c->cfg.key && (rc = prove_key(c, &msg, client_nonce, server_nonce, err)))
        goto fail;
    if ((rc = control(c, &msg, err)))
        goto fail;
    if (msg.type == TPM_ERROR && msg.status == EACCES) {
        rc = conn_error(c, err, -EACCES, "the server refused us: %s",
                        c->cfg.key ? "it holds another shared secret than key_file"
                                   : "it asks for a shared secret (its --key-file): set key_file");
        goto fail;
    }
    if (msg.type == TPM_ERROR && msg.status == EBUSY) {
        rc = conn_error(c, err, -EBUSY, "namespace '%s' is in use by another running stack (namespace: exclusive)",
                        c->cfg.namespace_name);
        goto fail;
    }
    if (msg.type != TPM_HELLO_OK) {
        rc = conn_error(c, err, msg.status ? -msg.status : -EPROTO, "HELLO refused: %s",
                        strerror(msg.status ? msg.status : EPROTO));
        goto fail;
    }
    if (c->cfg.key) {
        /* Before any slab or page: does the server hold the key too? */
        uint8_t want[TPM_PROOF_BYTES];
        tpm_server_proof(c->cfg.key, client_nonce, server_nonce, want);
        if (!tpm_proof_equal(want, msg.proof)) {
            rc = conn_error(c, err, -EACCES, "the server does not prove the shared secret of key_file: "
                            "refusing to give it pages");
            goto fail;
        }
    }
    if (c->ever_connected && (msg.instance != c->instance || msg.slabs != c->slabs_held)) {
        /* The server restarted or forgot us: every slab it gave is gone. */
        tierpage_log(c->cfg.host, TIERPAGE_LOG_WARNING, "reconnected to %s, which %s: the pages in its %u slabs "
                     "are lost", c->name, msg.instance != c->instance ? "restarted" : "no longer holds our slabs",
                     c->slabs_held);
        atomic_fetch_add(&c->generation, 1);
        c->slabs_held = msg.slabs;
    } else if (c->ever_connected) {
        tierpage_log(c->cfg.host, TIERPAGE_LOG_INFO, "reconnected to %s, its %u slabs are still there", c->name,
                     msg.slabs);
    }
    c->ever_connected = 1;
    c->instance = msg.instance;
    c->slabs_held = msg.slabs;
    c->pool_bytes = msg.pool_bytes;
    c->slab_bytes = msg.slab_bytes;
    c->last_error[0] = '\0';
    c->next_attempt_ms = 0;
    c->last_connect_rc = 0;
    c->lost_ms = 0;
    return 0;
fail:
    c->last_connect_rc = rc;
    teardown(c);
    return rc;
}

int rdma_conn_open(struct rdma_conn *c, tierpage_error *err)
{
    pthread_mutex_lock(&c->lock);
    int rc = connect_locked(c, err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void rdma_conn_close(struct rdma_conn *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->st) {
        tierpage_error err;
        struct tpm_msg msg = { .type = TPM_BYE };
        control(c, &msg, &err);
    }
    teardown(c);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&c->lock);
    free(c->bounce);
    c->bounce = NULL;
}

void rdma_conn_forget(struct rdma_conn *c)
{
    struct rdma_conn_state *st = c->st;
    if (!st)
        return;
    /* Closing a descriptor sends nothing: the parent's own keeps each of
     * these open. Nothing is freed or destroyed (that would speak on the
     * parent's behalf), and c->lock is not taken (a thread of the parent
     * may have held it at the fork). */
    if (st->events)
        close(st->events->fd);
    if (st->channel)
        close(st->channel->fd);
    if (st->ctx) {
        close(st->ctx->cmd_fd);
        close(st->ctx->async_fd);
    }
}

int rdma_conn_usable(struct rdma_conn *c)
{
    pthread_mutex_lock(&c->lock);
    int usable = c->st != NULL || tier_now_ms() >= c->next_attempt_ms;
    pthread_mutex_unlock(&c->lock);
    return usable;
}

/* Posts up to queue_depth pages as one chain of work requests and waits
 * for all their completions. Returns 0, or a connection failure (after
 * which the connection is torn down). */
static int io_chunk(struct rdma_conn *c, struct rdma_io *io, size_t count, tierpage_error *err)
{
    struct rdma_conn_state *st = c->st;
    size_t ps = c->cfg.page_size;
    struct ibv_send_wr wr[count], *bad;
    struct ibv_sge sge[count];
    uint32_t generation = atomic_load(&c->generation);
    int posted = 0;
    for (size_t i = 0; i < count; i++) {
        if (io[i].generation != generation) {
            io[i].result = tierpage_error_set(err, -EIO, NULL, "rdma: server %s lost the slab (it restarted or "
                                              "its grace period ran out)", c->name);
            continue;
        }
        unsigned char *slot = c->bounce + (size_t)posted * ps;
        if (io[i].write)
            memcpy(slot, io[i].page, ps);
        sge[posted] = (struct ibv_sge){ .addr = (uintptr_t)slot, .length = (uint32_t)ps, .lkey = st->bounce_mr->lkey };
        wr[posted] = (struct ibv_send_wr){
            .wr_id = i, .sg_list = &sge[posted], .num_sge = 1,
            .opcode = io[i].write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
            .wr = { .rdma = { .remote_addr = io[i].remote_addr, .rkey = io[i].rkey } },
        };
        if (posted > 0)
            wr[posted - 1].next = &wr[posted];
        posted++;
    }
    if (posted == 0)
        return 0;
    if (ibv_post_send(st->qp, &wr[0], &bad))
        return conn_error(c, err, -EIO, "ibv_post_send: %s", strerror(errno));
    struct ibv_wc wc[posted];
    int rc = wait_completions(c, wc, posted, err);
    if (rc)
        return rc;
    int failed = 0;
    /* The completions come in posting order; bounce slot k belongs to the k-th posted. */
    for (int k = 0; k < posted; k++) {
        size_t i = (size_t)wc[k].wr_id;
        if (wc[k].status != IBV_WC_SUCCESS) {
            io[i].result = conn_error(c, err, -EIO, "RDMA %s failed: %s", io[i].write ? "WRITE" : "READ",
                                      ibv_wc_status_str(wc[k].status));
            failed = io[i].result;
            continue;
        }
        io[i].result = 0;
    }
    int k = 0;
    for (size_t i = 0; i < count; i++) {
        if (io[i].generation != generation)
            continue;
        if (!io[i].write && io[i].result == 0)
            memcpy(io[i].page, c->bounce + (size_t)k * ps, ps);
        k++;
    }
    return failed;
}

static int io_locked(struct rdma_conn *c, struct rdma_io *io, size_t count, tierpage_error *err)
{
    int rc = connect_locked(c, err);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            io[i].result = rc;
        return rc;
    }
    assert(c->cfg.queue_depth > 0); /* the options allow 1 to 256 */
    for (size_t done = 0; done < count;) {
        size_t n = count - done < c->cfg.queue_depth ? count - done : c->cfg.queue_depth;
        for (size_t i = done; i < done + n; i++)
            io[i].result = -EINPROGRESS;
        rc = io_chunk(c, io + done, n, err);
        if (rc) {
            tierpage_log(c->cfg.host, TIERPAGE_LOG_WARNING, "connection to %s lost: %s", c->name, c->last_error);
            lose(c);
            for (size_t i = done; i < count; i++)
                if (io[i].result == -EINPROGRESS || i >= done + n)
                    io[i].result = rc;
            return rc;
        }
        done += n;
    }
    return 0;
}

/* Whether a call that failed for want of the connection should try again:
 * it broke less than io_timeout_ms ago, and the server did not refuse the
 * last attempt (a refusal means no memserver listens there any more). */
static int worth_waiting(struct rdma_conn *c)
{
    return c->lost_ms && c->last_connect_rc != -ECONNREFUSED && tier_now_ms() < c->lost_ms + c->cfg.io_timeout_ms;
}

int rdma_conn_io(struct rdma_conn *c, struct rdma_io *io, size_t count, tierpage_error *err)
{
    pthread_mutex_lock(&c->lock);
    int rc = io_locked(c, io, count, err);
    /* The connection broke, under this call or shortly before it: reconnect
     * (at once the first time) and retry the pages that failed, until it
     * comes back or io_timeout_ms have passed since it broke. A page that
     * cannot be read is fatal to the program, so a link that is down for a
     * moment is waited out. A server that keeps the slabs (--grace) serves
     * them again; otherwise the generation moved on and they fail as lost. */
    tierpage_error err2;
    while (rc && worth_waiting(c)) {
        uint64_t now = tier_now_ms();
        if (now < c->attempt_ms + RECONNECT_PAUSE_MS)
            pause_ms((unsigned)(c->attempt_ms + RECONNECT_PAUSE_MS - now));
        c->next_attempt_ms = 0;
        size_t retry = 0;
        for (size_t i = 0; i < count; i++)
            if (io[i].result != 0)
                retry++;
        struct rdma_io again[retry ? retry : 1];
        size_t k = 0;
        for (size_t i = 0; i < count; i++)
            if (io[i].result != 0)
                again[k++] = io[i];
        rc = io_locked(c, again, retry, &err2);
        k = 0;
        for (size_t i = 0; i < count; i++)
            if (io[i].result != 0)
                io[i].result = again[k++].result;
        if (rc && err)
            *err = err2;
    }
    rc = 0;
    for (size_t i = 0; i < count && !rc; i++)
        rc = io[i].result;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int rdma_conn_alloc_slab(struct rdma_conn *c, struct rdma_slab_grant *grant, tierpage_error *err)
{
    pthread_mutex_lock(&c->lock);
    int rc = connect_locked(c, err);
    struct tpm_msg msg = { .type = TPM_ALLOC };
    if (!rc && (rc = control(c, &msg, err)))
        lose(c);
    if (!rc) {
        if (msg.type == TPM_ALLOC_OK) {
            *grant = (struct rdma_slab_grant){ .addr = msg.addr, .length = msg.length, .rkey = msg.rkey,
                                               .server_slab = msg.slab,
                                               .generation = atomic_load(&c->generation) };
            c->slabs_held++;
        } else if (msg.type == TPM_FULL) {
            rc = -ENOSPC;
        } else {
            rc = conn_error(c, err, msg.status ? -msg.status : -EPROTO, "slab request refused: %s",
                            strerror(msg.status ? msg.status : EPROTO));
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int rdma_conn_free_slab(struct rdma_conn *c, uint32_t server_slab, uint32_t generation, tierpage_error *err)
{
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (generation == atomic_load(&c->generation)) {
        rc = connect_locked(c, err);
        struct tpm_msg msg = { .type = TPM_FREE, .slab = server_slab };
        if (!rc && (rc = control(c, &msg, err)))
            lose(c);
        if (!rc && msg.type == TPM_FREE_OK)
            c->slabs_held--;
        else if (!rc)
            rc = conn_error(c, err, msg.status ? -msg.status : -EPROTO, "FREE of slab %u refused", server_slab);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
