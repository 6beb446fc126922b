/* Runtime metrics: Go's names, kinds and descriptions; values that agree
 * with MemStats as Go's do; the pause histogram; the GOMALLOC_METRICS time
 * series, written by a re-executed copy of this test. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <time.h>

#include "internal.h"
#include "test.h"

#define GO_DESCRIPTIONS "/usr/local/go/src/runtime/metrics/description.go"

static const gm_metric_description *all(size_t *n) {
    const gm_metric_description *d;
    *n = gm_metrics_all(&d);
    return d;
}

/* Reads one metric (a snapshot of its own). */
static gm_metric_sample read1(const char *name) {
    static gm_metric_sample s; /* 1.6 KiB of counts */
    memset(&s, 0, sizeof s);
    s.name = name;
    gm_read_metrics(&s, 1);
    return s;
}

static uint64_t u64(const char *name) { return read1(name).u64; }

static uint64_t hist_total(const gm_metric_histogram *h) {
    uint64_t n = 0;
    for (size_t i = 0; i < h->nbuckets; i++) n += h->counts[i];
    return n;
}

/* Every name in one call, as metrics.Read is used: one snapshot. */
static gm_metric_sample *read_all(size_t *n) {
    const gm_metric_description *d = all(n);
    gm_metric_sample *s = calloc(*n, sizeof *s);
    for (size_t i = 0; i < *n; i++) s[i].name = d[i].name;
    gm_read_metrics(s, *n);
    return s;
}

static const gm_metric_sample *find(const gm_metric_sample *s, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    fprintf(stderr, "  no metric %s\n", name);
    abort();
}

TEST(every_metric_reads_with_its_advertised_kind) {
    size_t n;
    const gm_metric_description *d = all(&n);
    CHECK(n >= 35);
    gm_metric_sample *s = read_all(&n);
    for (size_t i = 0; i < n; i++) {
        CHECK(d[i].name[0] == '/' && strchr(d[i].name, ':') != NULL);
        CHECK(i == 0 || strcmp(d[i - 1].name, d[i].name) < 0); /* sorted, unique: Go's order */
        CHECK(d[i].description && strlen(d[i].description) > 10);
        CHECK(s[i].kind == d[i].kind);
        CHECK(d[i].kind != GM_METRIC_HISTOGRAM || d[i].cumulative);
        if (d[i].kind == GM_METRIC_HISTOGRAM) {
            const gm_metric_histogram *h = &s[i].hist;
            REQUIRE(h->buckets && h->nbuckets > 0 && h->nbuckets <= GM_METRIC_HIST_MAX);
            for (size_t b = 0; b < h->nbuckets; b++) CHECK(h->buckets[b] < h->buckets[b + 1]);
            CHECK(isinf(h->buckets[h->nbuckets]));
        }
    }
    free(s);
}

TEST(the_requested_metrics_are_all_there) {
    static const char *const want[] = {
        "/gc/heap/allocs:bytes", "/gc/heap/allocs:objects", "/gc/heap/frees:bytes",
        "/gc/heap/frees:objects", "/gc/heap/objects:objects", "/gc/heap/goal:bytes",
        "/gc/heap/live:bytes", "/gc/heap/tiny/allocs:objects", "/gc/heap/allocs-by-size:bytes",
        "/gc/heap/frees-by-size:bytes", "/gc/cycles/total:gc-cycles",
        "/gc/cycles/automatic:gc-cycles", "/gc/cycles/forced:gc-cycles", "/gc/gogc:percent",
        "/gc/gomemlimit:bytes", "/gc/pauses:seconds", "/memory/classes/heap/objects:bytes",
        "/memory/classes/heap/free:bytes", "/memory/classes/heap/released:bytes",
        "/memory/classes/heap/unused:bytes", "/memory/classes/heap/stacks:bytes",
        "/memory/classes/metadata/mspan/inuse:bytes", "/memory/classes/metadata/mspan/free:bytes",
        "/memory/classes/metadata/mcache/inuse:bytes", "/memory/classes/metadata/mcache/free:bytes",
        "/memory/classes/metadata/other:bytes", "/memory/classes/profiling/buckets:bytes",
        "/memory/classes/other:bytes", "/memory/classes/total:bytes", "/sched/gomaxprocs:threads",
        "/cpu/classes/gc/total:cpu-seconds", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gm_metric_sample s = read1(want[i]);
        if (s.kind == GM_METRIC_BAD) fprintf(stderr, "  missing %s\n", want[i]);
        CHECK(s.kind != GM_METRIC_BAD);
    }
}

