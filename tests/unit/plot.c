/* gomalloc plot: the chart of a GOMALLOC_METRICS series (tools/plot.c,
 * compiled into this test). */
#include "../../tools/plot.c"

#include "test.h"

#define MIB 1048576.0

/* One line as src/metrics.c writes it (the fields the chart reads, and
 * some it does not). */
static void put_line(FILE *f, int pid, double t, double heap, double goal, double rss,
                     double released, int cycles) {
    fprintf(f, "{\"pid\":%d,\"t\":%.6f,\"rss\":%.0f,\"/cpu/classes/gc/total:cpu-seconds\":0.000100,"
               "\"/gc/cycles/total:gc-cycles\":%d,\"/gc/heap/goal:bytes\":%.0f,"
               "\"/memory/classes/heap/objects:bytes\":%.0f,"
               "\"/memory/classes/heap/released:bytes\":%.0f}\n",
            pid, t, rss, cycles, goal, heap, released);
}

static char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "/tmp/gm_plot_%d_%s", (int)getpid(), name);
    return p;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

static size_t count(const char *s, const char *what) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

static int run_plot(const char *in, const char *out, const char *pid) {
    char *argv[] = {"plot", (char *)in, "-o", (char *)out, pid ? "--pid" : NULL, (char *)pid, NULL};
    return cmd_plot(pid ? 6 : 4, argv);
}

/* A 2-second run: the heap grows to 20 MiB, the goal steps up at each of
 * four cycles (two of them between the same two samples). */
static void write_run(const char *path) {
    FILE *f = fopen(path, "w");
    int cycles = 0;
    for (int i = 0; i < 20; i++) {
        if (i == 5 || i == 10 || i == 15) cycles += i == 15 ? 2 : 1;
        put_line(f, 100, i * 0.1, i * MIB, (4 + 2 * cycles) * MIB, (i + 3) * MIB,
                 i > 10 ? 2 * MIB : 0, cycles);
    }
    fclose(f);
}

/* The numbers in the points="..." of each series polyline: all inside
 * the series' panel. Returns the number of points of the first series. */
static size_t check_points(const char *svg) {
    size_t first = 0, nseries = 0;
    for (const char *p = svg; (p = strstr(p, "class=\"series\"")); nseries++) {
        CHECK(nseries < NSERIES);
        if (nseries >= NSERIES) break;
        const int *rows = panel_rows[series_list[nseries].panel];
        p = strstr(p, "points=\"") + 8;
        size_t pts = 0;
        double x, y;
        int used;
        while (sscanf(p, "%lf,%lf %n", &x, &y, &used) == 2) {
            CHECK(x >= LEFT - 0.05 && x <= W - RIGHT + 0.05);
            CHECK(y >= rows[0] - 0.05 && y <= rows[1] + 0.05);
            p += used;
            pts++;
        }
        if (nseries == 0) first = pts;
        CHECK_EQ(pts, first);
    }
    CHECK_EQ(nseries, 4);
    return first;
}

TEST(chart_has_every_series_axes_and_legend) {
    char *in = tmp_path("run.jsonl"), *out = tmp_path("run.svg");
    write_run(in);
    REQUIRE(run_plot(in, out, NULL) == 0);
    char *svg = slurp(out);
    REQUIRE(svg);
    CHECK(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(strcmp(svg + strlen(svg) - 7, "</svg>\n") == 0);
    CHECK_EQ(check_points(svg), 20);
    CHECK(strstr(svg, ">heap in use (objects)<") && strstr(svg, ">GC heap goal<"));
    CHECK(strstr(svg, ">RSS<") && strstr(svg, ">released to the OS<"));
    CHECK(strstr(svg, "GC cycle ended (3)")); /* three samples saw the count rise */
    const char *gc = strstr(svg, "class=\"gc-cycles\"");
    REQUIRE(gc);
    CHECK_EQ(count(gc, "<path") - count(strstr(gc, "</g>"), "<path"), 3);
    CHECK(strstr(svg, ">time (s)<") && strstr(svg, "memory (MiB)") && strstr(svg, "released (MiB)"));
    CHECK(strstr(svg, "(pid 100)"));
    CHECK_EQ(count(svg, "<svg"), 1);
    CHECK_EQ(count(svg, "http"), 1); /* self-contained: only the namespace */
    free(svg);
    unlink(in);
    unlink(out);
}

static plot_data read_text(const char *text) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    plot_data d = {0};
    plot_read(f, &d);
    fclose(f);
    return d;
}

