/* phn_fast_debug.h - the debug hooks' block (Core/Debug/DebugHooks.cs is the whole
 * implementation), and their common case over pymalloc, inlined into the entry points
 * (phn_entry.c): a call through the hooks costs their checks and fills, not a chain of calls.
 *
 *    head = p-16   p-8  p-7        p            p+N          p+N+8
 *    | size N      | id | 7 x 0xFD | N data     | 8 x 0xFD   |
 *    | big-endian  |    |          | 0xCD / 0   |            |
 *
 * Blocks of up to 488 bytes are a block of pymalloc's fast path. free accepts a block only
 * when everything CPython's _PyMem_DebugCheckAddress checks holds, and the pointer is the
 * start of a live pymalloc block (BlockDump.Diagnose's tests for pymalloc-backed blocks); then
 * it fills the block with 0xDD and gives it back. Larger blocks are two nested debug blocks
 * in a block of C malloc (phn_fast_debug.c). Anything else — a failing check, a block of
 * another allocator, a contended lock — goes to the managed hooks, before anything changed;
 * they diagnose, print the dump and raise the fatal error, or report the failure. */
#ifndef PHN_FAST_DEBUG_H
#define PHN_FAST_DEBUG_H

#include "phn_fast.h"

enum { SST = 8, DEBUG_OVERHEAD = 3 * SST };
#define CLEAN_BYTE 0xCD
#define DEAD_BYTE 0xDD
#define FORBIDDEN_WORD 0xFDFDFDFDFDFDFDFDull
#define LEADING_PAD_WORD 0xFDFDFDFDFDFDFD00ull   /* the 7 pad bytes after the id byte */

/* ceil(2^32 / block size) per class: the offset of an address in its block without a
 * division (distances are below 2^14, so the quotient is exact). Set by phn_debug_configure. */
PHN_IMPL extern uint32_t phn_debug_ceil_reciprocals[NUM_SIZE_CLASSES];

/* The blocks of C malloc (phn_fast_debug.c): 1 when served, 0 for the managed hooks. */
PHN_IMPL int phn_debug_nested_malloc(const debug_api* api, size_t nbytes, int zero, void** out);
PHN_IMPL int phn_debug_nested_free(const debug_api* api, void* p);

static inline void write_header(char* head, size_t nbytes, uint8_t api_id) {
    uint64_t size_field = __builtin_bswap64((uint64_t)nbytes);
    uint64_t lead = LEADING_PAD_WORD | api_id;
    memcpy(head, &size_field, SST);
    memcpy(head + SST, &lead, SST);
}

static inline void write_trailer(char* data, size_t nbytes) {
    uint64_t trail = FORBIDDEN_WORD;
    memcpy(data + nbytes, &trail, SST);
}

/* memset for the hooks' fills, inline (no call, so the entry points need no stack frame):
 * overlapping 16-byte stores, 64 bytes per step of the loop. */
typedef uint64_t phn_fill_vector __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) void fill_bytes(char* p, uint8_t byte, size_t n) {
    uint64_t word = 0x0101010101010101ull * byte;
    phn_fill_vector v = { word, word };
    if (n >= 16) {
        if (n > 64) {
            char* last = p + n - 64;
            for (; p < last; p += 64) {
                memcpy(p, &v, 16);
                memcpy(p + 16, &v, 16);
                memcpy(p + 32, &v, 16);
                memcpy(p + 48, &v, 16);
            }
            p = last;   /* the last 64 bytes (what is left of them, and some again) */
            n = 64;
        }
        memcpy(p, &v, 16);
        memcpy(p + n - 16, &v, 16);
        if (n > 32) {
            memcpy(p + 16, &v, 16);
            memcpy(p + n - 32, &v, 16);
        }
    } else if (n >= 8) {
        memcpy(p, &word, 8);
        memcpy(p + n - 8, &word, 8);
    } else if (n >= 4) {
        uint32_t w4 = (uint32_t)word;
        memcpy(p, &w4, 4);
        memcpy(p + n - 4, &w4, 4);
    } else if (n > 0) {
        p[0] = (char)byte;
        p[n / 2] = (char)byte;
        p[n - 1] = (char)byte;
    }
}

/* CPython's checks of a block whose extent is known, in its order: id and leading pad, the
 * size, the trailing pad. */
