/* When the shim opens and closes the program's stack. `tierpage run` has
 * parsed the stack file and started the program with this environment:
 *   TIERPAGE_CONFIG    the stack file
 *   TIERPAGE_MAIN_PID  the pid of the program itself
 *   TIERPAGE_STATS     optional path for the JSON summary written at exit
 *   TIERPAGE_STATS_EACH set when every other process of the run that
 *                      served memory writes its own, at TIERPAGE_STATS.PID
 *   TIERPAGE_QUIET     set to skip the summary and the stores' messages
 *   TIERPAGE_PROGRAM_INSTANCE  set by the program when its stack opens: its
 *                      instance id, for the processes it starts
 *   TIERPAGE_DAEMON_SOCKET and TIERPAGE_VM, instead of TIERPAGE_CONFIG: the
 *                      stack is VM's in the tierpaged at that socket, which
 *                      serves the faults; no plugin loads here (client mode)
 *   TIERPAGE_DAEMON_TIMEOUT  client mode: how long to wait for a daemon that
 *                      went away to come back (a duration, a bare number
 *                      in milliseconds; default 60s, 0: stop at once)
 * - The program opens the stack in this constructor, before its main runs:
 *   a stack that cannot open (a missing plugin, an option a store rejects,
 *   a server that is down, an exclusive namespace in use) stops it there
 *   with the message and exit status 2. The threshold is the stack's
 *   (tp_malloc_threshold); it is left in TIERPAGE_MALLOC_THRESHOLD for the
 *   processes the program starts.
 * - A process the program starts with exec (the shim stays preloaded) is
 *   a program of its own: it opens a stack of its own at its first
 *   allocation to serve, so that the shells and helpers around a program,
 *   which never make one, never open its stores. It opens it apart from
 *   the program's, which may be holding its stores: a pmem tier gives it
 *   a file of its own, as a forked child gets, gone with it. So does a
 *   child forked by a process that had no stack open.
 * - A stack that served nothing is closed before an exec, so that the new
 *   image (a shell's exec of the program proper) opens it as its only user
 *   (an exclusive namespace's lease, a pmem file's lock), and at exit. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"
#include "tierpage_private.h"
#include "units.h"

tp_stack *shim_stack;
uint64_t shim_threshold = UINT64_MAX;

static char config_path[4096];
static char daemon_socket[108], daemon_vm[64]; /* client mode when set */
static uint64_t daemon_timeout_ms = TP_DAEMON_TIMEOUT_DEFAULT_MS;
static char stats_path[4096];
static int stats_each;      /* TIERPAGE_STATS_EACH */
static pid_t program_pid;   /* TIERPAGE_MAIN_PID: the process `tierpage run` started */
static pid_t opened_by;     /* the process whose stack shim_stack is */
static int finished;        /* closed at exit: nothing more is served */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* The program itself, not a child it forked nor a program it started
 * (an exec keeps the pid: that one is the program too). */
static int is_program(void)
{
    return getpid() == program_pid;
}

/* Called with open_lock held. NULL with err set when the stack cannot open.
 * Every other process of the run opens the stack apart from the
 * program's, whose stores the program may be holding (a pmem file): the
 * gcc driver holds its stack while the cc1 it starts serves. */
static tp_stack *open_locked(tierpage_error *err)
{
    const char *program_instance = getenv("TIERPAGE_PROGRAM_INSTANCE");
    shim_guard_descriptors();
    shim_enter();
    tp_stack *s = daemon_socket[0] ? tp_private_stack_open_daemon(daemon_socket, daemon_vm, daemon_timeout_ms, err)
                  : is_program()   ? tp_stack_open_file(config_path, err)
                                   : tp_private_stack_open_apart(config_path, program_instance ? program_instance : "", err);
    shim_leave();
    if (s) {
        opened_by = getpid();
        __atomic_store_n(&shim_stack, s, __ATOMIC_RELEASE);
    }
    return s;
}

/* The lazy open of a process the program started, or of the program after
 * an exec that failed: past its start, a stack that cannot open stops it
 * as the pager stops a program. */
static void open_stack(void)
{
    pthread_mutex_lock(&open_lock);
    if (!shim_stack && !finished) {
        tierpage_error err = {{0}, {0}};
        if (!open_locked(&err)) {
            fprintf(stderr, "tierpage: %s\n", err.message);
            _exit(TP_EXIT_PAGER_FAILURE);
        }
    }
    pthread_mutex_unlock(&open_lock);
}

int shim_serves(size_t size)
{
    if (size < shim_threshold || shim_in_pager() || shim_in_child)
        return 0;
    if (!__atomic_load_n(&shim_stack, __ATOMIC_ACQUIRE)) {
        open_stack();
        if (!shim_stack)
            return 0;
    }
    return 1;
}

/* Closes the stack when this process opened it and it never served
 * anything: no memory of the program can depend on it. */
static void close_if_unused(void)
{
    pthread_mutex_lock(&open_lock);
    tp_stack *s = shim_stack;
    if (s && !shim_in_child && opened_by == getpid() && !shim_served_any()) {
        __atomic_store_n(&shim_stack, NULL, __ATOMIC_RELEASE);
        shim_enter();
        tp_stack_close(s);
        shim_leave();
    }
    pthread_mutex_unlock(&open_lock);
}

void shim_before_exec(void)
{
    close_if_unused();
}

