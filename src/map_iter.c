/* Map iteration (Go's mapiterinit, mapiternext). See map.c for the overview. */
#include <string.h>

#include "map.h"

#define NO_CHECK SIZE_MAX /* hiter.checkbucket: no old bucket to filter */

/* ---- iteration (Go's mapiterinit, mapiternext) -------------------------------------------- */

void gm_map_iter_init(gm_map_iter *it, gm_map *h) {
    memset(it, 0, sizeof *it);
    if (h == NULL || h->count == 0) return;
    const maptype *t = h->t;
    it->h = h;
    it->B = h->B;
    it->buckets = h->buckets;
    if (t->noscan) {
        /* The buckets' overflow pointers are invisible to the collector:
         * hold the overflow lists, which the map may drop mid-iteration. */
        gm__map_create_overflow(h);
        it->overflow = h->extra->overflow;
        it->oldoverflow = h->extra->oldoverflow;
    }
    uint64_t r = gm__rand();
    it->startbucket = (size_t)(r & bucket_mask(h->B));
    it->offset = (uint8_t)((r >> h->B) & (BUCKET_CNT - 1));
    it->bucket = it->startbucket;
    uint8_t f = flags_load(h);
    if ((f & (ITERATOR | OLD_ITERATOR)) != (ITERATOR | OLD_ITERATOR))
        __atomic_fetch_or(&h->flags, ITERATOR | OLD_ITERATOR, __ATOMIC_RELAXED);
    gm_map_iter_next(it);
}

/* Whether an entry of old bucket b (not yet evacuated) belongs to new
 * bucket checkbucket of a doubled table: the others are returned when
 * the iterator reaches their own bucket. */
static bool in_check_bucket(const gm_map_iter *it, const void *k) {
    const gm_map *h = it->h;
    uint64_t hash = hash_key(h->t, k, h->hash0, K_GENERIC);
    return (hash & bucket_mask(it->B)) == it->checkbucket;
}

/* Slot i of the current bucket as the iterator's result, if it is one. */
static bool iter_take(gm_map_iter *it, uint8_t *b, uintptr_t i) {
    gm_map *h = it->h;
    const maptype *t = h->t;
    uint8_t top = b[i];
    if (is_empty(top) || top == EVACUATED_EMPTY) return false;
    void *k = key_at(t, b, i), *e = elem_at(t, b, i);
    if (t->indirectkey) k = deref(k);
    if (it->checkbucket != NO_CHECK && !same_size_grow(h) && !in_check_bucket(it, k))
        return false;
    if (top != EVACUATED_X && top != EVACUATED_Y) {
        /* still where the iterator started: the data is current */
        it->key = k;
        it->elem = t->indirectelem ? deref(e) : e;
        return true;
    }
    /* The table grew since the iterator started and this key moved: it
     * may have been deleted, updated or deleted and reinserted since. */
    return gm__map_access_k(h, k, &it->key, &it->elem);
}

bool gm_map_iter_next(gm_map_iter *it) {
    gm_map *h = it->h;
    if (h == NULL) {
        it->key = it->elem = NULL;
        return false;
    }
    if (flags_load(h) & HASH_WRITING) throw("concurrent map iteration and map write");
    const maptype *t = h->t;
    uint8_t *b = it->bptr;
    uintptr_t i = it->i;
    for (;;) {
        if (b == NULL) {
            if (it->bucket == it->startbucket && it->wrapped) {
                it->key = it->elem = NULL;
                return false;
            }
            if (growing(h) && it->B == h->B) {
                /* Started mid-grow and the grow is not over: if this
                 * bucket's old bucket is not evacuated yet, walk the old
                 * one, keeping only the entries bound for this bucket. */
                uintptr_t oldbucket = it->bucket & oldbucket_mask(h);
                b = bucket_at(t, h->oldbuckets, oldbucket);
                if (!evacuated(b)) {
                    it->checkbucket = it->bucket;
                } else {
                    b = bucket_at(t, it->buckets, it->bucket);
                    it->checkbucket = NO_CHECK;
                }
            } else {
                b = bucket_at(t, it->buckets, it->bucket);
                it->checkbucket = NO_CHECK;
            }
            if (++it->bucket == ((size_t)1 << it->B)) {
                it->bucket = 0;
                it->wrapped = 1;
            }
            i = 0;
        }
        for (; i < BUCKET_CNT; i++) {
            uintptr_t offi = (i + it->offset) & (BUCKET_CNT - 1);
            if (iter_take(it, b, offi)) {
                it->bptr = b;
                it->i = (uint8_t)(i + 1);
                return true;
            }
        }
        b = overflow_of(t, b);
        i = 0;
    }
}
