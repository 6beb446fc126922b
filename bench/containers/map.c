/*
 * map.c — the map benchmark with gomalloc's Go maps (see cb_common.h):
 *
 *   map_gm int|str N OPS
 *
 * gm_map (Go's hmap on the collected heap), int64 -> int64 or
 * gm_string -> int64, made with hint 0. The key arrays are collected slices
 * too (the string bytes one noscan object, the gm_string headers pointing
 * into it), so that the collector sees the heap Go's sees.
 */
#include "cb_common.h"

#include <gomalloc.h>
#include <gomalloc/map.h>
#include <gomalloc/slice.h>

static const gm_type i64_type = GM_TYPE_NOPTRS(int64_t);
static const gm_type str_type = GM_TYPE_STRING;
/* map[int64]int64 and map[string]int64 */
static const gm_maptype int_map = GM_MAPTYPE(int64_t, int64_t);
static const gm_maptype str_map = GM_MAPTYPE_STRING(int64_t);

static uint64_t iter_int(const void *k) { return (uint64_t) * (const int64_t *)k * 31; }
static uint64_t iter_str(const void *k)
{
    const gm_string *s = k;
    return (uint64_t)s->len * 31 + (unsigned char)s->ptr[s->len - 1];
}

static void run(const gm_maptype *mt, const char *hits, const char *miss, size_t ksize, size_t n,
                uint64_t rounds, uint64_t (*iter_term)(const void *), int64_t t[5], cb_acc *a)
{
    for (uint64_t r = 0; r < rounds; r++) {
        int64_t t0 = cb_now_ns();
        gm_map *m = gm_make_map(mt, 0);
        for (size_t i = 0; i < n; i++)
            *(int64_t *)gm_map_assign(m, hits + i * ksize) = (int64_t)i;
        int64_t t1 = cb_now_ns();
        a->ins += gm_map_len(m);
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            const int64_t *v = gm_map_access(m, hits + i * ksize);
            s += v ? (uint64_t)*v : 0;
        }
        int64_t t2 = cb_now_ns();
        a->hit += s;
        uint64_t f = 0;
        for (size_t i = 0; i < n; i++)
            f += gm_map_access(m, miss + i * ksize) != NULL;
        int64_t t3 = cb_now_ns();
        a->miss += f;
        uint64_t sum = 0;
        gm_map_iter it;
        for (gm_map_iter_init(&it, m); it.key != NULL; gm_map_iter_next(&it))
            sum += iter_term(it.key) + (uint64_t) * (const int64_t *)it.elem;
        int64_t t4 = cb_now_ns();
        a->iter += sum;
        uint64_t d = 0;
        for (size_t i = 0; i < n; i++)
            d += gm_map_delete(m, hits + i * ksize);
        int64_t t5 = cb_now_ns();
        a->del += d + ((uint64_t)gm_map_len(m) << 32);
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
        gm_slice hits = gm_make_slice(&i64_type, n, n), miss = gm_make_slice(&i64_type, n, n);
        int64_t *h = hits.array, *m = miss.array;
        for (uint64_t i = 0; i < n; i++) {
            h[i] = cb_int_key(2 * i);
            m[i] = cb_int_key(2 * i + 1);
        }
        run(&int_map, hits.array, miss.array, sizeof(int64_t), n, rounds, iter_int, t, &a);
        gm_keep_alive(hits.array);
        gm_keep_alive(miss.array);
    } else {
        /* the bytes: one noscan object, sized by a first pass */
        size_t total = 0;
        char k[CB_STR_MAX];
        for (uint64_t j = 0; j < 2 * n; j++)
            total += cb_str_key(j, k);
        char *buf = gm_new_noscan(total);
        gm_slice hits = gm_make_slice(&str_type, n, n), miss = gm_make_slice(&str_type, n, n);
        gm_string *h = hits.array, *m = miss.array;
        size_t off = 0;
        for (uint64_t j = 0; j < 2 * n; j++) {
            size_t l = cb_str_key(j, buf + off);
            gm_string s = {buf + off, l};
            if (j % 2 == 0)
                h[j / 2] = s;
            else
                m[j / 2] = s;
            off += l;
        }
        run(&str_map, hits.array, miss.array, sizeof(gm_string), n, rounds, iter_str, t, &a);
        gm_keep_alive(hits.array);
        gm_keep_alive(miss.array);
        gm_keep_alive(buf);
    }
    cb_map_report(is_int ? "int" : "str", n, rounds, t, &a);
    return 0;
}
