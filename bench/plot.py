#!/usr/bin/python3
"""SVG charts from the logs the comparison scripts in bench/ keep (--log DIR).

Reads each LOGDIR's per-run JSON lines, recognises the script that wrote it
by its file names, and writes into --out (each path printed on stdout):

  swap_compare.sh      swap-accesses.svg          accesses/s per setup and pattern
                       swap-latency-PATTERN.svg   µs/access, step CDF from p50/p99
  prefetch_compare.sh  prefetch-accesses.svg      accesses/s, prefetch on and off
                       prefetch-accuracy.svg      accuracy and coverage per pattern
                                                  (from the DIR's *-on.prefetch.jsonl)
                       prefetch-latency-PATTERN.svg
  threads_compare.sh   threads-accesses.svg       aggregate accesses/s per thread count
  seq_compare.sh       seq-accesses.svg           accesses/s: swap file, prefetch on and off
  kv_compare.sh        kv-accesses.svg            paging accesses/s per setup
                       kv-latency.svg
  app_compare.sh       app-requests.svg           requests/s per app and setup
                       app-latency-APP.svg        step CDF from p50/p99/p999

Bars and points are medians over the runs; whiskers span min to max.
tierpage-bench times every access into a histogram; a script that ran it with
--latency-cdf leaves one file per run beside the runs' JSON lines
(STEM.REP.cdf beside STEM.jsonl), and the latency chart draws the CDF of
every access of all the runs of a setup together. Without those files (older
logs), and for the request generators, which keep percentiles only, the
latency charts are step CDFs through the percentiles, and say so in their
titles.
"""
import argparse
import json
import os
import re
import sys

PROG = "plot.py"


class BadInput(Exception):
    pass


