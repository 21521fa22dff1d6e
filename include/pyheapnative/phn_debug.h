/* pyheapnative/phn_debug.h - CPython's debug hooks on the allocators (PyMem_SetupDebugHooks).
 * Mirrored by src/PyHeapNative/Exports/DebugExports.cs.
 *
 * Every block of a wrapped domain carries CPython 3.8+'s layout, 24 extra bytes:
 *
 *    p-16: the requested size N (big-endian size_t)   p-8: API id 'r', 'm' or 'o'
 *    p-7..p-1: 0xFD   p..p+N-1: data (0xCD when new, zero for calloc)   p+N..p+N+7: 0xFD
 *
 * Freed blocks are filled with 0xDD. free and realloc check the API id (a block freed
 * through another domain), the leading and the trailing pad bytes; a mismatch prints the
 * block's dump to stderr and raises a fatal error with CPython's message, for example
 *    "_PyMem_DebugRawFree: bad trailing pad byte",
 *    "_PyMem_DebugRawFree: bad ID: Allocated using API 'o', verified using API 'm'".
 * Beyond CPython, a double free, an interior pointer and a foreign pointer are recognised
 * without reading memory that may not be mapped, and reported as such. If the fatal handler
 * returns, the free does nothing and the realloc returns NULL: the block is left alone.
 *
 * PYHEAPNATIVE_ALLOCATOR=debug (or pymalloc_debug, malloc_debug) installs them at start-up.
 * Unlike CPython there is no GIL check: MEM and OBJ may be called from any thread. */
#ifndef PYHEAPNATIVE_PHN_DEBUG_H
#define PYHEAPNATIVE_PHN_DEBUG_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wrap each domain whose allocator is not already the debug hooks (idempotent). Call it
 * again after phn_set_allocator to put the hooks back on top of a new allocator. */
PHN_API int32_t PHN_CALL phn_setup_debug_hooks(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_DEBUG_H */
