/* The command line of tierpage-memserver. */
#ifndef MS_OPTIONS_H
#define MS_OPTIONS_H

#include <stdio.h>

#include "memserver.h"

void ms_usage(FILE *out);
/* 0 when the server should run, 1 after --help, 2 on a usage error (reported). */
int ms_parse_options(int argc, char **argv, struct ms_options *opt);

#endif
