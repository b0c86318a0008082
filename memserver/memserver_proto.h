/* The control protocol between tierpage-memserver and the rdma tier.
 *
 * Control messages travel as two-sided SEND/RECV on the same reliable
 * connection (RC queue pair) that carries the one-sided READs and WRITEs of
 * pages. The client sends one request at a time and waits for its reply, so
 * each side keeps one receive posted for the next message. Every message is
 * one fixed-size struct, in the host byte order of x86-64 (both ends are
 * tierpage builds on little-endian machines; the magic catches a mismatch).
 *
 *   AUTH   {nonce}               -> AUTH_OK {nonce} | ERROR {ENOKEY: the server has no key}
 *   HELLO  {namespace, session, flags[, proof]} -> HELLO_OK [proof] {instance, slab/pool sizes, slabs}
 *                                        | ERROR {EBUSY: exclusive namespace in use}
 *                                        | ERROR {EACCES: no proof of the shared secret}
 *   ALLOC                        -> ALLOC_OK {slab, addr, rkey, length} | FULL
 *   FREE   {slab}                -> FREE_OK | ERROR {status}
 *   BYE                          -> BYE_OK (slabs freed; the client disconnects)
 *
 * A session is one rdma-tier instance (a random 64-bit token chosen at
 * open). When its connection drops, the server keeps its slabs for the
 * grace period; a HELLO with the same namespace and session within it gets
 * them back and HELLO_OK says how many. `instance` changes every time a
 * server starts, so a client can tell a restarted server (whose slabs are
 * gone) from the same one.
 *
 * Every session has slabs of its own, so two running stacks of one
 * namespace never share a page. A HELLO with TPM_HELLO_EXCLUSIVE (the
 * stack's namespace: exclusive) is refused with EBUSY while another
 * exclusive session of the namespace is connected, or parked for a
 * reconnect: the connection is the session's lease.
 *
 * A server started with --key-file serves only clients that prove they
 * hold the same key (the rdma tier's key_file:): AUTH, then a HELLO with
 * TPM_HELLO_PROOF and the proof (tpm_auth.h). Anything else is refused with
 * EACCES and logged with the client's address.
 */
#ifndef TIERPAGE_MEMSERVER_PROTO_H
#define TIERPAGE_MEMSERVER_PROTO_H

#include <stdint.h>

#define TPM_MAGIC 0x534d5054u /* "TPMS" */
#define TPM_VERSION 3u
#define TPM_DEFAULT_PORT 7471
#define TPM_NAMESPACE_MAX 64

/* HELLO flags */
#define TPM_HELLO_EXCLUSIVE (1u << 0)
#define TPM_HELLO_PROOF     (1u << 1)  /* proof holds the client's proof (after AUTH) */

enum tpm_type {
    TPM_HELLO = 1,
    TPM_HELLO_OK,
    TPM_ALLOC,
    TPM_ALLOC_OK,
    TPM_FULL,
    TPM_FREE,
    TPM_FREE_OK,
    TPM_ERROR,
    TPM_BYE,               /* the client closes: free its slabs now, grace or not */
    TPM_BYE_OK,
    TPM_AUTH,              /* version 3: the shared secret's challenge-response */
    TPM_AUTH_OK,
};

struct tpm_msg {
    uint32_t magic;        /* TPM_MAGIC */
    uint16_t version;      /* TPM_VERSION */
    uint16_t type;         /* enum tpm_type */
    int32_t status;        /* TPM_ERROR: a positive errno value */
    uint32_t slab;         /* ALLOC_OK, FREE: the server's slab number */
    uint64_t session;      /* HELLO */
    uint64_t instance;     /* HELLO_OK: changes on every server start */
    uint64_t addr;         /* ALLOC_OK: remote address of the slab */
    uint64_t length;       /* ALLOC_OK: bytes in the slab */
    uint32_t rkey;         /* ALLOC_OK */
    uint32_t slabs;        /* HELLO_OK: slabs the session holds (reattached) */
    uint64_t slab_bytes;   /* HELLO_OK */
    uint64_t pool_bytes;   /* HELLO_OK */
    uint64_t free_bytes;   /* HELLO_OK, ALLOC_OK, FULL */
    char name[TPM_NAMESPACE_MAX]; /* HELLO: the client's namespace, NUL-terminated */
    uint32_t flags;        /* HELLO: TPM_HELLO_* */
    uint32_t reserved;     /* 0 */
    /* version 3 */
    uint8_t nonce[32];     /* AUTH: the client's; AUTH_OK: the server's */
    uint8_t proof[32];     /* HELLO with TPM_HELLO_PROOF: the client's proof; its HELLO_OK: the server's */
};

#endif
