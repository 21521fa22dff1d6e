/* phn_fast_debug.c - the debug hooks' blocks of more than 488 bytes in C (the common case
 * over pymalloc is inlined into the entry points: phn_fast_debug.h, which shows the layout).
 * While the RAW domain has the debug hooks over C malloc (what PYHEAPNATIVE_ALLOCATOR=debug
 * installs), pymalloc passes such a block to RAW, so, as in CPython, two debug blocks are
 * nested in one malloc'ed block:
 *
 *    raw = malloc(N + 48)
 *    | N+24 | 'r' pad | N | 'm'/'o' pad | N data  | 8 x 0xFD | 8 x 0xFD |
 *    raw    raw+16    raw+16 (the OBJ block's head)  raw+32 = p
 *
 * Both heads are in LiveBlocks (raw: N+24, raw+16: N), which is how a foreign pointer or a
 * double free is told apart without reading memory. malloc, free and realloc do here what the
 * two layers of managed hooks do one after the other (the same checks, the same registry
 * entries and freed ring, pymalloc's count of RAW blocks, the same final bytes). Anything
 * else — a failing check, a contended lock, a table that must grow, a failed C malloc — goes
 * to the managed hooks, before anything changed. */
#include "phn_fast_debug.h"

/* LiveBlocks' statics and what the nested case reads, handed over by
 * phnimpl_debug_configure (Core/Debug/LiveBlocksNative.cs). */
typedef struct live_blocks_state {
    int32_t* lock;                   /* LiveBlocks.s_lock */
    address_table* blocks;           /* LiveBlocks.s_blocks: head -> requested size */
    uintptr_t* const* freed;         /* &LiveBlocks.s_freed: the ring (NULL until a removal) */
    int32_t* freed_next;
    const domain_entry* const* raw;  /* &RawDomain.Entry's address */
    int64_t* raw_allocated_blocks;   /* Pymalloc.RawAllocatedBlocks */
} live_blocks_state;

enum { FREED_RING_LENGTH = 4096 };   /* LiveBlocks.FreedRingLength */

static live_blocks_state live;
static volatile int live_configured;

PHN_IMPL void phnimpl_debug_configure(const live_blocks_state* s) {
    live = *s;
    __atomic_store_n(&live_configured, 1, __ATOMIC_RELEASE);
}

PHN_IMPL int32_t* phn_live_blocks_lock_word(void) {
    return __atomic_load_n(&live_configured, __ATOMIC_ACQUIRE) ? live.lock : NULL;
}

/* LiveBlocks.Add, for a block registered after its realloc when the table must grow. */
PHN_IMPL void phnimpl_debug_register(void* head, size_t size);

PHN_IMPL uint32_t phn_debug_ceil_reciprocals[NUM_SIZE_CLASSES];

PHN_IMPL void phn_debug_configure(void) {
    for (uint32_t i = 0; i < NUM_SIZE_CLASSES; i++) {
        uint64_t size = (uint64_t)(i + 1) << ALIGNMENT_SHIFT;
        phn_debug_ceil_reciprocals[i] = (uint32_t)(((1ull << 32) + size - 1) / size);
    }
}

/* ---- the nested case: a RAW debug block around the MEM/OBJ one ------------------------ */

/* The RAW domain's debug hooks when they wrap C malloc, or NULL. */
static inline const debug_api* raw_debug_over_malloc(void) {
    if (!__atomic_load_n(&live_configured, __ATOMIC_ACQUIRE))
        return NULL;
    const domain_entry* raw = *live.raw;
    if (__atomic_load_n(&raw->kind, __ATOMIC_ACQUIRE) != BACKEND_WRAPPER || raw->table->kind != WRAPPER_DEBUG)
        return NULL;
    const debug_api* raw_api = (const debug_api*)raw->table->context;
    return raw_api->underlying.kind < BACKEND_CUSTOM ? raw_api : NULL;   /* RAW's 0 and 1: C malloc */
}

static inline void remember_freed(uintptr_t head) {
    uintptr_t* ring = *live.freed;
    ring[*live.freed_next] = head;
    *live.freed_next = (*live.freed_next + 1) % FREED_RING_LENGTH;
}