TEST(unknown_names_read_as_bad) {
    gm_metric_sample s[4] = {{.name = "/gc/heap/nope:bytes", .kind = 7, .u64 = 9},
                             {.name = "/gc/heap/allocs:bytes"},
                             {.name = "/sched/goroutines:goroutines", .kind = 7}, /* Go's, not ours */
                             {.name = NULL, .kind = 7}};
    gm_read_metrics(s, 4);
    CHECK_EQ(s[0].kind, GM_METRIC_BAD);
    CHECK_EQ(s[0].u64, 0);
    CHECK_EQ(s[1].kind, GM_METRIC_UINT64);
    CHECK_EQ(s[2].kind, GM_METRIC_BAD);
    CHECK_EQ(s[3].kind, GM_METRIC_BAD);
    CHECK_EQ(read1("").kind, GM_METRIC_BAD);
    CHECK_EQ(read1("/gc/heap/allocs:byte").kind, GM_METRIC_BAD);
    gm_read_metrics(NULL, 0); /* nothing to do */
}

/* ---- Go's descriptions, from description.go's source -------------------- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n + 4096 >= cap) buf = realloc(buf, cap = cap * 2 + 8192);
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Go's entry for name: its Description's string literals joined, its
 * kind and cumulative flag. False if description.go has no such entry. */
static bool go_entry(const char *src, const char *name, char *desc, size_t cap, int *kind,
                     int *cumulative) {
    char quoted[256];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    const char *p = strstr(src, quoted);
    if (!p) return false;
    const char *end = strstr(p, "\n\t},");
    const char *dsc = strstr(p, "Description:");
    if (!end || !dsc || dsc > end) return false;
    size_t n = 0;
    for (const char *q = dsc; q < end && (q = strchr(q, '"')) && q < end;) {
        const char *close = strchr(q + 1, '"');
        const char *kind_at = strstr(dsc, "Kind:");
        if (kind_at && q > kind_at) break;
        size_t len = (size_t)(close - q - 1);
        if (n + len < cap) memcpy(desc + n, q + 1, len);
        n += len;
        q = close + 1;
    }
    desc[n < cap ? n : cap - 1] = 0;
    const char *k = strstr(p, "Kind:");
    k += strspn(k + 5, " \t") + 5;
    *kind = strncmp(k, "KindFloat64Histogram", 20) == 0 ? GM_METRIC_HISTOGRAM
            : strncmp(k, "KindFloat64", 11) == 0        ? GM_METRIC_FLOAT64
                                                        : GM_METRIC_UINT64;
    const char *c = strstr(p, "Cumulative:");
    *cumulative = c && c < end && strncmp(c + 11 + strspn(c + 11, " \t"), "true", 4) == 0;
    return true;
}

TEST(names_kinds_and_descriptions_are_gos) {
    size_t n;
    const gm_metric_description *d = all(&n);
    char *src = slurp(GO_DESCRIPTIONS, NULL);
    if (!src) { /* no Go toolchain here: two of Go's texts, by heart */
        fprintf(stderr, "  (%s not found: checking two descriptions only)\n", GO_DESCRIPTIONS);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(d[i].name, "/gc/heap/goal:bytes") == 0)
                CHECK(strcmp(d[i].description, "Heap size target for the end of the GC cycle.") == 0);
            if (strcmp(d[i].name, "/gc/cycles/total:gc-cycles") == 0)
                CHECK(strcmp(d[i].description, "Count of all completed GC cycles.") == 0);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char desc[2048];
        int kind, cumulative;
        bool found = go_entry(src, d[i].name, desc, sizeof desc, &kind, &cumulative);
        if (!found) fprintf(stderr, "  not one of Go's metrics: %s\n", d[i].name);
        CHECK(found);
        if (!found) continue;
        if (strcmp(desc, d[i].description) != 0)
            fprintf(stderr, "  %s:\n    ours: %s\n    Go's: %s\n", d[i].name, d[i].description, desc);
        CHECK(strcmp(desc, d[i].description) == 0);
        CHECK_EQ(kind, d[i].kind);
        CHECK_EQ(cumulative, d[i].cumulative);
    }
    free(src);
}

