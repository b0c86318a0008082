/* tierpage run --daemon: ask tierpaged before the program starts whether
 * this user may attach to the VM. */
#include "run_daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

int tp_run_daemon_vm_check(const char *socket, const char *vm, char *why, size_t why_len)
{
    struct tpd_vm_request req;
    memset(&req, 0, sizeof req);
    if (strlen(vm) >= sizeof req.vm || !tpd_name_ok(strncpy(req.vm, vm, sizeof req.vm - 1))) {
        snprintf(why, why_len, "--vm: '%s' is not a VM name (1 to 63 of A-Z a-z 0-9 _ . -)", vm);
        return -1;
    }
    int sock = tpd_connect(socket, why, why_len);
    if (sock < 0)
        return -1;
    unsigned char buf[sizeof(struct tpd_reply) + 512];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    char err[256];
    int rc = tpd_call(sock, TPD_VM_INFO, &req, sizeof req, NULL, 0, &reply, err, sizeof err);
    close(sock);
    if (rc < 0) {
        snprintf(why, why_len, "tierpaged at %s: %s", socket, err);
        return -1;
    }
    if (tpd_reply_of(&reply)->status < 0) {
        snprintf(why, why_len, "tierpaged at %s: %s", socket, tpd_reply_text(&reply));
        return -1;
    }
    return 0;
}
