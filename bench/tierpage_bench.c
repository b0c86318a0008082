/* tierpage-bench: a paging workload with a content check.
 *
 * Maps --size bytes, writes a known pattern to every page, then makes
 * --accesses read-modify-writes (or reads) at random, zipfian or sequential
 * page offsets and reports accesses/s and the time per access. With --verify
 * every byte of every page is compared with what it must hold at the end.
 *
 * It is a plain program: it does not link tierpage, so the same binary runs
 * alone, under the kernel's swap, or under `tierpage run`, whose shim serves
 * its large mmap or malloc allocation.
 *
 * Page content. Word 0 of a page is its checksum word, words 1..W-1 are data.
 * At version 0 data word p holds word_value(page, 0, p). The write that takes
 * a page from version v-1 to v sets the data word at write_position(page, v)
 * to word_value(page, v, p). The checksum word always holds the XOR of the
 * data words and version_tag(page, v). So the expected content of a page
 * follows from its index and its version alone (replaying its v writes), and
 * each write reads the old word and the checksum before changing both.
 *
 * With --threads N, N threads make the accesses together, each on its own
 * slice of the pages or, with --shared, all over the region; shared writes
 * to one page are serialised by a lock striped over the pages, so that the
 * versions stay exact for --verify.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "units.h"
#include "bench_util.h"
#include "latency_hist.h"

#define BENCH_PAGE 4096u
#define WORDS_PER_PAGE (BENCH_PAGE / sizeof(uint64_t))
#define PROGRESS_EVERY_NS 2000000000ull
#define SHOW_BAD_PAGES 5
#define MAX_THREADS 256u
#define WRITE_LOCKS 1024u       /* stripes of the lock shared writers take */

enum pattern { PATTERN_RANDOM, PATTERN_ZIPF, PATTERN_SEQ, PATTERN_STRIDE };
enum alloc_method { ALLOC_MMAP, ALLOC_MALLOC };

struct options {
    uint64_t size;
    uint64_t accesses;       /* 0: 4 x pages */
    enum pattern pattern;
    double zipf_theta;
    uint64_t stride;         /* --pattern stride: pages between accesses */
    double write_ratio;
    uint64_t seed;
    bool verify;
    bool inject_corruption;
    enum alloc_method alloc;
    bool json;
    bool quiet;
    const char *latency_cdf; /* file for the CDF of every access's time, or NULL */
    unsigned threads;
    bool shared;             /* every thread on every page, not each on its slice */
    const char *until;       /* stop the accesses early once this file exists, or NULL */
};

static const char *const pattern_names[] = { "random", "zipf", "seq", "stride" };
static const char *const alloc_names[] = { "mmap", "malloc" };

/* ---- hashing and random numbers ---- */

static inline uint64_t word_value(uint64_t page, uint32_t version, uint64_t word)
{
    return bench_mix64((page << 24) ^ ((uint64_t)version << 12) ^ word ^ 0x7469657270616765ull);
}

static inline uint64_t version_tag(uint64_t page, uint32_t version)
{
    return bench_mix64(page ^ ((uint64_t)version << 40) ^ 0x636865636b73756dull);
}

/* The data word (1..W-1) that the write reaching `version` changes. */
static inline unsigned write_position(uint64_t page, uint32_t version)
{
    return 1 + (unsigned)(bench_mix64(page * 0x9e3779b97f4a7c15ull + version) % (WORDS_PER_PAGE - 1));
}

struct rng { uint64_t s[4]; };

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        r->s[i] = bench_mix64(seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32
 * for any n this program sees). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- zipf: Gray et al., "Quickly generating billion-record synthetic
 * databases" (SIGMOD 1994), with zeta(n) precomputed ---- */

struct zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, half_pow_theta;
};

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
    double zetan = 0, zeta2 = 1.0 + pow(0.5, theta);
    for (uint64_t i = n; i >= 1; i--) /* smallest terms first, for accuracy */
        zetan += pow((double)i, -theta);
    z->n = n;
    z->theta = theta;
    z->alpha = 1.0 / (1.0 - theta);
    z->zetan = zetan;
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    z->half_pow_theta = pow(0.5, theta);
}

