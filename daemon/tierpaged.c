/* tierpaged: one pager per host, serving many programs and VMs, each with
 * the stack of its own file in the stacks directory. */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "connection.h"
#include "daemon_config.h"
#include "listen_socket.h"
#include "budget.h"
#include "clock_ns.h"
#include "log.h"
#include "metrics_server.h"
#include "reexec.h"
#include "restart.h"
#include "vm_state.h"
#include "wire.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: tierpaged --stacks DIR [--socket PATH] [--group NAME] [--mode OCTAL] [--metrics ADDR]\n"
    "                 [--state-dir DIR]\n"
    "       tierpaged -c DAEMON.yaml [options above, which override the file]\n"
    "       tierpaged --version\n"
    "\n"
    "Serves the memory of programs started with\n"
    "  tierpage run --daemon SOCKET --vm NAME -- CMD ...\n"
    "each with the stack in DIR/NAME.yaml. Operators use tierpage status, stats,\n"
    "resize, demote, promote and flush on the same socket.\n"
    "\n"
    "  --stacks DIR    one stack file per VM (file name = VM name)\n"
    "  --socket PATH   the control socket (default " TPD_DEFAULT_SOCKET ")\n"
    "  --group NAME    members may give operator commands; the socket is 0660\n"
    "  --mode OCTAL    the socket's mode (default 0600, 0660 with --group)\n"
    "  --metrics ADDR  serve Prometheus metrics at http://ADDR/metrics: PORT (on\n"
    "                  127.0.0.1), IPv4:PORT or [IPv6]:PORT; off by default\n"
    "  --state-dir DIR what a daemon started after this one dies needs to serve\n"
    "                  the VMs again: page maps, dram pools, clients' regions\n"
    "                  (default " TPD_DEFAULT_STATE_DIR "; put it on tmpfs); '' keeps\n"
    "                  none: a daemon killed takes its programs' pages with it\n"
    "  -c FILE         read these from FILE, a YAML mapping with the keys stacks,\n"
    "                  socket, socket_mode (quoted octal), socket_group, metrics,\n"
    "                  resident_budget (the VMs' resident sets together), state_dir\n"
    "\n"
    "SIGHUP reads DIR again: changed resident caps and allowed_uids take effect\n"
    "at once; changed tiers (policy, ...) open the VM's stack again, at once when\n"
    "no program is attached, else when its last program detaches; a broken file\n"
    "or a stack that cannot open is reported and the VM keeps its stack. SIGTERM\n"
    "or SIGINT stops the daemon, releasing every client's pages. SIGUSR2 (or\n"
    "tierpage daemon restart) restarts it for an upgrade: it empties every VM's\n"
    "write-back queues, then executes its binary from disk again, same arguments,\n"
    "same pid, and the programs carry on with the new binary (a binary that cannot\n"
    "be executed there: a copy of the running one; neither: exit status 1).\n";

struct options {
    const char *stacks, *socket, *group, *metrics, *state_dir;
    mode_t mode;
    int mode_given;
    struct tpd_config file; /* -c FILE */
    struct tpd_address metrics_address;
};

