/* A client of tierpaged that outlives the daemon: it speaks the protocol
 * itself (daemon/PROTOCOL.md), so that the daemon's side of RESUME can be
 * tested with real processes whatever the shim does.
 *
 *   resume_client SOCKET VM MiB ROUNDS [--cut] [--until FILE]
 *     holds MiB of served memory (one memfd region) and writes then checks
 *     a pattern naming every word, ROUNDS times, each round a new seed
 *     (with --until, on past ROUNDS until FILE exists: a test's kills then
 *     fall in the middle of the rounds however slow the machine is);
 *     prints "ready PID", "round N ok" (or "round N bad PAGE") and "done".
 *     A thread watches the connection: when the daemon goes, it connects
 *     again every 50 ms (for 60 s at most) and sends RESUME, its region,
 *     RESUME_DONE; it prints "resumed" on stderr, or the daemon's refusal
 *     and exits 125. Meanwhile the faulting thread waits in the kernel.
 *     With --cut, before "ready" it writes the whole region once, then
 *     unmaps its front and a range in its middle (REGION_REMOVE, then
 *     munmap) and checks the pieces left: "cut ok" (or "cut bad PAGE"). The
 *     pieces start inside the memfd: each is handed over again with its
 *     offset there. Each round then writes and checks the pieces, and
 *     checks that touching either hole faults (SIGSEGV): "round N bad
 *     hole" otherwise. At the end each hole must be free to map, and fresh
 *     memory there reads zeros.
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

#include "touch_faults.h"
#include "wire.h"

#define PAGE 4096u

static const char *sock_path, *vm_name;
static int uffd = -1, memfd = -1, sock = -1;
static unsigned char *mem;
static size_t length;

/* The parts of the region still served: the whole of it, or after --cut
 * the pieces left, each at its offset in the memfd (= from mem). */
struct piece {
    size_t start, length;
};
static struct piece pieces[3], holes[2];
static size_t piece_count, hole_count;

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
    for (size_t i = 0; i < piece_count; i++) {
        struct tpd_region_add add = {.addr = (uintptr_t)mem + pieces[i].start, .length = pieces[i].length,
                                     .offset = pieces[i].start};
        rc = call(s, TPD_REGION_ADD, &add, sizeof add, memfd, NULL, text, sizeof text);
        if (rc != 0)
            die("REGION_ADD", rc, text);
    }
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

static void write_pieces(unsigned seed)
{
    for (size_t i = 0; i < piece_count; i++)
        for (size_t p = pieces[i].start / PAGE; p < (pieces[i].start + pieces[i].length) / PAGE; p++)
            for (size_t off = 0; off < PAGE; off += 8)
                *(uint64_t *)(mem + p * PAGE + off) = word(seed, p, off);
}

/* The first page of the pieces that does not hold seed's pattern (a page
 * index from mem), or SIZE_MAX. */
static size_t check_pieces(unsigned seed)
{
    for (size_t i = 0; i < piece_count; i++)
        for (size_t p = pieces[i].start / PAGE; p < (pieces[i].start + pieces[i].length) / PAGE; p++)
            for (size_t off = 0; off < PAGE; off += 8)
                if (*(uint64_t *)(mem + p * PAGE + off) != word(seed, p, off))
                    return p;
    return SIZE_MAX;
}

static size_t round_of(unsigned seed)
{
    write_pieces(seed);
    return check_pieces(seed);
}

/* Whether touching the first and the last page of every hole faults. */
static int holes_fault(void)
{
    for (size_t i = 0; i < hole_count; i++)
        if (!touch_faults(mem + holes[i].start, 0) || !touch_faults(mem + holes[i].start + holes[i].length - PAGE, 0))
            return 0;
    return 1;
}

/* Unmap [start, start+len) of the region as a program of the shim does:
 * the daemon is told first (REGION_REMOVE), then the range goes. */
static void cut(size_t start, size_t len)
{
    char text[1024];
    struct tpd_range remove = {.addr = (uintptr_t)mem + start, .length = len};
    int rc = call(sock, TPD_REGION_REMOVE, &remove, sizeof remove, -1, NULL, text, sizeof text);
    if (rc != 0)
        die("REGION_REMOVE", rc, text);
    if (munmap(mem + start, len) < 0) {
        perror("munmap");
        exit(1);
    }
    holes[hole_count++] = (struct piece){start, len};
}

/* --cut: the whole region written, then its front and a range in its
 * middle unmapped; the two pieces left must keep what was written. */
static void cut_front_and_middle(void)
{
    size_t front = length / 16 / PAGE * PAGE, middle = length / 3 / PAGE * PAGE, middle_len = length / 12 / PAGE * PAGE;
    write_pieces(0);
    cut(0, front);
    cut(middle, middle_len);
    pieces[0] = (struct piece){front, middle - front};
    pieces[1] = (struct piece){middle + middle_len, length - middle - middle_len};
    piece_count = 2;
    size_t bad = check_pieces(0);
    if (bad == SIZE_MAX && holes_fault())
        printf("cut ok\n");
    else
        printf("cut bad %zu\n", bad);
}

/* After the rounds: nothing is mapped in the holes (a fresh mapping fits
 * there exactly), and fresh memory there reads zeros. */
static int holes_free(void)
{
    for (size_t i = 0; i < hole_count; i++) {
        unsigned char *at = mem + holes[i].start;
        unsigned char *fresh = mmap(at, holes[i].length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                                    -1, 0);
        if (fresh != at)
            return 0;
        for (size_t k = 0; k < holes[i].length; k++)
            if (fresh[k])
                return 0;
        munmap(fresh, holes[i].length);
    }
    return 1;
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
    int cutting = 0;
    const char *until = NULL;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--cut") == 0)
            cutting = 1;
        else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
            until = argv[++i];
        else
            argc = 0;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: resume_client SOCKET VM MiB ROUNDS [--cut] [--until FILE]\n"
                        "       resume_client --resume-once SOCKET VM\n");
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
    pieces[0] = (struct piece){0, length};
    piece_count = 1;
    take_vm(sock, TPD_ATTACH);
    /* The watcher's stack is mapped before the holes are made, not in
     * them. It only polls the connection: the cut's requests read their
     * own replies. */
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch, NULL);
    if (cutting)
        cut_front_and_middle();
    printf("ready %ld\n", (long)getpid());
    for (int r = 1; r <= rounds || (until && access(until, F_OK) != 0); r++) {
        size_t bad = round_of((unsigned)r);
        if (bad != SIZE_MAX)
            printf("round %d bad %zu\n", r, bad);
        else if (!holes_fault())
            printf("round %d bad hole\n", r);
        else
            printf("round %d ok\n", r);
    }
    if (hole_count && !holes_free())
        printf("holes bad\n");
    printf("done\n");
    return 0;
}
