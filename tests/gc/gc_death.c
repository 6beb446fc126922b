/*
 * Misuse of the collector's API is fatal: the process dies of SIGABRT with
 * one stderr line "gomalloc: fatal error: ... 0x<pointer>". Each misuse runs
 * in a forked child: gm_set_finalizer on an interior pointer (small and
 * large object), on gm_malloc'd and uncollectable memory, on the C
 * library's malloc memory, on a stack address and on a global; gm_free of
 * a stack address, of an interior pointer of a collected object.
 * Out of memory is not misuse: gm_new* return NULL with errno ENOMEM (after
 * a last collection) for absurd sizes, and under RLIMIT_AS for sizes the
 * address space cannot hold, and the heap works on afterwards.
 */
#include <sys/resource.h>

#include "gc_test.h"

#define FATAL_PREFIX "gomalloc: fatal error: "

static void fin_nop(void *obj, void *arg) {
    (void)obj;
    (void)arg;
}

struct child_out {
    int status;
    int timed_out;
    char err[8192];
};

/* Runs fn(arg) in a forked child with stderr captured; the child exits 0
 * if fn returns. */
static void run_child(void (*fn)(void *), void *arg, struct child_out *r) {
    int fds[2];
    memset(r, 0, sizeof *r);
    if (pipe(fds) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        alarm(GC_SANITIZED ? 300 : 60);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], r->err + n, sizeof r->err - 1 - n)) > 0) {
        n += (size_t)got;
        if (n == sizeof r->err - 1) break;
    }
    r->err[n] = 0;
    close(fds[0]);
    waitpid(pid, &r->status, 0);
    r->timed_out = WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGALRM;
}

