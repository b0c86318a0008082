/* tierpage-memserver: serves a pool of this machine's memory to tierpage's
 * rdma tier. See memserver.h for how the parts fit together. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "memserver.h"
#include "ms_log.h"
#include "ms_options.h"

static int start_listening(struct memserver *s)
{
    s->events = rdma_create_event_channel();
    if (!s->events) {
        int e = errno;
        ms_log("cannot open the RDMA connection manager: %s%s", strerror(e),
               access("/dev/infiniband/rdma_cm", F_OK) != 0
                   ? " (no /dev/infiniband/rdma_cm: this machine has no RDMA device; load rdma_ucm and a driver,"
                     " e.g. Soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev eth0)"
                   : "");
        return -1;
    }
    fcntl(s->events->fd, F_SETFL, fcntl(s->events->fd, F_GETFL) | O_NONBLOCK);
    if (rdma_create_id(s->events, &s->listener, NULL, RDMA_PS_TCP)) {
        ms_log("rdma_create_id: %s", strerror(errno));
        return -1;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", s->opt.port);
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai;
    int rc = getaddrinfo(s->opt.listen, port, &hints, &ai);
    if (rc) {
        ms_log("--listen %s: %s", s->opt.listen, gai_strerror(rc));
        return -1;
    }
    rc = rdma_bind_addr(s->listener, ai->ai_addr);
    int e = errno;
    freeaddrinfo(ai);
    if (rc) {
        ms_log("cannot listen on %s:%s: %s%s", s->opt.listen, port, strerror(e),
               e == EADDRNOTAVAIL || e == ENODEV ? " (no RDMA device has this address)" : "");
        return -1;
    }
    if (rdma_listen(s->listener, 64)) {
        ms_log("cannot listen on %s:%s: %s", s->opt.listen, port, strerror(errno));
        return -1;
    }
    return 0;
}

static void handle_cm_events(struct memserver *s)
{
    struct rdma_cm_event *ev;
    while (rdma_get_cm_event(s->events, &ev) == 0) {
        /* Handle a copy, acknowledged first: destroying an id waits for its
         * events to be acknowledged. */
        struct rdma_cm_event copy = *ev;
        rdma_ack_cm_event(ev);
        ms_conn_handle_cm_event(s, &copy);
    }
}

static void shut_down(struct memserver *s)
{
    unsigned clients = 0, sessions = 0;
    while (s->conns) {
        rdma_disconnect(s->conns->id);
        ms_conn_destroy(s, s->conns);
        clients++;
    }
    uint32_t held = s->pool.slab_count - s->pool.free_count;
    while (s->sessions) {
        ms_session_destroy(s, s->sessions);
        sessions++;
    }
    if (s->listener)
        rdma_destroy_id(s->listener);
    ms_pool_destroy(&s->pool);
    for (int i = 0; i < s->device_count; i++) {
        ibv_destroy_comp_channel(s->devices[i].channel);
        ibv_dealloc_pd(s->devices[i].pd);
    }
    if (s->events)
        rdma_destroy_event_channel(s->events);
    ms_log("stopped: %u clients disconnected, %u slabs of %u sessions freed", clients, held, sessions);
}

int main(int argc, char **argv)
{
    struct memserver server = { 0 }, *s = &server;
    int rc = ms_parse_options(argc, argv, &s->opt);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (getrandom(&s->instance, sizeof s->instance, 0) != sizeof s->instance)
        s->instance = (uint64_t)getpid() << 32 ^ (uint64_t)ms_now_ms();

    char why[300];
    static struct tpm_key key;
    if (s->opt.key_file) {
        if (tpm_key_load(s->opt.key_file, &key, why, sizeof why) < 0) {
            fprintf(stderr, "tierpage-memserver: --key-file: %s\n", why);
            return 2;
        }
        s->key = &key;
    }
    if (ms_pool_init(&s->pool, s->opt.pool_bytes, s->opt.slab_bytes, why, sizeof why)) {
        ms_log("%s", why);
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || start_listening(s)) {
        shut_down(s);
        return 1;
    }
    ms_log("listening on %s:%u: pool %llu MiB in %u slabs of %llu KiB, grace %us%s", s->opt.listen, s->opt.port,
           (unsigned long long)((uint64_t)s->pool.slab_count * s->pool.slab_bytes >> 20), s->pool.slab_count,
           (unsigned long long)(s->pool.slab_bytes >> 10), s->opt.grace_seconds,
           s->opt.quota_bytes ? ", with a quota per namespace" : "");
    if (s->key)
        ms_log("clients must prove the shared secret of %s", s->opt.key_file);
    else
        ms_log("no --key-file: every client that reaches this port is served");

    for (;;) {
        struct pollfd fds[2 + MS_MAX_DEVICES];
        int n = 0;
        fds[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        fds[n++] = (struct pollfd){ .fd = s->events->fd, .events = POLLIN };
        for (int i = 0; i < s->device_count; i++)
            fds[n++] = (struct pollfd){ .fd = s->devices[i].channel->fd, .events = POLLIN };
        int ready = poll(fds, (nfds_t)n, ms_sessions_next_timeout_ms(s));
        if (ready < 0 && errno != EINTR) {
            ms_log("poll: %s", strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            if (read(sfd, &info, sizeof info) == sizeof info)
                ms_log("signal %u: shutting down", info.ssi_signo);
            break;
        }
        if (fds[1].revents & POLLIN)
            handle_cm_events(s);
        /* Devices are only ever added, at the end: fds[2 + i] is device i. */
        for (int i = 2; i < n; i++)
            if (fds[i].revents & POLLIN)
                ms_device_handle_completions(s, &s->devices[i - 2]);
        ms_sessions_expire(s);
    }
    shut_down(s);
    close(sfd);
    tpm_key_wipe(&key);
    return 0;
}