def fail(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- reading the logs ----

def read_jsonl(path):
    """The JSON objects of a JSON-lines file, each with where it came from."""
    runs = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as e:
                    raise BadInput(f"{path}:{n}: not JSON ({e.msg}): {line.strip()[:60]}") from None
                if not isinstance(value, dict):
                    raise BadInput(f"{path}:{n}: expected a JSON object, got {line.strip()[:60]}")
                runs.append(Run(path, n, value))
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read: {e}") from None
    return runs


class Run:
    def __init__(self, path, line, value):
        self.path, self.line, self.value = path, line, value

    def num(self, key):
        v = self.value.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadInput(f"{self.path}:{self.line}: no number '{key}' (got {json.dumps(v)})")
        return float(v)


def read_cdf(path):
    """{bucket top µs: count} of one tierpage-bench --latency-cdf file."""
    counts = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.split()
                try:
                    if len(fields) != 3:
                        raise ValueError
                    top, count = float(fields[0]), int(fields[1])
                    if top < 0 or count <= 0:
                        raise ValueError
                except ValueError:
                    raise BadInput(f"{path}:{n}: expected 'bucket-top-µs count fraction', got {line.strip()[:60]}") from None
                counts[top] = counts.get(top, 0) + count
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read: {e}") from None
    if not counts:
        raise BadInput(f"{path}: no buckets (an empty latency CDF)")
    return counts


def merged_cdf(paths):
    """[(fraction at or below, µs)] of every value in the files together."""
    counts = {}
    for p in paths:
        for top, c in read_cdf(p).items():
            counts[top] = counts.get(top, 0) + c
    total = sum(counts.values())
    points, seen = [], 0
    for top in sorted(counts):
        seen += counts[top]
        points.append((seen / total, top))
    return points


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# File names of each script's log; the groups name what the file holds.
KINDS = {
    "swap": (r"(swapfile|zram|tierpage-dram-128|tierpage-dram-128-fifo)-(random|zipf|seq)\.jsonl", "swap_compare.sh"),
    "prefetch": (r"(dram|memcached)-(seq|stride|random|zipf)-(on|off)\.jsonl", "prefetch_compare.sh"),
    "seq": (r"(swapfile|on|off)\.jsonl", "seq_compare.sh"),
    "threads": (r"(slices|shared)-(\d+)\.jsonl", "threads_compare.sh"),
    "kv": (r"paging-(swapfile|memcached|redis)\.jsonl", "kv_compare.sh"),
    "app": (r"(redis|memcached)-(plain|swapfile|zram|dram|memcached|redis)\.jsonl", "app_compare.sh"),
}


class Log:
    """One LOGDIR: its kind, its runs by file-name groups, and its run-info."""

    def __init__(self, path):
        if not os.path.isdir(path):
            raise BadInput(f"{path}: no such directory (give the DIR a comparison script was run with --log DIR)")
        self.path = path
        names = sorted(os.listdir(path))
        found = {k: [n for n in names if re.fullmatch(p, n)] for k, (p, _) in KINDS.items()}
        kinds = [k for k, files in found.items() if files]
        if not kinds:
            raise BadInput(f"{path}: no runs of a comparison script here (expected files such as "
                           "swapfile-random.jsonl, dram-seq-on.jsonl, slices-1.jsonl, paging-redis.jsonl "
                           "or redis-dram.jsonl, which bench/*_compare.sh --log DIR writes)")
        if len(kinds) > 1:
            raise BadInput(f"{path}: holds the logs of more than one script ({', '.join(KINDS[k][1] for k in kinds)}); "
                           "give each its own --log DIR")
        self.kind = kinds[0]
        self.runs = {}
        self.cdfs = {}  # key -> (runs, merged CDF) from tierpage-bench --latency-cdf files
        for name in found[self.kind]:
            runs = read_jsonl(os.path.join(path, name))
            if runs:
                key = re.fullmatch(KINDS[self.kind][0], name).groups()
                self.runs[key] = runs
                files = [os.path.join(path, n) for n in names
                         if re.fullmatch(re.escape(name[:-len(".jsonl")]) + r"\.\d+\.cdf", n)]
                if files:  # read now: a bad file stops the run before any chart is written
                    self.cdfs[key] = (len(files), merged_cdf(files))
        if not self.runs:
            raise BadInput(f"{path}: {', '.join(found[self.kind])}: no runs in them (empty files)")
        self.info = self.read_info()

    def read_info(self):
        info = {"machine": "machine not recorded", "date": None, "load_average": None}
        p = os.path.join(self.path, "run-info.json")
        if os.path.exists(p):
            try:
                with open(p, encoding="utf-8") as f:
                    value = json.load(f)
            except (OSError, UnicodeDecodeError) as e:
                raise BadInput(f"{p}: cannot read: {e}") from None
            except json.JSONDecodeError as e:
                raise BadInput(f"{p}: not JSON ({e.msg} at line {e.lineno})") from None
            if not isinstance(value, dict):
                raise BadInput(f"{p}: expected a JSON object")
            for key in info:
                v = value.get(key)
                if v is not None and not isinstance(v, str):
                    raise BadInput(f"{p}: '{key}' is not a string")
                if v:
                    info[key] = v
        if not info["date"]:
            import time
            newest = max(os.path.getmtime(r[0].path) for r in self.runs.values())
            info["date"] = time.strftime("%Y-%m-%d %H:%M UTC (file time)", time.gmtime(newest))
        return info

    def title(self, workload, note=""):
        t = f"{workload}\n{self.info['machine']}, {self.info['date']}"
        if self.info["load_average"]:
            t += f", load average {self.info['load_average']} at the start"
        return t + (f"\n{note}" if note else "")

    def all_runs(self):
        return [r for runs in self.runs.values() for r in runs]


def size_text(nbytes):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} B"


def bench_workload(runs, patterns=None):
    """tierpage-bench's options, from its JSON (they agree across one log)."""
    r = runs[0]
    size = size_text(int(r.num("size_bytes")))
    acc = int(r.num("accesses"))
    wr = r.value.get("write_ratio")
    pats = patterns or sorted({x.value.get("pattern", "?") for x in runs})
    text = f"tierpage-bench {size}, {'/'.join(pats)}, {acc} accesses"
    if isinstance(wr, (int, float)):
        text += f", write ratio {wr:g}"
    return text


# ---- drawing ----

def pyplot():
    try:
        import matplotlib
    except ImportError:
        fail("python3-matplotlib not installed (Debian: apt-get install python3-matplotlib)")
    matplotlib.use("svg")
    matplotlib.rcParams.update({
        "svg.fonttype": "none",      # text stays text: small files, searchable
        "svg.hashsalt": "tierpage",  # the same input, the same file
        "font.size": 9,
        "axes.titlesize": 9,
    })
    import matplotlib.pyplot as plt
    return plt


def save(fig, out, name, written):
    path = os.path.join(out, name)
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    pyplot().close(fig)
    written.append(path)


def spread(values):
    m = median(values)
    return m, m - min(values), max(values) - m


def short(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.3g}"


