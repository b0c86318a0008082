/* The daemon's metrics in the Prometheus text exposition format (version
 * 0.0.4): one family per line group, # HELP and # TYPE first, labels vm and
 * tier, the fault latency as a histogram. The names are listed in
 * README.md ("Metrics"). */
#ifndef TIERPAGED_METRICS_TEXT_H
#define TIERPAGED_METRICS_TEXT_H

#include <stdio.h>

#include "connection.h"

/* Write every VM's metrics to out. Takes each stack's lock briefly, one
 * at a time (as `tierpage stats` does). */
void tpd_metrics_write(FILE *out, struct tpd_daemon *d);

#endif
