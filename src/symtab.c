/*
 * In-process symbolization for the heap profile (mprof.c's essay; the
 * allocator's overview is at the top of malloc.c): which loaded object an
 * address belongs to, and the name of the function that contains it, so
 * that `go tool pprof -top` needs none of the binaries.
 *
 * Mappings come from dl_iterate_phdr: one per executable PT_LOAD segment
 * of each loaded object, with the object's GNU build ID read from its
 * PT_NOTE segments in memory. Function names come from the object's file
 * on disk: .symtab when the file has one (else the separate debug file
 * /usr/lib/debug/.build-id/xx/yyyy.debug when installed, else .dynsym),
 * keeping the STT_FUNC and STT_GNU_IFUNC symbols, sorted by address. An
 * address takes the name of the symbol that contains it; one that no
 * symbol contains is named by its object and link-time address
 * ("libstdc++.so.6+0xa57b9", for addr2line), or "0x7f..." outside every
 * object. An object's symbols are read at its first lookup only, so a
 * profile pays for the objects its stacks touch. Names are read from the file with
 * pread at lookup (only the ones used are ever in memory). C++ names are
 * demangled by the program's own __cxa_demangle when one is loaded: the
 * library is C and does not link libstdc++.
 *
 * Invariants: a table is owned by one thread (the profile writer) from
 * open to close; every file descriptor and allocation it makes is
 * released by close. Malformed ELF files give no symbols, never a crash.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mprof.h"

#define BUILD_ID_MAX 64          /* bytes; GNU build IDs are 20 (SHA-1) */
#define NAME_MAX_BYTES (1 << 20) /* longest symbol name read from a file */
#define SYMS_CHUNK 1024          /* ElfW(Sym)s read per pread */

typedef struct sym {
    uint64_t addr, size; /* link-time address (st_value) and st_size */
    uint32_t name;       /* offset in the string table */
    uint8_t rank;        /* among symbols at one address, lower wins */
} sym;

/* One loaded object. Its symbols are loaded on first lookup. */
typedef struct object {
    uintptr_t bias;       /* dlpi_addr: runtime address - link-time address */
    char *filename;       /* for the profile: the program's real path, "[vdso]" */
    char *path;           /* file to read symbols from; NULL: none (vdso) */
    char *build_id;       /* lowercase hex, "" when none */
    int state;            /* 0 not loaded, 1 loaded, -1 no symbols */
    int fd;               /* the file whose strtab names the syms; -1 */
    uint64_t str_off, str_size; /* the string table in that file */
    sym *syms;
    size_t nsyms;
} object;

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

struct gm_symtab {
    gm_symtab_mapping *maps;
    size_t nmaps, capmaps;
    object *objs;
    size_t nobjs, capobjs;
    uintptr_t self;      /* an address inside gomalloc's own code */
    demangle_fn demangle; /* __cxa_demangle of the program, or NULL */
    char *name;          /* the last name read from a file */
    size_t name_cap;
    char *dm;            /* the demangler's buffer (it reallocs it) */
    size_t dm_cap;
    char fmt[PATH_MAX + 64]; /* names of unresolved addresses */
    bool oom;            /* an allocation failed while opening */
};

/* ---- small helpers ---------------------------------------------------- */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void to_hex(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* pread all of n bytes at off, retrying short reads and EINTR. */
static bool read_at(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

/* ---- loaded objects (dl_iterate_phdr) ----------------------------------- */

/* The GNU build ID in a PT_NOTE segment mapped at p (n bytes), as hex
 * into out (2 * BUILD_ID_MAX + 1 bytes); false if there is none. */
static bool note_build_id(const uint8_t *p, size_t n, size_t align, char *out) {
    size_t off = 0;
    while (off + sizeof(ElfW(Nhdr)) <= n) {
        ElfW(Nhdr) h;
        memcpy(&h, p + off, sizeof h);
        size_t name = off + sizeof h;
        size_t desc = name + ((h.n_namesz + align - 1) & ~(align - 1));
        size_t next = desc + ((h.n_descsz + align - 1) & ~(align - 1));
        if (desc > n || h.n_descsz > n - desc) return false;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 &&
            memcmp(p + name, "GNU", 4) == 0 && h.n_descsz <= BUILD_ID_MAX) {
            to_hex(p + desc, h.n_descsz, out);
            return true;
        }
        off = next;
    }
    return false;
}

static void object_build_id(const struct dl_phdr_info *info, char *out) {
    out[0] = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        if (note_build_id(p, ph->p_memsz, ph->p_align == 8 ? 8 : 4, out)) return;
    }
}

