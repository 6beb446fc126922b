/*
 * Multi-threaded stress with fixed seeds. Worker threads allocate blocks of
 * 1 B .. 1 MiB (mostly small), fill each with a pattern derived from its
 * address and the seed, and verify the pattern before every free. Some blocks
 * are reallocated (the prefix must survive) or calloc'ed (must read zero).
 * About a quarter of the frees happen on another thread: the block is put in
 * a shared exchange array (atomic exchange on a slot), and whatever block
 * the slot held is verified and freed by this thread. Workers are created
 * and destroyed during the run: each round starts fresh threads, while blocks
 * from earlier rounds wait in the exchange array for them; short-lived
 * threads come and go while a round runs. At the end everything is freed and
 * the memstats deltas over the run must balance.
 *
 * Environment: GM_STRESS_SEED (decimal or 0x hex) replaces the seed,
 * GM_STRESS_SCALE (percent; default 100, 20 under ASan, 10 under TSan)
 * scales the number of operations.
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "gomalloc.h"

/* Sanitized builds run a smaller share of the operations by default, so
 * that they finish in about a minute. */
#if defined(__SANITIZE_THREAD__)
#define GM_DEFAULT_SCALE 10
#elif defined(__SANITIZE_ADDRESS__)
#define GM_DEFAULT_SCALE 20
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GM_DEFAULT_SCALE 10
#elif __has_feature(address_sanitizer)
#define GM_DEFAULT_SCALE 20
#endif
#endif
#ifndef GM_DEFAULT_SCALE
#define GM_DEFAULT_SCALE 100
#endif

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

enum {
    NTHREADS = 4,       /* long-lived workers per round */
    NROUNDS = 6,
    NEPHEMERAL = 6,     /* short-lived workers started during each round */
    LOCAL_SLOTS = 1024, /* blocks a worker holds at most */
    EX_SLOTS = 4096,    /* the shared exchange */
    OPS_PER_ROUND = 2500000,
};
#define DEFAULT_SEED 0x6f6d616c6c6f63ull

/* ---- Blocks and patterns ------------------------------------------------ */

struct blk {
    unsigned char *p;
    size_t n;   /* bytes requested */
    uint64_t h; /* pattern key: from the address and the seed */
};

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}
static unsigned char pat(uint64_t h, size_t i) {
    return (unsigned char)(mix(h + i) >> 24);
}

/* The pattern covers the first and last 64 bytes and one byte per 4 KiB.
 * next_pos enumerates those offsets in increasing order. */
static size_t next_pos(size_t i, size_t n) {
    if (i + 1 < 64 || i + 1 + 64 >= n) return i + 1;
    size_t k = (i + 1 + 4095) / 4096 * 4096; /* next multiple of 4 KiB */
    return k < n - 64 ? k : n - 64;
}

static void fill(struct blk *b) {
    for (size_t i = 0; i < b->n; i = next_pos(i, b->n)) b->p[i] = pat(b->h, i);
}

/* Context for error messages. */
struct ctx {
    uint64_t seed;
    int round, worker;
    long op;
};

static atomic_long failures;

static void report(const struct ctx *c, const char *what, const void *p,
                   size_t n, size_t off, unsigned got, unsigned want) {
    if (atomic_fetch_add(&failures, 1) < 20)
        fprintf(stderr, "  seed 0x%" PRIx64 " round %d worker %d op %ld: %s: "
                "block %p size %zu offset %zu has 0x%02x, want 0x%02x\n",
                c->seed, c->round, c->worker, c->op, what, p, n, off, got,
                want);
}

/* Check b's pattern on offsets below limit, where the bytes now live at q. */
static bool verify_at(const struct ctx *c, const char *what,
                      const struct blk *b, const unsigned char *q,
                      size_t limit) {
    for (size_t i = 0; i < b->n && i < limit; i = next_pos(i, b->n)) {
        if (q[i] != pat(b->h, i)) {
            report(c, what, q, b->n, i, q[i], pat(b->h, i));
            return false;
        }
    }
    return true;
}
static bool verify(const struct ctx *c, const char *what, const struct blk *b) {
    return verify_at(c, what, b, b->p, SIZE_MAX);
}

