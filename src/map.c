/*
 * map: Go's map, the hmap of Go 1.23 and earlier (runtime/map.go and
 * map_fast32/64/str.go), over collected memory. See the top of malloc.c
 * for size classes and of mgc.c for the collector; the API is described in
 * include/gomalloc/map.h; the hash functions are in alg.c; iteration is in
 * map_iter.c, and what the two files share in map.h.
 *
 * Layout
 * ------
 *  hmap (struct gm_map)  count, flags, B, noverflow, hash0, buckets,
 *        oldbuckets, nevacuate, extra — Go's fields — plus t, the map
 *        type, which Go's compiler passes to every call instead. 56 bytes:
 *        Go's 48-byte hmap plus t, so it takes the 64-byte class where Go
 *        takes 48 (the one difference from Go's allocation, in bytes only).
 *  bucket  tophash[8], 8 key slots, 8 value slots, overflow pointer.
 *        A slot holds the key (value) itself, or a pointer to an object of
 *        its own if it is over 128 bytes (indirect). tophash[i] is the top
 *        byte of the key's hash, raised to at least 5; 0..4 mark the slot
 *        emptyRest (it and every later slot and overflow bucket are empty),
 *        emptyOne, evacuatedX/Y (moved to the low/high half of the new
 *        array) or evacuatedEmpty.
 *  extra (mapextra)  created when needed: nextoverflow (the next free
 *        overflow bucket preallocated after the 2^B buckets by
 *        makeBucketArray), and for pointer-free buckets overflow and
 *        oldoverflow, pointers to Go slices of every overflow bucket.
 *
 * Why extra.overflow: the buckets of a map whose keys and values have no
 * pointers are noscan objects, so the collector never reads their overflow
 * pointers; the overflow buckets stay alive because extra.overflow (a typed
 * slice of pointers) lists them, as in Go.
 *
 * Invariants
 * ----------
 *  - buckets holds 2^B buckets (followed by preallocated overflow buckets);
 *    NULL only while count == 0 and nothing was ever assigned (B == 0).
 *  - growing <=> oldbuckets != NULL; then old bucket i < nevacuate is
 *    evacuated, and every old bucket with tophash[0] in 2..4 is too. A
 *    write to bucket b first evacuates b's old bucket and old bucket
 *    nevacuate (growWork), so a grow ends after 2^oldB writes at most.
 *  - keys never move within a bucket array, so an iterator returns each
 *    entry once; an iterator started before a grow keeps reading the array
 *    it started on (kept whole: evacuate does not clear old buckets while
 *    the oldIterator flag is set) and looks moved keys up in the new one.
 *  - flags & hashWriting: set (with XOR, as Go does) for the duration of a
 *    write; any access that sees it set is a concurrent access (fatal).
 *    flags is read and written with relaxed atomics so that the compiler
 *    keeps every check; it is not a lock.
 *
 * Allocation (each item one collected object, when Go allocates it):
 *  gm_make_map: the hmap; if hint > 8, the bucket array (makeBucketArray:
 *  with 2^(B-4) extra overflow buckets for B >= 4, rounded up to fill the
 *  size class) and, if that array has spare overflow buckets, mapextra.
 *  First assign to a map made with hint <= 8: one bucket. Growth: the new
 *  array (+ mapextra if it has spare buckets and there is none yet). An
 *  overflow bucket not preallocated: one bucket. Pointer-free buckets, at
 *  each overflow bucket: mapextra and the slice header if missing (Go's
 *  createOverflow) and the slice's append (Go's growslice). Keys/values
 *  over 128 bytes: one object each, at insertion. Iterating a pointer-free
 *  map: createOverflow.
 */
#include <string.h>

#include "map.h"

/* op's four compiled variants (op_impl with a constant kind: Go's mapop,
 * mapop_fast32, _fast64, _faststr) and op_dispatch choosing by map type. */
#define MAP_VARIANTS(op, ret, H)                                                          \
    static GM_NOINLINE ret op##_generic(H *h, const void *k) { return op##_impl(h, k, K_GENERIC); } \
    static GM_NOINLINE ret op##_64(H *h, const void *k) { return op##_impl(h, k, K_64); }  \
    static GM_NOINLINE ret op##_32(H *h, const void *k) { return op##_impl(h, k, K_32); }  \
    static GM_NOINLINE ret op##_str(H *h, const void *k) { return op##_impl(h, k, K_STR); } \
    static inline ret op##_dispatch(H *h, const void *k) {                                \
        switch (h->t->fast) {                                                             \
        case K_64: return op##_64(h, k);                                                  \
        case K_32: return op##_32(h, k);                                                  \
        case K_STR: return op##_str(h, k);                                                \
        default: return op##_generic(h, k);                                               \
        }                                                                                 \
    }

