/*
 * What dirty-page tracking (src/mdirty.h) costs, per mechanism this
 * machine has: over 1 GiB of touched anonymous memory,
 *   arm                   write-protect / clear everything
 *   collect, none written read + re-arm when nothing was written
 *   first write           per page, the first store after arming
 *   collect, all written  read + re-arm after every page was written
 *   collect, 1% written   the same, every 100th page written
 * Printed, never asserted. Usage: bench_dirty [MiB] (default 1024).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "mdirty.h"

#define PG ((size_t)4096)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_every(char *p, size_t len, size_t stride) {
    for (size_t i = 0; i < len; i += stride * PG) ((volatile char *)p)[i] += 1;
}

static void bench_mode(gm_dirty_mode m, size_t len) {
    const char *name = gm__dirty_mode_name(m);
    if (gm__dirty_init(m) != m) {
        printf("%-9s unavailable on this machine\n", name);
        return;
    }
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || !gm__dirty_track(p, len)) {
        printf("%-9s cannot map/track %zu MiB\n", name, len >> 20);
        return;
    }
    write_every(p, len, 1); /* touched: every page present */
    size_t npages = len / PG;
    double t0 = now_ms();
    write_every(p, len, 1); /* a plain store per page, to compare */
    double t_plain = now_ms() - t0;

    t0 = now_ms();
    gm__dirty_arm();
    double t_arm = now_ms() - t0;
    t0 = now_ms();
    size_t n0 = gm__dirty_collect(NULL, NULL, true);
    double t_clean = now_ms() - t0;
    t0 = now_ms();
    write_every(p, len, 1);
    double t_write = now_ms() - t0;
    t0 = now_ms();
    size_t nall = gm__dirty_collect(NULL, NULL, true);
    double t_all = now_ms() - t0;
    write_every(p, len, 100);
    t0 = now_ms();
    size_t n1 = gm__dirty_collect(NULL, NULL, true);
    double t_1pc = now_ms() - t0;

    printf("%-9s arm %7.2f ms | collect: none written %7.2f ms (%zu), all %7.2f ms (%zu), 1%% %7.2f ms (%zu)"
           " | first write %6.0f ns/page (plain %3.0f)\n",
           name, t_arm, t_clean, n0, t_all, nall, t_1pc, n1, t_write * 1e6 / (double)npages,
           t_plain * 1e6 / (double)npages);
    gm__dirty_untrack(p, len);
    munmap(p, len);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 1024;
    printf("dirty-page tracking over %zu MiB of touched memory\n", mib);
    gm_dirty_mode modes[] = {GM_DIRTY_UFFD, GM_DIRTY_SOFTDIRTY, GM_DIRTY_MPROTECT};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) bench_mode(modes[i], mib << 20);
    return 0;
}
