/*
 * gomalloc plot FILE [-o OUT.svg] [--pid N]: draws a GOMALLOC_METRICS time
 * series (src/metrics.c writes it: one JSON object per line) as one
 * self-contained SVG chart: heap in use, heap goal and RSS over time,
 * released memory in a panel of its own below, a faint vertical line
 * wherever a GC cycle ended, axes with units, a legend. Heap in use is
 * /memory/classes/heap/objects (malloc'd and collected objects); the goal
 * paces the collected heap only, so malloc'd memory may sit above it.
 *
 * Which series: a file may hold the lines of several processes (children
 * that inherited GOMALLOC_METRICS without %p) and, under one pid, of
 * several programs (a shell that execs its command: t starts again at 0).
 * A run is the lines of one pid up to the next exec (t decreasing); the
 * chart shows the run with the most lines, of --pid's process if given.
 *
 * The reader is a small JSON scanner for these flat objects: it takes
 * "key":number pairs, skips nested values (histograms, should lines ever
 * carry them) and strings, and drops a malformed line with a warning.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

/* What the chart needs from one line. */
typedef struct plot_rec {
    double pid, t, rss, heap, goal, released, cycles;
    int run; /* index in the runs table, set by plot_select */
} plot_rec;

enum { F_PID, F_T, F_RSS, F_HEAP, F_GOAL, F_RELEASED, F_CYCLES, F_COUNT };
static const char *const plot_keys[F_COUNT] = {
    "pid", "t", "rss", "/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes",
    "/memory/classes/heap/released:bytes", "/gc/cycles/total:gc-cycles",
};

typedef struct plot_data {
    plot_rec *recs;
    size_t n, cap;
    size_t bad; /* lines dropped as malformed */
} plot_data;

/* ---- reading -------------------------------------------------------------- */

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    return s;
}

/* Past a JSON string starting at its opening quote; NULL if unterminated. */
static const char *skip_string(const char *s) {
    for (s++; *s && *s != '"'; s++)
        if (*s == '\\' && s[1]) s++;
    return *s == '"' ? s + 1 : NULL;
}

/* Past a nested object or array (brackets balanced, strings skipped). */
static const char *skip_nested(const char *s) {
    int depth = 0;
    do {
        if (*s == '"') {
            if (!(s = skip_string(s))) return NULL;
            continue;
        }
        if (*s == '{' || *s == '[') depth++;
        else if (*s == '}' || *s == ']') depth--;
        else if (!*s) return NULL;
        s++;
    } while (depth > 0);
    return s;
}

static const char *skip_value(const char *s, double *num, bool *is_num) {
    char *end;
    *is_num = false;
    if (*s == '"') return skip_string(s);
    if (*s == '{' || *s == '[') return skip_nested(s);
    if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0) return s + 4;
    if (strncmp(s, "false", 5) == 0) return s + 5;
    *num = strtod(s, &end);
    *is_num = end != s;
    return end != s ? end : NULL;
}

/* One line into r; false if it is not a JSON object or lacks t. */
static bool plot_parse_line(const char *s, plot_rec *r) {
    double v[F_COUNT] = {0};
    bool have[F_COUNT] = {false};
    s = skip_ws(s);
    if (*s++ != '{') return false;
    for (s = skip_ws(s); *s == '"'; s = skip_ws(s)) {
        const char *key = s + 1, *end = skip_string(s);
        if (!end) return false;
        size_t klen = (size_t)(end - 1 - key);
        s = skip_ws(end);
        if (*s++ != ':') return false;
        double num = 0;
        bool is_num;
        if (!(s = skip_value(skip_ws(s), &num, &is_num))) return false;
        for (int f = 0; f < F_COUNT && is_num; f++) {
            if (strlen(plot_keys[f]) == klen && memcmp(plot_keys[f], key, klen) == 0) {
                v[f] = num;
                have[f] = true;
            }
        }
        s = skip_ws(s);
        if (*s == ',') s = skip_ws(s + 1);
    }
    if (*s != '}' || !have[F_T]) return false;
    double *out[F_COUNT] = {&r->pid, &r->t, &r->rss, &r->heap, &r->goal, &r->released, &r->cycles};
    for (int f = 0; f < F_COUNT; f++) *out[f] = have[f] ? v[f] : NAN;
    r->run = -1;
    return true;
}

