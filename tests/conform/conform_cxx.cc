/*
 * The C++ allocation API: all 20 replaceable operator new/delete variants,
 * std::bad_alloc and std::new_handler, aligned new, sized delete, and
 * standard containers and thread_local objects across threads.
 *
 * Checks that make an allocation fail run in a forked child: an allocator
 * whose operator new aborts instead of throwing (mimalloc's C build does)
 * must fail that check, not take the whole program down.
 */
#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "conform.h"

namespace {

const size_t huge_sizes[] = {
    (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX / 2 + 4097, SIZE_MAX - 4096,
    SIZE_MAX,
};

const size_t assorted_sizes[] = {
    0, 1, 8, 9, 17, 24, 25, 100, 1000, 4096, 5000, 32768, 32769, 100000, 1048576, 4194305,
};

/* x86-64's ABI alignment from 9 bytes up (see conform_malloc.c). */
size_t expected_align(size_t n) { return n <= 8 ? 8 : 16; }
bool is_aligned(const void *p, size_t a) { return (uintptr_t)p % a == 0; }

/* ---- Child processes for the checks that exhaust memory --------------- */

/* A check run in a child: returns the number of failures it printed. */
typedef int (*child_check)(void);

void run_check(void *arg) {
    int failures = (*(child_check *)arg)();
    fflush(stderr);
    _exit(failures ? 1 : 0);
}

/* Runs check in a child; the test fails unless the child exits 0. */
void expect_child_passes(child_check check, const char *what) {
    child_result r;
    run_child(run_check, &check, 60, &r);
    char how[64];
    if (!exited_zero(&r)) {
        fprintf(stderr, "  %s: the child %s; its stderr:\n%s\n", what,
                describe_exit(&r, how, sizeof how), r.err);
        gm_test_failed_current = 1;
    }
}

#define CHILD_CHECK(failures, expr)                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "  %s:%d: %s\n", __FILE__, __LINE__, #expr);     \
            (failures)++;                                                    \
        }                                                                    \
    } while (0)

/* Calls alloc(n); 1 if it threw std::bad_alloc, 0 if it returned. */
template <typename F> int throws_bad_alloc(F alloc, size_t n) {
    try {
        void *p = alloc(n);
        fprintf(stderr, "  size %zu: got %p instead of std::bad_alloc\n", n, p);
        return 0;
    } catch (const std::bad_alloc &) {
        return 1;
    }
}

void *new_plain(size_t n) { return ::operator new(opaque(n)); }
void *new_array(size_t n) { return ::operator new[](opaque(n)); }
void *new_aligned(size_t n) { return ::operator new(opaque(n), std::align_val_t(64)); }
void *new_aligned_array(size_t n) { return ::operator new[](opaque(n), std::align_val_t(4096)); }

}  // namespace

/* ---- The preload replaces every operator ------------------------------- */

