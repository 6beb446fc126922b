/*
 * The heap whose map tests/heapmap/check.py reads in headless Chromium.
 *
 *   heapmap_layout layout DIR   builds the heap below, writes DIR/mark.html
 *                               (from the GC hook at mark done: the mark bits
 *                               of collected spans show the survivors),
 *                               DIR/heap.html (at the end) and DIR/facts
 *                               (what gm_span_inspect and MemStats said
 *                               right before heap.html: "key value" lines)
 *   heapmap_layout churn DIR    writes the map 40 times while two threads
 *                               allocate and free; the last to DIR/churn.html
 *
 * The heap, in address order as first fit lays it out:
 *   a 400 KiB block (50 pages), freed and released: scavenged pages;
 *   1000 malloc(48);
 *   3 blocks of 100 KiB (13 pages): two live (large spans), one freed into
 *   the large-span cache (a span of state "free");
 *   64 malloc(4096) (2 per span), every odd one freed: pending frees;
 *   40 gm_new(64) kept in a global, 200 dropped, then gm_gc();
 *   a 320 KiB block (40 pages) freed after gm_release_memory: free pages
 *   that are still backed; the rest of the arena was never used.
 *
 * Nothing allocates from gomalloc between the inspections, MemStats and
 * writing heap.html (facts are formatted with snprintf, written with write).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "garbage.h"
#include "internal.h" /* gm__count_spans: in-use spans, for the summary */

#define N48 1000
#define NBIG 3
#define BIG_SIZE (100 * 1024)
#define N4096 64
#define NKEPT 40
#define NDROPPED 200
#define GC_SIZE 64

void *p48[N48], *big[NBIG], *p4096[N4096], *kept[NKEPT]; /* globals: GC roots */

static int facts_fd = -1;
static const char *out_dir;
static gm_span_info mark_info; /* kept[0]'s span at mark done */
static int mark_written;

static void die(const char *what) {
    char msg[256];
    int n = snprintf(msg, sizeof msg, "heapmap_layout: %s\n", what);
    if (write(2, msg, (size_t)n) < 0) _exit(2);
    _exit(1);
}

static void fact(const char *key, const char *fmt, unsigned long long v) {
    char line[160];
    int n = snprintf(line, sizeof line, "%s ", key);
    n += snprintf(line + n, sizeof line - (size_t)n, fmt, v);
    line[n++] = '\n';
    if (write(facts_fd, line, (size_t)n) != n) die("cannot write facts");
}

/* The bitmap as the page prints it: slot 0 first. */
static void fact_bits(const char *key, const uint64_t *w, unsigned n) {
    char line[GM_SPAN_MAX_ELEMS + 64];
    int k = snprintf(line, sizeof line, "%s ", key);
    for (unsigned i = 0; i < n; i++) line[k++] = (char)('0' + ((w[i / 64] >> (i % 64)) & 1));
    line[k++] = '\n';
    if (write(facts_fd, line, (size_t)k) != k) die("cannot write facts");
}

static void fact_span(const char *prefix, const void *p, const gm_span_info *si) {
    char key[64];
#define F(name, fmt, v) (snprintf(key, sizeof key, "%s.%s", prefix, name), fact(key, fmt, v))
    F("ptr", "%#llx", (uintptr_t)p);
    F("base", "%#llx", si->base);
    F("npages", "%llu", si->npages);
    F("state", "%llu", (unsigned)si->state);
    F("sizeclass", "%llu", (unsigned)si->size_class);
    F("spanclass", "%llu", (unsigned)si->span_class);
    F("elemsize", "%llu", si->elemsize);
    F("nelems", "%llu", si->nelems);
    F("alloc", "%llu", si->alloc_count);
    F("freeindex", "%llu", si->freeindex);
    F("allocCache", "%#llx", si->alloc_cache);
    F("gckind", "%llu", (unsigned)si->gc_kind);
    F("slot", "%llu", si->object_index);
#undef F
    if (si->size_class == 0) return;
    snprintf(key, sizeof key, "%s.allocBits", prefix);
    fact_bits(key, si->alloc_bits, si->nelems);
    snprintf(key, sizeof key, "%s.freedBits", prefix);
    fact_bits(key, si->freed_bits, si->nelems);
}

static void inspect(const void *p, gm_span_info *si) {
    if (gm_span_inspect(p, si) != 0) die("pointer not in the heap");
}

static void write_map(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("cannot create a map file");
    if (gm_write_heap_map(fd) != 0) die("gm_write_heap_map failed");
    if (close(fd) != 0) die("close failed");
}

/* At mark done the mark bits show the survivors; sweeping clears them. */
static void on_gc(int phase, void *arg) {
    (void)arg;
    if (phase != GM_GC_PHASE_MARK_DONE || mark_written) return;
    write_map("mark.html");
    if (gm_span_inspect(kept[0], &mark_info) != 0) die("gc object not in the heap");
    mark_written = 1;
}