static inline int sound_block(const char* head, uint8_t api_id, size_t max_nbytes, size_t* nbytes) {
    uint64_t size_field, lead, trail;
    memcpy(&size_field, head, SST);
    memcpy(&lead, head + SST, SST);
    if (lead != (LEADING_PAD_WORD | api_id))
        return 0;
    *nbytes = __builtin_bswap64(size_field);
    if (*nbytes > max_nbytes)
        return 0;
    memcpy(&trail, head + 2 * SST + *nbytes, SST);
    return trail == FORBIDDEN_WORD;
}

/* Makes a fresh pymalloc block head a debug block of nbytes: its data. */
static inline __attribute__((always_inline)) char* debug_block_at(const debug_api* api, char* head, size_t nbytes, int zero) {
    char* data = head + 2 * SST;
    write_header(head, nbytes, api->api_id);
    write_trailer(data, nbytes);
    fill_bytes(data, zero ? 0 : CLEAN_BYTE, nbytes);
    return data;
}

/* DebugHooks.Malloc over pymalloc in the calling thread's biased heap, with no call: the data,
 * or NULL (nothing changed) when the call needs more (phn_debug_malloc). */
static inline __attribute__((always_inline)) void* phn_debug_malloc_biased(const debug_api* api, size_t nbytes) {
    if (nbytes > SMALL_REQUEST_THRESHOLD - DEBUG_OVERHEAD)
        return NULL;
    char* head = phn_pymalloc_alloc_biased(phn_size_class(nbytes + DEBUG_OVERHEAD));
    return head != NULL ? debug_block_at(api, head, nbytes, 0) : NULL;
}

/* DebugHooks.Malloc over pymalloc: 1 when served (the data in *out). */
static inline __attribute__((always_inline)) int phn_debug_malloc(const debug_api* api, size_t nbytes, int zero, void** out) {
    if (nbytes > SMALL_REQUEST_THRESHOLD - DEBUG_OVERHEAD)
        return phn_debug_nested_malloc(api, nbytes, zero, out);
    char* head = phn_pymalloc_alloc(phn_size_class(nbytes + DEBUG_OVERHEAD));
    if (head == NULL)
        return 0;
    *out = debug_block_at(api, head, nbytes, zero);
    return 1;
}

/* DebugHooks.Free's checks of a pymalloc block, then its 0xDD: the block's head, to be given
 * back to pymalloc, or NULL (nothing changed) when p is not a sound live block of pymalloc's
 * fast path (the managed hooks diagnose it) or not pymalloc's at all (phn_debug_free). */
static inline __attribute__((always_inline)) char* phn_debug_kill_block(const debug_api* api, void* p) {
    char* head = (char*)p - 2 * SST;
    if (!phn_pymalloc_owns(head))
        return NULL;
    /* A live block of a pool in use (the pool cannot change while the block is live). */
    pool_header* pool = phn_pool_of(head);
    uint32_t idx = pool->szidx;
    if (pool->count == 0 || idx >= NUM_SIZE_CLASSES)
        return NULL;
    char* first = (char*)pool + POOL_OVERHEAD;
    if (head < first || head >= (char*)pool + pool->nextoffset)
        return NULL;
    uint32_t block_size = (idx + 1) << ALIGNMENT_SHIFT;
    uint32_t distance = (uint32_t)(head - first);
    if (distance != (uint32_t)(((uint64_t)distance * phn_debug_ceil_reciprocals[idx]) >> 32) * block_size)
        return NULL;   /* an interior pointer */
    size_t nbytes;
    if (!sound_block(head, api->api_id, block_size - DEBUG_OVERHEAD, &nbytes))
        return NULL;
    fill_bytes(head, DEAD_BYTE, nbytes + DEBUG_OVERHEAD);
    return head;
}

/* DebugHooks.Free over pymalloc: 1 when done, 0 (nothing changed) for the managed hooks. */
static inline __attribute__((always_inline)) int phn_debug_free(const debug_api* api, void* p) {
    if (!phn_pymalloc_owns((char*)p - 2 * SST))
        return phn_debug_nested_free(api, p);
    char* head = phn_debug_kill_block(api, p);
    if (head == NULL)
        return 0;
    phn_pymalloc_free_in_pool(phn_pool_of(head), head);
    return 1;
}

#endif
