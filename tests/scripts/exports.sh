#!/bin/bash
# libgomalloc.so must export exactly the gm_* API, the C library's allocation
# functions, C++'s operators new/delete and the system call wrappers of
# src/override_syscalls.c: nothing internal leaks out.
set -eu
lib=$1
expected="
_ZdaPv _ZdaPvRKSt9nothrow_t _ZdaPvSt11align_val_t _ZdaPvSt11align_val_tRKSt9nothrow_t
_ZdaPvm _ZdaPvmSt11align_val_t _ZdlPv _ZdlPvRKSt9nothrow_t _ZdlPvSt11align_val_t
_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdlPvm _ZdlPvmSt11align_val_t
_Znam _ZnamRKSt9nothrow_t _ZnamSt11align_val_t _ZnamSt11align_val_tRKSt9nothrow_t
_Znwm _ZnwmRKSt9nothrow_t _ZnwmSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t
__libc_calloc __libc_cfree __libc_free __libc_malloc __libc_memalign __libc_pvalloc
__libc_realloc __libc_valloc __posix_memalign
aligned_alloc calloc cfree free free_aligned_sized free_sized mallinfo mallinfo2 malloc
malloc_info malloc_stats malloc_trim malloc_usable_size mallopt memalign posix_memalign
pvalloc pthread_create realloc reallocarray valloc
read pread pread64 readv recv recvfrom recvmsg
__read_chk __pread_chk __pread64_chk __recv_chk __recvfrom_chk
"
# Every gm_ function declared in the public headers is exported too.
inc=$(dirname "$0")/../../include
api=$(cat "$inc"/gomalloc.h "$inc"/gomalloc/*.h 2>/dev/null | grep -o 'GM_API[^(]*(' | grep -o 'gm_[a-z_0-9]*(' | tr -d '(' )
want=$(printf '%s\n' $expected $api | sort -u)
have=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)
if [ "$want" != "$have" ]; then
  echo "exports differ from the expected list (< expected, > exported):"
  diff <(echo "$want") <(echo "$have") || true
  exit 1
fi
echo "ok: $(echo "$have" | wc -l) symbols, as expected"
