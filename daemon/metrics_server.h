/* The metrics endpoint: a small HTTP/1.x server on a thread of its own that
 * answers GET /metrics with tpd_metrics_write's text. It never touches a
 * fault: a slow or malformed client costs the metrics thread a socket, not
 * a handler any time. */
#ifndef TIERPAGED_METRICS_SERVER_H
#define TIERPAGED_METRICS_SERVER_H

#include <stddef.h>

#include "connection.h"
#include "listen_address.h"

struct tpd_metrics;

/* Listen on addr and start serving. 0, or -1 with the reason in why. */
int tpd_metrics_start(struct tpd_daemon *d, const struct tpd_address *addr, struct tpd_metrics **out, char *why,
                      size_t why_len);
/* Close every HTTP connection and stop the thread; frees m (NULL is fine). */
void tpd_metrics_stop(struct tpd_metrics *m);

#endif
