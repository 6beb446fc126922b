/*
 * Heap profiling (Go's mprof.go and the sampling in malloc.go). See
 * malloc.c for the allocator's overview.
 *
 * Sampling. With a rate r > 0 (Go's MemProfileRate), each thread counts
 * down the bytes it allocates from a distance drawn from an exponential
 * distribution of mean r; the allocation that crosses zero is sampled and
 * a new distance is drawn. Sampling is thus a Poisson process over the
 * allocated bytes: an object of n bytes is sampled with probability
 * 1 - exp(-n/r), which the writer inverts (pprof.c). Objects count with
 * their block size (size class or whole pages), as Go counts them, except
 * tiny objects, which count with their own size. Rate 1 samples everything.
 *
 * Cost. The allocation fast paths test one global byte
 * (gm__observe_alloc_on, hooks.c), set only while sampling or an
 * allocation hook is on; then every allocation calls gm__observe_alloc,
 * which counts down here. Frees cost nothing: a sampled object's free is
 * found where its slot is recycled, as Go finds it when sweeping.
 *
 * Records. A sample records its call stack (the unwinder reads .eh_frame,
 * so -O2 code without frame pointers unwinds right) into a bucket keyed by
 * (stack, object size) — Go's bucket and memRecord — and hangs a special
 * record on the object's span (Go's specialprofile): its slot and bucket.
 * The slot's free is counted
 *   - when the span is folded (malloc memory: local_free | remote_free),
 *   - when it is swept (collected memory: allocated but unmarked),
 *   - when the span goes back to the heap (large objects, empty spans),
 *   - or when a profile is written and the slot is found free already
 *     (freed but not yet folded), so a profile never shows freed objects.
 * Buckets live forever, as Go's do; specials are recycled.
 *
 * No re-entry. The thread that samples (or runs a hook, or writes a
 * profile) sets gm__tls_observing: allocations it makes meanwhile (the
 * unwinder's, a hook's, the encoder's) are neither sampled nor hooked.
 * Buckets and specials live in memory mapped for them (counted in
 * MemStats' buck_hash_sys), never in the heap.
 *
 * Lock: prof_lock guards the buckets, the specials and every span's
 * `specials` list. It is a leaf: taken while a span is folded (owner or
 * central lock) or swept (gc lock), never held while taking another lock
 * or allocating.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "mgc.h"
#include "mprof.h"

uint64_t gm__mprof_rate;      /* bytes per sample; 0 = off; atomic */
static uint64_t last_rate;    /* the last non-zero rate: the writer's period */
uint32_t gm__mprof_epoch;     /* bumped at every rate change; atomic */
uint64_t gm__mprof_sys;       /* bytes mapped for buckets and specials; atomic */

__thread int64_t gm__tls_sample_left; /* bytes until this thread's next sample */
__thread uint32_t gm__tls_sample_epoch; /* gm__mprof_epoch the distance was drawn at */

typedef struct bucket {
    struct bucket *hash_next; /* chain in buckhash */
    struct bucket *all_next;  /* every bucket, for the writer */
    uint64_t hash, size;
    uint64_t alloc_objects, alloc_bytes, free_objects, free_bytes;
    uint32_t nstack;
    uintptr_t stack[];
} bucket;

/* Go's specialprofile: one sampled object still allocated. */
struct gm_special {
    gm_special *span_next;           /* the span's list (gm_span.specials) */
    gm_special *all_next, *all_prev; /* every special, for the writer */
    gm_span *span;
    uint32_t slot;                   /* object index in the span (0 for large) */
    bucket *b;
};

#define BUCKHASH_SIZE (1u << 16)
static gm_mutex prof_lock = GM_MUTEX_INIT;
static bucket **buckhash;         /* prof_lock; mapped at the first sample */
static bucket *all_buckets;       /* prof_lock */
static size_t nbuckets;           /* prof_lock */
static gm_special *all_specials;  /* prof_lock */
static gm_special *free_specials; /* prof_lock */

/* A registered thread is never stopped for a collection while it holds
 * prof_lock (nosuspend): the stopped world may fold or free spans, which
 * takes it. */
static void prof_lock_acquire(void) {
    gm_gthread *t = gm__tls_gthread;
    if (t) gm__nosuspend_begin(t);
    gm__lock(&prof_lock);
}

static void prof_lock_release(void) {
    gm__unlock(&prof_lock);
    gm_gthread *t = gm__tls_gthread;
    if (t) gm__nosuspend_end(t);
}

/* ---- persistent memory for records (prof_lock) ------------------------- */

