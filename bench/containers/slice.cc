// slice.cc — the append benchmark in C++ (see cb_common.h):
//
//   slice_std N
//
// std::vector<int64_t>::push_back N times from an empty vector, no reserve().
#include "cb_common.h"

#include <vector>

int main(int argc, char **argv)
{
    uint64_t n = cb_arg(argc, argv, 1, 100000000);
    int64_t t0 = cb_now_ns();
    std::vector<int64_t> s;
    for (uint64_t i = 0; i < n; i++)
        s.push_back((int64_t)(i * 7 + 3));
    int64_t t1 = cb_now_ns();
    uint64_t sum = 0;
    for (int64_t v : s)
        sum = sum * 31 + (uint64_t)v;
    cb_phase("append", n, t1 - t0);
    printf("slice n=%llu len=%zu cap=%zu checksum=%016llx\n", (unsigned long long)n, s.size(), s.capacity(),
           (unsigned long long)cb_mix(sum ^ (uint64_t)s.size()));
    return 0;
}