static const gm_type hmap_type = GM_TYPE(struct gm_map, buckets, oldbuckets, extra);
static const gm_type mapextra_type = GM_TYPE(mapextra, overflow, oldoverflow, nextoverflow);
static const gm_type slicehdr_type = GM_TYPE(gm_slice, array); /* new([]*bmap) */
static const gm_type bmapptr_type = GM_TYPE_POINTER(uint8_t *);

/* ---- small helpers ---------------------------------------------------------- */

static void *alloc_array(const gm_type *t, size_t n) {
    void *p = gm_new_array(t, n);
    if (GM_UNLIKELY(!p)) throw("runtime: out of memory");
    return p;
}

static inline void flags_store(gm_map *h, uint8_t f) { GM_STORE(&h->flags, f); }

static inline uint8_t tophash(uint64_t hash) {
    uint8_t top = (uint8_t)(hash >> 56);
    return top < MIN_TOPHASH ? (uint8_t)(top + MIN_TOPHASH) : top;
}

static inline void set_overflow(const maptype *t, uint8_t *b, uint8_t *ovf) {
    memcpy(b + t->bucketsize - sizeof ovf, &ovf, sizeof ovf);
}

/* Go's overLoadFactor: count > 8 and count > 6.5 * 2^B. */
static inline bool over_load_factor(size_t count, uint8_t B) {
    return count > BUCKET_CNT && count > LOAD_NUM * (((size_t)1 << B) / LOAD_DEN);
}

/* Go's tooManyOverflowBuckets: as many overflow buckets as buckets
 * (counted up to 2^15: noverflow is 16 bits). */
static inline bool too_many_overflow_buckets(uint16_t noverflow, uint8_t B) {
    if (B > 15) B = 15;
    return noverflow >= (uint16_t)(1u << B);
}

/* ---- hashing and comparing keys ----------------------------------------------- */

static inline bool str_equal(const gm_string *a, const gm_string *b) {
    return a->len == b->len && (a->ptr == b->ptr || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static ALWAYS_INLINE bool key_equal(const maptype *t, const void *a, const void *b, int kind) {
    switch (kind) {
    case K_64: return memcmp(a, b, 8) == 0;
    case K_32: return memcmp(a, b, 4) == 0;
    case K_STR: return str_equal(a, b);
    default: break;
    }
    if (t->keykind == GM_KEY_MEM) return memcmp(a, b, t->keybytes) == 0;
    if (t->keykind == GM_KEY_STRING) return str_equal(a, b);
    return t->equal(a, b);
}

/* A slot copy: the common sizes without a call to memcpy. */
static ALWAYS_INLINE void copy_slot(void *dst, const void *src, uint32_t n) {
    switch (n) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, n); break;
    }
}

/* ---- the map type ------------------------------------------------------------- */

static void bitmap_set(uint64_t *bm, size_t word) { bm[word / 64] |= (uint64_t)1 << (word % 64); }

/* Mark the pointer words of 8 slots of type ty starting at byte off. */
static void bitmap_tile(uint64_t *bm, size_t off, uint32_t slotsize, const gm_type *ty,
                        bool indirect) {
    for (size_t i = 0; i < BUCKET_CNT; i++) {
        size_t w0 = (off + i * slotsize) / 8;
        if (indirect) {
            bitmap_set(bm, w0);
            continue;
        }
        for (size_t w = 0; w < ty->ptrdata / 8; w++)
            if (ty->gcdata[w / 64] >> (w % 64) & 1) bitmap_set(bm, w0 + w);
    }
}

static void check_user_type(const gm_type *ty, const char *what) {
    if (ty->ptrdata != 0 && (ty->size % 8 != 0 || !ty->gcdata || ty->ptrdata > ty->size))
        throw(what);
}

