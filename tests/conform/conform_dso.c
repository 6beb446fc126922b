/*
 * A shared object that lifecycle_ctor dlopens: its constructor allocates
 * while the dynamic loader is running it, its destructor frees while
 * dlclose runs, and blocks cross between it and the program.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *ctor_string;
static void *ctor_blocks[8];
static const size_t ctor_sizes[8] = {1, 24, 100, 4096, 40000, 1 << 20, 0, 333};

static unsigned char byte_for(size_t i, size_t k) { return (unsigned char)(i * 31 + k); }

__attribute__((constructor)) static void dso_ctor(void) {
    ctor_string = strdup("allocated by the constructor of conform_dso");
    for (size_t i = 0; i < 8; i++) {
        ctor_blocks[i] = i % 2 ? calloc(1, ctor_sizes[i]) : malloc(ctor_sizes[i]);
        if (ctor_blocks[i]) memset(ctor_blocks[i], byte_for(i, 0), ctor_sizes[i]);
    }
    ctor_blocks[7] = realloc(ctor_blocks[7], 5000);
    if (ctor_blocks[7]) memset(ctor_blocks[7], byte_for(7, 0), 5000);
}

__attribute__((destructor)) static void dso_dtor(void) {
    free(ctor_string);
    for (size_t i = 0; i < 8; i++) free(ctor_blocks[i]);
}

/* 0 if everything the constructor allocated is there and intact. */
int conform_dso_check(void) {
    if (!ctor_string || strcmp(ctor_string, "allocated by the constructor of conform_dso"))
        return 1;
    for (size_t i = 0; i < 8; i++) {
        size_t n = i == 7 ? 5000 : ctor_sizes[i];
        const unsigned char *b = ctor_blocks[i];
        if (!b) return 2;
        for (size_t k = 0; k < n; k++)
            if (b[k] != byte_for(i, 0)) return 3;
    }
    return 0;
}

/* Blocks that cross the boundary: allocated here, freed by the program,
 * and the other way round. */
void *conform_dso_alloc(size_t n) { return malloc(n); }
void conform_dso_free(void *p) { free(p); }
