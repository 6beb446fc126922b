/* Every entry point works as the very first gomalloc call of a process:
 * initialisation is lazy and must not depend on a small allocation having
 * happened first. Each case runs in a fresh forked child of a process that
 * has never called gomalloc. */
#include <errno.h>
#include <gomalloc.h>
#include <string.h>

#include "test.h"

/* Runs fn in a child; true if it exited 0. */
static int in_fresh_child(int (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(fn());
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int usable(void *p, size_t n) {
    if (!p) return 1;
    memset(p, 0x5a, n);
    gm_free(p);
    return 0;
}

static int large_malloc(void) { return usable(gm_malloc(1 << 20), 1 << 20); }
static int large_calloc(void) {
    unsigned char *p = gm_calloc(1, 1 << 20);
    if (!p || p[12345] != 0) return 1;
    return usable(p, 1 << 20);
}
static int large_realloc_of_null(void) { return usable(gm_realloc(NULL, 100000), 100000); }
static int page_aligned_alloc(void) {
    void *p = gm_aligned_alloc(1 << 20, 100);
    return !p || (uintptr_t)p % (1 << 20) || usable(p, 100);
}
static int small_aligned_alloc(void) {
    void *p = gm_aligned_alloc(64, 100);
    return !p || (uintptr_t)p % 64 || usable(p, 100);
}
static int posix_memalign_first(void) {
    void *p = NULL;
    return gm_posix_memalign(&p, 4096, 5000) != 0 || usable(p, 5000);
}
static int malloc_zero(void) { return usable(gm_malloc(0), 1); }
static int free_null_then_large(void) {
    gm_free(NULL);
    return usable(gm_malloc(200000), 200000);
}
static int memstats_first(void) {
    gm_memstats m;
    gm_read_memstats(&m);
    return m.mallocs != 0 || m.heap_alloc != 0 || usable(gm_malloc(40000), 40000);
}
static int release_first(void) {
    gm_release_memory();
    return usable(gm_malloc(50000), 50000);
}
static int size_class_query_first(void) {
    gm_size_class_info ci;
    return gm_size_class_of(100, &ci) != 0 || ci.size != 112 || usable(gm_malloc(100), 100);
}

TEST(large_malloc_as_first_call) { CHECK(in_fresh_child(large_malloc)); }
TEST(large_calloc_as_first_call) { CHECK(in_fresh_child(large_calloc)); }
TEST(realloc_of_null_as_first_call) { CHECK(in_fresh_child(large_realloc_of_null)); }
TEST(page_aligned_alloc_as_first_call) { CHECK(in_fresh_child(page_aligned_alloc)); }
TEST(small_aligned_alloc_as_first_call) { CHECK(in_fresh_child(small_aligned_alloc)); }
TEST(posix_memalign_as_first_call) { CHECK(in_fresh_child(posix_memalign_first)); }
TEST(malloc_zero_as_first_call) { CHECK(in_fresh_child(malloc_zero)); }
TEST(free_null_as_first_call) { CHECK(in_fresh_child(free_null_then_large)); }
TEST(read_memstats_as_first_call) { CHECK(in_fresh_child(memstats_first)); }
TEST(release_memory_as_first_call) { CHECK(in_fresh_child(release_first)); }
TEST(size_class_query_as_first_call) { CHECK(in_fresh_child(size_class_query_first)); }

TEST_MAIN()
