/*
 * The heap map (issue 12, §4): gm_write_heap_map draws every arena and
 * span as one self-contained HTML page. See malloc.c for the heap's
 * layout; the page's legend explains what it draws.
 *
 * Two steps, so that no lock is held while writing and nothing allocates
 * from the heap it describes (the library may be the process's malloc,
 * and the map may be written from a GC hook with the gc lock held):
 *
 *  1. Snapshot, under the heap lock. One walk counts arenas, spans, runs
 *     and bitmap words; one mapping (gm__sys_alloc, no malloc) is sized
 *     from the counts; a second walk, in the same lock hold, fills it. The
 *     heap lock keeps every span's pages, class and bitmaps in place; the
 *     fields an owner thread changes while allocating (freeindex,
 *     allocCache, the bitmaps) are read with relaxed atomic loads, as
 *     gm_span_inspect and MemStats read them: exact for spans no thread is
 *     allocating from at that moment.
 *  2. Output, with no lock: the page's head and CSS, the snapshot as JSON
 *     in <script type="application/json" id="heap-data">, then the script
 *     that draws it. Written through a buffer in the same mapping.
 *
 * A "run" is a stretch of pages of one arena that are all one span or all
 * one free state: free (backed), scavenged (returned to the OS) or never
 * used. The page allocator keeps no record of pages never used, so
 * "never used": the pages above the arena's high-water mark (the page
 * allocator's used_pages), which no span has ever held.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mgc.h"

/* ---- snapshot ------------------------------------------------------------ */

enum { HM_FREE = -1, HM_SCAVENGED = -2, HM_UNUSED = -3 }; /* run refs of free pages */

typedef struct hm_span {
    uintptr_t base;
    uint64_t npages, elemsize, alloc_cache;
    uint32_t nelems, alloc, pending, freeindex, sweepgen;
    size_t word;   /* its bitmaps in hm_snap.words: alloc, freed, mark; nwords each */
    uint8_t spanclass, state, gckind, nwords, needzero;
} hm_span;

typedef struct hm_run { uint32_t page, npages; int32_t ref; } hm_run;
typedef struct hm_arena { uintptr_t base; size_t run0, nruns; } hm_arena;

typedef struct hm_snap {
    size_t narenas, nspans, nruns, nwords; /* counted by the walk */
    hm_arena *arenas;  /* NULL while counting */
    hm_span *spans;
    hm_run *runs;
    uint64_t *words;
    gm_heapstats stats;
    uint32_t sweepgen;
} hm_snap;

static int32_t free_state(const gm_heap_arena *ha, size_t page, size_t hwm) {
    size_t c = page / GM_CHUNK_PAGES, b = page % GM_CHUNK_PAGES;
    if (!((ha->pages.scav[c][b / 64] >> (b % 64)) & 1)) return HM_FREE;
    return page >= hwm ? HM_UNUSED : HM_SCAVENGED;
}

/* Large span: one object, whose mark and free bits exist only once it is
 * collected (gckind is published with a release store after its bitmaps). */
static void snap_large(hm_span *r, uint64_t *w, const gm_span *s) {
    r->elemsize = r->npages * GM_PAGE_SIZE;
    r->nelems = 1;
    r->alloc = r->state == GM_SPAN_LARGE;
    w[0] = r->alloc;
    if (r->gckind) {
        w[1] = GM_LOAD(&s->remote_free[0]) & 1;
        w[2] = GM_LOAD(&s->gcmark_bits[0]) & 1;
        r->pending = (uint32_t)w[1];
    }
}

/* Small span: the owner may be allocating; relaxed loads, as MemStats. */
static void snap_small(hm_span *r, uint64_t *w, const gm_span *s) {
    unsigned nw = r->nwords;
    r->elemsize = s->elemsize;
    r->nelems = s->nelems;
    r->freeindex = GM_LOAD(&s->freeindex);
    r->alloc_cache = GM_LOAD(&s->alloc_cache);
    r->alloc = gm__span_alloc_count(s);
    for (unsigned i = 0; i < nw; i++) {
        w[i] = GM_LOAD(&s->alloc_bits[i]);
        w[nw + i] = GM_LOAD(&s->local_free[i]) | GM_LOAD(&s->remote_free[i]);
        w[2 * nw + i] = r->gckind ? GM_LOAD(&s->gcmark_bits[i]) : 0;
        r->pending += gm__popcount(w[nw + i]);
    }
}

