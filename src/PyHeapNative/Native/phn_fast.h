/* phn_fast.h - what the C fast paths (phn_entry.c, phn_fast_debug.[ch], phn_fast_trace.[ch],
 * phn_heap_bias.c, phn_fork.c) share: the layouts of the managed structures they read and write,
 * pymalloc's common malloc and free, and the biased heaps.
 *
 * A call from C into managed code pays a reverse P/Invoke transition each way (about 90
 * instructions per malloc + free pair, more than pymalloc's own work). So the common cases
 * of the MEM and OBJ domains are done in C, on the managed code's own structures and under
 * its own locks (or its heap's bias, below), and everything else goes to the managed
 * implementation, which does the same operations: the observable behaviour is the same
 * whichever side served a call.
 *
 * The layouts below are those of (keep them in step):
 *   Core/Pymalloc/PoolHeader.cs        pool_header (48 bytes, Tunables.PoolOverhead)
 *   Core/Pymalloc/Pymalloc.cs          the class lines: one 64-byte line per (heap, class),
 *                                      its HeapLock at 0, the used-pool list head at 8
 *   Core/Pymalloc/ArenaMap.cs          the radix tree and its leaves (arena_leaf)
 *   Core/Raw/AllocatorTable.cs         DomainEntry (domain_entry), WrapperTable, Backend,
 *                                      WrapperKind
 *   Core/Debug/DebugHooks.cs           DebugApi (debug_api), the block layout and patterns
 *   Core/Tracing/Tracer.cs             TracingApi, the tracer's shared state (trace_state)
 *   Core/Runtime/AddressTable.cs       the open-addressing table of the traces and of the
 *                                      debug hooks' live blocks (address_table)
 *   Core/Debug/LiveBlocks.cs           the live blocks' statics (live_blocks_state)
 *   Core/Pymalloc/HeapBias.cs          HeapBiasState (heap_bias), one 64-byte line per heap
 * The allocator, debug-hook, tracemalloc and stress tests run every path against them. */
#ifndef PHN_FAST_H
#define PHN_FAST_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PHN_IMPL __attribute__((visibility("hidden")))
#define PHN_LIKELY(x) __builtin_expect(!!(x), 1)
#define PHN_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- pymalloc (Core/Pymalloc) --------------------------------------------------------- */