/* Go's compiler work: the bucket type of map[K]V (cmd/compile's MapBucketType). */
static void maptype_build(maptype *t, const gm_maptype *ut) {
    const gm_type *k = ut->key, *e = ut->elem;
    check_user_type(k, "gm_make_map: key type with pointers must be whole words");
    check_user_type(e, "gm_make_map: value type with pointers must be whole words");
    if (ut->keykind == GM_KEY_STRING && k->size != sizeof(gm_string))
        throw("gm_make_map: GM_KEY_STRING key type is not gm_string");
    if (ut->keykind == GM_KEY_CUSTOM && (!ut->hash || !ut->equal))
        throw("gm_make_map: GM_KEY_CUSTOM needs hash and equal functions");
    if (ut->keykind < GM_KEY_MEM || ut->keykind > GM_KEY_CUSTOM)
        throw("gm_make_map: bad key kind");
    t->keykind = (uint8_t)ut->keykind;
    t->hasher = ut->hash;
    t->equal = ut->equal;
    t->key = k;
    t->elem = e;
    t->indirectkey = k->size > MAX_KEY_SIZE;
    t->indirectelem = e->size > MAX_ELEM_SIZE;
    t->keysize = t->indirectkey ? 8 : (uint32_t)k->size;
    t->elemsize = t->indirectelem ? 8 : (uint32_t)e->size;
    t->keybytes = (uint32_t)k->size;
    t->elembytes = (uint32_t)e->size;
    t->keyptrs = t->indirectkey || k->ptrdata != 0;
    t->elemptrs = t->indirectelem || e->ptrdata != 0;
    t->needkeyupdate = ut->keykind != GM_KEY_MEM;
    t->elemoff = DATA_OFFSET + BUCKET_CNT * t->keysize;
    /* the overflow pointer is word-aligned, as in Go's bmap struct */
    uint32_t ovfoff = (t->elemoff + BUCKET_CNT * t->elemsize + 7) & ~7u;
    t->bucketsize = ovfoff + 8;
    t->noscan = !t->keyptrs && !t->elemptrs;
    memset(t->gcdata, 0, sizeof t->gcdata);
    if (!t->noscan) {
        bitmap_tile(t->gcdata, DATA_OFFSET, t->keysize, k, t->indirectkey);
        bitmap_tile(t->gcdata, t->elemoff, t->elemsize, e, t->indirectelem);
        bitmap_set(t->gcdata, ovfoff / 8);
    }
    t->bucket = (gm_type){t->bucketsize, t->noscan ? 0 : t->bucketsize,
                          t->noscan ? NULL : t->gcdata, "bmap", 8};
    t->fast = K_GENERIC;
    if (ut->keykind == GM_KEY_MEM && !t->indirectelem && k->size == 8) t->fast = K_64;
    if (ut->keykind == GM_KEY_MEM && !t->indirectelem && k->size == 4) t->fast = K_32;
    if (ut->keykind == GM_KEY_STRING && !t->indirectelem) t->fast = K_STR;
}

/* The derived type, built by the first caller (others wait for it). */
static const maptype *maptype_of(const gm_maptype *ut) {
    if (GM_UNLIKELY(!ut || !ut->key || !ut->elem || !ut->cache))
        throw("gm_make_map: map type not made with GM_MAPTYPE*");
    maptype *t = (maptype *)(void *)ut->cache;
    if (GM_LIKELY(__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == 2)) return t;
    int expect = 0;
    if (__atomic_compare_exchange_n(&t->state, &expect, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        maptype_build(t, ut);
        __atomic_store_n(&t->state, 2, __ATOMIC_RELEASE);
        return t;
    }
    while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != 2) __builtin_ia32_pause();
    return t;
}

/* ---- bucket arrays and overflow buckets ----------------------------------------- */

/* Buckets in the array makeBucketArray makes for 2^b. */
static size_t bucket_array_len(const maptype *t, uint8_t b) {
    size_t n = (size_t)1 << b;
    if (b >= 4) {
        /* room for the overflow buckets the median map of this B needs,
         * and whatever else the size class holds */
        n += (size_t)1 << (b - 4);
        size_t sz = t->bucketsize * n, up = gm__roundupsize(sz, t->noscan);
        if (up != sz) n = up / t->bucketsize;
    }
    return n;
}

/* Go's makeBucketArray: a zeroed array of 2^b buckets plus spare overflow
 * buckets (dirty: reuse and clear that array). The last spare bucket's
 * overflow pointer is non-nil (the array itself): it marks the end. */
static uint8_t *make_bucket_array(const maptype *t, uint8_t b, uint8_t *dirty,
                                  uint8_t **nextoverflow) {
    size_t base = (size_t)1 << b, n = bucket_array_len(t, b);
    uint8_t *buckets = dirty;
    if (!dirty) buckets = alloc_array(&t->bucket, n);
    else memset(dirty, 0, n * t->bucketsize);
    *nextoverflow = NULL;
    if (n != base) {
        *nextoverflow = bucket_at(t, buckets, base);
        set_overflow(t, bucket_at(t, buckets, n - 1), buckets);
    }
    return buckets;
}

static mapextra *extra_of(gm_map *h) {
    if (!h->extra) h->extra = alloc_array(&mapextra_type, 1);
    return h->extra;
}

/* Go's createOverflow: mapextra and its overflow list, if missing. */
void gm__map_create_overflow(gm_map *h) {
    mapextra *x = extra_of(h);
    if (!x->overflow) x->overflow = alloc_array(&slicehdr_type, 1);
}

/* Go's incrnoverflow: exact below B = 16; above, counts with probability
 * 2^-(B-15) so that 2^15 still means "about as many as buckets". */
static void incrnoverflow(gm_map *h) {
    if (h->B < 16) {
        h->noverflow++;
        return;
    }
    uint32_t mask = ((uint32_t)1 << (h->B - 15)) - 1;
    if ((gm__rand() & mask) == 0) h->noverflow++;
}

