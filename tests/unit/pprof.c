/* The heap profile writer (pprof.c, symtab.c): a gzipped profile.proto
 * with Go's heap sample types, values unsampled as Go's scaleHeapSample,
 * stacks named in-process (C++ demangled), the program's build ID, and
 * gomalloc's leading frames dropped. Checked by decoding the bytes here
 * and, when a Go toolchain is installed, with `go tool pprof`. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mprof.h"
#include "test.h"

#define RATE 524288 /* Go's default MemProfileRate */

/* ---- functions whose addresses make the synthetic stacks ---------------- */

/* Eight nops: pc = &f + 5 (and pc - 1) lie inside f, endbr64 or not. */
#define BODY __asm__ volatile("nop; nop; nop; nop; nop; nop; nop; nop")
GM_NOINLINE __attribute__((used)) void pprof_leaf_site(void) { BODY; }
GM_NOINLINE __attribute__((used)) void pprof_mid_site(void) { BODY; }
GM_NOINLINE __attribute__((used)) void pprof_outer_site(void) { BODY; }
/* A C++ member function's symbol: foo::bar(). */
GM_NOINLINE __attribute__((used)) void cxx_site(void) __asm__("_ZN3foo3barEv");
void cxx_site(void) { BODY; }
/* An unnamed helper of the sampler, then allocation entry points named as
 * C++'s operator new(unsigned long) and glibc's __libc_malloc (local
 * symbols: the test never calls either, so nothing binds to them). */
static GM_NOINLINE __attribute__((used)) void sampler_helper(void) { BODY; }
static GM_NOINLINE __attribute__((used)) void fake_new(void) __asm__("_Znwm");
static void fake_new(void) { BODY; }
static GM_NOINLINE __attribute__((used)) void fake_libc_malloc(void) __asm__("__libc_malloc");
static void fake_libc_malloc(void) { BODY; }

#define PC(f) ((uintptr_t)(void (*)(void))(f) + 5)
#define GM_PC(f) ((uintptr_t)(f) + 5)

/* A C++ program's demangler: a C test has none unless libstdc++ is loaded. */
static bool have_demangler(void) {
    static int state; /* 0 unknown, 1 yes, -1 no */
    if (!state) {
        void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);
        state = h && dlsym(RTLD_DEFAULT, "__cxa_demangle") ? 1 : -1;
        if (state < 0) printf("  note: no libstdc++: names are checked mangled\n");
    }
    return state > 0;
}

static const char *cxx_name(void) {
    return have_demangler() ? "foo::bar()" : "_ZN3foo3barEv";
}

/* ---- writing, reading and inflating a profile --------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

static char tmpdir[] = "/tmp/gm_pprof_XXXXXX";
static bool tmpdir_made;

static const char *tmp_path(const char *name) {
    static char buf[PATH_MAX];
    if (!tmpdir_made && !mkdtemp(tmpdir)) abort();
    tmpdir_made = true;
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static bytes read_file(const char *path) {
    bytes b = {NULL, 0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) return b;
    struct stat st;
    fstat(fd, &st);
    b.p = malloc((size_t)st.st_size + 1);
    ssize_t r;
    while (b.p && (r = read(fd, b.p + b.n, (size_t)st.st_size + 1 - b.n)) > 0) b.n += (size_t)r;
    close(fd);
    return b;
}

static int write_profile(const char *path, const gm_mprof_record *recs, size_t n,
                         uint64_t rate) {
    have_demangler(); /* loaded before the writer looks for it */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    int rc = gm__pprof_write_heap(fd, recs, n, rate, 1700000000123456789ull);
    close(fd);
    return rc;
}

/* The gzip member inflated; p == NULL if it is not a valid gzip stream. */
static bytes gunzip(bytes in) {
    bytes out = {NULL, 0};
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) return out; /* gzip only */
    size_t cap = 1 << 16;
    out.p = malloc(cap);
    z.next_in = in.p;
    z.avail_in = (uInt)in.n;
    int rc;
    do {
        if (out.n == cap) out.p = realloc(out.p, cap *= 2);
        z.next_out = out.p + out.n;
        z.avail_out = (uInt)(cap - out.n);
        rc = inflate(&z, Z_NO_FLUSH);
        out.n = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.avail_in != 0) {
        free(out.p);
        out.p = NULL;
    }
    return out;
}