/* A new block of n bytes, from malloc or realloc (moved or in place): 16-
 * aligned unless n is in 1..8; align if asked for. */
static void check_new_block(const struct ctx *c, const char *what, void *p,
                            size_t n, size_t align) {
    if (!p) {
        report(c, what, p, n, 0, 0, 0);
        return;
    }
    size_t us = gm_usable_size(p);
    size_t want = n <= 8 ? 8 : 16;
    if (align > want) want = align;
    if ((uintptr_t)p % want) report(c, "misaligned block", p, n, 0, 0, 0);
    if (us < n) report(c, "usable size too small", p, n, 0, 0, 0);
}

/* ---- The shared exchange ------------------------------------------------ */

#define EX_BUSY ((uintptr_t)1)
static _Atomic uintptr_t ex_slot[EX_SLOTS];
static struct blk ex_rec[EX_SLOTS]; /* owned by whoever set the slot BUSY */

/* Puts b in a slot; returns true and the block the slot held in *out. */
static bool exchange(uint64_t *rng, const struct blk *b, struct blk *out) {
    size_t i = gm_test_rand(rng) % EX_SLOTS;
    uintptr_t old;
    for (int tries = 0;; tries++) {
        old = atomic_exchange(&ex_slot[i], EX_BUSY);
        if (old != EX_BUSY) break;
        i = (i + 1) % EX_SLOTS;
        if (tries % 64 == 63) sched_yield();
    }
    bool had = old != 0;
    if (had) {
        *out = ex_rec[i];
        if ((uintptr_t)out->p != old) { /* the protocol itself broke */
            fprintf(stderr, "  exchange slot %zu: record %p, slot %p\n", i,
                    (void *)out->p, (void *)old);
            atomic_fetch_add(&failures, 1);
        }
    }
    if (b) {
        ex_rec[i] = *b;
        atomic_store(&ex_slot[i], (uintptr_t)b->p);
    } else {
        atomic_store(&ex_slot[i], 0);
    }
    return had;
}

/* ---- Workers ------------------------------------------------------------ */

struct worker {
    pthread_t tid;
    struct ctx c;
    uint64_t rng;
    long ops;
    /* counts, for the exact memstats check */
    long allocs, frees, moved;
    struct blk local[LOCAL_SLOTS];
};

static size_t pick_size(uint64_t *rng) {
    uint64_t r = gm_test_rand(rng);
    unsigned bucket = (unsigned)(r % 100);
    r >>= 8;
    if (bucket < 90) return 1 + r % 1024;
    if (bucket < 99) return 1 + r % (64 * KiB);
    return 1 + r % (1 * MiB);
}

static void free_block(struct worker *w, const struct blk *b,
                       const char *what) {
    verify(&w->c, what, b);
    gm_free(b->p);
    w->frees++;
}

static void new_block(struct worker *w, struct blk *b) {
    uint64_t r = gm_test_rand(&w->rng);
    size_t n = pick_size(&w->rng);
    unsigned kind = (unsigned)(r % 100);
    void *p;
    size_t align = 0;
    if (kind < 8) {
        /* calloc, spelled as count * size when it divides */
        p = n % 16 == 0 ? gm_calloc(n / 16, 16) : gm_calloc(n, 1);
        check_new_block(&w->c, "calloc failed", p, n, 0);
        if (p) {
            unsigned char *q = p;
            size_t lim = n <= 4096 ? n : 0;
            for (size_t i = 0; i < lim; i++)
                if (q[i]) { report(&w->c, "calloc not zeroed", p, n, i, q[i], 0); break; }
            for (size_t i = 0; i < n; i = next_pos(i, n))
                if (q[i]) { report(&w->c, "calloc not zeroed", p, n, i, q[i], 0); break; }
        }
    } else if (kind < 12) {
        align = (size_t)16 << (r >> 8) % 9; /* 16 .. 4096 */
        p = NULL;
        int rc = gm_posix_memalign(&p, align, n);
        if (rc) p = NULL;
        check_new_block(&w->c, "posix_memalign failed", p, n, align);
    } else {
        p = gm_malloc(n);
        check_new_block(&w->c, "malloc failed", p, n, 0);
    }
    if (!p) { b->p = NULL; return; }
    w->allocs++;
    b->p = p;
    b->n = n;
    b->h = mix((uintptr_t)p ^ w->c.seed);
    fill(b);
}

