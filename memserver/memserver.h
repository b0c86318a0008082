/* tierpage-memserver: the state shared by its parts.
 *
 * One thread runs everything: an event loop over the rdma_cm event channel,
 * the completion channel of each RDMA device clients come through, a
 * signalfd for SIGTERM and SIGINT, and a timeout for the grace period of
 * disconnected sessions. Pages never pass through this process: clients
 * read and write slabs with one-sided RDMA; the server only answers the
 * small control requests of memserver_proto.h. */
#ifndef MEMSERVER_H
#define MEMSERVER_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdint.h>

#include "memserver_proto.h"
#include "ms_pool.h"
#include "tpm_auth.h"

#define MS_MAX_DEVICES 8

struct ms_options {
    const char *listen;
    uint16_t port;
    uint64_t pool_bytes;
    uint64_t slab_bytes;
    uint64_t quota_bytes;       /* per namespace; 0 = no limit */
    unsigned grace_seconds;
    const char *key_file;       /* --key-file: clients prove its key; NULL = none asked */
};

/* A device clients connected through: its protection domain (slabs are
 * registered with it) and its completion channel (one fd for the loop). */
struct ms_device {
    struct ibv_context *verbs;
    struct ibv_pd *pd;
    struct ibv_comp_channel *channel;
};

/* One rdma-tier instance: a namespace and the token it chose at open. */
struct ms_session {
    char name[TPM_NAMESPACE_MAX];
    uint64_t token;
    int exclusive;               /* HELLO said TPM_HELLO_EXCLUSIVE: no other exclusive session of the name */
    struct ms_slab **slabs;
    uint32_t slab_count, slab_cap;
    struct ms_conn *conn;        /* NULL while parked */
    struct ms_device *device;    /* the slabs are registered with its PD */
    uint64_t parked_until_ms;    /* monotonic; meaningful while parked */
    struct ms_session *next;
};

/* One client connection: its QP, CQ and message buffers. */
struct ms_conn {
    struct rdma_cm_id *id;
    struct ms_device *device;
    struct ibv_cq *cq;
    struct ibv_mr *msg_mr;
    struct tpm_msg *msgs;        /* [0..1] receives, [2] the reply */
    struct ms_session *session;
    char peer[64];
    int established;
    int challenged;              /* AUTH answered: nonce is the server's */
    uint8_t nonce[TPM_NONCE_BYTES];
    uint8_t client_nonce[TPM_NONCE_BYTES];
    struct ms_conn *next;
};

struct memserver {
    struct ms_options opt;
    uint64_t instance;
    struct rdma_event_channel *events;
    struct rdma_cm_id *listener;
    struct ms_device devices[MS_MAX_DEVICES];
    int device_count;
    struct ms_pool pool;
    struct ms_session *sessions;
    struct ms_conn *conns;
    struct tpm_key *key;         /* --key-file's key, or NULL */
};

uint64_t ms_now_ms(void);

/* ms_session.c */
struct ms_session *ms_session_find(struct memserver *s, const char *name, uint64_t token);
struct ms_session *ms_session_new(struct memserver *s, const char *name, uint64_t token);
int ms_session_add_slab(struct ms_session *session, struct ms_slab *slab);
int ms_session_drop_slab(struct memserver *s, struct ms_session *session, uint32_t index);
void ms_session_destroy(struct memserver *s, struct ms_session *session); /* frees its slabs */
uint64_t ms_namespace_bytes(struct memserver *s, const char *name);
void ms_session_detach(struct memserver *s, struct ms_session *session, const char *peer);
void ms_sessions_expire(struct memserver *s);
int ms_sessions_next_timeout_ms(struct memserver *s);

/* ms_conn.c */
void ms_conn_handle_cm_event(struct memserver *s, struct rdma_cm_event *event);
void ms_device_handle_completions(struct memserver *s, struct ms_device *device);
void ms_conn_destroy(struct memserver *s, struct ms_conn *conn);

/* ms_requests.c */
void ms_handle_request(struct memserver *s, struct ms_conn *conn, const struct tpm_msg *req, struct tpm_msg *reply);

#endif