/* A rank in [0, n): 0 is the most frequent. */
static inline uint64_t zipf_next(const struct zipf *z, struct rng *r)
{
    double u = rng_unit(r);
    double uz = u * z->zetan;
    if (uz < 1.0 || z->n == 1)
        return 0;
    if (uz < 1.0 + z->half_pow_theta || z->n == 2)
        return 1;
    uint64_t rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return rank < z->n ? rank : z->n - 1;
}

/* A bijection of [0, n) that scatters ranks over the pages, so hot pages are
 * not neighbours: a 4-round Feistel network on the next even power of two,
 * walking the cycle until the value falls inside [0, n). */
struct scatter {
    uint64_t n;
    unsigned half_bits;
    uint64_t half_mask;
    uint64_t keys[4];
};

static void scatter_init(struct scatter *s, uint64_t n, uint64_t seed)
{
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < n)
        bits += 2;
    s->n = n;
    s->half_bits = bits / 2;
    s->half_mask = (1ull << s->half_bits) - 1;
    for (int i = 0; i < 4; i++)
        s->keys[i] = bench_mix64(seed ^ (0x5ca77e5ull + (uint64_t)i));
}

static inline uint64_t scatter_apply(const struct scatter *s, uint64_t x)
{
    do {
        uint64_t left = x >> s->half_bits, right = x & s->half_mask;
        for (int round = 0; round < 4; round++) {
            uint64_t next = left ^ (bench_mix64(right ^ s->keys[round]) & s->half_mask);
            left = right;
            right = next;
        }
        x = (left << s->half_bits) | right;
    } while (x >= s->n);
    return x;
}

/* ---- time and progress ---- */

struct progress {
    bool enabled, tty, shown;
    const char *phase;
    uint64_t total, start_ns, next_ns;
};

static void progress_begin(struct progress *p, bool enabled, const char *phase, uint64_t total)
{
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->shown = false;
    p->phase = phase;
    p->total = total;
    p->start_ns = tp_now_ns();
    p->next_ns = p->start_ns + PROGRESS_EVERY_NS;
}