/* Registers a nested block (RAW first, as the layers do); 0 when the table must grow. */
static inline int register_nested_locked(char* raw_head, size_t nbytes) {
    address_table* t = live.blocks;
    if (!phn_table_has_room(t, 2))
        return 0;
    uintptr_t outer = (uintptr_t)raw_head, inner = outer + 2 * SST;
    phn_table_store(t, phn_table_slot(t, outer), outer, nbytes + DEBUG_OVERHEAD, 0);
    phn_table_store(t, phn_table_slot(t, inner), inner, nbytes, 0);
    return 1;
}

/* Checks the nested block of p as both layers would and takes it out of LiveBlocks (the
 * inner head, then the raw one, into the freed ring): its requested size in *nbytes and its
 * raw head, or NULL (nothing changed) when the managed hooks must look at it. */
static char* detach_nested(const debug_api* api, const debug_api* raw_api, char* p, size_t* nbytes) {
    char* inner = p - 2 * SST;
    char* outer = inner - 2 * SST;
    if (!phn_try_lock(live.lock))
        return NULL;
    address_table* t = live.blocks;
    address_entry* ei = phn_table_find(t, (uintptr_t)inner);
    address_entry* eo = phn_table_find(t, (uintptr_t)outer);
    size_t n = 0, raw_n = 0;
    if (ei == NULL || eo == NULL || *live.freed == NULL || eo->value != ei->value + DEBUG_OVERHEAD
        || !sound_block(inner, api->api_id, ei->value, &n) || n != ei->value
        || !sound_block(outer, raw_api->api_id, eo->value, &raw_n) || raw_n != eo->value) {
        phn_unlock(live.lock);
        return NULL;
    }
    phn_table_remove(t, ei);
    remember_freed((uintptr_t)inner);
    phn_table_remove(t, phn_table_find(t, (uintptr_t)outer));   /* the removal may have moved it */
    remember_freed((uintptr_t)outer);
    phn_unlock(live.lock);
    *nbytes = n;
    return outer;
}

static int nested_malloc(const debug_api* api, const debug_api* raw_api, size_t nbytes, int zero, void** out) {
    if (nbytes > (size_t)PTRDIFF_MAX - 2 * DEBUG_OVERHEAD)
        return 0;
    size_t total = nbytes + 2 * DEBUG_OVERHEAD;
    char* outer = zero ? calloc(1, total) : malloc(total);
    if (outer == NULL)
        return 0;
    int registered = 0;
    if (phn_try_lock(live.lock)) {
        registered = register_nested_locked(outer, nbytes);
        phn_unlock(live.lock);
    }
    if (!registered) {
        free(outer);
        return 0;
    }
    __atomic_fetch_add(live.raw_allocated_blocks, 1, __ATOMIC_RELAXED);
    char* p = outer + 2 * DEBUG_OVERHEAD - 2 * SST;
    write_header(outer, nbytes + DEBUG_OVERHEAD, raw_api->api_id);
    write_header(p - 2 * SST, nbytes, api->api_id);
    if (!zero)
        memset(p, CLEAN_BYTE, nbytes);
    write_trailer(p, nbytes);
    write_trailer(p, nbytes + SST);
    *out = p;
    return 1;
}

static int nested_free(const debug_api* api, const debug_api* raw_api, char* p) {
    size_t nbytes;
    char* outer = detach_nested(api, raw_api, p, &nbytes);
    if (outer == NULL)
        return 0;
    memset(outer, DEAD_BYTE, nbytes + 2 * DEBUG_OVERHEAD);
    free(outer);
    __atomic_fetch_sub(live.raw_allocated_blocks, 1, __ATOMIC_RELAXED);
    return 1;
}

enum { ERASED_SIZE = 64 };

/* DebugHooks.Realloc of both layers: the headers, the trailers and up to 64 bytes at each end
 * of the data are marked dead (a copy kept) so that a moved block's old copy reads as freed
 * memory; after C realloc the new block gets its headers and trailers, the saved bytes, and
 * 0xCD where it grew. */
