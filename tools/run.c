/*
 * gomalloc run [OPTIONS] [--] CMD [ARGS...]
 *
 * Runs CMD with libgomalloc.so preloaded, in place of this process (exec),
 * so the program's pid, exit status and signals are its own. The options
 * only set the library's environment variables (src/options.c describes
 * them); the library does the work inside CMD.
 *
 * Two things make the output robust:
 *
 * - Where the output goes. Programs may chdir, so file names are made
 *   absolute here. Programs may close their standard streams before they
 *   exit (coreutils' close_stdout closes stderr), and the summary is written
 *   from a destructor after that; so --stats hands the program a descriptor
 *   of its own: a duplicate of our stderr at 10 or above, without
 *   FD_CLOEXEC, named to the library as /proc/self/fd/N, which the library
 *   writes to directly (a terminal, pipe, file or socket alike).
 *   GOMALLOC_STATS_PID (our pid, which exec keeps) makes CMD's children,
 *   which inherit the descriptor and the preload, stay quiet.
 *
 * - Which library. It is looked for next to this binary (the build tree),
 *   in ../lib, ../lib64 and ../lib/<multiarch> (an install), then at
 *   $GOMALLOC_LIBRARY, then in the build tree this binary was built in
 *   (GM_BUILD_LIBDIR). If none is there, or the one found cannot be
 *   preloaded, we say so and exit 127: ld.so would skip a library it cannot
 *   preload and run CMD on the system malloc, which is never what was asked.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

#define LIBNAME "libgomalloc.so"

/* The build tree's library directory, from the top-level CMakeLists.txt. */
#ifndef GM_BUILD_LIBDIR
#define GM_BUILD_LIBDIR ""
#endif

/* ---- Command line ------------------------------------------------------ */

typedef struct run_opts {
    bool stats;
    const char *stats_file, *profile, *profile_rate, *metrics, *interval, *heap_map;
} run_opts;

typedef bool (*arg_check)(const char *);

/* Go's byte syntax, as GOMALLOC_PROFILE_RATE is read (gm__parse_bytes). */
static bool is_bytes(const char *s) {
    char *end;
    if (*s < '0' || *s > '9') return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    static const struct { const char *unit; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    for (size_t i = 0; errno == 0 && i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) return v <= ULLONG_MAX >> units[i].shift;
    return false;
}

/* A duration as GOMALLOC_METRICS_INTERVAL is read: digits and a unit, > 0. */
static bool is_duration(const char *s) {
    char *end;
    if (*s < '0' || *s > '9') return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    static const struct { const char *unit; unsigned long long ns; } units[] = {
        {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    for (size_t i = 0; errno == 0 && i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) return v > 0 && v <= ULLONG_MAX / units[i].ns;
    return false;
}

/* The options that take an argument, and where it goes. */
static const struct run_flag {
    const char *name, *arg; /* --name ARG */
    size_t field;           /* offsetof(run_opts, ...) */
    arg_check check;        /* NULL: any non-empty string */
    const char *expect;     /* what check wants, for the message */
} run_flags[] = {
    {"--stats-file", "FILE", offsetof(run_opts, stats_file), NULL, NULL},
    {"--profile", "FILE", offsetof(run_opts, profile), NULL, NULL},
    {"--profile-rate", "N", offsetof(run_opts, profile_rate), is_bytes,
     "bytes, as 4096, 512KiB or 1MiB"},
    {"--metrics", "FILE", offsetof(run_opts, metrics), NULL, NULL},
    {"--interval", "DURATION", offsetof(run_opts, interval), is_duration,
     "a whole number with unit ns, us, ms or s, as 100ms"},
    {"--heap-map", "FILE", offsetof(run_opts, heap_map), NULL, NULL},
};

/* Also the end of `gomalloc help`. */
void run_usage(FILE *f) {
    fprintf(f,
            "usage: gomalloc run [OPTIONS] [--] CMD [ARGS...]\n"
            "Runs CMD with libgomalloc.so preloaded as its malloc. Options:\n"
            "  --stats              print a heap summary on stderr when CMD exits\n"
            "  --stats-file FILE    write the summary to FILE instead (emptied first)\n"
            "  --profile FILE       write a heap profile (gzipped pprof) when CMD exits;\n"
            "                       %%p in FILE becomes the pid\n"
            "  --profile-rate N     sample one allocation per N bytes on average\n"
            "                       (default 512KiB; 1: every allocation)\n"
            "  --metrics FILE       append runtime metrics, one JSON line per sample,\n"
            "                       while CMD runs\n"
            "  --interval DURATION  metrics sampling interval (default 100ms; ns, us, ms, s)\n"
            "  --heap-map FILE      write an HTML map of the heap when CMD exits\n"
            "Relative FILEs are taken from the current directory. The library is looked\n"
            "for next to gomalloc, in ../lib, ../lib64, ../lib/<multiarch>, then at\n"
            "$GOMALLOC_LIBRARY (the path of a libgomalloc.so), then in the build tree.\n");
}

/* One line saying what is wrong, then the usage; returns 2. */
static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gomalloc run: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    run_usage(stderr);
    return 2;
}

/* One option with an argument, "--name ARG" or "--name=ARG"; *i moves past
 * what it used. Returns 0, 2 after a usage error, or -1 if not ours. */
static int parse_flag(run_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    for (size_t f = 0; f < sizeof run_flags / sizeof run_flags[0]; f++) {
        const struct run_flag *fl = &run_flags[f];
        size_t n = strlen(fl->name);
        if (strncmp(a, fl->name, n) != 0 || (a[n] && a[n] != '=')) continue;
        const char *v = a[n] == '=' ? a + n + 1 : *i + 1 < argc ? argv[++*i] : NULL;
        /* "--profile -- CMD" forgot the file: "--" is not one. */
        if (!v || !*v || (a[n] != '=' && strncmp(v, "--", 2) == 0))
            return usage_error("%s needs a %s argument", fl->name, fl->arg);
        if (fl->check && !fl->check(v))
            return usage_error("%s %s: expected %s", fl->name, v, fl->expect);
        *(const char **)((char *)o + fl->field) = v;
        return 0;
    }
    return -1;
}

/* Fills o; returns the index of CMD in argv, or -2 for --help, or -1 after
 * a usage error was printed. */
static int parse_args(run_opts *o, int argc, char **argv) {
    int i = 2;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        int r;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return -2;
        } else if ((r = parse_flag(o, argc, argv, &i)) != -1) {
            if (r) return -1;
        } else {
            usage_error("unknown option %s", a);
            return -1;
        }
    }
    if (o->interval && !o->metrics) {
        usage_error("--interval %s needs --metrics FILE", o->interval);
        return -1;
    }
    if (i >= argc) {
        usage_error("no command to run");
        return -1;
    }
    return i;
}

