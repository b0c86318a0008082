/* Fuzz target: what the memcached tier makes of a server's answers. The
 * tier talks through libmemcached to a scripted server on a unix socket in
 * this process: the server answers each request with the next answer of a
 * script, and after the last one closes the connection, so that nothing
 * waits for a timeout. Every answer is canned but the last, which is the
 * fuzz input after its first byte: the answer to a put's `set`, a get's
 * `get`, a delete's `delete` or a clear's `lru_crawler metadump`, as the
 * first byte (modulo 4) says. Whatever the server says, the tier's
 * calls return 0 or a negative errno with a message, and a page a get
 * returns is one the server sent, whole, in an answer naming that page's
 * key and the generation of its put as the item's flags. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "store_host.h"
#include "tierpage.h"
#include "tierpage_store.h"

#define CHECK(cond) ((cond) ? (void)0 : abort())
#define PAGE 16
#define SCRIPT_MAX 7

static const char VERSION[] = "VERSION 1.6.18\r\n";
static const char STATS[] = "STAT pid 1\r\nSTAT limit_maxbytes 67108864\r\nEND\r\n";
static const char STORED[] = "STORED\r\n";

struct answer {
    const char *data;
    size_t len;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static int connections; /* being served */
static struct answer script[SCRIPT_MAX];
static size_t script_len, script_next;
static char socket_dir[] = "/tmp/tierpage-fuzz-mc.XXXXXX";
static char socket_path[sizeof socket_dir + 8];

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one request: a line, and for a storage command its data block.
 * 1 for a request, 0 when the client is done (EOF or quit). */
static int read_request(int fd)
{
    char line[512];
    size_t len = 0;
    for (;;) {
        char c;
        if (recv(fd, &c, 1, 0) != 1)
            return 0;
        if (len < sizeof line - 1)
            line[len++] = c;
        if (c == '\n')
            break;
    }
    line[len] = '\0';
    if (strncmp(line, "quit", 4) == 0)
        return 0;
    unsigned flags, bytes;
    long exptime;
    char key[256];
    if (sscanf(line, "%*s %255s %u %ld %u", key, &flags, &exptime, &bytes) == 4) {
        for (size_t left = bytes + 2; left > 0;) {
            char buf[256];
            ssize_t n = recv(fd, buf, left < sizeof buf ? left : sizeof buf, 0);
            if (n <= 0)
                return 0;
            left -= (size_t)n;
        }
    }
    return 1;
}