/* Called now and then; prints at most one line per 2 s. */
static void progress_tick(struct progress *p, uint64_t done)
{
    if (!p->enabled)
        return;
    uint64_t t = tp_now_ns();
    if (t < p->next_ns)
        return;
    p->next_ns = t + PROGRESS_EVERY_NS;
    double secs = (double)(t - p->start_ns) / 1e9;
    fprintf(stderr, "%stierpage-bench: %s %" PRIu64 "/%" PRIu64 " (%.0f%%), %.0f/s, %.0f s%s",
            p->tty ? "\r" : "", p->phase, done, p->total,
            100.0 * (double)done / (double)p->total, (double)done / secs, secs,
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->shown = true;
}

static void progress_end(struct progress *p)
{
    if (p->enabled && p->shown && p->tty)
        fputs("\r\033[K", stderr);
}

/* ---- arguments ---- */

static void usage(FILE *out)
{
    fprintf(out,
"usage: tierpage-bench [OPTIONS]\n"
"\n"
"Maps --size bytes, writes a known pattern to every 4 KiB page, then makes\n"
"--accesses page accesses at --pattern offsets and reports accesses/s and the\n"
"time per access (mean from the wall clock; percentiles from timing every\n"
"access into a log-linear histogram, within 1/64 of each value). Each access reads a page's checksum word and one data word; a\n"
"read-modify-write then changes both, so the page's content changes in a way\n"
"--verify can check. Runs plainly or under `tierpage run`.\n"
"\n"
"  --size SIZE        bytes to map, with unit B, KiB, MiB, GiB or TiB\n"
"                     (K/M/G/T mean the same); rounded up to 4 KiB (default 64MiB)\n"
"  --accesses N       accesses to make (default: 4 x pages)\n"
"  --until FILE       stop making accesses once FILE exists (looked for every\n"
"                     1024 accesses), even before --accesses are made; the\n"
"                     results count the accesses made\n"
"  --pattern P        random (uniform), zipf (skewed; ranks scattered over\n"
"                     the pages), seq (page 0, 1, 2, ... wrapping) or stride\n"
"                     (page 0, N, 2N, ... modulo the pages) (default random)\n"
"  --stride N         pages between accesses of --pattern stride (default 3)\n"
"  --zipf-theta T     zipf skew, 0 < T < 1 (default 0.99)\n"
"  --write-ratio R    fraction of accesses that are read-modify-writes, the\n"
"                     rest only read, 0 <= R <= 1 (default 1.0)\n"
"  --seed S           random seed (default 1); same seed, same accesses\n"
"  --threads N        make the accesses from N threads together, 1 to 256\n"
"                     (default 1); each has its own slice of the pages\n"
"  --shared           with --threads: every thread accesses the whole region\n"
"                     (writes to one page take turns) instead of its slice\n"
"  --alloc A          mmap: one private anonymous mmap (default);\n"
"                     malloc: one malloc() call\n"
"  --verify           at the end, check every byte of every page; on a\n"
"                     mismatch print the first bad pages and exit 1\n"
"  --inject-corruption  flip one byte before verifying, for testing the\n"
"                     verifier (implies --verify; must exit 1)\n"
"  --json             print one JSON line of results on stdout instead of\n"
"                     the text summary\n"
"  --latency-cdf FILE write the distribution of the time per access to FILE:\n"
"                     one line per histogram bucket, its top in us, its count\n"
"                     and the fraction of accesses at or below it\n"
"  --quiet            no progress lines and no text summary (errors and\n"
"                     verification failures are still printed on stderr)\n"
"  --help             this text\n"
"\n"
"A progress line goes to stderr at most every 2 s (rewritten in place when\n"
"stderr is a terminal).\n"
"\n"
"Exit status: 0 success, 1 verification failed, 2 bad arguments,\n"
"3 the memory could not be allocated, 4 the --latency-cdf file could not\n"
"be written.\n");
}

static void die_usage(const char *fmt, const char *arg)
{
    fputs("tierpage-bench: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(try --help)\n", stderr);
    exit(2);
}

/* The value that follows option argv[*i]; *i moves onto it. */
static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        die_usage("%s needs a value", argv[*i]);
    return argv[++*i];
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || isnan(v))
        return -1;
    *out = v;
    return 0;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .size = 64ull << 20, .pattern = PATTERN_RANDOM, .zipf_theta = 0.99, .stride = 3,
                           .write_ratio = 1.0, .seed = 1, .alloc = ALLOC_MMAP, .threads = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--size") == 0) {
            val = option_value(argc, argv, &i);
            if (tp_parse_size(val, &o->size) < 0 || o->size == 0)
                die_usage("--size: expected a size such as 512MiB (units B, KiB, MiB, GiB, TiB), got '%s'", val);
        } else if (strcmp(a, "--accesses") == 0) {
            val = option_value(argc, argv, &i);
            if (tp_parse_uint(val, &o->accesses) < 0 || o->accesses == 0)
                die_usage("--accesses: expected a positive whole number, got '%s'", val);
        } else if (strcmp(a, "--pattern") == 0) {
            val = option_value(argc, argv, &i);
            if (strcmp(val, "random") == 0) o->pattern = PATTERN_RANDOM;
            else if (strcmp(val, "zipf") == 0) o->pattern = PATTERN_ZIPF;
            else if (strcmp(val, "seq") == 0) o->pattern = PATTERN_SEQ;
            else if (strcmp(val, "stride") == 0) o->pattern = PATTERN_STRIDE;
            else die_usage("--pattern: expected random, zipf, seq or stride, got '%s'", val);
        } else if (strcmp(a, "--stride") == 0) {
            val = option_value(argc, argv, &i);
            if (tp_parse_uint(val, &o->stride) < 0 || o->stride == 0)
                die_usage("--stride: expected a positive whole number of pages, got '%s'", val);
        } else if (strcmp(a, "--zipf-theta") == 0) {
            val = option_value(argc, argv, &i);
            if (parse_double(val, &o->zipf_theta) < 0 || !(o->zipf_theta > 0 && o->zipf_theta < 1))
                die_usage("--zipf-theta: expected a number between 0 and 1 (exclusive), got '%s'", val);
        } else if (strcmp(a, "--write-ratio") == 0) {
            val = option_value(argc, argv, &i);
            if (parse_double(val, &o->write_ratio) < 0 || !(o->write_ratio >= 0 && o->write_ratio <= 1))
                die_usage("--write-ratio: expected a number from 0 to 1, got '%s'", val);
        } else if (strcmp(a, "--seed") == 0) {
            val = option_value(argc, argv, &i);
            if (tp_parse_uint(val, &o->seed) < 0)
                die_usage("--seed: expected a whole number, got '%s'", val);
        } else if (strcmp(a, "--threads") == 0) {
            val = option_value(argc, argv, &i);
            uint64_t n;
            if (tp_parse_uint(val, &n) < 0 || n == 0 || n > MAX_THREADS)
                die_usage("--threads: expected a whole number from 1 to 256, got '%s'", val);
            o->threads = (unsigned)n;
        } else if (strcmp(a, "--shared") == 0) {
            o->shared = true;
        } else if (strcmp(a, "--alloc") == 0) {
            val = option_value(argc, argv, &i);
            if (strcmp(val, "mmap") == 0) o->alloc = ALLOC_MMAP;
            else if (strcmp(val, "malloc") == 0) o->alloc = ALLOC_MALLOC;
            else die_usage("--alloc: expected mmap or malloc, got '%s'", val);
        } else if (strcmp(a, "--verify") == 0) {
            o->verify = true;
        } else if (strcmp(a, "--inject-corruption") == 0) {
            o->inject_corruption = true;
            o->verify = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--latency-cdf") == 0) {
            o->latency_cdf = option_value(argc, argv, &i);
            if (!*o->latency_cdf)
                die_usage("--latency-cdf: expected a file name, got '%s'", o->latency_cdf);
        } else if (strcmp(a, "--until") == 0) {
            o->until = option_value(argc, argv, &i);
            if (!*o->until)
                die_usage("--until: expected a file name, got '%s'", o->until);
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else {
            die_usage("unknown argument '%s'", a);
        }
    }
    uint64_t pages = o->size / BENCH_PAGE + (o->size % BENCH_PAGE != 0);
    if (pages > UINT32_MAX)
        die_usage("--size: at most %s", "16TiB");
    o->size = pages * BENCH_PAGE;
    if (o->accesses == 0)
        o->accesses = 4 * pages;
    if (!o->shared && o->threads > pages)
        die_usage("--threads: more threads than pages to give each a slice (%s)", "use --shared or fewer threads");
    if (o->accesses < o->threads)
        die_usage("--accesses: fewer than one access a thread (%s)", "raise --accesses or lower --threads");
}

