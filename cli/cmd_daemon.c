/* `tierpage daemon info|restart`: the running tierpaged itself. restart
 * asks it to restart on its state (RESTART, daemon/PROTOCOL.md) and
 * follows it through: the state handed over, the binary executed again,
 * the new one answering, the programs it serves taken back. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock_ns.h"
#include "commands.h"
#include "reply_timeout.h"
#include "units.h"
#include "wire.h"

static const char daemon_usage[] =
    "usage: tierpage daemon restart [--timeout SECONDS] [--socket PATH]\n"
    "       tierpage daemon info [--timeout SECONDS] [--socket PATH]\n"
    "\n"
    "The running tierpaged itself. The socket is --socket PATH, else\n"
    "$TIERPAGE_SOCKET, else " TPD_DEFAULT_SOCKET ".\n"
    "\n"
    "  restart   restart it, for an upgrade: it stops taking requests, lets those\n"
    "            in progress finish, empties every VM's write-back queues, tells\n"
    "            its programs it restarts and executes its binary from disk again\n"
    "            (same path, arguments and pid; the same as SIGUSR2). The programs\n"
    "            wait, then carry on with the new binary, every page kept. Prints\n"
    "            each step, and returns once the new binary answers and every VM\n"
    "            whose program is alive is served again: \"restarted: pid P, N VMs\n"
    "            recovered in X s\". --timeout: how long to wait for that (whole\n"
    "            seconds, or a duration such as 90s or 2min; 60 s by default).\n"
    "            Forked children of programs are not taken back: they stop.\n"
    "            Each connection and reply on the way waits 10 s at most (or\n"
    "            --timeout when shorter).\n"
    "  info      its pid, version, binary on disk and the inode of the one\n"
    "            running, restarts so far, VMs, programs attached, VMs still\n"
    "            waiting for their program after a restart, VMs recovered.\n"
    "            --timeout: how long to wait for the connection and the reply\n"
    "            (10 s by default).\n"
    "\n"
    "Exit status 0; 1 when the daemon refuses (a restart already under way) or\n"
    "does not come back, or a VM's program is not served again, within the\n"
    "timeout; 2 for bad arguments; 3 when the daemon cannot be reached, does not\n"
    "answer within the timeout, or closes the connection before it answers.\n";

#define EXIT_REFUSED 1
#define EXIT_UNREACHABLE 3

struct daemon_info {
    long pid;
    unsigned restarts;
    char version[32];
    char binary[PATH_MAX];
    unsigned long long inode;
    int vms, clients, waiting, recovered;
};

static const char *socket_path;
static uint64_t timeout_ms = 60000; /* restart's, from the request to the programs served again */
static uint64_t reply_ms = TP_REPLY_TIMEOUT_MS; /* each connection and reply, --timeout when shorter */

/* DAEMON_INFO's text: "key value" lines. */
static void parse_info(const char *text, struct daemon_info *in)
{
    memset(in, 0, sizeof *in);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char key[32], value[PATH_MAX];
        if (sscanf(line, "%31s %4095[^\n]", key, value) != 2)
            continue;
        if (strcmp(key, "pid") == 0)
            in->pid = strtol(value, NULL, 10);
        else if (strcmp(key, "restarts") == 0)
            in->restarts = (unsigned)strtoul(value, NULL, 10);
        else if (strcmp(key, "version") == 0)
            snprintf(in->version, sizeof in->version, "%.31s", value);
        else if (strcmp(key, "binary") == 0)
            snprintf(in->binary, sizeof in->binary, "%.4095s", value);
        else if (strcmp(key, "running_inode") == 0)
            in->inode = strtoull(value, NULL, 10);
        else if (strcmp(key, "vms") == 0)
            in->vms = atoi(value);
        else if (strcmp(key, "clients") == 0)
            in->clients = atoi(value);
        else if (strcmp(key, "waiting") == 0)
            in->waiting = atoi(value);
        else if (strcmp(key, "recovered") == 0)
            in->recovered = atoi(value);
    }
}

/* One request on sock, its reply waited for up to `wait_ms` (0: no
 * limit): 0 with the reply; -errno with why (the connection failed, or
 * -ETIMEDOUT), or the reply's negative status with its text in why. */
