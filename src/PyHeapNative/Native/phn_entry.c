/* phn_entry.c - the allocation functions' entry points.
 *
 * 1. The common cases in C (see phn_fast.h for why and on what). Each MEM/OBJ entry point
 *    reads its domain's entry (Core/Domains/Domains.cs) on every call:
 *      pymalloc            pymalloc's fast path (phn_fast.h): malloc from the class's first
 *                          used pool of the thread's heap, free into a pool that does not
 *                          become empty;
 *      debug hooks over pymalloc      phn_fast_debug.h (blocks over 488 bytes: phn_fast_debug.c);
 *      tracing over pymalloc          phn_fast_trace.h (realloc: phn_fast_trace.c);
 *    and everything else — a new pool, an empty pool going back to its arena, the RAW
 *    fallback, a contended lock, pymalloc's realloc, a failed check, any other
 *    configuration — goes to the managed implementation. Installing hooks, tracing or a
 *    custom allocator therefore takes effect on the very next call. Until Startup hands the
 *    addresses over (phnimpl_fast_configure) every call goes to the managed side, which
 *    starts the library.
 *
 * 2. Each entry point passes its caller's return address to the managed implementation
 *    (phnimpl_*, an [UnmanagedCallersOnly] method in Exports/MemExports.cs) so that
 *    tracemalloc can record where a block was allocated; C# cannot read its caller's address,
 *    and the unwinder costs microseconds. The phnimpl_* symbols are referenced as hidden,
 *    which keeps them out of the dynamic symbol table: only the phn_* names below are
 *    exported (IlcArg --export-dynamic-symbol). */
#include "phn_fast_debug.h"
#include "phn_fast_trace.h"

#define PHN_CALLER __builtin_return_address(0)

PHN_IMPL char* phn_fast_class_lines;
PHN_IMPL void*** phn_fast_arena_root;
/* Until configured, the domains read as a custom allocator: every call goes managed. */
static const domain_entry not_configured = { BACKEND_CUSTOM, NULL };
static const domain_entry* mem_entry = &not_configured;   /* then &Domains.Mem */
static const domain_entry* obj_entry = &not_configured;   /* &Domains.Obj */

PHN_IMPL void phnimpl_fast_configure(const domain_entry* mem, const domain_entry* obj, char* lines, void*** root,
                                     int32_t* arena_lock) {
    phn_fast_class_lines = lines;
    phn_fast_arena_root = root;
    phn_debug_configure();
    phn_heap_bias_configure();
    phn_fork_configure(arena_lock);
    __atomic_store_n(&mem_entry, mem, __ATOMIC_RELEASE);
    __atomic_store_n(&obj_entry, obj, __ATOMIC_RELEASE);
}

/* The domain's backend (BACKEND_CUSTOM until configured). The table is published before the
 * kind (AllocatorRegistry.Install). */
static inline uint8_t kind_of(const domain_entry* const* slot, const domain_entry** entry) {
    const domain_entry* e = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    *entry = e;
    return __atomic_load_n(&e->kind, __ATOMIC_ACQUIRE);
}

/* The debug hooks' context when they wrap pymalloc itself (their common cases are in C),
 * else NULL. */
static inline const debug_api* debug_over_pymalloc(const wrapper_table* t) {
    if (t->kind != WRAPPER_DEBUG)
        return NULL;
    const debug_api* api = (const debug_api*)t->context;
    return api->underlying.kind == BACKEND_PYMALLOC ? api : NULL;
}

/* A library wrapper's common case: 1 when served (result in *out). */
static inline __attribute__((always_inline)) int wrapped_malloc(const domain_entry* e, size_t size, int zero, void* caller, void** out) {
    const wrapper_table* t = e->table;
    const debug_api* api = debug_over_pymalloc(t);
    if (api != NULL)
        return phn_debug_malloc(api, size, zero, out);
    if (t->kind == WRAPPER_TRACING)
        return phn_trace_malloc((const tracing_api*)t->context, size, zero, caller, out);
    return 0;
}

