/*
 * Span-at-a-time marking (GOMALLOC_GCMARK=span, the default; mgcmark.c).
 * A marked small object queues its span, and a span scan marks the
 * objects its objects point to within the same span in passes, without
 * queueing it again. What could go wrong, and is checked here:
 *   - a structure that needs one pass per object (a list laid out forwards
 *     or backwards in its spans) loses no node;
 *   - many markers on one graph (GOMALLOC_MARKERS=4, more than the cores)
 *     whose edges stay within spans and cross them, small objects of every
 *     size up to the span-scan limit and past it, typed and conservative,
 *     lose no node, in both marking modes and both collector modes;
 *   - a conservative pointer to a freed slot of the span being scanned
 *     marks nothing (a marked free slot is fatal at sweep: "zombie");
 *   - GOMALLOC_GCMARK=object is honoured and named in the gctrace mode
 *     line, and a malformed value is reported and ignored.
 */
#include "gc_test.h"

/* ---- lists ------------------------------------------------------------------ */

typedef struct lnode { struct lnode *next; uint64_t id, check; } lnode;
static const gm_type lnode_type = GM_TYPE(lnode, next);

static void *volatile list_head;

/* n nodes allocated in order; forwards: node i points to node i+1 (the
 * head is the first allocated), else to node i-1 (the head is the last).
 * No finalizers: what a finalizable object points to is kept anyway. A
 * lost node's slot is reused by the garbage made next, which gm_new
 * zeroes, so the walk sees it. */
GC_NOINLINE static void make_list(int n, int forwards, int typed) {
    lnode *first = NULL, *prev = NULL;
    for (int i = 0; i < n; i++) {
        lnode *x = typed ? gm_new_typed(&lnode_type) : gm_new(sizeof(lnode));
        if (!x) abort();
        x->id = (uint64_t)i;
        x->check = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        if (!first) first = x;
        if (forwards && prev) prev->next = x;
        if (!forwards) x->next = prev;
        prev = x;
    }
    list_head = forwards ? first : prev;
}

static void list_case(int forwards, int typed) {
    enum { N = 3000 }; /* several spans of 24- and 32-byte objects */
    make_list(N, forwards, typed);
    gc_clear_stack();
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < N; j++) (void)gc_launder(gm_new(sizeof(lnode))); /* garbage */
    }
    int n = 0, bad = 0;
    for (const lnode *x = list_head; x; x = x->next, n++) {
        uint64_t want = forwards ? (uint64_t)n : (uint64_t)(N - 1 - n);
        if (x->id != want || x->check != want * 0x9e3779b97f4a7c15ull) bad++;
    }
    CHECK_EQ(n, N);
    CHECK_EQ(bad, 0);
    list_head = NULL;
}

TEST(forward_list_in_spans_survives) { list_case(1, 0); }
TEST(backward_list_in_spans_survives) { list_case(0, 0); }
TEST(typed_forward_list_in_spans_survives) { list_case(1, 1); }
TEST(typed_backward_list_in_spans_survives) { list_case(0, 1); }

/* ---- a random graph, many markers ------------------------------------------ */

/* Node: id, check, then pointer slots to the end of the object. */
typedef struct gnode { uint64_t id, check; struct gnode *p[]; } gnode;
static const size_t sizes[] = {24, 32, 48, 64, 128, 256, 512, 1024};
static gm_type gtypes[GC_COUNT_OF(sizes)];
static uint64_t gbits[GC_COUNT_OF(sizes)][2];

enum { G = 60000 };
static gnode *volatile groot;

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t slots_of(size_t size) { return (size - 16) / 8; }

/* G nodes: node i > 0 hangs from a random earlier node as soon as it is
 * made (so every node is reachable from node 0, groot, through paths that
 * jump between spans and stay in them), plus random extra edges. */
GC_NOINLINE static void make_graph(uint64_t seed, atomic_int *fin) {
    for (size_t k = 0; k < GC_COUNT_OF(sizes); k++) {
        for (size_t w = 2; w < sizes[k] / 8; w++) gbits[k][w / 64] |= (uint64_t)1 << (w % 64);
        gtypes[k] = (gm_type){sizes[k], sizes[k], gbits[k], "gnode", 8};
    }
    gnode **all = malloc(G * sizeof *all);
    size_t *fill = calloc(G, sizeof *fill);
    if (!all || !fill) abort();
    uint64_t s = seed;
    for (int i = 0; i < G; i++) {
        size_t k = rng(&s) % GC_COUNT_OF(sizes);
        gnode *x = (i & 1) ? gm_new_typed(&gtypes[k]) : gm_new(sizes[k]);
        if (!x) abort();
        x->id = (uint64_t)i | (uint64_t)k << 32;
        x->check = x->id * 0x9e3779b97f4a7c15ull;
        if (i % 16 == 0) gm_set_finalizer(x, gc_count_fin, fin);
        all[i] = x; /* malloc memory: not a root */
        if (i == 0) {
            groot = x;
            continue;
        }
        /* Mostly a near parent (same span, often), sometimes a far one. */
        int j = rng(&s) % 4 ? i - 1 - (int)(rng(&s) % (i < 8 ? i : 8)) : (int)(rng(&s) % i);
        for (;; j = (int)(rng(&s) % i)) { /* a parent with a free slot */
            size_t cap = slots_of(sizes[all[j]->id >> 32]);
            if (fill[j] < cap) {
                all[j]->p[fill[j]++] = x;
                break;
            }
        }
    }
    for (int e = 0; e < G / 2; e++) { /* extra edges, cycles included */
        int a = (int)(rng(&s) % G), b = (int)(rng(&s) % G);
        if (fill[a] < slots_of(sizes[all[a]->id >> 32])) all[a]->p[fill[a]++] = all[b];
    }
    memset(all, 0, G * sizeof *all);
    free(all);
    free(fill);
}

