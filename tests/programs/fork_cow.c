/* fork under tierpage run: parent and child each see the served memory as
 * it was at the fork and then only their own writes, whatever tier a page
 * was in. Every 8-byte word is checked.
 *
 *   fork_cow MiB basic|nested|threads|exec|many
 *   fork_cow MiB serve     (what `exec` runs in its children)
 *   fork_cow MiB outlive DIR
 *   fork_cow MiB watched DIR kill|exec|check
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_checks.h"

extern char **environ;

static size_t len;

static uint64_t word(unsigned seed, size_t i)
{
    uint64_t x = ((uint64_t)seed << 40) ^ (i * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    return x * 0xbf58476d1ce4e5b9ull;
}

static void scribble(uint64_t *m, size_t bytes, unsigned seed)
{
    for (size_t i = 0; i < bytes / 8; i++)
        m[i] = word(seed, i);
}

/* Index of the first word not as scribble() left it; SIZE_MAX when none. */
static size_t bad_word(const uint64_t *m, size_t bytes, unsigned seed)
{
    for (size_t i = 0; i < bytes / 8; i++)
        if (m[i] != word(seed, i))
            return i;
    return SIZE_MAX;
}

static void *served(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

static int wait_ok(pid_t pid, const char *who)
{
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        CHECK(0, "waitpid %s", who);
        return 0;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s ended with status 0x%x", who, st);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void pipe_or_die(int fds[2])
{
    if (pipe(fds) < 0) {
        perror("pipe");
        exit(2);
    }
}

static void signal_fd(int fd)
{
    char c = 1;
    if (write(fd, &c, 1) != 1)
        exit(3);
}

/* 0 when the other side ended without a word. */
static int wait_fd(int fd)
{
    char c;
    return read(fd, &c, 1) == 1;
}

/* The permissions /proc/self/maps shows at addr ("r--s" ...), or "". */
static void perms_at(const void *addr, char out[5])
{
    char line[512];
    out[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= (unsigned long)addr &&
            (unsigned long)addr < hi)
            memcpy(out, perms, 5);
    }
    if (f)
        fclose(f);
}

/* Each side writes everything before the other reads: the child reads
 * after the parent has overwritten every page, and the parent after the
 * child has. Half the memory is a mapping, half a malloc'd block. */
static void basic(void)
{
    uint64_t *a = served(len / 2), *b = malloc(len / 2);
    scribble(a, len / 2, 1);
    scribble(b, len / 2, 2);
    /* A read-only page and a guard page keep their protection in the child. */
    char *guarded = served(2 * MiB);
    memset(guarded, 5, 2 * MiB);
    CHECK(mprotect(guarded, PAGE, PROT_READ) == 0 && mprotect(guarded + 2 * MiB - PAGE, PAGE, PROT_NONE) == 0,
          "mprotect");
    int to_child[2], to_parent[2];
    pipe_or_die(to_child);
    pipe_or_die(to_parent);
    pid_t pid = fork();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        if (!wait_fd(to_child[0]))
            _exit(3);
        if (bad_word(a, len / 2, 1) != SIZE_MAX || bad_word(b, len / 2, 2) != SIZE_MAX) {
            fprintf(stderr, "FAIL child: memory as at the fork (words %zu, %zu)\n", bad_word(a, len / 2, 1),
                   bad_word(b, len / 2, 2));
            _exit(1);
        }
        char ro[5], none[5];
        perms_at(guarded, ro);
        perms_at(guarded + 2 * MiB - PAGE, none);
        if (strncmp(ro, "r-", 2) != 0 || strncmp(none, "--", 2) != 0 || guarded[PAGE] != 5 ||
            guarded[2 * MiB - PAGE - 1] != 5) {
            fprintf(stderr, "FAIL child: protections '%s' and '%s' of a read-only and a guard page\n", ro, none);
            _exit(1);
        }
        scribble(a, len / 2, 11);
        scribble(b, len / 2, 12);
        int ok = bad_word(a, len / 2, 11) == SIZE_MAX && bad_word(b, len / 2, 12) == SIZE_MAX;
        signal_fd(to_parent[1]);
        if (!ok)
            fprintf(stderr, "FAIL child: its own writes\n");
        _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0, "fork");
    close(to_child[0]);
    close(to_parent[1]);
    scribble(a, len / 2, 21);
    scribble(b, len / 2, 22);
    CHECK(bad_word(a, len / 2, 21) == SIZE_MAX && bad_word(b, len / 2, 22) == SIZE_MAX, "parent: its own writes");
    signal_fd(to_child[1]);
    CHECK(wait_fd(to_parent[0]), "the child wrote its memory");
    close(to_child[1]);
    close(to_parent[0]);
    CHECK(bad_word(a, len / 2, 21) == SIZE_MAX, "parent: its writes after the child wrote (word %zu)",
          bad_word(a, len / 2, 21));
    CHECK(bad_word(b, len / 2, 22) == SIZE_MAX, "parent: its malloc'd block after the child wrote");
    wait_ok(pid, "child");
    CHECK(bad_word(a, len / 2, 21) == SIZE_MAX && bad_word(b, len / 2, 22) == SIZE_MAX,
          "parent: its writes after the child exited");
    munmap(a, len / 2);
    free(b);
}