static inline __attribute__((always_inline)) int wrapped_free(const domain_entry* e, void* ptr) {
    const wrapper_table* t = e->table;
    const debug_api* api = debug_over_pymalloc(t);
    if (api != NULL)
        return phn_debug_free(api, ptr);
    if (t->kind == WRAPPER_TRACING)
        return phn_trace_free((const tracing_api*)t->context, ptr);
    return 0;
}

static inline int wrapped_realloc(const domain_entry* e, void* ptr, size_t size, void* caller, void** out) {
    const wrapper_table* t = e->table;
    const debug_api* api = debug_over_pymalloc(t);
    if (api != NULL)
        return phn_debug_realloc(api, ptr, size, out);
    if (t->kind == WRAPPER_TRACING)
        return phn_trace_realloc((const tracing_api*)t->context, ptr, size, caller, out);
    return 0;
}

/* ---- the entry points ---------------------------------------------------------------- */

#define PHN_SHIM_DECLS(d)                                                                      \
    PHN_IMPL void* phnimpl_##d##_malloc(size_t size, void* caller);                            \
    PHN_IMPL void* phnimpl_##d##_calloc(size_t nelem, size_t elsize, void* caller);            \
    PHN_IMPL void* phnimpl_##d##_realloc(void* ptr, size_t new_size, void* caller);            \
    PHN_IMPL void phnimpl_##d##_free(void* ptr, void* caller);

PHN_SHIM_DECLS(raw)
PHN_SHIM_DECLS(mem)
PHN_SHIM_DECLS(obj)

void* phn_raw_malloc(size_t size) { return phnimpl_raw_malloc(size, PHN_CALLER); }
void* phn_raw_calloc(size_t nelem, size_t elsize) { return phnimpl_raw_calloc(nelem, elsize, PHN_CALLER); }
void* phn_raw_realloc(void* ptr, size_t new_size) { return phnimpl_raw_realloc(ptr, new_size, PHN_CALLER); }
void phn_raw_free(void* ptr) { phnimpl_raw_free(ptr, PHN_CALLER); }

/* Each entry point is its fast path, then a tail call to its slow path (a separate function,
 * so that the fast path needs no stack frame): the class-lock path, the wrappers' common
 * cases, else managed — after claiming the thread's heap if nobody owns it yet (the fast path
 * only works in a heap biased to the thread, and phn_class_lock refuses an unowned own heap:
 * the first call of a thread comes here). */