static bool is_vdso(const struct dl_phdr_info *info) {
    uintptr_t ehdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    uintptr_t ph = (uintptr_t)info->dlpi_phdr;
    return ehdr && ph >= ehdr && ph < ehdr + 4096;
}

/* The object's filename for the profile and the file to read its
 * symbols from (NULL: none). */
static bool object_names(gm_symtab *t, const struct dl_phdr_info *info, object *o) {
    const char *file = info->dlpi_name, *path = info->dlpi_name;
    char exe[PATH_MAX];
    if (o == &t->objs[0]) { /* dl_iterate_phdr reports the program first */
        ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[r > 0 ? r : 0] = 0;
        file = exe;
        path = "/proc/self/exe"; /* right even if the file moved since */
    } else if (is_vdso(info)) {
        file = "[vdso]"; /* pprof knows not to look for this one */
        path = "";
    }
    o->filename = dup_str(file);
    o->path = path[0] ? dup_str(path) : NULL;
    return o->filename && (o->path || !path[0]);
}

static bool add_mapping(gm_symtab *t, const gm_symtab_mapping *m) {
    if (t->nmaps == t->capmaps) {
        size_t cap = t->capmaps ? 2 * t->capmaps : 32;
        gm_symtab_mapping *p = realloc(t->maps, cap * sizeof *p);
        if (!p) return false;
        t->maps = p;
        t->capmaps = cap;
    }
    t->maps[t->nmaps++] = *m;
    return true;
}

/* One mapping per executable segment, page-aligned as /proc/self/maps
 * shows it (pprof relates addresses to file offsets through them). */
static bool object_mappings(gm_symtab *t, const struct dl_phdr_info *info, size_t obj) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t end = start + ph->p_memsz;
        gm_symtab_mapping m = {
            .start = start & ~(page - 1),
            .limit = (end + page - 1) & ~(page - 1),
            .offset = ph->p_offset & ~(uint64_t)(page - 1),
            .filename = t->objs[obj].filename,
            .build_id = t->objs[obj].build_id,
            .object = obj,
        };
        /* gomalloc as a shared library: its frames are the allocator's. */
        m.gomalloc = obj > 0 && t->self >= start && t->self < end;
        if (!add_mapping(t, &m)) return false;
    }
    return true;
}

/* dl_iterate_phdr's callback (the loader's lock is held: it may allocate,
 * as glibc allows, but must not load or unload objects). */
static int collect_object(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    gm_symtab *t = arg;
    if (t->nobjs == t->capobjs) {
        size_t cap = t->capobjs ? 2 * t->capobjs : 16;
        object *p = realloc(t->objs, cap * sizeof *p);
        if (!p) goto oom;
        t->objs = p;
        t->capobjs = cap;
    }
    object *o = &t->objs[t->nobjs];
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->bias = info->dlpi_addr;
    t->nobjs++; /* counted now so that close frees what was allocated */
    char id[2 * BUILD_ID_MAX + 1];
    object_build_id(info, id);
    if (!object_names(t, info, o) || !(o->build_id = dup_str(id))) goto oom;
    if (!object_mappings(t, info, t->nobjs - 1)) goto oom;
    return 0;
oom:
    t->oom = true;
    return 1;
}

