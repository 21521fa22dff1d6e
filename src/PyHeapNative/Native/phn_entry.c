/* phn_entry.c - the allocation functions' entry points, the only C in the library.
 *
 * Each one passes its caller's return address to the managed implementation (phnimpl_*,
 * an [UnmanagedCallersOnly] method in Exports/MemExports.cs) so that tracemalloc can record
 * where a block was allocated; C# cannot read its caller's address, and the unwinder costs
 * microseconds. Compiled with -O2 each shim is a tail call of two instructions:
 *     mov (%rsp), %rsi ; jmp phnimpl_mem_malloc
 * The phnimpl_* symbols are referenced as hidden, which keeps them out of the dynamic
 * symbol table: only the phn_* names below are exported (IlcArg --export-dynamic-symbol). */
#include <stddef.h>

#define PHN_IMPL __attribute__((visibility("hidden")))
#define PHN_CALLER __builtin_return_address(0)

#define PHN_DOMAIN_SHIMS(d)                                                                    \
    PHN_IMPL void* phnimpl_##d##_malloc(size_t size, void* caller);                            \
    PHN_IMPL void* phnimpl_##d##_calloc(size_t nelem, size_t elsize, void* caller);            \
    PHN_IMPL void* phnimpl_##d##_realloc(void* ptr, size_t new_size, void* caller);            \
    PHN_IMPL void phnimpl_##d##_free(void* ptr, void* caller);                                 \
    void* phn_##d##_malloc(size_t size) { return phnimpl_##d##_malloc(size, PHN_CALLER); }     \
    void* phn_##d##_calloc(size_t nelem, size_t elsize) {                                      \
        return phnimpl_##d##_calloc(nelem, elsize, PHN_CALLER);                                \
    }                                                                                          \
    void* phn_##d##_realloc(void* ptr, size_t new_size) {                                      \
        return phnimpl_##d##_realloc(ptr, new_size, PHN_CALLER);                               \
    }                                                                                          \
    void phn_##d##_free(void* ptr) { phnimpl_##d##_free(ptr, PHN_CALLER); }

PHN_DOMAIN_SHIMS(raw)
PHN_DOMAIN_SHIMS(mem)
PHN_DOMAIN_SHIMS(obj)

PHN_IMPL size_t phnimpl_obj_malloc_many(size_t size, size_t n, void** out, void* caller);
PHN_IMPL void phnimpl_obj_free_many(void* const* ptrs, size_t n, void* caller);
size_t phn_obj_malloc_many(size_t size, size_t n, void** out) { return phnimpl_obj_malloc_many(size, n, out, PHN_CALLER); }
void phn_obj_free_many(void* const* ptrs, size_t n) { phnimpl_obj_free_many(ptrs, n, PHN_CALLER); }
