#include "ms_options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "option_value.h"
#include "units.h"

#define MS_DEFAULT_POOL (1ull << 30)
#define MS_DEFAULT_SLAB (16ull << 20)

void ms_usage(FILE *out)
{
    fputs("usage: tierpage-memserver [--listen ADDR] [--port PORT] [--pool SIZE] [--slab SIZE]\n"
          "                          [--quota SIZE] [--grace SECONDS] [--key-file PATH] [--help]\n"
          "\n"
          "Serves a pool of this machine's memory to tierpage's rdma tier. Clients take\n"
          "the pool a slab at a time and read and write their pages in it with one-sided\n"
          "RDMA; this process only answers their requests for slabs.\n"
          "\n"
          "  --listen ADDR    address to listen on (default 0.0.0.0: every RDMA device)\n"
          "  --port PORT      rdma_cm port (default 7471)\n"
          "  --pool SIZE      memory to serve, e.g. 8GiB (default 1GiB); a slab is\n"
          "                   pinned only while a client holds it\n"
          "  --slab SIZE      the unit handed to clients, a multiple of 4KiB (default 16MiB)\n"
          "  --quota SIZE     most memory one namespace may hold (default: no limit)\n"
          "  --grace SECONDS  keep a disconnected client's slabs this long for it to\n"
          "                   reconnect (default 0: free them at once)\n"
          "  --key-file PATH  serve only clients that prove they hold this file's key\n"
          "                   (the rdma tier's key_file:); 16 to 4096 bytes, mode 0600.\n"
          "                   Without it, any client that reaches the port is served\n"
          "  --help           show this text\n"
          "\n"
          "Logs one line per client event on stderr. SIGTERM or SIGINT stops it cleanly.\n",
          out);
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "tierpage-memserver: %s, got '%s'\n", what, value ? value : "");
    fputs("try 'tierpage-memserver --help'\n", stderr);
    return 2;
}

static int parse_uint(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (tp_parse_uint(text, &v) != 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int ms_parse_options(int argc, char **argv, struct ms_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->listen = "0.0.0.0";
    opt->port = TPM_DEFAULT_PORT;
    opt->pool_bytes = MS_DEFAULT_POOL;
    opt->slab_bytes = MS_DEFAULT_SLAB;
    for (int i = 1; i < argc; i++) {
        const char *v;
        uint64_t n;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ms_usage(stdout);
            return 1;
        } else if (tp_option_value(argc, argv, &i, "--listen", &v)) {
            if (!v || !*v)
                return bad("--listen: expected an address", v);
            opt->listen = v;
        } else if (tp_option_value(argc, argv, &i, "--port", &v)) {
            if (parse_uint(v, 65535, &n) || n == 0)
                return bad("--port: expected a port from 1 to 65535", v);
            opt->port = (uint16_t)n;
        } else if (tp_option_value(argc, argv, &i, "--pool", &v)) {
            if (!v || tp_parse_size(v, &opt->pool_bytes) || opt->pool_bytes < 4096)
                return bad("--pool: expected a size of at least 4KiB such as 8GiB", v);
        } else if (tp_option_value(argc, argv, &i, "--slab", &v)) {
            if (!v || tp_parse_size(v, &opt->slab_bytes) || opt->slab_bytes == 0 || opt->slab_bytes % 4096)
                return bad("--slab: expected a multiple of 4KiB such as 16MiB", v);
        } else if (tp_option_value(argc, argv, &i, "--quota", &v)) {
            if (!v || tp_parse_size(v, &opt->quota_bytes))
                return bad("--quota: expected a size such as 4GiB", v);
        } else if (tp_option_value(argc, argv, &i, "--key-file", &v)) {
            if (!v || !*v)
                return bad("--key-file: expected the path of a key file", v);
            opt->key_file = v;
        } else if (tp_option_value(argc, argv, &i, "--grace", &v)) {
            if (parse_uint(v, 86400, &n))
                return bad("--grace: expected seconds from 0 to 86400", v);
            opt->grace_seconds = (unsigned)n;
        } else {
            return bad("unknown argument", argv[i]);
        }
    }
    if (opt->slab_bytes > opt->pool_bytes) {
        fprintf(stderr, "tierpage-memserver: --slab: a slab of %llu bytes is larger than the pool of %llu bytes\n",
                (unsigned long long)opt->slab_bytes, (unsigned long long)opt->pool_bytes);
        return 2;
    }
    return 0;
}