/* ---- values ----------------------------------------------------------------- */

TEST(allocations_are_counted_exactly_by_size) {
    gm_gc(); /* nothing left to sweep: no frees behind our back */
    static gm_metric_sample a[6] = {
        {.name = "/gc/heap/allocs:objects"}, {.name = "/gc/heap/frees:objects"},
        {.name = "/gc/heap/allocs:bytes"},   {.name = "/gc/heap/objects:objects"},
        {.name = "/gc/heap/allocs-by-size:bytes"}, {.name = "/gc/heap/frees-by-size:bytes"}};
    static gm_metric_sample b[6];
    memcpy(b, a, sizeof a);
    gm_read_metrics(a, 6);
    void *p[300];
    for (int i = 0; i < 300; i++) p[i] = gm_malloc(100); /* class 9: 112 bytes */
    for (int i = 0; i < 120; i++) gm_free(p[i]);
    void *big = gm_malloc(100000); /* large: 13 pages, the last bucket */
    gm_read_metrics(b, 6);
    CHECK_EQ(b[0].u64 - a[0].u64, 301);
    CHECK_EQ(b[1].u64 - a[1].u64, 120);
    CHECK_EQ(b[2].u64 - a[2].u64, 300 * 112 + 13 * 8192);
    CHECK_EQ(b[3].u64 - a[3].u64, 181);
    const gm_metric_histogram *h0 = &a[4].hist, *h1 = &b[4].hist;
    REQUIRE(h1->nbuckets == 68);
    CHECK(h1->buckets[0] == 1 && h1->buckets[8] == 97 && h1->buckets[9] == 113);
    CHECK(h1->buckets[67] == 32769 && isinf(h1->buckets[68]));
    CHECK_EQ(h1->counts[8] - h0->counts[8], 300);
    CHECK_EQ(h1->counts[67] - h0->counts[67], 1);
    CHECK_EQ(b[5].hist.counts[8] - a[5].hist.counts[8], 120);
    for (int i = 120; i < 300; i++) gm_free(p[i]);
    gm_free(big);
}

/* A tiny object is a malloc in MemStats, not in /gc/heap/allocs:objects. */
TEST(tiny_allocations_are_counted_apart) {
    gm_metric_sample a[2] = {{.name = "/gc/heap/allocs:objects"},
                             {.name = "/gc/heap/tiny/allocs:objects"}};
    gm_metric_sample b[2] = {{.name = a[0].name}, {.name = a[1].name}};
    gm_memstats m0, m1;
    gm_read_memstats(&m0);
    gm_read_metrics(a, 2);
    static void *keep[100];
    for (int i = 0; i < 100; i++) keep[i] = gm_new_noscan(4);
    gm_read_metrics(b, 2);
    gm_read_memstats(&m1);
    CHECK_EQ(b[0].u64 - a[0].u64 + b[1].u64 - a[1].u64, 100);
    CHECK_EQ(m1.mallocs - m0.mallocs, 100);
    CHECK(b[1].u64 - a[1].u64 >= 50); /* four to a 16-byte block */
    gm_keep_alive(keep);
}

/* After gm_gc (everything swept) nothing moves: metrics and MemStats
 * describe the same state, with Go's identities. */