TEST(preloaded_library_provides_every_operator_new_and_delete) {
    static const char *const names[] = {
        "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvSt11align_val_t",
        "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    };
    CHECK_EQ(check_preload_provides(names, COUNT_OF(names)), 0);
}

/* ---- Ordinary use ------------------------------------------------------ */

namespace {
std::atomic<int> live_objects{0};
struct Tracked {
    std::string name;
    Tracked() : name(64, 'x') { live_objects++; }
    ~Tracked() { live_objects--; }
};
}  // namespace

/* Every size from 1 byte to 64 KiB through operator new and new[] (and
 * their nothrow forms): the block has the ABI alignment. */
TEST(every_size_up_to_64_kib_from_new_has_abi_alignment) {
    size_t bad = 0;
    for (size_t n = 1; n <= 64 * 1024; n++) {
        void *v[] = {::operator new(opaque(n)), ::operator new[](opaque(n)),
                     ::operator new(opaque(n), std::nothrow),
                     ::operator new[](opaque(n), std::nothrow)};
        for (size_t i = 0; i < COUNT_OF(v); i++)
            if (!is_aligned(v[i], expected_align(n)) && bad++ < 8)
                fprintf(stderr, "  operator new form %zu (%zu) = %p\n", i, n, v[i]);
        ::operator delete(v[0]);
        ::operator delete[](v[1]);
        ::operator delete(v[2], std::nothrow);
        ::operator delete[](v[3], std::nothrow);
    }
    CHECK_EQ(bad, 0);
}

TEST(new_and_delete_of_objects_and_arrays) {
    for (size_t n : assorted_sizes) {
        char *p = new char[opaque(n)];
        CHECK(is_aligned(p, expected_align(n)));
        fill(p, n, n);
        CHECK_EQ(bad_offset(p, n, n), SIZE_MAX);
        delete[] (char *)launder(p);
    }
    for (int i = 0; i < 1000; i++) {
        Tracked *t = new Tracked;
        Tracked *arr = new Tracked[opaque((size_t)i % 37 + 1)];
        CHECK_EQ(t->name.size(), 64);
        delete (Tracked *)launder(t);
        delete[] (Tracked *)launder(arr); /* a cookie precedes the array */
    }
    CHECK_EQ(live_objects.load(), 0);
}

TEST(nothrow_new_returns_null_for_huge_sizes) {
    std::set_new_handler(nullptr);
    for (size_t n : huge_sizes) {
        size_t m = opaque(n);
        CHECK(::operator new(m, std::nothrow) == nullptr);
        CHECK(::operator new[](m, std::nothrow) == nullptr);
        /* libstdc++ 12 rounds SIZE_MAX up to the alignment and wraps to a
         * tiny block; gomalloc must not. */
        if (n > SIZE_MAX - 4096 && conform_allocator() != ALLOC_GOMALLOC) continue;
        CHECK(::operator new(m, std::align_val_t(64), std::nothrow) == nullptr);
        CHECK(::operator new[](m, std::align_val_t(4096), std::nothrow) == nullptr);
    }
}

static int check_throwing_new_throws(void) {
    int failures = 0;
    std::set_new_handler(nullptr);
    for (size_t n : huge_sizes) {
        CHILD_CHECK(failures, throws_bad_alloc(new_plain, n));
        CHILD_CHECK(failures, throws_bad_alloc(new_array, n));
        if (n > SIZE_MAX - 4096 && conform_allocator() != ALLOC_GOMALLOC) continue;
        CHILD_CHECK(failures, throws_bad_alloc(new_aligned, n));
        CHILD_CHECK(failures, throws_bad_alloc(new_aligned_array, n));
    }
    return failures;
}

TEST(throwing_new_throws_bad_alloc_for_huge_sizes) {
    expect_child_passes(check_throwing_new_throws, "operator new(huge)");
}

/* ---- std::new_handler --------------------------------------------------- */

namespace {
int handler_calls;
struct handler_gave_up : std::bad_alloc {};

void handler_that_throws() {
    handler_calls++;
    throw handler_gave_up();
}
/* Uninstalls itself on its third call: new must call it until then. */
void handler_that_gives_up_after_3() {
    if (++handler_calls == 3) std::set_new_handler(nullptr);
}
}  // namespace

static int check_handler_that_throws(void) {
    int failures = 0;
    void *(*const allocs[])(size_t) = {new_plain, new_array, new_aligned, new_aligned_array};
    for (auto alloc : allocs) {
        handler_calls = 0;
        std::set_new_handler(handler_that_throws);
        bool ours = false;
        try {
            alloc((size_t)PTRDIFF_MAX + 1);
        } catch (const handler_gave_up &) {
            ours = true;
        } catch (const std::bad_alloc &) {
        }
        CHILD_CHECK(failures, ours);
        CHILD_CHECK(failures, handler_calls == 1);
    }
    return failures;
}

static int check_handler_called_until_uninstalled(void) {
    int failures = 0;
    void *(*const allocs[])(size_t) = {new_plain, new_array, new_aligned, new_aligned_array};
    for (auto alloc : allocs) {
        handler_calls = 0;
        std::set_new_handler(handler_that_gives_up_after_3);
        CHILD_CHECK(failures, throws_bad_alloc(alloc, SIZE_MAX / 2 + 4097));
        CHILD_CHECK(failures, handler_calls == 3);
        CHILD_CHECK(failures, std::get_new_handler() == nullptr);
    }
    return failures;
}

/* The nothrow forms behave as if they called the throwing form and caught
 * ([new.delete.single], binding on replacements): the handler runs, and
 * when it gives up nullptr comes back. */
static int check_nothrow_new_calls_handler(void) {
    int failures = 0;
    handler_calls = 0;
    std::set_new_handler(handler_that_gives_up_after_3);
    CHILD_CHECK(failures, ::operator new(opaque(SIZE_MAX / 2 + 4097), std::nothrow) == nullptr);
    CHILD_CHECK(failures, handler_calls == 3);
    return failures;
}

/* A handler may give up by throwing bad_alloc: the nothrow form must then
 * return nullptr, not let the exception reach its noexcept caller. */
static int check_nothrow_new_swallows_handler_exception(void) {
    int failures = 0;
    handler_calls = 0;
    std::set_new_handler(handler_that_throws);
    CHILD_CHECK(failures, ::operator new[](opaque(SIZE_MAX / 2 + 4097), std::nothrow) == nullptr);
    CHILD_CHECK(failures, handler_calls == 1);
    return failures;
}

TEST(new_handler_that_throws_is_called_once) {
    expect_child_passes(check_handler_that_throws, "throwing new_handler");
}
TEST(new_handler_is_called_until_it_uninstalls_itself) {
    expect_child_passes(check_handler_called_until_uninstalled, "new_handler loop");
}
TEST(nothrow_new_calls_the_new_handler) {
    expect_child_passes(check_nothrow_new_calls_handler, "nothrow new and new_handler");
}
TEST(nothrow_new_returns_null_when_the_handler_throws) {
    expect_child_passes(check_nothrow_new_swallows_handler_exception,
                        "nothrow new with a handler that throws bad_alloc");
}

/* A real out-of-memory: RLIMIT_AS stops the address space just above what
 * the process has, the allocation fails, the handler frees a reserve, and
 * new retries and succeeds. */
namespace {
void *reserve;
const size_t RESERVE = 256 * MiB;

void handler_that_frees_reserve() {
    handler_calls++;
    if (!reserve) std::set_new_handler(nullptr);
    free(reserve);
    reserve = nullptr;
}

size_t address_space_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (f && fscanf(f, "%lu", &size) != 1) size = 0;
    if (f) fclose(f);
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}
}  // namespace

