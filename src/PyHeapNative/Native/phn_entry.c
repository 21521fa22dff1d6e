/* phn_entry.c - the allocation functions' entry points.
 *
 * 1. pymalloc's fast path, in C. A call from C into managed code pays a reverse P/Invoke
 *    transition each way (about 90 instructions per malloc + free pair, more than pymalloc's
 *    own work). So when MEM or OBJ is served by plain pymalloc (no hooks, no tracing, no
 *    custom allocator), the common cases are done right here, on pymalloc's own structures,
 *    under the same per-class lock as the managed code (Core/Pymalloc/Pymalloc.cs), in the
 *    calling thread's heap (the same hash of pthread_self as Pymalloc.CurrentHeap):
 *      malloc: the class has a used pool (its first one gives a block; a pool that becomes
 *              full leaves the list, as in pymalloc);
 *      free:   the block is pymalloc's and its pool does not become empty (a pool that was
 *              full goes back to the front of its list, as in pymalloc).
 *    Everything else — a new pool, an empty pool going back to its arena (the arena lock),
 *    the RAW fallback, a contended lock, realloc, any other configuration — goes to the
 *    managed implementation, which does the same operations, so the observable behaviour
 *    is pymalloc's in every case.
 *    The structures' layouts are the ones of Core/Pymalloc (PoolHeader.cs, ArenaMap.cs,
 *    Pymalloc.cs's class lines); Startup hands their addresses over with
 *    phnimpl_fast_configure once the library is started, and until then every call goes
 *    to the managed side (which starts the library).
 *
 * 2. Each entry point passes its caller's return address to the managed implementation
 *    (phnimpl_*, an [UnmanagedCallersOnly] method in Exports/MemExports.cs) so that
 *    tracemalloc can record where a block was allocated; C# cannot read its caller's address,
 *    and the unwinder costs microseconds. The phnimpl_* symbols are referenced as hidden,
 *    which keeps them out of the dynamic symbol table: only the phn_* names below are
 *    exported (IlcArg --export-dynamic-symbol). */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PHN_IMPL __attribute__((visibility("hidden")))
#define PHN_CALLER __builtin_return_address(0)
#define PHN_LIKELY(x) __builtin_expect(!!(x), 1)

/* ---- pymalloc's layouts (Core/Pymalloc) --------------------------------------------- */

enum {
    ALIGNMENT_SHIFT = 4,
    SMALL_REQUEST_THRESHOLD = 512,
    POOL_BITS = 14,
    ARENA_BITS = 20,
    NUM_SIZE_CLASSES = 32,
    HEAP_SHIFT = 62,          /* Pymalloc.HeapShift: 4 heaps */
    CLASS_LINE = 64,          /* Pymalloc.LineSize: lock at 0, used-pool head at 8 */
    USED_POOLS_OFFSET = 8,
    ROOT_BITS = 15, MID_BITS = 15, BOT_BITS = 64 - ARENA_BITS - ROOT_BITS - MID_BITS,
    BACKEND_PYMALLOC = 0      /* Backend.Pymalloc, the Kind byte at the start of DomainEntry */
};

typedef struct pool_header {
    uint32_t count;
    uint32_t heap;
    void* freeblock;
    struct pool_header* nextpool;
    struct pool_header* prevpool;
    uint32_t arenaindex;
    uint32_t szidx;
    uint32_t nextoffset;
    uint32_t maxnextoffset;
} pool_header;

typedef struct arena_leaf { int32_t tail_hi, tail_lo; } arena_leaf;

static const uint8_t* mem_kind;     /* &Domains.Mem.Kind, NULL until configured */
static const uint8_t* obj_kind;     /* &Domains.Obj.Kind */
static char* class_lines;           /* Pymalloc.s_classLines */
static void*** arena_root;          /* ArenaMap.s_root */

PHN_IMPL void phnimpl_fast_configure(const uint8_t* mem, const uint8_t* obj, char* lines, void*** root) {
    class_lines = lines;
    arena_root = root;
    __atomic_store_n(&mem_kind, mem, __ATOMIC_RELEASE);
    __atomic_store_n(&obj_kind, obj, __ATOMIC_RELEASE);
}

static inline int served_by_pymalloc(const uint8_t* const* kind) {
    const uint8_t* k = __atomic_load_n(kind, __ATOMIC_ACQUIRE);
    return k != NULL && *k == BACKEND_PYMALLOC;
}

/* ArenaMap.Owns: the radix tree test. */
static inline int owns(const void* p) {
    uintptr_t a = (uintptr_t)p;
    void** mid = arena_root[a >> (ARENA_BITS + BOT_BITS + MID_BITS)];
    if (mid == NULL)
        return 0;
    arena_leaf* bot = (arena_leaf*)mid[(a >> (ARENA_BITS + BOT_BITS)) & ((1u << MID_BITS) - 1)];
    if (bot == NULL)
        return 0;
    arena_leaf* leaf = bot + ((a >> ARENA_BITS) & ((1u << BOT_BITS) - 1));
    int32_t tail = (int32_t)(a & ((1u << ARENA_BITS) - 1));
    return tail < leaf->tail_lo || (leaf->tail_hi != 0 && tail >= leaf->tail_hi);
}

/* Pymalloc.CurrentHeap: the calling thread's heap. */
static inline uint32_t current_heap(void) {
    return (uint32_t)(((uint64_t)(uintptr_t)pthread_self() * 0x9E3779B97F4A7C15ull) >> HEAP_SHIFT);
}

