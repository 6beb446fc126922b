/*
 * Dirty-page tracking: which pages of the heap the program wrote since a
 * point in time, without a compiler write barrier. The mostly-concurrent
 * collector (Boehm, Demers and Shenker, PLDI 1991; see mgc.c) arms the
 * tracking when marking starts and, at mark termination, rescans the
 * marked objects on the pages reported here. Implemented in
 * mdirty_linux.c, which holds every platform detail; the rest of the
 * library sees only this header.
 *
 * Mechanisms, best first (gm__dirty_init probes them in this order):
 *  UFFD       userfaultfd write protection in asynchronous mode (Linux 6.7:
 *             UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED), read
 *             and re-armed by the PAGEMAP_SCAN ioctl. The kernel resolves a
 *             first write itself (no signal); its own writes (read(2) into
 *             the heap) are tracked; collect re-arms atomically.
 *  SOFTDIRTY  /proc/self/clear_refs "4" + pagemap bit 55 (needs
 *             CONFIG_MEM_SOFT_DIRTY). clear_refs acts on the whole
 *             process and re-arming is not atomic with reading: a write
 *             between the two is lost, so collect(rearm) must run with the
 *             world stopped.
 *  MPROTECT   PROT_READ + a SIGSEGV handler that records the page and
 *             makes it writable again (several µs per first write).
 *             System calls that write into a protected page fail with
 *             EFAULT: the buffer is pinned around the call (gm__dirty_pin;
 *             Boehm unprotects it, GC_unprotect_range, around the read
 *             it wraps). Tracked ranges must be
 *             entirely mapped read-write: arming makes every page of a
 *             range PROT_READ and the handler PROT_READ|PROT_WRITE, so
 *             reserved (PROT_NONE) parts would become accessible, and an
 *             mprotect by anyone else overrides the arming until the next
 *             arm. Faults outside tracked ranges go to the previous handler.
 *
 * Rules for callers:
 *  - Every range is page aligned. A range is tracked at most once.
 *  - init, track, untrack, arm and collect serialise on one lock and may
 *    be called from any thread; nothing here allocates with malloc.
 *  - No thread may write a range while it is being untracked.
 *  - collect's callback runs with that lock held: it must not call this
 *    module (it may read and rescan the pages).
 *  - "Page" here is the OS page (4 KiB on x86-64), not the heap's 8 KiB
 *    page: a run may start in the middle of a heap page.
 *  - Pages emptied by MADV_DONTNEED lose their protection (UFFD): they are
 *    reported as written once (they read as zero, so rescanning them is
 *    harmless), and are protected again by that collect's re-arm.
 *  - MPROTECT splits mappings page by page; if the kernel refuses
 *    (vm.max_map_count), the whole range counts as written for the round.
 *  - A pinned buffer stays writable until unpinned, whatever arms and
 *    collects run meanwhile; its pages are reported written each round.
 *    When the pin table is full, pin still unprotects but a re-arming
 *    collect may protect the buffer again before the system call writes:
 *    the caller retries a call that fails with EFAULT after pinning again.
 *  - fork: the child does not track. UFFD registrations are not inherited
 *    (no UFFD_FEATURE_EVENT_FORK) and the pagemap descriptor still names
 *    the parent, so a pthread_atfork child handler drops the mode (and, for
 *    MPROTECT, makes the tracked ranges writable again); gm__dirty_mode
 *    reports NONE in the child, and every call there is a no-op.
 */
#ifndef GM_MDIRTY_H
#define GM_MDIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GM_DIRTY_NONE,      /* no tracking: the collector stops the world to mark */
    GM_DIRTY_UFFD,
    GM_DIRTY_SOFTDIRTY,
    GM_DIRTY_MPROTECT,
} gm_dirty_mode;

/* Picks the mechanism: wanted == GM_DIRTY_NONE means the best that works
 * here, any other value forces that one (tests, a GOMALLOC option).
 * Returns the mode in use, GM_DIRTY_NONE if none works. Calling it again
 * first drops every tracked range of the previous mode. */
gm_dirty_mode gm__dirty_init(gm_dirty_mode wanted);

/* The size of the pages collect reports (the OS page). */
size_t gm__dirty_page_size(void);

/* The bounds of this module's own state, which holds heap addresses: not
 * a root of the collector. */
void gm__dirty_state(const void **lo, const void **hi);

/* The mode in use: GM_DIRTY_NONE before init and in a forked child. */
gm_dirty_mode gm__dirty_mode(void);

/* "none", "uffd", "softdirty", "mprotect": for gctrace and MemStats. */
const char *gm__dirty_mode_name(gm_dirty_mode m);

/* Adds [base, base+len) to the tracked set. The pages count as written
 * until the next arm. False if the mechanism refuses the range (or the
 * table of ranges is full). */
bool gm__dirty_track(void *base, size_t len);

/* Removes a range given to gm__dirty_track, leaving it writable. */
void gm__dirty_untrack(void *base, size_t len);

/* Starts a round: every tracked page counts as clean from now on. */
void gm__dirty_arm(void);

/* Calls fn once per maximal run of pages written since the last arm (or
 * the last collect with rearm), in increasing address order within each
 * range; with rearm, those pages count as clean again, atomically with
 * the reading (except SOFTDIRTY, see above). Returns the number of pages
 * reported. */
size_t gm__dirty_collect(void (*fn)(uintptr_t page, size_t npages, void *arg), void *arg,
                         bool rearm);

/* True while pins matter (MPROTECT): a cheap check for system call
 * wrappers. */
bool gm__dirty_pinning(void);

/* Marks the pages covering [p, p+n) written and keeps them writable until
 * the matching unpin, so that a system call may write into them. False if
 * the pin table was full (the pages are writable now, but a re-arm may
 * protect them again). A no-op returning true for the other mechanisms,
 * whose kernel writes are tracked like any other, and for memory that is
 * not tracked. Pins nest; any thread may take one. */
bool gm__dirty_pin(const void *p, size_t n);

/* Ends one pin of exactly [p, p+n): only after a pin that returned true. */
void gm__dirty_unpin(const void *p, size_t n);

#endif