static int check_handler_frees_reserve(void) {
    int failures = 0;
    reserve = malloc(opaque(RESERVE));
    CHILD_CHECK(failures, reserve != nullptr);
    struct rlimit lim = {address_space_bytes() + 32 * MiB, RLIM_INFINITY};
    CHILD_CHECK(failures, setrlimit(RLIMIT_AS, &lim) == 0);
    /* Soak up any address space the allocator had reserved in advance, so
     * that the next RESERVE-sized request really fails. */
    void *ballast[16];
    int nb = 0;
    while (nb < 16 && (ballast[nb] = malloc(opaque(RESERVE))) != nullptr) nb++;
    CHILD_CHECK(failures, nb < 16);
    handler_calls = 0;
    std::set_new_handler(handler_that_frees_reserve);
    try {
        char *p = (char *)::operator new(RESERVE);
        p[0] = p[RESERVE - 1] = 1;
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        CHILD_CHECK(failures, !"operator new threw although the handler freed memory");
    }
    CHILD_CHECK(failures, handler_calls == 1);
    for (int i = 0; i < nb; i++) free(ballast[i]);
    return failures;
}

TEST(new_handler_that_frees_a_reserve_lets_new_succeed) {
    expect_child_passes(check_handler_frees_reserve, "new_handler freeing a reserve");
}

/* ---- Aligned new -------------------------------------------------------- */

namespace {
struct alignas(256) Over {
    char c[10];
};
struct alignas(128) OverWithDtor {
    int x = 7;
    ~OverWithDtor() { live_objects--; }
    OverWithDtor() { live_objects++; }
};
}  // namespace

/* One round of aligned new expressions; false (after reporting) if any
 * pointer is not aligned as its type demands. */
static bool aligned_new_round(size_t count) {
    Over *o = new Over;
    Over *arr = new Over[10];
    OverWithDtor *d = new OverWithDtor[opaque(count)];
    bool ok = is_aligned(o, 256) && is_aligned(arr, 256) && is_aligned(d, 128);
    if (!ok)
        fprintf(stderr, "  new Over = %p, new Over[10] = %p (want 256-aligned), "
                "new OverWithDtor[%zu] = %p (want 128)\n", (void *)o, (void *)arr, count,
                (void *)d);
    memset((void *)arr, 1, sizeof(Over) * 10);
    delete (Over *)launder(o);
    delete[] (Over *)launder(arr);
    delete[] (OverWithDtor *)launder(d); /* a cookie precedes the array */
    return ok;
}

