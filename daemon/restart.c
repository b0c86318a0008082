#include "restart.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "clock_ns.h"
#include "log.h"
#include "reexec.h"
#include "vm_recovery.h"
#include "vm_stack.h"
#include "vm_state.h"

/* How long the work in progress may take to finish before the restart
 * goes on without it (cut as by a kill: the state stays whole). */
#define DRAIN_TIMEOUT_MS 10000
/* How long a VM's pages stay frozen while its write-back queues empty
 * before they move again for a while: a queued page a full store refused
 * goes down the chain, which frozen pages cannot. */
#define FROZEN_FLUSH_MS 1000
#define FLUSH_ROUNDS 30

static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;
static int wake_fd = -1;
static int asked;             /* a restart is under way */
static int requester = -1;    /* the operator's connection (a duplicate), to reply to */
static pid_t requester_pid;

int tpd_restart_init(void)
{
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return wake_fd < 0 ? -errno : wake_fd;
}

int tpd_restart_ask(int sock, pid_t by)
{
    pthread_mutex_lock(&ask_lock);
    int rc = asked ? -EALREADY : 0;
    if (rc == 0) {
        requester = fcntl(sock, F_DUPFD_CLOEXEC, 3);
        rc = requester < 0 ? -errno : 0;
    }
    if (rc == 0) {
        asked = 1;
        requester_pid = by;
        uint64_t one = 1;
        if (write(wake_fd, &one, sizeof one) < 0)
            rc = -errno;
    }
    pthread_mutex_unlock(&ask_lock);
    return rc;
}

static uint64_t queued_pages(tp_stack *stack)
{
    struct tp_stack_metrics m;
    tp_stack_metrics(stack, &m);
    uint64_t n = 0;
    for (size_t t = 0; t < TP_MAX_TIERS; t++)
        n += m.queue_pages[t];
    return n;
}

/* Whether the stack's write-back queues emptied within ms. */
static int queues_empty_within(tp_stack *stack, unsigned ms)
{
    for (unsigned waited = 0; queued_pages(stack) > 0; waited++) {
        if (waited >= ms)
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return 1;
}

/* The VM's pages stop moving (for good: the exec ends this process) with
 * its write-back queues empty: each tier holds every page the page map
 * names there, and none is between two places. Returns the pages its
 * queues held at first; 0 for a VM without a client, or one whose client
 * is resuming (its pages are frozen, its state the one a daemon before
 * left). No lock held. */
static uint64_t quiesce(struct tpd_vm *vm, int *held)
{
    tp_stack *stack = tpd_vm_stack_get(vm);
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    int resuming = vm->recovery && vm->recovery->state == TPD_RECOVERY_RESUMING;
    pthread_mutex_unlock(&vm->lock);
    uint64_t queued = 0;
    if (client && !resuming) {
        *held = 1;
        queued = queued_pages(stack);
        for (int round = 0;; round++) {
            tp_remote_fork_freeze(client);
            if (queues_empty_within(stack, FROZEN_FLUSH_MS))
                break;
            if (round == FLUSH_ROUNDS) {
                tpd_log("warning", "restart: VM %s: %" PRIu64 " pages still wait in its write-back queues after %d "
                        "tries; going on (they are in its stores once sent, or lost with this process)", vm->name,
                        queued_pages(stack), FLUSH_ROUNDS);
                break;
            }
            tp_remote_fork_thaw(client);
            tp_stack_flush(stack);
        }
    }
    tpd_vm_stack_put(vm);
    return queued;
}

/* The operator who asked gets the reply (and the exec, its end). */
static void reply_to_requester(uint64_t restart, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_to_requester(uint64_t restart, const char *fmt, ...)
{
    pthread_mutex_lock(&ask_lock);
    int sock = requester;
    pthread_mutex_unlock(&ask_lock);
    if (sock < 0)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    tpd_reply(sock, 0, (uint64_t)getpid(), restart, "%s", text);
}

void tpd_restart(struct tpd_daemon *d, int listen_fd, const char *why)
{
    uint64_t start = tp_now_ns();
    pthread_mutex_lock(&ask_lock);
    asked = 1;
    char source[64];
    if (why)
        snprintf(source, sizeof source, "%s", why);
    else
        snprintf(source, sizeof source, "asked by pid %ld", (long)requester_pid);
    pthread_mutex_unlock(&ask_lock);
    const char *binary = tpd_reexec_binary();
    unsigned restart = tpd_reexec_restarts() + 1;
    tpd_log("info", "restart %u (%s): handing the state over to %s", restart, source, binary);

    /* Nothing new starts; what runs finishes. A promote run ends first:
     * PROMOTE_WAIT waits on it. */
    for (struct tpd_vm *vm = d->vms.head; vm; vm = vm->next)
        tpd_promote_stop(vm);
    int left = tpd_connections_drain(DRAIN_TIMEOUT_MS);
    if (left)
        tpd_log("warning", "restart: %d requests still in progress after %d s are cut, as by a kill (the state "
                "stays whole)", left, DRAIN_TIMEOUT_MS / 1000);
    tpd_budget_stop(d->budget);
    d->budget = NULL;
    size_t children = 0;
    if (!left)
        children = tpd_connections_stop_children("tierpaged restarts, and a restarted daemon does not take forked "
                                                 "children back; the pages it held for this child go");

    /* Every VM's pages stop moving, each tier holding what the map says. */
    uint64_t queued = 0;
    int vms = 0;
    for (struct tpd_vm *vm = d->vms.head; vm; vm = vm->next) {
        int held = 0;
        queued += quiesce(vm, &held);
        vms += held;
    }
    double took = (double)(tp_now_ns() - start) / 1e9;
    tpd_log("info", "restart %u: %d VMs with programs attached handed over (%" PRIu64 " pages written back from "
            "their queues), %zu forked children stopped, in %.3f s; executing %s", restart, vms, queued, children,
            took, binary);
    char told[300];
    snprintf(told, sizeof told, "tierpaged restarts (%s): it executes %s again, on the state it handed over",
             source, binary);
    tpd_connections_restarting(told);
    reply_to_requester(restart, "handed over: %d VMs with programs attached (%" PRIu64 " pages written back from "
                       "their queues), %zu forked children stopped, in %.3f s; executing %s", vms, queued, children,
                       took, binary);

    char failed[PATH_MAX + 256];
    tpd_reexec(listen_fd, start, failed, sizeof failed);
    tpd_log("error", "restart %u failed: %s; exiting with status 1, so that a supervisor starts tierpaged again: "
            "the state is whole in %s, and the programs wait for it up to their daemon_timeout", restart, failed,
            tpd_state_dir());
}
