/*
 * Allocation counts of map operations against Go 1.23 itself: the table in
 * map_allocs_go123.h was printed by Go 1.23.4's runtime (testing.
 * AllocsPerRun, tests/go/mapallocs), the last Go with the hmap design our
 * maps follow. Every case whose count does not depend on the hash seed:
 * make with hints from 0 to 100000 for five key/value shapes, the first
 * assignment, keys and values over 128 bytes (stored indirectly), clear.
 */
#include <string.h>

#include "gomalloc.h"
#include "gomalloc/map.h"
#include "map_allocs_go123.h"
#include "test.h"

struct big { unsigned char b[200]; };

static gm_maptype int_int = GM_MAPTYPE(int64_t, int64_t);
static gm_maptype int_ptr =
    GM_MAPTYPE_KV(GM_TYPE_NOPTRS(int64_t), GM_TYPE_POINTER(int64_t *), GM_KEY_MEM);
static gm_maptype str_int = GM_MAPTYPE_STRING(int64_t);
static gm_maptype big_int = GM_MAPTYPE(struct big, int64_t);
static gm_maptype int_big = GM_MAPTYPE(int64_t, struct big);
static gm_maptype int8_int8 = GM_MAPTYPE(int8_t, int8_t);

static gm_map *volatile sink; /* Go's global sink: the map escapes */

struct op {
    gm_maptype *t;
    size_t hint;
    int what; /* 0 make, 1 first assign, 2 two big keys, 3 two big values, 4 clear */
};

static void run_op(void *arg) {
    const struct op *o = arg;
    gm_map *m = gm_make_map(o->t, o->hint);
    switch (o->what) {
    case 1: {
        int64_t k = 1;
        memset(gm_map_assign(m, &k), 0, o->t->elem->size);
        break;
    }
    case 2: {
        struct big k1 = {{1}}, k2 = {{2}};
        *(int64_t *)gm_map_assign(m, &k1) = 1;
        *(int64_t *)gm_map_assign(m, &k2) = 2;
        break;
    }
    case 3: {
        int64_t k1 = 1, k2 = 2;
        ((struct big *)gm_map_assign(m, &k1))->b[0] = 1;
        ((struct big *)gm_map_assign(m, &k2))->b[0] = 2;
        break;
    }
    case 4:
        for (int64_t i = 0; i < 100; i++) *(int64_t *)gm_map_assign(m, &i) = i;
        gm_map_clear(m);
        break;
    }
    sink = m;
}

/* The operation a row of the Go table names. */
static bool op_of(const char *name, struct op *o) {
    static const struct { const char *prefix; gm_maptype *t; } makes[] = {
        {"make_int_int_", &int_int}, {"make_int_ptr_", &int_ptr}, {"make_str_int_", &str_int},
        {"make_big_int_", &big_int}, {"make_int8_int8_", &int8_int8},
    };
    for (size_t i = 0; i < sizeof makes / sizeof makes[0]; i++) {
        size_t n = strlen(makes[i].prefix);
        if (strncmp(name, makes[i].prefix, n) == 0) {
            *o = (struct op){makes[i].t, (size_t)strtoull(name + n, NULL, 10), 0};
            return true;
        }
    }
    if (!strcmp(name, "first_assign_int_int")) *o = (struct op){&int_int, 0, 1};
    else if (!strcmp(name, "first_assign_int_ptr")) *o = (struct op){&int_ptr, 0, 1};
    else if (!strcmp(name, "assign_big_key")) *o = (struct op){&big_int, 8, 2};
    else if (!strcmp(name, "assign_big_value")) *o = (struct op){&int_big, 8, 3};
    else if (!strcmp(name, "clear_int_int_1000")) *o = (struct op){&int_int, 1000, 4};
    else return false;
    return true;
}

TEST(every_seed_independent_map_operation_allocates_what_go_1_23_allocates) {
    size_t n = sizeof go123_map_allocs / sizeof go123_map_allocs[0], bad = 0;
    CHECK(n >= 60);
    for (size_t i = 0; i < n; i++) {
        struct op o;
        REQUIRE(op_of(go123_map_allocs[i].name, &o));
        double ours = gm_allocs_per_run(20, run_op, &o);
        if (ours != go123_map_allocs[i].allocs) {
            fprintf(stderr, "  %s: %g allocations, Go 1.23: %d\n", go123_map_allocs[i].name,
                    ours, go123_map_allocs[i].allocs);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

TEST_MAIN()
