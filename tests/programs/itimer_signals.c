/* Run under `tierpage run` with a small resident cap: a 200 µs interval
 * timer whose SIGALRM handler reads and writes served memory while the
 * program sweeps it. Process-directed signals may be delivered to any
 * thread that does not block them, the pager's own included; this must
 * finish, with every page as last written. Exits 0 when all checks pass. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PAGE 4096u
#define PAGES 8192u /* 32 MiB */

static unsigned char *data;
static volatile sig_atomic_t ticks, touches;
static volatile uint32_t handler_page = 1;
/* Pages the sweep has written so far, and where the handler last saw it. */
static volatile uint32_t sweep_progress;
static uint32_t progress_seen = ~0u;
/* Pages the handler wrote last, and what: checked at the end. */
static uint32_t handler_seq[PAGES];

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
    /* A handler whose faults take longer than the interval finds the next
     * tick pending when it returns: on a slow tier or a loaded machine the
     * sweep would then never move. It touches memory only once the sweep
     * has moved since its last touch. */
    if (sweep_progress == progress_seen)
        return;
    progress_seen = sweep_progress;
    uint32_t p = handler_page;
    handler_page = (p * 2654435761u + 7) % PAGES;
    /* Read a page the sweep wrote, then write one of the handler's own. */
    volatile unsigned char c = data[(size_t)handler_page * PAGE];
    (void)c;
    uint32_t seq = ++handler_seq[p];
    memcpy(data + (size_t)p * PAGE + PAGE - sizeof seq, &seq, sizeof seq);
    touches++;
}

/* This program starts no thread: every other one is the pager's, and must
 * block SIGALRM. Returns how many do not. */
static int pager_threads_open_to_sigalrm(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int open_ones = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long tid = atol(e->d_name);
        if (tid <= 0 || tid == (long)getpid())
            continue;
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
        FILE *f = fopen(path, "r");
        unsigned long long blocked = 0;
        while (f && fgets(line, sizeof line, f))
            sscanf(line, "SigBlk: %llx", &blocked);
        if (f)
            fclose(f);
        if (f && !(blocked & (1ull << (SIGALRM - 1)))) {
            printf("FAIL thread %ld does not block SIGALRM (SigBlk %llx)\n", tid, blocked);
            open_ones++;
        }
    }
    closedir(d);
    return open_ones;
}

int main(void)
{
    data = malloc((size_t)PAGES * PAGE);
    if (!data) {
        printf("itimer_signals: malloc failed\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_interval = {0, 200}, .it_value = {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);

    const int rounds = 6;
    for (int r = 0; r < rounds; r++)
        for (uint32_t p = 0; p < PAGES; p++) {
            data[(size_t)p * PAGE] = (unsigned char)(p * 31 + r);
            sweep_progress++;
        }

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);

    int failures = 0;
    for (uint32_t p = 0; p < PAGES; p++) {
        uint32_t seq;
        memcpy(&seq, data + (size_t)p * PAGE + PAGE - sizeof seq, sizeof seq);
        if (data[(size_t)p * PAGE] != (unsigned char)(p * 31 + rounds - 1) || seq != handler_seq[p]) {
            if (failures++ < 5)
                printf("FAIL page %u: byte %u, handler count %u (expected %u)\n", p, data[(size_t)p * PAGE], seq,
                       handler_seq[p]);
        }
    }
    failures += pager_threads_open_to_sigalrm();
    if (ticks < 10 || touches < 10) {
        printf("FAIL only %d timer signals arrived, %d touched memory\n", (int)ticks, (int)touches);
        failures++;
    }
    if (failures) {
        printf("itimer_signals: %d checks failed\n", failures);
        return 1;
    }
    printf("itimer_signals: %d signals handled, all pages checked; %d touched memory\n", (int)ticks, (int)touches);
    return 0;
}
