#include "listen_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A socket file nobody listens on any more. */
static int is_stale(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return 0;
    int refused = connect(probe, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno == ECONNREFUSED;
    close(probe);
    return refused;
}

int tpd_listen(const char *path, mode_t mode, gid_t gid, char *why, size_t why_len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(why, why_len, "socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (is_stale(&sa))
        unlink(path);
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        snprintf(why, why_len, "socket: %s", strerror(errno));
        return -1;
    }
    /* Nobody may connect before the mode is right: bind under a umask that
     * leaves the socket 0600, then widen it. */
    mode_t old = umask(0177);
    int rc = bind(sock, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (rc < 0) {
        snprintf(why, why_len, "cannot bind %s: %s%s", path, strerror(e),
                 e == EADDRINUSE ? " (another tierpaged is listening there)" : "");
        close(sock);
        return -1;
    }
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) || chmod(path, mode) < 0) {
        snprintf(why, why_len, "cannot set the mode or group of %s: %s", path, strerror(errno));
        close(sock);
        unlink(path);
        return -1;
    }
    if (listen(sock, 64) < 0) {
        snprintf(why, why_len, "listen on %s: %s", path, strerror(errno));
        close(sock);
        unlink(path);
        return -1;
    }
    return sock;
}
