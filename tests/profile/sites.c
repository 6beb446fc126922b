/* Three allocation sites whose bytes are in a known ratio (1 : 3 : 10),
 * with mixed sizes and part of each freed, profiled at the default rate.
 * Prints the truth (bytes allocated and still in use per site, in block
 * sizes: every size here is a size class or whole pages) for
 * check_profile.py to compare with what `go tool pprof` reads.
 *     sites PROFILE [SEED]
 * A fixed seed makes the sampling repeatable (any seed must pass: the
 * volumes keep the expected error near 3%). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "mprof.h"

/* Neither inlined nor cloned: each site keeps its own frame (clang has no
 * noipa). */
#if defined(__clang__)
#define NOIPA __attribute__((noinline, optnone))
#else
#define NOIPA __attribute__((noipa))
#endif
#define UNIT (384u << 20) /* bytes allocated by site_a */

typedef struct truth { unsigned long long alloc, inuse; } truth;
static void **kept;
static size_t nkept, capkept;

static void keep(void *p) {
    if (nkept == capkept) {
        capkept = capkept ? 2 * capkept : 1 << 16;
        kept = realloc(kept, capkept * sizeof *kept);
        if (!kept) abort();
    }
    kept[nkept++] = p;
}

/* Allocates `total` bytes spread evenly over the sizes; keeps one object
 * in `keep_every` and frees the others at once. */
static inline __attribute__((always_inline)) void churn(const size_t *sizes, int nsizes, size_t total, int keep_every, truth *t) {
    for (int s = 0; s < nsizes; s++) {
        size_t n = total / (size_t)nsizes / sizes[s];
        for (size_t i = 0; i < n; i++) {
            void *p = gm_malloc(sizes[s]);
            if (!p) abort();
            t->alloc += sizes[s];
            if (i % (size_t)keep_every == 0) {
                keep(p);
                t->inuse += sizes[s];
            } else {
                gm_free(p);
            }
        }
    }
}

static NOIPA void site_a(truth *t) {
    static const size_t sizes[] = {64, 256, 1024, 4096, 16384, 65536};
    churn(sizes, 6, UNIT, 1, t);
}

static NOIPA void site_b(truth *t) {
    static const size_t sizes[] = {48, 512, 2048, 8192, 32768, 131072};
    churn(sizes, 6, 3 * (size_t)UNIT, 3, t);
}

static NOIPA void site_c(truth *t) {
    static const size_t sizes[] = {32, 128, 3072, 10240, 27264, 262144};
    churn(sizes, 6, 10 * (size_t)UNIT, 10, t);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: sites PROFILE [SEED]\n");
        return 2;
    }
    if (argc > 2) gm__mprof_seed(strtoull(argv[2], NULL, 10));
    gm_set_profile_rate(512 * 1024);
    truth a = {0, 0}, b = {0, 0}, c = {0, 0};
    site_a(&a);
    site_b(&b);
    site_c(&c);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || gm_write_heap_profile(fd) != 0) {
        perror("gm_write_heap_profile");
        return 1;
    }
    close(fd);
    printf("site_a %llu %llu\nsite_b %llu %llu\nsite_c %llu %llu\n", a.alloc, a.inuse, b.alloc,
           b.inuse, c.alloc, c.inuse);
    for (size_t i = 0; i < nkept; i++) gm_free(kept[i]);
    free(kept);
    return 0;
}
