/*
 * Options: one table (name, default, help) read once at initialisation from
 * the environment. The README's option list is checked against this table
 * by tests/unit/options.c. Go's names where Go has the concept (GOGC,
 * GOMEMLIMIT, GODEBUG); GOMALLOC_* for ours.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"

gm_options gm__opts;

const gm_option_desc gm__option_table[] = {
    {"GOMALLOC_RETAIN", "64MiB",
     "Free heap memory kept backed (not returned to the OS) regardless of heap size. "
     "Go's byte syntax: 4096, 512KiB, 64MiB, 1GiB."},
    {"GOMALLOC_RETAIN_PERCENT", "50",
     "Free heap memory kept backed, as a percentage of the heap in use, when that is "
     "more than GOMALLOC_RETAIN. Beyond it, the scavenger returns free pages to the OS."},
    {"GOMALLOC_STATS", "0",
     "1: print a heap summary (MemStats, per-size-class table, peaks) to stderr at exit; "
     "any other value but 0: append it to that file. `gomalloc run --stats` sets it."},
    {"GOMALLOC_STATS_PID", "0",
     "Only the process with this pid prints GOMALLOC_STATS (0: every process). "
     "`gomalloc run` sets it so that a program's children stay quiet."},
    {"GOGC", "100",
     "Go's GOGC: a collection starts when the collected heap has grown by this percentage "
     "over what the last one found live (at least 4 MiB * GOGC/100). `off` disables "
     "automatic collection (gm_gc and GOMEMLIMIT still collect)."},
    {"GOMEMLIMIT", "off",
     "Go's GOMEMLIMIT: a soft limit on all memory gomalloc maps, with Go's byte syntax "
     "(512MiB); the collector runs more often as it nears. `off`: no limit."},
    {"GODEBUG", "gctrace=0",
     "Go's GODEBUG, comma-separated; understood: gctrace=1 (one line per collection on "
     "stderr, in Go's format; gctrace=2 adds a line on each concurrent cycle's rounds)."},
    {"GOMALLOC_MARKERS", "0",
     "Threads that mark in parallel during a collection (0: the number of cores)."},
    {"GOMALLOC_SIGNAL", "30",
     "Signal number that stops registered threads for a collection (30 = SIGPWR on "
     "Linux x86-64, as the Boehm GC uses). Threads resume through a futex."},
    {"GOMALLOC_PROFILE", "",
     "Write a heap profile (gzipped pprof, `go tool pprof` reads it) to this file at "
     "exit and on GOMALLOC_PROFILE_SIGNAL; %p in the name becomes the pid. "
     "`gomalloc run --profile` sets it."},
    {"GOMALLOC_PROFILE_RATE", "",
     "Go's MemProfileRate: sample one allocation per this many bytes on average "
     "(1: every allocation, 0: off). Default 512KiB when a profile is requested "
     "(GOMALLOC_PROFILE or GOMALLOC_PROFILE_SIGNAL), else 0."},
    {"GOMALLOC_PROFILE_SIGNAL", "0",
     "A signal number (e.g. 12 for SIGUSR2) on which a long-running program writes "
     "GOMALLOC_PROFILE and GOMALLOC_HEAP_MAP without exiting. 0: none."},
    {"GOMALLOC_HEAP_MAP", "",
     "Write the heap map (one HTML page of every arena and span) to this file at exit "
     "and on GOMALLOC_PROFILE_SIGNAL; %p becomes the pid. `gomalloc run --heap-map` sets it."},
    {"GOMALLOC_METRICS", "",
     "Append a time series of runtime metrics (one JSON object per line, Go's "
     "runtime/metrics names) to this file every GOMALLOC_METRICS_INTERVAL while the "
     "program runs; %p becomes the pid. `gomalloc run --metrics` sets it."},
    {"GOMALLOC_METRICS_INTERVAL", "100ms",
     "Sampling interval of GOMALLOC_METRICS: a number with unit ns, us, ms or s."},
    {"GOMALLOC_GCMODE", "concurrent",
     "concurrent: mark while the program runs (two short stops per cycle), where a way "
     "to track written heap pages works (GOMALLOC_DIRTY); else, and with stw, stop the "
     "world for the whole mark."},
    {"GOMALLOC_DIRTY", "auto",
     "How concurrent marking learns which heap pages the program wrote: auto (uffd, else "
     "softdirty, else the collector stops the world), uffd (userfaultfd write protection, "
     "Linux 6.7), softdirty (/proc soft-dirty bits) or mprotect (write faults; only when "
     "named: system calls other than the wrapped read family that write into collected "
     "memory need gm_kernel_write_begin/end, or fail with EFAULT)."},
    {"GOMALLOC_GCMARK", "span",
     "span: small scan objects (up to 512 bytes) are marked a span at a time, as Go "
     "1.26's Green Tea marker does: a marked object queues its span, and the span's "
     "marked objects are scanned together later; object: each marked object is queued "
     "and scanned on its own (Go before 1.25)."},
};
const size_t gm__option_count = sizeof gm__option_table / sizeof gm__option_table[0];

bool gm__parse_bytes(const char *s, uint64_t *out) {
    if (!s || *s < '0' || *s > '9') return false;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s++ - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].suffix) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) return false;
            *out = v << units[i].shift;
            return true;
        }
    }
    return false;
}

static const char *option_value(size_t i) {
    const char *v = getenv(gm__option_table[i].name);
    return v && *v ? v : gm__option_table[i].def;
}

static void warn_bad(size_t i, const char *v) {
    static const char pre[] = "gomalloc: ignoring malformed ";
    gm__sys_write_err(pre, sizeof pre - 1);
    gm__sys_write_err(gm__option_table[i].name, strlen(gm__option_table[i].name));
    gm__sys_write_err("=", 1);
    gm__sys_write_err(v, strlen(v));
    gm__sys_write_err("\n", 1);
}

static uint64_t bytes_option(size_t i) {
    uint64_t v;
    const char *s = option_value(i);
    if (gm__parse_bytes(s, &v)) return v;
    warn_bad(i, s);
    gm__parse_bytes(gm__option_table[i].def, &v);
    return v;
}

static uint64_t percent_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || end == s || v > 10000) {
        warn_bad(i, s);
        v = strtoul(gm__option_table[i].def, NULL, 10);
    }
    return v;
}

static uint64_t number_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s) {
        warn_bad(i, s);
        v = strtoull(gm__option_table[i].def, NULL, 10);
    }
    return v;
}

static void gogc_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    long v = strtol(s, &end, 10);
    if (strcmp(s, "off") == 0) v = -1;
    else if (*end || end == s || v > 1000000) {
        warn_bad(i, s);
        v = 100;
    }
    gm__opts.gc_percent = v < 0 ? -1 : (int)v;
}

static void memlimit_option(size_t i) {
    const char *s = option_value(i);
    uint64_t v;
    if (strcmp(s, "off") == 0) v = INT64_MAX;
    else if (!gm__parse_bytes(s, &v)) {
        warn_bad(i, s);
        v = INT64_MAX;
    }
    gm__opts.memory_limit = v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Empty: 512 KiB (Go's default) if a profile will be written, else off. */
