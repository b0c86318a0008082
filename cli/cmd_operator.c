/* The operator commands: status, stats, resize, demote, promote, flush.
 * Each is one request to tierpaged over its control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "reply_timeout.h"
#include "units.h"
#include "wire.h"

static const char operator_usage[] =
    "usage: tierpage status [--socket PATH] [--timeout SECONDS]\n"
    "       tierpage stats VM [--json] [--socket PATH] [--timeout SECONDS]\n"
    "       tierpage resize VM SIZE [--socket PATH] [--timeout SECONDS]\n"
    "       tierpage demote VM --to TIER [--socket PATH] [--timeout SECONDS]\n"
    "       tierpage promote VM [--wait] [--socket PATH] [--timeout SECONDS]\n"
    "       tierpage flush VM [--socket PATH] [--timeout SECONDS]\n"
    "\n"
    "Act on the VMs a running tierpaged serves. The socket is --socket PATH,\n"
    "else $TIERPAGE_SOCKET, else " TPD_DEFAULT_SOCKET ".\n"
    "--timeout: how long to wait for the connection and for each reply (whole\n"
    "seconds, or a duration such as 90s or 2min; 10 s by default). resize,\n"
    "demote, flush and promote --wait wait as long as the daemon reports\n"
    "progress: they give up once it reported none for that long.\n"
    "\n"
    "  status    one line per VM: client pid, resident bytes and cap, faults,\n"
    "            pages per tier\n"
    "  stats     the VM's counters (--json: as tierpage run --stats writes them)\n"
    "  resize    set the VM's resident cap (e.g. 64MiB); shrinking evicts at once\n"
    "            and returns when the cap holds\n"
    "  demote    move every page of the VM into TIER of its stack\n"
    "  promote   bring the VM's pages back in, up to its cap, in the background:\n"
    "            returns at once (status shows the progress); --wait returns\n"
    "            when done, with the number of pages brought in\n"
    "  flush     wait until the VM's write-back queues are empty\n"
    "\n"
    "Exit status 0; 1 when the daemon refuses (unknown VM or tier, ...);\n"
    "2 for bad arguments; 3 when the daemon cannot be reached, does not answer\n"
    "within the timeout, or closes the connection before it answers.\n";

#define EXIT_REFUSED 1
#define EXIT_UNREACHABLE 3

struct request {
    const char *command;
    const char *vm, *size, *tier, *socket;
    int json;
    int wait;
    uint64_t timeout_ms;
};

static int parse(int argc, char **argv, struct request *r)
{
    r->command = argv[0];
    const char *positional[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(operator_usage, stdout);
            exit(0);
        } else if (strcmp(a, "--socket") == 0 && i + 1 < argc) {
            r->socket = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char command[64];
            snprintf(command, sizeof command, "tierpage %s", r->command);
            if (tp_parse_timeout(command, argv[++i], &r->timeout_ms) < 0)
                return -1;
        } else if (strcmp(a, "--to") == 0 && i + 1 < argc) {
            r->tier = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            r->json = 1;
        } else if (strcmp(a, "--wait") == 0 && strcmp(r->command, "promote") == 0) {
            r->wait = 1;
        } else if (a[0] == '-' || npos == 2) {
            fprintf(stderr, "tierpage %s: unexpected argument '%s'\n\n%s", r->command, a, operator_usage);
            return -1;
        } else {
            positional[npos++] = a;
        }
    }
    if (!r->socket)
        r->socket = getenv("TIERPAGE_SOCKET") && *getenv("TIERPAGE_SOCKET") ? getenv("TIERPAGE_SOCKET")
                                                                            : TPD_DEFAULT_SOCKET;
    int is_status = strcmp(r->command, "status") == 0, is_resize = strcmp(r->command, "resize") == 0;
    int want = is_status ? 0 : is_resize ? 2 : 1;
    if (npos != want) {
        fprintf(stderr, "tierpage %s: expected %s\n\n%s", r->command,
                is_status ? "no VM" : is_resize ? "a VM and a size" : "a VM", operator_usage);
        return -1;
    }
    r->vm = positional[0];
    r->size = positional[1];
    if (strcmp(r->command, "demote") == 0 && !r->tier) {
        fprintf(stderr, "tierpage demote: --to TIER is required\n\n%s", operator_usage);
        return -1;
    }
    if (r->vm && strlen(r->vm) >= TPD_NAME_MAX) {
        fprintf(stderr, "tierpage %s: VM name '%s' is too long\n", r->command, r->vm);
        return -1;
    }
    if (r->tier && strlen(r->tier) >= TPD_NAME_MAX) {
        fprintf(stderr, "tierpage %s: tier name '%s' is too long\n", r->command, r->tier);
        return -1;
    }
    return 0;
}

int tp_cmd_operator(int argc, char **argv)
{
    struct request r = {.timeout_ms = TP_REPLY_TIMEOUT_MS};
    if (parse(argc, argv, &r) < 0)
        return TP_EXIT_USAGE;
    union {
        struct tpd_header h;
        struct tpd_vm_request vm;
        struct tpd_stats_request stats;
        struct tpd_resize resize;
        struct tpd_demote demote;
    } msg;
    memset(&msg, 0, sizeof msg);
    uint16_t type;
    size_t length;
    if (strcmp(r.command, "status") == 0) {
        type = TPD_STATUS;
        length = sizeof msg.h;
    } else if (strcmp(r.command, "stats") == 0) {
        type = TPD_STATS;
        length = sizeof msg.stats;
        msg.stats.flags = r.json ? TPD_STATS_JSON : 0;
    } else if (strcmp(r.command, "resize") == 0) {
        type = TPD_RESIZE;
        length = sizeof msg.resize;
        if (tp_parse_size(r.size, &msg.resize.bytes) < 0) {
            fprintf(stderr, "tierpage resize: expected a size such as 64MiB, got '%s'\n", r.size);
            return TP_EXIT_USAGE;
        }
        if (msg.resize.bytes < 4096) {
            fprintf(stderr, "tierpage resize: %s is less than one page (4096 bytes)\n", r.size);
            return TP_EXIT_USAGE;
        }
    } else if (strcmp(r.command, "demote") == 0) {
        type = TPD_DEMOTE;
        length = sizeof msg.demote;
        memcpy(msg.demote.tier, r.tier, strlen(r.tier));
    } else {
        type = strcmp(r.command, "promote") == 0 ? TPD_PROMOTE : TPD_FLUSH;
        length = sizeof msg.vm;
    }
    if (r.vm) /* every request but STATUS starts with the VM name */
        memcpy(msg.vm.vm, r.vm, strlen(r.vm));

    /* The requests that wait for work to be done are bounded by its
     * progress (PROGRESS): with a daemon that sends none, by nothing. */
    int long_request = type == TPD_RESIZE || type == TPD_DEMOTE || type == TPD_FLUSH;
    char command[64], why[512];
    snprintf(command, sizeof command, "tierpage %s", r.command);
    uint32_t granted = 0;
    unsigned timeout = (unsigned)r.timeout_ms;
    int sock = tpd_connect_within(r.socket, timeout, TPD_HELLO_PROGRESS, &granted, why, sizeof why);
    if (sock < 0) {
        if (!tp_say_no_reply(command, r.socket, sock, r.timeout_ms, NULL))
            fprintf(stderr, "%s: %s\n", command, why);
        return EXIT_UNREACHABLE;
    }
    unsigned long_timeout = granted & TPD_HELLO_PROGRESS ? timeout : 0;
    void *buf = malloc(TPD_MAX_MESSAGE);
    struct tpd_message reply = {.buf = buf, .capacity = TPD_MAX_MESSAGE};
    int rc = buf ? tpd_call_within(sock, type, &msg, length, NULL, 0, long_request ? long_timeout : timeout, &reply,
                                   why, sizeof why)
                 : -ENOMEM;
    /* promote --wait: then wait on the same connection for its end. */
    if (rc == 0 && r.wait && tpd_reply_of(&reply)->status == 0) {
        long_request = 1;
        rc = tpd_call_within(sock, TPD_PROMOTE_WAIT, &msg, length, NULL, 0, long_timeout, &reply, why, sizeof why);
    }
    close(sock);
    int status = 0;
    if (rc < 0) {
        if (!tp_say_no_reply(command, r.socket, rc, r.timeout_ms, long_request ? r.command : NULL))
            fprintf(stderr, "%s: tierpaged at %s: %s\n", command, r.socket, buf ? why : "out of memory");
        status = EXIT_UNREACHABLE;
    } else if (tpd_reply_of(&reply)->status < 0) {
        fprintf(stderr, "tierpage %s: %s\n", r.command, tpd_reply_text(&reply));
        status = EXIT_REFUSED;
    } else {
        const char *text = tpd_reply_text(&reply);
        fputs(text, stdout);
        if (*text && text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
    }
    free(buf);
    return status;
}