__attribute__((constructor)) static void shim_init(void)
{
    const char *config = getenv("TIERPAGE_CONFIG");
    const char *sock_path = getenv("TIERPAGE_DAEMON_SOCKET"), *vm = getenv("TIERPAGE_VM");
    if (sock_path && *sock_path && vm && *vm) {
        snprintf(daemon_socket, sizeof daemon_socket, "%s", sock_path);
        snprintf(daemon_vm, sizeof daemon_vm, "%s", vm);
        const char *timeout = getenv("TIERPAGE_DAEMON_TIMEOUT");
        if (timeout && (tp_parse_duration_ms(timeout, &daemon_timeout_ms) < 0 ||
                        daemon_timeout_ms > TP_DAEMON_TIMEOUT_MAX_MS)) {
            fprintf(stderr, "tierpage run: TIERPAGE_DAEMON_TIMEOUT: expected a duration such as 60s, at most 24h, "
                    "got '%s'\n", timeout);
            _exit(SHIM_EXIT_STACK_CANNOT_OPEN);
        }
    } else if (config && *config) {
        snprintf(config_path, sizeof config_path, "%s", config);
    } else {
        return;
    }
    const char *stats = getenv("TIERPAGE_STATS");
    if (stats)
        snprintf(stats_path, sizeof stats_path, "%s", stats);
    stats_each = getenv("TIERPAGE_STATS_EACH") != NULL;
    const char *main_pid = getenv("TIERPAGE_MAIN_PID");
    program_pid = main_pid ? (pid_t)atol(main_pid) : getpid();
    if (getenv("TIERPAGE_QUIET"))
        tp_set_store_log(NULL, NULL);
    shim_install_fork_hooks();

    uint64_t threshold = UINT64_MAX;
    if (is_program()) {
        tierpage_error err = {{0}, {0}};
        pthread_mutex_lock(&open_lock);
        tp_stack *s = open_locked(&err);
        pthread_mutex_unlock(&open_lock);
        if (!s) {
            fprintf(stderr, "tierpage run: %s\n", err.message);
            _exit(SHIM_EXIT_STACK_CANNOT_OPEN);
        }
        threshold = tp_malloc_threshold(s);
        char value[32];
        snprintf(value, sizeof value, "%llu", (unsigned long long)threshold);
        setenv("TIERPAGE_MALLOC_THRESHOLD", value, 1);
        if (!daemon_socket[0])
            setenv("TIERPAGE_PROGRAM_INSTANCE", tp_private_stack_instance(s), 1);
    } else {
        const char *value = getenv("TIERPAGE_MALLOC_THRESHOLD");
        if (value && *value)
            threshold = strtoull(value, NULL, 10);
    }
    shim_threshold = threshold;
    shim_check_allocator();
}

void shim_stack_now_ours(void)
{
    opened_by = getpid();
}

/* The JSON of this process's stats, once, at exit or _exit: the program's
 * own at TIERPAGE_STATS (the process `tierpage run` started; an exec keeps
 * its pid), and with TIERPAGE_STATS_EACH that of every other process that
 * served memory (a forked child, a program started with exec) at
 * TIERPAGE_STATS.PID. Nothing here allocates or takes a lock of the
 * program's: an _exit may come from a signal handler. In a vfork child,
 * which shares its parent's stack, nothing is written. */
static void write_stats_json(void)
{
    static int written;
    static struct tp_stats st;
    static char text[TP_STATS_JSON_MAX], path[sizeof stats_path + 24];
    tp_stack *s = __atomic_load_n(&shim_stack, __ATOMIC_ACQUIRE);
    if (!s || shim_in_child || daemon_socket[0] || !stats_path[0] || (!is_program() && !stats_each) ||
        opened_by != getpid() || !shim_served_any() || __atomic_exchange_n(&written, 1, __ATOMIC_ACQ_REL))
        return;
    if (is_program())
        snprintf(path, sizeof path, "%s", stats_path);
    else
        snprintf(path, sizeof path, "%s.%ld", stats_path, (long)getpid());
    tp_stack_stats(s, &st);
    size_t len = tp_private_stats_format_json(&st, text, sizeof text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        static const char msg[] = "tierpage: cannot write the stats file ";
        ssize_t w = write(2, msg, sizeof msg - 1);
        w = write(2, path, strlen(path));
        w = write(2, "\n", 1);
        (void)w;
    }
    if (fd >= 0)
        close(fd);
}

/* A process that ends with _exit (a forked worker, as stress-ng's are)
 * runs no exit handler: its stats are written here. */
void _exit(int status)
{
    if (!shim_in_pager())
        write_stats_json();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

void _Exit(int status) __attribute__((alias("_exit")));

__attribute__((destructor)) static void shim_fini(void)
{
    /* Children that ended just before (a wait, then exit): their pages on
     * servers go now, not with this process's watching thread. */
    if (shim_stack && !shim_in_child) {
        shim_enter();
        tp_private_stack_reap_children(shim_stack);
        shim_leave();
    }
    /* A forked child's pages are its own private memory and files already
     * gone from their directory: they go with it. The summary is the
     * program's, not its children's (theirs are in their stats files). */
    if (!shim_stack || shim_in_child)
        return;
    if (shim_forked_child) {
        shim_enter();
        write_stats_json();
        shim_leave();
        return;
    }
    if (!shim_served_any()) {
        /* Nothing to report, and nothing an exit handler could still
         * touch: the stores are closed (a lease dropped) at once. */
        finished = 1;
        close_if_unused();
        return;
    }
    /* In client mode the counters are the daemon's (`tierpage stats VM`). */
    if (daemon_socket[0])
        return;
    struct tp_stats st;
    shim_enter();
    tp_stack_flush(shim_stack);
    tp_stack_stats(shim_stack, &st);
    if (!getenv("TIERPAGE_QUIET")) {
        if (!is_program())
            fprintf(stderr, "tierpage: summary of process %ld, started by the program:\n", (long)getpid());
        tp_stats_print(&st, stderr);
    }
    write_stats_json();
    shim_leave();
}
