/* Client connections: rdma_cm events, the QP of each client, and the
 * SEND/RECV completions that carry its requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memserver.h"
#include "ms_log.h"

#define MS_RECV_SLOTS 2
#define MS_REPLY_SLOT MS_RECV_SLOTS
#define MS_WR_SEND 100

static struct ms_device *device_for(struct memserver *s, struct ibv_context *verbs)
{
    for (int i = 0; i < s->device_count; i++)
        if (s->devices[i].verbs == verbs)
            return &s->devices[i];
    if (s->device_count == MS_MAX_DEVICES)
        return NULL;
    struct ms_device *d = &s->devices[s->device_count];
    d->verbs = verbs;
    d->pd = ibv_alloc_pd(verbs);
    d->channel = d->pd ? ibv_create_comp_channel(verbs) : NULL;
    if (!d->pd || !d->channel) {
        if (d->pd)
            ibv_dealloc_pd(d->pd);
        memset(d, 0, sizeof *d);
        return NULL;
    }
    fcntl(d->channel->fd, F_SETFL, fcntl(d->channel->fd, F_GETFL) | O_NONBLOCK);
    s->device_count++;
    ms_log("device %s: ready for clients", ibv_get_device_name(verbs->device));
    return d;
}

static void peer_name(struct rdma_cm_id *id, char *out, size_t len)
{
    struct sockaddr *sa = rdma_get_peer_addr(id);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa && sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, len, "%s:%u", host, port);
}

static int post_recv(struct ms_conn *conn, unsigned slot)
{
    struct ibv_sge sge = { .addr = (uintptr_t)&conn->msgs[slot], .length = sizeof(struct tpm_msg),
                           .lkey = conn->msg_mr->lkey };
    struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 }, *bad;
    return ibv_post_recv(conn->id->qp, &wr, &bad);
}

static int post_reply(struct ms_conn *conn)
{
    struct ibv_sge sge = { .addr = (uintptr_t)&conn->msgs[MS_REPLY_SLOT], .length = sizeof(struct tpm_msg),
                           .lkey = conn->msg_mr->lkey };
    struct ibv_send_wr wr = { .wr_id = MS_WR_SEND, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
                              .send_flags = IBV_SEND_SIGNALED },
                       *bad;
    return ibv_post_send(conn->id->qp, &wr, &bad);
}

void ms_conn_destroy(struct memserver *s, struct ms_conn *conn)
{
    for (struct ms_conn **link = &s->conns; *link; link = &(*link)->next) {
        if (*link == conn) {
            *link = conn->next;
            break;
        }
    }
    if (conn->session)
        ms_session_detach(s, conn->session, conn->peer);
    if (conn->id && conn->id->qp)
        rdma_destroy_qp(conn->id);
    if (conn->cq)
        ibv_destroy_cq(conn->cq);
    if (conn->msg_mr)
        ibv_dereg_mr(conn->msg_mr);
    free(conn->msgs);
    if (conn->id)
        rdma_destroy_id(conn->id);
    free(conn);
}

static void on_connect_request(struct memserver *s, struct rdma_cm_id *id, const struct rdma_conn_param *asked)
{
    struct ms_conn *conn = calloc(1, sizeof *conn);
    if (!conn) {
        rdma_reject(id, NULL, 0);
        rdma_destroy_id(id);
        return;
    }
    conn->id = id;
    id->context = conn;
    peer_name(id, conn->peer, sizeof conn->peer);
    conn->next = s->conns;
    s->conns = conn;

    const char *failed = NULL;
    struct ibv_device_attr attr;
    conn->device = device_for(s, id->verbs);
    if (!conn->device) {
        failed = "no protection domain for its device";
        goto fail;
    }
    if (ibv_query_device(id->verbs, &attr)) {
        failed = "ibv_query_device";
        goto fail;
    }
    conn->cq = ibv_create_cq(id->verbs, 8, conn, conn->device->channel, 0);
    if (!conn->cq || ibv_req_notify_cq(conn->cq, 0)) {
        failed = "ibv_create_cq";
        goto fail;
    }
    struct ibv_qp_init_attr qpa = {
        .send_cq = conn->cq, .recv_cq = conn->cq, .qp_type = IBV_QPT_RC,
        .cap = { .max_send_wr = 4, .max_recv_wr = MS_RECV_SLOTS + 1, .max_send_sge = 1, .max_recv_sge = 1 },
    };
    if (rdma_create_qp(id, conn->device->pd, &qpa)) {
        failed = "rdma_create_qp";
        goto fail;
    }
    conn->msgs = calloc(MS_RECV_SLOTS + 1, sizeof *conn->msgs);
    conn->msg_mr = conn->msgs ? ibv_reg_mr(conn->device->pd, conn->msgs, (MS_RECV_SLOTS + 1) * sizeof *conn->msgs,
                                           IBV_ACCESS_LOCAL_WRITE)
                              : NULL;
    if (!conn->msg_mr) {
        failed = "ibv_reg_mr of the message buffers";
        goto fail;
    }
    for (unsigned i = 0; i < MS_RECV_SLOTS; i++) {
        if (post_recv(conn, i)) {
            failed = "ibv_post_recv";
            goto fail;
        }
    }
    /* The client reads slabs: take as many reads in flight as it asks for
     * and the device allows. The request's parameters are reported from
     * this side's view: the client's initiator depth is our responder
     * resources. */
    struct rdma_conn_param param = {
        .responder_resources = asked->responder_resources < attr.max_qp_rd_atom ? asked->responder_resources
                                                                                 : (uint8_t)attr.max_qp_rd_atom,
        .initiator_depth = 0,
        .rnr_retry_count = 7,
    };
    if (rdma_accept(id, &param)) {
        failed = "rdma_accept";
        goto fail;
    }
    ms_log("client %s: connection request accepted", conn->peer);
    return;
