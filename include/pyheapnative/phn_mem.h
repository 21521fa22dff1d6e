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

/* Batches: for programs that allocate or free many blocks at once, the cost of a call into
 * the library (and of pymalloc's lock) is paid once per batch instead of once per block.
 *
 * phn_obj_malloc_many stores n blocks of size bytes from the OBJ domain (each as from
 * phn_obj_malloc) in out[0..n) and returns how many it allocated: n, or fewer when memory ran
 * out (the rest of out is NULL, errno = ENOMEM). size above PTRDIFF_MAX: 0 and ENOMEM; out NULL
 * with n > 0: 0 and PHN_EINVAL in phn_last_error_message(). Each block is freed by
 * phn_obj_free or phn_obj_free_many.
 *
 * phn_obj_free_many frees ptrs[0..n) as phn_obj_free would (NULL entries are skipped). */
PHN_API size_t PHN_CALL phn_obj_malloc_many(size_t size, size_t n, void** out);
PHN_API void PHN_CALL phn_obj_free_many(void* const* ptrs, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_MEM_H */
