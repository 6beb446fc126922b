// map.cc — the map benchmark in C++ (see cb_common.h for the workload):
//
//   map_std  int|str N OPS    std::unordered_map (libstdc++), built plain
//   map_absl int|str N OPS    absl::flat_hash_map, built with -DCB_ABSL
//
// Keys are int64_t or std::string_view into one buffer (the map holds the
// header, as Go's map[string]int64 does, not a copy of the bytes); hashes are
// each library's default (std::hash, absl::Hash). No reserve().
#include "cb_common.h"

#include <string>
#include <string_view>
#include <vector>

#ifdef CB_ABSL
#include <absl/container/flat_hash_map.h>
template <class K, class V> using Map = absl::flat_hash_map<K, V>;
#else
#include <unordered_map>
template <class K, class V> using Map = std::unordered_map<K, V>;
#endif

static uint64_t iter_term(int64_t k) { return (uint64_t)k * 31; }
static uint64_t iter_term(std::string_view k) { return (uint64_t)k.size() * 31 + (uint8_t)k.back(); }

template <class K> static void run(const std::vector<K> &hits, const std::vector<K> &miss, uint64_t rounds,
                                   int64_t t[5], cb_acc *a)
{
    size_t n = hits.size();
    for (uint64_t r = 0; r < rounds; r++) {
        int64_t t0 = cb_now_ns();
        Map<K, int64_t> m;
        for (size_t i = 0; i < n; i++)
            m[hits[i]] = (int64_t)i;
        int64_t t1 = cb_now_ns();
        a->ins += m.size();
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            auto it = m.find(hits[i]);
            s += (uint64_t)(it != m.end() ? it->second : 0);
        }
        int64_t t2 = cb_now_ns();
        a->hit += s;
        uint64_t f = 0;
        for (size_t i = 0; i < n; i++)
            f += m.find(miss[i]) != m.end();
        int64_t t3 = cb_now_ns();
        a->miss += f;
        uint64_t sum = 0;
        for (const auto &kv : m)
            sum += iter_term(kv.first) + (uint64_t)kv.second;
        int64_t t4 = cb_now_ns();
        a->iter += sum;
        uint64_t d = 0;
        for (size_t i = 0; i < n; i++)
            d += m.erase(hits[i]);
        int64_t t5 = cb_now_ns();
        a->del += d + ((uint64_t)m.size() << 32);
        t[0] += t1 - t0;
        t[1] += t2 - t1;
        t[2] += t3 - t2;
        t[3] += t4 - t3;
        t[4] += t5 - t4;
    }
}

int main(int argc, char **argv)
{
    uint64_t n, ops, rounds;
    int is_int = cb_map_args(argc, argv, &n, &ops, &rounds);
    int64_t t[5] = {0, 0, 0, 0, 0};
    cb_acc a = {0, 0, 0, 0, 0};
    if (is_int) {
        std::vector<int64_t> hits(n), miss(n);
        for (uint64_t i = 0; i < n; i++) {
            hits[i] = cb_int_key(2 * i);
            miss[i] = cb_int_key(2 * i + 1);
        }
        run(hits, miss, rounds, t, &a);
    } else {
        std::string buf;
        std::vector<size_t> off(2 * n + 1);
        char k[CB_STR_MAX];
        for (uint64_t j = 0; j < 2 * n; j++) {
            size_t l = cb_str_key(j, k);
            buf.append(k, l);
            off[j + 1] = buf.size();
        }
        std::vector<std::string_view> hits(n), miss(n);
        for (uint64_t i = 0; i < n; i++) {
            hits[i] = std::string_view(buf.data() + off[2 * i], off[2 * i + 1] - off[2 * i]);
            miss[i] = std::string_view(buf.data() + off[2 * i + 1], off[2 * i + 2] - off[2 * i + 1]);
        }
        std::vector<size_t>().swap(off);
        run(hits, miss, rounds, t, &a);
    }
    cb_map_report(is_int ? "int" : "str", n, rounds, t, &a);
    return 0;
}