fail:
    ms_log("client %s: connection refused: %s failed: %s", conn->peer, failed, strerror(errno));
    rdma_reject(id, NULL, 0);
    ms_conn_destroy(s, conn);
}

void ms_conn_handle_cm_event(struct memserver *s, struct rdma_cm_event *ev)
{
    /* A request carries the new connection's id; the other events an id
     * that may be one of ours (its context) or the listener's. */
    if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
        on_connect_request(s, ev->id, &ev->param.conn);
        return;
    }
    struct ms_conn *conn = ev->id ? ev->id->context : NULL;
    switch (ev->event) {
    case RDMA_CM_EVENT_ESTABLISHED:
        if (conn) {
            conn->established = 1;
            ms_log("client %s: connected", conn->peer);
        }
        break;
    case RDMA_CM_EVENT_DISCONNECTED:
        if (conn) {
            if (!conn->session)
                ms_log("client %s: disconnected", conn->peer);
            rdma_disconnect(conn->id);
            ms_conn_destroy(s, conn);
        }
        break;
    case RDMA_CM_EVENT_REJECTED:
    case RDMA_CM_EVENT_CONNECT_ERROR:
    case RDMA_CM_EVENT_UNREACHABLE:
        if (conn) {
            ms_log("client %s: connection failed (%s)", conn->peer, rdma_event_str(ev->event));
            ms_conn_destroy(s, conn);
        }
        break;
    case RDMA_CM_EVENT_DEVICE_REMOVAL:
        ms_log("the RDMA device went away; clients on it are dropped");
        if (conn && ev->id != s->listener)
            ms_conn_destroy(s, conn);
        break;
    default:
        break;
    }
}

static void on_completion(struct memserver *s, struct ms_conn *conn, const struct ibv_wc *wc)
{
    if (wc->status != IBV_WC_SUCCESS) {
        if (wc->status != IBV_WC_WR_FLUSH_ERR)
            ms_log("client %s: completion error: %s", conn->peer, ibv_wc_status_str(wc->status));
        return;
    }
    if (wc->opcode != IBV_WC_RECV || wc->wr_id >= MS_RECV_SLOTS)
        return;
    struct tpm_msg req;
    if (wc->byte_len < sizeof req) {
        ms_log("client %s: short message of %u bytes", conn->peer, wc->byte_len);
        post_recv(conn, (unsigned)wc->wr_id);
        return;
    }
    memcpy(&req, &conn->msgs[wc->wr_id], sizeof req);
    if (post_recv(conn, (unsigned)wc->wr_id))
        ms_log("client %s: cannot post a receive: %s", conn->peer, strerror(errno));
    ms_handle_request(s, conn, &req, &conn->msgs[MS_REPLY_SLOT]);
    if (post_reply(conn))
        ms_log("client %s: cannot send a reply: %s", conn->peer, strerror(errno));
}

void ms_device_handle_completions(struct memserver *s, struct ms_device *device)
{
    struct ibv_cq *cq;
    void *context;
    while (ibv_get_cq_event(device->channel, &cq, &context) == 0) {
        struct ms_conn *conn = context;
        ibv_ack_cq_events(cq, 1);
        ibv_req_notify_cq(cq, 0);
        struct ibv_wc wc[8];
        int n;
        while ((n = ibv_poll_cq(cq, 8, wc)) > 0) {
            for (int i = 0; i < n; i++)
                on_completion(s, conn, &wc[i]);
        }
    }
    (void)s;
}