TEST(values_agree_with_memstats) {
    static void *keep[64];
    for (int i = 0; i < 64; i++) keep[i] = i % 2 ? gm_new(200) : gm_new_noscan(3);
    void *m = gm_malloc(5000);
    gm_gc();
    size_t n;
    gm_metric_sample *s = read_all(&n);
    gm_memstats ms;
    gm_read_memstats(&ms);
#define V(name) (find(s, n, name)->u64)
    uint64_t tiny = V("/gc/heap/tiny/allocs:objects");
    CHECK(tiny > 0);
    CHECK_EQ(V("/gc/heap/allocs:objects") + tiny, ms.mallocs);
    CHECK_EQ(V("/gc/heap/frees:objects") + tiny, ms.frees);
    CHECK_EQ(V("/gc/heap/allocs:bytes"), ms.total_alloc);
    CHECK_EQ(V("/gc/heap/frees:bytes"), ms.total_alloc - ms.heap_alloc);
    CHECK_EQ(V("/gc/heap/objects:objects"), ms.heap_objects);
    CHECK_EQ(V("/gc/heap/goal:bytes"), ms.next_gc);
    CHECK_EQ(V("/gc/cycles/total:gc-cycles"), ms.num_gc);
    CHECK_EQ(V("/gc/cycles/forced:gc-cycles"), ms.num_forced_gc);
    CHECK_EQ(V("/gc/cycles/automatic:gc-cycles") + ms.num_forced_gc, ms.num_gc);
    CHECK_EQ(V("/memory/classes/heap/objects:bytes"), ms.heap_alloc);
    CHECK_EQ(V("/memory/classes/heap/unused:bytes"), ms.heap_inuse - ms.heap_alloc);
    CHECK_EQ(V("/memory/classes/heap/free:bytes"), ms.heap_idle - ms.heap_released);
    CHECK_EQ(V("/memory/classes/heap/released:bytes"), ms.heap_released);
    CHECK_EQ(V("/memory/classes/heap/stacks:bytes"), ms.stack_inuse);
    CHECK_EQ(V("/memory/classes/metadata/mspan/inuse:bytes"), ms.mspan_inuse);
    CHECK_EQ(V("/memory/classes/metadata/mspan/free:bytes"), ms.mspan_sys - ms.mspan_inuse);
    CHECK_EQ(V("/memory/classes/metadata/mcache/inuse:bytes"), ms.mcache_inuse);
    CHECK_EQ(V("/memory/classes/metadata/mcache/free:bytes"), ms.mcache_sys - ms.mcache_inuse);
    CHECK_EQ(V("/memory/classes/metadata/other:bytes"), ms.gc_sys);
    CHECK_EQ(V("/memory/classes/profiling/buckets:bytes"), ms.buck_hash_sys);
    CHECK_EQ(V("/memory/classes/other:bytes"), ms.other_sys);
    CHECK_EQ(V("/memory/classes/total:bytes"), ms.sys);
    uint64_t classes = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(s[i].name, "/memory/classes/", 16) == 0 && strstr(s[i].name, "/total:") == NULL)
            classes += s[i].u64;
    CHECK_EQ(classes, V("/memory/classes/total:bytes"));
    CHECK_EQ(hist_total(&find(s, n, "/gc/heap/allocs-by-size:bytes")->hist),
             V("/gc/heap/allocs:objects"));
    CHECK_EQ(hist_total(&find(s, n, "/gc/heap/frees-by-size:bytes")->hist),
             V("/gc/heap/frees:objects"));
    CHECK(V("/sched/gomaxprocs:threads") >= 1);
    double gc = find(s, n, "/cpu/classes/gc/total:cpu-seconds")->f64;
    double total = find(s, n, "/cpu/classes/total:cpu-seconds")->f64;
    CHECK(gc > 0 && total > gc);
    CHECK(fabs(gc / total - ms.gc_cpu_fraction) <= 0.1 * ms.gc_cpu_fraction);
#undef V
    free(s);
    gm_free(m);
    gm_keep_alive(keep);
}

static void *volatile live_root;

TEST(heap_live_is_what_the_last_cycle_marked) {
    void **chain = gm_new(64 * sizeof(void *));
    live_root = chain;
    for (int i = 0; i < 64; i++) chain[i] = gm_new_noscan(16384); /* 1 MiB reachable */
    gm_gc();
    uint64_t live = u64("/gc/heap/live:bytes");
    CHECK(live >= 64 * 16384);
    CHECK(u64("/gc/heap/goal:bytes") >= live);
    live_root = NULL;
}

TEST(settings_read_back) {
    int old = gm_set_gc_percent(150);
    CHECK_EQ(u64("/gc/gogc:percent"), 150);
    gm_set_gc_percent(-1);
    CHECK_EQ(u64("/gc/gogc:percent"), UINT64_MAX); /* Go's uint64(-1) */
    gm_set_gc_percent(old);
    int64_t lim = gm_set_memory_limit(1 << 30);
    CHECK_EQ(u64("/gc/gomemlimit:bytes"), 1 << 30);
    gm_set_memory_limit(lim);
    CHECK_EQ(u64("/gc/gomemlimit:bytes"), (uint64_t)lim);
}