static void realloc_block(struct worker *w, struct blk *b) {
    size_t m = pick_size(&w->rng);
    /* When shrinking, also mark the last 64 bytes that must survive. */
    size_t tail = m < b->n ? (m > 64 ? m - 64 : 0) : b->n;
    for (size_t i = tail; i < m && i < b->n; i++) b->p[i] = pat(b->h, i);
    unsigned char *q = gm_realloc(b->p, m);
    check_new_block(&w->c, "realloc failed", q, m, 0);
    if (!q) return; /* b is still intact */
    if (verify_at(&w->c, "realloc lost data", b, q, m)) {
        for (size_t i = tail; i < m && i < b->n; i++)
            if (q[i] != pat(b->h, i)) {
                report(&w->c, "realloc lost data", q, m, i, q[i], pat(b->h, i));
                break;
            }
    }
    if (q != b->p) w->moved++;
    b->p = q;
    b->n = m;
    b->h = mix((uintptr_t)q ^ w->c.seed ^ 0x5151);
    fill(b);
}

/* Gives b away; frees whatever block the exchange gives back. */
static void hand_off(struct worker *w, const struct blk *b) {
    struct blk other;
    if (exchange(&w->rng, b, &other))
        free_block(w, &other, "corrupted block from the exchange");
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct blk *local = w->local;
    for (w->c.op = 0; w->c.op < w->ops; w->c.op++) {
        uint64_t r = gm_test_rand(&w->rng);
        struct blk *b = &local[r % LOCAL_SLOTS];
        unsigned what = (unsigned)((r >> 16) % 100);
        if (!b->p) {
            new_block(w, b);
        } else if (what < 10) {
            realloc_block(w, b);
        } else {
            if (what < 35) hand_off(w, b); /* ~28% of frees cross threads */
            else free_block(w, b, "corrupted block");
            b->p = NULL;
        }
        if ((w->c.op & 0xffff) == 0x8000) {
            if (w->c.worker == 0) gm_release_memory();
            if (w->c.worker == 1) {
                gm_memstats s;
                gm_read_memstats(&s); /* concurrent reads must be safe */
            }
        }
    }
    /* Leave some blocks behind in the exchange for the next round. */
    for (int i = 0; i < LOCAL_SLOTS; i++) {
        if (!local[i].p) continue;
        if (gm_test_rand(&w->rng) % 4 == 0) hand_off(w, &local[i]);
        else free_block(w, &local[i], "corrupted block at thread exit");
        local[i].p = NULL;
    }
    return NULL;
}

/* ---- The run ------------------------------------------------------------ */

static uint64_t env_u64(const char *name, uint64_t dflt) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    return strtoull(s, NULL, 0);
}

static void start(struct worker *w, uint64_t seed, int round, int id,
                  long ops) {
    memset(w, 0, sizeof *w);
    w->c.seed = seed;
    w->c.round = round;
    w->c.worker = id;
    w->rng = mix(seed ^ ((uint64_t)round << 32) ^ (uint64_t)id);
    w->ops = ops;
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
        fprintf(stderr, "  pthread_create failed\n");
        atomic_fetch_add(&failures, 1);
        w->ops = -1;
    }
}
static void finish(struct worker *w, long *allocs, long *frees, long *moved) {
    if (w->ops < 0) return;
    pthread_join(w->tid, NULL);
    *allocs += w->allocs;
    *frees += w->frees;
    *moved += w->moved;
}

