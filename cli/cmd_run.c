/* tierpage run: start a program with the preload shim in front of it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "loader.h"
#include "run_daemon.h"
#include "stack_config.h"
#include "tierpage.h"
#include "tierpage_private.h"
#include "units.h"

static const char run_usage[] =
    "usage: tierpage run [-c FILE] [--stats FILE.json] [--quiet] -- CMD [ARGS...]\n"
    "       tierpage run --daemon SOCKET --vm NAME [--daemon-timeout SECONDS] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD with its private anonymous mmaps and its malloc/calloc/realloc/\n"
    "posix_memalign/aligned_alloc allocations at or above the stack's\n"
    "malloc_threshold (default 1MiB) served by the stack. At most `resident:`\n"
    "bytes of them stay in local memory; the rest moves down the tiers.\n"
    "\n"
    "  -c, --config FILE   the stack file (default: the built-in local stack,\n"
    "                      conf/examples/local.yaml)\n"
    "  --stats FILE.json   also write the summary as JSON to FILE.json, and\n"
    "                      each other process that served memory (a forked\n"
    "                      child, a program CMD started) its own to\n"
    "                      FILE.json.PID\n"
    "  --quiet             no summary and no messages of the stores on stderr\n"
    "  --daemon SOCKET     served by the tierpaged listening on SOCKET, with the\n"
    "  --vm NAME           stack of VM NAME; no plugin is loaded in CMD (its\n"
    "                      counters: tierpage stats NAME)\n"
    "  --daemon-timeout SECONDS\n"
    "                      how long CMD waits for a tierpaged that went away\n"
    "                      (killed, crashed) to come back and take it again,\n"
    "                      its faults waiting meanwhile: whole seconds, or a\n"
    "                      duration with a unit (500ms, 2min), at most 24h;\n"
    "                      default 60; 0 stops CMD at once. Past it CMD exits\n"
    "                      125 with a message naming the socket and the VM\n"
    "\n"
    "The exit status is CMD's; 128+N when CMD is killed by signal N; 125 when\n"
    "tierpage itself fails (for example a page no tier can return, or a\n"
    "tierpaged that stayed away past --daemon-timeout); 127 when\n"
    "CMD cannot be started; 2 for a stack that cannot open (a bad file, a\n"
    "missing plugin, an option a store rejects, a server that is down) or bad\n"
    "arguments.\n";

static pid_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* The shim sits beside the plugin directory (tierpage/), in build/lib or
 * LIBDIR, as libtierpage.so does. */
static int shim_path(char *buf, size_t len)
{
    char dir[PATH_MAX];
    if (tp_plugin_default_dir(dir, sizeof dir) < 0)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(buf, len, "%s/libtierpage-preload.so", dir) >= len)
        return -1;
    return access(buf, R_OK);
}

static int write_default_stack(char *path, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, len, "%s/tierpage-stack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t n = strlen(tp_default_stack_yaml);
    ssize_t w = write(fd, tp_default_stack_yaml, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static void set_preload(const char *shim)
{
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(shim) + strlen(old) + 2;
        char *v = malloc(n);
        if (v) {
            snprintf(v, n, "%s:%s", shim, old);
            setenv("LD_PRELOAD", v, 1);
            free(v);
            return;
        }
    }
    setenv("LD_PRELOAD", shim, 1);
}

/* What the shim is told, in the environment of the program. */
struct child_env {
    const char *shim;
    const char *config;          /* in-process mode: the stack file */
    const char *daemon, *vm;     /* client mode: the daemon's socket and the VM */
    const char *daemon_timeout;  /* client mode: TIERPAGE_DAEMON_TIMEOUT, or NULL for the default */
    const char *stats;           /* "" for none */
    int stats_each;              /* the other processes' stats too, at STATS.PID */
    int quiet;
};

/* Start cmd with the shim in front of it and wait for it: 0 with its exit
 * status (128+N for signal N) in *status and its wait status in *wstatus,
 * or -1 when it could not be started or waited for. */
static int run_child(const struct child_env *env, char **cmd, int *status, int *wstatus)
{
    child_pid = fork();
    if (child_pid < 0) {
        fprintf(stderr, "tierpage run: fork: %s\n", strerror(errno));
        return -1;
    }
    if (child_pid == 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        set_preload(env->shim);
        if (env->config)
            setenv("TIERPAGE_CONFIG", env->config, 1);
        if (env->daemon) {
            setenv("TIERPAGE_DAEMON_SOCKET", env->daemon, 1);
            setenv("TIERPAGE_VM", env->vm, 1);
            if (env->daemon_timeout)
                setenv("TIERPAGE_DAEMON_TIMEOUT", env->daemon_timeout, 1);
        }
        setenv("TIERPAGE_MAIN_PID", pid, 1);
        if (env->stats[0])
            setenv("TIERPAGE_STATS", env->stats, 1);
        if (env->stats_each)
            setenv("TIERPAGE_STATS_EACH", "1", 1);
        if (env->quiet)
            setenv("TIERPAGE_QUIET", "1", 1);
        execvp(cmd[0], cmd);
        fprintf(stderr, "tierpage run: cannot run '%s': %s\n", cmd[0], strerror(errno));
        _exit(TP_EXIT_CANNOT_EXEC);
    }
    signal(SIGINT, forward_signal);
    signal(SIGTERM, forward_signal);
    signal(SIGHUP, forward_signal);
    while (waitpid(child_pid, wstatus, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "tierpage run: waitpid: %s\n", strerror(errno));
            return -1;
        }
    }
    *status = TP_EXIT_INTERNAL;
    if (WIFEXITED(*wstatus)) {
        *status = WEXITSTATUS(*wstatus);
    } else if (WIFSIGNALED(*wstatus)) {
        fprintf(stderr, "tierpage run: %s was killed by signal %d (%s)\n", cmd[0], WTERMSIG(*wstatus),
                strsignal(WTERMSIG(*wstatus)));
        *status = 128 + WTERMSIG(*wstatus);
    }
    return 0;
}