/* ---- The environment --------------------------------------------------- */

static bool set_env(const char *name, const char *value) {
    if (!value || setenv(name, value, 1) == 0) return true;
    fprintf(stderr, "gomalloc run: cannot set %s: %s\n", name, strerror(errno));
    return false;
}

/* path if absolute, else cwd/path (not resolved: it may not exist yet, and
 * may hold %p). NULL stays NULL. Exits on failure: nothing has run yet. */
static const char *absolute(const char *path) {
    if (!path || path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "gomalloc run: cannot find the current directory for %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *abs = malloc(n);
    if (!abs) {
        fprintf(stderr, "gomalloc run: out of memory\n");
        exit(1);
    }
    snprintf(abs, n, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
    return abs;
}

/* A file the library writes by name: its directory must exist and be
 * writable, or the output would be lost after CMD ran. */
static bool check_dir(const char *opt, const char *path) {
    if (!path) return true;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
    if (access(dir, W_OK | X_OK) == 0) return true;
    fprintf(stderr, "gomalloc run: %s %s: cannot write in %s: %s\n", opt, path, dir,
            strerror(errno));
    return false;
}

/* A file this run's output is appended to starts empty; a name with %p is
 * one per process, left to the library. */
static bool truncate_file(const char *opt, const char *path) {
    if (!path || strstr(path, "%p")) return true;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    fprintf(stderr, "gomalloc run: %s %s: %s\n", opt, path, strerror(errno));
    return false;
}

/* GOMALLOC_STATS for --stats: a descriptor of CMD's own on our stderr (see
 * the top of the file). NULL if stderr is closed: nowhere to write, and fd
 * 2 may be a file CMD opens later. */
static const char *stats_on_stderr(void) {
    static char path[32];
    struct stat st;
    if (fstat(2, &st) != 0) return NULL;
    int fd = fcntl(2, F_DUPFD, 10); /* >= 10: never 0-2, and no FD_CLOEXEC */
    if (fd < 0) return "1";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return path;
}

static bool set_stats(const run_opts *o) {
    if (!o->stats_file && !o->stats) return true;
    const char *dest = o->stats_file ? o->stats_file : stats_on_stderr();
    if (!dest) return true;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    return set_env("GOMALLOC_STATS", dest) && set_env("GOMALLOC_STATS_PID", pid);
}

static bool set_outputs(run_opts *o) {
    o->stats_file = absolute(o->stats_file);
    o->profile = absolute(o->profile);
    o->metrics = absolute(o->metrics);
    o->heap_map = absolute(o->heap_map);
    if (!truncate_file("--stats-file", o->stats_file) || !check_dir("--profile", o->profile) ||
        !truncate_file("--metrics", o->metrics) || !check_dir("--metrics", o->metrics) ||
        !check_dir("--heap-map", o->heap_map))
        return false;
    return set_stats(o) && set_env("GOMALLOC_PROFILE", o->profile) &&
           set_env("GOMALLOC_PROFILE_RATE", o->profile_rate) &&
           set_env("GOMALLOC_METRICS", o->metrics) &&
           set_env("GOMALLOC_METRICS_INTERVAL", o->interval) &&
           set_env("GOMALLOC_HEAP_MAP", o->heap_map);
}

/* ---- Finding the library ----------------------------------------------- */

/* The places looked in, for the message when none has the library. */
typedef struct looked {
    char text[4 * PATH_MAX];
    size_t len;
} looked;

static void note_looked(looked *l, const char *what) {
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s", l->len ? ", " : "", what);
    if (n > 0) l->len += (size_t)n < sizeof l->text - l->len ? (size_t)n : 0;
}

/* The ELF header of path; false if it is not a 64-bit ELF file. */
static bool elf_header(const char *path, Elf64_Ehdr *h) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, h, sizeof *h);
    close(fd);
    return n == (ssize_t)sizeof *h && memcmp(h->e_ident, ELFMAG, SELFMAG) == 0 &&
           h->e_ident[EI_CLASS] == ELFCLASS64;
}

