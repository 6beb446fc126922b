/*
 * Allocation at awkward moments of a process's life (reference §5.3):
 * before main in a priority-101 constructor, in the constructor and
 * destructor of a dlopen'ed object, inside the loader's own paths (dlsym of
 * a missing symbol, dlerror), in exit-time destructors and atexit handlers,
 * and in libc functions that allocate for themselves or for the caller.
 */
#include <dirent.h>
#include <glob.h>
#include <locale.h>
#include <netdb.h>
#include <regex.h>
#include <pwd.h>

#include "conform.h"

#ifndef CONFORM_DSO_PATH
#error "CONFORM_DSO_PATH must name the conform_dso module"
#endif

/* ---- Before main ------------------------------------------------------- */

/* Runs before the test registrations (default priority) and before main:
 * possibly the allocator's first call in this program. */
static int early_result = -1;

static int allocate_a_little_of_everything(void) {
    char *a = malloc(opaque(10));
    char *b = calloc(opaque(100), 10);
    char *c = realloc(malloc(opaque(5)), 70000);
    void *d = aligned_alloc(4096, 8192);
    char *e = strdup("early");
    if (!a || !b || !c || !d || !e || nonzero_offset(b, 1000) != SIZE_MAX) return 1;
    memset(a, 1, 10);
    memset(c, 2, 70000);
    memset(d, 3, 8192);
    int bad = strcmp(e, "early") != 0 || (uintptr_t)d % 4096 != 0;
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    return bad;
}

__attribute__((constructor(101))) static void early_constructor(void) {
    early_result = allocate_a_little_of_everything();
}

TEST(allocation_in_an_early_constructor) { CHECK_EQ(early_result, 0); }

/* ---- dlopen'ed object -------------------------------------------------- */

struct dso {
    void *handle;
    int (*check)(void);
    void *(*alloc)(size_t);
    void (*release)(void *);
};

static int open_dso(struct dso *d) {
    d->handle = dlopen(CONFORM_DSO_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!d->handle) {
        fprintf(stderr, "  dlopen: %s\n", dlerror());
        return 0;
    }
    d->check = (int (*)(void))dlsym(d->handle, "conform_dso_check");
    d->alloc = (void *(*)(size_t))dlsym(d->handle, "conform_dso_alloc");
    d->release = (void (*)(void *))dlsym(d->handle, "conform_dso_free");
    return d->check && d->alloc && d->release;
}

/* Blocks cross the boundary both ways while the object is loaded. */
static int exercise_dso(struct dso *d) {
    int bad = d->check() != 0;
    char *from_dso = d->alloc(opaque(1000));
    char *from_main = malloc(opaque(1000));
    if (!from_dso || !from_main) return 1;
    memset(from_dso, 1, 1000);
    memset(from_main, 2, 1000);
    free(from_dso);
    d->release(from_main);
    return bad;
}

TEST(constructor_of_a_dlopened_object_allocates) {
    struct dso d;
    REQUIRE(open_dso(&d));
    CHECK_EQ(d.check(), 0);
    CHECK_EQ(exercise_dso(&d), 0);
    CHECK_EQ(dlclose(d.handle), 0);
}

TEST(dlopen_and_dlclose_100_times) {
    for (int i = 0; i < 100; i++) {
        struct dso d;
        REQUIRE(open_dso(&d));
        if (exercise_dso(&d) != 0) {
            fprintf(stderr, "  iteration %d: the object's blocks are damaged\n", i);
            gm_test_failed_current = 1;
        }
        REQUIRE(dlclose(d.handle) == 0);
    }
}

/* dlsym of a missing symbol makes glibc allocate the error message (with
 * calloc/malloc), and dlerror hands it back and frees the previous one. */
TEST(dlsym_of_missing_symbol_and_dlerror_allocate) {
    void *self = dlopen(NULL, RTLD_NOW);
    REQUIRE(self != NULL);
    for (int i = 0; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof name, "conform_no_such_symbol_%d", i);
        CHECK(dlsym(self, name) == NULL);
        const char *msg = dlerror();
        if (!msg || !strstr(msg, name)) {
            fprintf(stderr, "  dlerror() = \"%s\" for %s\n", msg ? msg : "(null)", name);
            gm_test_failed_current = 1;
            break;
        }
    }
    CHECK(dlerror() == NULL);
    CHECK(dlopen("/nonexistent/libconform_missing.so", RTLD_NOW) == NULL);
    CHECK(dlerror() != NULL);
    dlclose(self);
}

/* ---- At exit ------------------------------------------------------------ */

/* An exit-time function allocates, writes, checks and frees; if a report
 * pipe is set it says "ok", otherwise a failure ends the process with 3. */
static int exit_report_fd = -1;