static char *chunk;
static size_t chunk_left;

static void *persistent_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n > chunk_left) {
        size_t want = n > (256 << 10) ? n : (256 << 10);
        char *p = gm__sys_alloc(want);
        if (!p) return NULL;
        GM_ADD(&gm__mprof_sys, want);
        chunk = p;
        chunk_left = want;
    }
    void *p = chunk;
    chunk += n;
    chunk_left -= n;
    return p;
}

/* ---- sampling ------------------------------------------------------------ */

static __thread uint64_t tls_seed; /* the sampler's random state; 0 = unseeded */

/* Tests fix the calling thread's draws; 0 goes back to a random seed. */
void gm__mprof_seed(uint64_t seed) {
    tls_seed = seed;
    gm__tls_sample_epoch = GM_LOAD(&gm__mprof_epoch) - 1; /* draw the next distance anew */
}

/* 26 random bits (splitmix64 over the thread's state). */
static uint64_t rand26(void) {
    if (GM_UNLIKELY(tls_seed == 0)) tls_seed = gm__rand() | 1;
    uint64_t z = (tls_seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) >> 38;
}

/* Go's nextSample: an exponentially distributed distance of mean rate. */
static int64_t next_sample(uint64_t rate) {
    if (rate <= 1) return 0;
    if (rate > 0x7000000) rate = 0x7000000; /* as Go: keep the distance in range */
    double q = (double)(rand26() + 1) / (double)(1u << 26); /* (0, 1] */
    return (int64_t)(-log(q) * (double)rate) + 1;
}

bool gm__mprof_should_sample(size_t size) {
    uint64_t rate = GM_LOAD(&gm__mprof_rate);
    if (!rate) return false;
    uint32_t epoch = GM_LOAD(&gm__mprof_epoch);
    if (GM_UNLIKELY(gm__tls_sample_epoch != epoch)) {
        gm__tls_sample_epoch = epoch;
        gm__tls_sample_left = next_sample(rate);
    }
    gm__tls_sample_left -= (int64_t)size;
    if (gm__tls_sample_left >= 0) return false;
    gm__tls_sample_left = next_sample(rate);
    return true;
}

size_t gm_set_profile_rate(size_t rate) {
    gm__ensure_init();
    size_t old = (size_t)__atomic_exchange_n(&gm__mprof_rate, (uint64_t)rate, __ATOMIC_SEQ_CST);
    if (rate) GM_STORE(&last_rate, rate);
    __atomic_add_fetch(&gm__mprof_epoch, 1, __ATOMIC_SEQ_CST);
    gm__observe_update();
    return old;
}

void gm__mprof_init(void) {
    gm__mprof_rate = gm__opts.profile_rate;
    if (gm__mprof_rate) last_rate = gm__mprof_rate;
    __atomic_add_fetch(&gm__mprof_epoch, 1, __ATOMIC_SEQ_CST);
    gm__observe_update();
}

/* ---- stacks and buckets -------------------------------------------------- */

typedef struct unwind_state {
    uintptr_t *pcs;
    uint32_t n;
} unwind_state;

static _Unwind_Reason_Code unwind_frame(struct _Unwind_Context *ctx, void *arg) {
    unwind_state *st = arg;
    uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
    if (!ip || st->n == GM_MPROF_MAX_STACK) return _URC_END_OF_STACK;
    st->pcs[st->n++] = ip;
    return _URC_NO_REASON;
}