/* ---- the workload ---- */

struct region {
    unsigned char *base;
    uint64_t pages;
    uint32_t *versions; /* expected version of each page */
};

static void fill_page(uint64_t *w, uint64_t page)
{
    uint64_t sum = version_tag(page, 0);
    for (unsigned p = 1; p < WORDS_PER_PAGE; p++) {
        w[p] = word_value(page, 0, p);
        sum ^= w[p];
    }
    w[0] = sum;
}

/* What page `page` must hold at `version`. */
static void expected_page(uint64_t *w, uint64_t page, uint32_t version)
{
    fill_page(w, page);
    uint64_t sum = w[0] ^ version_tag(page, 0);
    for (uint32_t v = 1; v <= version; v++) {
        unsigned p = write_position(page, v);
        uint64_t nw = word_value(page, v, p);
        sum ^= w[p] ^ nw;
        w[p] = nw;
    }
    w[0] = sum ^ version_tag(page, version);
}

static inline uint64_t *page_words(const struct region *r, uint64_t page)
{
    return (uint64_t *)(void *)(r->base + page * BENCH_PAGE);
}

/* One access to `page`; returns a value to keep the reads alive. */
static inline uint64_t access_page(struct region *r, uint64_t page, bool write, struct rng *g)
{
    uint64_t *w = page_words(r, page);
    if (write) {
        uint32_t v = ++r->versions[page];
        unsigned p = write_position(page, v);
        uint64_t old = w[p];
        uint64_t nw = word_value(page, v, p);
        w[p] = nw;
        w[0] ^= old ^ nw ^ version_tag(page, v - 1) ^ version_tag(page, v);
        return old;
    }
    unsigned p = 1 + (unsigned)rng_below(g, WORDS_PER_PAGE - 1);
    return w[0] ^ w[p];
}