static int ask(int sock, uint16_t type, unsigned wait_ms, struct tpd_message *reply, char *why, size_t len)
{
    struct tpd_header h;
    int rc = tpd_call_within(sock, type, &h, sizeof h, NULL, 0, wait_ms, reply, why, len);
    if (rc == 0 && tpd_reply_of(reply)->status < 0) {
        rc = tpd_reply_of(reply)->status;
        snprintf(why, len, "%s", tpd_reply_text(reply));
    }
    return rc;
}

/* Connect and ask DAEMON_INFO: 0, or -errno with why. */
static int info_of(struct daemon_info *in, char *why, size_t len)
{
    int sock = tpd_connect_within(socket_path, (unsigned)reply_ms, 0, NULL, why, len);
    if (sock < 0)
        return sock;
    unsigned char buf[sizeof(struct tpd_reply) + 8192];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    int rc = ask(sock, TPD_DAEMON_INFO, (unsigned)reply_ms, &reply, why, len);
    close(sock);
    if (rc == 0)
        parse_info(tpd_reply_text(&reply), in);
    return rc;
}

static double seconds_since(uint64_t start)
{
    return (double)(tp_now_ns() - start) / 1e9;
}

/* A call that blocks (a connection the new daemon has not yet taken up)
 * must not outlast the timeout. Written before the alarm is set: a
 * signal handler formats nothing. */
static char timed_out_text[PATH_MAX + 256];

static void timed_out(int sig)
{
    (void)sig;
    if (write(STDERR_FILENO, timed_out_text, strlen(timed_out_text)) < 0)
        _exit(EXIT_REFUSED);
    _exit(EXIT_REFUSED);
}

static void pause_a_little(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
}

static int restart(void)
{
    struct daemon_info old, now;
    char why[600];
    int sock = tpd_connect_within(socket_path, (unsigned)reply_ms, 0, NULL, why, sizeof why);
    if (sock < 0) {
        if (!tp_say_no_reply("tierpage daemon restart", socket_path, sock, reply_ms, NULL))
            fprintf(stderr, "tierpage daemon restart: %s\n", why);
        return EXIT_UNREACHABLE;
    }
    unsigned char buf[sizeof(struct tpd_reply) + 8192];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    int rc = ask(sock, TPD_DAEMON_INFO, (unsigned)reply_ms, &reply, why, sizeof why);
    if (rc < 0) {
        if (!tp_say_no_reply("tierpage daemon restart", socket_path, rc, reply_ms, NULL))
            fprintf(stderr, "tierpage daemon restart: tierpaged at %s: %s\n", socket_path, why);
        close(sock);
        return rc == -EAGAIN ? EXIT_REFUSED : EXIT_UNREACHABLE;
    }
    parse_info(tpd_reply_text(&reply), &old);
    printf("tierpaged pid %ld (%s, version %s): restarting; %d programs attached, %d VMs\n", old.pid, old.binary,
           old.version, old.clients, old.vms);
    fflush(stdout);
    snprintf(timed_out_text, sizeof timed_out_text, "tierpage daemon restart: no answer from tierpaged at %s "
             "within %.0f s (--timeout): see its log; the programs it served wait for it up to their "
             "daemon_timeout\n", socket_path, (double)timeout_ms / 1000);
    signal(SIGALRM, timed_out);
    alarm((unsigned)((timeout_ms + 999) / 1000));
    uint64_t start = tp_now_ns();
    /* Bounded by the alarm: the daemon answers once every VM's queues
     * are empty. */
    rc = ask(sock, TPD_RESTART, 0, &reply, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "tierpage daemon restart: tierpaged at %s: %s\n", socket_path, why);
        close(sock);
        return rc == -EALREADY || rc == -EAGAIN || rc == -EOPNOTSUPP ? EXIT_REFUSED : EXIT_UNREACHABLE;
    }
    printf("%s\n", tpd_reply_text(&reply));
    fflush(stdout);
    /* The connection ends with the exec. */
    while (tpd_recv(sock, &reply, why, sizeof why) > 0)
        ;
    close(sock);

    /* The binary executed again answers on the same socket (its
     * connections wait there meanwhile): a new count of restarts, or a
     * new pid where a supervisor started it again. */
    for (;;) {
        rc = info_of(&now, why, sizeof why);
        if (rc == 0 && (now.restarts != old.restarts || now.pid != old.pid))
            break;
        if (seconds_since(start) * 1000 > (double)timeout_ms) {
            fprintf(stderr, "tierpage daemon restart: tierpaged at %s did not come back within %.0f s (the last try: "
                    "%s); see its log\n", socket_path, (double)timeout_ms / 1000, rc < 0 ? why : "the old one answers");
            return EXIT_REFUSED;
        }
        pause_a_little();
    }
    printf("tierpaged answers again after %.3f s: pid %ld, restart %u, %s (inode %llu, version %s)%s\n",
           seconds_since(start), now.pid, now.restarts, now.binary, now.inode, now.version,
           now.pid != old.pid ? "; a new process: the old one could not execute a binary (see its log)" : "");
    fflush(stdout);

    /* Each VM whose program lives is served again once that program has
     * handed its memory back (RESUME_DONE). */
    for (int said = now.waiting; now.waiting > 0;) {
        if (now.waiting != said) {
            printf("%d VMs wait for their programs to come back\n", now.waiting);
            fflush(stdout);
            said = now.waiting;
        }
        if (seconds_since(start) * 1000 > (double)timeout_ms) {
            fprintf(stderr, "tierpage daemon restart: tierpaged restarted (pid %ld), but %d VMs still wait for their "
                    "programs %.0f s after the restart (tierpage status shows which)\n", now.pid, now.waiting,
                    (double)timeout_ms / 1000);
            return EXIT_REFUSED;
        }
        pause_a_little();
        if (info_of(&now, why, sizeof why) < 0)
            now.waiting = 1;
    }
    alarm(0);
    printf("restarted: pid %ld, %d VMs recovered in %.3f s\n", now.pid, now.recovered, seconds_since(start));
    return 0;
}

