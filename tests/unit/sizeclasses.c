/* Size classes: the generated table is Go 1.23's, lookups pick the smallest
 * fitting class, and divMul division is exact. */
#include "internal.h"
#include "test.h"

/* Go 1.23 runtime/sizeclasses.go: bytes/obj, bytes/span, objects. */
static const struct { unsigned size, span, objs; } go123[67] = {
    {8, 8192, 1024},    {16, 8192, 512},    {24, 8192, 341},    {32, 8192, 256},
    {48, 8192, 170},    {64, 8192, 128},    {80, 8192, 102},    {96, 8192, 85},
    {112, 8192, 73},    {128, 8192, 64},    {144, 8192, 56},    {160, 8192, 51},
    {176, 8192, 46},    {192, 8192, 42},    {208, 8192, 39},    {224, 8192, 36},
    {240, 8192, 34},    {256, 8192, 32},    {288, 8192, 28},    {320, 8192, 25},
    {352, 8192, 23},    {384, 8192, 21},    {416, 8192, 19},    {448, 8192, 18},
    {480, 8192, 17},    {512, 8192, 16},    {576, 8192, 14},    {640, 8192, 12},
    {704, 8192, 11},    {768, 8192, 10},    {896, 8192, 9},     {1024, 8192, 8},
    {1152, 8192, 7},    {1280, 8192, 6},    {1408, 16384, 11},  {1536, 8192, 5},
    {1792, 16384, 9},   {2048, 8192, 4},    {2304, 16384, 7},   {2688, 8192, 3},
    {3072, 24576, 8},   {3200, 16384, 5},   {3456, 24576, 7},   {4096, 8192, 2},
    {4864, 24576, 5},   {5376, 16384, 3},   {6144, 24576, 4},   {6528, 32768, 5},
    {6784, 40960, 6},   {6912, 49152, 7},   {8192, 8192, 1},    {9472, 57344, 6},
    {9728, 49152, 5},   {10240, 40960, 4},  {10880, 32768, 3},  {12288, 24576, 2},
    {13568, 40960, 3},  {14336, 57344, 4},  {16384, 16384, 1},  {18432, 73728, 4},
    {19072, 57344, 3},  {20480, 40960, 2},  {21760, 65536, 3},  {24576, 24576, 1},
    {27264, 81920, 3},  {28672, 57344, 2},  {32768, 32768, 1},
};

TEST(table_equals_go_1_23_classes) {
    CHECK_EQ(GM_NUM_CLASSES, 68);
    CHECK_EQ(gm__class_to_size[0], 0);
    for (int c = 1; c < GM_NUM_CLASSES; c++) {
        unsigned span = gm__class_to_allocnpages[c] * GM_PAGE_SIZE;
        CHECK_EQ(gm__class_to_size[c], go123[c - 1].size);
        CHECK_EQ(span, go123[c - 1].span);
        CHECK_EQ(span / gm__class_to_size[c], go123[c - 1].objs);
    }
}

TEST(divmul_division_is_exact_for_every_offset_of_every_span) {
    for (int c = 1; c < GM_NUM_CLASSES; c++) {
        uint64_t size = gm__class_to_size[c], span = gm__class_to_allocnpages[c] * GM_PAGE_SIZE;
        uint64_t dm = gm__class_to_divmagic[c];
        CHECK_EQ(dm, UINT32_MAX / size + 1);
        int bad = 0;
        for (uint64_t off = 0; off < span && !bad; off++)
            bad = ((off * dm) >> 32) != off / size;
        if (bad) fprintf(stderr, "  class %d divmul wrong\n", c);
        CHECK(!bad);
    }
}

TEST(lookup_picks_smallest_class_that_fits) {
    for (size_t size = 1; size <= GM_MAX_SMALL_SIZE; size++) {
        int c = gm__size_to_class(size);
        if (!(c >= 1 && gm__class_to_size[c] >= size && gm__class_to_size[c - 1] < size)) {
            fprintf(stderr, "  size %zu -> class %d\n", size, c);
            CHECK(0);
            return;
        }
    }
}

TEST(lookup_tables_have_go_lengths) {
    CHECK_EQ(sizeof gm__size_to_class8, 129);
    CHECK_EQ(sizeof gm__size_to_class128, 249);
}

TEST(waste_is_bounded_by_go_limits) {
    for (int c = 1; c < GM_NUM_CLASSES; c++) {
        unsigned size = gm__class_to_size[c], span = gm__class_to_allocnpages[c] * GM_PAGE_SIZE;
        CHECK(span % size <= span / 8); /* tail waste <= 12.5% */
    }
}

TEST(public_size_class_query_matches_tables) {
    gm_size_class_info ci;
    CHECK_EQ(gm_size_class_of(80, &ci), 0);
    CHECK_EQ(ci.size_class, 7);
    CHECK_EQ(ci.span_class, 15);
    CHECK_EQ(ci.size, 80);
    CHECK_EQ(ci.nelems, 102);
    CHECK_EQ(ci.tail_waste, 32);
    CHECK_EQ(gm_size_class_of(81, &ci), 0);
    CHECK_EQ(ci.size_class, 8);
    CHECK_EQ(ci.size, 96);
    CHECK_EQ(gm_size_class_of(32769, &ci), 0);
    CHECK_EQ(ci.size_class, 0);
    CHECK_EQ(ci.size, 40960);
    CHECK_EQ(gm_size_class_of(0, &ci), 0);
    CHECK_EQ(ci.size, 8);
    CHECK_EQ(gm_size_class_of((size_t)PTRDIFF_MAX + 1, &ci), -1);
}

TEST(generator_output_matches_committed_header) {
    FILE *gen = popen(GM_BINARY_DIR "/mksizeclasses", "r");
    FILE *committed = fopen(GM_SOURCE_DIR "/src/sizeclasses.h", "r");
    REQUIRE(gen && committed);
    int a, b, same = 1;
    do {
        a = fgetc(gen);
        b = fgetc(committed);
        if (a != b) same = 0;
    } while (a != EOF && b != EOF && same);
    CHECK(same);
    CHECK_EQ(pclose(gen), 0);
    fclose(committed);
}

TEST_MAIN()