/* Each pause lands in the bucket its duration says, with Go's
 * time-histogram edges. A stop-the-world cycle has one pause (MemStats'
 * pause_ns ring holds it); a concurrent cycle two, and pause_ns their sum. */
TEST(pause_histogram_counts_every_pause) {
    gm_metric_sample a = read1("/gc/pauses:seconds");
    uint64_t cycles0 = u64("/gc/cycles/total:gc-cycles");
    enum { N = 5 };
    for (int i = 0; i < N; i++) gm_gc();
    gm_metric_sample b = read1("/gc/pauses:seconds");
    gm_memstats ms;
    gm_read_memstats(&ms);
    const gm_metric_histogram *h = &b.hist;
    REQUIRE(h->nbuckets == 162);
    CHECK(isinf(h->buckets[0]) && h->buckets[0] < 0 && h->buckets[1] == 0);
    CHECK(h->buckets[2] == 64e-9 && h->buckets[5] == 256e-9 && h->buckets[6] == 320e-9);
    CHECK(h->buckets[161] == (double)(1ull << 47) / 1e9 && isinf(h->buckets[162]));
    uint64_t ncycles = ms.num_gc - cycles0;
    CHECK(ncycles >= N);
    if (strncmp(ms.gc_mode, "concurrent", 10) == 0) {
        CHECK_EQ(hist_total(h) - hist_total(&a.hist), 2 * ncycles);
        return;
    }
    CHECK_EQ(strcmp(ms.gc_mode, "stw"), 0);
    CHECK_EQ(hist_total(h) - hist_total(&a.hist), ncycles);
    uint64_t want[GM_METRIC_HIST_MAX] = {0};
    for (uint64_t k = 0; k < ncycles && k < 256; k++) {
        double sec = (double)ms.pause_ns[(ms.num_gc - 1 - k) % 256] / 1e9;
        size_t i = 1;
        while (i < h->nbuckets && !(sec < h->buckets[i + 1])) i++;
        want[i]++;
    }
    for (size_t i = 0; i < h->nbuckets; i++) CHECK_EQ(h->counts[i] - a.hist.counts[i], want[i]);
    gm_metric_sample same = read1("/sched/pauses/total/gc:seconds");
    CHECK(memcmp(same.hist.counts, h->counts, sizeof h->counts) == 0);
}

/* ---- the time series ---------------------------------------------------- */

