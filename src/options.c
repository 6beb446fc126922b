/*
 * Options: one table (name, default, help) read once at initialisation from
 * the environment. The README's option list is checked against this table
 * by tests/unit/options.c. Go's names where Go has the concept (GOGC,
 * GOMEMLIMIT and GODEBUG arrive with the collector); GOMALLOC_* for ours.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"

gm_options gm__opts;

const gm_option_desc gm__option_table[] = {
    {"GOMALLOC_RETAIN", "64MiB",
     "Free heap memory kept backed (not returned to the OS) regardless of heap size. "
     "Go's byte syntax: 4096, 512KiB, 64MiB, 1GiB."},
    {"GOMALLOC_RETAIN_PERCENT", "50",
     "Free heap memory kept backed, as a percentage of the heap in use, when that is "
     "more than GOMALLOC_RETAIN. Beyond it, the scavenger returns free pages to the OS."},
    {"GOMALLOC_STATS", "0",
     "1: print a heap summary (MemStats, per-size-class table, peaks) to stderr at exit; "
     "any other value but 0: append it to that file. `gomalloc run --stats` sets it."},
    {"GOMALLOC_STATS_PID", "0",
     "Only the process with this pid prints GOMALLOC_STATS (0: every process). "
     "`gomalloc run` sets it so that a program's children stay quiet."},
};
const size_t gm__option_count = sizeof gm__option_table / sizeof gm__option_table[0];

bool gm__parse_bytes(const char *s, uint64_t *out) {
    if (!s || *s < '0' || *s > '9') return false;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s++ - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].suffix) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) return false;
            *out = v << units[i].shift;
            return true;
        }
    }
    return false;
}

static const char *option_value(size_t i) {
    const char *v = getenv(gm__option_table[i].name);
    return v && *v ? v : gm__option_table[i].def;
}

static void warn_bad(size_t i, const char *v) {
    static const char pre[] = "gomalloc: ignoring malformed ";
    gm__sys_write_err(pre, sizeof pre - 1);
    gm__sys_write_err(gm__option_table[i].name, strlen(gm__option_table[i].name));
    gm__sys_write_err("=", 1);
    gm__sys_write_err(v, strlen(v));
    gm__sys_write_err("\n", 1);
}

static uint64_t bytes_option(size_t i) {
    uint64_t v;
    const char *s = option_value(i);
    if (gm__parse_bytes(s, &v)) return v;
    warn_bad(i, s);
    gm__parse_bytes(gm__option_table[i].def, &v);
    return v;
}

static uint64_t percent_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || end == s || v > 10000) {
        warn_bad(i, s);
        v = strtoul(gm__option_table[i].def, NULL, 10);
    }
    return v;
}

static uint64_t number_option(size_t i) {
    const char *s = option_value(i);
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s) {
        warn_bad(i, s);
        v = strtoull(gm__option_table[i].def, NULL, 10);
    }
    return v;
}

/* The first malloc can come from the dynamic loader or a constructor that
 * runs before libc has set up environ; then we read the options again once
 * our own constructor runs. */
static bool read_before_environ;

void gm__options_init(void) {
    read_before_environ = environ == NULL;
    gm__opts.retain_min = bytes_option(0);
    gm__opts.retain_percent = percent_option(1);
    gm__opts.stats = option_value(2);
    gm__opts.stats_pid = number_option(3);
}

static void __attribute__((constructor)) options_after_environ(void) {
    if (read_before_environ && environ) gm__options_init();
}