def grouped_bars(title, ylabel, groups, series, value, out, name, written, pct=False):
    """Bars per group (x) and series (colour): value(group, series) gives the
    runs' values or None; median bars, min-max whiskers, the median above."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(series)) / 2 + 2), 4))
    width = 0.8 / len(series)
    for i, s in enumerate(series):
        xs, meds, lo, hi, counts = [], [], [], [], []
        for g_i, g in enumerate(groups):
            vals = value(g, s)
            if not vals:
                continue
            m, dlo, dhi = spread(vals)
            xs.append(g_i - 0.4 + width * (i + 0.5))
            meds.append(m)
            lo.append(dlo)
            hi.append(dhi)
            counts.append(len(vals))
        if not xs:
            continue
        n = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        ax.bar(xs, meds, width * 0.9, yerr=[lo, hi], capsize=3, label=f"{s} (n={n})")
        for x, m, h in zip(xs, meds, hi):
            ax.annotate(f"{m:.1f}%" if pct else short(m), (x, m + h), textcoords="offset points",
                        xytext=(0, 2), ha="center", fontsize=7)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g if isinstance(g, str) else ", ".join(g) for g in groups])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if pct:
        ax.set_ylim(0, 110)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    save(fig, out, name, written)


def step_cdf(title, series, out, name, written):
    """series: [(label, [(fraction, µs)...])], each a step CDF through its
    percentiles (medians over the runs), or through every bucket of a
    histogram (many points: drawn without markers)."""
    plt = pyplot()
    import matplotlib.ticker as ticker
    fig, ax = plt.subplots(figsize=(6.5, 4))
    top = 0.5
    for label, points in series:
        points = sorted(points)
        xs = [x for _, x in points]
        ys = [q for q, _ in points]
        full = len(points) > 8
        if full:
            ys[-1] = min(ys[-1], 1 - 1e-6)  # the logit axis has no 1
        top = max(top, ys[-1])
        # Up at each percentile (or bucket), flat between them.
        ax.step(xs, ys, where="post", marker=None if full else "o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("logit")
    ax.set_ylim(0.3, 1 - (1 - top) / 3)
    ticks = [t for t in (0.5, 0.9, 0.99, 0.999, 0.9999) if t <= top]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("latency (µs, log scale)")
    ax.set_ylabel("fraction at or below (logit scale)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3, which="both")
    save(fig, out, name, written)


def percentile_points(runs, keys):
    """[(fraction, median µs)] over the runs, for each (fraction, key)."""
    return [(q, median([r.num(k) for r in runs])) for q, k in keys if all(k in r.value for r in runs)]


BENCH_PCTS = ((0.50, "us_per_access_p50"), (0.99, "us_per_access_p99"))
REQ_PCTS = ((0.50, "p50_us"), (0.99, "p99_us"), (0.999, "p999_us"))
WHISKERS = "bars: median of the runs; whiskers: min to max"
BENCH_CDF_NOTE = "step CDF through p50 and p99 only (medians of the runs; these runs kept no more)"
FULL_CDF_NOTE = "CDF of every access (tierpage-bench --latency-cdf), the runs of each setup together"


def bench_latency(log, key, label):
    """(label, points): the CDF of every access of the runs of `key` when
    their --latency-cdf files are there, else the step through p50/p99."""
    if key in log.cdfs:
        n, points = log.cdfs[key]
        return f"{label} (n={n})", points
    return label, percentile_points(log.runs[key], BENCH_PCTS)


def latency_note(log, keys):
    full = [k in log.cdfs for k in keys]
    if all(full):
        return FULL_CDF_NOTE
    if not any(full):
        return BENCH_CDF_NOTE
    return FULL_CDF_NOTE + "; setups without CDF files: " + BENCH_CDF_NOTE


# ---- one chart set per script ----

SWAP_SETUPS = (("swapfile", "kernel swap, swap file"), ("zram", "kernel swap, zram lz4"),
               ("tierpage-dram-128", "tierpage, dram tier"), ("tierpage-dram-128-fifo", "tierpage, dram tier, fifo"))


def plot_swap(log, out, written):
    runs = log.runs
    patterns = [p for p in ("random", "zipf", "seq") if any(k[1] == p for k in runs)]
    setups = [(s, lab) for s, lab in SWAP_SETUPS if any(k[0] == s for k in runs)]
    labels = dict(setups)
    work = bench_workload(log.all_runs(), patterns)
    grouped_bars(log.title(f"swap_compare: {work}, verified", WHISKERS), "accesses/s (higher is better)",
                 patterns, [lab for _, lab in setups],
                 lambda p, lab: [r.num("accesses_per_second") for r in
                                 runs.get((next(s for s, l in setups if l == lab), p), [])],
                 out, "swap-accesses.svg", written)
    for p in patterns:
        keys = [(s, p) for s, _ in setups if (s, p) in runs]
        series = [bench_latency(log, k, labels[k[0]]) for k in keys]
        step_cdf(log.title(f"swap_compare: {bench_workload(log.all_runs(), [p])}: time per access",
                           latency_note(log, keys)),
                 series, out, f"swap-latency-{p}.svg", written)


def plot_prefetch(log, out, written):
    runs = log.runs
    setups = [s for s in ("dram", "memcached") if any(k[0] == s for k in runs)]
    patterns = [p for p in ("seq", "random", "zipf") if any(k[1] == p for k in runs)]
    work = bench_workload(log.all_runs(), patterns)
    groups = [(s, p) for s in setups for p in patterns]
    grouped_bars(log.title(f"prefetch_compare: {work}, verified", WHISKERS), "accesses/s (higher is better)",
                 groups, ["prefetch on", "prefetch off"],
                 lambda g, mode: [r.num("accesses_per_second") for r in runs.get((g[0], g[1], mode.split()[1]), [])],
                 out, "prefetch-accesses.svg", written)

    # Accuracy and coverage from the runs' stats (PREFIX.prefetch.jsonl).
    shares = {}
    for s in setups:
        for p in patterns:
            path = os.path.join(log.path, f"{s}-{p}-on.prefetch.jsonl")
            if not os.path.exists(path):
                continue
            acc, cov = [], []
            for r in read_jsonl(path):
                pf, hits, tiers = r.num("prefetched_pages"), r.num("prefetch_hits"), r.num("from_tiers")
                acc.append(100 * hits / pf if pf > 0 else 0)
                cov.append(100 * hits / (hits + tiers) if hits + tiers > 0 else 0)
            shares[(s, p)] = (acc, cov)
    if not shares:
        raise BadInput(f"{log.path}: no *-on.prefetch.jsonl (prefetch_compare.sh's stats per run): "
                       "no prefetch accuracy to plot")
    series = [f"{what}, {s}" for s in setups for what in ("accuracy", "coverage")]
    grouped_bars(log.title(f"prefetch_compare: {work}: prefetch on",
                           "accuracy: prefetched pages used before eviction; coverage: faults from a tier avoided; "
                           + WHISKERS),
                 "share of pages (%)", patterns, series,
                 lambda p, lab: shares.get((lab.split(", ")[1], p), (None, None))[lab.startswith("coverage")],
                 out, "prefetch-accuracy.svg", written, pct=True)
    for p in patterns:
        keys = [(s, p, m) for s in setups for m in ("on", "off") if (s, p, m) in runs]
        series = [bench_latency(log, k, f"{k[0]}, prefetch {k[2]}") for k in keys]
        step_cdf(log.title(f"prefetch_compare: {bench_workload(log.all_runs(), [p])}: time per access",
                           latency_note(log, keys)),
                 series, out, f"prefetch-latency-{p}.svg", written)


def plot_threads(log, out, written):
    plt = pyplot()
    runs = log.runs
    fig, ax = plt.subplots(figsize=(6.5, 4))
    counts_all = set()
    for mode in ("slices", "shared"):
        counts = sorted(int(k[1]) for k in runs if k[0] == mode)
        if not counts:
            continue
        counts_all.update(counts)
        stats = [spread([r.num("accesses_per_second") for r in runs[(mode, str(n))]]) for n in counts]
        n_runs = sorted({len(runs[(mode, str(n))]) for n in counts})
        label = {"slices": "each thread its own slice", "shared": "all threads sharing one region (--shared)"}[mode]
        ax.errorbar(counts, [m for m, _, _ in stats], yerr=[[lo for _, lo, _ in stats], [hi for _, _, hi in stats]],
                    marker="o", capsize=3, label=f"{label} (n={'-'.join(map(str, n_runs))})")
        for n, (m, _, _) in zip(counts, stats):
            ax.annotate(short(m), (n, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(counts_all))
    ax.set_xticklabels([str(n) for n in sorted(counts_all)])
    ax.set_xlabel("faulting threads")
    ax.set_ylabel("aggregate accesses/s (higher is better)")
    ax.set_ylim(bottom=0)
    ax.set_title(log.title(f"threads_compare: {bench_workload(log.all_runs())}, verified, bench/stacks/dram-16.yaml",
                           "points: median of the runs; whiskers: min to max"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3)
    save(fig, out, "threads-accesses.svg", written)


KV_SETUPS = (("swapfile", "kernel swap, swap file"), ("memcached", "tierpage, memcached tier"),
             ("redis", "tierpage, redis tier"))


def bars_per_setup(log, table, script, group, name, out, written):
    """Accesses/s of each setup of `table` (key, label) the log holds, as
    one group of bars; returns those setups and the workload's text."""
    runs = log.runs
    setups = [(s, lab) for s, lab in table if (s,) in runs]
    work = bench_workload(log.all_runs())
    grouped_bars(log.title(f"{script}: {work}, verified", WHISKERS), "accesses/s (higher is better)",
                 [group], [lab for _, lab in setups],
                 lambda _, lab: [r.num("accesses_per_second") for r in runs[(next(s for s, l in setups if l == lab),)]],
                 out, name, written)
    return setups, work