/* Words per bitmap: fixed under the heap lock for a span in use, so both
 * walks agree (a large span's gckind may change between them). */
static unsigned span_words(const gm_span *s) { return s->spanclass < 2 ? 1 : s->nwords; }

static void snap_span(hm_snap *sn, const gm_span *s) {
    unsigned nw = span_words(s);
    if (sn->spans) {
        hm_span *r = &sn->spans[sn->nspans];
        uint64_t *w = &sn->words[sn->nwords];
        memset(r, 0, sizeof *r);
        memset(w, 0, 3 * nw * sizeof *w);
        r->base = s->base;
        r->npages = s->npages;
        r->spanclass = GM_LOAD(&s->spanclass);
        r->state = GM_LOAD(&s->state);
        r->gckind = GM_LOAD_ACQ(&s->gckind);
        r->needzero = GM_LOAD(&s->needzero);
        r->sweepgen = GM_LOAD(&s->sweepgen);
        r->nwords = (uint8_t)nw;
        r->word = sn->nwords;
        if (r->spanclass < 2) snap_large(r, w, s);
        else snap_small(r, w, s);
    }
    sn->nspans++;
    sn->nwords += 3 * (size_t)nw;
}

static void add_run(hm_snap *sn, size_t page, size_t npages, int32_t ref) {
    if (sn->runs) sn->runs[sn->nruns] = (hm_run){(uint32_t)page, (uint32_t)npages, ref};
    sn->nruns++;
}

/* The span starting at page gets a record; a span that began in the arena
 * before (large spans cross arena boundaries) is the last record made. */
static int32_t span_ref(hm_snap *sn, const gm_span *s, uintptr_t page) {
    if (s->base != page && sn->nspans > 0) return (int32_t)(sn->nspans - 1);
    snap_span(sn, s);
    return (int32_t)(sn->nspans - 1);
}

static void walk_arena(hm_snap *sn, const gm_heap_arena *ha) {
    size_t hwm = ha->pages.used_pages;
    for (size_t i = 0; i < GM_PAGES_PER_ARENA;) {
        gm_span *s = ha->spans[i];
        size_t j = i + 1;
        int32_t ref;
        if (s) {
            while (j < GM_PAGES_PER_ARENA && ha->spans[j] == s) j++;
            ref = span_ref(sn, s, ha->base + i * GM_PAGE_SIZE);
        } else {
            ref = free_state(ha, i, hwm);
            while (j < GM_PAGES_PER_ARENA && !ha->spans[j] && free_state(ha, j, hwm) == ref) j++;
        }
        add_run(sn, i, j - i, ref);
        i = j;
    }
}

/* Counts (sn->arenas == NULL) or fills. Heap lock. */
static void snap_walk(hm_snap *sn) {
    sn->narenas = sn->nspans = sn->nruns = sn->nwords = 0;
    for (const gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next) {
        hm_arena *a = sn->arenas ? &sn->arenas[sn->narenas] : NULL;
        if (a) *a = (hm_arena){ha->base, sn->nruns, 0};
        walk_arena(sn, ha);
        if (a) a->nruns = sn->nruns - a->run0;
        sn->narenas++;
    }
}

#define HM_OUTBUF (64u << 10) /* output buffer, at the start of the mapping */

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Bytes of the mapping for the counts in sn: output buffer + tables. */
static size_t snap_bytes(const hm_snap *sn) {
    return HM_OUTBUF + round8(sn->narenas * sizeof(hm_arena)) +
           round8(sn->nspans * sizeof(hm_span)) + round8(sn->nruns * sizeof(hm_run)) +
           sn->nwords * sizeof(uint64_t);
}