static bool plot_push(plot_data *d, const plot_rec *r) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        plot_rec *p = realloc(d->recs, cap * sizeof *p);
        if (!p) return false;
        d->recs = p;
        d->cap = cap;
    }
    d->recs[d->n++] = *r;
    return true;
}

static bool plot_read(FILE *f, plot_data *d) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        plot_rec r;
        if (len <= 1) continue; /* blank line */
        if (plot_parse_line(line, &r)) ok = plot_push(d, &r);
        else d->bad++;
    }
    free(line);
    return ok;
}

/* ---- choosing the run -------------------------------------------------- */

typedef struct plot_run {
    double pid, last_t;
    size_t count;
} plot_run;

/* Numbers the runs (see the top) and returns the one to draw: the
 * longest, of pid if pid >= 0; -1 if none. */
static int plot_select(plot_data *d, double pid) {
    plot_run *runs = NULL;
    int nruns = 0, best = -1;
    for (size_t i = 0; i < d->n; i++) {
        plot_rec *r = &d->recs[i];
        int k = nruns - 1;
        while (k >= 0 && !(runs[k].pid == r->pid || (isnan(runs[k].pid) && isnan(r->pid)))) k--;
        if (k < 0 || r->t < runs[k].last_t) { /* a new process, or an exec */
            plot_run *p = realloc(runs, (size_t)(nruns + 1) * sizeof *p);
            if (!p) break;
            runs = p;
            runs[nruns] = (plot_run){r->pid, r->t, 0};
            k = nruns++;
        }
        runs[k].last_t = r->t;
        runs[k].count++;
        r->run = k;
    }
    for (int k = 0; k < nruns; k++)
        if ((pid < 0 || runs[k].pid == pid) && (best < 0 || runs[k].count > runs[best].count))
            best = k;
    free(runs);
    return best;
}

/* ---- drawing ------------------------------------------------------------- */

/* Two panels on one time axis: heap, goal and RSS above; released memory
 * below, on a scale of its own (a fresh 64 MiB arena is released address
 * space, and would flatten the heap on a shared scale). */
enum { W = 960, H = 600, LEFT = 90, RIGHT = 30, TOP = 70, BOTTOM = 540 };
enum { PANEL_MAIN, PANEL_LOW, NPANELS };
static const int panel_rows[NPANELS][2] = {{TOP, 390}, {420, BOTTOM}};

typedef struct plot_scale_y {
    double ymax, unit;  /* bytes at the top; bytes per unit of the labels */
    const char *uname;
} plot_scale_y;

typedef struct plot_axes {
    double t0, t1; /* seconds */
    plot_scale_y y[NPANELS];
} plot_axes;

typedef struct plot_series {
    const char *label, *color, *dash;
    size_t off; /* offset of the field in plot_rec */
    int panel;
} plot_series;

static const plot_series series_list[] = {
    {"heap in use (objects)", "#1f77b4", NULL, offsetof(plot_rec, heap), PANEL_MAIN},
    {"GC heap goal", "#ff7f0e", "6 4", offsetof(plot_rec, goal), PANEL_MAIN},
    {"RSS", "#2ca02c", NULL, offsetof(plot_rec, rss), PANEL_MAIN},
    {"released to the OS", "#9467bd", NULL, offsetof(plot_rec, released), PANEL_LOW},
};
#define NSERIES (sizeof series_list / sizeof series_list[0])
#define GC_COLOR "#d62728"