def plot_kv(log, out, written):
    setups, work = bars_per_setup(log, KV_SETUPS, "kv_compare", "random", "kv-accesses.svg", out, written)
    step_cdf(log.title(f"kv_compare: {work}: time per access", latency_note(log, [(s,) for s, _ in setups])),
             [bench_latency(log, (s,), lab) for s, lab in setups], out, "kv-latency.svg", written)


SEQ_SETUPS = (("swapfile", "kernel swap, swap file"), ("on", "tierpage, memcached tier, prefetch on"),
              ("off", "tierpage, memcached tier, prefetch off"))


def plot_seq(log, out, written):
    pattern = str(log.all_runs()[0].value.get("pattern", "seq"))
    bars_per_setup(log, SEQ_SETUPS, "seq_compare", pattern, "seq-accesses.svg", out, written)


APP_SETUPS = ("plain", "swapfile", "zram", "dram", "memcached", "redis")


def plot_app(log, out, written):
    runs = log.runs
    apps = [a for a in ("redis", "memcached") if any(k[0] == a for k in runs)]
    setups = [s for s in APP_SETUPS if any(k[1] == s for k in runs)]
    work = "redis-server (redis-benchmark GETs) and memcached (tierpage-kv-load), a quarter of the data resident"
    grouped_bars(log.title(f"app_compare: {work}, every key checked", WHISKERS), "requests/s (higher is better)",
                 apps, setups, lambda a, s: [r.num("requests_per_second") for r in runs.get((a, s), [])],
                 out, "app-requests.svg", written)
    for a in apps:
        series = [(s, percentile_points(runs[(a, s)], REQ_PCTS)) for s in setups if (a, s) in runs]
        step_cdf(log.title(f"app_compare: {a}: request latency",
                           "step CDF through p50, p99 and p999 only (medians of the runs)"),
                 series, out, f"app-latency-{a}.svg", written)