/* What -c FILE gives, where the command line gave nothing. */
static int read_config_file(const char *path, struct options *o)
{
    char why[512];
    if (tpd_config_load(path, &o->file, why, sizeof why) < 0) {
        fprintf(stderr, "tierpaged: %s\n", why);
        return -1;
    }
    if (!o->stacks)
        o->stacks = o->file.stacks;
    if (!o->socket && o->file.socket[0])
        o->socket = o->file.socket;
    if (!o->group && o->file.group[0])
        o->group = o->file.group;
    if (!o->metrics && o->file.metrics[0])
        o->metrics = o->file.metrics;
    if (!o->state_dir && o->file.state_dir_given)
        o->state_dir = o->file.state_dir;
    if (!o->mode_given && o->file.mode_given) {
        o->mode = o->file.mode;
        o->mode_given = 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    const char *config = NULL;
    o->mode = 0600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("tierpaged %s\n", TIERPAGE_VERSION);
            exit(0);
        } else if (strcmp(a, "-c") == 0 && has_value) {
            config = argv[++i];
        } else if (strcmp(a, "--stacks") == 0 && has_value) {
            o->stacks = argv[++i];
        } else if (strcmp(a, "--socket") == 0 && has_value) {
            o->socket = argv[++i];
        } else if (strcmp(a, "--state-dir") == 0 && has_value) {
            o->state_dir = argv[++i];
        } else if (strcmp(a, "--metrics") == 0 && has_value) {
            o->metrics = argv[++i];
        } else if (strcmp(a, "--group") == 0 && has_value) {
            o->group = argv[++i];
        } else if (strcmp(a, "--mode") == 0 && has_value) {
            char *end;
            unsigned long m = strtoul(argv[++i], &end, 8);
            if (*end || m > 0777) {
                fprintf(stderr, "tierpaged: --mode: expected an octal mode such as 0660, got '%s'\n", argv[i]);
                return -1;
            }
            o->mode = (mode_t)m;
            o->mode_given = 1;
        } else {
            fprintf(stderr, "tierpaged: unknown or incomplete option '%s'\n\n%s", a, usage);
            return -1;
        }
    }
    if (config && read_config_file(config, o) < 0)
        return -1;
    if (!o->socket)
        o->socket = TPD_DEFAULT_SOCKET;
    if (!o->state_dir)
        o->state_dir = TPD_DEFAULT_STATE_DIR;
    if (!o->stacks) {
        fprintf(stderr, "tierpaged: --stacks DIR (or -c FILE) is required\n\n%s", usage);
        return -1;
    }
    if (o->group && !o->mode_given)
        o->mode = 0660;
    char why[160];
    if (o->metrics && tpd_address_parse(o->metrics, &o->metrics_address, why, sizeof why) < 0) {
        fprintf(stderr, "tierpaged: metrics: %s\n", why);
        return -1;
    }
    return 0;
}

/* The control socket: the one a run before this one listened on, handed
 * over by a restart (connections made meanwhile wait in it), when it is
 * still the path asked for; else a new one. -1 with why. */