struct results {
    double fill_s, access_s, verify_s;
    double mean_us;
    uint64_t accesses;            /* made: fewer than --accesses when --until stopped them */
    struct latency_hist *latency; /* every access's time, all threads */
    uint64_t writes;
    long major_faults, minor_faults; /* during the access phase */
    bool verified;
    uint64_t bad_pages;
    uint64_t verify_absent; /* pages not in memory when the verify reached them */
};

static double quantile_us(const struct results *res, double q)
{
    return (double)lat_quantile_ns(res->latency, q) / 1e3;
}

static pthread_mutex_t write_locks[WRITE_LOCKS];

/* One thread's share of the access phase. */
struct worker {
    struct region *r;
    const struct options *o;
    unsigned index;
    uint64_t first_page, pages;  /* the pages it accesses */
    uint64_t accesses;
    uint64_t made;               /* accesses made: fewer when --until stopped them */
    struct latency_hist *latency; /* its own: every access timed */
    uint64_t writes, sink;
    pthread_barrier_t *start;
    struct progress *prog;       /* worker 0 reports, scaled to all */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct options *o = w->o;
    struct rng g;
    /* Thread 0 makes the accesses a single-threaded run with the same seed makes. */
    rng_seed(&g, o->seed + (uint64_t)w->index * 0x9e3779b97f4a7c15ull);
    struct zipf z = { 0 };
    struct scatter sc = { 0 };
    if (o->pattern == PATTERN_ZIPF) {
        zipf_init(&z, w->pages, o->zipf_theta);
        scatter_init(&sc, w->pages, o->seed);
    }
    /* write when the next 32 random bits fall under this threshold */
    uint64_t write_below = (uint64_t)(o->write_ratio * 4294967296.0);
    bool lock_writes = o->shared && o->threads > 1;
    /* Where a sequential sweep starts: shared sweeps are spread out. */
    uint64_t seq_start = o->shared ? w->pages / o->threads * w->index : 0;
    pthread_barrier_wait(w->start);
    uint64_t k;
    for (k = 0; k < w->accesses; k++) {
        uint64_t page;
        switch (o->pattern) {
        case PATTERN_ZIPF: page = scatter_apply(&sc, zipf_next(&z, &g)); break;
        case PATTERN_SEQ:  page = (seq_start + k) % w->pages; break;
        case PATTERN_STRIDE: page = (seq_start + k * o->stride) % w->pages; break;
        default:           page = rng_below(&g, w->pages); break;
        }
        page += w->first_page;
        bool write = (rng_next(&g) >> 32) < write_below;
        w->writes += write;
        pthread_mutex_t *lock = write && lock_writes ? &write_locks[page % WRITE_LOCKS] : NULL;
        if (lock)
            pthread_mutex_lock(lock);
        uint64_t a = tp_now_ns();
        w->sink += access_page(w->r, page, write, &g);
        lat_record(w->latency, tp_now_ns() - a);
        if (lock)
            pthread_mutex_unlock(lock);
        if ((k & 1023) == 1023) {
            if (w->index == 0)
                progress_tick(w->prog, (k + 1) * o->threads);
            /* A test that needs the run only until some event ends it so. */
            if (o->until && access(o->until, F_OK) == 0) {
                k++;
                break;
            }
        }
    }
    w->made = k;
    return NULL;
}