static inline int try_lock(int32_t* lock) {
    int32_t expected = 0;
    return __atomic_compare_exchange_n(lock, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void unlock(int32_t* lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/* A block of class idx from the first used pool of the thread's heap, or NULL: take the
 * managed path. */
static inline void* fast_alloc(uint32_t idx) {
    char* line = class_lines + (size_t)(current_heap() * NUM_SIZE_CLASSES + idx) * CLASS_LINE;
    int32_t* lock = (int32_t*)line;
    if (!try_lock(lock))
        return NULL;
    pool_header* head = (pool_header*)(line + USED_POOLS_OFFSET);
    pool_header* pool = head->nextpool;
    void* bp = NULL;
    if (pool != head) {
        void* block = pool->freeblock;   /* never NULL for a used pool */
        void* next = *(void**)block;
        if (next != NULL) {
            pool->freeblock = next;
            pool->count++;
            bp = block;
        } else if (pool->nextoffset <= pool->maxnextoffset) {
            char* fresh = (char*)pool + pool->nextoffset;   /* thread on a virgin block */
            pool->nextoffset += (idx + 1) << ALIGNMENT_SHIFT;
            *(void**)fresh = NULL;
            pool->freeblock = fresh;
            pool->count++;
            bp = block;
        } else {
            /* The pool is now full: unlink it from the used pools (Pymalloc.ExtendPool). */
            pool->freeblock = NULL;
            pool->count++;
            pool_header* next = pool->nextpool;
            pool_header* prev = pool->prevpool;
            next->prevpool = prev;
            prev->nextpool = next;
            bp = block;
        }
    }
    unlock(lock);
    return bp;
}

/* 1 if p went back to its pool here, 0 if the managed path must free it. */
static inline int fast_free(void* p) {
    if (!owns(p))
        return 0;
    pool_header* pool = (pool_header*)((uintptr_t)p & ~(((uintptr_t)1 << POOL_BITS) - 1));
    int32_t* lock = (int32_t*)(class_lines + (size_t)(pool->heap * NUM_SIZE_CLASSES + pool->szidx) * CLASS_LINE);
    if (!try_lock(lock))
        return 0;
    int done = 0;
    void* last = pool->freeblock;
    if (pool->count > 1) {   /* the pool does not become empty (that needs the arena lock) */
        *(void**)p = last;
        pool->freeblock = p;
        pool->count--;
        if (last == NULL) {
            /* The pool was full: link it at the front of its list, so the very next
             * allocation of the class reuses p (Pymalloc.InsertToUsedPool). */
            pool_header* head = (pool_header*)((char*)lock + USED_POOLS_OFFSET);
            pool_header* next = head->nextpool;
            pool->nextpool = next;
            pool->prevpool = head;
            next->prevpool = pool;
            head->nextpool = pool;
        }
        done = 1;
    }
    unlock(lock);
    return done;
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

#define PHN_PYMALLOC_SHIMS(d)                                                                  \
    void* phn_##d##_malloc(size_t size) {                                                      \
        if (PHN_LIKELY(size - 1 < SMALL_REQUEST_THRESHOLD) && served_by_pymalloc(&d##_kind)) {  \
            void* bp = fast_alloc((uint32_t)((size - 1) >> ALIGNMENT_SHIFT));                  \
            if (PHN_LIKELY(bp != NULL))                                                        \
                return bp;                                                                     \
        }                                                                                      \
        return phnimpl_##d##_malloc(size, PHN_CALLER);                                         \
    }                                                                                          \
    void* phn_##d##_calloc(size_t nelem, size_t elsize) {                                      \
        size_t size;                                                                           \
        if (!__builtin_mul_overflow(nelem, elsize, &size) && size - 1 < SMALL_REQUEST_THRESHOLD \
            && served_by_pymalloc(&d##_kind)) {                                                \
            void* bp = fast_alloc((uint32_t)((size - 1) >> ALIGNMENT_SHIFT));                  \
            if (bp != NULL) {                                                                  \
                memset(bp, 0, size);                                                           \
                return bp;                                                                     \
            }                                                                                  \
        }                                                                                      \
        return phnimpl_##d##_calloc(nelem, elsize, PHN_CALLER);                                \
    }                                                                                          \
    void* phn_##d##_realloc(void* ptr, size_t new_size) {                                      \
        return phnimpl_##d##_realloc(ptr, new_size, PHN_CALLER);                               \
    }                                                                                          \
    void phn_##d##_free(void* ptr) {                                                           \
        if (ptr != NULL && served_by_pymalloc(&d##_kind) && PHN_LIKELY(fast_free(ptr)))        \
            return;                                                                            \
        phnimpl_##d##_free(ptr, PHN_CALLER);                                                   \
    }

PHN_PYMALLOC_SHIMS(mem)
PHN_PYMALLOC_SHIMS(obj)

PHN_IMPL size_t phnimpl_obj_malloc_many(size_t size, size_t n, void** out, void* caller);
PHN_IMPL void phnimpl_obj_free_many(void* const* ptrs, size_t n, void* caller);
size_t phn_obj_malloc_many(size_t size, size_t n, void** out) { return phnimpl_obj_malloc_many(size, n, out, PHN_CALLER); }
void phn_obj_free_many(void* const* ptrs, size_t n) { phnimpl_obj_free_many(ptrs, n, PHN_CALLER); }