static double field(const plot_rec *r, size_t off) {
    return *(const double *)((const char *)r + off);
}

/* 1, 2 or 5 times a power of ten, about range/target. */
static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static double px_x(const plot_axes *a, double t) {
    return LEFT + (t - a->t0) / (a->t1 - a->t0) * (W - LEFT - RIGHT);
}
static double px_y(const plot_axes *a, int panel, double v) {
    const int *rows = panel_rows[panel];
    return rows[1] - v / a->y[panel].ymax * (rows[1] - rows[0]);
}

static double max_of(const plot_data *d, int run, size_t off) {
    double m = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->recs[i].run == run && field(&d->recs[i], off) > m) m = field(&d->recs[i], off);
    return m;
}

/* A binary unit and a round top for values up to m. */
static plot_scale_y scale_to(double m) {
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    plot_scale_y y = {0, 1, "B"};
    for (int u = 4; u > 0 && y.unit == 1; u--) {
        if (m >= ldexp(1, 10 * u)) {
            y.unit = ldexp(1, 10 * u);
            y.uname = names[u];
        }
    }
    double top = fmax(m / y.unit, 1), step = nice_step(top, 5);
    y.ymax = ceil(top * 1.05 / step) * step * y.unit;
    return y;
}

/* Time from 0 when the run starts near it (the allocator's start); the
 * goal left out of the scale when it dwarfs the rest (GOGC=off, a far
 * memory limit): its line is then clipped at the top. */
static plot_axes plot_scale(const plot_data *d, int run) {
    plot_axes a = {INFINITY, -INFINITY, {{0, 1, "B"}, {0, 1, "B"}}};
    for (size_t i = 0; i < d->n; i++) {
        if (d->recs[i].run != run) continue;
        a.t0 = fmin(a.t0, d->recs[i].t);
        a.t1 = fmax(a.t1, d->recs[i].t);
    }
    if (a.t0 > 0 && a.t0 < 0.1 * (a.t1 - a.t0)) a.t0 = 0;
    if (!(a.t1 > a.t0)) a.t1 = a.t0 + 1;
    double m = fmax(max_of(d, run, offsetof(plot_rec, rss)), max_of(d, run, offsetof(plot_rec, heap)));
    double goal = max_of(d, run, offsetof(plot_rec, goal));
    if (goal <= 2 * m || m == 0) m = fmax(m, goal);
    a.y[PANEL_MAIN] = scale_to(m);
    a.y[PANEL_LOW] = scale_to(max_of(d, run, offsetof(plot_rec, released)));
    return a;
}

static void xml_text(FILE *o, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", o);
        else if (*s == '>') fputs("&gt;", o);
        else if (*s == '&') fputs("&amp;", o);
        else if (*s == '"') fputs("&quot;", o);
        else fputc(*s, o);
    }
}

/* A panel's grid, y labels, axis lines and y title. */
static void draw_panel_axes(FILE *o, const plot_axes *a, int panel, const char *what) {
    const plot_scale_y *y = &a->y[panel];
    const int *rows = panel_rows[panel];
    double step = nice_step(y->ymax / y->unit, panel == PANEL_MAIN ? 5 : 2);
    for (double v = 0; v <= y->ymax / y->unit + step / 1e6; v += step) {
        double py = px_y(a, panel, v * y->unit);
        fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", LEFT,
                py, W - RIGHT, py);
        fprintf(o, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, py + 4, v);
    }
    fprintf(o, "<path d=\"M%d %d V%d H%d\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, rows[0],
            rows[1], W - RIGHT);
    fprintf(o, "<text transform=\"translate(24 %d) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\">%s (%s)</text>\n", (rows[0] + rows[1]) / 2, what, y->uname);
}