TEST(aligned_new_expressions_are_aligned) {
    for (int i = 0; i < 200; i++) REQUIRE(aligned_new_round((size_t)i % 9 + 1));
    CHECK_EQ(live_objects.load(), 0);
}

/* Blocks of several sizes at alignment a, through the aligned operators;
 * each is freed by a different delete variant. False after reporting. */
static bool aligned_operator_round(size_t a) {
    const std::align_val_t al = static_cast<std::align_val_t>(a);
    const size_t sizes[] = {1, a - 1, a, a + 1, 3 * a};
    bool ok = true;
    for (size_t i = 0; i < COUNT_OF(sizes); i++) {
        size_t n = sizes[i];
        void *p = i % 2 ? ::operator new[](opaque(n), al) : ::operator new(opaque(n), al);
        if (ok && !is_aligned(p, a)) {
            fprintf(stderr, "  operator new%s(%zu, align %zu) = %p\n", i % 2 ? "[]" : "", n,
                    a, p);
            ok = false;
        }
        fill(p, n, a + n);
        ok &= bad_offset(p, n, a + n) == SIZE_MAX;
        switch (i) {
        case 0: ::operator delete(p, al); break;
        case 1: ::operator delete[](p, n, al); break;
        case 2: ::operator delete(p, n, al); break;
        case 3: ::operator delete[](p, al); break;
        default: ::operator delete(p, al, std::nothrow); break;
        }
    }
    return ok;
}

/* Every power of two from 16 to 4 MiB. */
TEST(aligned_operator_new_is_exact_for_every_power_of_two) {
    for (size_t a = 16; a <= ((size_t)1 << 22); a <<= 1) REQUIRE(aligned_operator_round(a));
}

/* ---- Sized and nothrow delete ----------------------------------------- */

TEST(sized_delete_with_the_requested_size_works) {
    for (int round = 0; round < 50; round++)
        for (size_t n : assorted_sizes) {
            void *p = ::operator new(opaque(n));
            void *q = ::operator new[](opaque(n));
            memset(p, 1, n);
            memset(q, 2, n);
            ::operator delete(p, n);
            ::operator delete[](q, n);
        }
}

TEST(nothrow_delete_variants_free) {
    for (size_t n : assorted_sizes) {
        const std::align_val_t al = static_cast<std::align_val_t>(64);
        ::operator delete(::operator new(opaque(n), std::nothrow), std::nothrow);
        ::operator delete[](::operator new[](opaque(n), std::nothrow), std::nothrow);
        ::operator delete(::operator new(opaque(n), al, std::nothrow), al, std::nothrow);
        ::operator delete[](::operator new[](opaque(n), al, std::nothrow), al, std::nothrow);
    }
}

namespace {
struct sized_misuse {
    const char *name;
    size_t size, align, wrong_size;
};
const sized_misuse sized_misuses[] = {
    {"new(100), delete(p, 5000)", 100, 0, 5000},
    {"new(5000), delete(p, 100)", 5000, 0, 100},
    {"new(1 MiB), delete(p, 100)", MiB, 0, 100},
    {"new(100), delete(p, 1 MiB)", 100, 0, MiB},
    {"new(100, align 64), delete(p, 5000, align 64)", 100, 64, 5000},
};
const sized_misuse *current_misuse;

void delete_with_wrong_size(void *p) {
    const sized_misuse *m = current_misuse;
    if (m->align) ::operator delete(launder(p), m->wrong_size, std::align_val_t(m->align));
    else ::operator delete(launder(p), m->wrong_size);
}
}  // namespace

/* gomalloc checks the size given to sized delete against the block's size
 * class; glibc ignores it (skipped there). */
TEST(sized_delete_with_a_wrong_size_aborts_under_gomalloc) {
    if (conform_allocator() != ALLOC_GOMALLOC) {
        note_skip("only gomalloc checks the size");
        return;
    }
    for (const sized_misuse &m : sized_misuses) {
        void *p = m.align ? ::operator new(m.size, std::align_val_t(m.align))
                          : ::operator new(m.size);
        current_misuse = &m;
        child_result r;
        run_child(delete_with_wrong_size, p, 10, &r);
        CHECK(gomalloc_died_naming(&r, p, m.name));
        if (m.align) ::operator delete(p, m.size, std::align_val_t(m.align));
        else ::operator delete(p, m.size);
    }
}

