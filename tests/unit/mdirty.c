/* Dirty-page tracking (mdirty.h): for every mechanism this machine has,
 * the pages written since arming are reported exactly, as runs; kernel
 * writes, other threads and untouched pages are covered; a fork child
 * neither crashes nor tracks. Mechanisms missing here are skipped with a
 * message (soft-dirty needs CONFIG_MEM_SOFT_DIRTY). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/prctl.h>
#include <sys/mman.h>

#include "internal.h"
#include "mdirty.h"
#include "test.h"

#define PG ((size_t)4096)
#define REGION ((size_t)64 << 20)
#define NPAGES (REGION / PG)

static const gm_dirty_mode all_modes[] = {GM_DIRTY_UFFD, GM_DIRTY_SOFTDIRTY, GM_DIRTY_MPROTECT};
#define NMODES (sizeof all_modes / sizeof all_modes[0])

/* Forces mode m; says once per mode when this machine lacks it. */
static bool use_mode(gm_dirty_mode m) {
    static bool told[8];
    if (gm__dirty_init(m) == m) return true;
    if (!told[m]) printf("  skip %s: not available on this machine\n", gm__dirty_mode_name(m));
    told[m] = true;
    return false;
}

#define FOR_EACH_MODE(m)                                                    \
    for (size_t mi_ = 0; mi_ < NMODES; mi_++)                               \
        for (gm_dirty_mode m = all_modes[mi_]; m && use_mode(m); m = GM_DIRTY_NONE)

/* ---- collecting and comparing runs ---------------------------------------- */

typedef struct { size_t page, npages; } run;
typedef struct {
    uintptr_t base;
    run runs[64];
    int n;
    bool outside; /* a run outside [base, base+REGION) */
} runs;

static void record(uintptr_t p, size_t np, void *arg) {
    runs *r = arg;
    if (p < r->base || p + np * PG > r->base + REGION) r->outside = true;
    if (r->n < 64) r->runs[r->n++] = (run){(p - r->base) / PG, np};
}

static size_t collect(char *base, runs *r, bool rearm) {
    memset(r, 0, sizeof *r);
    r->base = (uintptr_t)base;
    return gm__dirty_collect(record, r, rearm);
}

static bool runs_equal(const runs *got, const run *want, int n, gm_dirty_mode m) {
    bool ok = !got->outside && got->n == n;
    for (int i = 0; ok && i < n; i++)
        ok = got->runs[i].page == want[i].page && got->runs[i].npages == want[i].npages;
    if (!ok) {
        fprintf(stderr, "  mode %s: got", gm__dirty_mode_name(m));
        for (int i = 0; i < got->n; i++) fprintf(stderr, " %zu+%zu", got->runs[i].page, got->runs[i].npages);
        fprintf(stderr, ", want");
        for (int i = 0; i < n; i++) fprintf(stderr, " %zu+%zu", want[i].page, want[i].npages);
        fprintf(stderr, "\n");
    }
    return ok;
}

#define CHECK_RUNS(got, m, ...)                                             \
    do {                                                                    \
        static const run want_[] = {__VA_ARGS__};                           \
        CHECK(runs_equal(got, want_, (int)(sizeof want_ / sizeof want_[0]), m)); \
    } while (0)
#define CHECK_NO_RUNS(got, m) CHECK(runs_equal(got, NULL, 0, m))

/* ---- regions --------------------------------------------------------------- */

static char *map_region(bool populate) {
    char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (populate)
        for (size_t i = 0; i < NPAGES; i++) p[i * PG] = 1;
    return p;
}

static char *tracked_region(bool populate) {
    char *p = map_region(populate);
    if (p && !gm__dirty_track(p, REGION)) {
        munmap(p, REGION);
        return NULL;
    }
    return p;
}

static void drop_region(char *p) {
    gm__dirty_untrack(p, REGION);
    munmap(p, REGION);
}

/* ---- tests -------------------------------------------------------------------- */