static void allocate_at_exit(const char *who) {
    const size_t sizes[] = {16, 200, 5000, 100000, 3 * MiB};
    int bad = 0;
    for (size_t i = 0; i < COUNT_OF(sizes); i++) {
        unsigned char *p = malloc(opaque(sizes[i]));
        if (!p) { bad = 1; continue; }
        fill(p, sizes[i], i);
        bad |= bad_offset(p, sizes[i], i) != SIZE_MAX;
        free(p);
    }
    char *s = strdup(who);
    bad |= !s;
    free(s);
    if (exit_report_fd >= 0) {
        if (!bad && write(exit_report_fd, who, strlen(who)) < 0) _exit(4);
    } else if (bad) {
        fprintf(stderr, "%s: allocation at exit failed\n", who);
        _exit(3);
    }
}

__attribute__((destructor)) static void exit_destructor(void) { allocate_at_exit("[dtor]"); }
static void exit_handler(void) { allocate_at_exit("[atexit]"); }

static void exit_normally(void *fd) {
    exit_report_fd = *(int *)fd;
    atexit(exit_handler);
    exit(0);
}

/* A child that calls exit(): its atexit handler and destructor must both
 * allocate and report. The test program itself does the same at its end. */
TEST(allocation_in_atexit_handler_and_destructor) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    struct child_result r;
    run_child(exit_normally, &fds[1], 10, &r);
    close(fds[1]);
    char buf[64] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    CHECK(exited_zero(&r));
    CHECK(n > 0 && strstr(buf, "[atexit]") && strstr(buf, "[dtor]"));
    char how[64];
    if (!exited_zero(&r))
        fprintf(stderr, "  child %s; its stderr: %s\n", describe_exit(&r, how, sizeof how), r.err);
}

/* ---- libc functions that allocate ------------------------------------- */

TEST(string_functions_return_malloced_memory) {
    for (int i = 0; i < 1000; i++) {
        char *a = strdup("a string to copy");
        char *b = strndup("a string to copy, in part", 8);
        char *c = NULL;
        CHECK(asprintf(&c, "%d:%s:%0*d", i, a, 300, i) > 300);
        REQUIRE(a && b && c);
        CHECK(strcmp(b, "a string") == 0);
        free(a);
        free(b);
        free(c);
    }
}

TEST(stdio_streams_allocate_buffers) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    REQUIRE(m != NULL);
    for (int i = 0; i < 20000; i++) fprintf(m, "line %d\n", i);
    fclose(m);
    CHECK(len > 100000 && strncmp(buf, "line 0\n", 7) == 0);
    FILE *f = fopen("/proc/self/maps", "r");
    REQUIRE(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0) lines++;
    CHECK(lines > 3);
    fclose(f);
    free(line);
    free(buf);
    FILE *t = tmpfile();
    REQUIRE(t != NULL);
    setvbuf(t, NULL, _IOFBF, 1 << 16);
    fputs("x", t);
    fclose(t);
}

static int no_filter(const struct dirent *d) { return d->d_name[0] != '.'; }

TEST(directory_and_path_functions_allocate) {
    DIR *d = opendir("/proc/self/fd");
    REQUIRE(d != NULL);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    CHECK(n >= 3);
    struct dirent **list = NULL;
    int k = scandir("/proc/self", &list, no_filter, alphasort);
    CHECK(k > 5);
    for (int i = 0; i < k; i++) free(list[i]);
    free(list);
    char *cwd = getcwd(NULL, 0);
    char *real = realpath("/proc/self/../self/.", NULL);
    CHECK(cwd && real);
    free(cwd);
    free(real);
    glob_t g;
    CHECK_EQ(glob("/proc/self/*", 0, NULL, &g), 0);
    CHECK(g.gl_pathc > 5);
    globfree(&g);
}

TEST(regex_locale_and_lookup_functions_allocate) {
    regex_t re;
    REQUIRE(regcomp(&re, "^(a|b)+[0-9]{2,5}$", REG_EXTENDED) == 0);
    CHECK(regexec(&re, "abba123", 0, NULL, 0) == 0);
    CHECK(regexec(&re, "abc", 0, NULL, 0) != 0);
    regfree(&re);
    locale_t loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    if (loc) freelocale(loc);
    /* Numeric host and service: no name service, no network. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    CHECK_EQ(getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    if (res) freeaddrinfo(res);
    struct passwd *pw = getpwuid(0); /* /etc/passwd through NSS */
    (void)pw;
}

/* pthread_setspecific on a key above the first block of 32 makes glibc
 * calloc a second-level array for the thread. */
static void *set_many_keys(void *keys) {
    pthread_key_t *k = (pthread_key_t *)keys;
    for (int i = 0; i < 64; i++) pthread_setspecific(k[i], (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 64; i++)
        if (pthread_getspecific(k[i]) != (void *)(uintptr_t)(i + 1)) return (void *)1;
    return NULL;
}

TEST(pthread_setspecific_on_many_keys) {
    pthread_key_t keys[64];
    for (int i = 0; i < 64; i++) REQUIRE(pthread_key_create(&keys[i], NULL) == 0);
    for (int i = 0; i < 20; i++) CHECK(gm_test_run_in_thread(set_many_keys, keys) == NULL);
    for (int i = 0; i < 64; i++) pthread_key_delete(keys[i]);
}

TEST_MAIN()