static uint64_t stack_hash(const uintptr_t *pcs, uint32_t n, uint64_t size) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
    for (uint32_t i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

/* prof_lock. NULL when out of memory (the sample is dropped). */
static bucket *bucket_get(const uintptr_t *pcs, uint32_t n, uint64_t size) {
    if (!buckhash) {
        buckhash = gm__sys_alloc(BUCKHASH_SIZE * sizeof *buckhash);
        if (!buckhash) return NULL;
        GM_ADD(&gm__mprof_sys, BUCKHASH_SIZE * sizeof *buckhash);
    }
    uint64_t h = stack_hash(pcs, n, size);
    bucket **head = &buckhash[h & (BUCKHASH_SIZE - 1)];
    for (bucket *b = *head; b; b = b->hash_next)
        if (b->hash == h && b->size == size && b->nstack == n &&
            memcmp(b->stack, pcs, n * sizeof *pcs) == 0)
            return b;
    bucket *b = persistent_alloc(sizeof *b + n * sizeof *pcs);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    b->hash = h;
    b->size = size;
    b->nstack = n;
    memcpy(b->stack, pcs, n * sizeof *pcs);
    b->hash_next = *head;
    *head = b;
    b->all_next = all_buckets;
    all_buckets = b;
    nbuckets++;
    return b;
}

/* ---- specials (prof_lock) ----------------------------------------------- */

static gm_special *special_new(void) {
    gm_special *sp = free_specials;
    if (sp) free_specials = sp->span_next;
    else sp = persistent_alloc(sizeof *sp);
    return sp;
}

static void special_add(gm_special *sp, gm_span *s, uint32_t slot, bucket *b) {
    sp->span = s;
    sp->slot = slot;
    sp->b = b;
    sp->span_next = s->specials;
    GM_STORE_REL(&s->specials, sp);
    sp->all_prev = NULL;
    sp->all_next = all_specials;
    if (all_specials) all_specials->all_prev = sp;
    all_specials = sp;
}

/* Count sp's object freed and recycle sp; *link is the span-list link to it. */
static void special_free(gm_special **link, gm_special *sp) {
    sp->b->free_objects++;
    sp->b->free_bytes += sp->b->size;
    GM_STORE(link, sp->span_next);
    if (sp->all_prev) sp->all_prev->all_next = sp->all_next;
    else all_specials = sp->all_next;
    if (sp->all_next) sp->all_next->all_prev = sp->all_prev;
    sp->span_next = free_specials;
    free_specials = sp;
}

/* The sampled object p (of block size `size`, in span s) was just
 * allocated. Called with gm__tls_observing set. */
void gm__mprof_malloc(void *p, gm_span *s, size_t size) {
    uintptr_t pcs[GM_MPROF_MAX_STACK];
    unwind_state st = {pcs, 0};
    _Unwind_Backtrace(unwind_frame, &st);
    uint32_t slot = s->spanclass < 2 ? 0 : gm__span_slot(s, (uintptr_t)p);
    prof_lock_acquire();
    bucket *b = bucket_get(pcs, st.n, size);
    gm_special *sp = b ? special_new() : NULL;
    if (sp) {
        b->alloc_objects++;
        b->alloc_bytes += size;
        special_add(sp, s, slot, b);
    }
    prof_lock_release();
}

/* Fold and sweep: freed[w] holds the slots of word w just freed. */
void gm__mprof_free_slots(gm_span *s, const uint64_t *freed) {
    prof_lock_acquire();
    gm_special **link = &s->specials;
    for (gm_special *sp; (sp = *link) != NULL;) {
        if (freed[sp->slot / 64] >> (sp->slot % 64) & 1) special_free(link, sp);
        else link = &sp->span_next;
    }
    prof_lock_release();
}

/* s goes back to the heap: whatever it held is freed. */
void gm__mprof_free_span(gm_span *s) {
    prof_lock_acquire();
    while (s->specials) special_free(&s->specials, s->specials);
    prof_lock_release();
}

/* Is the sampled object still allocated? Read without the owner's
 * cooperation: freeindex (acquire) before the bitmaps, the order in which a
 * fold publishes them, so a live object never reads as free. */
static bool special_live(const gm_special *sp) {
    gm_span *s = sp->span;
    if (s->spanclass < 2) return GM_LOAD(&s->state) == GM_SPAN_LARGE;
    uint32_t i = sp->slot, w = i / 64;
    uint64_t bit = (uint64_t)1 << (i % 64);
    bool allocated = i < GM_LOAD_ACQ(&s->freeindex) || (GM_LOAD(&s->alloc_bits[w]) & bit);
    bool freed = (GM_LOAD(&s->remote_free[w]) & bit) ||
                 (s->local_free && (GM_LOAD(&s->local_free[w]) & bit));
    return allocated && !freed;
}

/* prof_lock: count the frees not folded yet (see the essay). */
static void reconcile_specials(void) {
    for (gm_special *sp = all_specials, *next; sp; sp = next) {
        next = sp->all_next;
        if (special_live(sp)) continue;
        gm_special **link = &sp->span->specials;
        while (*link != sp) link = &(*link)->span_next;
        special_free(link, sp);
    }
}

/* ---- writing ------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t gm__mprof_records(gm_mprof_record *out, size_t cap) {
    prof_lock_acquire();
    reconcile_specials();
    size_t i = 0;
    for (bucket *b = all_buckets; b && i < cap; b = b->all_next, i++)
        out[i] = (gm_mprof_record){b->stack, b->nstack, b->size, b->alloc_objects,
                                   b->alloc_bytes, b->free_objects, b->free_bytes};
    size_t n = nbuckets;
    prof_lock_release();
    return n;
}

/* Copy the buckets out into memory mapped for the purpose, so the encoder
 * (which allocates) runs unlocked. */
static gm_mprof_record *snapshot(size_t *n, size_t *mapped) {
    gm_mprof_record *recs = NULL;
    size_t cap = 0;
    for (;;) {
        size_t want = gm__mprof_records(recs, cap);
        if (recs && want <= cap) {
            *n = want;
            return recs;
        }
        if (recs) gm__sys_free(recs, *mapped);
        *mapped = ((want + 64) * sizeof *recs + 4095) & ~(size_t)4095;
        cap = *mapped / sizeof *recs;
        recs = gm__sys_alloc(*mapped);
        if (!recs) return NULL;
    }
}

int gm_write_heap_profile(int fd) {
    gm__ensure_init();
    if (fd < 0) {
        errno = EINVAL;
        return -1;
    }
    bool was = gm__tls_observing;
    gm__tls_observing = true;
    size_t n = 0, mapped = 0;
    gm_mprof_record *recs = snapshot(&n, &mapped);
    int rc = -1;
    if (!recs) errno = ENOMEM;
    else rc = gm__pprof_write_heap(fd, recs, n, GM_LOAD(&last_rate), now_ns());
    int saved = errno;
    if (recs) gm__sys_free(recs, mapped);
    gm__tls_observing = was;
    errno = saved;
    return rc;
}



/* ---- GOMALLOC_PROFILE and GOMALLOC_HEAP_MAP: at exit and on a signal ---- */

/* pattern with every %p replaced by the pid; false if it does not fit. */
bool gm__expand_path(const char *pattern, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *c = pattern; *c; c++) {
        char pid[24];
        const char *piece = c;
        size_t len = 1;
        if (c[0] == '%' && c[1] == 'p') {
            len = (size_t)snprintf(pid, sizeof pid, "%d", (int)getpid());
            piece = pid;
            c++;
        }
        if (n + len >= cap) return false;
        memcpy(buf + n, piece, len);
        n += len;
    }
    buf[n] = 0;
    return true;
}