TEST(best_available_mechanism_is_chosen_and_named) {
    gm_dirty_mode m = gm__dirty_init(GM_DIRTY_NONE);
    printf("  best here: %s\n", gm__dirty_mode_name(m));
    CHECK(m != GM_DIRTY_NONE); /* mprotect works everywhere */
    CHECK(gm__dirty_mode() == m);
    CHECK(strcmp(gm__dirty_mode_name(GM_DIRTY_NONE), "none") == 0);
}

TEST(track_rejects_unaligned_ranges) {
    FOR_EACH_MODE(m) {
        char *p = map_region(false);
        REQUIRE(p);
        CHECK(!gm__dirty_track(p + 1, PG));
        CHECK(!gm__dirty_track(p, PG + 1));
        CHECK(!gm__dirty_track(p, 0));
        munmap(p, REGION);
    }
}

TEST(written_pages_are_reported_exactly_as_runs) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        p[3 * PG] = 2;                          /* first byte */
        p[11 * PG - 1] = 2;                     /* last byte of page 10 */
        p[20 * PG] = 2;                         /* written twice */
        p[20 * PG + 8] = 3;
        memset(p + 100 * PG + PG / 2, 7, PG);   /* across 100|101 */
        p[REGION - 1] = 2;                      /* the last page */
        runs got;
        CHECK_EQ(collect(p, &got, true), 6);
        CHECK_RUNS(&got, m, {3, 1}, {10, 1}, {20, 1}, {100, 2}, {NPAGES - 1, 1});
        CHECK_EQ(collect(p, &got, true), 0);
        CHECK_NO_RUNS(&got, m);
        CHECK(p[20 * PG + 8] == 3 && p[101 * PG] == 7);
        drop_region(p);
    }
}

TEST(collect_without_rearm_leaves_pages_written) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        p[5 * PG] = 2;
        runs got;
        CHECK_EQ(collect(p, &got, false), 1);
        CHECK_EQ(collect(p, &got, false), 1);
        CHECK_RUNS(&got, m, {5, 1});
        CHECK_EQ(collect(p, &got, true), 1);
        CHECK_EQ(collect(p, &got, true), 0);
        drop_region(p);
    }
}

TEST(rearmed_pages_are_reported_again_when_written_again) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        p[3 * PG] = 2;
        runs got;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {3, 1});
        p[3 * PG] = 3;
        p[50 * PG] = 3;
        CHECK_EQ(collect(p, &got, true), 2);
        CHECK_RUNS(&got, m, {3, 1}, {50, 1});
        p[60 * PG] = 4;
        gm__dirty_arm(); /* a new round forgets page 60 */
        p[61 * PG] = 4;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {61, 1});
        drop_region(p);
    }
}

TEST(never_populated_pages_written_after_arm_are_reported) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(false);
        REQUIRE(p);
        gm__dirty_arm();
        p[0] = 1;
        p[8191 * PG + 17] = 1;
        p[8192 * PG] = 1;
        p[REGION - 1] = 1;
        runs got;
        CHECK_EQ(collect(p, &got, true), 4);
        CHECK_RUNS(&got, m, {0, 1}, {8191, 2}, {NPAGES - 1, 1});
        drop_region(p);
    }
}

/* MADV_DONTNEED (the scavenger) drops uffd's protection with the page:
 * the emptied pages count as written once (they read as zero: harmless to
 * rescan); mprotect reports exactly the written one. Either way the next
 * rounds are exact again. */
TEST(pages_emptied_by_madvise_count_as_written_at_most_once) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        CHECK(madvise(p + 40 * PG, 8 * PG, MADV_DONTNEED) == 0);
        CHECK(p[41 * PG] == 0);
        p[42 * PG] = 9;
        runs got;
        size_t n = collect(p, &got, true);
        if (n == 8) CHECK_RUNS(&got, m, {40, 8});
        else CHECK_RUNS(&got, m, {42, 1});
        CHECK_EQ(collect(p, &got, true), 0);
        p[44 * PG] = 9;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {44, 1});
        drop_region(p);
    }
}