static void profile_rate_option(size_t i) {
    const char *s = option_value(i);
    uint64_t v = 0;
    if (!*s) v = *gm__opts.profile || gm__opts.profile_signal ? 512 * 1024 : 0;
    else if (!gm__parse_bytes(s, &v)) warn_bad(i, s);
    gm__opts.profile_rate = v;
}

/* A duration: digits then ns, us, ms or s. */
static void interval_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    static const struct { const char *unit; uint64_t ns; } units[] = {
        {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    uint64_t ns = 0;
    for (size_t u = 0; end != s && u < sizeof units / sizeof units[0]; u++)
        if (strcmp(end, units[u].unit) == 0) ns = v * units[u].ns;
    if (ns == 0) {
        warn_bad(i, s);
        ns = 100000000;
    }
    gm__opts.metrics_interval_ns = ns;
}

/* GODEBUG=name=value,...: only gctrace is ours to read; others are Go's. */
static void godebug_option(size_t i) {
    const char *s = option_value(i);
    gm__opts.gctrace = 0;
    while (*s) {
        if (strncmp(s, "gctrace=", 8) == 0) gm__opts.gctrace = (int)strtol(s + 8, NULL, 10);
        const char *comma = strchr(s, ',');
        if (!comma) break;
        s = comma + 1;
    }
}

static void gcmode_option(size_t mode, size_t dirty) {
    const char *m = option_value(mode), *d = option_value(dirty);
    if (strcmp(m, "stw") == 0) gm__opts.gc_concurrent = false;
    else if (strcmp(m, "concurrent") == 0) gm__opts.gc_concurrent = true;
    else {
        warn_bad(mode, m);
        gm__opts.gc_concurrent = true;
    }
    static const char *const names[] = {"auto", "uffd", "softdirty", "mprotect"};
    for (int i = 0; i < 4; i++)
        if (strcmp(d, names[i]) == 0) {
            gm__opts.dirty = i;
            return;
        }
    warn_bad(dirty, d);
    gm__opts.dirty = 0;
}

static void gcmark_option(size_t i) {
    const char *v = option_value(i);
    gm__opts.gc_spanmark = strcmp(v, "object") != 0;
    if (gm__opts.gc_spanmark && strcmp(v, "span") != 0) warn_bad(i, v);
}

/* The first malloc can come from the dynamic loader or a constructor that
 * runs before libc has set up environ; then we read the options again once
 * our own constructor runs. */
static bool read_before_environ;

void gm__options_init(void) {
    read_before_environ = environ == NULL;
    gm__opts.retain_min = bytes_option(0);
    gm__opts.retain_percent = percent_option(1);
    gm__opts.stats = option_value(2);
    gm__opts.stats_pid = number_option(3);
    gogc_option(4);
    memlimit_option(5);
    godebug_option(6);
    gm__opts.markers = number_option(7);
    gm__opts.gc_signal = number_option(8);
    if (gm__opts.gc_signal < 1 || gm__opts.gc_signal >= (uint64_t)SIGRTMAX + 1 ||
        gm__opts.gc_signal == SIGKILL || gm__opts.gc_signal == SIGSTOP) {
        warn_bad(8, option_value(8));
        gm__opts.gc_signal = 30;
    }
    gm__opts.profile = option_value(9);
    gm__opts.profile_signal = number_option(11);
    if (gm__opts.profile_signal >= (uint64_t)SIGRTMAX + 1 || gm__opts.profile_signal == SIGKILL ||
        gm__opts.profile_signal == SIGSTOP || gm__opts.profile_signal == gm__opts.gc_signal) {
        warn_bad(11, option_value(11));
        gm__opts.profile_signal = 0;
    }
    profile_rate_option(10);
    gm__opts.heap_map = option_value(12);
    gm__opts.metrics = option_value(13);
    interval_option(14);
    gcmode_option(15, 16);
    gcmark_option(17);
}

static void __attribute__((constructor)) options_after_environ(void) {
    if (read_before_environ && environ) {
        gm__options_init();
        gm__mprof_init(); /* GOMALLOC_PROFILE_RATE */
    }
}