static void snap_carve(hm_snap *sn, char *mem) {
    char *p = mem + HM_OUTBUF;
    sn->arenas = (hm_arena *)p;
    p += round8(sn->narenas * sizeof(hm_arena));
    sn->spans = (hm_span *)p;
    p += round8(sn->nspans * sizeof(hm_span));
    sn->runs = (hm_run *)p;
    p += round8(sn->nruns * sizeof(hm_run));
    sn->words = (uint64_t *)p;
}

/* Takes the snapshot; returns the mapping (output buffer first) and its
 * size in *size, or NULL on OOM. */
static char *snap_take(hm_snap *sn, size_t *size) {
    memset(sn, 0, sizeof *sn);
    gm__lock(&gm__heap_lock);
    snap_walk(sn);
    *size = (snap_bytes(sn) + 4095) & ~(size_t)4095;
    /* mmap under the heap lock, as mheap_grow does: the counts stay exact. */
    char *mem = gm__sys_alloc(*size);
    if (mem) {
        snap_carve(sn, mem);
        snap_walk(sn);
        sn->stats = gm__heapstats;
        sn->sweepgen = GM_LOAD(&gm__gc.sweepgen);
    }
    gm__unlock(&gm__heap_lock);
    return mem;
}

/* ---- output -------------------------------------------------------------- */

typedef struct hm_out {
    int fd;
    int err;  /* errno of the first failed write, 0 if none */
    char *buf;
    size_t len;
} hm_out;

static void out_flush(hm_out *o) {
    size_t off = 0;
    while (off < o->len && !o->err) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n > 0) off += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else o->err = n < 0 ? errno : EIO;
    }
    o->len = 0;
}