static size_t count_lines(const char *path) {
    char *s = slurp(path, NULL);
    size_t n = 0;
    for (char *p = s; p && *p; p++) n += *p == '\n';
    free(s);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* The child's work: a growing malloc heap, collected garbage, a few
 * forced cycles and a forked grandchild, until its series has 8 lines. */
TEST(series_workload_in_child) {
    if (!getenv("GM_METRICS_CHILD")) return; /* only in the re-executed copy */
    char path[4096];
    REQUIRE(gm__expand_path(getenv("GOMALLOC_METRICS"), path, sizeof path));
    static void *keep[4096];
    time_t deadline = time(NULL) + 30;
    for (int i = 0; i < 4096 && (count_lines(path) < 8 || i < 20) && time(NULL) < deadline; i++) {
        keep[i] = gm_malloc(64 << 10);
        memset(keep[i], 1, 64 << 10);
        for (int j = 0; j < 64; j++) gm_keep_alive(gm_new(4096)); /* garbage at once */
        if (i % 10 == 5) gm_gc();
        if (i == 3) {
            fflush(NULL);
            pid_t g = fork();
            if (g == 0) { /* a sampler of its own, then the exit line */
                keep[0] = gm_malloc(1 << 20);
                sleep_ms(60);
                exit(0);
            }
            waitpid(g, NULL, 0);
        }
        sleep_ms(2);
    }
}

/* Minimal check of one line: {"key":number,...}; returns the number of
 * pairs, fills *vals with the values of keys[]. -1 if malformed. */
static int parse_line(const char *s, const char *const *keys, size_t nkeys, double *vals) {
    if (*s++ != '{') return -1;
    int pairs = 0;
    while (*s == '"') {
        const char *k = ++s;
        while (*s && *s != '"') s++;
        if (*s != '"' || s[1] != ':') return -1;
        size_t klen = (size_t)(s - k);
        s += 2;
        char *end;
        double v = strtod(s, &end);
        if (end == s || (*s < '0' || *s > '9')) return -1;
        for (size_t i = 0; i < nkeys; i++)
            if (strlen(keys[i]) == klen && strncmp(keys[i], k, klen) == 0) vals[i] = v;
        s = end;
        pairs++;
        if (*s == ',') s++;
        else break;
    }
    return *s == '}' && s[1] == '\n' ? pairs : -1;
}

/* Lines of path: all of pid, t never decreasing. Returns the number. */
static size_t check_series(const char *path, pid_t pid, double *heap0, double *heap1,
                           double *gcs) {
    char *text = slurp(path, NULL);
    if (!text) return 0;
    static const char *const keys[] = {"pid", "t", "rss", "/memory/classes/heap/objects:bytes",
                                       "/gc/cycles/total:gc-cycles"};
    size_t n;
    int want_pairs = 3; /* pid, t, rss */
    const gm_metric_description *d = all(&n);
    for (size_t i = 0; i < n; i++) want_pairs += d[i].kind != GM_METRIC_HISTOGRAM;
    size_t lines = 0;
    double last_t = -1;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break;
        double v[5] = {-1, -1, -1, -1, -1};
        int pairs = parse_line(p, keys, 5, v);
        if (pairs != want_pairs) fprintf(stderr, "  bad line (%d pairs): %.200s\n", pairs, p);
        CHECK_EQ(pairs, want_pairs);
        CHECK_EQ(v[0], pid);
        CHECK(v[1] >= last_t && v[2] > 0);
        if (lines == 0) *heap0 = v[3];
        *heap1 = v[3];
        *gcs = v[4];
        last_t = v[1];
        lines++;
        p = nl + 1;
    }
    free(text);
    return lines;
}

static void append_env(const char *name, const char *opt) {
    char buf[1024];
    const char *prev = getenv(name);
    snprintf(buf, sizeof buf, "%s%s%s", prev ? prev : "", prev ? ":" : "", opt);
    setenv(name, buf, 1);
}

TEST(time_series_is_written_while_a_program_runs) {
    char dir[] = "/tmp/gm_metrics_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char pattern[256];
    snprintf(pattern, sizeof pattern, "%s/m.%%p.jsonl", dir);
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        setenv("GOMALLOC_METRICS", pattern, 1);
        setenv("GOMALLOC_METRICS_INTERVAL", "10ms", 1);
        setenv("GM_METRICS_CHILD", "1", 1);
        /* The grandchild is forked while the child's sampler runs, and
         * starts one of its own: LeakSanitizer there would see threads
         * gone with the fork, and ThreadSanitizer refuses new threads. */
        append_env("ASAN_OPTIONS", "detect_leaks=0");
        append_env("TSAN_OPTIONS", "die_after_fork=0");
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl("/proc/self/exe", "unit_metrics", "series_workload_in_child", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(child, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/m.%d.jsonl", dir, (int)child);
    double heap0 = 0, heap1 = 0, gcs = 0;
    size_t lines = check_series(path, child, &heap0, &heap1, &gcs);
    CHECK(lines >= 5);
    CHECK(heap1 > heap0);
    CHECK(gcs >= 1);
    /* The forked grandchild wrote a series of its own, under its pid. */
    DIR *dp = opendir(dir);
    REQUIRE(dp);
    int files = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        if (e->d_name[0] == '.') continue;
        char other[600];
        snprintf(other, sizeof other, "%s/%s", dir, e->d_name);
        int pid = 0;
        sscanf(e->d_name, "m.%d.jsonl", &pid);
        if (pid != child) {
            double h0, h1, g;
            CHECK(check_series(other, pid, &h0, &h1, &g) >= 1);
        }
        unlink(other);
        files++;
    }
    closedir(dp);
    rmdir(dir);
    CHECK_EQ(files, 2);
}

TEST_MAIN()