/* Go's newoverflow: chain a new overflow bucket after b. */
static GM_NOINLINE uint8_t *newoverflow(gm_map *h, uint8_t *b) {
    const maptype *t = h->t;
    uint8_t *ovf;
    if (h->extra && h->extra->nextoverflow) {
        ovf = h->extra->nextoverflow;
        if (overflow_of(t, ovf) == NULL) {
            h->extra->nextoverflow = ovf + t->bucketsize;
        } else {
            set_overflow(t, ovf, NULL); /* the end marker */
            h->extra->nextoverflow = NULL;
        }
    } else {
        ovf = alloc_array(&t->bucket, 1);
    }
    incrnoverflow(h);
    if (t->noscan) {
        gm__map_create_overflow(h);
        *h->extra->overflow = gm_append(*h->extra->overflow, &bmapptr_type, &ovf, 1);
    }
    set_overflow(t, b, ovf);
    return ovf;
}

/* ---- growth ----------------------------------------------------------------------- */

/* Go's hashGrow: double (or, with too many overflow buckets, same size);
 * the entries move later, a bucket at a time (growWork). */
static GM_NOINLINE void hash_grow(gm_map *h) {
    const maptype *t = h->t;
    uint8_t bigger = 1, flags = flags_load(h);
    if (!over_load_factor(h->count + 1, h->B)) {
        bigger = 0;
        flags |= SAME_SIZE_GROW;
    }
    uint8_t *nextoverflow;
    uint8_t *newbuckets = make_bucket_array(t, (uint8_t)(h->B + bigger), NULL, &nextoverflow);
    /* An iterator on the current buckets now iterates old buckets. */
    uint8_t nf = flags & (uint8_t) ~(ITERATOR | OLD_ITERATOR);
    if (flags & ITERATOR) nf |= OLD_ITERATOR;
    h->B += bigger;
    flags_store(h, nf);
    h->oldbuckets = h->buckets;
    h->buckets = newbuckets;
    h->nevacuate = 0;
    h->noverflow = 0;
    if (h->extra && h->extra->overflow) {
        if (h->extra->oldoverflow) throw("oldoverflow is not nil");
        h->extra->oldoverflow = h->extra->overflow;
        h->extra->overflow = NULL;
    }
    if (nextoverflow) extra_of(h)->nextoverflow = nextoverflow;
}

/* Where evacuate is putting entries: bucket, slot, key and value slots. */
typedef struct evacdst {
    uint8_t *b;
    uintptr_t i;
    uint8_t *k, *e;
} evacdst;

static inline void evacdst_init(const maptype *t, evacdst *d, uint8_t *b) {
    d->b = b;
    d->i = 0;
    d->k = key_at(t, b, 0);
    d->e = elem_at(t, b, 0);
}

static void advance_evacuation_mark(gm_map *h, uintptr_t newbit);

/* Go's evacuate: move old bucket oldbucket (and its overflow chain) to the
 * new array: all to bucket X (same index) on a same-size grow, otherwise
 * to X or Y (index + old size) by the next hash bit. The old slots are
 * marked evacuatedX/Y so that iterators on the old array find the keys. */
static ALWAYS_INLINE void evacuate_impl(gm_map *h, uintptr_t oldbucket, int kind) {
    const maptype *t = h->t;
    uint8_t *b = bucket_at(t, h->oldbuckets, oldbucket);
    uintptr_t newbit = noldbuckets(h);
    if (!evacuated(b)) {
        evacdst xy[2];
        evacdst_init(t, &xy[0], bucket_at(t, h->buckets, oldbucket));
        bool same = same_size_grow(h);
        if (!same) evacdst_init(t, &xy[1], bucket_at(t, h->buckets, oldbucket + newbit));
        for (; b; b = overflow_of(t, b)) {
            for (uintptr_t i = 0; i < BUCKET_CNT; i++) {
                uint8_t top = b[i];
                if (is_empty(top)) {
                    b[i] = EVACUATED_EMPTY;
                    continue;
                }
                if (top < MIN_TOPHASH) throw("bad map state");
                uint8_t *k = key_at(t, b, i), *k2 = k;
                if (kind == K_GENERIC && t->indirectkey) k2 = deref(k);
                unsigned usey = 0;
                if (!same && (hash_key(t, k2, h->hash0, kind) & newbit) != 0) usey = 1;
                b[i] = (uint8_t)(EVACUATED_X + usey);
                evacdst *dst = &xy[usey];
                if (dst->i == BUCKET_CNT) {
                    evacdst_init(t, dst, newoverflow(h, dst->b));
                }
                dst->b[dst->i & (BUCKET_CNT - 1)] = top;
                /* an indirect slot is a pointer: copying the slot moves it */
                copy_slot(dst->k, k, kind == K_64 ? 8 : kind == K_32 ? 4 : t->keysize);
                copy_slot(dst->e, elem_at(t, b, i), t->elemsize);
                dst->i++;
                dst->k += t->keysize;
                dst->e += t->elemsize;
            }
        }
        /* Help the collector: drop the old entries, unless an iterator may
         * still read them. tophash stays: it holds the evacuation state. */
        if (!(flags_load(h) & OLD_ITERATOR) && !t->noscan) {
            uint8_t *ob = bucket_at(t, h->oldbuckets, oldbucket);
            memset(ob + DATA_OFFSET, 0, t->bucketsize - DATA_OFFSET);
        }
    }
    if (oldbucket == h->nevacuate) advance_evacuation_mark(h, newbit);
}

