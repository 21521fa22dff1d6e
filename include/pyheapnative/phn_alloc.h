/* pyheapnative/phn_alloc.h - customising the domains and the arena allocator (CPython's
 * PyMem_GetAllocator / PyMem_SetAllocator / PyObject_GetArenaAllocator ...).
 * Mirrored by src/PyHeapNative/Exports/AllocatorExports.cs (same order). */
#ifndef PYHEAPNATIVE_PHN_ALLOC_H
#define PYHEAPNATIVE_PHN_ALLOC_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Domains (CPython's PyMemAllocatorDomain). */
#define PHN_DOMAIN_RAW 0
#define PHN_DOMAIN_MEM 1
#define PHN_DOMAIN_OBJ 2

/* CPython's PyMemAllocatorEx: 40 bytes on 64-bit. The contract of every installed
 * allocator: a distinct non-NULL block for size 0, NULL on failure, realloc(p, 0) never
 * frees, the RAW allocator is thread-safe (and so are MEM/OBJ here, since the library
 * calls them from any thread). The public functions check sizes before calling it and pass
 * everything else on unchanged, as CPython does: realloc(NULL, n) reaches the allocator's
 * realloc and free(NULL) its free. */
typedef struct phn_allocator {
    void* ctx;
    void* (PHN_CALL *malloc)(void* ctx, size_t size);
    void* (PHN_CALL *calloc)(void* ctx, size_t nelem, size_t elsize);
    void* (PHN_CALL *realloc)(void* ctx, void* ptr, size_t new_size);
    void  (PHN_CALL *free)(void* ctx, void* ptr);
} phn_allocator;

/* CPython's PyObjectArenaAllocator: 24 bytes on 64-bit. alloc is called with
 * size == PHN_ARENA_SIZE and returns the memory or NULL; free receives the same size. */
typedef struct phn_arena_allocator {
    void* ctx;
    void* (PHN_CALL *alloc)(void* ctx, size_t size);
    void  (PHN_CALL *free)(void* ctx, void* ptr, size_t size);
} phn_arena_allocator;

/* Copy the current allocator of a domain into *out. Unknown domain: *out is set to five
 * NULLs and PHN_EINVAL is returned. out == NULL: PHN_EINVAL. */
PHN_API int32_t PHN_CALL phn_get_allocator(int32_t domain, phn_allocator* out);

/* Install an allocator (copied by value). Once blocks are live, the new allocator must
 * wrap the previous one (get it first and forward to it), as in CPython. Unknown domain,
 * allocator == NULL or a NULL function pointer: PHN_EINVAL and nothing changes.
 * Installing a struct identical to a built-in one (as returned by phn_get_allocator)
 * restores the built-in fast path. */
PHN_API int32_t PHN_CALL phn_set_allocator(int32_t domain, const phn_allocator* allocator);

/* The allocator pymalloc uses for its 1 MiB arenas. Default: anonymous mmap / munmap
 * (VirtualAlloc / VirtualFree on Windows). */
PHN_API int32_t PHN_CALL phn_get_arena_allocator(phn_arena_allocator* out);

/* Install an arena allocator (copied by value). Arenas already allocated are still
 * released by the allocator that allocated them. NULL or a NULL function: PHN_EINVAL. */
PHN_API int32_t PHN_CALL phn_set_arena_allocator(const phn_arena_allocator* allocator);

/* Name of the current configuration, as CPython's _PyMem_GetCurrentAllocatorName:
 * "pymalloc" or "malloc" when the three domains hold the built-in allocators of that
 * configuration, "pymalloc_debug" or "malloc_debug" when the debug hooks wrap them, NULL
 * when any domain holds a custom allocator. Static string. */
PHN_API const char* PHN_CALL phn_allocator_name(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_ALLOC_H */
