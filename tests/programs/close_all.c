/* A program that closes descriptors it never opened, as daemons and
 * fork-then-exec helpers do, and goes on using its memory:
 *   close_all MODE MIB FILE
 * MODE: close (every number from 3 up), closefrom, close_range, dup2 (a
 * file of its own onto 0 and every number from 3 to 63, as shells and daemons
 * number descriptors by hand), or fork (a child that calls closefrom(3) and
 * then uses its copy of the memory).
 * Fills MIB MiB of anonymous memory, closes, then opens FILE and fills it,
 * reads every word of the memory back, writes it anew and reads it again,
 * and checks FILE still holds only what it wrote. Exit 0 when all held. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_BYTES (1u << 20)

static uint64_t word(size_t i, uint64_t seed)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    x ^= x >> 31;
    return x * 0xbf58476d1ce4e5b9ull;
}

static void fill(uint64_t *m, size_t words, uint64_t seed)
{
    for (size_t i = 0; i < words; i++)
        m[i] = word(i, seed);
}

static int check(const char *who, const uint64_t *m, size_t words, uint64_t seed)
{
    for (size_t i = 0; i < words; i++)
        if (m[i] != word(i, seed)) {
            printf("close_all: %s: word %zu is %#llx, wrote %#llx\n", who, i, (unsigned long long)m[i],
                   (unsigned long long)word(i, seed));
            return 1;
        }
    return 0;
}

static void close_every_number(void)
{
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (long)rl.rlim_cur : 65536;
    for (long fd = 3; fd < max; fd++)
        close((int)fd);
}

/* After the closes: a file of the program's own, the memory used twice over,
 * and the file checked. */
static int use_after_close(const char *who, uint64_t *m, size_t words, uint64_t seed, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror("close_all: open");
        return 1;
    }
    static char block[FILE_BYTES];
    memset(block, 'F', sizeof block);
    if (write(fd, block, sizeof block) != (ssize_t)sizeof block) {
        perror("close_all: write");
        return 1;
    }
    int bad = check(who, m, words, seed);
    fill(m, words, seed + 1);
    bad |= check(who, m, words, seed + 1);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != FILE_BYTES) {
        printf("close_all: %s: %s is %lld bytes, wrote %u\n", who, path, (long long)st.st_size, FILE_BYTES);
        return 1;
    }
    if (pread(fd, block, sizeof block, 0) != (ssize_t)sizeof block) {
        perror("close_all: pread");
        return 1;
    }
    for (size_t i = 0; i < sizeof block; i++)
        if (block[i] != 'F') {
            printf("close_all: %s: byte %zu of %s is %#x, wrote 'F'\n", who, i, path, (unsigned char)block[i]);
            return 1;
        }
    close(fd);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: close_all close|closefrom|close_range|dup2|fork MIB FILE\n");
        return 2;
    }
    const char *mode = argv[1];
    size_t bytes = strtoul(argv[2], NULL, 10) << 20;
    size_t words = bytes / sizeof(uint64_t);
    uint64_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("close_all: mmap");
        return 1;
    }
    fill(m, words, 1);
    int bad;
    if (strcmp(mode, "close") == 0) {
        close_every_number();
        bad = use_after_close(mode, m, words, 1, argv[3]);
    } else if (strcmp(mode, "closefrom") == 0) {
        closefrom(3);
        bad = use_after_close(mode, m, words, 1, argv[3]);
    } else if (strcmp(mode, "close_range") == 0) {
        bad = close_range(3, ~0u, 0) != 0;
        if (bad)
            perror("close_all: close_range");
        bad |= use_after_close(mode, m, words, 1, argv[3]);
    } else if (strcmp(mode, "dup2") == 0) {
        int fd = open("/dev/null", O_RDWR);
        for (int n = 0; fd >= 0 && n < 64; n = n ? n + 1 : 3) /* stdout and stderr stay the test's */
            if (n != fd && dup2(fd, n) != n)
                fd = -1;
        bad = fd < 0;
        if (bad)
            perror("close_all: dup2");
        bad |= use_after_close(mode, m, words, 1, argv[3]);
    } else if (strcmp(mode, "fork") == 0) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            perror("close_all: fork");
            return 1;
        }
        if (child == 0) {
            closefrom(3);
            char path[4096];
            snprintf(path, sizeof path, "%s.child", argv[3]);
            _exit(use_after_close("fork: child", m, words, 1, path));
        }
        fill(m, words, 7);
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("close_all: fork: the child ended with status %#x\n", status);
            return 1;
        }
        bad = check("fork: parent", m, words, 7);
    } else {
        fprintf(stderr, "close_all: unknown mode '%s'\n", mode);
        return 2;
    }
    if (!bad)
        printf("close_all: %s: every word and the file as written\n", mode);
    return bad;
}
