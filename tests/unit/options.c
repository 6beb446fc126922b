/* Options: Go's byte syntax parses as Go does, and the README documents
 * every option in the table. */
#include <string.h>

#include "internal.h"
#include "options.h"
#include "test.h"

TEST(byte_sizes_parse_with_go_suffixes) {
    uint64_t v;
    CHECK(gm__parse_bytes("4096", &v) && v == 4096);
    CHECK(gm__parse_bytes("512B", &v) && v == 512);
    CHECK(gm__parse_bytes("64KiB", &v) && v == 64 << 10);
    CHECK(gm__parse_bytes("512MiB", &v) && v == 512ull << 20);
    CHECK(gm__parse_bytes("3GiB", &v) && v == 3ull << 30);
    CHECK(gm__parse_bytes("2TiB", &v) && v == 2ull << 40);
}

TEST(malformed_byte_sizes_are_rejected) {
    uint64_t v = 7;
    const char *bad[] = {"", "MiB", "-1", "12 MiB", "1.5GiB", "10MB", "99999999999999999999",
                         "20000000TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(!gm__parse_bytes(bad[i], &v));
    CHECK(!gm__parse_bytes(NULL, &v));
    CHECK_EQ(v, 7);
}

TEST(defaults_parse) {
    /* Only the file-name options have no default value. */
    for (size_t i = 0; i < gm__option_count; i++)
        CHECK(gm__option_table[i].def[0] != 0 || strstr(gm__option_table[i].help, "file"));
    gm__ensure_init();
    CHECK_EQ(gm__opts.retain_min, 64ull << 20);
    CHECK_EQ(gm__opts.retain_percent, 50);
}

TEST(environment_overrides_defaults) {
    gm__ensure_init();
    gm_options saved = gm__opts;
    setenv("GOMALLOC_RETAIN", "2MiB", 1);
    setenv("GOMALLOC_RETAIN_PERCENT", "10", 1);
    gm__options_init();
    CHECK_EQ(gm__opts.retain_min, 2 << 20);
    CHECK_EQ(gm__opts.retain_percent, 10);
    unsetenv("GOMALLOC_RETAIN");
    unsetenv("GOMALLOC_RETAIN_PERCENT");
    gm__opts = saved;
}

static void init_with_malformed_retain(void) {
    setenv("GOMALLOC_RETAIN", "lots", 1);
    gm__options_init();
    if (gm__opts.retain_min == 64ull << 20) abort(); /* kept the default: report via SIGABRT */
    _exit(0);
}

TEST(malformed_value_warns_and_keeps_the_default) {
    /* The child aborts on purpose when the default was kept, so that
     * EXPECT_DEATH can also check the one-line warning on stderr. */
    EXPECT_DEATH(init_with_malformed_retain(), "gomalloc: ignoring malformed GOMALLOC_RETAIN=lots");
}

TEST(readme_documents_every_option) {
    FILE *f = fopen(GM_SOURCE_DIR "/README.md", "r");
    REQUIRE(f);
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    for (size_t i = 0; i < gm__option_count; i++) {
        char row[128];
        const char *def = gm__option_table[i].def;
        if (*def) snprintf(row, sizeof row, "| `%s` | `%s` |", gm__option_table[i].name, def);
        else snprintf(row, sizeof row, "| `%s` | none |", gm__option_table[i].name);
        if (!strstr(text, row)) fprintf(stderr, "  README lacks the row \"%s\"\n", row);
        CHECK(strstr(text, row) != NULL);
    }
}

TEST_MAIN()