static GM_NOINLINE void evacuate_generic(gm_map *h, uintptr_t ob) { evacuate_impl(h, ob, K_GENERIC); }
static GM_NOINLINE void evacuate_64(gm_map *h, uintptr_t ob) { evacuate_impl(h, ob, K_64); }
static GM_NOINLINE void evacuate_32(gm_map *h, uintptr_t ob) { evacuate_impl(h, ob, K_32); }
static GM_NOINLINE void evacuate_str(gm_map *h, uintptr_t ob) { evacuate_impl(h, ob, K_STR); }

static void evacuate(gm_map *h, uintptr_t oldbucket, int kind) {
    switch (kind) {
    case K_64: evacuate_64(h, oldbucket); break;
    case K_32: evacuate_32(h, oldbucket); break;
    case K_STR: evacuate_str(h, oldbucket); break;
    default: evacuate_generic(h, oldbucket); break;
    }
}

/* Go's advanceEvacuationMark: skip buckets already evacuated (at most
 * 1024 per call), and end the grow when none is left. */
static void advance_evacuation_mark(gm_map *h, uintptr_t newbit) {
    const maptype *t = h->t;
    h->nevacuate++;
    uintptr_t stop = h->nevacuate + 1024;
    if (stop > newbit) stop = newbit;
    while (h->nevacuate != stop && evacuated(bucket_at(t, h->oldbuckets, h->nevacuate)))
        h->nevacuate++;
    if (h->nevacuate == newbit) {
        h->oldbuckets = NULL;
        if (h->extra) h->extra->oldoverflow = NULL;
        flags_store(h, flags_load(h) & (uint8_t)~SAME_SIZE_GROW);
    }
}

/* Go's growWork: evacuate the old bucket the write is about to use, and
 * one more to make progress. */
static GM_NOINLINE void grow_work(gm_map *h, uintptr_t bucket, int kind) {
    evacuate(h, bucket & oldbucket_mask(h), kind);
    if (growing(h)) evacuate(h, h->nevacuate, kind);
}

/* ---- access (Go's mapaccess1/2, mapaccessK) -------------------------------------- */

/* The bucket key lives in: the old one if not yet evacuated. */
static ALWAYS_INLINE uint8_t *lookup_bucket(const gm_map *h, uint64_t hash) {
    const maptype *t = h->t;
    uintptr_t m = bucket_mask(h->B);
    uint8_t *b = bucket_at(t, h->buckets, hash & m);
    uint8_t *c = h->oldbuckets;
    if (GM_UNLIKELY(c != NULL)) {
        if (!same_size_grow(h)) m >>= 1; /* half as many old buckets */
        uint8_t *oldb = bucket_at(t, c, hash & m);
        if (!evacuated(oldb)) b = oldb;
    }
    return b;
}

/* Key slot size and first value slot, constant on the specialised paths. */
static ALWAYS_INLINE uint32_t kslot(const maptype *t, int kind) {
    return kind == K_64 ? 8 : kind == K_32 ? 4 : kind == K_STR ? sizeof(gm_string) : t->keysize;
}
static ALWAYS_INLINE uint8_t *kkey(const maptype *t, uint8_t *b, uintptr_t i, int kind) {
    return b + DATA_OFFSET + i * kslot(t, kind);
}
static ALWAYS_INLINE uint8_t *kelem(const maptype *t, uint8_t *b, uintptr_t i, int kind) {
    uint32_t off = kind == K_GENERIC ? t->elemoff : DATA_OFFSET + BUCKET_CNT * kslot(t, kind);
    return b + off + i * t->elemsize;
}