/* Arenas are reserved PROT_NONE and mapped read-write piece by piece. */
TEST(reserved_range_mapped_after_arm_is_tracked) {
    FOR_EACH_MODE(m) {
        if (m == GM_DIRTY_MPROTECT) {
            printf("  skip mprotect: tracked ranges must be mapped read-write (mdirty.h)\n");
            continue;
        }
        char *p = mmap(NULL, REGION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        REQUIRE(p != MAP_FAILED);
        REQUIRE(gm__dirty_track(p, REGION));
        gm__dirty_arm();
        CHECK(mprotect(p, 256 * PG, PROT_READ | PROT_WRITE) == 0);
        p[PG] = 1;
        p[200 * PG] = 1;
        runs got;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {1, 1}, {200, 1});
        drop_region(p);
    }
}

/* uffd and soft-dirty see the kernel's writes; under mprotect the system
 * call fails with EFAULT until the buffer is pinned. */
TEST(kernel_write_by_read_into_a_tracked_page_is_reported) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        char msg[100];
        memset(msg, 'k', sizeof msg);
        REQUIRE(write(fds[1], msg, sizeof msg) == (ssize_t)sizeof msg);
        gm__dirty_arm();
        char *buf = p + 8 * PG - 10; /* straddles pages 7 and 8 */
        ssize_t n = read(fds[0], buf, sizeof msg);
        if (m == GM_DIRTY_MPROTECT) {
            CHECK(n == -1 && errno == EFAULT);
            CHECK(gm__dirty_pin(buf, sizeof msg));
            n = read(fds[0], buf, sizeof msg);
            gm__dirty_unpin(buf, sizeof msg);
        }
        CHECK_EQ(n, sizeof msg);
        CHECK(memcmp(buf, msg, sizeof msg) == 0);
        runs got;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {7, 2});
        close(fds[0]);
        close(fds[1]);
        drop_region(p);
    }
}

/* A pinned buffer (a system call in progress) stays writable through arms
 * and re-arming collects, and is reported written each round; once
 * unpinned, the next re-arm protects it again. */
TEST(pinned_pages_stay_writable_and_written_until_unpinned) {
    if (!use_mode(GM_DIRTY_MPROTECT)) return;
    CHECK(gm__dirty_pinning());
    char *p = tracked_region(true);
    REQUIRE(p);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    char *buf = p + 20 * PG - 8; /* pages 19 and 20 */
    CHECK(gm__dirty_pin(buf, 16));
    CHECK(gm__dirty_pin(buf, 16)); /* pins nest */
    gm__dirty_arm();
    runs got;
    for (int round = 0; round < 3; round++) {
        collect(p, &got, true);
        CHECK_RUNS(&got, GM_DIRTY_MPROTECT, {19, 2});
        REQUIRE(write(fds[1], "0123456789abcdef", 16) == 16);
        CHECK_EQ(read(fds[0], buf, 16), 16); /* the kernel writes: no EFAULT */
    }
    gm__dirty_unpin(buf, 16);
    collect(p, &got, true);
    CHECK_RUNS(&got, GM_DIRTY_MPROTECT, {19, 2}); /* still pinned once */
    gm__dirty_unpin(buf, 16);
    collect(p, &got, true);
    CHECK_RUNS(&got, GM_DIRTY_MPROTECT, {19, 2}); /* written while pinned */
    collect(p, &got, true);
    CHECK_NO_RUNS(&got, GM_DIRTY_MPROTECT);
    REQUIRE(write(fds[1], "0123456789abcdef", 16) == 16);
    CHECK(read(fds[0], buf, 16) == -1 && errno == EFAULT); /* protected again */
    buf[0] = 1; /* a user write still faults in and is recorded */
    collect(p, &got, true);
    CHECK_RUNS(&got, GM_DIRTY_MPROTECT, {19, 1});
    /* A full pin table: the range is made writable all the same, not held. */
    int held = 0;
    while (held < 1000 && gm__dirty_pin(p + (size_t)held * PG, 1)) held++;
    CHECK_EQ(held, 128);
    CHECK(!gm__dirty_pin(p + 500 * PG, 8));
    REQUIRE(write(fds[1], "01234567", 8) == 8);
    CHECK_EQ(read(fds[0], p + 500 * PG, 8), 8);
    for (int i = 0; i < held; i++) gm__dirty_unpin(p + (size_t)i * PG, 1);
    CHECK(gm__dirty_pin(buf, 16)); /* room again */
    gm__dirty_unpin(buf, 16);
    close(fds[0]);
    close(fds[1]);
    drop_region(p);
    gm__dirty_init(GM_DIRTY_NONE);
    CHECK(gm__dirty_pin(buf, 16)); /* a no-op for the other mechanisms */
    gm__dirty_unpin(buf, 16);
}