/* --daemon-timeout: whole seconds, or a duration with its unit; into
 * `env` as milliseconds, for TIERPAGE_DAEMON_TIMEOUT. */
static int daemon_timeout_env(const char *text, char *env, size_t len)
{
    uint64_t seconds, ms;
    if (tp_parse_uint(text, &seconds) == 0)
        ms = seconds <= TP_DAEMON_TIMEOUT_MAX_MS / 1000 ? seconds * 1000 : UINT64_MAX;
    else if (tp_parse_duration_ms(text, &ms) < 0)
        return -1;
    if (ms > TP_DAEMON_TIMEOUT_MAX_MS)
        return -1;
    snprintf(env, len, "%llums", (unsigned long long)ms);
    return 0;
}

/* tierpage run --daemon SOCKET --vm NAME -- CMD: no stack opens here. */
static int run_under_daemon(const char *daemon, const char *vm, const char *timeout, char **cmd)
{
    if (!cmd[0]) {
        fprintf(stderr, "tierpage run: no command to run\n\n%s", run_usage);
        return TP_EXIT_USAGE;
    }
    char socket_abs[PATH_MAX], why[512], shim[PATH_MAX], timeout_env[32];
    if (timeout && daemon_timeout_env(timeout, timeout_env, sizeof timeout_env) < 0) {
        fprintf(stderr, "tierpage run: --daemon-timeout: expected whole seconds (60) or a duration with a unit "
                "(500ms, 2min), at most 24h, got '%s'\n", timeout);
        return TP_EXIT_USAGE;
    }
    /* Absolute: the program may change its working directory. */
    if (daemon[0] == '/' || !getcwd(socket_abs, sizeof socket_abs))
        snprintf(socket_abs, sizeof socket_abs, "%s", daemon);
    else {
        size_t l = strlen(socket_abs);
        snprintf(socket_abs + l, sizeof socket_abs - l, "/%s", daemon);
    }
    /* Asked here too (the shim attaches before the program's main), so that
     * a daemon that is not running, an unknown VM or a refused user stop
     * us before anything starts. */
    if (tp_run_daemon_vm_check(socket_abs, vm, why, sizeof why) < 0) {
        fprintf(stderr, "tierpage run: %s\n", why);
        return TP_EXIT_CONFIG;
    }
    if (shim_path(shim, sizeof shim) < 0) {
        fprintf(stderr, "tierpage run: cannot find libtierpage-preload.so\n");
        return TP_EXIT_INTERNAL;
    }
    struct child_env env = {.shim = shim, .daemon = socket_abs, .vm = vm, .stats = "",
                            .daemon_timeout = timeout ? timeout_env : NULL};
    int status, wstatus;
    return run_child(&env, cmd, &status, &wstatus) < 0 ? TP_EXIT_INTERNAL : status;
}

/* True when another process of the run wrote its stats beside the
 * program's: a file named STATS.PID. */
static int others_served(const char *stats)
{
    char dir_path[PATH_MAX];
    snprintf(dir_path, sizeof dir_path, "%s", stats);
    char *slash = strrchr(dir_path, '/');
    const char *base = slash ? slash + 1 : dir_path;
    size_t base_len = strlen(base);
    if (slash)
        *slash = '\0';
    DIR *dir = opendir(slash ? (dir_path[0] ? dir_path : "/") : ".");
    if (!dir)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(dir))) {
        const char *pid = e->d_name + base_len;
        found = strncmp(e->d_name, base, base_len) == 0 && pid[0] == '.' && pid[1] &&
                strspn(pid + 1, "0123456789") == strlen(pid + 1);
    }
    closedir(dir);
    return found;
}