/* The slot index of key in the chain from b, or -1; *bp: its bucket. */
static ALWAYS_INLINE int find_in_chain(const maptype *t, uint8_t **bp, const void *key,
                                       uint8_t top, int kind) {
    uint64_t k64 = 0;
    uint32_t k32 = 0;
    if (kind == K_64) memcpy(&k64, key, 8);
    if (kind == K_32) memcpy(&k32, key, 4);
    for (uint8_t *b = *bp; b; b = overflow_of(t, b)) {
        if (kind == K_64 || kind == K_32) {
            /* Go's fast paths compare keys directly; tophash only says
             * whether the slot is in use. All 8 at once, without a branch
             * per slot: the slot of a hit is random, so a branch on each
             * comparison would mispredict at nearly every lookup. An
             * empty slot may still hold a deleted key: skip it. */
            unsigned mask = 0;
            for (int i = 0; i < BUCKET_CNT; i++) {
                const uint8_t *k = kkey(t, b, (uintptr_t)i, kind);
                uint64_t x64;
                uint32_t x32;
                bool eq;
                if (kind == K_64) memcpy(&x64, k, 8), eq = x64 == k64;
                else memcpy(&x32, k, 4), eq = x32 == k32;
                mask |= (unsigned)eq << i;
            }
            for (; mask; mask &= mask - 1) {
                int i = __builtin_ctz(mask);
                if (!is_empty(b[i])) {
                    *bp = b;
                    return i;
                }
            }
            continue;
        }
        for (int i = 0; i < BUCKET_CNT; i++) {
            if (b[i] != top) {
                if (b[i] == EMPTY_REST) return -1;
                continue;
            }
            const void *k = kkey(t, b, (uintptr_t)i, kind);
            if (kind == K_GENERIC && t->indirectkey) k = deref((void *)k);
            if (key_equal(t, key, k, kind)) {
                *bp = b;
                return i;
            }
        }
    }
    return -1;
}

static ALWAYS_INLINE void *access_impl(const gm_map *h, const void *key, int kind) {
    if (h == NULL || h->count == 0) return NULL;
    if (flags_load(h) & HASH_WRITING) throw("concurrent map read and map write");
    const maptype *t = h->t;
    uint8_t *b;
    uint8_t top = 0;
    if ((kind == K_64 || kind == K_32) && h->B == 0) {
        b = h->buckets; /* one bucket: no need to hash */
    } else {
        uint64_t hash = hash_key(t, key, h->hash0, kind);
        b = lookup_bucket(h, hash);
        top = tophash(hash);
        /* Fetch the values' cache lines while the keys are compared: a
         * hit then waits for one miss, not two in a row. */
        __builtin_prefetch(kelem(t, b, 0, kind));
        __builtin_prefetch(kelem(t, b, BUCKET_CNT, kind) - 1);
    }
    int i = find_in_chain(t, &b, key, top, kind);
    if (i < 0) return NULL;
    uint8_t *e = kelem(t, b, (uintptr_t)i, kind);
    if (kind == K_GENERIC && t->indirectelem) return deref(e);
    return e;
}

MAP_VARIANTS(access, void *, const gm_map)

void *gm_map_access(const gm_map *m, const void *key) {
    return m == NULL ? NULL : access_dispatch(m, key);
}

/* Go's mapaccessK: the key and value slots (indirections followed) for an
 * iterator whose entry has moved; false if the key is gone. */
bool gm__map_access_k(const gm_map *h, const void *key, void **kp, void **ep) {
    if (h == NULL || h->count == 0) return false;
    const maptype *t = h->t;
    uint64_t hash = hash_key(t, key, h->hash0, K_GENERIC);
    uint8_t *b = lookup_bucket(h, hash);
    int i = find_in_chain(t, &b, key, tophash(hash), K_GENERIC);
    if (i < 0) return false;
    void *k = key_at(t, b, (uintptr_t)i), *e = elem_at(t, b, (uintptr_t)i);
    *kp = t->indirectkey ? deref(k) : k;
    *ep = t->indirectelem ? deref(e) : e;
    return true;
}

/* ---- assign (Go's mapassign) ------------------------------------------------------ */

static GM_NOINLINE void fatal_nil_assign(void) { throw("assignment to entry in nil map"); }

/* Store a new key in slot i of b (Go's tail of mapassign). */
static ALWAYS_INLINE void *insert_at(gm_map *h, uint8_t *b, uintptr_t i, const void *key,
                                     uint8_t top, int kind) {
    const maptype *t = h->t;
    uint8_t *k = key_at(t, b, i), *e = elem_at(t, b, i);
    if (kind == K_GENERIC && t->indirectkey) {
        void *kmem = alloc_array(t->key, 1);
        memcpy(k, &kmem, sizeof kmem);
        k = kmem;
    }
    if (kind == K_GENERIC && t->indirectelem) {
        void *vmem = alloc_array(t->elem, 1);
        memcpy(e, &vmem, sizeof vmem);
    }
    copy_slot(k, key, kind == K_64 ? 8 : kind == K_32 ? 4 : t->keybytes);
    b[i] = top;
    h->count++;
    return e;
}

