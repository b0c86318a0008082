/* Run under `tierpage run` with a small resident cap: a 200 µs interval
 * timer whose SIGALRM handler reads and writes served memory while the
 * program sweeps it. Process-directed signals may be delivered to any
 * thread that does not block them, the pager's own included; this must
 * finish, with every page as last written. Exits 0 when all checks pass. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define PAGE 4096u
#define PAGES 8192u /* 32 MiB */

static unsigned char *data;
static volatile sig_atomic_t ticks;
static volatile uint32_t handler_page = 1;
/* Pages the handler wrote last, and what: checked at the end. */
static uint32_t handler_seq[PAGES];

static void on_alarm(int sig)
{
    (void)sig;
    uint32_t p = handler_page;
    handler_page = (p * 2654435761u + 7) % PAGES;
    /* Read a page the sweep wrote, then write one of the handler's own. */
    volatile unsigned char c = data[(size_t)handler_page * PAGE];
    (void)c;
    uint32_t seq = ++handler_seq[p];
    memcpy(data + (size_t)p * PAGE + PAGE - sizeof seq, &seq, sizeof seq);
    ticks++;
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
        for (uint32_t p = 0; p < PAGES; p++)
            data[(size_t)p * PAGE] = (unsigned char)(p * 31 + r);

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
    if (ticks < 10) {
        printf("FAIL only %d timer signals arrived\n", (int)ticks);
        failures++;
    }
    if (failures) {
        printf("itimer_signals: %d checks failed\n", failures);
        return 1;
    }
    printf("itimer_signals: %d signals handled, all pages checked\n", (int)ticks);
    return 0;
}