/* Ticks and labels of the time axis, under the lower panel. */
static void draw_time_axis(FILE *o, const plot_axes *a) {
    double step = nice_step(a->t1 - a->t0, 8);
    for (double t = ceil(a->t0 / step) * step; t <= a->t1 + step / 1e6; t += step) {
        double x = px_x(a, t);
        fprintf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x,
                BOTTOM, x, BOTTOM + 5);
        fprintf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, BOTTOM + 19,
                fabs(t) < step / 1e6 ? 0 : t);
    }
    fprintf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">time (s)</text>\n",
            (LEFT + W - RIGHT) / 2, H - 22);
}

/* A faint line across both panels where the cycle count went up since
 * the previous sample. */
static size_t draw_cycles(FILE *o, const plot_data *d, int run, const plot_axes *a) {
    size_t marks = 0;
    double prev = NAN;
    fprintf(o, "<g class=\"gc-cycles\" stroke=\"" GC_COLOR "\" stroke-opacity=\"0.35\">\n");
    for (size_t i = 0; i < d->n; i++) {
        const plot_rec *r = &d->recs[i];
        if (r->run != run || isnan(r->cycles)) continue;
        if (!isnan(prev) && r->cycles > prev) {
            double x = px_x(a, r->t);
            fprintf(o, "<path d=\"M%.1f %d V%d M%.1f %d V%d\"/>\n", x, panel_rows[0][0],
                    panel_rows[0][1], x, panel_rows[1][0], panel_rows[1][1]);
            marks++;
        }
        prev = r->cycles;
    }
    fprintf(o, "</g>\n");
    return marks;
}

static void dash_attr(FILE *o, const char *dash) {
    if (dash) fprintf(o, " stroke-dasharray=\"%s\"", dash);
}

static void draw_series(FILE *o, const plot_data *d, int run, const plot_axes *a,
                        const plot_series *s) {
    fprintf(o, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"", s->color);
    dash_attr(o, s->dash);
    fprintf(o, " clip-path=\"url(#panel-%d)\" points=\"", s->panel);
    for (size_t i = 0; i < d->n; i++) {
        const plot_rec *r = &d->recs[i];
        double v = field(r, s->off);
        if (r->run == run && !isnan(v)) fprintf(o, "%.1f,%.1f ", px_x(a, r->t), px_y(a, s->panel, v));
    }
    fprintf(o, "\"><title>%s</title></polyline>\n", s->label);
}

/* One row under the title: a swatch and a label per series, then GC. */
static void draw_legend(FILE *o, size_t cycles) {
    double x = LEFT;
    fprintf(o, "<g class=\"legend\" font-size=\"12\">\n");
    for (size_t i = 0; i <= NSERIES; i++) {
        char label[64];
        const char *color = i < NSERIES ? series_list[i].color : GC_COLOR;
        if (i < NSERIES) snprintf(label, sizeof label, "%s", series_list[i].label);
        else snprintf(label, sizeof label, "GC cycle ended (%zu)", cycles);
        fprintf(o, "<line x1=\"%.0f\" y1=\"46\" x2=\"%.0f\" y2=\"46\" stroke=\"%s\" stroke-width=\"2\"",
                x, x + 26, color);
        dash_attr(o, i < NSERIES ? series_list[i].dash : NULL);
        fprintf(o, "/>\n<text x=\"%.0f\" y=\"50\">%s</text>\n", x + 32, label);
        x += 32 + 6.5 * (double)strlen(label) + 24; /* about 6.5 px a character at 12 px */
    }
    fprintf(o, "</g>\n");
}