static ALWAYS_INLINE void *assign_impl(gm_map *h, const void *key, int kind) {
    if (h == NULL) fatal_nil_assign();
    uint8_t f = flags_load(h);
    if (f & HASH_WRITING) throw("concurrent map writes");
    const maptype *t = h->t;
    uint64_t hash = hash_key(t, key, h->hash0, kind);
    flags_store(h, f ^ HASH_WRITING);
    if (h->buckets == NULL) h->buckets = alloc_array(&t->bucket, 1);
    uint8_t top = tophash(hash);
    uint8_t *e;
again:;
    uintptr_t bucket = hash & bucket_mask(h->B);
    if (growing(h)) grow_work(h, bucket, kind);
    uint8_t *b = bucket_at(t, h->buckets, bucket);
    uint8_t *insertb = NULL;
    uintptr_t inserti = 0;
    for (;;) {
        for (uintptr_t i = 0; i < BUCKET_CNT; i++) {
            bool match;
            if (kind == K_64 || kind == K_32) {
                /* Go's fast paths: any empty slot is a candidate; keys
                 * compared directly */
                if (is_empty(b[i])) {
                    if (!insertb) insertb = b, inserti = i;
                    if (b[i] == EMPTY_REST) goto notfound;
                    continue;
                }
                match = key_equal(t, key_at(t, b, i), key, kind);
            } else {
                if (b[i] != top) {
                    if (is_empty(b[i]) && !insertb) insertb = b, inserti = i;
                    if (b[i] == EMPTY_REST) goto notfound;
                    continue;
                }
                void *k = key_at(t, b, i);
                if (kind == K_GENERIC && t->indirectkey) k = deref(k);
                match = key_equal(t, key, k, kind);
                if (match && t->needkeyupdate) copy_slot(k, key, t->keybytes);
            }
            if (match) {
                e = elem_at(t, b, i);
                goto done;
            }
        }
        uint8_t *ovf = overflow_of(t, b);
        if (!ovf) break;
        b = ovf;
    }
notfound:
    /* A new key. Past the load factor, or with too many overflow
     * buckets, start growing (unless already), and look again. */
    if (!growing(h) &&
        (over_load_factor(h->count + 1, h->B) || too_many_overflow_buckets(h->noverflow, h->B))) {
        hash_grow(h);
        goto again;
    }
    if (!insertb) {
        /* every slot of the chain is taken: b is its last bucket */
        insertb = newoverflow(h, b);
        inserti = 0;
    }
    e = insert_at(h, insertb, inserti, key, top, kind);
done:
    f = flags_load(h);
    if (!(f & HASH_WRITING)) throw("concurrent map writes");
    flags_store(h, f & (uint8_t)~HASH_WRITING);
    if (kind == K_GENERIC && t->indirectelem) return deref(e);
    return e;
}

MAP_VARIANTS(assign, void *, gm_map)

void *gm_map_assign(gm_map *m, const void *key) {
    if (m == NULL) fatal_nil_assign();
    return assign_dispatch(m, key);
}

/* ---- delete (Go's mapdelete) ---------------------------------------------------------- */

/* Slot i of b was just emptied: if nothing follows it in the chain, turn
 * it and the emptyOne slots before it into emptyRest, so lookups stop
 * early. orig: the chain's first bucket. */
static void mark_empty_rest(const maptype *t, uint8_t *orig, uint8_t *b, uintptr_t i) {
    if (i == BUCKET_CNT - 1) {
        uint8_t *ovf = overflow_of(t, b);
        if (ovf && ovf[0] != EMPTY_REST) return;
    } else if (b[i + 1] != EMPTY_REST) {
        return;
    }
    for (;;) {
        b[i] = EMPTY_REST;
        if (i == 0) {
            if (b == orig) return; /* the start of the chain */
            uint8_t *c = b;        /* continue at the previous bucket's end */
            for (b = orig; overflow_of(t, b) != c; b = overflow_of(t, b)) {
            }
            i = BUCKET_CNT - 1;
        } else {
            i--;
        }
        if (b[i] != EMPTY_ONE) return;
    }
}

/* Clear the slots of a deleted entry: pointers, so that the collector
 * frees what they held; values always, so a new entry's value starts at
 * zero. */
static void clear_slots(const maptype *t, uint8_t *b, uintptr_t i) {
    uint8_t *k = key_at(t, b, i), *e = elem_at(t, b, i);
    if (t->keyptrs) memset(k, 0, t->keysize);
    memset(e, 0, t->elemsize);
}

static ALWAYS_INLINE bool delete_impl(gm_map *h, const void *key, int kind) {
    if (h == NULL || h->count == 0) return false;
    uint8_t f = flags_load(h);
    if (f & HASH_WRITING) throw("concurrent map writes");
    const maptype *t = h->t;
    uint64_t hash = hash_key(t, key, h->hash0, kind);
    flags_store(h, f ^ HASH_WRITING);
    uintptr_t bucket = hash & bucket_mask(h->B);
    if (growing(h)) grow_work(h, bucket, kind);
    uint8_t *orig = bucket_at(t, h->buckets, bucket), *b = orig;
    int i = find_in_chain(t, &b, key, tophash(hash), kind);
    if (i >= 0) {
        clear_slots(t, b, (uintptr_t)i);
        b[i] = EMPTY_ONE;
        mark_empty_rest(t, orig, b, (uintptr_t)i);
        h->count--;
        /* a fresh seed, so that an attacker cannot keep colliding
         * (Go's issue 25237) */
        if (h->count == 0) h->hash0 = (uint32_t)gm__rand();
    }
    f = flags_load(h);
    if (!(f & HASH_WRITING)) throw("concurrent map writes");
    flags_store(h, f & (uint8_t)~HASH_WRITING);
    return i >= 0;
}

