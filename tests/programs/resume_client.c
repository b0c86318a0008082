/* A client of tierpaged that outlives the daemon: it speaks the protocol
 * itself (daemon/PROTOCOL.md), so that the daemon's side of RESUME can be
 * tested with real processes whatever the shim does.
 *
 *   resume_client SOCKET VM MiB ROUNDS
 *     holds MiB of served memory (one memfd region) and writes then checks
 *     a pattern naming every word, ROUNDS times, each round a new seed;
 *     prints "ready PID", "round N ok" (or "round N bad PAGE") and "done".
 *     A thread watches the connection: when the daemon goes, it connects
 *     again every 50 ms (for 60 s at most) and sends RESUME, its region,
 *     RESUME_DONE; it prints "resumed" on stderr, or the daemon's refusal
 *     and exits 125. Meanwhile the faulting thread waits in the kernel.
 *   resume_client --resume-once SOCKET VM
 *     sends one RESUME (with a new userfaultfd) and prints the reply's
 *     status and text: for a test of who may resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define PAGE 4096u

static const char *sock_path, *vm_name;
static int uffd = -1, memfd = -1, sock = -1;
static unsigned char *mem;
static size_t length;

static int new_userfaultfd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
        fprintf(stderr, "resume_client: userfaultfd: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* One request and its reply's status; the text into `text`. */
static int call(int s, uint16_t type, void *msg, size_t len, int fd, uint64_t *value, char *text, size_t text_len)
{
    unsigned char buf[sizeof(struct tpd_reply) + 1024];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    char why[256];
    int rc = tpd_call(s, type, msg, len, fd >= 0 ? &fd : NULL, fd >= 0, &reply, why, sizeof why);
    if (rc < 0) {
        snprintf(text, text_len, "%s", why);
        return rc;
    }
    if (value)
        *value = tpd_reply_of(&reply)->values[0];
    snprintf(text, text_len, "%s", tpd_reply_text(&reply));
    return tpd_reply_of(&reply)->status;
}

static void die(const char *what, int rc, const char *text)
{
    fprintf(stderr, "resume_client: %s: %d (%s): %s\n", what, rc, strerror(rc < 0 ? -rc : rc), text);
    exit(125);
}

/* ATTACH (type TPD_ATTACH) or RESUME (TPD_RESUME, then RESUME_DONE after
 * the region) of the VM on connection s, with the region: exits 125 on a
 * refusal. */
static void take_vm(int s, uint16_t type)
{
    char text[1024];
    struct tpd_vm_request r = {.h = {0}};
    snprintf(r.vm, sizeof r.vm, "%s", vm_name);
    int rc = call(s, type, &r, sizeof r, uffd, NULL, text, sizeof text);
    if (rc != 0)
        die(type == TPD_RESUME ? "RESUME" : "ATTACH", rc, text);
    struct tpd_range add = {.addr = (uintptr_t)mem, .length = length};
    rc = call(s, TPD_REGION_ADD, &add, sizeof add, memfd, NULL, text, sizeof text);
    if (rc != 0)
        die("REGION_ADD", rc, text);
    if (type != TPD_RESUME)
        return;
    struct tpd_header done = {0};
    uint64_t regions = 0;
    rc = call(s, TPD_RESUME_DONE, &done, sizeof done, -1, &regions, text, sizeof text);
    if (rc != 0)
        die("RESUME_DONE", rc, text);
    fprintf(stderr, "resumed (%llu regions): %s\n", (unsigned long long)regions, text);
}

/* A new connection, once the daemon is back (60 s at most). */
static int reconnect(void)
{
    char why[256];
    int s = -1;
    for (int tries = 0; tries < 1200 && s < 0; tries++) {
        s = tpd_connect(sock_path, why, sizeof why);
        if (s < 0)
            usleep(50000);
    }
    if (s < 0)
        die("the daemon did not come back", s, why);
    return s;
}

static void *watch(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLRDHUP};
        if (poll(&p, 1, -1) < 0)
            continue;
        if (!(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            continue;
        close(sock);
        sock = reconnect();
        take_vm(sock, TPD_RESUME);
    }
    return NULL;
}

static uint64_t word(unsigned seed, size_t page, size_t off)
{
    return ((uint64_t)seed << 40) ^ ((uint64_t)page << 12) ^ off ^ 0x7E57C0DEull;
}

static size_t round_of(unsigned seed)
{
    size_t pages = length / PAGE;
    for (size_t p = 0; p < pages; p++)
        for (size_t off = 0; off < PAGE; off += 8)
            *(uint64_t *)(mem + p * PAGE + off) = word(seed, p, off);
    for (size_t p = 0; p < pages; p++)
        for (size_t off = 0; off < PAGE; off += 8)
            if (*(uint64_t *)(mem + p * PAGE + off) != word(seed, p, off))
                return p;
    return SIZE_MAX;
}

static int resume_once(void)
{
    char why[256], text[1024];
    int s = tpd_connect(sock_path, why, sizeof why);
    if (s < 0) {
        printf("connect %d %s\n", s, why);
        return 1;
    }
    struct tpd_vm_request r = {.h = {0}};
    snprintf(r.vm, sizeof r.vm, "%s", vm_name);
    int rc = call(s, TPD_RESUME, &r, sizeof r, new_userfaultfd(), NULL, text, sizeof text);
    printf("status %d %s\n", rc, text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--resume-once") == 0) {
        sock_path = argv[2];
        vm_name = argv[3];
        return resume_once();
    }
    if (argc != 5) {
        fprintf(stderr, "usage: resume_client SOCKET VM MiB ROUNDS | --resume-once SOCKET VM\n");
        return 2;
    }
    sock_path = argv[1];
    vm_name = argv[2];
    length = (size_t)atol(argv[3]) << 20;
    int rounds = atoi(argv[4]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    uffd = new_userfaultfd();
    memfd = (int)syscall(SYS_memfd_create, "resume_client", 1u /* MFD_CLOEXEC */);
    if (memfd < 0 || ftruncate(memfd, (off_t)length) < 0) {
        perror("memfd");
        return 1;
    }
    mem = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    struct uffdio_register reg = {.range = {(uintptr_t)mem, length},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP};
    if (mem == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
        perror("mmap or UFFDIO_REGISTER");
        return 1;
    }
    char why[256];
    sock = tpd_connect(sock_path, why, sizeof why);
    if (sock < 0)
        die("connect", sock, why);
    take_vm(sock, TPD_ATTACH);
    printf("ready %ld\n", (long)getpid());
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch, NULL);
    for (int r = 1; r <= rounds; r++) {
        size_t bad = round_of((unsigned)r);
        if (bad == SIZE_MAX)
            printf("round %d ok\n", r);
        else
            printf("round %d bad %zu\n", r, bad);
    }
    printf("done\n");
    return 0;
}