/* ---- Containers and exceptions across threads ------------------------- */

namespace {
typedef std::map<std::string, std::vector<int>> table;
std::mutex handoff_lock;
std::vector<table *> handoff;

/* Builds a table, churns it, and hands it to another thread to destroy. */
void churn_containers(int id, std::atomic<int> *bad) {
    table *t = new table;
    for (int i = 0; i < 20000; i++)
        (*t)["key-of-some-length-" + std::to_string(i) + "-" + std::to_string(id)] =
            std::vector<int>((size_t)(i % 50), i);
    for (int i = 0; i < 20000; i += 2)
        t->erase("key-of-some-length-" + std::to_string(i) + "-" + std::to_string(id));
    for (auto &kv : *t)
        if (!kv.second.empty() && kv.second.back() != std::stoi(kv.first.substr(19))) (*bad)++;
    std::lock_guard<std::mutex> g(handoff_lock);
    handoff.push_back(t);
    if (handoff.size() >= 2) {
        delete handoff.front(); /* most likely another thread's table */
        handoff.erase(handoff.begin());
    }
}

/* __cxa_allocate_exception allocates through malloc. */
void throw_and_catch(std::atomic<int> *bad) {
    for (int i = 0; i < 2000; i++) {
        try {
            throw std::string(100, (char)('a' + i % 26));
        } catch (const std::string &s) {
            if (s.size() != 100) (*bad)++;
        }
    }
}
}  // namespace

TEST(containers_and_exceptions_across_threads) {
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int id = 0; id < 8; id++) {
        threads.emplace_back(churn_containers, id, &bad);
        threads.emplace_back(throw_and_catch, &bad);
        if (threads.size() >= 4) {
            for (auto &t : threads) t.join();
            threads.clear();
        }
    }
    for (auto &t : threads) t.join();
    for (table *t : handoff) delete t;
    handoff.clear();
    CHECK_EQ(bad.load(), 0);
}

/* ---- thread_local destructors and late frees -------------------------- */

namespace {
std::mutex late_lock;
std::vector<std::string *> late_strings;
std::atomic<int> tl_destroyed{0};

/* Destroyed at thread exit; allocates and frees while being destroyed, and
 * leaves a heap string behind for main to check and free. */
struct PerThread {
    std::string s = std::string(200, 'q');
    std::vector<std::string> v;
    ~PerThread() {
        std::string tmp = s + s;
        std::vector<int> scratch(1000, 1);
        std::lock_guard<std::mutex> g(late_lock);
        late_strings.push_back(new std::string(tmp));
        tl_destroyed++;
    }
};
thread_local PerThread per_thread;

/* A pthread key created late: its destructor runs after those of keys
 * created earlier, such as an allocator's own thread-cache key. */
pthread_key_t late_key;
std::atomic<int> key_destroyed{0};

void destroy_key_value(void *v) {
    delete static_cast<std::vector<std::string> *>(v);
    std::string *again = new std::string(300, 'k');
    std::lock_guard<std::mutex> g(late_lock);
    late_strings.push_back(again);
    key_destroyed++;
}

void use_thread_locals(int i) {
    per_thread.v.assign((size_t)(i % 20 + 1), std::string(50, 'v'));
    pthread_setspecific(late_key, new std::vector<std::string>(10, std::string(80, 'w')));
}
}  // namespace

TEST(thread_local_and_key_destructors_allocate_and_free) {
    REQUIRE(pthread_key_create(&late_key, destroy_key_value) == 0);
    enum { THREADS = 200 };
    for (int i = 0; i < THREADS; i += 4) {
        std::thread t[4];
        for (int j = 0; j < 4; j++) t[j] = std::thread(use_thread_locals, i + j);
        for (int j = 0; j < 4; j++) t[j].join();
    }
    CHECK_EQ(tl_destroyed.load(), THREADS);
    CHECK_EQ(key_destroyed.load(), THREADS);
    std::lock_guard<std::mutex> g(late_lock);
    CHECK_EQ(late_strings.size(), 2 * THREADS);
    int damaged = 0;
    for (std::string *s : late_strings) {
        damaged += !(*s == std::string(400, 'q') || *s == std::string(300, 'k'));
        delete s;
    }
    CHECK_EQ(damaged, 0);
    late_strings.clear();
    pthread_key_delete(late_key);
}

TEST_MAIN()