static void *xmalloc(size_t n) {
    void *p = gm_malloc(n);
    if (!p) die("out of memory");
    return p;
}

static void build_heap(void) {
    void *tmp = xmalloc(400 * 1024);
    for (int i = 0; i < N48; i++) p48[i] = xmalloc(48);
    for (int i = 0; i < NBIG; i++) big[i] = xmalloc(BIG_SIZE);
    for (int i = 0; i < N4096; i++) p4096[i] = xmalloc(4096);
    for (int i = 0; i < NKEPT; i++)
        if (!(kept[i] = gm_new(GC_SIZE))) die("out of memory");
    make_garbage(NDROPPED, GC_SIZE);
    void *big40 = xmalloc(320 * 1024);
    clear_stack();
    gm_set_gc_hook(on_gc, NULL);
    gm_gc();
    gm_set_gc_hook(NULL, NULL);
    if (!mark_written) die("the GC hook did not run");
    gm_free(tmp);
    gm_release_memory();
    gm_free(big40);       /* 40 pages: back to the page allocator, still backed */
    gm_free(big[NBIG - 1]); /* 13 pages: kept whole in the large-span cache */
    /* Last, so that no reclaim folds them: frees pending in the bitmaps. */
    for (int i = 1; i < N4096; i += 2) gm_free(p4096[i]);
}

static void write_facts(void) {
    gm_span_info si;
    const char *interior = (char *)p48[N48 / 2] + 8; /* the page finds its span */
    inspect(interior, &si);
    fact_span("p48", interior, &si);
    int class48 = si.size_class;
    inspect(big[0], &si);
    fact_span("big0", big[0], &si);
    inspect(big[1], &si);
    fact_span("big1", big[1], &si);
    fact("cachedbig.ptr", "%#llx", (uintptr_t)big[NBIG - 1]);
    inspect(p4096[0], &si);
    fact_span("p4096", p4096[0], &si);
    inspect(kept[0], &si);
    fact_span("gc", kept[0], &si);
    /* Mark-done facts: kept[0]'s span then, and the slots of kept objects in it. */
    fact("mark.base", "%#llx", mark_info.base);
    fact("mark.sweepgen", "%llu", mark_info.sweepgen);
    fact_bits("mark.gcmarkBits", mark_info.gcmark_bits, mark_info.nelems);
    for (int i = 0; i < NKEPT; i++) {
        if (gm_span_inspect(kept[i], &si) == 0 && si.base == mark_info.base)
            fact("mark.keptSlot", "%llu", si.object_index);
    }
    uint64_t nspans[GM_NUM_CLASSES], peak, total = 0;
    gm__count_spans(nspans, &peak);
    for (int c = 0; c < GM_NUM_CLASSES; c++) total += nspans[c];
    fact("spans", "%llu", total);
    fact("spans48", "%llu", nspans[class48]);
    gm_memstats m;
    gm_read_memstats(&m);
    fact("heap_sys", "%llu", m.heap_sys);
    fact("heap_inuse", "%llu", m.heap_inuse);
    fact("heap_idle", "%llu", m.heap_idle);
    fact("heap_released", "%llu", m.heap_released);
}

static int churn_stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *slots[512] = {0};
    while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % 512;
        gm_free(slots[i]);
        bool large = (seed >> 20) % 8 == 0;
        size_t size = large ? 40000 + (seed >> 16) % 100000 : 8 + (seed >> 12) % 2000;
        slots[i] = gm_malloc(size);
    }
    for (int i = 0; i < 512; i++) gm_free(slots[i]);
    return NULL;
}

static void churn_maps(void) {
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1)) != 0)
            die("pthread_create");
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull < 0) die("cannot open /dev/null");
    for (int i = 0; i < 39; i++)
        if (gm_write_heap_map(devnull) != 0) die("gm_write_heap_map failed");
    write_map("churn.html");
    close(devnull);
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    /* A bad descriptor: -1 and EBADF. */
    errno = 0;
    if (gm_write_heap_map(-1) != -1 || errno != EBADF) die("gm_write_heap_map(-1) did not fail");
}

int main(int argc, char **argv) {
    if (argc != 3) die("usage: heapmap_layout layout|churn DIR");
    out_dir = argv[2];
    if (strcmp(argv[1], "churn") == 0) {
        churn_maps();
        return 0;
    }
    if (strcmp(argv[1], "layout") != 0) die("usage: heapmap_layout layout|churn DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/facts", out_dir);
    facts_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (facts_fd < 0) die("cannot create the facts file");
    gm_set_gc_percent(-1); /* only our gm_gc() collects */
    build_heap();
    write_facts();
    write_map("heap.html");
    close(facts_fd);
    return 0;
}