static void plot_svg(FILE *o, const plot_data *d, int run, const char *title) {
    plot_axes a = plot_scale(d, run);
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<title>", W, H, W, H);
    xml_text(o, title);
    fprintf(o, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<defs>", W, H);
    for (int p = 0; p < NPANELS; p++)
        fprintf(o, "<clipPath id=\"panel-%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
                   "</clipPath>", p, LEFT, panel_rows[p][0], W - LEFT - RIGHT,
                panel_rows[p][1] - panel_rows[p][0]);
    fprintf(o, "</defs>\n<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    xml_text(o, title);
    fprintf(o, "</text>\n<g font-size=\"12\" fill=\"#333\">\n");
    draw_panel_axes(o, &a, PANEL_MAIN, "memory");
    draw_panel_axes(o, &a, PANEL_LOW, "released");
    draw_time_axis(o, &a);
    fprintf(o, "</g>\n");
    size_t cycles = draw_cycles(o, d, run, &a);
    for (size_t i = 0; i < NSERIES; i++) draw_series(o, d, run, &a, &series_list[i]);
    draw_legend(o, cycles);
    fprintf(o, "</svg>\n");
}

/* ---- the command ----------------------------------------------------------- */

static int plot_usage(void) {
    fprintf(stderr, "usage: gomalloc plot FILE [-o OUT.svg] [--pid N]\n"
                    "  FILE: a GOMALLOC_METRICS time series (`gomalloc run --metrics FILE`)\n"
                    "  -o OUT.svg: where to write the chart (default: standard output)\n"
                    "  --pid N: the process to draw when FILE holds several\n");
    return 2;
}

typedef struct plot_opts {
    const char *in, *out;
    double pid; /* -1: any */
} plot_opts;

static bool plot_args(int argc, char **argv, plot_opts *po) {
    *po = (plot_opts){NULL, NULL, -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) po->out = argv[++i];
        else if (strcmp(a, "--pid") == 0 && i + 1 < argc) po->pid = strtod(argv[++i], NULL);
        else if (a[0] == '-' && a[1]) return false;
        else if (!po->in) po->in = a;
        else return false;
    }
    return po->in != NULL;
}

static int plot_write(const plot_opts *po, const plot_data *d, int run) {
    FILE *o = po->out ? fopen(po->out, "w") : stdout;
    if (!o) {
        fprintf(stderr, "gomalloc plot: cannot write %s: %s\n", po->out, strerror(errno));
        return 1;
    }
    char title[512];
    const plot_rec *first = NULL;
    for (size_t i = 0; i < d->n && !first; i++)
        if (d->recs[i].run == run) first = &d->recs[i];
    snprintf(title, sizeof title, "gomalloc heap over time: %s (pid %.0f)", po->in, first->pid);
    plot_svg(o, d, run, title);
    bool ok = !ferror(o);
    if (po->out) ok = fclose(o) == 0 && ok;
    else ok = fflush(o) == 0 && ok;
    if (!ok) fprintf(stderr, "gomalloc plot: error writing %s\n", po->out ? po->out : "the chart");
    return ok ? 0 : 1;
}

/* argv[0] is "plot" (plot.h); a caller that passes the whole command
 * line ("gomalloc", "plot", FILE, ...) is accepted too. */
int cmd_plot(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[0], "plot") != 0 && strcmp(argv[1], "plot") == 0) {
        argc--;
        argv++;
    }
    plot_opts po;
    if (!plot_args(argc, argv, &po)) return plot_usage();
    FILE *f = strcmp(po.in, "-") == 0 ? stdin : fopen(po.in, "r");
    if (!f) {
        fprintf(stderr, "gomalloc plot: cannot read %s: %s\n", po.in, strerror(errno));
        return 1;
    }
    plot_data d = {0};
    bool ok = plot_read(f, &d);
    if (f != stdin) fclose(f);
    if (d.bad) fprintf(stderr, "gomalloc plot: %s: skipped %zu malformed lines\n", po.in, d.bad);
    int run = ok ? plot_select(&d, po.pid) : -1;
    int rc = 1;
    if (!ok) fprintf(stderr, "gomalloc plot: out of memory\n");
    else if (run < 0) fprintf(stderr, "gomalloc plot: no samples in %s\n", po.in);
    else rc = plot_write(&po, &d, run);
    free(d.recs);
    return rc;
}