int tp_cmd_run(int argc, char **argv)
{
    const char *config = NULL, *stats = NULL, *daemon = NULL, *vm = NULL, *daemon_timeout = NULL;
    int quiet = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(a, "--stats") == 0 && i + 1 < argc) {
            stats = argv[++i];
        } else if (strcmp(a, "--daemon") == 0 && i + 1 < argc) {
            daemon = argv[++i];
        } else if (strcmp(a, "--vm") == 0 && i + 1 < argc) {
            vm = argv[++i];
        } else if (strcmp(a, "--daemon-timeout") == 0 && i + 1 < argc) {
            daemon_timeout = argv[++i];
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(run_usage, stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "tierpage run: unknown or incomplete option '%s'\n\n%s", a, run_usage);
            return TP_EXIT_USAGE;
        } else {
            break; /* the command, without a "--" before it */
        }
    }
    if (i >= argc) {
        fprintf(stderr, "tierpage run: no command to run\n\n%s", run_usage);
        return TP_EXIT_USAGE;
    }

    if (!daemon != !vm || (daemon && (config || stats))) {
        fprintf(stderr, "tierpage run: --daemon and --vm go together, without -c or --stats\n\n%s", run_usage);
        return TP_EXIT_USAGE;
    }
    if (daemon_timeout && !daemon) {
        fprintf(stderr, "tierpage run: --daemon-timeout goes with --daemon\n\n%s", run_usage);
        return TP_EXIT_USAGE;
    }
    if (daemon)
        return run_under_daemon(daemon, vm, daemon_timeout, argv + i);

    char default_path[PATH_MAX] = "";
    if (!config) {
        if (write_default_stack(default_path, sizeof default_path) < 0) {
            fprintf(stderr, "tierpage run: cannot write the built-in stack to %s: %s\n", default_path,
                    strerror(errno));
            return TP_EXIT_INTERNAL;
        }
        config = default_path;
    }
    /* Parsed here, so that a mistake in the file is reported before
     * anything starts. */
    struct tp_conf *conf;
    tierpage_error err = {{0}, {0}};
    if (tp_conf_load_file(config, &conf, &err) < 0) {
        fprintf(stderr, "tierpage run: %s\n", err.message);
        if (default_path[0])
            unlink(default_path);
        return TP_EXIT_CONFIG;
    }
    tp_conf_free(conf);
    /* The stack opens once, in the program, before its main runs (the
     * shim's constructor): a missing plugin, an option a store rejects or a
     * server that is down stops it there with status 2 and the message. */

    char shim[PATH_MAX], config_abs[PATH_MAX], stats_abs[PATH_MAX] = "";
    int status = TP_EXIT_INTERNAL;
    if (shim_path(shim, sizeof shim) < 0) {
        fprintf(stderr, "tierpage run: cannot find libtierpage-preload.so beside libtierpage.so\n");
        goto out;
    }
    if (!realpath(config, config_abs)) {
        fprintf(stderr, "tierpage run: %s: %s\n", config, strerror(errno));
        goto out;
    }
    if (stats) {
        /* Resolve now: the program may change its working directory. */
        if (stats[0] == '/' || !getcwd(stats_abs, sizeof stats_abs))
            snprintf(stats_abs, sizeof stats_abs, "%s", stats);
        else {
            size_t l = strlen(stats_abs);
            snprintf(stats_abs + l, sizeof stats_abs - l, "/%s", stats);
        }
        unlink(stats_abs);
    } else {
        /* A private stats file tells whether the program was served at all. */
        const char *tmp = getenv("TMPDIR");
        snprintf(stats_abs, sizeof stats_abs, "%s/tierpage-stats-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        int fd = mkstemp(stats_abs);
        if (fd < 0) {
            stats_abs[0] = '\0';
        } else {
            close(fd);
            unlink(stats_abs);
        }
    }

    /* With --stats, every other process of the run that serves memory
     * writes its own at STATS.PID; the private file is the program's
     * alone (a child that outlived it would leave its file behind). */
    struct child_env env = {.shim = shim, .config = config_abs, .stats = stats_abs, .stats_each = stats != NULL,
                            .quiet = quiet};
    int wstatus;
    if (run_child(&env, argv + i, &status, &wstatus) < 0)
        goto out;
    /* No note when the program stopped for its stack (125, or 2 when it
     * could not open): the shim said why; nor when it could not start. */
    if (stats_abs[0] && access(stats_abs, F_OK) < 0 && !(stats && others_served(stats_abs)) &&
        !WIFSIGNALED(wstatus) && status != TP_EXIT_INTERNAL && status != TP_EXIT_CONFIG &&
        status != TP_EXIT_CANNOT_EXEC)
        fprintf(stderr,
                "tierpage run: %s was not served: it allocated nothing at or above malloc_threshold, is statically "
                "linked, or ended without running its exit handlers%s\n",
                argv[i], stats ? "" : " (the processes it starts are counted apart: --stats FILE writes each "
                                      "one's as FILE.PID)");
    if (!stats && stats_abs[0])
        unlink(stats_abs);
out:
    if (default_path[0])
        unlink(default_path);
    return status;
}
