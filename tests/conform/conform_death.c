/*
 * Heap misuse must kill the process with SIGABRT. Each misuse runs in a
 * forked child on a block the parent allocated before the fork, so the
 * parent knows the address the error message has to name. After the misuse
 * the child carries on allocating, as a real program would: an allocator
 * may notice some misuse only when it next sweeps the span (gomalloc finds
 * a block freed both remotely and by its owner when it folds the span), and
 * still has to kill the process before it exits.
 *
 * Under gomalloc every case must die with exactly one stderr line
 * "gomalloc: fatal error: ... 0x<pointer>". Under glibc only the cases
 * glibc 2.36 detects deterministically are asserted, with glibc's message.
 * Under any other allocator the misuse cases are skipped (reported).
 */
#include <pthread.h>

#include "conform.h"

/* One misuse: what the child does with the block, which pointer the
 * message must name, and glibc's message if glibc detects it (or NULL). */
struct misuse {
    const char *name;
    size_t size;                    /* block the parent allocates */
    size_t offset;                  /* pointer handed to the misuse: block + offset */
    void (*act)(void *p);
    const char *glibc_says;
};

static void free_twice(void *p) {
    free(p);
    free(launder(p));
}

/* glibc finds this one too: the tcache key check does not need p on top. */
static void free_other_free_again(void *p) {
    void *q = malloc(opaque(64));
    free(p);
    free(q);
    free(launder(p));
}

static void free_once(void *p) { free(launder(p)); }

static void realloc_after_free(void *p) {
    free(p);
    void *r = realloc(launder(p), 1000);
    (void)launder(r);
}

static void realloc_interior(void *p) {
    void *r = realloc(launder(p), 1000);
    (void)launder(r);
}

/* realloc(p, 0) frees p (glibc and gomalloc); a later free is a double free.
 * This proves the "frees" half of conform_malloc's realloc-to-zero check. */
static void realloc_zero_then_free(void *p) {
    void *r = realloc(p, opaque(0));
    if (r) _exit(3); /* not freed-and-NULL: conform_malloc reports that */
    free(launder(p));
}

static void *free_in_thread(void *p) {
    free(p);
    return NULL;
}
static void free_in_thread_then_here(void *p) {
    gm_test_run_in_thread(free_in_thread, p);
    free(launder(p));
}
static void free_here_then_in_thread(void *p) {
    free(p);
    gm_test_run_in_thread(free_in_thread, launder(p));
}

/* glibc's tcache says "free(): double free detected in tcache 2"; with the
 * tcache bin full it would be "double free or corruption (fasttop)". */
#define GLIBC_DOUBLE_FREE "double free"

static const struct misuse misuses[] = {
    {"double free, small", 64, 0, free_twice, GLIBC_DOUBLE_FREE},
    {"double free with another free between", 64, 0, free_other_free_again,
     GLIBC_DOUBLE_FREE},
    {"double free, 24-byte class", 20, 0, free_twice, GLIBC_DOUBLE_FREE},
    /* Beyond glibc's tcache, detection depends on the neighbours. */
    {"double free, 4 KiB", 4096, 0, free_twice, NULL},
    {"double free, large", MiB, 0, free_twice, NULL},
    {"double free across threads (here, then other)", 64, 0, free_here_then_in_thread, NULL},
    {"double free across threads (other, then here)", 64, 0, free_in_thread_then_here, NULL},
    {"realloc(p, 0) then free(p)", 64, 0, realloc_zero_then_free,
     GLIBC_DOUBLE_FREE},
    /* The block is zeroed, so glibc reads a chunk size of 0 and rejects it. */
    {"free of interior pointer, small", 64, 16, free_once, "free(): invalid pointer"},
    {"free of interior pointer, large", MiB, 4096, free_once, "free(): invalid pointer"},
    {"free of misaligned pointer", 64, 1, free_once, "free(): invalid pointer"},
    {"free of misaligned pointer, large", MiB, 1, free_once, "free(): invalid pointer"},
    {"realloc of interior pointer", 64, 16, realloc_interior, "realloc(): invalid pointer"},
    /* glibc's realloc of a freed block is caught only by layout luck. */
    {"realloc of freed pointer, small", 64, 0, realloc_after_free, NULL},
    {"realloc of freed pointer, large", MiB, 0, realloc_after_free, NULL},
};

/* Freed at never_allocated + 32: the 16 zero bytes before that are what
 * glibc reads as a chunk header (size 0), which it rejects. */
static _Alignas(64) unsigned char never_allocated[256];

/* Ordinary use of the heap after a misuse: rounds of allocating and
 * freeing many blocks of the misused size (up to 16 MiB of them), so that
 * the span holding the misused block runs out of free slots and is swept. */
static void carry_on(size_t size) {
    enum { MAX_BLOCKS = 4096 };
    static void *blocks[MAX_BLOCKS];
    size_t n = size ? size : 1, count = 16 * MiB / n + 1;
    if (count > MAX_BLOCKS) count = MAX_BLOCKS;
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < count; i++) blocks[i] = malloc(opaque(n));
        for (size_t i = 0; i < count; i++) free(blocks[i]);
    }
}