/* Why ld.so could not preload lib (it would skip it and run CMD without
 * gomalloc), or NULL if it can. */
static const char *unloadable(const char *lib) {
    Elf64_Ehdr h, self;
    if (strpbrk(lib, " :\t\n")) return "LD_PRELOAD cannot carry a path with spaces or colons";
    if (!elf_header(lib, &h) || h.e_type != ET_DYN) return "not a 64-bit ELF shared object";
    if (elf_header("/proc/self/exe", &self) && self.e_machine != h.e_machine)
        return "built for another machine";
    return NULL;
}

/* If dir/libgomalloc.so exists, its absolute path goes to buf. */
static bool try_dir(const char *dir, char *buf, looked *l) {
    char cand[PATH_MAX];
    if (snprintf(cand, sizeof cand, "%s/" LIBNAME, dir) >= (int)sizeof cand) return false;
    note_looked(l, dir);
    return access(cand, R_OK) == 0 && realpath(cand, buf);
}

/* Next to this binary, then an install's lib directories (listed in the
 * message whether or not they exist: they are where to put the library). */
static bool try_beside_exe(char *buf, looked *l) {
    char exe[PATH_MAX], parent[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = 0;
    /* The kernel's path is absolute and resolved: dirname is textual. */
    *strrchr(exe, '/') = 0;
    snprintf(parent, sizeof parent, "%s", exe);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0; /* parent "" stands for "/": then "/lib" below */
    if (try_dir(exe[0] ? exe : "/", buf, l)) return true;
    static const char *const rel[] = {"/lib", "/lib64", "/lib/x86_64-linux-gnu",
                                      "/lib/aarch64-linux-gnu"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s%s", parent, rel[i]) >= (int)sizeof dir) continue;
        if (try_dir(dir, buf, l)) return true;
    }
    return false;
}

/* $GOMALLOC_LIBRARY names the library itself. Set but unusable is an
 * error (returns -1): the user asked for that file. 0: unset. */
static int try_env(char *buf, looked *l) {
    const char *env = getenv("GOMALLOC_LIBRARY");
    if (!env || !*env) {
        note_looked(l, "$GOMALLOC_LIBRARY (unset)");
        return 0;
    }
    if (realpath(env, buf) && access(buf, R_OK) == 0) return 1;
    fprintf(stderr, "gomalloc: cannot use GOMALLOC_LIBRARY=%s: %s\n", env, strerror(errno));
    return -1;
}

/* Where this binary's build tree put the library; "" if not recorded. */
static const char build_libdir[] = GM_BUILD_LIBDIR;

/* Writes the library's absolute path into buf (PATH_MAX bytes); false
 * after printing why there is none. */
static bool find_library(char *buf) {
    looked l = {.len = 0};
    bool found = try_beside_exe(buf, &l);
    if (!found) {
        int env = try_env(buf, &l);
        if (env < 0) return false;
        found = env > 0 || (build_libdir[0] && try_dir(build_libdir, buf, &l));
    }
    if (!found) {
        fprintf(stderr, "gomalloc: cannot find " LIBNAME " (looked in: %s); set GOMALLOC_LIBRARY\n",
                l.text);
        return false;
    }
    const char *why = unloadable(buf);
    if (why) fprintf(stderr, "gomalloc: cannot preload %s: %s; set GOMALLOC_LIBRARY\n", buf, why);
    return !why;
}

static bool set_preload(const char *lib) {
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *v = malloc(n);
    if (!v) return false;
    snprintf(v, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    return set_env("LD_PRELOAD", v);
}

int cmd_run(int argc, char **argv) {
    run_opts o = {.stats = false};
    int cmd = parse_args(&o, argc, argv);
    if (cmd == -2) {
        run_usage(stdout);
        return 0;
    }
    if (cmd < 0) return 2;
    char lib[PATH_MAX];
    if (!find_library(lib)) return 127;
    if (!set_outputs(&o) || !set_preload(lib)) return 1;
    execvp(argv[cmd], argv + cmd);
    fprintf(stderr, "gomalloc run: %s: %s\n", argv[cmd], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