static void *write_pages(void *arg) {
    char *p = arg;
    for (size_t i = 1000; i < 1100; i += 10) p[i * PG + 5] = 1;
    p[9000 * PG] = 1;
    return NULL;
}

TEST(writes_by_another_thread_are_reported) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        gm_test_run_in_thread(write_pages, p);
        runs got;
        CHECK_EQ(collect(p, &got, true), 11);
        CHECK_RUNS(&got, m, {1000, 1}, {1010, 1}, {1020, 1}, {1030, 1}, {1040, 1}, {1050, 1},
                   {1060, 1}, {1070, 1}, {1080, 1}, {1090, 1}, {9000, 1});
        drop_region(p);
    }
}

/* The collector's view: a page reported by a collect is rescanned after
 * it. A writer keeps storing into pages while collects re-arm; once it
 * stops, a last collect must leave every page's rescanned copy equal to
 * its contents, or a write slipped between reading and re-arming. */
enum { RACE_PAGES = 64, RACE_WRITES = 30000 };
typedef struct { char *p; bool stop; uint64_t seen[RACE_PAGES]; } race;

static void *race_writer(void *arg) {
    race *r = arg;
    uint64_t seed = 42;
    for (uint64_t v = 1; v <= RACE_WRITES; v++) {
        size_t i = gm_test_rand(&seed) % RACE_PAGES;
        __atomic_store_n((uint64_t *)(r->p + i * PG), v, __ATOMIC_RELAXED);
        if (v % 100 == 0) usleep(10); /* let collects interleave */
    }
    __atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
    return NULL;
}

static void rescan(uintptr_t page, size_t np, void *arg) {
    race *r = arg;
    for (size_t k = 0; k < np; k++) {
        size_t i = (page - (uintptr_t)r->p) / PG + k;
        if (i < RACE_PAGES) r->seen[i] = __atomic_load_n((uint64_t *)(r->p + i * PG), __ATOMIC_RELAXED);
    }
}

TEST(writes_racing_with_rearm_are_never_lost) {
    FOR_EACH_MODE(m) {
        static race r;
        memset(&r, 0, sizeof r);
        r.p = tracked_region(true);
        REQUIRE(r.p);
        for (size_t i = 0; i < RACE_PAGES; i++) *(uint64_t *)(r.p + i * PG) = 0;
        gm__dirty_arm();
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, race_writer, &r) == 0);
        size_t rounds = 0, found = 0;
        for (; !__atomic_load_n(&r.stop, __ATOMIC_ACQUIRE); rounds++)
            found += gm__dirty_collect(rescan, &r, true);
        pthread_join(t, NULL);
        printf("  %s: %zu collects during the writes found %zu pages\n", gm__dirty_mode_name(m), rounds, found);
        gm__dirty_collect(rescan, &r, true);
        int lost = 0;
        for (size_t i = 0; i < RACE_PAGES; i++) lost += r.seen[i] != *(uint64_t *)(r.p + i * PG);
        if (lost) fprintf(stderr, "  mode %s: %d pages changed unreported (seed 42)\n", gm__dirty_mode_name(m), lost);
        CHECK_EQ(lost, 0);
        drop_region(r.p);
    }
}

/* The child inherits protected memory but no tracking: it must be able to
 * write everywhere, and must know it does not track. */
static int fork_child_body(char *p) {
    if (gm__dirty_mode() != GM_DIRTY_NONE) return 2;
    for (size_t i = 0; i < NPAGES; i += 7) p[i * PG] = 5;
    if (gm__dirty_collect(NULL, NULL, true) != 0) return 3;
    return p[7 * PG] == 5 ? 0 : 4;
}