TEST(threads_allocate_verify_and_free_across_threads_and_rounds) {
    uint64_t seed = env_u64("GM_STRESS_SEED", DEFAULT_SEED);
    uint64_t scale = env_u64("GM_STRESS_SCALE", GM_DEFAULT_SCALE);
    long ops = (long)((uint64_t)OPS_PER_ROUND * scale / 100);
    if (ops < 1000) ops = 1000;
    printf("stress: seed 0x%" PRIx64 ", %d rounds x %d threads x %ld ops "
           "(+%d short-lived threads per round)\n", seed, NROUNDS, NTHREADS,
           ops, NEPHEMERAL);
    fflush(stdout);

    gm_memstats before;
    gm_read_memstats(&before);
    long allocs = 0, frees = 0, moved = 0;
    static struct worker workers[NTHREADS], eph;
    for (int round = 0; round < NROUNDS; round++) {
        for (int t = 0; t < NTHREADS; t++)
            start(&workers[t], seed, round, t, ops);
        /* Threads come and go while the round's workers run. */
        for (int e = 0; e < NEPHEMERAL; e++) {
            start(&eph, seed, round, NTHREADS + e, ops / 50);
            finish(&eph, &allocs, &frees, &moved);
        }
        for (int t = 0; t < NTHREADS; t++)
            finish(&workers[t], &allocs, &frees, &moved);
    }
    /* Drain the exchange on the main thread. */
    static struct worker mainw;
    memset(&mainw, 0, sizeof mainw);
    mainw.c.seed = seed;
    mainw.c.round = NROUNDS;
    mainw.c.worker = -1;
    size_t drained = 0;
    for (size_t i = 0; i < EX_SLOTS; i++) {
        uintptr_t old = atomic_exchange(&ex_slot[i], 0);
        if (!old) continue;
        CHECK(old != EX_BUSY);
        if (old == EX_BUSY) continue;
        free_block(&mainw, &ex_rec[i], "corrupted block left in the exchange");
        drained++;
    }
    frees += mainw.frees;
    gm_memstats after;
    gm_read_memstats(&after);
    printf("stress: %ld allocations, %ld frees, %ld moving reallocs, %zu "
           "blocks drained at the end\n", allocs, frees, moved, drained);

    long nfail = atomic_load(&failures);
    if (nfail)
        fprintf(stderr, "  %ld failures with seed 0x%" PRIx64
                " (GM_STRESS_SEED=0x%" PRIx64 " to reproduce)\n", nfail, seed,
                seed);
    CHECK_EQ(nfail, 0);
    CHECK(drained > 0); /* blocks did outlive their threads */
    CHECK_EQ(allocs, frees);
    CHECK_EQ(after.mallocs - before.mallocs, after.frees - before.frees);
    CHECK_EQ(after.heap_objects, before.heap_objects);
    CHECK_EQ(after.heap_alloc, before.heap_alloc);
    /* A moving realloc is one malloc and one free. */
    CHECK_EQ(after.mallocs - before.mallocs, (uint64_t)(allocs + moved));
    CHECK_EQ(after.frees - before.frees, (uint64_t)(frees + moved));
    CHECK(after.heap_sys == after.heap_idle + after.heap_inuse);
    if (nfail || after.heap_objects != before.heap_objects)
        fprintf(stderr, "  heap_objects %ju -> %ju, mallocs +%ju, frees +%ju "
                "(seed 0x%" PRIx64 ")\n", (uintmax_t)before.heap_objects,
                (uintmax_t)after.heap_objects,
                (uintmax_t)(after.mallocs - before.mallocs),
                (uintmax_t)(after.frees - before.frees), seed);
}

TEST_MAIN()