/* A child that forks in turn: three generations, each with its own view. */
static void nested(void)
{
    uint64_t *m = served(len);
    scribble(m, len, 1);
    pid_t child = fork();
    if (child == 0) {
        int ok = bad_word(m, len, 1) == SIZE_MAX;
        scribble(m, len / 2, 2); /* first half changed, second as at the first fork */
        pid_t grandchild = fork();
        if (grandchild == 0) {
            ok = ok && bad_word(m, len / 2, 2) == SIZE_MAX;
            size_t half = len / 2 / 8;
            for (size_t i = 0; i < half; i++)
                ok = ok && m[half + i] == word(1, half + i);
            scribble(m, len, 3);
            ok = ok && bad_word(m, len, 3) == SIZE_MAX;
            if (!ok)
                fprintf(stderr, "FAIL grandchild: memory as at its fork, or its own writes\n");
            _exit(ok ? 0 : 1);
        }
        int st = -1;
        ok = ok && grandchild > 0 && waitpid(grandchild, &st, 0) == grandchild && WIFEXITED(st) &&
             WEXITSTATUS(st) == 0;
        ok = ok && bad_word(m, len / 2, 2) == SIZE_MAX;
        size_t half = len / 2 / 8;
        for (size_t i = 0; i < half; i++)
            ok = ok && m[half + i] == word(1, half + i);
        if (!ok)
            fprintf(stderr, "FAIL child: grandchild status 0x%x, or its memory after the grandchild wrote\n", st);
        _exit(ok ? 0 : 1);
    }
    CHECK(child > 0, "fork");
    wait_ok(child, "child that forked");
    CHECK(bad_word(m, len, 1) == SIZE_MAX, "parent: memory after its child and grandchild wrote (word %zu)",
          bad_word(m, len, 1));
    munmap(m, len);
}

/* fork from a program whose other threads fault all along: each child
 * sees the memory nobody writes as it was, and can write its own copy. */
struct worker {
    pthread_t thread;
    uint64_t *mine;
    size_t bytes;
    const uint64_t *shared;
    volatile int *stop;
    int failed;
    unsigned passes; /* completed */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (unsigned pass = 100; !*w->stop; pass++) {
        scribble(w->mine, w->bytes, pass);
        if (bad_word(w->mine, w->bytes, pass) != SIZE_MAX || bad_word(w->shared, len / 2, 7) != SIZE_MAX)
            w->failed = 1;
        __atomic_add_fetch(&w->passes, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void threads(void)
{
    uint64_t *shared = served(len / 2);
    scribble(shared, len / 2, 7);
    volatile int stop = 0;
    struct worker w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct worker){.mine = served(len / 8), .bytes = len / 8, .shared = shared, .stop = &stop};
        pthread_create(&w[i].thread, NULL, work, &w[i]);
    }
    /* Every page of theirs written once before the first fork. */
    for (int i = 0; i < 3; i++)
        while (!__atomic_load_n(&w[i].passes, __ATOMIC_ACQUIRE))
            usleep(1000);
    /* Each round forks while the workers fault; more rounds would only
     * repeat the same check. */
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            size_t bad = bad_word(shared, len / 2, 7);
            if (bad != SIZE_MAX)
                fprintf(stderr, "FAIL child %d: word %zu of memory nobody writes: %#llx, not %#llx\n", round, bad,
                        (unsigned long long)shared[bad], (unsigned long long)word(7, bad));
            scribble(shared, len / 2, 50 + (unsigned)round);
            int ok = bad == SIZE_MAX && bad_word(shared, len / 2, 50 + (unsigned)round) == SIZE_MAX;
            /* The workers' memory is there too: each page begins as some pass wrote it. */
            for (int i = 0; i < 3; i++) {
                for (size_t pg = 0; pg < w[i].bytes / PAGE; pg++) {
                    const uint64_t *p = w[i].mine + pg * PAGE / 8;
                    unsigned pass = 0;
                    for (unsigned q = 100; q < 100000 && !pass; q++)
                        if (p[0] == word(q, pg * PAGE / 8))
                            pass = q;
                    ok = ok && pass;
                }
                scribble(w[i].mine, w[i].bytes, 9);
                ok = ok && bad_word(w[i].mine, w[i].bytes, 9) == SIZE_MAX;
            }
            if (!ok)
                fprintf(stderr, "FAIL child %d of a threaded parent\n", round);
            _exit(ok ? 0 : 1);
        }
        CHECK(pid > 0, "fork");
        wait_ok(pid, "child of a threaded parent");
    }
    stop = 1;
    for (int i = 0; i < 3; i++) {
        pthread_join(w[i].thread, NULL);
        CHECK(!w[i].failed, "worker %d saw its memory change", i);
    }
    CHECK(bad_word(shared, len / 2, 7) == SIZE_MAX, "parent: memory its children wrote");
}