/* Nodes reachable from groot, each checked. */
static int walk_graph(int *bad) {
    unsigned char *seen = calloc(G, 1);
    gnode **stack = malloc(4 * G * sizeof *stack);
    if (!seen || !stack) abort();
    int n = 0, sp = 0;
    stack[sp++] = groot;
    while (sp) {
        gnode *x = stack[--sp];
        uint32_t i = (uint32_t)x->id;
        if (i >= G || x->check != x->id * 0x9e3779b97f4a7c15ull) {
            (*bad)++;
            continue;
        }
        if (seen[i]) continue;
        seen[i] = 1;
        n++;
        for (size_t k = 0; k < slots_of(sizes[x->id >> 32]); k++)
            if (x->p[k] && sp < 4 * G) stack[sp++] = x->p[k];
    }
    free(seen);
    free(stack);
    return n;
}

TEST(graph_child) {
    GC_CHILD_ONLY();
    static atomic_int fin;
    make_graph(12345, &fin);
    gc_clear_stack();
    for (int k = 0; k < 4; k++) {
        gm_gc();
        /* Garbage between, so that automatic (concurrent) cycles run too. */
        for (int j = 0; j < 20000; j++) (void)gc_launder(gm_new(sizes[j % 8]));
    }
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    int bad = 0;
    CHECK_EQ(walk_graph(&bad), G);
    CHECK_EQ(bad, 0);
    printf("graph ok, %u cycles\n", gc_stats().num_gc);
}

static void graph_case(const char *mark) {
    char markenv[64];
    snprintf(markenv, sizeof markenv, "GOMALLOC_GCMARK=%s", mark);
    const char *env[] = {"GOMALLOC_MARKERS=4", markenv, "GOGC=50", NULL};
    struct gc_child c;
    gc_run_self("graph_child", env, GC_SANITIZED ? 600 : 120, 0, &c);
    char why[64];
    gc_describe(&c, why, sizeof why);
    if (!gc_child_ok(&c)) fprintf(stderr, "  child %s:\n%s\n%s", why, c.out, c.err);
    CHECK(gc_child_ok(&c));
    CHECK(strstr(c.out, "graph ok") != NULL);
}

TEST(graph_survives_four_markers_span_marking) { graph_case("span"); }
TEST(graph_survives_four_markers_object_marking) { graph_case("object"); }

/* ---- a pointer to a freed neighbour ---------------------------------------- */

static void *volatile keep_a;

/* A and B are neighbours in a span; B is freed and A points to it (and
 * into it). */
GC_NOINLINE static void make_freed_neighbour(void) {
    uintptr_t *a = gm_new(32), *b = gm_new(32);
    if (!a || !b) abort();
    gm_free(b);
    a[0] = (uintptr_t)b;
    a[1] = (uintptr_t)b + 8;
    a[2] = 0x1234;
    keep_a = a;
}

TEST(pointer_to_freed_slot_of_scanned_span_marks_nothing) {
    for (int i = 0; i < 4; i++) {
        make_freed_neighbour();
        gc_clear_stack();
        gm_gc();
        gm_gc(); /* a marked free slot would be fatal when swept */
        CHECK_EQ(((uintptr_t *)keep_a)[2], 0x1234);
    }
    keep_a = NULL;
}

/* ---- the option ------------------------------------------------------------- */

TEST(trace_child) {
    GC_CHILD_ONLY();
    for (int i = 0; i < 1000; i++) (void)gc_launder(gm_new(64));
    gm_gc();
}

static void trace_case(const char *value, const char *want_line, int want_warning) {
    char markenv[64];
    snprintf(markenv, sizeof markenv, "GOMALLOC_GCMARK=%s", value);
    const char *env[] = {markenv, "GODEBUG=gctrace=1", NULL};
    struct gc_child c;
    gc_run_self("trace_child", env, 60, 0, &c);
    CHECK(gc_child_ok(&c));
    CHECK(strstr(c.err, want_line) != NULL);
    CHECK_EQ(strstr(c.err, "ignoring malformed GOMALLOC_GCMARK") != NULL, want_warning);
    if (!strstr(c.err, want_line)) fprintf(stderr, "  stderr: %s\n", c.err);
}

TEST(gcmark_object_is_named_in_the_trace) { trace_case("object", "object marking", 0); }
TEST(gcmark_span_is_named_in_the_trace) { trace_case("span", "span marking", 0); }
TEST(malformed_gcmark_warns_and_marks_spans) { trace_case("bogus", "span marking", 1); }

TEST_MAIN()
