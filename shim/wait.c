/* The wait family: once a blocking wait reports a child that ended, the
 * pages it kept on servers are gone too, as its memory is (fork_reaper.h
 * in the core): a program that waits for its child and then exits, even
 * with _exit, leaves nothing of the child behind. The pager's own thread
 * would remove them a moment later, but not if this process ended first.
 * A wait with WNOHANG is left alone: that is how a SIGCHLD handler reaps,
 * and removing pages (network round trips, allocations, locks) is no work
 * for a signal handler; the pager's thread removes them then. */
#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "shim.h"
#include "tierpage_private.h"

typedef pid_t (*wait4_fn)(pid_t, int *, int, struct rusage *);
typedef int (*waitid_fn)(idtype_t, id_t, siginfo_t *, int);

static void after_wait(void)
{
    tp_stack *s = __atomic_load_n(&shim_stack, __ATOMIC_ACQUIRE);
    if (!s || shim_in_child)
        return;
    shim_enter();
    tp_private_stack_reap_children(s);
    shim_leave();
}

pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
    static wait4_fn next;
    if (!next)
        next = (wait4_fn)dlsym(RTLD_NEXT, "wait4");
    pid_t got = next(pid, status, options, usage);
    if (got > 0 && !(options & WNOHANG))
        after_wait();
    return got;
}

pid_t waitpid(pid_t pid, int *status, int options)
{
    return wait4(pid, status, options, NULL);
}

pid_t wait(int *status)
{
    return wait4(-1, status, 0, NULL);
}

pid_t wait3(int *status, int options, struct rusage *usage)
{
    return wait4(-1, status, options, usage);
}

int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
    static waitid_fn next;
    if (!next)
        next = (waitid_fn)dlsym(RTLD_NEXT, "waitid");
    int rc = next(idtype, id, info, options);
    if (rc == 0 && !(options & WNOHANG) && info && info->si_pid > 0)
        after_wait();
    return rc;
}