/* A program a child execs: its own served memory, written and read back
 * twice (the second pass reads what the first evicted). */
static int serve_alone(void)
{
    uint64_t *m = served(len);
    scribble(m, len, 9);
    size_t bad = bad_word(m, len, 9);
    if (bad == SIZE_MAX)
        bad = bad_word(m, len, 9);
    if (bad != SIZE_MAX)
        fprintf(stderr, "FAIL exec'd program: word %zu of its own memory\n", bad);
    return bad == SIZE_MAX ? 0 : 1;
}

/* Children that exec, by fork, vfork and posix_spawn: a shell, and this
 * program serving memory of its own while the parent holds its stack. */
static void exec_children(void)
{
    uint64_t *m = served(len);
    scribble(m, len, 4);
    char mib[32];
    snprintf(mib, sizeof mib, "%zu", len / MiB);
    char *serve_argv[] = {"fork_cow", mib, "serve", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        m[12345] = 1; /* served memory here until the exec */
        execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
        _exit(99);
    }
    int st;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 3, "fork + exec");
    pid = fork();
    if (pid == 0) {
        m[12345] = 2;
        execv("/proc/self/exe", serve_argv);
        _exit(99);
    }
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "fork + exec of a program that serves memory: status 0x%x", st);
    pid = vfork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(99);
    }
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork + exec");
    pid = vfork();
    if (pid == 0) {
        execv("/proc/self/exe", serve_argv);
        _exit(99);
    }
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "vfork + exec of a program that serves memory: status 0x%x", st);
    char *argv[] = {"true", NULL};
    CHECK(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0 && waitpid(pid, &st, 0) == pid &&
              WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "posix_spawn");
    CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, serve_argv, environ) == 0 && waitpid(pid, &st, 0) == pid &&
              WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "posix_spawn of a program that serves memory: status 0x%x", st);
    CHECK(bad_word(m, len, 4) == SIZE_MAX, "parent: memory after children that exec");
    munmap(m, len);
}

/* Many short-lived children, each of a parent that changed the memory
 * since the last one: each sees its own generation (sampled pages).
 * GENERATIONS: each seventh of the pages is rewritten at least twice. */
#define GENERATIONS 20u
static void many(void)
{
    uint64_t *m = served(len);
    size_t pages = len / PAGE;
    for (unsigned gen = 0; gen < GENERATIONS; gen++) {
        for (size_t pg = gen % 7; pg < pages; pg += 7) /* a seventh of the pages change each time */
            for (size_t i = 0; i < PAGE / 8; i++)
                m[pg * PAGE / 8 + i] = word(gen, pg * PAGE / 8 + i);
        pid_t pid = fork();
        if (pid == 0) {
            int ok = 1;
            for (size_t k = 0; k < 300; k++) {
                size_t pg = (k * 7919 + gen * 104729) % pages;
                unsigned want = gen - (unsigned)((gen + 7 - pg % 7) % 7); /* the generation that last wrote it */
                const uint64_t *p = m + pg * PAGE / 8;
                if (gen < pg % 7)
                    want = UINT32_MAX;
                for (size_t i = 0; i < PAGE / 8; i++)
                    ok = ok && (want == UINT32_MAX ? p[i] == 0 : p[i] == word(want, pg * PAGE / 8 + i));
                m[pg * PAGE / 8] = 0xdead; /* the child's own write */
            }
            _exit(ok ? 0 : 1);
        }
        CHECK(pid > 0, "fork");
        if (gen % 2 == 0 && !wait_ok(pid, "short-lived child"))
            break;
        if (gen % 2 == 1)
            wait_ok(pid, "short-lived child");
    }
    for (size_t pg = 0; pg < pages; pg++) {
        unsigned last = GENERATIONS - 1 - (unsigned)((GENERATIONS - 1 + 7 - pg % 7) % 7);
        CHECK(m[pg * PAGE / 8] == word(last, pg * PAGE / 8) && m[pg * PAGE / 8 + 511] == word(last, pg * PAGE / 8 + 511),
              "parent: page %zu after the children", pg);
        if (failures > 5)
            break;
    }
    munmap(m, len);
}