#define PHN_PYMALLOC_SHIMS(d)                                                                  \
    __attribute__((noinline)) static void* d##_malloc_slow(size_t size, void* caller) {        \
        const domain_entry* e;                                                                 \
        void* bp;                                                                              \
        uint8_t kind = kind_of(&d##_entry, &e);                                                \
        if (kind == BACKEND_PYMALLOC && size - 1 < SMALL_REQUEST_THRESHOLD                     \
            && (bp = phn_pymalloc_alloc_shared(phn_size_class(size))) != NULL)                 \
            return bp;                                                                         \
        if (kind == BACKEND_WRAPPER && wrapped_malloc(e, size, 0, caller, &bp))                \
            return bp;                                                                         \
        if (kind != BACKEND_CUSTOM)                                                            \
            phn_claim_own_heap();                                                              \
        return phnimpl_##d##_malloc(size, caller);                                             \
    }                                                                                          \
    __attribute__((noinline)) static void* d##_calloc_slow(size_t nelem, size_t elsize, void* caller) { \
        const domain_entry* e;                                                                 \
        void* bp;                                                                              \
        size_t size;                                                                           \
        uint8_t kind = kind_of(&d##_entry, &e);                                                \
        if (kind == BACKEND_WRAPPER && !__builtin_mul_overflow(nelem, elsize, &size)           \
            && wrapped_malloc(e, size, 1, caller, &bp))                                        \
            return bp;                                                                         \
        if (kind != BACKEND_CUSTOM)                                                            \
            phn_claim_own_heap();                                                              \
        return phnimpl_##d##_calloc(nelem, elsize, caller);                                    \
    }                                                                                          \
    __attribute__((noinline)) static void d##_free_slow(void* ptr, void* caller) {             \
        const domain_entry* e;                                                                 \
        uint8_t kind = kind_of(&d##_entry, &e);                                                \
        if (kind == BACKEND_PYMALLOC && phn_pymalloc_owns(ptr)                                 \
            && phn_pymalloc_free_shared(phn_pool_of(ptr), ptr))                                \
            return;                                                                            \
        if (ptr != NULL && kind == BACKEND_WRAPPER && wrapped_free(e, ptr))                    \
            return;                                                                            \
        if (kind != BACKEND_CUSTOM)                                                            \
            phn_claim_own_heap();                                                              \
        phnimpl_##d##_free(ptr, caller);                                                       \
    }                                                                                          \
    /* The wrappers' common cases in the thread's biased heap, with tail calls only (no stack  \
     * frame); anything else goes to the slow path before anything changed. */                \
    __attribute__((noinline)) static void* d##_malloc_wrapped(const domain_entry* e, size_t size, void* caller) { \
        const wrapper_table* t = e->table;                                                     \
        const debug_api* api = debug_over_pymalloc(t);                                         \
        void* bp;                                                                              \
        if (api != NULL) {                                                                     \
            if ((bp = phn_debug_malloc_biased(api, size)) != NULL)                             \
                return bp;                                                                     \
        } else if (t->kind == WRAPPER_TRACING && size - 1 < SMALL_REQUEST_THRESHOLD            \
                   && fast_tracing((const tracing_api*)t->context)) {                          \
            if (size - 1 < TRACED_MAX_REQUEST) {                                               \
                if ((bp = phn_trace_malloc_in_header(size, 0, caller)) != NULL)                \
                    return bp;                                                                 \
            } else if ((bp = phn_pymalloc_alloc_biased(phn_size_class(size))) != NULL) {       \
                return phn_trace_record(bp, size, caller, 0);                                  \
            }                                                                                  \
        }                                                                                      \
        return d##_malloc_slow(size, caller);                                                  \
    }                                                                                          \
    __attribute__((noinline)) static void d##_free_wrapped(const domain_entry* e, void* ptr, void* caller) { \
        const wrapper_table* t = e->table;                                                     \
        const debug_api* api = debug_over_pymalloc(t);                                         \
        char* head;                                                                            \
        if (ptr != NULL && api != NULL) {                                                      \
            if ((head = phn_debug_kill_block(api, ptr)) != NULL) {                             \
                phn_pymalloc_free_in_pool(phn_pool_of(head), head);                            \
                return;                                                                        \
            }                                                                                  \
        } else if (ptr != NULL && t->kind == WRAPPER_TRACING                                   \
                   && phn_trace_free((const tracing_api*)t->context, ptr)) {                   \
            return;                                                                            \
        }                                                                                      \
        d##_free_slow(ptr, caller);                                                            \
    }                                                                                          \
    void* phn_##d##_malloc(size_t size) {                                                      \
        const domain_entry* e = __atomic_load_n(&d##_entry, __ATOMIC_ACQUIRE);                 \
        uint8_t kind = __atomic_load_n(&e->kind, __ATOMIC_ACQUIRE);                            \
        if (PHN_LIKELY(kind == BACKEND_PYMALLOC) && PHN_LIKELY(size - 1 < SMALL_REQUEST_THRESHOLD)) { \
            void* bp = phn_pymalloc_alloc_biased(phn_size_class(size));                        \
            if (PHN_LIKELY(bp != NULL))                                                        \
                return bp;                                                                     \
        } else if (kind == BACKEND_WRAPPER) {                                                  \
            return d##_malloc_wrapped(e, size, PHN_CALLER);                                    \
        }                                                                                      \
        return d##_malloc_slow(size, PHN_CALLER);                                              \
    }                                                                                          \
    void* phn_##d##_calloc(size_t nelem, size_t elsize) {                                      \
        const domain_entry* e = __atomic_load_n(&d##_entry, __ATOMIC_ACQUIRE);                 \
        size_t size;                                                                           \
        if (__atomic_load_n(&e->kind, __ATOMIC_ACQUIRE) == BACKEND_PYMALLOC                    \
            && !__builtin_mul_overflow(nelem, elsize, &size) && size - 1 < SMALL_REQUEST_THRESHOLD) { \
            void* bp = phn_pymalloc_alloc(phn_size_class(size));                               \
            if (bp != NULL) {                                                                  \
                memset(bp, 0, size);                                                           \
                return bp;                                                                     \
            }                                                                                  \
        }                                                                                      \
        return d##_calloc_slow(nelem, elsize, PHN_CALLER);                                     \
    }                                                                                          \
    void* phn_##d##_realloc(void* ptr, size_t new_size) {                                      \
        const domain_entry* e;                                                                 \
        void* bp;                                                                              \
        if (kind_of(&d##_entry, &e) == BACKEND_WRAPPER                                         \
            && wrapped_realloc(e, ptr, new_size, PHN_CALLER, &bp))                             \
            return bp;                                                                         \
        return phnimpl_##d##_realloc(ptr, new_size, PHN_CALLER);                               \
    }                                                                                          \
    void phn_##d##_free(void* ptr) {                                                           \
        const domain_entry* e = __atomic_load_n(&d##_entry, __ATOMIC_ACQUIRE);                 \
        /* NULL is never pymalloc's (no arena starts at address 0): free_slow takes it */      \
        uint8_t kind = __atomic_load_n(&e->kind, __ATOMIC_ACQUIRE);                            \
        if (PHN_LIKELY(kind == BACKEND_PYMALLOC) && PHN_LIKELY(phn_pymalloc_owns(ptr))         \
            && PHN_LIKELY(phn_pymalloc_free_biased(phn_pool_of(ptr), ptr)))                    \
            return;                                                                            \
        if (kind == BACKEND_WRAPPER)                                                           \
            d##_free_wrapped(e, ptr, PHN_CALLER);                                              \
        else                                                                                   \
            d##_free_slow(ptr, PHN_CALLER);                                                    \
    }