struct misuse_run {
    const struct misuse *m;
    void *p;
};

static void misuse_then_carry_on(void *arg) {
    const struct misuse_run *run = (const struct misuse_run *)arg;
    run->m->act(run->p);
    carry_on(run->m->size);
}

static void run_misuse(const struct misuse *m, void *block, struct child_result *r) {
    struct misuse_run run = {m, (char *)block + m->offset};
    run_child(misuse_then_carry_on, &run, 20, r);
}

static void check_gomalloc_death(const struct misuse *m, void *block) {
    struct child_result r;
    run_misuse(m, block, &r);
    if (!gomalloc_died_naming(&r, (char *)block + m->offset, m->name))
        gm_test_failed_current = 1;
}

static void check_glibc_death(const struct misuse *m, void *block) {
    struct child_result r;
    run_misuse(m, block, &r);
    char how[64];
    if (!died_of(&r, SIGABRT) || !strstr(r.err, m->glibc_says)) {
        fprintf(stderr, "  %s: child %s, stderr \"%s\"; wanted SIGABRT and \"%s\"\n",
                m->name, describe_exit(&r, how, sizeof how), r.err, m->glibc_says);
        gm_test_failed_current = 1;
    }
}

TEST(heap_misuse_aborts) {
    enum conform_allocator who = conform_allocator();
    if (who == ALLOC_OTHER) {
        note_skip("malloc is neither glibc nor gomalloc: misuse detection unspecified");
        return;
    }
    if (who == ALLOC_GLIBC) note_skip("cases glibc does not detect reliably");
    for (size_t i = 0; i < COUNT_OF(misuses); i++) {
        const struct misuse *m = &misuses[i];
        if (who == ALLOC_GLIBC && !m->glibc_says) continue;
        void *block = calloc(1, opaque(m->size));
        REQUIRE(block != NULL);
        if (who == ALLOC_GOMALLOC) check_gomalloc_death(m, block);
        else check_glibc_death(m, block);
        free(block); /* still live here: only the child misused it */
    }
}

TEST(free_of_memory_never_allocated_aborts) {
    enum conform_allocator who = conform_allocator();
    void *p = never_allocated + 32;
    struct child_result r;
    if (who == ALLOC_OTHER) {
        note_skip("malloc is neither glibc nor gomalloc");
        return;
    }
    run_child(free_once, p, 10, &r);
    if (who == ALLOC_GOMALLOC) CHECK(gomalloc_died_naming(&r, p, "free of a static buffer"));
    else CHECK(died_of(&r, SIGABRT) && strstr(r.err, "free(): invalid pointer"));
}

/* gomalloc.h's example message for a double free says what happened. */
TEST(gomalloc_names_a_double_free_as_such) {
    if (conform_allocator() != ALLOC_GOMALLOC) {
        note_skip("gomalloc's message only");
        return;
    }
    void *p = malloc(opaque(48));
    REQUIRE(p != NULL);
    struct child_result r;
    run_child(free_twice, p, 10, &r);
    CHECK(strstr(r.err, GM_FATAL_PREFIX "double free") != NULL);
    free(p);
}

/* ---- Controls: the harness itself can tell the outcomes apart ---------- */

static void do_abort(void *arg) {
    (void)arg;
    abort();
}
static void hang(void *arg) {
    (void)arg;
    for (;;) pause();
}
static void say_fake_fatal(void *p) {
    fprintf(stderr, GM_FATAL_PREFIX "double free %p\n" GM_FATAL_PREFIX "again\n", p);
    abort();
}

TEST(control_valid_frees_do_not_die) {
    const size_t sizes[] = {1, 20, 64, 4096, 40000, MiB};
    for (size_t i = 0; i < COUNT_OF(sizes); i++) {
        void *p = malloc(opaque(sizes[i]));
        REQUIRE(p != NULL);
        struct child_result r;
        run_child(free_once, p, 10, &r);
        CHECK(exited_zero(&r));
        CHECK(strstr(r.err, "fatal") == NULL && strstr(r.err, "free()") == NULL);
        free(p);
    }
}

TEST(control_harness_tells_abort_hang_and_extra_lines_apart) {
    struct child_result r;
    run_child(do_abort, NULL, 10, &r);
    CHECK(died_of(&r, SIGABRT));
    run_child(hang, NULL, 0.3, &r);
    CHECK(r.timed_out && !died_of(&r, SIGABRT));
    int x;
    run_child(say_fake_fatal, &x, 10, &r);
    CHECK(died_of(&r, SIGABRT));
    const char *line = NULL;
    CHECK_EQ(count_lines_starting(r.err, GM_FATAL_PREFIX, &line), 2);
    CHECK(line && line_names_pointer(line, &x));
    /* 0x12345 must not be taken for 0x1234 */
    CHECK(line && !line_names_pointer(line, (void *)((uintptr_t)&x >> 4)));
}

TEST_MAIN()
