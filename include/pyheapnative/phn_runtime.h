/* pyheapnative/phn_runtime.h - initialisation, version, errors.
 * Mirrored by src/PyHeapNative/Exports/RuntimeExports.cs (same order). */
#ifndef PYHEAPNATIVE_PHN_RUNTIME_H
#define PYHEAPNATIVE_PHN_RUNTIME_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start the library: read PYHEAPNATIVE_ALLOCATOR (default | pymalloc | malloc | debug |
 * pymalloc_debug | malloc_debug, as PYTHONMALLOC) and PYHEAPNATIVE_MALLOCSTATS, and install the
 * allocators. Idempotent and thread-safe; every other function calls it implicitly on first
 * use, except the error functions and handler setters below, which never start the library
 * (so a fatal handler can be installed first). An unknown PYHEAPNATIVE_ALLOCATOR value is a
 * fatal error (see
 * phn_set_fatal_handler); if the fatal handler returns, the default allocator is used and
 * phn_init returns PHN_EINVAL. The library can never be unloaded (no dlclose). */
PHN_API int32_t PHN_CALL phn_init(void);

/* PHN_VERSION of the binary, to compare with the header's. */
PHN_API uint32_t PHN_CALL phn_version(void);

/* Message of the last failed call on this thread ("" if none). The pointer stays valid
 * until the next failing call on the same thread. Successful calls do not clear it. */
PHN_API const char* PHN_CALL phn_last_error_message(void);

/* Status code (PHN_E*) of the last failed call on this thread, 0 if none. */
PHN_API int32_t PHN_CALL phn_last_error_code(void);

/* Forget the last error of this thread. */
PHN_API void PHN_CALL phn_clear_error(void);

/* Called, on the failing thread, for every error a call reports (after
 * phn_last_error_message is set). Never called with a library lock held. The handler must
 * not unwind (longjmp, C++ exception) through the library. NULL restores the default (none). */
typedef void (PHN_CALL *phn_error_handler)(void* ctx, int32_t code, const char* message);
PHN_API int32_t PHN_CALL phn_set_error_handler(phn_error_handler handler, void* ctx);

/* Called for a fatal condition (an unknown PYHEAPNATIVE_ALLOCATOR value, corrupted heap
 * metadata) with a one-line message. Default: write "Fatal error: <message>" to stderr and
 * abort(). If an installed handler returns, the failing call is abandoned as safely as
 * possible (it returns its failure value and changes nothing). NULL restores the default. */
typedef void (PHN_CALL *phn_fatal_handler)(void* ctx, const char* message);
PHN_API int32_t PHN_CALL phn_set_fatal_handler(phn_fatal_handler handler, void* ctx);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_RUNTIME_H */
