/* pyheapnative/phn_mem.h - the three allocator domains (CPython's PyMem_Raw*, PyMem_*,
 * PyObject_* functions). Mirrored by src/PyHeapNative/Exports/MemExports.cs (same order).
 *
 * Semantics (CPython 3.13):
 *  - size 0 returns a unique non-NULL block (as if 1 byte was requested); calloc(0, n) and
 *    calloc(n, 0) likewise;
 *  - a size above PTRDIFF_MAX, or nelem * elsize overflowing PTRDIFF_MAX, returns NULL with
 *    errno = ENOMEM without calling the domain's allocator;
 *  - realloc(NULL, n) is malloc(n); realloc(p, 0) returns a live block and never frees;
 *    a failed realloc returns NULL and leaves p valid and unchanged;
 *  - free(NULL) does nothing; free leaves errno unchanged (except on the very first call
 *    into the library, which starts its runtime: call phn_init() first where it matters);
 *  - every block is 16-byte aligned.
 * A block must be released by the free function of the domain that allocated it.
 *
 * RAW is thread-safe. MEM and OBJ are thread-safe from any thread without setup (stronger
 * than CPython, which requires the GIL). Requests of 1..512 bytes in MEM and OBJ are served
 * by pymalloc; 0 bytes, more than 512 bytes, and pointers pymalloc does not own go to the
 * RAW domain (its current allocator, hooks included). */
#ifndef PYHEAPNATIVE_PHN_MEM_H
#define PYHEAPNATIVE_PHN_MEM_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE(1) void* PHN_CALL phn_raw_malloc(size_t size);
PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE2(1, 2) void* PHN_CALL phn_raw_calloc(size_t nelem, size_t elsize);
PHN_API PHN_NODISCARD PHN_ALLOC_SIZE(2) void* PHN_CALL phn_raw_realloc(void* ptr, size_t new_size);
PHN_API void PHN_CALL phn_raw_free(void* ptr);

PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE(1) void* PHN_CALL phn_mem_malloc(size_t size);
PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE2(1, 2) void* PHN_CALL phn_mem_calloc(size_t nelem, size_t elsize);
PHN_API PHN_NODISCARD PHN_ALLOC_SIZE(2) void* PHN_CALL phn_mem_realloc(void* ptr, size_t new_size);
PHN_API void PHN_CALL phn_mem_free(void* ptr);

PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE(1) void* PHN_CALL phn_obj_malloc(size_t size);
PHN_API PHN_NODISCARD PHN_MALLOC_ATTR PHN_ALLOC_SIZE2(1, 2) void* PHN_CALL phn_obj_calloc(size_t nelem, size_t elsize);
PHN_API PHN_NODISCARD PHN_ALLOC_SIZE(2) void* PHN_CALL phn_obj_realloc(void* ptr, size_t new_size);
PHN_API void PHN_CALL phn_obj_free(void* ptr);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_MEM_H */