enum {
    ALIGNMENT_SHIFT = 4,
    SMALL_REQUEST_THRESHOLD = 512,
    POOL_BITS = 14,
    POOL_OVERHEAD = 48,       /* Tunables.PoolOverhead */
    ARENA_BITS = 20,
    NUM_SIZE_CLASSES = 32,
    HEAP_COUNT = 4,           /* Pymalloc.HeapCount: the heaps threads are given */
    TRACED_HEAP = HEAP_COUNT, /* Pymalloc.TracedHeap: tracemalloc's blocks (below) */
    ALL_HEAPS = HEAP_COUNT + 1,
    CLASS_LINE = 64,          /* Pymalloc.LineSize: lock at 0, used-pool head at 8 */
    USED_POOLS_OFFSET = 8,
    ROOT_BITS = 15, MID_BITS = 15, BOT_BITS = 64 - ARENA_BITS - ROOT_BITS - MID_BITS,
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

/* The traced heap (Core/Pymalloc/TracedHeap.cs): tracemalloc's blocks of 1..496 bytes over
 * pymalloc, each with its trace in the 16 bytes before the caller's data. Its traceback is 0
 * exactly when the block holds no trace. */
enum { TRACE_HEADER_SIZE = 16, TRACED_MAX_REQUEST = SMALL_REQUEST_THRESHOLD - TRACE_HEADER_SIZE };

typedef struct trace_header {   /* TraceHeader */
    size_t size;
    size_t traceback;
} trace_header;

/* ---- domains and wrappers (Core/Raw/AllocatorTable.cs) --------------------------------- */

enum { BACKEND_PYMALLOC = 0, BACKEND_MALLOC = 1, BACKEND_CUSTOM = 2, BACKEND_WRAPPER = 3 };
enum { WRAPPER_NONE = 0, WRAPPER_DEBUG = 1, WRAPPER_TRACING = 2 };

typedef struct wrapper_table wrapper_table;

typedef struct domain_entry {
    uint8_t kind;             /* Backend */
    wrapper_table* table;     /* Custom, Wrapper: the installed table (published first) */
} domain_entry;

struct wrapper_table {
    void* context;                 /* AllocatorTable C: context, then its four functions */
    void* c_functions[4];
    void* managed_functions[4];    /* the wrapper's managed entry points */
    uint8_t kind;                  /* WrapperKind */
    domain_entry* wrapped;
};

typedef struct debug_api {         /* DebugHooks.DebugApi, the debug wrapper's context */
    domain_entry underlying;
    uint8_t api_id;                /* 'r', 'm' or 'o' */
} debug_api;

typedef struct tracing_api {       /* Tracer.TracingApi, the tracing wrapper's context */
    domain_entry underlying;
    uint8_t calls_user_code;
    uint8_t wraps_debug;
} tracing_api;

/* ---- pymalloc's state, handed over by phnimpl_fast_configure --------------------------- */

PHN_IMPL extern char* phn_fast_class_lines;    /* Pymalloc.s_classLines */
PHN_IMPL extern void*** phn_fast_arena_root;   /* ArenaMap.s_root */

/* The managed slow paths the fast paths fall back on (Exports/MemExports.cs). */
PHN_IMPL void phnimpl_pymalloc_free(void* p);
PHN_IMPL void* phnimpl_pymalloc_realloc(void* p, size_t size);

/* ArenaMap.Owns: the radix tree test. */
static inline __attribute__((always_inline)) int phn_pymalloc_owns(const void* p) {
    uintptr_t a = (uintptr_t)p;
    void** mid = phn_fast_arena_root[a >> (ARENA_BITS + BOT_BITS + MID_BITS)];
    if (mid == NULL)
        return 0;
    arena_leaf* bot = (arena_leaf*)mid[(a >> (ARENA_BITS + BOT_BITS)) & ((1u << MID_BITS) - 1)];
    if (bot == NULL)
        return 0;
    arena_leaf* leaf = bot + ((a >> ARENA_BITS) & ((1u << BOT_BITS) - 1));
    int32_t tail = (int32_t)(a & ((1u << ARENA_BITS) - 1));
    /* Aligned arenas (the built-in arena allocator's on Linux) have tail_hi -1. */
    return (leaf->tail_hi != 0 && tail >= leaf->tail_hi) || tail < leaf->tail_lo;
}

static inline pool_header* phn_pool_of(const void* p) {
    return (pool_header*)((uintptr_t)p & ~(((uintptr_t)1 << POOL_BITS) - 1));
}

/* HeapLock (Core/Runtime/HeapLock.cs): one word, 0 free, 1 taken. The fast paths only try
 * it; a contended lock sends the call to the managed side, which spins. */
static inline int phn_try_lock(int32_t* lock) {
    int32_t expected = 0;
    return __atomic_compare_exchange_n(lock, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void phn_unlock(int32_t* lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/* The slow paths' way in (revocation, fork): yield until the lock is free. */
static inline void phn_lock_yielding(int32_t* lock) {
    while (!phn_try_lock(lock))
        sched_yield();
}

/* ---- biased heaps (phn_heap_bias.c) ----------------------------------------------------
 * A class lock costs a locked compare-exchange on every malloc and free (a full barrier on
 * x86), which pymalloc under the GIL does not pay. So a heap used by one thread only is
 * biased to it: the owner enters its
 * class lines by raising its busy flag with a plain store, and no other thread touches the
 * heap until it has revoked the bias — for good — with an asymmetric fence:
 *
 *   owner (C fast path)                    another thread (phnimpl_heap_revoke)
 *     busy = 1                               state = REVOKING
 *     compiler barrier                       membarrier(PRIVATE_EXPEDITED): every thread
 *     if state != BIASED: busy = 0,            of the process passes a full barrier
 *        take the lock                       wait until busy == 0
 *     ... the pool work ...                  state = REVOKED; from now on the class
 *     busy = 0                                 locks, for everyone
 *
 * Either the owner's busy = 1 is visible once membarrier returns (the revoker waits for the
 * owner to leave), or the owner's read of the state comes after the barrier and sees it.
 * Only REVOKED lets another thread in: a thread that finds a revocation under way waits for
 * it to finish (the revocations are serialised by one lock).
 * A heap is claimed by the thread it was given to, in the entry point's slow path of its first
 * call (phn_claim_own_heap), holding all 32 of its class locks (so nobody is inside one under its
 * lock). Every thread that takes a class lock of a heap biased to another thread revokes the
 * bias first (C: by going to the managed path, which does it: Core/Pymalloc/HeapBias.cs).
 * A revoked heap stays shared; with membarrier unavailable no heap is ever biased. A thread
 * that exits leaves its heap biased to its identity, which only a later thread with the same
 * pthread_self can reuse (no other thread is running under that identity then). */
enum { BIAS_BIASED = 0, BIAS_REVOKING = 1, BIAS_REVOKED = 2 };

typedef struct heap_bias {
    uint64_t owner;           /* pthread_self of the thread the heap is biased to; 0: nobody */
    int32_t state;            /* BIAS_BIASED, BIAS_REVOKING, BIAS_REVOKED (for good) */
    int32_t busy;             /* 1: the owner is inside one of the heap's class lines */
    char padding[48];
} heap_bias;

PHN_IMPL extern heap_bias phn_heap_bias[ALL_HEAPS];   /* the traced heap's: never claimed */
PHN_IMPL extern int32_t phn_bias_enabled;
PHN_IMPL void phn_heap_try_claim(uint32_t heap, uint64_t self);
PHN_IMPL void phn_heap_bias_configure(void);
PHN_IMPL void phnimpl_heap_revoke(uint32_t heap);
PHN_IMPL void phn_fork_configure(int32_t* pymalloc_arena_lock);   /* phn_fork.c */
PHN_IMPL int32_t* phn_revoke_lock_word(void);   /* what serialises the revocations */
/* The tracer's and the live blocks' locks (NULL until configured), for the fork handlers. */
PHN_IMPL int32_t* phn_trace_lock_word(void);
PHN_IMPL int32_t* phn_live_blocks_lock_word(void);

/* pthread_self(), the thread's identity everywhere in the library (Pymalloc.CurrentHeap
 * hashes it; HeapBias compares owners with it). On x86-64 glibc it is the word at %fs:16
 * (the TCB's self pointer, which is all pthread_self reads): one load, no call. */
static inline uint64_t phn_self(void) {
#if defined(__x86_64__) && defined(__GLIBC__)
    uint64_t self;
    __asm__("movq %%fs:16, %0" : "=r"(self));
    return self;
#else
    return (uint64_t)(uintptr_t)pthread_self();
#endif
}

/* The calling thread's heap, picked on its first call that takes a slow path
 * (phnimpl_own_heap: the next heap in turn that nobody else owns), and — while that heap is
 * biased to the thread — where its class lines and its bias are, so that the fast paths
 * find the line of a class with one shift and one add, and never compare owners (a heap's
 * owner never changes once set; a revocation shows in its state, which they read anyway).
 * Thread-local rather than a hash of the thread's identity: two threads would share a heap
 * whenever their identities hash alike (one pair in four), and then neither is biased.
 * Initial-exec, as glibc's, jemalloc's and mimalloc's thread caches: loads from %fs. A
 * library with such a variable takes its 24 bytes of the static TLS block when it is
 * dlopen'ed (glibc keeps 512 bytes of it for that); TLS descriptors would add a call on
 * every malloc. */
typedef struct thread_heap {
    char* biased_lines;       /* the heap's 32 class lines while biased to the thread, or NULL */
    heap_bias* bias;          /* its bias, with biased_lines */
    uint32_t heap_plus_one;   /* 0 until picked */
} thread_heap;

#define PHN_INITIAL_EXEC __attribute__((tls_model("initial-exec")))
PHN_IMPL extern __thread thread_heap phn_thread_heap PHN_INITIAL_EXEC;
PHN_IMPL uint32_t phnimpl_own_heap(void);   /* also Pymalloc.CurrentHeap's */
/* The paths of a heap not biased to the calling thread (phn_heap_bias.c): its class lock. */
PHN_IMPL void* phn_pymalloc_alloc_shared(uint32_t idx);
PHN_IMPL int phn_pymalloc_free_shared(pool_header* pool, void* p);
/* Frees p (pymalloc's or not) when the biased heap could not: its class lock, else managed
 * (phnimpl_pymalloc_free; the entry points call it through here: one managed callee each). */
PHN_IMPL void phn_pymalloc_free_slow(void* p);

/* Enters a class line of a heap not biased to the calling thread (or whose bias is being or
 * was revoked, or the owner's own while its thread-local view is not set yet; the owner may
 * take its own lock): 1 with its lock taken, 0 when the call must go to the managed path: contended;
 * biased to another thread, or being revoked (the managed path revokes it, or waits for
 * the revocation under way to finish); or the thread's own
 * heap is unowned (the entry point's slow path claims it: phn_claim_own_heap). */
static inline int phn_class_lock(heap_bias* b, uint32_t heap, int32_t* lock, uint64_t self) {
    uint64_t owner = __atomic_load_n(&b->owner, __ATOMIC_RELAXED);
    if (owner == 0 && phn_bias_enabled && heap + 1 == phn_thread_heap.heap_plus_one)
        return 0;
    if (!phn_try_lock(lock))
        return 0;
    owner = __atomic_load_n(&b->owner, __ATOMIC_RELAXED);
    if (owner != 0 && owner != self && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) != BIAS_REVOKED) {
        phn_unlock(lock);
        return 0;
    }
    return 1;
}

/* The owner's way in: 1 when it may work on the heap's lines without their locks until
 * phn_bias_leave; 0 when the bias is being or was revoked (then take the lock). */
static inline __attribute__((always_inline)) int phn_bias_enter(heap_bias* b) {
    __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* the asymmetric fence's light side */
    if (PHN_LIKELY(__atomic_load_n(&b->state, __ATOMIC_RELAXED) == BIAS_BIASED))
        return 1;
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    return 0;
}

static inline __attribute__((always_inline)) void phn_bias_leave(heap_bias* b) {
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
}

/* The slow paths' first step: the calling thread's heap, when nobody owns it yet, becomes
 * its own; and when it is (now or from before) biased to the thread, the fast paths learn
 * where it is (phn_heap_bias.c). */
PHN_IMPL void phn_claim_own_heap(void);

/* A block of class idx from the first used pool of a class line, or NULL (no used pool).
 * A pool that becomes full leaves its list, as in pymalloc. The line is entered. */
static inline __attribute__((always_inline)) void* phn_take_block(char* line, uint32_t idx) {
    pool_header* head = (pool_header*)(line + USED_POOLS_OFFSET);
    pool_header* pool = head->nextpool;
    if (pool == head)
        return NULL;
    void* block = pool->freeblock;   /* never NULL for a used pool */
    void* next = *(void**)block;
    pool->count++;
    if (PHN_LIKELY(next != NULL)) {
        pool->freeblock = next;
    } else if (pool->nextoffset <= pool->maxnextoffset) {
        char* fresh = (char*)pool + pool->nextoffset;   /* thread on a virgin block */
        pool->nextoffset += (idx + 1) << ALIGNMENT_SHIFT;
        *(void**)fresh = NULL;
        ((trace_header*)fresh)->traceback = 0;   /* the traced heap's invariant, in any heap */
        pool->freeblock = fresh;
    } else {
        /* The pool is now full: unlink it from the used pools (Pymalloc.ExtendPool). */
        pool->freeblock = NULL;
        pool_header* after = pool->nextpool;
        pool_header* before = pool->prevpool;
        after->prevpool = before;
        before->nextpool = after;
    }
    return block;
}

/* A block of class idx from the calling thread's heap when it is biased to the thread, or
 * NULL: try phn_pymalloc_alloc_shared, then the managed path. No call: the entry points need
 * no stack frame for it. */
static inline __attribute__((always_inline)) void* phn_pymalloc_alloc_biased(uint32_t idx) {
    thread_heap* th = &phn_thread_heap;
    char* lines = th->biased_lines;
    if (PHN_LIKELY(lines != NULL)) {
        heap_bias* b = th->bias;
        if (PHN_LIKELY(phn_bias_enter(b))) {
            void* bp = phn_take_block(lines + (size_t)idx * CLASS_LINE, idx);
            phn_bias_leave(b);
            return bp;
        }
    }
    return NULL;
}

/* A block of class idx from the calling thread's heap, or NULL: take the managed path. */
static inline __attribute__((always_inline)) void* phn_pymalloc_alloc(uint32_t idx) {
    void* bp = phn_pymalloc_alloc_biased(idx);
    return PHN_LIKELY(bp != NULL) ? bp : phn_pymalloc_alloc_shared(idx);
}

/* Gives p back to its pool, the line entered: 0 (nothing done) when the pool would become
 * empty (that takes the arena lock: the managed path). */
static inline __attribute__((always_inline)) int phn_return_block(pool_header* pool, char* line, void* p) {
    void* last = pool->freeblock;
    if (pool->count <= 1)
        return 0;
    *(void**)p = last;
    pool->freeblock = p;
    pool->count--;
    if (PHN_UNLIKELY(last == NULL)) {
        /* The pool was full: link it at the front of its list, so the very next allocation
         * of the class reuses p (Pymalloc.InsertToUsedPool). */
        pool_header* head = (pool_header*)(line + USED_POOLS_OFFSET);
        pool_header* next = head->nextpool;
        pool->nextpool = next;
        pool->prevpool = head;
        next->prevpool = pool;
        head->nextpool = pool;
    }
    return 1;
}

/* 1 if p, a block of pymalloc, went back to its pool here; 0 if it did not (its pool would
 * become empty, its heap is not biased to the calling thread, or that bias was revoked):
 * try phn_pymalloc_free_slow (the class lock, then the managed path). No call. */
static inline __attribute__((always_inline)) int phn_pymalloc_free_biased(pool_header* pool, void* p) {
    thread_heap* th = &phn_thread_heap;
    char* lines = th->biased_lines;
    if (PHN_LIKELY(lines != NULL) && PHN_LIKELY(pool->heap + 1 == th->heap_plus_one)) {
        heap_bias* b = th->bias;
        if (PHN_LIKELY(phn_bias_enter(b))) {
            int done = phn_return_block(pool, lines + (size_t)pool->szidx * CLASS_LINE, p);
            phn_bias_leave(b);
            return done;
        }
    }
    return 0;
}

/* Gives back p, a block of pool: the biased heap's free, else phn_pymalloc_free_slow. */
static inline __attribute__((always_inline)) void phn_pymalloc_free_in_pool(pool_header* pool, void* p) {
    if (!phn_pymalloc_free_biased(pool, p))
        phn_pymalloc_free_slow(p);
}

/* Gives back p, pymalloc's or not (a RAW-served block goes to RAW). */
static inline __attribute__((always_inline)) void phn_pymalloc_free_any(void* p) {
    if (!(phn_pymalloc_owns(p) && phn_pymalloc_free_biased(phn_pool_of(p), p)))
        phn_pymalloc_free_slow(p);
}

/* The size class of a small request (1..512 bytes). */
static inline uint32_t phn_size_class(size_t size) { return (uint32_t)((size - 1) >> ALIGNMENT_SHIFT); }

/* The header of p, a block the caller holds, when p is in the traced heap; else NULL. */
static inline __attribute__((always_inline)) trace_header* phn_trace_header_of(const void* p) {
    return phn_pymalloc_owns(p) && phn_pool_of(p)->heap == TRACED_HEAP ? (trace_header*)p - 1 : NULL;
}

/* ---- AddressTable (Core/Runtime/AddressTable.cs) ---------------------------------------
 * The traces' and the debug hooks' live blocks' table: open addressing keyed by (domain,
 * address), linear probing, backward-shift deletion, kept at most half full. The C side
 * uses domain 0 only, and never grows a table: without room it leaves the call to the
 * managed side. The owner's lock is held around every use. */

typedef struct address_entry {   /* AddressTable.Entry */
    uintptr_t address;           /* 0: an empty slot */
    uint32_t domain;
    size_t value;
    size_t extra;
} address_entry;

typedef struct address_table {   /* AddressTable */
    address_entry* slots;
    size_t capacity;             /* 0 or a power of two */
    size_t count;
} address_table;

static inline __attribute__((always_inline)) size_t phn_table_home(uintptr_t address, uint32_t domain,
                                                                   size_t mask) {
    return (size_t)(((uint64_t)address ^ ((uint64_t)domain << 47)) * 0x9E3779B97F4A7C15ull >> 17) & mask;
}

/* n more entries fit without growing (AddressTable.Reserve). */
static inline __attribute__((always_inline)) int phn_table_has_room(const address_table* t, size_t n) {
    return (t->count + n) * 2 <= t->capacity;
}

/* The entry of address, or NULL. */
static inline __attribute__((always_inline)) address_entry* phn_table_find(address_table* t, uintptr_t address) {
    if (t->capacity == 0 || address == 0)
        return NULL;
    size_t mask = t->capacity - 1;
    for (size_t i = phn_table_home(address, 0, mask); t->slots[i].address != 0; i = (i + 1) & mask)
        if (t->slots[i].address == address && t->slots[i].domain == 0)
            return &t->slots[i];
    return NULL;
}

/* The slot of address: its entry, or the empty slot where it goes (the table has room). */
static inline __attribute__((always_inline)) address_entry* phn_table_slot(address_table* t, uintptr_t address) {
    size_t mask = t->capacity - 1;
    size_t i = phn_table_home(address, 0, mask);
    while (t->slots[i].address != 0 && !(t->slots[i].address == address && t->slots[i].domain == 0))
        i = (i + 1) & mask;
    return &t->slots[i];
}

/* Fills a slot of phn_table_slot (AddressTable.Set). */
static inline __attribute__((always_inline)) void phn_table_store(address_table* t, address_entry* e, uintptr_t address,
                                                                 size_t value, size_t extra) {
    if (e->address == 0)
        t->count++;
    e->address = address;
    e->domain = 0;
    e->value = value;
    e->extra = extra;
}

/* Removes an entry, shifting back the ones that probed past it (AddressTable.Remove). */
static inline __attribute__((always_inline)) void phn_table_remove(address_table* t, address_entry* e) {
    size_t mask = t->capacity - 1;
    size_t hole = (size_t)(e - t->slots);
    for (size_t i = (hole + 1) & mask; t->slots[i].address != 0; i = (i + 1) & mask) {
        size_t h = phn_table_home(t->slots[i].address, t->slots[i].domain, mask);
        if (((i - h) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    memset(&t->slots[hole], 0, sizeof(address_entry));
    t->count--;
}

/* ---- the wrappers' common cases (phn_fast_debug.[ch], phn_fast_trace.[ch]) -------------
 * phn_debug_malloc/free/realloc and phn_trace_malloc/free/realloc return 1 when they served
 * the call (the result in *out), 0 when the managed wrapper must take it; a 0 comes before
 * anything was changed. The frameless pieces the entry points use first (phn_debug_malloc_biased,
 * phn_debug_kill_block, phn_trace_forget) say what they return. */

/* phn_debug_malloc and phn_debug_free: phn_fast_debug.h */
PHN_IMPL int phn_debug_realloc(const debug_api* api, void* p, size_t nbytes, void** out);
PHN_IMPL void phn_debug_configure(void);

/* phn_trace_malloc and phn_trace_free: phn_fast_trace.h */
PHN_IMPL int phn_trace_realloc(const tracing_api* api, void* ptr, size_t size, void* caller, void** out);

#endif