static void run_accesses(struct region *r, const struct options *o, struct results *res)
{
    unsigned n = o->threads;
    struct worker *workers = calloc(n, sizeof *workers);
    pthread_t *threads = calloc(n, sizeof *threads);
    struct latency_hist *latency = calloc(n, sizeof *latency);
    if (!workers || !threads || !latency) {
        fprintf(stderr, "tierpage-bench: out of memory for %u threads\n", n);
        exit(3);
    }
    for (unsigned i = 0; i < WRITE_LOCKS; i++)
        pthread_mutex_init(&write_locks[i], NULL);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, n + 1);
    struct progress prog;
    progress_begin(&prog, !o->quiet, "accesses", o->accesses);
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        uint64_t slice_first = r->pages * i / n, slice_end = r->pages * (i + 1) / n;
        *w = (struct worker){ .r = r, .o = o, .index = i, .start = &start, .prog = &prog,
                              .first_page = o->shared ? 0 : slice_first,
                              .pages = o->shared ? r->pages : slice_end - slice_first,
                              .accesses = o->accesses * (i + 1) / n - o->accesses * i / n,
                              .latency = &latency[i] };
        int rc = pthread_create(&threads[i], NULL, worker_main, w);
        if (rc) {
            fprintf(stderr, "tierpage-bench: cannot start thread %u of %u: %s\n", i + 1, n, strerror(rc));
            exit(3);
        }
    }

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    pthread_barrier_wait(&start);
    uint64_t t0 = tp_now_ns();
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    uint64_t t1 = tp_now_ns();
    progress_end(&prog);
    getrusage(RUSAGE_SELF, &ru1);

    uint64_t sink = 0;
    res->writes = 0;
    res->accesses = 0;
    for (unsigned i = 0; i < n; i++) {
        lat_merge(res->latency, workers[i].latency);
        sink += workers[i].sink;
        res->writes += workers[i].writes;
        res->accesses += workers[i].made;
    }
    /* keep the reads from being optimised away */
    __asm__ volatile("" : : "r"(sink));
    pthread_barrier_destroy(&start);
    free(workers);
    free(threads);
    free(latency);

    res->access_s = (double)(t1 - t0) / 1e9;
    res->mean_us = (double)(t1 - t0) / 1e3 / (double)res->accesses;
    res->major_faults = ru1.ru_majflt - ru0.ru_majflt;
    res->minor_faults = ru1.ru_minflt - ru0.ru_minflt;
}

static bool page_is_zero(const unsigned char *page)
{
    for (unsigned b = 0; b < BENCH_PAGE; b++)
        if (page[b])
            return false;
    return true;
}

/* Checks every page; *absent counts those not in memory when the check
 * reached them (mincore), the faults the check itself cost, so that a
 * pager's fault count can be split into the access phase's and its. */
static uint64_t verify_region(const struct region *r, bool quiet, uint64_t *absent)
{
    uint64_t expect[WORDS_PER_PAGE];
    uint64_t bad = 0;
    struct progress prog;
    *absent = 0;
    progress_begin(&prog, !quiet, "verify pages", r->pages);
    for (uint64_t page = 0; page < r->pages; page++) {
        const unsigned char *got = r->base + page * BENCH_PAGE;
        unsigned char in_memory = 1;
        void *at = (void *)((uintptr_t)got & ~(uintptr_t)(BENCH_PAGE - 1));
        if (mincore(at, BENCH_PAGE, &in_memory) == 0 && !(in_memory & 1))
            ++*absent;
        expected_page(expect, page, r->versions[page]);
        if (memcmp(got, expect, BENCH_PAGE) != 0) {
            if (bad < SHOW_BAD_PAGES) {
                const unsigned char *want = (const unsigned char *)expect;
                unsigned first = 0, differ = 0;
                for (unsigned b = BENCH_PAGE; b-- > 0;) {
                    if (got[b] != want[b]) {
                        first = b;
                        differ++;
                    }
                }
                unsigned word = first / 8;
                uint64_t got_word;
                memcpy(&got_word, got + word * 8, 8);
                progress_end(&prog);
                fprintf(stderr,
                        "tierpage-bench: verify: page %" PRIu64 " (region offset 0x%" PRIx64
                        ", version %" PRIu32 "): %u bytes differ, first at page byte %u: "
                        "expected 0x%02x got 0x%02x (word %u: expected 0x%016" PRIx64
                        " got 0x%016" PRIx64 ")%s\n",
                        page, page * BENCH_PAGE, r->versions[page], differ, first,
                        want[first], got[first], word, expect[word], got_word,
                        page_is_zero(got) ? " [page is all zeros]" : "");
            }
            bad++;
        }
        if ((page & 255) == 255)
            progress_tick(&prog, page + 1);
    }
    progress_end(&prog);
    return bad;
}