static int nested_realloc(const debug_api* api, const debug_api* raw_api, char* p, size_t nbytes, void** out) {
    if (nbytes > (size_t)PTRDIFF_MAX - 2 * DEBUG_OVERHEAD)
        return 0;
    size_t old;
    char* outer = detach_nested(api, raw_api, p, &old);
    if (outer == NULL)
        return 0;
    char save[2 * ERASED_SIZE];
    size_t lead, tail;   /* bytes saved from the start, and from the end */
    if (PHN_LIKELY(old > 2 * ERASED_SIZE)) {
        lead = tail = ERASED_SIZE;   /* constant sizes: a few vector moves */
        memcpy(save, p, ERASED_SIZE);
        memcpy(save + ERASED_SIZE, p + old - ERASED_SIZE, ERASED_SIZE);
        memset(outer, DEAD_BYTE, 2 * DEBUG_OVERHEAD - 2 * SST + ERASED_SIZE);
        memset(p + old - ERASED_SIZE, DEAD_BYTE, ERASED_SIZE + 2 * SST);
    } else {
        lead = old;
        tail = 0;
        memcpy(save, p, old);
        memset(outer, DEAD_BYTE, old + 2 * DEBUG_OVERHEAD);
    }

    char* moved = realloc(outer, nbytes + 2 * DEBUG_OVERHEAD);
    size_t now = moved != NULL ? nbytes : old;
    char* head = moved != NULL ? moved : outer;
    char* q = head + 2 * DEBUG_OVERHEAD - 2 * SST;
    write_header(head, now + DEBUG_OVERHEAD, raw_api->api_id);
    write_header(q - 2 * SST, now, api->api_id);
    if (PHN_LIKELY(now >= old && tail == ERASED_SIZE)) {
        memcpy(q, save, ERASED_SIZE);
        memcpy(q + old - ERASED_SIZE, save + ERASED_SIZE, ERASED_SIZE);
    } else {
        memcpy(q, save, lead < now ? lead : now);
        if (now > old - tail)
            memcpy(q + old - tail, save + ERASED_SIZE, now - (old - tail) < tail ? now - (old - tail) : tail);
    }
    if (now > old)
        memset(q + old, CLEAN_BYTE, now - old);
    write_trailer(q, now);
    write_trailer(q, now + SST);

    int registered = 0;
    if (phn_try_lock(live.lock)) {
        registered = register_nested_locked(head, now);
        phn_unlock(live.lock);
    }
    if (!registered) {
        phnimpl_debug_register(head, now + DEBUG_OVERHEAD);
        phnimpl_debug_register(q - 2 * SST, now);
    }
    if (moved == NULL)
        return 0;   /* the block is as it was: the managed hooks try again and report */
    *out = q;
    return 1;
}

/* ---- the entry points' calls ----------------------------------------------------------- */

PHN_IMPL int phn_debug_nested_malloc(const debug_api* api, size_t nbytes, int zero, void** out) {
    const debug_api* raw_api = raw_debug_over_malloc();
    return raw_api != NULL && nested_malloc(api, raw_api, nbytes, zero, out);
}

PHN_IMPL int phn_debug_nested_free(const debug_api* api, void* p) {
    const debug_api* raw_api = raw_debug_over_malloc();
    return raw_api != NULL && nested_free(api, raw_api, p);
}

/* A realloc of a nested block (the common case of a growing buffer); realloc(NULL, n) is a
 * malloc. A block of pymalloc's is left to the managed hooks (pymalloc's realloc decides
 * whether it stays). */
PHN_IMPL int phn_debug_realloc(const debug_api* api, void* p, size_t nbytes, void** out) {
    if (p == NULL)
        return phn_debug_malloc(api, nbytes, 0, out);   /* phn_fast_debug.h */
    if (phn_pymalloc_owns((char*)p - 2 * SST))
        return 0;
    const debug_api* raw_api = raw_debug_over_malloc();
    return raw_api != NULL && nested_realloc(api, raw_api, p, nbytes, out);
}
