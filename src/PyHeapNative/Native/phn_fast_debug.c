/* phn_fast_debug.c - the debug hooks' common case in C (Core/Debug/DebugHooks.cs is the
 * whole implementation): a MEM or OBJ block of the debug hooks over pymalloc itself, small
 * enough to stay a pymalloc block.
 *
 *    head = p-16   p-8  p-7        p            p+N          p+N+8
 *    | size N      | id | 7 x 0xFD | N data     | 8 x 0xFD   |
 *    | big-endian  |    |          | 0xCD / 0   |            |
 *
 * malloc writes that layout into a block of pymalloc's fast path. free accepts a block only
 * when everything CPython's _PyMem_DebugCheckAddress checks holds, and the pointer is the
 * start of a live pymalloc block (BlockDump.Diagnose's tests for pymalloc-backed blocks);
 * then it fills the block with 0xDD and gives it back. Anything else — a failing check, a
 * block of another allocator, a contended lock — goes to the managed hooks, which diagnose,
 * print the dump and raise the fatal error. */
#include "phn_fast.h"

enum { SST = 8, DEBUG_OVERHEAD = 3 * SST };
#define CLEAN_BYTE 0xCD
#define DEAD_BYTE 0xDD
#define FORBIDDEN_WORD 0xFDFDFDFDFDFDFDFDull
#define LEADING_PAD_WORD 0xFDFDFDFDFDFDFD00ull   /* the 7 pad bytes after the id byte */

/* ceil(2^32 / block size) per class: the offset of an address in its block without a
 * division (distances are below 2^14, so the quotient is exact). */
static uint32_t ceil_reciprocals[NUM_SIZE_CLASSES];

PHN_IMPL void phn_debug_configure(void) {
    for (uint32_t i = 0; i < NUM_SIZE_CLASSES; i++) {
        uint64_t size = (uint64_t)(i + 1) << ALIGNMENT_SHIFT;
        ceil_reciprocals[i] = (uint32_t)(((1ull << 32) + size - 1) / size);
    }
}

PHN_IMPL int phn_debug_malloc(const debug_api* api, size_t nbytes, int zero, void** out) {
    if (nbytes > SMALL_REQUEST_THRESHOLD - DEBUG_OVERHEAD)
        return 0;
    char* head = phn_pymalloc_alloc(phn_size_class(nbytes + DEBUG_OVERHEAD));
    if (head == NULL)
        return 0;
    uint64_t size_field = __builtin_bswap64((uint64_t)nbytes);
    uint64_t lead = LEADING_PAD_WORD | api->api_id;
    uint64_t trail = FORBIDDEN_WORD;
    char* data = head + 2 * SST;
    memcpy(head, &size_field, SST);
    memcpy(head + SST, &lead, SST);
    memset(data, zero ? 0 : CLEAN_BYTE, nbytes);
    memcpy(data + nbytes, &trail, SST);
    *out = data;
    return 1;
}

PHN_IMPL int phn_debug_free(const debug_api* api, void* p) {
    char* head = (char*)p - 2 * SST;
    if (!phn_pymalloc_owns(head))
        return 0;
    /* A live block of a pool in use (the pool cannot change while the block is live). */
    pool_header* pool = phn_pool_of(head);
    uint32_t idx = pool->szidx;
    if (pool->count == 0 || idx >= NUM_SIZE_CLASSES)
        return 0;
    char* first = (char*)pool + POOL_OVERHEAD;
    if (head < first || head >= (char*)pool + pool->nextoffset)
        return 0;
    uint32_t block_size = (idx + 1) << ALIGNMENT_SHIFT;
    uint32_t distance = (uint32_t)(head - first);
    if (distance != (uint32_t)(((uint64_t)distance * ceil_reciprocals[idx]) >> 32) * block_size)
        return 0;   /* an interior pointer */
    /* CPython's checks, in its order: id and leading pad, the size, the trailing pad. */
    uint64_t size_field, lead, trail;
    memcpy(&size_field, head, SST);
    memcpy(&lead, head + SST, SST);
    if (lead != (LEADING_PAD_WORD | api->api_id))
        return 0;
    uint64_t nbytes = __builtin_bswap64(size_field);
    if (nbytes > block_size - DEBUG_OVERHEAD)
        return 0;
    memcpy(&trail, (char*)p + nbytes, SST);
    if (trail != FORBIDDEN_WORD)
        return 0;
    memset(head, DEAD_BYTE, nbytes + DEBUG_OVERHEAD);
    if (!phn_pymalloc_free_owned(head))
        phnimpl_pymalloc_free(head);
    return 1;
}