/* Lines of s starting with prefix; *first gets the first. */
static int lines_starting(const char *s, const char *prefix, const char **first) {
    int n = 0;
    for (const char *line = s; *line;) {
        if (strncmp(line, prefix, strlen(prefix)) == 0 && n++ == 0) *first = line;
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    return n;
}

/* The line names p as a whole 0x... token. */
static int names_pointer(const char *line, const void *p) {
    char want[32];
    snprintf(want, sizeof want, "0x%" PRIxPTR, (uintptr_t)p);
    size_t len = strcspn(line, "\n"), wl = strlen(want);
    for (size_t i = 0; i + wl <= len; i++) {
        if (memcmp(line + i, want, wl) != 0) continue;
        char next = i + wl < len ? line[i + wl] : 0;
        if (!((next >= '0' && next <= '9') || (next >= 'a' && next <= 'f'))) return 1;
    }
    return 0;
}

/* fn(p) must kill the child with SIGABRT and one fatal line naming p. */
static void expect_fatal(const char *what, void (*fn)(void *), void *p) {
    struct child_out r;
    run_child(fn, p, &r);
    const char *line = NULL;
    int lines = lines_starting(r.err, FATAL_PREFIX, &line);
    int aborted = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT;
    if (!aborted || lines != 1) {
        fprintf(stderr, "  %s: status 0x%x (%s), %d \"" FATAL_PREFIX "\" lines; wanted "
                "SIGABRT and one. stderr:\n%s\n", what, r.status,
                WIFSIGNALED(r.status) ? "signalled" : "exited", lines, r.err);
        gm_test_failed_current = 1;
    } else if (!names_pointer(line, p)) {
        fprintf(stderr, "  %s: the fatal line does not name %p: %s\n", what, p, line);
        gm_test_failed_current = 1;
    }
}

static void set_finalizer_on(void *p) {
    gm_set_finalizer(p, fin_nop, NULL);
    /* Carry on as a program would: collect, allocate. */
    gm_gc();
    (void)gc_launder(gm_new(64));
}

static void free_it(void *p) {
    gm_free(gc_launder(p));
    gm_gc();
    (void)gc_launder(gm_new(64));
}

/* The parent keeps what it allocated alive (the child got a copy). */
static void *volatile keep[8];
static uintptr_t a_global[4];

TEST(set_finalizer_on_an_interior_pointer_is_fatal) {
    char *small = gm_new(64), *large = gm_new(200 * KiB);
    REQUIRE(small && large);
    keep[0] = small;
    keep[1] = large;
    expect_fatal("finalizer on small + 16", set_finalizer_on, small + 16);
    expect_fatal("finalizer on small + 1", set_finalizer_on, small + 1);
    expect_fatal("finalizer on large + 8192", set_finalizer_on, large + 8192);
    expect_fatal("finalizer on large + 8", set_finalizer_on, large + 8);
}

TEST(set_finalizer_on_memory_that_is_not_collected_is_fatal) {
    void *m = gm_malloc(64), *ml = gm_malloc(300 * KiB), *u = gm_malloc_uncollectable(64);
    void *libc = malloc(64);
    REQUIRE(m && ml && u && libc);
    keep[2] = m;
    keep[3] = u;
    expect_fatal("finalizer on gm_malloc'd memory", set_finalizer_on, m);
    expect_fatal("finalizer on a large gm_malloc'd block", set_finalizer_on, ml);
    expect_fatal("finalizer on an uncollectable object", set_finalizer_on, u);
    expect_fatal("finalizer on the C library's malloc memory", set_finalizer_on, libc);
    free(libc);
    gm_free(ml);
}

TEST(set_finalizer_on_a_stack_or_global_address_is_fatal) {
    char on_stack[64];
    memset(on_stack, 0, sizeof on_stack);
    expect_fatal("finalizer on a stack address", set_finalizer_on, gc_launder(on_stack));
    expect_fatal("finalizer on a global", set_finalizer_on, gc_launder(a_global));
}

TEST(gm_free_of_a_stack_address_is_fatal) {
    char on_stack[64];
    memset(on_stack, 0, sizeof on_stack);
    expect_fatal("gm_free of a stack address", free_it, gc_launder(on_stack + 16));
}

TEST(gm_free_of_an_interior_pointer_of_a_collected_object_is_fatal) {
    char *p = gm_new(128), *big = gm_new(100 * KiB);
    REQUIRE(p && big);
    keep[4] = p;
    keep[5] = big;
    expect_fatal("gm_free of gm_new(128) + 32", free_it, p + 32);
    expect_fatal("gm_free of gm_new(100 KiB) + 4096", free_it, big + 4096);
}

/* ---- Out of memory ------------------------------------------------------ */

/* Child exit codes say what went wrong. */
static void absurd_sizes(void *arg) {
    (void)arg;
    static const uint64_t one_pointer[1] = {1};
    static const gm_type t = {64, 64, one_pointer, "t", 8};
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
    for (size_t i = 0; i < GC_COUNT_OF(sizes); i++) {
        size_t n = gc_opaque(sizes[i]);
        errno = 0;
        if (gm_new(n) != NULL || errno != ENOMEM) _exit(10 + (int)i);
        errno = 0;
        if (gm_new_noscan(n) != NULL || errno != ENOMEM) _exit(20 + (int)i);
        errno = 0;
        if (gm_malloc_uncollectable(n) != NULL || errno != ENOMEM) _exit(30 + (int)i);
    }
    errno = 0;
    if (gm_new_array(&t, gc_opaque(SIZE_MAX / 32)) != NULL || errno != ENOMEM) _exit(40);
    errno = 0;
    if (gm_new_array(&t, gc_opaque((size_t)1 << 56)) != NULL || errno != ENOMEM) _exit(41);
    void *p = gm_new(100);
    if (!p) _exit(50);
    gm_gc();
    _exit(0);
}

TEST(absurd_sizes_return_null_with_enomem) {
    struct child_out r;
    run_child(absurd_sizes, NULL, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        fprintf(stderr, "  child status 0x%x (exit %d, see absurd_sizes), stderr:\n%s\n",
                r.status, WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, r.err);
}

static size_t address_space_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f && fscanf(f, "%lu", &pages) != 1) pages = 0;
    if (f) fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

enum { HOLD = 256 };

/* Under RLIMIT_AS = what the process has + 256 MiB: a 1 GiB object fails;
 * 8 MiB objects kept alive fail after at most 256 MiB; then, dropped and
 * collected, their memory serves new ones. */
static void oom_under_rlimit(void *arg) {
    (void)arg;
    (void)gc_launder(gm_new(64)); /* the collector is up */
    gm_gc();
    struct rlimit lim = {address_space_bytes() + 256 * MiB, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(2);
    errno = 0;
    if (gm_new(gc_opaque(1024 * MiB)) != NULL) _exit(3);
    if (errno != ENOMEM) _exit(4);
    errno = 0;
    if (gm_new_noscan(gc_opaque(1024 * MiB)) != NULL || errno != ENOMEM) _exit(5);
    /* volatile: the NULL stores below are dead to the compiler (the next
     * loop overwrites them), but not to the collector. */
    void *volatile *held = gm_malloc_uncollectable(HOLD * sizeof(void *));
    if (!held) _exit(6);
    int n = 0;
    for (; n < HOLD; n++) {
        errno = 0;
        held[n] = gm_new_noscan(8 * MiB);
        if (!held[n]) break;
        ((volatile char *)held[n])[0] = 1;
    }
    if (n == HOLD) _exit(7);       /* never failed */
    if (errno != ENOMEM) _exit(8);
    if (n < 8) _exit(9);           /* failed far too early */
    for (int i = 0; i < n; i++) held[i] = NULL;
    gc_clear_stack();
    /* gm_new runs a last collection before failing: no gm_gc needed. */
    for (int i = 0; i < n - 4; i++) {
        held[i] = gm_new_noscan(8 * MiB);
        if (!held[i]) _exit(10);
    }
    void *small = gm_new(64);
    if (!small) _exit(11);
    _exit(0);
}

TEST(out_of_memory_under_rlimit_as_returns_null_with_enomem) {
    if (GC_SANITIZED) {
        printf("  (skipped: sanitizers reserve more address space than RLIMIT_AS allows)\n");
        return;
    }
    struct child_out r;
    run_child(oom_under_rlimit, NULL, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        fprintf(stderr, "  child status 0x%x (exit %d, see oom_under_rlimit), stderr:\n%s\n",
                r.status, WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, r.err);
}

TEST_MAIN()
