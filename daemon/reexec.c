#include "reexec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: an executable memfd, whatever vm.memfd_noexec says */
#endif

/* What one run hands to the next. */
#define ENV_BINARY "TIERPAGED_BINARY"
#define ENV_RESTARTS "TIERPAGED_RESTARTS"
#define ENV_ASKED "TIERPAGED_RESTART_ASKED_NS"
#define ENV_LISTENER "TIERPAGED_LISTEN_FD"
/* A run from a copy in memory finds no plugins beside its binary: it is
 * given the directory in TIERPAGE_PLUGIN_PATH, and what that variable held
 * before ("unset", or "set:" and the value), to put back for the next. */
#define ENV_PLUGIN_PATH_BEFORE "TIERPAGED_PLUGIN_PATH_BEFORE"

static char **args;
static char binary[PATH_MAX];
static unsigned restarts;
static uint64_t asked_ns;
static int listener = -1;
static char *plugin_path_before; /* ENV_PLUGIN_PATH_BEFORE's value, or NULL */

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* dir/name (dir relative to cwd when not absolute) into out: 0, or -1
 * when it does not fit. */
static int path_join(char *out, size_t len, const char *dir, size_t dir_len, const char *name)
{
    char cwd[PATH_MAX] = "";
    if ((dir_len == 0 || dir[0] != '/') && !getcwd(cwd, sizeof cwd))
        return -1;
    int n = snprintf(out, len, "%s%s%.*s%s%s", cwd, cwd[0] && dir_len ? "/" : "", (int)dir_len, dir,
                     cwd[0] || dir_len ? "/" : "", name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The path argv[0] names, as the shell found it (a symbolic link is kept:
 * an upgrade may point it elsewhere), made absolute; "" when none. */
static void path_of_argv0(const char *argv0, char *out, size_t len)
{
    out[0] = '\0';
    if (strchr(argv0, '/')) {
        if (argv0[0] == '/' ? (size_t)snprintf(out, len, "%s", argv0) >= len : path_join(out, len, "", 0, argv0) < 0)
            out[0] = '\0';
        return;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (path_join(out, len, p, n, argv0) == 0 && access(out, X_OK) == 0)
            return;
        out[0] = '\0';
        p += n + (colon != NULL);
    }
}

static uint64_t number_from_env(const char *name)
{
    const char *v = getenv(name);
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    unsetenv(name);
    return n;
}

void tpd_reexec_init(char **argv)
{
    args = argv;
    const char *given = getenv(ENV_BINARY);
    if (given && given[0] == '/') {
        snprintf(binary, sizeof binary, "%s", given);
    } else {
        path_of_argv0(argv[0], binary, sizeof binary);
        /* A name that leads elsewhere than the running binary: the binary. */
        if (!binary[0] || !same_file(binary, "/proc/self/exe")) {
            ssize_t n = readlink("/proc/self/exe", binary, sizeof binary - 1);
            binary[n > 0 ? n : 0] = '\0';
        }
    }
    unsetenv(ENV_BINARY);
    restarts = (unsigned)number_from_env(ENV_RESTARTS);
    asked_ns = number_from_env(ENV_ASKED);
    const char *fd = getenv(ENV_LISTENER);
    if (fd && *fd) {
        char *end;
        long v = strtol(fd, &end, 10);
        if (!*end && v > 2 && v < INT_MAX && fcntl((int)v, F_SETFD, FD_CLOEXEC) == 0)
            listener = (int)v;
    }
    unsetenv(ENV_LISTENER);
    const char *before = getenv(ENV_PLUGIN_PATH_BEFORE);
    if (before)
        plugin_path_before = strdup(before);
    unsetenv(ENV_PLUGIN_PATH_BEFORE);
}

const char *tpd_reexec_binary(void)
{
    return binary;
}

unsigned tpd_reexec_restarts(void)
{
    return restarts;
}

uint64_t tpd_reexec_asked_ns(void)
{
    return asked_ns;
}

int tpd_reexec_listener(void)
{
    int fd = listener;
    listener = -1;
    return fd;
}

/* Every descriptor but the standard ones closes at the exec: the clients'
 * connections, userfaultfds and memfds, the stores' files and sockets. */
static void close_at_exec(void)
{
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d))
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    closedir(d);
}