static int write_cdf(const struct options *o, const struct results *res)
{
    FILE *f = fopen(o->latency_cdf, "w");
    if (!f) {
        fprintf(stderr, "tierpage-bench: --latency-cdf: cannot create %s: %s\n", o->latency_cdf, strerror(errno));
        return -1;
    }
    char about[160];
    snprintf(about, sizeof about, "tierpage-bench --size %" PRIu64 " --pattern %s --accesses %" PRIu64
             " --threads %u: time per access", o->size, pattern_names[o->pattern], res->accesses, o->threads);
    int rc = lat_write_cdf(res->latency, f, about);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        fprintf(stderr, "tierpage-bench: --latency-cdf: cannot write %s: %s\n", o->latency_cdf, strerror(-rc));
    return rc;
}

static void print_text(const struct options *o, const struct region *r, const struct results *res)
{
    char size_text[32];
    if (o->size % (1ull << 30) == 0)
        snprintf(size_text, sizeof size_text, "%" PRIu64 "GiB", o->size >> 30);
    else if (o->size % (1ull << 20) == 0)
        snprintf(size_text, sizeof size_text, "%" PRIu64 "MiB", o->size >> 20);
    else
        snprintf(size_text, sizeof size_text, "%" PRIu64 "KiB", o->size >> 10);
    printf("tierpage-bench: %s (%" PRIu64 " pages), %s", size_text, r->pages,
           pattern_names[o->pattern]);
    if (o->pattern == PATTERN_ZIPF)
        printf(" theta %.2f", o->zipf_theta);
    if (o->pattern == PATTERN_STRIDE)
        printf(" %" PRIu64, o->stride);
    printf(", %" PRIu64 " accesses, write ratio %.2f, alloc %s, seed %" PRIu64, res->accesses, o->write_ratio,
           alloc_names[o->alloc], o->seed);
    if (o->threads > 1)
        printf(", %u threads%s", o->threads, o->shared ? " sharing the region" : " on slices");
    printf("\n");
    printf("fill:     %.2f s (%.0f MiB/s)\n", res->fill_s,
           (double)o->size / 1048576.0 / (res->fill_s > 0 ? res->fill_s : 1e-9));
    printf("accesses: %.2f s, %.0f accesses/s, us/access mean %.2f; faults: %ld major, %ld minor\n",
           res->access_s, (double)res->accesses / res->access_s, res->mean_us, res->major_faults, res->minor_faults);
    printf("us/access: p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f p99.99 %.2f max %.2f (every access timed)\n",
           quantile_us(res, 0.50), quantile_us(res, 0.90), quantile_us(res, 0.99), quantile_us(res, 0.999),
           quantile_us(res, 0.9999), quantile_us(res, 1.0));
    if (o->verify)
        printf("verify:   %s, %" PRIu64 " pages (%.2f s)\n", res->bad_pages ? "FAILED" : "ok",
               r->pages, res->verify_s);
}