MAP_VARIANTS(delete, bool, gm_map)

bool gm_map_delete(gm_map *m, const void *key) { return m != NULL && delete_dispatch(m, key); }

/* ---- make, len, clear -------------------------------------------------------------------- */

/* Go's makemap: the smallest B whose buckets hold hint entries under the
 * load factor; the buckets now if B > 0, else at the first assign. */
gm_map *gm_make_map(const gm_maptype *ut, size_t hint) {
    const maptype *t = maptype_of(ut);
    gm__alg_init();
    size_t mem;
    /* Go's hint is an int; one whose buckets could not be allocated is
     * ignored (Go: mem > maxAlloc). */
    if (hint > (size_t)PTRDIFF_MAX || __builtin_mul_overflow(hint, (size_t)t->bucketsize, &mem) ||
        mem > ((size_t)1 << GM_ADDR_BITS))
        hint = 0;
    gm_map *h = alloc_array(&hmap_type, 1);
    h->t = t;
    h->hash0 = (uint32_t)gm__rand();
    uint8_t B = 0;
    while (over_load_factor(hint, B)) B++;
    h->B = B;
    if (B != 0) {
        uint8_t *nextoverflow;
        h->buckets = make_bucket_array(t, B, NULL, &nextoverflow);
        if (nextoverflow) extra_of(h)->nextoverflow = nextoverflow;
    }
    return h;
}

size_t gm_map_len(const gm_map *m) { return m ? m->count : 0; }

static void mark_buckets_empty(const maptype *t, uint8_t *base, uintptr_t mask) {
    for (uintptr_t i = 0; i <= mask; i++)
        for (uint8_t *b = bucket_at(t, base, i); b; b = overflow_of(t, b))
            memset(b, EMPTY_REST, BUCKET_CNT);
}

/* Go's mapclear (1.21+): keep the bucket array and B, zero it, drop the
 * overflow buckets, take a new seed. Iterators in progress end: every
 * slot they could still reach is emptyRest first. */
void gm_map_clear(gm_map *h) {
    if (h == NULL || h->count == 0) return;
    uint8_t f = flags_load(h);
    if (f & HASH_WRITING) throw("concurrent map writes");
    flags_store(h, f ^ HASH_WRITING);
    const maptype *t = h->t;
    mark_buckets_empty(t, h->buckets, bucket_mask(h->B));
    if (h->oldbuckets) mark_buckets_empty(t, h->oldbuckets, oldbucket_mask(h));
    flags_store(h, flags_load(h) & (uint8_t)~SAME_SIZE_GROW);
    h->oldbuckets = NULL;
    h->nevacuate = 0;
    h->noverflow = 0;
    h->count = 0;
    h->hash0 = (uint32_t)gm__rand();
    if (h->extra) memset(h->extra, 0, sizeof *h->extra); /* kept, emptied */
    uint8_t *nextoverflow;
    make_bucket_array(t, h->B, h->buckets, &nextoverflow);
    if (nextoverflow) h->extra->nextoverflow = nextoverflow; /* made with the array */
    f = flags_load(h);
    if (!(f & HASH_WRITING)) throw("concurrent map writes");
    flags_store(h, f & (uint8_t)~HASH_WRITING);
}

/* ---- observability -------------------------------------------------------------------------- */

void gm_map_inspect(const gm_map *h, gm_map_info *info) {
    memset(info, 0, sizeof *info);
    if (h == NULL) return;
    const maptype *t = h->t;
    info->count = h->count;
    info->B = h->B;
    info->nbuckets = (size_t)1 << h->B;
    info->noverflow = h->noverflow;
    info->flags = flags_load(h);
    info->hash0 = h->hash0;
    info->growing = growing(h);
    info->same_size_grow = same_size_grow(h);
    info->nevacuate = h->nevacuate;
    info->noldbuckets = growing(h) ? noldbuckets(h) : 0;
    info->buckets = h->buckets;
    info->bucket_size = t->bucketsize;
    /* lazily made single bucket (B == 0) or a makeBucketArray array */
    if (h->buckets) info->buckets_bytes = bucket_array_len(t, h->B) * t->bucketsize;
    info->has_extra = h->extra != NULL;
    if (h->extra && h->extra->nextoverflow) {
        uint8_t *end = h->buckets + info->buckets_bytes;
        info->prealloc_free = (size_t)(end - h->extra->nextoverflow) / t->bucketsize;
    }
    if (h->extra && h->extra->overflow) info->overflow_list = h->extra->overflow->len;
}
