// C++ allocation sites for the profile test: their frames must come out of
// the profile demangled (shapes::Circle::make(), a template instance), with
// operator new and gomalloc's own frames dropped. Run preloaded with
// GOMALLOC_PROFILE and GOMALLOC_PROFILE_RATE=1.
#include <cstdio>
#include <memory>
#include <vector>

namespace shapes {
struct Circle {
    double x, y, r;
    [[gnu::noinline]] static Circle *make(int i) { return new Circle{double(i), 0, 1}; }
};

template <typename T> struct Pool {
    std::vector<T *> items;
    [[gnu::noinline]] void fill(int n) {
        for (int i = 0; i < n; i++) items.push_back(new T[4]);
    }
    ~Pool() {
        for (T *p : items) delete[] p;
    }
};
} // namespace shapes

int main() {
    std::vector<std::unique_ptr<shapes::Circle>> circles;
    for (int i = 0; i < 1000; i++) circles.emplace_back(shapes::Circle::make(i));
    shapes::Pool<long> pool;
    pool.fill(500);
    std::printf("circles %zu pool %zu\n", circles.size(), pool.items.size());
    return 0;
}