gm_symtab *gm__symtab_open(void) {
    gm_symtab *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->self = (uintptr_t)&gm__symtab_open;
    /* A C++ program's demangler, found at run time: no libstdc++ link. */
    t->demangle = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    dl_iterate_phdr(collect_object, t);
    if (t->oom) {
        gm__symtab_close(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

void gm__symtab_close(gm_symtab *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nobjs; i++) {
        object *o = &t->objs[i];
        if (o->fd >= 0) close(o->fd);
        free(o->filename);
        free(o->path);
        free(o->build_id);
        free(o->syms);
    }
    free(t->objs);
    free(t->maps);
    free(t->name);
    free(t->dm);
    free(t);
}

size_t gm__symtab_mappings(const gm_symtab *t, const gm_symtab_mapping **maps) {
    *maps = t->maps;
    return t->nmaps;
}

/* ---- an object's function symbols (from its ELF file) ------------------ */

typedef struct elf_file {
    int fd;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh; /* e_shnum section headers */
} elf_file;

static bool elf_open(const char *path, elf_file *f) {
    f->sh = NULL;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return false;
    struct stat st;
    size_t shsize = 0;
    if (fstat(f->fd, &st) != 0 || !read_at(f->fd, &f->eh, sizeof f->eh, 0)) goto bad;
    if (memcmp(f->eh.e_ident, ELFMAG, SELFMAG) != 0 || f->eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        f->eh.e_shentsize != sizeof(ElfW(Shdr)) || f->eh.e_shnum == 0)
        goto bad;
    shsize = (size_t)f->eh.e_shnum * sizeof(ElfW(Shdr));
    if (f->eh.e_shoff > (uint64_t)st.st_size || shsize > (uint64_t)st.st_size - f->eh.e_shoff)
        goto bad;
    f->sh = malloc(shsize);
    if (!f->sh || !read_at(f->fd, f->sh, shsize, f->eh.e_shoff)) goto bad;
    return true;
bad:
    free(f->sh);
    f->sh = NULL;
    close(f->fd);
    f->fd = -1;
    return false;
}

static void elf_close(elf_file *f) {
    free(f->sh);
    if (f->fd >= 0) close(f->fd);
}

/* The first section of type `type` whose string table link is valid. */
static const ElfW(Shdr) *elf_section(const elf_file *f, uint32_t type) {
    for (size_t i = 0; i < f->eh.e_shnum; i++) {
        const ElfW(Shdr) *s = &f->sh[i];
        if (s->sh_type == type && s->sh_entsize == sizeof(ElfW(Sym)) &&
            s->sh_link < f->eh.e_shnum && f->sh[s->sh_link].sh_type == SHT_STRTAB)
            return s;
    }
    return NULL;
}

/* Among symbols at one address: sized before unsized, then global, weak,
 * local (an alias exported under a public name reads best). */
static uint8_t sym_rank(const ElfW(Sym) *s) {
    unsigned bind = ELF64_ST_BIND(s->st_info);
    uint8_t r = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
    return (uint8_t)(r + (s->st_size ? 0 : 4));
}

static bool keep_sym(const ElfW(Sym) *s, uint64_t strsize) {
    unsigned type = ELF64_ST_TYPE(s->st_info);
    return (type == STT_FUNC || type == STT_GNU_IFUNC) && s->st_shndx != SHN_UNDEF &&
           s->st_value != 0 && s->st_name != 0 && s->st_name < strsize;
}

static int sym_cmp(const void *a, const void *b) {
    const sym *x = a, *y = b;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return (int)x->rank - (int)y->rank;
}

/* Reads the function symbols of section s into o (sorted, one per
 * address). False when out of memory or on a read error. */
static bool read_syms(object *o, const elf_file *f, const ElfW(Shdr) *s) {
    size_t total = s->sh_size / sizeof(ElfW(Sym)), n = 0, cap = 0;
    uint64_t strsize = f->sh[s->sh_link].sh_size;
    ElfW(Sym) *buf = malloc(SYMS_CHUNK * sizeof *buf);
    if (!buf) return false;
    for (size_t i = 0; i < total; i += SYMS_CHUNK) {
        size_t k = total - i < SYMS_CHUNK ? total - i : SYMS_CHUNK;
        if (!read_at(f->fd, buf, k * sizeof *buf, s->sh_offset + i * sizeof *buf)) goto fail;
        for (size_t j = 0; j < k; j++) {
            if (!keep_sym(&buf[j], strsize)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                sym *p = realloc(o->syms, cap * sizeof *p);
                if (!p) goto fail;
                o->syms = p;
            }
            o->syms[n++] = (sym){buf[j].st_value, buf[j].st_size, buf[j].st_name,
                                 sym_rank(&buf[j])};
        }
    }
    free(buf);
    qsort(o->syms, n, sizeof *o->syms, sym_cmp);
    size_t u = 0; /* keep the best-ranked symbol of each address */
    for (size_t i = 0; i < n; i++)
        if (u == 0 || o->syms[u - 1].addr != o->syms[i].addr) o->syms[u++] = o->syms[i];
    o->nsyms = u;
    o->str_off = f->sh[s->sh_link].sh_offset;
    o->str_size = strsize;
    return true;
fail:
    free(buf);
    free(o->syms);
    o->syms = NULL;
    return false;
}

/* Takes f's symbols of section s; f's descriptor moves to o. */
static bool adopt(object *o, elf_file *f, const ElfW(Shdr) *s) {
    if (!read_syms(o, f, s)) return false;
    o->fd = f->fd;
    f->fd = -1;
    return true;
}

/* Debian's -dbg/-dbgsym packages put the full .symtab of a stripped
 * object here, named by its build ID. */
static bool load_debug_file(object *o) {
    size_t n = strlen(o->build_id);
    if (n < 4) return false;
    char path[64 + 2 * BUILD_ID_MAX];
    snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", o->build_id,
             o->build_id + 2);
    elf_file f;
    if (!elf_open(path, &f)) return false;
    const ElfW(Shdr) *s = elf_section(&f, SHT_SYMTAB);
    bool ok = s && adopt(o, &f, s);
    elf_close(&f);
    return ok;
}

static void object_load(object *o) {
    o->state = -1;
    elf_file f;
    if (!o->path || !elf_open(o->path, &f)) return;
    const ElfW(Shdr) *s = elf_section(&f, SHT_SYMTAB);
    if (s ? adopt(o, &f, s) : load_debug_file(o)) o->state = 1;
    else if ((s = elf_section(&f, SHT_DYNSYM)) && adopt(o, &f, s)) o->state = 1;
    elf_close(&f);
}

/* The symbol for link-time address a: the one whose [addr, addr+size)
 * holds it, else the nearest one before it if that one has no size
 * (hand-written assembly); NULL otherwise. A sized symbol that ends
 * before a is the wrong name: a's function is one .dynsym does not list
 * (a static function of a stripped library), better named by offset. */
static const sym *object_find(const object *o, uint64_t a) {
    size_t lo = 0, hi = o->nsyms; /* first symbol above a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->syms[mid].addr <= a) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    /* A few back, for a symbol nested in a larger one (rare, cheap). */
    for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++) {
        const sym *s = &o->syms[i - 1];
        if (a < s->addr + s->size) return s;
    }
    return o->syms[lo - 1].size == 0 ? &o->syms[lo - 1] : NULL;
}

