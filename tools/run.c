/*
 * gomalloc run [--stats] [--stats-file F] [--] CMD [ARGS...]
 *
 * Runs CMD with libgomalloc.so preloaded, in place of this process (exec),
 * so the program's pid, exit status and signals are its own. --stats makes
 * the library print its heap summary when CMD exits (GOMALLOC_STATS), for
 * CMD's process only (GOMALLOC_STATS_PID = our pid, which exec keeps):
 * children it spawns are preloaded too, but stay quiet.
 *
 * The library is looked for next to this binary (the build tree), then in
 * ../lib and ../lib/<multiarch> (an install), then by name on the loader's
 * search path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#define LIBNAME "libgomalloc.so"

static int usage(void) {
    fprintf(stderr, "usage: gomalloc run [--stats] [--stats-file FILE] [--] CMD [ARGS...]\n");
    return 2;
}

static bool readable(const char *path) { return access(path, R_OK) == 0; }

/* Writes the library's path into buf; false if none was found next to us. */
static bool find_library(char *buf, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = 0;
    static const char *const rel[] = {"", "/../lib", "/../lib/x86_64-linux-gnu",
                                      "/../lib/aarch64-linux-gnu"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%s%s/" LIBNAME, exe, rel[i]) >= (int)sizeof cand)
            continue;
        if (readable(cand) && realpath(cand, buf) && strlen(buf) < cap) return true;
    }
    return false;
}

static bool set_preload(const char *lib) {
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *v = malloc(n);
    if (!v) return false;
    snprintf(v, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    return setenv("LD_PRELOAD", v, 1) == 0;
}

static bool set_stats(const char *dest) {
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    return setenv("GOMALLOC_STATS", dest, 1) == 0 && setenv("GOMALLOC_STATS_PID", pid, 1) == 0;
}

int cmd_run(int argc, char **argv) {
    const char *stats = NULL;
    int i = 2;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--stats") == 0) {
            stats = stats ? stats : "1";
        } else if (strcmp(argv[i], "--stats-file") == 0) {
            if (++i >= argc) return usage();
            stats = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gomalloc run: unknown option %s\n", argv[i]);
            return usage();
        } else {
            break;
        }
    }
    if (i >= argc) return usage();

    char lib[PATH_MAX];
    if (!find_library(lib, sizeof lib)) snprintf(lib, sizeof lib, "%s", LIBNAME);
    if (stats && strcmp(stats, "1") != 0) {
        /* The library appends; a run starts the file afresh. */
        int fd = open(stats, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "gomalloc run: %s: %s\n", stats, strerror(errno));
            return 1;
        }
        close(fd);
    }
    if (!set_preload(lib) || (stats && !set_stats(stats))) {
        fprintf(stderr, "gomalloc run: cannot set the environment: %s\n", strerror(errno));
        return 1;
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "gomalloc run: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
