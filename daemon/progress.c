#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ticker.h"
#include "wire.h"

struct tpd_progress {
    int sock;
    char what[160];
    tpd_progress_count count;
    void *arg;
    uint64_t last; /* the count last sent (or at the start); the ticker's thread alone touches it */
    struct tpd_ticker *ticker;
};

static void progress_tick(void *arg)
{
    struct tpd_progress *p = arg;
    uint64_t now = p->count(p->arg);
    /* A PROGRESS the operator's socket has no room for is dropped: the
     * next one that gets through says the same. */
    if (now != p->last &&
        tpd_send_progress(p->sock, now, "%s: %llu so far", p->what, (unsigned long long)now) != -EAGAIN)
        p->last = now;
}

struct tpd_progress *tpd_progress_start(int sock, const char *what, tpd_progress_count count, void *arg)
{
    struct tpd_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->sock = sock;
    snprintf(p->what, sizeof p->what, "%s", what);
    p->count = count;
    p->arg = arg;
    p->last = count(arg);
    int error;
    p->ticker = tpd_ticker_start(TPD_PROGRESS_INTERVAL_MS, progress_tick, p, &error);
    if (!p->ticker) {
        tpd_log("warning", "%s: cannot start a thread to report its progress: %s; the operator's command may give "
                "up before it ends", what, strerror(error));
        free(p);
        return NULL;
    }
    return p;
}

void tpd_progress_stop(struct tpd_progress *p)
{
    if (!p)
        return;
    tpd_ticker_stop(p->ticker);
    free(p);
}
