#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tierpage_store.h"

static int to_journal;

void tpd_log_init(void)
{
    /* JOURNAL_STREAM is inherited by children whose stderr may have been
     * sent elsewhere: trust it only when it names our stderr. */
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                 (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* syslog(3) priorities, as sd-daemon(3) prefixes them. */
static int priority_of(const char *level)
{
    if (strcmp(level, "error") == 0)
        return 3;
    if (strcmp(level, "warning") == 0)
        return 4;
    if (strcmp(level, "info") == 0)
        return 6;
    return 7;
}

void tpd_log(const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line, so that lines of several threads never mix. */
    if (to_journal) {
        fprintf(stderr, "<%d>%s\n", priority_of(level), line);
        return;
    }
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "tierpaged: %s %s: %s\n", when, level, line);
}

void tpd_log_store(void *arg, int level, const char *tier, const char *message)
{
    (void)arg;
    static const char *const levels[] = {"error", "warning", "info", "debug"};
    tpd_log(level >= TIERPAGE_LOG_ERROR && level <= TIERPAGE_LOG_DEBUG ? levels[level] : "info", "tier %s: %s", tier,
            message);
}