/* A child that outlives its parent: the parent exits at once; the child
 * waits until the test writes to DIR/go (it checks meanwhile that the
 * child holds nothing of the parent's stores, such as the pmem file's
 * lock), then checks its memory and writes DIR/result. */
static int outlive(const char *dir)
{
    uint64_t *m = served(len);
    scribble(m, len, 5);
    pid_t pid = fork();
    if (pid != 0)
        return pid > 0 ? 0 : 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/go", dir);
    FILE *go = fopen(path, "r"); /* blocks until the test opens it to write */
    int ok = go && fgetc(go) != EOF && bad_word(m, len, 5) == SIZE_MAX;
    scribble(m, len, 6);
    ok = ok && bad_word(m, len, 6) == SIZE_MAX;
    snprintf(path, sizeof path, "%s/result", dir);
    FILE *out = fopen(path, "w");
    if (out) {
        fputs(ok ? "ok\n" : "bad\n", out);
        fclose(out);
    }
    _exit(ok ? 0 : 1);
}

/* Blocks until the test opens DIR/NAME (a fifo) to write, and reads its
 * line; 0 when it could not. */
static int wait_for_test(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    int ok = f && fgetc(f) != EOF;
    if (f)
        fclose(f);
    return ok;
}

static void tell_test(const char *dir, const char *name, long value)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", value) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror(path);
        exit(2);
    }
}

/* A child whose pages the test watches on the servers: the parent writes
 * its memory and says DIR/parent, forks when the test writes DIR/fork;
 * the child writes its own copy, says DIR/child (its pid) and then waits
 * to be killed (`kill`), or execs a process that waits to be killed when
 * the test writes DIR/exec (`exec`), or checks its memory again when the
 * test writes DIR/check, says DIR/checked (0 when every word is intact)
 * and waits to be killed (`check`). The parent waits for it, says
 * DIR/reaped (0 when the wait saw it killed), waits for DIR/go and checks
 * its memory. */
static int watched(const char *dir, const char *how)
{
    uint64_t *m = served(len);
    scribble(m, len, 5);
    tell_test(dir, "parent", (long)getpid());
    if (!wait_for_test(dir, "fork"))
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        int ok = bad_word(m, len, 5) == SIZE_MAX;
        scribble(m, len, 6);
        ok = ok && bad_word(m, len, 6) == SIZE_MAX;
        if (!ok) {
            fprintf(stderr, "FAIL watched child: memory as at the fork, or its own writes\n");
            _exit(1);
        }
        tell_test(dir, "child", (long)getpid());
        if (strcmp(how, "exec") == 0) {
            if (!wait_for_test(dir, "exec"))
                _exit(2);
            execl("/bin/sleep", "sleep", "600", (char *)NULL);
            _exit(99);
        }
        if (strcmp(how, "check") == 0) {
            if (!wait_for_test(dir, "check"))
                _exit(2);
            tell_test(dir, "checked", bad_word(m, len, 6) != SIZE_MAX);
        }
        for (;;)
            pause();
    }
    CHECK(pid > 0, "fork");
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
          "the watched child was killed with SIGKILL");
    tell_test(dir, "reaped", failures);
    if (!wait_for_test(dir, "go"))
        return 2;
    CHECK(bad_word(m, len, 5) == SIZE_MAX, "parent: its memory after the watched child (word %zu)",
          bad_word(m, len, 5));
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[2], "outlive") == 0) {
        len = (size_t)atoi(argv[1]) * MiB;
        return outlive(argv[3]);
    }
    if (argc == 5 && strcmp(argv[2], "watched") == 0) {
        len = (size_t)atoi(argv[1]) * MiB;
        return watched(argv[3], argv[4]);
    }
    if (argc != 3) {
        fprintf(stderr, "usage: fork_cow MiB basic|nested|threads|exec|many|serve, fork_cow MiB outlive DIR, or "
                        "fork_cow MiB watched DIR kill|exec|check\n");
        return 2;
    }
    len = (size_t)atoi(argv[1]) * MiB;
    const char *what = argv[2];
    if (strcmp(what, "basic") == 0)
        basic();
    else if (strcmp(what, "nested") == 0)
        nested();
    else if (strcmp(what, "threads") == 0)
        threads();
    else if (strcmp(what, "exec") == 0)
        exec_children();
    else if (strcmp(what, "serve") == 0)
        return serve_alone();
    else if (strcmp(what, "many") == 0)
        many();
    else {
        fprintf(stderr, "fork_cow: unknown test '%s'\n", what);
        return 2;
    }
    if (failures) {
        printf("fork_cow %s: %d checks failed\n", what, failures);
        return 1;
    }
    printf("fork_cow %s: all checks passed\n", what);
    return 0;
}