static int control_socket(const struct options *o, gid_t gid, char *why, size_t len)
{
    int fd = tpd_reexec_listener();
    if (fd >= 0) {
        struct sockaddr_un sa;
        socklen_t sa_len = sizeof sa;
        int listening = 0;
        socklen_t opt_len = sizeof listening;
        if (getsockname(fd, (struct sockaddr *)&sa, &sa_len) == 0 && sa.sun_family == AF_UNIX &&
            sa_len > offsetof(struct sockaddr_un, sun_path) && strcmp(sa.sun_path, o->socket) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) == 0 && listening) {
            /* The mode and group asked for now. */
            if ((gid == (gid_t)-1 || chown(o->socket, (uid_t)-1, gid) == 0) && chmod(o->socket, o->mode) == 0)
                return fd;
            snprintf(why, len, "cannot set the mode or group of %s: %s", o->socket, strerror(errno));
            close(fd);
            return -1;
        }
        tpd_log("info", "the control socket handed over is not %s: listening there anew", o->socket);
        close(fd);
    }
    return tpd_listen(o->socket, o->mode, gid, why, len);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    tpd_reexec_init(argv);
    tpd_log_init();
    tp_set_store_log(tpd_log_store, NULL);
    if (parse_args(argc, argv, &o) < 0)
        return EXIT_USAGE;
    static struct tpd_daemon d;
    gid_t gid = (gid_t)-1;
    if (o.group) {
        struct group *g = getgrnam(o.group);
        if (!g) {
            fprintf(stderr, "tierpaged: --group: no group named '%s'\n", o.group);
            return EXIT_USAGE;
        }
        gid = g->gr_gid;
        d.has_group = 1;
        d.group = gid;
    }
    /* Signals are read from a signalfd by this thread alone: every thread,
     * the stacks' included, starts with them blocked. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sigfd < 0) {
        tpd_log("error", "signalfd: %s", strerror(errno));
        return 1;
    }
    char why[256];
    if (tpd_state_init(o.state_dir, why, sizeof why) < 0) {
        tpd_log("error", "not starting: %s", why);
        return EXIT_USAGE;
    }
    if (tpd_vms_load(&d.vms, o.stacks) < 0) {
        tpd_log("error", "not starting: a stack in %s cannot load", o.stacks);
        return EXIT_USAGE;
    }
    int lsock = control_socket(&o, gid, why, sizeof why);
    int restart_fd = lsock < 0 ? -1 : tpd_restart_init();
    if (lsock < 0 || restart_fd < 0) {
        tpd_log("error", "%s", lsock < 0 ? why : "cannot make the restart's eventfd");
        if (lsock >= 0)
            close(lsock);
        tpd_vms_close(&d.vms, 0);
        return 1;
    }
    tpd_log("info", "listening on %s (mode %04o%s%s)", o.socket, (unsigned)o.mode, o.group ? ", group " : "",
            o.group ? o.group : "");
    if (tpd_reexec_restarts() > 0)
        tpd_log("info", "restart %u: %s serves again, %.3f s after the restart was asked for", tpd_reexec_restarts(),
                tpd_reexec_binary(), tpd_reexec_asked_ns() ? (double)(tp_now_ns() - tpd_reexec_asked_ns()) / 1e9 : 0.0);
    if (o.file.resident_budget && tpd_budget_start(&d.vms, o.file.resident_budget, &d.budget, why, sizeof why) < 0) {
        tpd_log("error", "%s", why);
        close(lsock);
        unlink(o.socket);
        tpd_vms_close(&d.vms, 0);
        return 1;
    }
    struct tpd_metrics *metrics = NULL;
    if (o.metrics && tpd_metrics_start(&d, &o.metrics_address, &metrics, why, sizeof why) < 0) {
        tpd_log("error", "%s", why);
        tpd_budget_stop(d.budget);
        close(lsock);
        unlink(o.socket);
        tpd_vms_close(&d.vms, 0);
        return 1;
    }
    int stop = 0, restart_by_signal = 0;
    while (!stop) {
        struct pollfd p[3] = {{.fd = lsock, .events = POLLIN}, {.fd = sigfd, .events = POLLIN},
                              {.fd = restart_fd, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            tpd_log("error", "poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGHUP)
                    tpd_vms_reload(&d.vms);
                else if (si.ssi_signo == SIGUSR2 && !tpd_state_kept())
                    tpd_log("warning", "SIGUSR2 ignored: this daemon keeps no state (state_dir \"\"), so a "
                            "restart would stop every program it serves");
                else if (si.ssi_signo == SIGUSR2)
                    restart_by_signal = 1;
                else
                    stop = 1;
            }
        }
        if (!stop && (restart_by_signal || (p[2].revents & POLLIN))) {
            /* Returns only when no binary could be executed; the threads
             * still run: no exit handler may. */
            tpd_restart(&d, lsock, restart_by_signal ? "SIGUSR2" : NULL);
            _exit(1);
        }
        if (!stop && (p[0].revents & POLLIN)) {
            int sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
            if (sock >= 0) {
                int rc = tpd_connection_start(&d, sock);
                if (rc < 0)
                    tpd_log("error", "cannot serve a connection: %s", strerror(-rc));
            }
        }
    }
    tpd_log("info", "stopping: closing every connection and stack");
    close(lsock);
    unlink(o.socket);
    tpd_metrics_stop(metrics);
    tpd_budget_stop(d.budget);
    tpd_connections_stop();
    tpd_vms_close(&d.vms, 1);
    close(sigfd);
    tpd_log("info", "stopped");
    return 0;
}
