/* tierpage-uffd-floor: the cost of the least a userfaultfd pager can do.
 *
 * One handler thread, MISSING mode, UFFDIO_COPY of a prepared 4 KiB page per
 * fault; the main thread touches --pages pages once each and times every
 * fault. The kernel's own first-touch fault on the same kind of memory is
 * timed beside it. tierpage's fault service is judged against this floor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"
#include "uffd_floor_core.h"

static void usage(FILE *out)
{
    fprintf(out,
"usage: tierpage-uffd-floor [--pages N] [--same-cpu | --cross-cpu] [--shmem]\n"
"                           [--wait read|poll|spin] [--json]\n"
"\n"
"Times the first touch of N pages (a write to each) served by a minimal\n"
"userfaultfd handler: one thread, MISSING mode, UFFDIO_COPY of one 4 KiB\n"
"page per fault. The kernel's own first-touch fault on the same memory\n"
"without userfaultfd is timed too. Prints p50, p99 and mean in microseconds.\n"
"Needs userfaultfd (root, or vm.unprivileged_userfaultfd=1).\n"
"\n"
"  --pages N     timed faults (default 4096)\n"
"  --same-cpu    pin the faulting and the handler thread both to CPU 0\n"
"  --cross-cpu   pin the faulting thread to CPU 0 and the handler to CPU 1\n"
"                (default: neither pinned)\n"
"  --shmem       a memfd mapped MAP_SHARED (userfaultfd's shmem MISSING mode,\n"
"                as tierpage serves memfd-backed regions); default a private\n"
"                anonymous mapping\n"
"  --wait W      how the handler waits: read (blocking read, default), poll\n"
"                (poll then read) or spin (busy non-blocking reads)\n"
"  --json        one JSON line on stdout instead of the table\n"
"  --help        this text\n"
"\n"
"Exit status: 0 success, 1 a measurement failed, 2 bad arguments.\n");
}

static void bad_args(const char *fmt, const char *arg)
{
    fputs("tierpage-uffd-floor: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(try --help)\n", stderr);
    exit(2);
}

static void print_row(const char *name, const struct latency *l)
{
    printf("%-22s %9.2f %9.2f %9.2f %9.2f\n", name, l->p50_us, l->p99_us, l->mean_us, l->max_us);
}

static void print_json(const char *key, const struct latency *l)
{
    printf("\"%s\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"min_us\":%.3f,\"max_us\":%.3f}",
           key, l->p50_us, l->p99_us, l->mean_us, l->min_us, l->max_us);
}

int main(int argc, char **argv)
{
    struct floor_options o = { .pages = 4096, .cpu = FLOOR_CPU_ANY, .wait = FLOOR_WAIT_READ };
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--pages") == 0) {
            if (i + 1 >= argc)
                bad_args("%s needs a value", a);
            const char *v = argv[++i];
            uint64_t n;
            if (tp_parse_uint(v, &n) != 0 || n == 0 || n > (1ull << 24))
                bad_args("--pages: expected a whole number from 1 to 16777216, got '%s'", v);
            o.pages = (size_t)n;
        } else if (strcmp(a, "--same-cpu") == 0) {
            o.cpu = FLOOR_CPU_SAME;
        } else if (strcmp(a, "--cross-cpu") == 0) {
            o.cpu = FLOOR_CPU_CROSS;
        } else if (strcmp(a, "--shmem") == 0) {
            o.shmem = 1;
        } else if (strcmp(a, "--wait") == 0) {
            if (i + 1 >= argc)
                bad_args("%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(v, "read") == 0) o.wait = FLOOR_WAIT_READ;
            else if (strcmp(v, "poll") == 0) o.wait = FLOOR_WAIT_POLL;
            else if (strcmp(v, "spin") == 0) o.wait = FLOOR_WAIT_SPIN;
            else bad_args("--wait: expected read, poll or spin, got '%s'", v);
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else {
            bad_args("unknown argument '%s'", a);
        }
    }

    uint64_t *lat = malloc(o.pages * sizeof lat[0]);
    if (!lat) {
        fprintf(stderr, "tierpage-uffd-floor: out of memory\n");
        return 1;
    }
    char msg[256];
    struct latency kernel, uffd;
    if (floor_kernel_run(&o, lat, msg, sizeof msg) < 0) {
        fprintf(stderr, "tierpage-uffd-floor: kernel first touch: %s\n", msg);
        return 1;
    }
    latency_summarize(lat, o.pages, &kernel);
    if (floor_uffd_run(&o, lat, msg, sizeof msg) < 0) {
        fprintf(stderr, "tierpage-uffd-floor: %s\n", msg);
        return 1;
    }
    latency_summarize(lat, o.pages, &uffd);
    free(lat);

    const char *memory = o.shmem ? "shmem" : "anonymous";
    if (json) {
        printf("{\"pages\":%zu,\"memory\":\"%s\",\"cpus\":\"%s\",\"wait\":\"%s\",", o.pages, memory,
               floor_cpu_names[o.cpu], floor_wait_names[o.wait]);
        print_json("kernel_first_touch", &kernel);
        putchar(',');
        print_json("uffd_copy", &uffd);
        printf("}\n");
    } else {
        printf("tierpage-uffd-floor: %zu faults, %s memory, %s, handler waits by %s\n", o.pages,
               memory, floor_cpu_names[o.cpu], floor_wait_names[o.wait]);
        printf("%-22s %9s %9s %9s %9s\n", "us per fault", "p50", "p99", "mean", "max");
        print_row("kernel first touch", &kernel);
        print_row("uffd MISSING + COPY", &uffd);
    }
    return 0;
}