TEST(fork_child_writes_tracked_memory_and_does_not_track) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(fork_child_body(p));
        int st = 0;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        if (!WIFEXITED(st)) fprintf(stderr, "  mode %s: child status %d\n", gm__dirty_mode_name(m), st);
        runs got;
        CHECK_EQ(collect(p, &got, true), 0); /* the child's writes are its own */
        CHECK(gm__dirty_mode() == m);
        p[5 * PG] = 1;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {5, 1});
        drop_region(p);
    }
}

TEST(untracked_memory_is_writable_and_not_reported) {
    FOR_EACH_MODE(m) {
        char *p = tracked_region(true);
        REQUIRE(p);
        gm__dirty_arm();
        gm__dirty_untrack(p, REGION);
        p[3 * PG] = 1; /* no fault, no report */
        runs got;
        CHECK_EQ(collect(p, &got, true), 0);
        REQUIRE(gm__dirty_track(p, REGION));
        gm__dirty_arm();
        p[4 * PG] = 1;
        collect(p, &got, true);
        CHECK_RUNS(&got, m, {4, 1});
        drop_region(p);
    }
}

TEST(two_ranges_are_reported_separately) {
    FOR_EACH_MODE(m) {
        char *a = tracked_region(true), *b = tracked_region(true);
        REQUIRE(a && b);
        gm__dirty_arm();
        a[2 * PG] = 1;
        b[3 * PG] = 1;
        CHECK_EQ(gm__dirty_collect(NULL, NULL, true), 2);
        drop_region(a);
        drop_region(b);
    }
}

/* As an unprivileged process (vm.unprivileged_userfaultfd = 0, no
 * CAP_SYS_PTRACE) the plain userfaultfd call fails with EPERM and
 * UFFD_USER_MODE_ONLY is used; async write protection still tracks the
 * kernel's own writes. Runs only when the test runs as root. */
static int unprivileged_child(void) {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 10;
    prctl(PR_SET_DUMPABLE, 1); /* setuid made /proc/self root's */
    if (gm__dirty_init(GM_DIRTY_UFFD) != GM_DIRTY_UFFD) return 11;
    char *p = tracked_region(true);
    int fds[2];
    if (!p || pipe(fds) != 0 || write(fds[1], "x", 1) != 1) return 12;
    gm__dirty_arm();
    p[3 * PG] = 1;
    if (read(fds[0], p + 9 * PG, 1) != 1) return 13;
    runs got;
    collect(p, &got, true);
    if (got.n != 2 || got.runs[0].page != 3 || got.runs[1].page != 9) return 14;
    return 0;
}

TEST(unprivileged_process_uses_user_mode_only_userfaultfd) {
    if (geteuid() != 0) {
        printf("  skip: needs root to drop privileges\n");
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(unprivileged_child());
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 11)
        printf("  skip: userfaultfd WP async unavailable without privileges here\n");
    else
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) && WEXITSTATUS(st) != 11))
        fprintf(stderr, "  child status %#x\n", st);
}

static sigjmp_buf segv_jump;
static void test_segv(int sig) {
    (void)sig;
    siglongjmp(segv_jump, 1);
}

/* In a child, since it changes the process's SIGSEGV handler. */
static int chain_child(void) {
    signal(SIGSEGV, test_segv);
    if (gm__dirty_init(GM_DIRTY_MPROTECT) != GM_DIRTY_MPROTECT) return 2;
    char *p = tracked_region(true);
    char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!p || ro == MAP_FAILED) return 3;
    gm__dirty_arm();
    if (sigsetjmp(segv_jump, 1) != 0) return 4; /* a tracked write reached the test handler */
    p[PG] = 1;
    if (gm__dirty_collect(NULL, NULL, true) != 1) return 5;
    if (sigsetjmp(segv_jump, 1) == 0) {
        *(volatile char *)ro = 1;
        return 6; /* the write to a read-only page succeeded */
    }
    return 0;
}

TEST(mprotect_faults_outside_tracked_ranges_reach_the_previous_handler) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(chain_child());
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) fprintf(stderr, "  child status %#x\n", st);
}

TEST_MAIN()
