/*
 * GODEBUG=gctrace=1: one line per cycle on stderr, in Go's format,
 *   gc N @Ts P%: a+b+c ms clock, d+e/f/g+h ms cpu, X->Y->Z MB, G MB goal,
 *   S MB stacks, B MB globals, N P
 * with " (forced)" after the cycles gm_gc() started, after one line of ours
 * ("gomalloc: gc mode concurrent/uffd" or "stw"). A child process (this
 * program again) keeps 8 MiB live, churns 64 MiB of garbage (automatic
 * cycles), then calls gm_gc() three times; its stderr is checked line by
 * line with a POSIX regular expression: cycle numbers 1, 2, 3, ... as many
 * as the child's num_gc; times non-decreasing; X <= Y, Z <= Y; the last
 * three forced and Z there about 8 MiB; at least one automatic cycle that
 * freed something. Without GODEBUG (or with gctrace=0) nothing is printed.
 */
#include <regex.h>

#include "gc_test.h"

static void *volatile live[128];

TEST(child_trace) {
    GC_CHILD_ONLY();
    for (int i = 0; i < 128; i++) live[i] = gm_new_noscan(64 * KiB); /* 8 MiB */
    for (int i = 0; i < 64 * 16; i++) {
        void *p = gm_new(64 * KiB);
        if (p) ((volatile char *)p)[0] = 1;
        for (int j = 0; j < 16; j++) (void)gc_launder(gm_new_noscan(256));
    }
    for (int i = 0; i < 3; i++) gm_gc();
    gm_memstats m = gc_stats();
    printf("num_gc %u num_forced_gc %u\n", m.num_gc, m.num_forced_gc);
    for (int i = 0; i < 128; i++) CHECK(live[i] != NULL);
}

#define F "[0-9]+(\\.[0-9]+)?"
#define I "[0-9]+"
static const char trace_re[] =
    "^gc " I " @" I "\\.[0-9]+s " I "%: " F "\\+" F "\\+" F " ms clock, " F "\\+" F "/" F "/" F
    "\\+" F " ms cpu, " I "->" I "->" I " MB, " I " MB goal, " I " MB stacks, " I
    " MB globals, " I " P( \\(forced\\))?$";

struct trace_line {
    unsigned n, pct, procs;
    double t;
    unsigned long x, y, z, goal, stacks, globals;
    int forced;
};

/* Parses a line that matched trace_re. */
static int parse_line(const char *line, struct trace_line *tl) {
    memset(tl, 0, sizeof *tl);
    if (sscanf(line, "gc %u @%lfs %u%%:", &tl->n, &tl->t, &tl->pct) != 3) return 0;
    const char *cpu = strstr(line, " ms cpu, ");
    if (!cpu) return 0;
    if (sscanf(cpu + 9, "%lu->%lu->%lu MB, %lu MB goal, %lu MB stacks, %lu MB globals, %u P",
               &tl->x, &tl->y, &tl->z, &tl->goal, &tl->stacks, &tl->globals, &tl->procs) != 7)
        return 0;
    tl->forced = strstr(line, " (forced)") != NULL;
    return 1;
}

static void check_trace(const char *godebug) {
    struct gc_child *c = malloc(sizeof *c);
    REQUIRE(c != NULL);
    const char *env[] = {godebug, NULL};
    gc_run_self("child_trace", env, GC_SANITIZED ? 600 : 120, 0, c);
    char how[64];
    gc_describe(c, how, sizeof how);
    if (!gc_child_ok(c)) {
        fprintf(stderr, "  child %s; stdout:\n%s\n  stderr:\n%s\n", how, c->out, c->err);
        CHECK(gc_child_ok(c));
        free(c);
        return;
    }
    unsigned num_gc = 0, num_forced = 0;
    const char *st = strstr(c->out, "num_gc ");
    CHECK(st && sscanf(st, "num_gc %u num_forced_gc %u", &num_gc, &num_forced) == 2);

    regex_t re;
    REQUIRE(regcomp(&re, trace_re, REG_EXTENDED | REG_NOSUB) == 0);
    int lines = 0, bad = 0, forced = 0, automatic_freed = 0, last_forced_run = 0;
    unsigned expect_n = 1;
    double last_t = 0;
    struct trace_line tl, last = {0};
    char *save = NULL;
    int mode_lines = 0;
    for (char *line = strtok_r(c->err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "gomalloc: gc mode ", 18) == 0) { /* ours, once, first */
            if (lines || mode_lines++) bad++;
            continue;
        }
        lines++;
        if (regexec(&re, line, 0, NULL, 0) != 0 || !parse_line(line, &tl)) {
            if (bad++ < 5) fprintf(stderr, "  line does not match Go's format: \"%s\"\n", line);
            continue;
        }
        if (tl.n != expect_n && bad++ < 5)
            fprintf(stderr, "  cycle number %u, expected %u: \"%s\"\n", tl.n, expect_n, line);
        expect_n = tl.n + 1;
        if (tl.t < last_t && bad++ < 5) fprintf(stderr, "  time goes back: \"%s\"\n", line);
        last_t = tl.t;
        if ((tl.z > tl.y || tl.x > tl.y + 1 || tl.procs < 1 || tl.pct > 100) && bad++ < 5)
            fprintf(stderr, "  implausible numbers: \"%s\"\n", line);
        if (tl.forced) {
            forced++;
            last_forced_run++;
            if ((tl.z < 7 || tl.z > 12) && bad++ < 5)
                fprintf(stderr, "  forced cycle with 8 MiB live reports %lu MB: \"%s\"\n",
                        tl.z, line);
        } else {
            last_forced_run = 0;
            if (tl.z < tl.y) automatic_freed++;
        }
        last = tl;
    }
    regfree(&re);
    CHECK_EQ(bad, 0);
    CHECK_EQ(mode_lines, 1);
    CHECK_EQ(lines, num_gc);
    CHECK_EQ(forced, num_forced);
    CHECK_EQ(forced, 3);
    CHECK_EQ(last_forced_run, 3);
    CHECK(automatic_freed >= 1);
    CHECK_EQ(last.n, num_gc);
    if (gm_test_failed_current)
        fprintf(stderr, "  (%s) child stdout:\n%s\n", godebug, c->out);
    free(c);
}

TEST(gctrace_lines_match_go_format) { if (!gc_is_child()) check_trace("GODEBUG=gctrace=1"); }

TEST(gctrace_among_other_godebug_settings) {
    if (!gc_is_child()) check_trace("GODEBUG=madvdontneed=1,gctrace=1,invalidptr=0");
}

static void check_silent(const char *godebug) {
    struct gc_child *c = malloc(sizeof *c);
    REQUIRE(c != NULL);
    const char *env[] = {godebug, NULL};
    gc_run_self("child_trace", env, GC_SANITIZED ? 600 : 120, 0, c);
    CHECK(gc_child_ok(c));
    CHECK(strstr(c->out, "num_gc ") != NULL);
    CHECK_EQ(strlen(c->err), 0);
    if (c->err[0]) fprintf(stderr, "  (%s) unexpected stderr:\n%s\n", godebug, c->err);
    free(c);
}

TEST(no_trace_without_gctrace) {
    if (!gc_is_child()) {
        check_silent("GM_GC_NOTHING=1");
        check_silent("GODEBUG=gctrace=0");
    }
}

TEST_MAIN()