PLOTTERS = {"swap": plot_swap, "prefetch": plot_prefetch, "threads": plot_threads, "kv": plot_kv, "app": plot_app,
            "seq": plot_seq}


def main():
    ap = argparse.ArgumentParser(
        prog="bench/plot.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__,
        epilog="Exit status 0 when every chart was written; 1 on a bad log (the message names the file) "
               "or without python3-matplotlib; 2 on bad arguments. The chart titles take the machine and date from LOGDIR/run-info.json "
               "(written by the scripts), else the machine is 'not recorded' and the date is the newest "
               "log file's.")
    ap.add_argument("logdirs", nargs="+", metavar="LOGDIR",
                    help="a directory a comparison script wrote with --log DIR (one per script)")
    ap.add_argument("--out", default=".", metavar="DIR", help="where to write the SVGs (default: .; made if missing)")
    a = ap.parse_args()
    try:
        logs = [Log(d) for d in a.logdirs]
        kinds = [lg.kind for lg in logs]
        for k in set(kinds):
            if kinds.count(k) > 1:
                raise BadInput(f"more than one {KINDS[k][1]} log given; their charts would share names: "
                               "plot them one at a time, with different --out")
        pyplot()
        os.makedirs(a.out, exist_ok=True)
        written = []
        for lg in logs:
            PLOTTERS[lg.kind](lg, a.out, written)
    except BadInput as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.filename or a.out}: {e.strerror}")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
