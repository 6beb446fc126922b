/*
 * slice.c — the append benchmark with gomalloc's Go slices (see cb_common.h):
 *
 *   slice_gm N
 *
 * appends N int64 one at a time to a nil slice with the typed slice's
 * append (GM_SLICE_DECL: an inline store while len < cap, else gm_append,
 * which grows the array on the collected heap as Go's growslice does).
 */
#include "cb_common.h"

#include <gomalloc.h>
#include <gomalloc/slice.h>

GM_SLICE_DECL_NOPTRS(i64_slice, int64_t);

int main(int argc, char **argv)
{
    uint64_t n = cb_arg(argc, argv, 1, 100000000);
    int64_t t0 = cb_now_ns();
    i64_slice s = {0}; /* nil: var s []int64 */
    for (uint64_t i = 0; i < n; i++)
        s = i64_slice_append(s, (int64_t)(i * 7 + 3));
    int64_t t1 = cb_now_ns();
    uint64_t sum = 0;
    for (size_t i = 0; i < s.len; i++)
        sum = sum * 31 + (uint64_t)s.array[i];
    cb_phase("append", n, t1 - t0);
    printf("slice n=%llu len=%zu cap=%zu checksum=%016llx\n", (unsigned long long)n, s.len, s.cap,
           (unsigned long long)cb_mix(sum ^ (uint64_t)s.len));
    return 0;
}