/* ---- a small profile.proto decoder (the fields the writer sets) --------- */

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static bool rd_varint(rd *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Next field: its number, and either its varint value or its bytes. */
static bool rd_field(rd *r, uint32_t *field, uint64_t *v, rd *sub) {
    uint64_t key;
    if (r->p >= r->end || !rd_varint(r, &key)) return false;
    *field = (uint32_t)(key >> 3);
    if ((key & 7) == 0) return rd_varint(r, v);
    if ((key & 7) != 2 || !rd_varint(r, v) || *v > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + *v;
    r->p += *v;
    return true;
}

#define MAXN 4096   /* samples */
#define MAXL 32768  /* locations, functions */
typedef struct dsample {
    uint64_t loc[GM_MPROF_MAX_STACK];
    int nloc;
    int64_t v[4];
    int nv;
    uint64_t label_key, label_num;
} dsample;
typedef struct dprof {
    char *str[MAXL * 2];
    int nstr;
    uint64_t st[4][2], pt[2], period, default_st, time_ns;
    int nst;
    dsample sample[MAXN];
    int nsample;
    struct { uint64_t id, mapping, address, func; } loc[MAXL];
    int nloc;
    struct { uint64_t id, name, system_name; } func[MAXL];
    int nfunc;
    struct { uint64_t id, start, limit, offset, file, build_id, has_functions; } map[256];
    int nmap;
    bool ok; /* every field parsed */
} dprof;

static void decode_value_type(rd r, uint64_t out[2]) {
    uint32_t f;
    uint64_t v;
    rd s;
    while (rd_field(&r, &f, &v, &s))
        if (f == 1 || f == 2) out[f - 1] = v;
}

static bool decode_packed(rd s, uint64_t *out, int max, int *n) {
    uint64_t v;
    while (s.p < s.end && *n < max && rd_varint(&s, &v)) out[(*n)++] = v;
    return s.p == s.end;
}

static bool decode_sample(rd r, dsample *d) {
    uint32_t f;
    uint64_t v, vals[4];
    rd s, l;
    while (rd_field(&r, &f, &v, &s)) {
        if (f == 1 && !decode_packed(s, d->loc, GM_MPROF_MAX_STACK, &d->nloc)) return false;
        if (f == 2 && !decode_packed(s, vals, 4, &d->nv)) return false;
        while (f == 3 && rd_field(&s, &f, &v, &l)) {
            if (f == 1) d->label_key = v;
            if (f == 3) d->label_num = v;
            f = 3;
        }
    }
    for (int i = 0; i < d->nv; i++) d->v[i] = (int64_t)vals[i];
    return r.p == r.end;
}

static void decode_location(rd r, dprof *d) {
    uint32_t f;
    uint64_t v;
    rd s, l;
    int i = d->nloc++;
    while (rd_field(&r, &f, &v, &s)) {
        if (f == 1) d->loc[i].id = v;
        if (f == 2) d->loc[i].mapping = v;
        if (f == 3) d->loc[i].address = v;
        while (f == 4 && rd_field(&s, &f, &v, &l)) {
            if (f == 1) d->loc[i].func = v;
            f = 4;
        }
    }
}

static void decode_other(uint32_t f, rd s, dprof *d) {
    uint32_t g;
    uint64_t v;
    rd x;
    if (f == 5) {
        int i = d->nfunc++;
        while (rd_field(&s, &g, &v, &x)) {
            if (g == 1) d->func[i].id = v;
            if (g == 2) d->func[i].name = v;
            if (g == 3) d->func[i].system_name = v;
        }
    } else if (f == 3) {
        int i = d->nmap++;
        uint64_t *fields[] = {NULL, &d->map[i].id, &d->map[i].start, &d->map[i].limit,
                              &d->map[i].offset, &d->map[i].file, &d->map[i].build_id,
                              &d->map[i].has_functions};
        while (rd_field(&s, &g, &v, &x))
            if (g >= 1 && g <= 7) *fields[g] = v;
    } else if (f == 6) {
        d->str[d->nstr++] = strndup((const char *)s.p, (size_t)(s.end - s.p));
    }
}

static dprof *decode(bytes pb) {
    dprof *d = calloc(1, sizeof *d);
    rd r = {pb.p, pb.p + pb.n}, s;
    uint32_t f;
    uint64_t v;
    d->ok = true;
    while (r.p < r.end) {
        if (!rd_field(&r, &f, &v, &s) || d->nsample == MAXN || d->nloc == MAXL ||
            d->nfunc == MAXL || d->nmap == 256 || d->nstr == 2 * MAXL) {
            d->ok = false;
            break;
        }
        if (f == 1 && d->nst < 4) decode_value_type(s, d->st[d->nst++]);
        else if (f == 2) d->ok &= decode_sample(s, &d->sample[d->nsample++]);
        else if (f == 4) decode_location(s, d);
        else if (f == 9) d->time_ns = v;
        else if (f == 11) decode_value_type(s, d->pt);
        else if (f == 12) d->period = v;
        else if (f == 14) d->default_st = v;
        else decode_other(f, s, d);
    }
    return d;
}

static void dprof_free(dprof *d) {
    for (int i = 0; i < d->nstr; i++) free(d->str[i]);
    free(d);
}

static const char *S(const dprof *d, uint64_t i) {
    return i < (uint64_t)d->nstr ? d->str[i] : "<bad string index>";
}

/* The name of frame i of sample s ("<none>" when it does not resolve). */
static const char *frame_name(const dprof *d, const dsample *s, int i) {
    for (int l = 0; l < d->nloc; l++) {
        if (d->loc[l].id != s->loc[i]) continue;
        for (int f = 0; f < d->nfunc; f++)
            if (d->func[f].id == d->loc[l].func) return S(d, d->func[f].name);
    }
    return "<none>";
}

/* Writes recs at rate, reads the file back, checks it is gzip, decodes. */
static dprof *roundtrip(const gm_mprof_record *recs, size_t n, uint64_t rate) {
    const char *path = tmp_path("p.pb.gz");
    if (write_profile(path, recs, n, rate) != 0) return NULL;
    bytes gz = read_file(path), pb = gunzip(gz);
    dprof *d = pb.p ? decode(pb) : NULL;
    free(gz.p);
    free(pb.p);
    return d;
}

/* Go's scaleHeapSample, computed here independently of the writer. */
static void expect_scaled(uint64_t count, uint64_t size, uint64_t rate, int64_t out[2]) {
    if (count == 0 || size == 0) {
        out[0] = out[1] = 0;
    } else if (rate <= 1) {
        out[0] = (int64_t)count, out[1] = (int64_t)size;
    } else {
        double scale = 1 / (1 - exp(-((double)size / (double)count) / (double)rate));
        out[0] = (int64_t)((double)count * scale);
        out[1] = (int64_t)((double)size * scale);
    }
}

/* ---- tests ------------------------------------------------------------ */

static const uintptr_t user_stack[3] = {PC(pprof_leaf_site), PC(pprof_mid_site), PC(cxx_site)};

TEST(profile_is_gzip_of_a_profile_with_go_heap_sample_types) {
    gm_mprof_record r = {user_stack, 3, 64, 10, 640, 4, 256};
    const char *path = tmp_path("header.pb.gz");
    REQUIRE(write_profile(path, &r, 1, RATE) == 0);
    bytes gz = read_file(path);
    REQUIRE(gz.n > 18);
    CHECK(gz.p[0] == 0x1f && gz.p[1] == 0x8b); /* gzip magic */
    bytes pb = gunzip(gz);
    REQUIRE(pb.p);
    CHECK_EQ(pb.p[0], 1 << 3 | 2); /* starts with field 1 (sample_type), bytes */
    dprof *d = decode(pb);
    CHECK(d->ok);
    REQUIRE(d->nstr > 0 && d->nst == 4);
    CHECK(strcmp(d->str[0], "") == 0);
    const char *want[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                              {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    for (int i = 0; i < 4; i++) {
        CHECK(strcmp(S(d, d->st[i][0]), want[i][0]) == 0);
        CHECK(strcmp(S(d, d->st[i][1]), want[i][1]) == 0);
    }
    CHECK(strcmp(S(d, d->pt[0]), "space") == 0 && strcmp(S(d, d->pt[1]), "bytes") == 0);
    CHECK_EQ(d->period, RATE);
    CHECK(strcmp(S(d, d->default_st), "inuse_space") == 0);
    CHECK_EQ(d->time_ns, 1700000000123456789ull);
    CHECK_EQ(d->nsample, 1);
    dprof_free(d);
    free(gz.p);
    free(pb.p);
}

TEST(values_are_unsampled_as_go_scale_heap_sample) {
    gm_mprof_record r[4] = {
        {user_stack, 3, 64, 10, 640, 4, 256},               /* small, some freed */
        {user_stack, 2, 1 << 20, 3, 3 << 20, 1, 1 << 20},   /* larger than the rate */
        {user_stack, 1, 4096, 7, 7 * 4096, 7, 7 * 4096},    /* all freed */
        {user_stack + 1, 2, 24, 0, 0, 0, 0},                /* nothing yet */
    };
    dprof *d = roundtrip(r, 4, RATE);
    REQUIRE(d && d->ok && d->nsample == 4);
    for (int i = 0; i < 4; i++) {
        int64_t alloc[2], inuse[2];
        expect_scaled(r[i].alloc_objects, r[i].alloc_bytes, RATE, alloc);
        expect_scaled(r[i].alloc_objects - r[i].free_objects,
                      r[i].alloc_bytes - r[i].free_bytes, RATE, inuse);
        const dsample *s = &d->sample[i];
        CHECK_EQ(s->nv, 4);
        CHECK_EQ(s->v[0], alloc[0]);
        CHECK_EQ(s->v[1], alloc[1]);
        CHECK_EQ(s->v[2], inuse[0]);
        CHECK_EQ(s->v[3], inuse[1]);
        CHECK(strcmp(S(d, s->label_key), "bytes") == 0);
        CHECK_EQ(s->label_num, r[i].size);
    }
    /* The formula by hand: 64-byte objects are kept with probability
     * 1 - exp(-64/524288), so 10 samples stand for 81925 objects. */
    CHECK_EQ(d->sample[0].v[0], 81925);
    CHECK_EQ(d->sample[0].v[1], 81925 * 64);
    CHECK_EQ(d->sample[2].v[2], 0);
    dprof_free(d);
}

TEST(rate_one_reports_every_allocation_unscaled) {
    gm_mprof_record r = {user_stack, 3, 48, 5, 240, 2, 96};
    dprof *d = roundtrip(&r, 1, 1);
    REQUIRE(d && d->ok && d->nsample == 1);
    CHECK_EQ(d->period, 1);
    int64_t want[4] = {5, 240, 3, 144};
    for (int i = 0; i < 4; i++) CHECK_EQ(d->sample[0].v[i], want[i]);
    dprof_free(d);
}

TEST(frames_are_named_after_the_functions_holding_them_innermost_first) {
    gm_mprof_record r = {user_stack, 3, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nsample == 1 && d->sample[0].nloc == 3);
    CHECK(strcmp(frame_name(d, &d->sample[0], 0), "pprof_leaf_site") == 0);
    CHECK(strcmp(frame_name(d, &d->sample[0], 1), "pprof_mid_site") == 0);
    CHECK(strcmp(frame_name(d, &d->sample[0], 2), cxx_name()) == 0);
    /* The C++ function keeps its symbol as the system name. */
    for (int f = 0; f < d->nfunc; f++)
        if (strcmp(S(d, d->func[f].name), cxx_name()) == 0)
            CHECK(strcmp(S(d, d->func[f].system_name), "_ZN3foo3barEv") == 0);
    /* Addresses are the call instructions' (return address - 1), in the
     * program's mapping (the first), which says its names are resolved. */
    for (int l = 0; l < d->nloc; l++) {
        CHECK_EQ(d->loc[l].mapping, 1);
        CHECK(d->loc[l].address == user_stack[0] - 1 || d->loc[l].address == user_stack[1] - 1 ||
              d->loc[l].address == user_stack[2] - 1);
    }
    REQUIRE(d->nmap > 0);
    CHECK_EQ(d->map[0].has_functions, 1);
    CHECK(d->map[0].start <= user_stack[0] && user_stack[0] < d->map[0].limit);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    REQUIRE(n > 0);
    exe[n] = 0;
    CHECK(strcmp(S(d, d->map[0].file), exe) == 0);
    dprof_free(d);
}

TEST(addresses_outside_any_object_are_named_by_their_address) {
    uintptr_t stack[2] = {0x1001, PC(pprof_leaf_site)};
    gm_mprof_record r = {stack, 2, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nsample == 1 && d->sample[0].nloc == 2);
    CHECK(strcmp(frame_name(d, &d->sample[0], 0), "0x1000") == 0);
    CHECK(strcmp(frame_name(d, &d->sample[0], 1), "pprof_leaf_site") == 0);
    dprof_free(d);
}

TEST(leading_gomalloc_frames_are_dropped) {
    /* A sampled allocation's stack: the sampler's helper, gomalloc's entry
     * points (gm_*, operator new, __libc_malloc), then the program. */
    uintptr_t stack[7] = {PC(sampler_helper), GM_PC(gm_malloc), GM_PC(gm__pprof_write_heap),
                          PC(fake_new), PC(fake_libc_malloc), PC(pprof_leaf_site),
                          PC(pprof_mid_site)};
    gm_mprof_record r = {stack, 7, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nsample == 1);
    CHECK_EQ(d->sample[0].nloc, 2);
    CHECK(strcmp(frame_name(d, &d->sample[0], 0), "pprof_leaf_site") == 0);
    CHECK(strcmp(frame_name(d, &d->sample[0], 1), "pprof_mid_site") == 0);
    /* Dropped frames leave no Location or Function behind. */
    CHECK_EQ(d->nloc, 2);
    CHECK_EQ(d->nfunc, 2);
    dprof_free(d);
}

TEST(gomalloc_frames_deeper_in_a_program_stack_are_kept) {
    /* Not an allocator's stack: program frames first, gomalloc later (a
     * callback from a gm_ container, say). Nothing is dropped. */
    uintptr_t stack[6] = {PC(pprof_leaf_site), PC(pprof_mid_site), PC(pprof_outer_site),
                          PC(cxx_site), GM_PC(gm_malloc), PC(pprof_outer_site) + 1};
    gm_mprof_record r = {stack, 6, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nsample == 1);
    CHECK_EQ(d->sample[0].nloc, 6);
    CHECK(strcmp(frame_name(d, &d->sample[0], 4), "gm_malloc") == 0);
    dprof_free(d);
}

TEST(a_stack_of_only_gomalloc_frames_keeps_its_outermost_one) {
    uintptr_t stack[2] = {GM_PC(gm_malloc), GM_PC(gm_free)};
    gm_mprof_record r = {stack, 2, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nsample == 1);
    CHECK_EQ(d->sample[0].nloc, 1);
    CHECK(strcmp(frame_name(d, &d->sample[0], 0), "gm_free") == 0);
    dprof_free(d);
}

TEST(locations_are_shared_by_address_and_functions_by_name) {
    uintptr_t a[2] = {PC(pprof_leaf_site), PC(pprof_mid_site)};
    uintptr_t b[2] = {PC(pprof_leaf_site) + 2, PC(pprof_mid_site)}; /* same function */
    gm_mprof_record r[3] = {{a, 2, 64, 1, 64, 0, 0}, {b, 2, 64, 1, 64, 0, 0},
                            {a, 2, 128, 1, 128, 0, 0}};
    dprof *d = roundtrip(r, 3, RATE);
    REQUIRE(d && d->ok && d->nsample == 3);
    CHECK_EQ(d->nloc, 3);
    CHECK_EQ(d->nfunc, 2);
    CHECK_EQ(d->sample[0].loc[0], d->sample[2].loc[0]);
    CHECK(d->sample[0].loc[0] != d->sample[1].loc[0]);
    CHECK_EQ(d->sample[0].loc[1], d->sample[1].loc[1]);
    for (int l = 0; l < d->nloc; l++) CHECK(d->loc[l].id != 0 && d->loc[l].func != 0);
    dprof_free(d);
}

/* The program's GNU build ID, read from its ELF file's note sections
 * (the writer reads it from memory); "" if it has none. */
static void file_build_id(char *out) {
    out[0] = 0;
    bytes f = read_file("/proc/self/exe");
    if (f.n < sizeof(Elf64_Ehdr)) return;
    const Elf64_Ehdr *eh = (const void *)f.p;
    for (int i = 0; i < eh->e_shnum; i++) {
        const Elf64_Shdr *sh = (const void *)(f.p + eh->e_shoff + (size_t)i * sizeof *sh);
        if (sh->sh_type != SHT_NOTE) continue;
        const uint8_t *p = f.p + sh->sh_offset, *end = p + sh->sh_size;
        while (p + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = (const void *)p;
            const uint8_t *desc = p + sizeof *nh + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && memcmp(p + sizeof *nh, "GNU", 4) == 0) {
                for (unsigned k = 0; k < nh->n_descsz; k++) sprintf(out + 2 * k, "%02x", desc[k]);
                free(f.p);
                return;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    free(f.p);
}

TEST(program_mapping_carries_its_build_id) {
    char want[200];
    file_build_id(want);
    if (!want[0]) printf("  note: this test binary has no GNU build ID\n");
    gm_mprof_record r = {user_stack, 1, 64, 1, 64, 0, 0};
    dprof *d = roundtrip(&r, 1, RATE);
    REQUIRE(d && d->ok && d->nmap > 0);
    CHECK(strcmp(S(d, d->map[0].build_id), want) == 0);
    /* Every mapping is named, and ids are 1..n. */
    for (int i = 0; i < d->nmap; i++) {
        CHECK_EQ(d->map[i].id, (uint64_t)i + 1);
        CHECK(d->map[i].start < d->map[i].limit);
    }
    dprof_free(d);
}

/* A profile larger than the writer's 64 KiB chunks, made of addresses
 * outside every object (each a distinct function). */
static gm_mprof_record *big_records(size_t n, uintptr_t **stacks) {
    gm_mprof_record *r = calloc(n, sizeof *r);
    *stacks = calloc(n * 8, sizeof **stacks);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 8; k++) (*stacks)[i * 8 + k] = 0x100000 + i * 64 + (uintptr_t)k * 8;
        r[i] = (gm_mprof_record){*stacks + i * 8, 8, 32, i + 1, 32 * (i + 1), i / 2,
                                 32 * (i / 2)};
    }
    return r;
}

typedef struct drain { int fd; bytes got; } drain;

static void *drain_pipe(void *arg) {
    drain *dr = arg;
    size_t cap = 1 << 16;
    dr->got.p = malloc(cap);
    ssize_t r;
    for (;;) {
        if (dr->got.n == cap) dr->got.p = realloc(dr->got.p, cap *= 2);
        r = read(dr->fd, dr->got.p + dr->got.n, cap - dr->got.n < 1000 ? cap - dr->got.n : 1000);
        if (r <= 0) break;
        dr->got.n += (size_t)r;
    }
    return NULL;
}

TEST(large_profile_streams_through_a_slow_pipe_intact) {
    uintptr_t *stacks;
    size_t n = 3000;
    gm_mprof_record *r = big_records(n, &stacks);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    drain dr = {fds[0], {NULL, 0}};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, drain_pipe, &dr) == 0);
    CHECK_EQ(gm__pprof_write_heap(fds[1], r, n, RATE, 1), 0);
    close(fds[1]);
    pthread_join(t, NULL);
    close(fds[0]);
    bytes pb = gunzip(dr.got);
    REQUIRE(pb.p);
    CHECK(pb.n > 4 * (64 << 10));
    dprof *d = decode(pb);
    CHECK(d->ok);
    CHECK_EQ(d->nsample, n);
    CHECK_EQ(d->nloc, n * 8);
    CHECK(strncmp(frame_name(d, &d->sample[n - 1], 7), "0x", 2) == 0);
    dprof_free(d);
    free(pb.p);
    free(dr.got.p);
    free(r);
    free(stacks);
}

TEST(write_errors_are_returned_with_errno) {
    gm_mprof_record r = {user_stack, 3, 64, 1, 64, 0, 0};
    errno = 0;
    CHECK_EQ(gm__pprof_write_heap(-1, &r, 1, RATE, 0), -1);
    CHECK_EQ(errno, EBADF);
    int fd = open(tmp_path("ro"), O_RDONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(gm__pprof_write_heap(fd, &r, 1, RATE, 0), -1);
    CHECK_EQ(errno, EBADF);
    close(fd);
}

TEST(an_empty_profile_is_valid) {
    dprof *d = roundtrip(NULL, 0, RATE);
    REQUIRE(d && d->ok);
    CHECK_EQ(d->nsample, 0);
    CHECK_EQ(d->nst, 4);
    dprof_free(d);
}

/* ---- go tool pprof ----------------------------------------------------- */

static bool find_go(char *out, size_t cap) {
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/local/go/bin:/usr/lib/go/bin", path ? path : "");
    for (char *save, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/go", dir);
        if (access(out, X_OK) == 0) return true;
    }
    return false;
}

/* Runs `go tool pprof ARGS FILE` into a string (caller frees). pprof keeps
 * state under $HOME and PPROF_TMPDIR: both are the test's temporary
 * directory; the build cache stays the user's (pprof is built once). */
static char *run_pprof(const char *go, const char *args, const char *file) {
    char cache[PATH_MAX] = "", cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' env GOCACHE", go);
    FILE *p = popen(cmd, "r");
    if (p && fgets(cache, sizeof cache, p)) cache[strcspn(cache, "\n")] = 0;
    if (p) pclose(p);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HOME='%s' PPROF_TMPDIR='%s' PPROF_BINARY_PATH='%s' GOCACHE='%s' "
             "'%s' tool pprof %s '%s' > pprof.out 2>&1",
             tmpdir, tmpdir, tmpdir, tmpdir, cache, go, args, file);
    int rc = system(cmd);
    bytes out = read_file(tmp_path("pprof.out"));
    if (!out.p) return NULL;
    out.p[out.n] = 0;
    if (rc != 0) fprintf(stderr, "  go tool pprof %s failed:\n%s\n", args, out.p);
    return (char *)out.p;
}

/* True if text has the tokens of want in sequence, whitespace aside. */
static bool has_tokens(const char *text, const char *want) {
    for (const char *t = text; (t = strchr(t, want[0])) != NULL; t++) {
        const char *a = t, *b = want;
        while (*b) {
            if (*b == ' ') {
                if (*a != ' ' && *a != '\t') break;
                while (*a == ' ' || *a == '\t') a++;
                while (*b == ' ') b++;
            } else if (*a++ != *b++) {
                break;
            }
        }
        if (!*b) return true;
    }
    return false;
}

TEST(go_tool_pprof_reads_values_names_and_build_id) {
    char go[PATH_MAX];
    if (!find_go(go, sizeof go)) {
        printf("  note: SKIPPED: no go binary on PATH or in /usr/local/go/bin\n");
        return;
    }
    uintptr_t gm_stack[5] = {GM_PC(gm_malloc), PC(fake_libc_malloc), PC(pprof_leaf_site),
                             PC(pprof_mid_site), PC(cxx_site)};
    uintptr_t other[2] = {PC(pprof_outer_site), PC(cxx_site)};
    gm_mprof_record r[2] = {{gm_stack, 5, 64, 10, 640, 4, 256},
                            {other, 2, 1 << 20, 3, 3 << 20, 1, 1 << 20}};
    const char *file = "heap.pb.gz";
    REQUIRE(write_profile(tmp_path(file), r, 2, RATE) == 0);

    char *raw = run_pprof(go, "-raw", file);
    REQUIRE(raw);
    CHECK(strstr(raw, "PeriodType: space bytes"));
    CHECK(strstr(raw, "Period: 524288"));
    CHECK(has_tokens(raw, "alloc_objects/count alloc_space/bytes inuse_objects/count "
                          "inuse_space/bytes"));
    char line[200];
    for (int i = 0; i < 2; i++) {
        int64_t a[2], u[2];
        expect_scaled(r[i].alloc_objects, r[i].alloc_bytes, RATE, a);
        expect_scaled(r[i].alloc_objects - r[i].free_objects, r[i].alloc_bytes - r[i].free_bytes,
                      RATE, u);
        snprintf(line, sizeof line, " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 ":", a[0],
                 a[1], u[0], u[1]);
        CHECK(has_tokens(raw, line));
        snprintf(line, sizeof line, "bytes:[%" PRIu64 "]", r[i].size);
        CHECK(strstr(raw, line));
    }
    CHECK(strstr(raw, "pprof_leaf_site") && strstr(raw, "pprof_mid_site"));
    CHECK(strstr(raw, cxx_name()));
    CHECK(!strstr(raw, "gm_malloc") && !strstr(raw, "__libc_malloc"));
    char id[200];
    file_build_id(id);
    if (id[0]) CHECK(strstr(raw, id));

    char *top = run_pprof(go, "-top -sample_index=alloc_space", file);
    REQUIRE(top);
    /* cxx_site is in both stacks: the cumulative column holds everything. */
    CHECK(strstr(top, "pprof_leaf_site") && strstr(top, "pprof_outer_site"));
    CHECK(strstr(top, cxx_name()));
    CHECK(!strstr(top, "gm_malloc"));
    if (gm_test_failed_current) fprintf(stderr, "%s\n%s\n", raw, top);
    free(raw);
    free(top);
}

__attribute__((destructor)) static void remove_tmpdir(void) {
    if (!tmpdir_made) return;
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

TEST_MAIN()