/* The environment the next run reads. */
static void hand_over(int listen_fd, uint64_t asked)
{
    char v[32];
    snprintf(v, sizeof v, "%d", listen_fd);
    setenv(ENV_LISTENER, v, 1);
    snprintf(v, sizeof v, "%u", restarts + 1);
    setenv(ENV_RESTARTS, v, 1);
    snprintf(v, sizeof v, "%" PRIu64, asked);
    setenv(ENV_ASKED, v, 1);
    setenv(ENV_BINARY, binary, 1);
}

/* TIERPAGE_PLUGIN_PATH as it was before a run from a copy changed it. */
static void plugin_path_restored(void)
{
    if (!plugin_path_before)
        return;
    if (strncmp(plugin_path_before, "set:", 4) == 0)
        setenv("TIERPAGE_PLUGIN_PATH", plugin_path_before + 4, 1);
    else
        unsetenv("TIERPAGE_PLUGIN_PATH");
    unsetenv(ENV_PLUGIN_PATH_BEFORE);
}

/* The copy runs from memory, where no plugins lie beside it: the
 * directory this run found them in goes first in TIERPAGE_PLUGIN_PATH. */
static void plugin_path_for_copy(void)
{
    const char *now = getenv("TIERPAGE_PLUGIN_PATH");
    if (!plugin_path_before) {
        char *before = NULL;
        if (asprintf(&before, "%s%s", now ? "set:" : "unset", now ? now : "") < 0)
            return;
        setenv(ENV_PLUGIN_PATH_BEFORE, before, 1);
        free(before);
    } else {
        setenv(ENV_PLUGIN_PATH_BEFORE, plugin_path_before, 1);
    }
    char dir[PATH_MAX], *path = NULL;
    if (tp_plugin_default_dir(dir, sizeof dir) < 0 || access(dir, R_OK | X_OK) < 0)
        return;
    if (asprintf(&path, "%s%s%s", dir, now && *now ? ":" : "", now ? now : "") < 0)
        return;
    setenv("TIERPAGE_PLUGIN_PATH", path, 1);
    free(path);
}

/* The running binary, copied into an executable memfd: its descriptor
 * (close-on-exec), or -errno. */
static int copy_of_running_binary(void)
{
    int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = memfd_create("tierpaged", MFD_CLOEXEC | MFD_EXEC);
    if (out < 0 && errno == EINVAL) /* a kernel before MFD_EXEC */
        out = memfd_create("tierpaged", MFD_CLOEXEC);
    struct stat st;
    int rc = out < 0 || fstat(in, &st) < 0 ? -errno : 0;
    for (off_t done = 0; rc == 0 && done < st.st_size;) {
        ssize_t n = sendfile(out, in, NULL, (size_t)(st.st_size - done));
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;
        else
            done += n;
    }
    close(in);
    if (rc < 0) {
        if (out >= 0)
            close(out);
        return rc;
    }
    return out;
}

void tpd_reexec(int listen_fd, uint64_t asked, char *why, size_t len)
{
    close_at_exec();
    if (fcntl(listen_fd, F_SETFD, 0) < 0) {
        snprintf(why, len, "cannot hand the control socket over: %s", strerror(errno));
        return;
    }
    hand_over(listen_fd, asked);
    plugin_path_restored();
    execv(binary, args);
    int disk_error = errno;
    tpd_log("error", "restart: cannot execute %s: %s; executing a copy of the binary this daemon runs instead (the "
            "same version goes on)", binary, strerror(disk_error));
    plugin_path_for_copy();
    int copy = copy_of_running_binary();
    if (copy >= 0) {
        fexecve(copy, args, environ);
        int e = errno;
        close(copy);
        copy = -e;
    }
    snprintf(why, len, "cannot execute %s: %s, nor a copy of the running binary: %s", binary, strerror(disk_error),
             strerror(-copy));
}