/* Write to a temporary name and rename, so that a reader (or a dump on
 * the next signal) never sees half a file. */
static void write_output(const char *pattern, int (*writer)(int fd), const char *what) {
    char path[4096], tmp[4200];
    if (!gm__expand_path(pattern, path, sizeof path)) return;
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && writer(fd) == 0;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return;
    if (fd >= 0) unlink(tmp);
    char msg[4400];
    int len = snprintf(msg, sizeof msg, "gomalloc: cannot write the %s to %s\n", what, path);
    gm__sys_write_err(msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1);
}

static void write_outputs(void) {
    if (*gm__opts.profile) write_output(gm__opts.profile, gm_write_heap_profile, "heap profile");
    if (*gm__opts.heap_map) write_output(gm__opts.heap_map, gm_write_heap_map, "heap map");
}

static uint32_t dump_requests; /* futex word: bumped by the signal handler */

static void on_dump_signal(int sig) {
    (void)sig;
    int saved = errno;
    __atomic_add_fetch(&dump_requests, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&dump_requests);
    errno = saved;
}

/* The signal handler only wakes this thread: writing a profile allocates
 * and takes locks, which a handler must not. */
static void *dumper(void *arg) {
    (void)arg;
    uint32_t seen = 0;
    for (;;) {
        while (GM_LOAD_ACQ(&dump_requests) == seen) gm__futex_wait(&dump_requests, seen, 0);
        seen = GM_LOAD_ACQ(&dump_requests);
        write_outputs();
    }
    return NULL;
}

static void start_dumper(void) {
    if (!gm__opts.profile_signal) return;
    if (!gm__start_helper(dumper, NULL)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction((int)gm__opts.profile_signal, &sa, NULL);
}

/* At load (after the options are read with the environment): a thread
 * started from inside malloc could run before the program is ready. */
static void __attribute__((constructor)) dumper_at_load(void) {
    gm__ensure_init();
    start_dumper();
}

static void __attribute__((destructor)) outputs_at_exit(void) {
    gm__ensure_init();
    int saved = errno;
    write_outputs();
    errno = saved;
}

/* fork: prof_lock is the last lock taken (a leaf). The child has no
 * dumper thread: it starts its own. */
void gm__mprof_fork_prepare(void) { gm__lock(&prof_lock); }
void gm__mprof_fork_parent(void) { gm__unlock(&prof_lock); }
void gm__mprof_fork_child(void) {
    gm__lock_reinit(&prof_lock);
    if (gm__opts.profile_signal) gm__start_helper(dumper, NULL);
}
