#include "fatal.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "tierpage.h"

void tp_fatal(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tierpage: fatal: %s; stopping the program rather than let it see wrong data\n", why);
    fflush(stderr);
    _exit(TP_EXIT_PAGER_FAILURE);
}