static void print_json(const struct options *o, const struct region *r, const struct results *res)
{
    printf("{\"size_bytes\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"pattern\":\"%s\","
           "\"zipf_theta\":%.4f,\"accesses\":%" PRIu64 ",\"writes\":%" PRIu64 ","
           "\"write_ratio\":%.4f,\"seed\":%" PRIu64 ",\"alloc\":\"%s\","
           "\"fill_seconds\":%.6f,\"access_seconds\":%.6f,\"accesses_per_second\":%.1f,"
           "\"us_per_access_mean\":%.3f,\"us_per_access_p50\":%.3f,\"us_per_access_p90\":%.3f,"
           "\"us_per_access_p99\":%.3f,\"us_per_access_p999\":%.3f,\"us_per_access_p9999\":%.3f,"
           "\"us_per_access_max\":%.3f,\"timing_samples\":%" PRIu64 ",\"major_faults\":%ld,\"minor_faults\":%ld,"
           "\"verify\":\"%s\",\"bad_pages\":%" PRIu64 ",\"verify_seconds\":%.6f,\"verify_absent_pages\":%" PRIu64 ","
           "\"threads\":%u,\"shared\":%s,\"stride\":%" PRIu64 "}\n",
           o->size, r->pages, pattern_names[o->pattern], o->zipf_theta, res->accesses, res->writes,
           o->write_ratio, o->seed, alloc_names[o->alloc], res->fill_s, res->access_s,
           (double)res->accesses / res->access_s, res->mean_us, quantile_us(res, 0.50), quantile_us(res, 0.90),
           quantile_us(res, 0.99), quantile_us(res, 0.999), quantile_us(res, 0.9999), quantile_us(res, 1.0),
           res->latency->total, res->major_faults, res->minor_faults,
           !o->verify ? "skipped" : res->bad_pages ? "failed" : "ok", res->bad_pages,
           res->verify_s, res->verify_absent, o->threads, o->shared ? "true" : "false", o->stride);
}

int main(int argc, char **argv)
{
    struct options o;
    parse_args(argc, argv, &o);

    struct region r = { .pages = o.size / BENCH_PAGE };
    /* 4 bytes a page: below 1 MiB for sizes under 1 GiB, so an ordinary
     * small allocation there; under `tierpage run` larger runs have it served
     * like the region itself, which is fine. */
    r.versions = calloc(r.pages, sizeof r.versions[0]);
    struct latency_hist *latency = calloc(1, sizeof *latency);
    int status = 3;
    if (!r.versions || !latency) {
        fprintf(stderr, "tierpage-bench: out of memory for bookkeeping\n");
        goto out;
    }
    if (o.alloc == ALLOC_MMAP) {
        void *p = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "tierpage-bench: mmap of %" PRIu64 " bytes: %s\n", o.size, strerror(errno));
            goto out;
        }
        r.base = p;
    } else {
        r.base = malloc(o.size);
        if (!r.base) {
            fprintf(stderr, "tierpage-bench: malloc of %" PRIu64 " bytes failed\n", o.size);
            goto out;
        }
    }

    struct results res = { .latency = latency };
    struct progress prog;
    progress_begin(&prog, !o.quiet, "fill pages", r.pages);
    uint64_t t0 = tp_now_ns();
    for (uint64_t page = 0; page < r.pages; page++) {
        fill_page(page_words(&r, page), page);
        if ((page & 255) == 255)
            progress_tick(&prog, page + 1);
    }
    res.fill_s = (double)(tp_now_ns() - t0) / 1e9;
    progress_end(&prog);

    run_accesses(&r, &o, &res);

    if (o.inject_corruption) {
        uint64_t page = r.pages / 2;
        r.base[page * BENCH_PAGE + 1234 % BENCH_PAGE] ^= 0x20;
        fprintf(stderr, "tierpage-bench: injected corruption: flipped one byte of page %" PRIu64 "\n",
                page);
    }
    if (o.verify) {
        t0 = tp_now_ns();
        res.bad_pages = verify_region(&r, o.quiet, &res.verify_absent);
        res.verify_s = (double)(tp_now_ns() - t0) / 1e9;
        if (res.bad_pages)
            fprintf(stderr, "tierpage-bench: verify: FAILED: %" PRIu64 " of %" PRIu64 " pages differ\n",
                    res.bad_pages, r.pages);
    }

    if (o.json)
        print_json(&o, &r, &res);
    else if (!o.quiet)
        print_text(&o, &r, &res);
    fflush(stdout);

    status = res.bad_pages ? 1 : 0;
    if (o.latency_cdf && write_cdf(&o, &res) < 0 && status == 0)
        status = 4;
    if (o.alloc == ALLOC_MMAP)
        munmap(r.base, o.size);
    else
        free(r.base);
out:
    free(latency);
    free(r.versions);
    return status;
}