/* The NUL-terminated name at offset off of o's string table, in t->name. */
static char *read_name(gm_symtab *t, const object *o, uint32_t off) {
    size_t have = 0, step = 256;
    for (;;) {
        uint64_t left = o->str_size - off - have;
        size_t want = left < step ? (size_t)left : step;
        if (want == 0 || have + want + 1 > NAME_MAX_BYTES) return NULL;
        if (have + want + 1 > t->name_cap) {
            size_t cap = t->name_cap ? 2 * t->name_cap : 512;
            while (cap < have + want + 1) cap *= 2;
            char *p = realloc(t->name, cap);
            if (!p) return NULL;
            t->name = p;
            t->name_cap = cap;
        }
        ssize_t r = pread(o->fd, t->name + have, want, (off_t)(o->str_off + off + have));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        if (memchr(t->name + have, 0, (size_t)r)) return t->name;
        have += (size_t)r;
        step *= 2;
    }
}

/* name demangled by the program's __cxa_demangle, or NULL. */
static const char *demangle(gm_symtab *t, const char *name) {
    if (!t->demangle || strncmp(name, "_Z", 2) != 0) return NULL;
    int status = -1;
    size_t cap = t->dm_cap;
    char *r = t->demangle(name, t->dm, &cap, &status);
    if (!r || status != 0) return NULL;
    t->dm = r; /* it may have realloc'd our buffer */
    t->dm_cap = cap;
    return r;
}

/* ---- lookup ------------------------------------------------------------ */

static const gm_symtab_mapping *find_mapping(const gm_symtab *t, uintptr_t a) {
    for (size_t i = 0; i < t->nmaps; i++)
        if (a >= t->maps[i].start && a < t->maps[i].limit) return &t->maps[i];
    return NULL;
}

gm_symtab_frame gm__symtab_lookup(gm_symtab *t, uintptr_t addr) {
    gm_symtab_frame fr = {NULL, NULL, -1};
    const gm_symtab_mapping *m = find_mapping(t, addr);
    if (!m) {
        snprintf(t->fmt, sizeof t->fmt, "0x%" PRIxPTR, addr);
        fr.name = fr.system_name = t->fmt;
        return fr;
    }
    fr.mapping = (int)(m - t->maps);
    object *o = &t->objs[m->object];
    if (o->state == 0) object_load(o);
    uint64_t rel = addr - o->bias;
    const sym *s = o->state > 0 ? object_find(o, rel) : NULL;
    char *raw = s ? read_name(t, o, s->name) : NULL;
    if (raw) {
        /* .symtab spells versioned symbols name@@VERSION: the name alone. */
        char *at = strchr(raw, '@');
        if (at && at != raw) *at = 0;
        const char *d = demangle(t, raw);
        fr.system_name = raw;
        fr.name = d ? d : raw;
        return fr;
    }
    /* No symbol: the object and the link-time address, for addr2line. */
    snprintf(t->fmt, sizeof t->fmt, "%s+0x%" PRIx64, base_name(o->filename), rel);
    fr.name = fr.system_name = t->fmt;
    return fr;
}