static void serve(int fd)
{
    while (read_request(fd)) {
        pthread_mutex_lock(&lock);
        int have = script_next < script_len;
        struct answer a = have ? script[script_next++] : (struct answer){NULL, 0};
        int last = script_next == script_len;
        pthread_mutex_unlock(&lock);
        if (!have || write_all(fd, a.data, a.len) != 0 || last)
            break;
    }
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

static void *connection(void *arg)
{
    serve((int)(intptr_t)arg);
    pthread_mutex_lock(&lock);
    if (--connections == 0)
        pthread_cond_broadcast(&idle);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* A thread per connection: the tier lists keys on a connection of its
 * own while its libmemcached one stays open. */
static void *server(void *arg)
{
    int listener = *(int *)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        pthread_t t;
        if (fd < 0)
            continue;
        pthread_mutex_lock(&lock);
        connections++;
        pthread_mutex_unlock(&lock);
        if (pthread_create(&t, NULL, connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
            pthread_mutex_lock(&lock);
            connections--;
            pthread_mutex_unlock(&lock);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static void remove_socket(void)
{
    unlink(socket_path);
    rmdir(socket_dir);
}

static void start_server(void)
{
    signal(SIGPIPE, SIG_IGN);
    CHECK(mkdtemp(socket_dir) != NULL);
    snprintf(socket_path, sizeof socket_path, "%s/sock", socket_dir);
    atexit(remove_socket);
    static int listener;
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    CHECK(listener >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(listener, 8) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, server, &listener) == 0);
    pthread_detach(t);
}

static void set_script(const struct answer *answers, size_t count)
{
    pthread_mutex_lock(&lock);
    memcpy(script, answers, count * sizeof *answers);
    script_len = count;
    script_next = 0;
    pthread_mutex_unlock(&lock);
}

/* Whether the answer names page `key` followed by flags that read as
 * `flags` the way the tier reads them (strtoull: "2", "02" and " 2" are
 * all 2). */
static int names_with_flags(const struct answer *a, unsigned long long key, unsigned long long flags)
{
    char named[64];
    size_t n = (size_t)snprintf(named, sizeof named, "tp:fuzz:%016llx ", key);
    const char *end = a->data + a->len;
    for (const char *at = a->data; (at = memmem(at, (size_t)(end - at), named, n)); at++) {
        char field[32];
        size_t len = (size_t)(end - (at + n)) < sizeof field - 1 ? (size_t)(end - (at + n)) : sizeof field - 1;
        memcpy(field, at + n, len);
        field[len] = '\0';
        char *stop;
        if (strtoull(field, &stop, 10) == flags && stop != field && *stop == ' ')
            return 1;
    }
    return 0;
}

static void check_result(int rc, const tierpage_error *err)
{
    CHECK(rc <= 0);
    if (rc == 0)
        return;
    CHECK(err->message[0] != '\0');
    /* A message that quotes an earlier one quotes it once, intact. */
    const char *again = strstr(err->message, "; last failure: ");
    CHECK(!again || strncmp(again + 16, err->message, 20) != 0);
}

/* libmemcached allocates an item's value as large as its VALUE line says,
 * before reading it: a length far beyond the input's (or a negative one,
 * read unsigned) only measures the allocator. */
static int announces_huge_value(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '-' && i + 1 < size && data[i + 1] >= '0' && data[i + 1] <= '9')
            return 1;
        uint64_t n = 0;
        while (i < size && data[i] >= '0' && data[i] <= '9' && n <= (1u << 20))
            n = n * 10 + (uint64_t)(data[i++] - '0');
        if (n > (1u << 20))
            return 1;
    }
    return 0;
}

/* libmemcached 1.1.4 (Debian 12) aborts the process on an assertion
 * (storage.cc:257) when a set or replace is answered by a line that is
 * neither a storage answer nor an error: "OK", "END", "DELETED", "VALUE",
 * a number. No caller can prevent that; those answers are left out. */
static int aborts_libmemcached_set(const uint8_t *data, size_t size)
{
    static const char *const handled[] = {"STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n",
                                          "ERROR", "CLIENT_ERROR", "SERVER_ERROR"};
    if (size == 0)
        return 0; /* the connection closes instead */
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        size_t n = strlen(handled[i]);
        if (size >= n && memcmp(data, handled[i], n) == 0)
            return 0;
    }
    return 1;
}

/* libmemcached 1.1.4 dereferences NULL (a SIGSEGV) reading a "VERSION"
 * line with no version after it, whatever the command it answers. */
static int has_bare_version(const uint8_t *data, size_t size)
{
    for (const uint8_t *p = data; (p = memmem(p, size - (size_t)(p - data), "VERSION", 7)); p += 7)
        if (p + 7 == data + size || p[7] != ' ')
            return 1;
    return 0;
}

/* libmemcached 1.1.4 copies a VALUE line's key (up to a control
 * character or a blank) into a buffer of 251 bytes without checking its
 * length, and corrupts its memory on a longer one. Inputs with a word
 * that long are left out. */
static int has_overlong_word(const uint8_t *data, size_t size)
{
    size_t run = 0;
    for (size_t i = 0; i < size; i++) {
        run = data[i] > ' ' && data[i] != 0x7f ? run + 1 : 0;
        if (run > 250)
            return 1;
    }
    return 0;
}

static void quiet_log(void *arg, int level, const char *tier, const char *message)
{
    (void)arg;
    (void)level;
    (void)tier;
    (void)message;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        start_server();
        started = 1;
    }
    if (size < 1)
        return 0;
    /* TIERPAGE_FUZZ_UNFILTERED=1 lets every answer through, to reproduce
     * the crashes in known-libmemcached/. */
    static int unfiltered = -1;
    if (unfiltered < 0)
        unfiltered = getenv("TIERPAGE_FUZZ_UNFILTERED") != NULL;
    if (!unfiltered && (has_bare_version(data + 1, size - 1) || has_overlong_word(data + 1, size - 1) ||
                        (data[0] % 4 == 0 && aborts_libmemcached_set(data + 1, size - 1)) ||
                        (data[0] % 4 == 1 && announces_huge_value(data + 1, size - 1))))
        return 0;
    const struct answer fuzzed = {(const char *)data + 1, size - 1};
    const struct answer version = {VERSION, sizeof VERSION - 1}, stats = {STATS, sizeof STATS - 1},
                        stored = {STORED, sizeof STORED - 1};
    /* Open asks for the version and the stats, then adds the lease. The
     * answers at open are not fuzzed: the lease's add follows on the same
     * connection, and libmemcached aborts on an add that reads what a
     * stats answer left over (see aborts_libmemcached_set). */
    struct answer answers[SCRIPT_MAX];
    size_t count = 0;
    int op = data[0] % 4;
    answers[count++] = version;
    answers[count++] = stats;
    answers[count++] = stored;
    if (op == 1)
        answers[count++] = stored;
    if (op == 1 || op == 2)
        answers[count++] = stored;
    answers[count++] = fuzzed;
    set_script(answers, count);

    const tierpage_store_ops *ops = tierpage_store_entry();
    /* A lease renewed once an hour: the renewing thread never talks. */
    const tierpage_store_option options[] = {
        {"servers", socket_path}, {"io_timeout_ms", "2000"}, {"lease_ms", "3600000"}};
    /* The host the core hands a store: the tier refuses to open without
     * its option parsers. Its log is left out of the fuzzer's output. */
    static struct tp_store_host host;
    tp_set_store_log(quiet_log, NULL);
    const tierpage_store_params params = {.namespace_name = "fuzz", .page_size = PAGE, .options = options,
                                          .option_count = 3, .host = tp_store_host_init(&host, "memcached")};
    tierpage_error err = {{0}, {0}};
    void *store = NULL;
    int rc = ops->open(&params, &store, &err);
    check_result(rc, &err);
    if (rc == 0) {
        uint8_t page[PAGE];
        memset(page, 0xab, sizeof page);
        const void *put_pages[1] = {page};
        uint64_t keys[3] = {1, 2, 3};
        int results[3];
        if (op == 0) {
            check_result(ops->put_batch(store, 1, keys, put_pages, results, &err), &err);
        } else if (op == 1) {
            check_result(ops->put(store, 1, page, &err), &err);
            check_result(ops->put(store, 2, page, &err), &err);
            uint8_t got[3][PAGE];
            void *pages[3] = {got[0], got[1], got[2]};
            check_result(ops->get_batch(store, 3, keys, pages, results, &err), &err);
            for (int i = 0; i < 3; i++) {
                check_result(results[i], &err);
                if (results[i] != 0)
                    continue;
                /* The key, then the flags of its put: pages 1 and 2 are
                 * this store's first two puts, generations 1 and 2. */
                CHECK(names_with_flags(&fuzzed, keys[i], (unsigned long long)i + 1));
                CHECK(memmem(fuzzed.data, fuzzed.len, got[i], PAGE));
            }
        } else if (op == 2) {
            check_result(ops->put(store, 1, page, &err), &err);
            check_result(ops->del(store, 1, &err), &err);
        } else {
            check_result(ops->clear(store, &err), &err);
        }
        tierpage_store_usage usage;
        check_result(ops->usage(store, &usage, &err), &err);
        ops->close(store);
    }
    /* The tier has closed its connections: once the server has seen them
     * go, nothing of this input is in use. */
    pthread_mutex_lock(&lock);
    script_len = script_next;
    while (connections > 0)
        pthread_cond_wait(&idle, &lock);
    pthread_mutex_unlock(&lock);
    return 0;
}