static int info(void)
{
    struct daemon_info in;
    char why[600];
    int rc = info_of(&in, why, sizeof why);
    if (rc < 0) {
        if (tp_say_no_reply("tierpage daemon info", socket_path, rc, reply_ms, NULL))
            return EXIT_UNREACHABLE;
        fprintf(stderr, "tierpage daemon info: tierpaged at %s: %s\n", socket_path, why);
        return rc == -EAGAIN ? EXIT_REFUSED : EXIT_UNREACHABLE;
    }
    printf("pid %ld\nversion %s\nbinary %s\nrunning_inode %llu\nrestarts %u\nvms %d\nclients %d\nwaiting %d\n"
           "recovered %d\n", in.pid, in.version, in.binary, in.inode, in.restarts, in.vms, in.clients, in.waiting,
           in.recovered);
    return 0;
}

int tp_cmd_daemon(int argc, char **argv)
{
    const char *what = NULL;
    int given_timeout = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(daemon_usage, stdout);
            return 0;
        } else if (strcmp(a, "--socket") == 0 && i + 1 < argc) {
            socket_path = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            if (tp_parse_timeout("tierpage daemon", argv[++i], &timeout_ms) < 0)
                return TP_EXIT_USAGE;
            given_timeout = 1;
        } else if (a[0] == '-' || what) {
            fprintf(stderr, "tierpage daemon: unexpected argument '%s'\n\n%s", a, daemon_usage);
            return TP_EXIT_USAGE;
        } else {
            what = a;
        }
    }
    if (!socket_path)
        socket_path = getenv("TIERPAGE_SOCKET") && *getenv("TIERPAGE_SOCKET") ? getenv("TIERPAGE_SOCKET")
                                                                               : TPD_DEFAULT_SOCKET;
    if (what && strcmp(what, "restart") == 0) {
        if (timeout_ms < reply_ms)
            reply_ms = timeout_ms;
        return restart();
    }
    if (given_timeout)
        reply_ms = timeout_ms;
    if (what && strcmp(what, "info") == 0)
        return info();
    fprintf(stderr, "tierpage daemon: expected restart or info%s%s%s\n\n%s", what ? ", got '" : "", what ? what : "",
            what ? "'" : "", daemon_usage);
    return TP_EXIT_USAGE;
}
