/* One line per event on stderr, with the time since the server started. */
#ifndef MS_LOG_H
#define MS_LOG_H

__attribute__((format(printf, 1, 2))) void ms_log(const char *fmt, ...);

#endif