PHN_PYMALLOC_SHIMS(mem)
PHN_PYMALLOC_SHIMS(obj)

/* phn_obj_free for the library's own C (phn_dealloc.c): bound here, never interposed. */
PHN_IMPL void phn_obj_free_own(void* ptr) __attribute__((alias("phn_obj_free")));

/* A zeroed block of size bytes for phn_dealloc.c's constructors, from pymalloc's fast path
 * while pymalloc itself serves the OBJ domain; NULL, with nothing tried, otherwise (hooks or
 * tracing installed, a user's allocator, a large object, a pool to make): the managed
 * constructor then allocates as it always did, traced with its caller, its failure reported
 * once. */
PHN_IMPL void* phn_obj_object_block(size_t size) {
    const domain_entry* e;
    if (kind_of(&obj_entry, &e) != BACKEND_PYMALLOC || size - 1 >= SMALL_REQUEST_THRESHOLD)
        return NULL;
    void* bp = phn_pymalloc_alloc(phn_size_class(size));
    if (bp != NULL)
        memset(bp, 0, size);
    else
        phn_claim_own_heap();   /* as the slow paths do: the thread's next objects come from its heap */
    return bp;
}

PHN_IMPL size_t phnimpl_obj_malloc_many(size_t size, size_t n, void** out, void* caller);
PHN_IMPL void phnimpl_obj_free_many(void* const* ptrs, size_t n, void* caller);
size_t phn_obj_malloc_many(size_t size, size_t n, void** out) { return phnimpl_obj_malloc_many(size, n, out, PHN_CALLER); }
void phn_obj_free_many(void* const* ptrs, size_t n) { phnimpl_obj_free_many(ptrs, n, PHN_CALLER); }