TEST(reader_skips_malformed_lines_and_nested_values) {
    plot_data d = read_text(
        "{\"pid\":7,\"t\":0.5,\"rss\":1000,\"/gc/pauses:seconds\":{\"buckets\":[0,1e-06],"
        "\"counts\":[3]},\"note\":\"a } string\",\"/gc/heap/goal:bytes\":4194304}\n"
        "not json\n"
        "\n"
        "{\"pid\":7,\"t\":0.6,\"rss\":10\n"
        "{\"pid\":7,\"rss\":5}\n"
        "{ \"t\" : 1.25 , \"/gc/cycles/total:gc-cycles\" : 2 }\n");
    CHECK_EQ(d.n, 2);
    CHECK_EQ(d.bad, 3);
    REQUIRE(d.n == 2);
    CHECK(d.recs[0].pid == 7 && d.recs[0].t == 0.5 && d.recs[0].rss == 1000);
    CHECK(d.recs[0].goal == 4194304 && isnan(d.recs[0].heap));
    CHECK(d.recs[1].t == 1.25 && d.recs[1].cycles == 2 && isnan(d.recs[1].pid));
    free(d.recs);
}

/* Several processes in one file, and an exec (t starts again) under one
 * pid: the longest run is drawn, or the longest of --pid's. */
TEST(longest_run_is_chosen) {
    char text[8192];
    size_t n = 0;
    for (int i = 0; i < 12; i++) {
        if (i < 5) n += (size_t)snprintf(text + n, sizeof text - n, "{\"pid\":100,\"t\":%d}\n", i);
        n += (size_t)snprintf(text + n, sizeof text - n, "{\"pid\":200,\"t\":%d}\n", i);
    }
    for (int i = 0; i < 7; i++) /* pid 100 execs: a new run */
        n += (size_t)snprintf(text + n, sizeof text - n, "{\"pid\":100,\"t\":0.%d}\n", i);
    plot_data d = read_text(text);
    REQUIRE(d.n == 24);
    int run = plot_select(&d, -1);
    size_t in_run = 0;
    for (size_t i = 0; i < d.n; i++) {
        in_run += d.recs[i].run == run;
        if (d.recs[i].run == run) CHECK(d.recs[i].pid == 200);
    }
    CHECK_EQ(in_run, 12);
    run = plot_select(&d, 100);
    in_run = 0;
    for (size_t i = 0; i < d.n; i++) in_run += d.recs[i].run == run;
    CHECK_EQ(in_run, 7); /* the program pid 100 exec'd, not the 5 lines before */
    CHECK_EQ(plot_select(&d, 300), -1);
    free(d.recs);
}

/* GOGC=off: a goal of 2^64-1 must not flatten the chart. */
TEST(huge_goal_is_clipped_not_scaled) {
    char *in = tmp_path("off.jsonl"), *out = tmp_path("off.svg");
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 5; i++) put_line(f, 1, i, i * MIB, 1.8446744073709552e19, 8 * MIB, 0, 0);
    fclose(f);
    REQUIRE(run_plot(in, out, "1") == 0);
    char *svg = slurp(out);
    REQUIRE(svg);
    CHECK(strstr(svg, "memory (MiB)") != NULL);
    CHECK(strstr(svg, "clip-path=\"url(#panel-0)\"") != NULL);
    CHECK(strstr(svg, "GC cycle ended (0)") != NULL);
    free(svg);
    unlink(in);
    unlink(out);
}

TEST(bad_input_fails_with_a_message) {
    char *out = tmp_path("none.svg"), *empty = tmp_path("empty.jsonl");
    CHECK_EQ(run_plot("/nonexistent/metrics.jsonl", out, NULL), 1);
    fclose(fopen(empty, "w"));
    CHECK_EQ(run_plot(empty, out, NULL), 1);
    char *argv[] = {"plot", NULL};
    CHECK_EQ(cmd_plot(1, argv), 2);
    char *argv2[] = {"plot", empty, "--bogus", NULL};
    CHECK_EQ(cmd_plot(3, argv2), 2);
    char *argv3[] = {"gomalloc", "plot", empty, NULL}; /* the whole command line */
    CHECK_EQ(cmd_plot(3, argv3), 1);                   /* read it: no samples */
    unlink(empty);
    unlink(out);
}

TEST_MAIN()