static void out_mem(hm_out *o, const char *s, size_t n) {
    while (n > 0 && !o->err) {
        if (o->len == HM_OUTBUF) out_flush(o);
        size_t k = HM_OUTBUF - o->len < n ? HM_OUTBUF - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void out_s(hm_out *o, const char *s) { out_mem(o, s, strlen(s)); }

static void out_u64(hm_out *o, uint64_t v) {
    char b[24];
    size_t i = sizeof b;
    do b[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    out_mem(o, b + i, sizeof b - i);
}

static void out_i64(hm_out *o, int64_t v) {
    if (v < 0) out_s(o, "-");
    out_u64(o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* "0x..." as a JSON string: addresses and allocCache, exact in any reader. */
static void out_hex(hm_out *o, uint64_t v) {
    char b[20];
    size_t i = sizeof b;
    b[--i] = '"';
    do b[--i] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    b[--i] = 'x';
    b[--i] = '0';
    b[--i] = '"';
    out_mem(o, b + i, sizeof b - i);
}

/* ,"key":number */
static void out_kv(hm_out *o, const char *key, uint64_t v) {
    out_s(o, ",\"");
    out_s(o, key);
    out_s(o, "\":");
    out_u64(o, v);
}

/* A JSON string that is also safe inside <script>: '<' is escaped. */
static void out_jstr(hm_out *o, const char *s) {
    out_s(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == '"' || c == '\\' || c == '<') {
            char e[7] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4],
                         "0123456789abcdef"[c & 15], 0};
            out_s(o, e);
        } else {
            out_mem(o, (const char *)&c, 1);
        }
    }
    out_s(o, "\"");
}

/* n bits as a string of '0'/'1', slot 0 first. */
static void out_bits(hm_out *o, const char *key, const uint64_t *w, uint32_t n) {
    char b[64];
    out_s(o, ",\"");
    out_s(o, key);
    out_s(o, "\":\"");
    for (uint32_t i = 0; i < n; i += 64) {
        uint32_t k = n - i < 64 ? n - i : 64;
        for (uint32_t j = 0; j < k; j++) b[j] = (char)('0' + ((w[i / 64] >> j) & 1));
        out_mem(o, b, k);
    }
    out_s(o, "\"");
}

/* ---- JSON ----------------------------------------------------------------- */

static const char *const state_names[] = {"free", "cached", "partial", "full", "large", "owned"};

static void emit_span(hm_out *o, const hm_snap *sn, const hm_span *r) {
    const uint64_t *w = &sn->words[r->word];
    out_s(o, "{\"base\":");
    out_hex(o, r->base);
    out_s(o, ",\"state\":\"");
    out_s(o, r->state < 6 ? state_names[r->state] : "unknown");
    out_s(o, "\"");
    out_kv(o, "npages", r->npages);
    out_kv(o, "sizeclass", r->spanclass >> 1);
    out_kv(o, "spanclass", r->spanclass);
    out_kv(o, "noscan", r->spanclass & 1);
    out_kv(o, "elemsize", r->elemsize);
    out_kv(o, "nelems", r->nelems);
    out_kv(o, "alloc", r->alloc);
    out_kv(o, "pending", r->pending);
    out_kv(o, "freeindex", r->freeindex);
    out_s(o, ",\"allocCache\":");
    out_hex(o, r->alloc_cache);
    out_kv(o, "gckind", r->gckind);
    out_kv(o, "sweepgen", r->sweepgen);
    out_kv(o, "needzero", r->needzero);
    out_bits(o, "allocBits", w, r->nelems);
    out_bits(o, "freedBits", w + r->nwords, r->nelems);
    if (r->gckind) out_bits(o, "gcmarkBits", w + 2 * r->nwords, r->nelems);
    out_s(o, "}");
}

static void emit_arena(hm_out *o, const hm_snap *sn, const hm_arena *a) {
    out_s(o, "{\"base\":");
    out_hex(o, a->base);
    out_s(o, ",\"runs\":[");
    for (size_t i = 0; i < a->nruns; i++) {
        const hm_run *r = &sn->runs[a->run0 + i];
        out_s(o, i ? ",[" : "[");
        out_u64(o, r->page);
        out_s(o, ",");
        out_u64(o, r->npages);
        out_s(o, ",");
        out_i64(o, r->ref);
        out_s(o, "]");
    }
    out_s(o, "]}");
}

static void emit_stats(hm_out *o, const hm_snap *sn) {
    const gm_heapstats *h = &sn->stats;
    out_s(o, ",\"stats\":{\"heapSys\":");
    out_u64(o, h->heap_sys);
    out_kv(o, "heapInuse", h->heap_inuse);
    out_kv(o, "heapIdle", h->heap_sys - h->heap_inuse);
    out_kv(o, "heapReleased", h->heap_released);
    out_kv(o, "heapFreeDirty", h->heap_free_dirty);
    out_kv(o, "sweepgen", sn->sweepgen);
    out_s(o, "}");
}

/* Per size class: [object size, pages per span, objects per span]. */
static void emit_classes(hm_out *o) {
    out_s(o, ",\"classes\":[[0,0,1]");
    for (int c = 1; c < GM_NUM_CLASSES; c++) {
        uint64_t np = gm__class_to_allocnpages[c];
        out_s(o, ",[");
        out_u64(o, gm__class_to_size[c]);
        out_s(o, ",");
        out_u64(o, np);
        out_s(o, ",");
        out_u64(o, np * GM_PAGE_SIZE / gm__class_to_size[c]);
        out_s(o, "]");
    }
    out_s(o, "]");
}

static void emit_json(hm_out *o, const hm_snap *sn) {
    out_s(o, "{\"format\":1,\"program\":");
    out_jstr(o, gm__sys_program_name() ? gm__sys_program_name() : "");
    out_kv(o, "pid", (uint64_t)getpid());
    out_kv(o, "pageSize", GM_PAGE_SIZE);
    out_kv(o, "pagesPerArena", GM_PAGES_PER_ARENA);
    out_s(o, ",\"runFormat\":\"[first page in the arena, pages, span index or "
             "-1 free, -2 scavenged, -3 never used]\"");
    emit_stats(o, sn);
    emit_classes(o);
    out_s(o, ",\"arenas\":[");
    for (size_t i = 0; i < sn->narenas; i++) {
        if (i) out_s(o, ",\n");
        emit_arena(o, sn, &sn->arenas[i]);
    }
    out_s(o, "],\"spans\":[");
    for (size_t i = 0; i < sn->nspans; i++) {
        if (i) out_s(o, ",\n");
        emit_span(o, sn, &sn->spans[i]);
    }
    out_s(o, "]}");
}

/* ---- the page ------------------------------------------------------------ */

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>gomalloc heap map</title>\n"
    "<script>window.onerror=function(m){document.documentElement.dataset.error=m;};</script>\n"
    "<style>\n"
    "body{font:13px system-ui,sans-serif;margin:12px;color:#222}\n"
    "h1{font-size:18px;margin:0 0 6px}h3{font-size:13px;margin:10px 0 3px}"
    "h4{font-size:12px;margin:8px 0 2px}\n"
    "#legend{margin:6px 0;line-height:20px}.li{display:inline-block;margin-right:12px;"
    "white-space:nowrap}\n"
    ".li i{display:inline-block;width:14px;height:12px;vertical-align:middle;margin-right:4px;"
    "border:1px solid #0003}\n"
    "#main{display:flex;gap:12px;align-items:flex-start}#arenas{flex:1;min-width:0}\n"
    "#detail{width:430px;flex:none;position:sticky;top:8px;max-height:95vh;overflow:auto;"
    "border:1px solid #ccc;padding:6px;background:#fafafa}\n"
    ".row{display:flex;height:12px;margin-bottom:1px}\n"
    ".c{height:100%;box-sizing:border-box;box-shadow:inset -1px 0 #fff;cursor:pointer;"
    "min-width:0;flex:none}\n"
    ".c.wide{font-size:10px;line-height:12px;padding-left:4px;color:#555;overflow:hidden;"
    "white-space:nowrap}\n"
    ".gc{background-image:repeating-linear-gradient(135deg,#0004 0 1px,transparent 1px 4px)}\n"
    ".f-free{background:#c4c4c4}.f-unused{background:#f1f1f1}\n"
    ".f-scavenged{background:repeating-linear-gradient(45deg,#bcd3f0 0 2px,#eef4fb 2px 5px)}\n"
    ".sel{outline:2px solid #000;outline-offset:-1px;position:relative;z-index:1}\n"
    "table{border-collapse:collapse}th{text-align:left;padding-right:10px;font-weight:600}"
    "td{font-family:monospace}\n"
    "pre{font-size:11px;margin:2px 0}.g{display:flex;flex-wrap:wrap;width:390px}\n"
    ".g i{width:5px;height:5px;margin:0 1px 1px 0;background:#e2e2e2}.g i.a{background:#333}"
    ".g i.m{background:#06c}.g i.p{background:#e33}.g i.x{outline:1px solid #f80}\n"
    "</style></head>\n<body>\n<h1>gomalloc heap map</h1>\n"
    "<div id=\"summary\"></div><div id=\"legend\"></div>\n"
    "<p>Pages per row <select id=\"ppr\"><option>64</option><option>128</option>"
    "<option selected>256</option><option>512</option></select> &nbsp; find address "
    "<input id=\"find\" placeholder=\"0xc000...\" size=\"16\"> &nbsp; hover a span for "
    "its bitmaps, click to keep it</p>\n"
    "<div id=\"main\"><div id=\"arenas\"></div><div id=\"detail\">"
    "Hover over a span.</div></div>\n"
    "<script type=\"application/json\" id=\"heap-data\">";

/* Draws D (the JSON above): summary, legend, arenas as rows of pages,
 * span details. Sets body.dataset.ready once everything ran. */
static const char page_script[] =
    "</script>\n<script>\n(function(){'use strict';\n"
    "var D=JSON.parse(document.getElementById('heap-data').textContent),S=D.spans,"
    "P=D.pageSize;\n"
    "var FS=['free','scavenged','unused'],FN={free:'free (backed)',scavenged:"
    "'scavenged (returned to the OS)',unused:'never used'},GK=['none','conservative',"
    "'noscan','typed'],pin=-1,sel=-1;\n"
    "function $(i){return document.getElementById(i);}\n"
    "function hx(n){return '0x'+n.toString(16);}\n"
    "function mib(p){return (p*P/1048576).toFixed(2)+' MiB';}\n"
    "function live(s){return Math.max(0,s.alloc-s.pending);}\n"
    "function col(s,o){if(s.state==='free')return '#8c8c8c';var c=s.sizeclass;"
    "return 'hsl('+(c?Math.round(c*137.508%360):215)+','+(c?70:30)+'%,'+"
    "Math.round(88-50*o)+'%)';}\n"
    "S.forEach(function(s){s.a=parseInt(s.base,16);});\n"
    "D.arenas.forEach(function(a){a.a=parseInt(a.base,16);});\n"
    "function summary(){var m={arenas:D.arenas.length,spans:0,inuse:0,free:0,scavenged:0,"
    "unused:0,kept:0},e=$('summary'),st=D.stats;\n"
    " S.forEach(function(s){if(s.state==='free')m.kept++;else m.spans++;});\n"
    " D.arenas.forEach(function(a){a.runs.forEach(function(r){m[r[2]<0?FS[-1-r[2]]:"
    "S[r[2]].state==='free'?'free':'inuse']+=r[1];});});\n"
    " [['arenas','arenas'],['spans','spans'],['free-spans','kept'],['pages-inuse','inuse'],"
    "['pages-free','free'],['pages-scavenged','scavenged'],['pages-unused','unused']]"
    ".forEach(function(k){e.setAttribute('data-'+k[0],m[k[1]]);});\n"
    " e.innerHTML='<b>'+m.arenas+' arena(s)</b> ('+mib(m.arenas*D.pagesPerArena)+'), <b>'+"
    "m.spans+' spans</b> in use, '+m.kept+' freed large span(s) kept for reuse. Pages: <b>'+"
    "m.inuse+'</b> in use ('+mib(m.inuse)+'), <b>'+m.free+'</b> free ('+mib(m.free)+"
    "'), <b>'+m.scavenged+'</b> scavenged ('+mib(m.scavenged)+'), <b>'+m.unused+"
    "'</b> never used ('+mib(m.unused)+').<br>MemStats at the snapshot: "
    "HeapSys '+st.heapSys+', HeapInuse '+st.heapInuse+', HeapIdle '+st.heapIdle+"
    "', HeapReleased '+st.heapReleased+'; heap sweepgen '+st.sweepgen+'. Program '+"
    "D.program+' (pid '+D.pid+').';}\n"
    "function legend(){var n={},h='';S.forEach(function(s){if(s.state!=='free')"
    "n[s.sizeclass]=(n[s.sizeclass]||0)+1;});\n"
    " Object.keys(n).map(Number).sort(function(a,b){return a-b;}).forEach(function(c){"
    "h+='<span class=\"li\" data-class=\"'+c+'\"><i style=\"background:'+col({sizeclass:c},1)"
    "+'\"></i>'+(c?'class '+c+': '+D.classes[c][0]+' B':'large')+' &times;'+n[c]+'</span>';});\n"
    " h+='<br><span class=\"li\">occupancy <i style=\"background:'+col({sizeclass:5},0)+"
    "'\"></i>empty <i style=\"background:'+col({sizeclass:5},.5)+'\"></i>half <i style=\""
    "background:'+col({sizeclass:5},1)+'\"></i>full</span>';\n"
    " FS.forEach(function(k){h+='<span class=\"li\"><i class=\"f-'+k+'\"></i>'+FN[k]+"
    "' pages</span>';});\n"
    " h+='<span class=\"li\"><i class=\"gc\" style=\"background-color:#ddd\"></i>collected "
    "(gm_new)</span><span class=\"li\"><i style=\"background:#8c8c8c\"></i>freed large "
    "span kept for reuse</span>';$('legend').innerHTML=h;}\n"
    "function rows(a,R){var rs=[];a.runs.forEach(function(r){var p=r[0],n=r[1],"
    "f=r[2]<0||S[r[2]].a===a.a+p*P;while(n>0){var i=Math.floor(p/R),k=Math.min(n,(i+1)*R-p);"
    "(rs[i]=rs[i]||[]).push([p,k,r[2],f]);p+=k;n-=k;f=false;}});return rs;}\n"
    "function cell(a,g,R){var w='width:'+(g[1]*100/R)+'%',r=g[2];\n"
    " if(r<0)return '<div class=\"c f-'+FS[-1-r]+'\" style=\"'+w+'\" data-state=\"'+FS[-1-r]+"
    "'\" data-page=\"'+hx(a.a+g[0]*P)+'\" data-pages=\"'+g[1]+'\"></div>';\n"
    " var s=S[r];return '<div class=\"c'+(s.gckind?' gc':'')+'\" style=\"'+w+"
    "';background-color:'+col(s,s.nelems?live(s)/s.nelems:0)+'\" data-i=\"'+r+"
    "'\" data-base=\"'+s.base+'\" data-class=\"'+s.sizeclass+'\" data-state=\"'+s.state+"
    "'\" data-alloc=\"'+s.alloc+'\"'+(g[3]?'':' data-cont=\"1\"')+'></div>';}\n"
    "function render(){var R=+$('ppr').value,h='';D.arenas.forEach(function(a){var rs=rows(a,R);"
    "\n h+='<div class=\"arena\" data-arena=\"'+a.base+'\"><h3>arena '+a.base+' &ndash; '+"
    "hx(a.a+D.pagesPerArena*P)+'</h3>';\n"
    " for(var i=0;i<rs.length;){var g=rs[i],j=i;\n"
    "  while(g.length===1&&g[0][2]<0&&j+1<rs.length&&rs[j+1].length===1&&rs[j+1][0][2]===g[0][2])"
    "j++;\n"
    "  if(j>i){var st=FS[-1-g[0][2]],n=(j-i+1)*R;h+='<div class=\"row\"><div class=\"c wide f-'+st+"
    "'\" style=\"width:100%\" data-state=\"'+st+'\" data-page=\"'+hx(a.a+i*R*P)+"
    "'\" data-pages=\"'+n+'\">'+n+' pages ('+mib(n)+') '+FN[st]+'</div></div>';i=j+1;continue;}\n"
    "  h+='<div class=\"row\">'+g.map(function(x){return cell(a,x,R);}).join('')+'</div>';i++;}\n"
    " h+='</div>';});$('arenas').innerHTML=h;mark(sel);}\n"
    "function txt(b){var t='';for(var i=0;i<b.length;i+=8)t+=b.substr(i,8)+(i%32===24?'\\n':' ');"
    "return t;}\n"
    "function grid(b,c,fi,fb){var h='<div class=\"g\">';for(var i=0;i<b.length;i++)"
    "h+='<i class=\"'+(b[i]==='1'||i<fi?c:'')+(fb&&fb[i]==='1'?' p':'')+(i===fi?' x':'')+"
    "'\" title=\"slot '+i+'\"></i>';return h+'</div>';}\n"
    "function sweep(s){var h=D.stats.sweepgen;return s.gckind?' (heap '+h+': '+"
    "(s.sweepgen===h?'swept':s.sweepgen===h-2?'needs sweeping':s.sweepgen===h-1?"
    "'being swept':'?')+')':'';}\n"
    "function show(i){var s=S[i],t=[['base',s.base],['npages',s.npages,' ('+s.npages*P/1024+"
    "' KiB)'],['state',s.state],['sizeclass',s.sizeclass,s.sizeclass?'':' (large)'],"
    "['spanclass',s.spanclass,s.noscan?' (noscan)':' (scan)'],['elemsize',s.elemsize],"
    "['nelems',s.nelems],['alloc',s.alloc,' allocated'],['pending',s.pending,' freed, not yet "
    "folded'],['live',live(s)],['freeindex',s.freeindex],['allocCache',s.allocCache],"
    "['gckind',s.gckind,' ('+GK[s.gckind]+')'],['sweepgen',s.sweepgen,sweep(s)],"
    "['needzero',s.needzero]],h='<h3>span '+s.base+'</h3><table>';\n"
    " t.forEach(function(r){h+='<tr data-k=\"'+r[0]+'\" data-v=\"'+r[1]+'\"><th>'+r[0]+"
    "'</th><td>'+r[1]+(r[2]||'')+'</td></tr>';});\n"
    " h+='</table><h4>allocBits</h4><small>&#9632; allocated (or below freeindex), <span "
    "style=\"color:#e33\">&#9632;</span> freed, not yet folded, orange outline: freeindex"
    "</small>'+grid(s.allocBits,'a',s.spanclass<2?0:s.freeindex,s.freedBits)+"
    "'<pre data-k=\"allocBits\">'+txt(s.allocBits)+'</pre>';\n"
    " if(s.pending)h+='<h4>freed, not yet folded</h4><pre data-k=\"freedBits\">'+"
    "txt(s.freedBits)+'</pre>';\n"
    " if(s.gckind)h+='<h4>gcmarkBits ('+GK[s.gckind]+')</h4>'+grid(s.gcmarkBits,'m',-1)+"
    "'<pre data-k=\"gcmarkBits\">'+txt(s.gcmarkBits)+'</pre>';\n"
    " var d=$('detail');d.innerHTML=h;d.setAttribute('data-span',s.base);}\n"
    "function hover(t){var d=t.dataset;if(d.i!==undefined)show(+d.i);else if(d.state)"
    "$('detail').innerHTML='<h3>'+d.pages+' pages '+FN[d.state]+'</h3><p>from '+d.page+'</p>';}\n"
    "function mark(i){sel=i;document.querySelectorAll('.sel').forEach(function(c){"
    "c.classList.remove('sel');});if(i>=0)document.querySelectorAll('[data-i=\"'+i+'\"]')"
    ".forEach(function(c){c.classList.add('sel');});}\n"
    "function find(a){var lo=0,hi=S.length-1,r=-1;while(lo<=hi){var m=(lo+hi)>>1;"
    "if(S[m].a<=a){r=m;lo=m+1;}else hi=m-1;}return r>=0&&a<S[r].a+S[r].npages*P?r:-1;}\n"
    "function go(v){var i=find(parseInt(v,16));if(i<0){$('detail').innerHTML='<p>'+"
    "v.replace(/[<&]/g,'')+' is in no span</p>';return;}pin=i;show(i);mark(i);"
    "var c=document.querySelector('[data-i=\"'+i+'\"]');if(c)c.scrollIntoView({block:'center'});}\n"
    "var A=$('arenas');A.addEventListener('mouseover',function(e){if(pin<0)hover(e.target);});\n"
    "A.addEventListener('click',function(e){var d=e.target.dataset;if(d.i===undefined){pin=-1;"
    "mark(-1);hover(e.target);return;}var i=+d.i;pin=pin===i?-1:i;show(i);mark(pin);});\n"
    "$('find').addEventListener('change',function(){go(this.value);});\n"
    "$('ppr').addEventListener('change',render);\n"
    "summary();legend();render();if(location.hash.length>1)go(location.hash.slice(1));\n"
    "document.body.dataset.ready='1';})();\n</script>\n</body></html>\n";

int gm_write_heap_map(int fd) {
    gm__ensure_init();
    hm_snap sn;
    size_t size;
    char *mem = snap_take(&sn, &size);
    if (!mem) {
        errno = ENOMEM;
        return -1;
    }
    hm_out o = {fd, 0, mem, 0};
    out_s(&o, page_head);
    emit_json(&o, &sn);
    out_s(&o, page_script);
    out_flush(&o);
    gm__sys_free(mem, size);
    if (o.err) {
        errno = o.err;
        return -1;
    }
    return 0;
}
