/* pyheapnative/phn_config.h - version, export macros, status codes.
 *
 * Part of the PyHeapNative C API; include <pyheapnative.h> rather than this file.
 */
#ifndef PYHEAPNATIVE_PHN_CONFIG_H
#define PYHEAPNATIVE_PHN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PHN_VERSION_MAJOR 0
#define PHN_VERSION_MINOR 1
#define PHN_VERSION_PATCH 0
/* One number, MAJOR*10000 + MINOR*100 + PATCH; phn_version() returns the binary's. */
#define PHN_VERSION (PHN_VERSION_MAJOR * 10000 + PHN_VERSION_MINOR * 100 + PHN_VERSION_PATCH)
/* Bumped on any incompatible ABI change; equals the soname major (libpyheapnative.so.0). */
#define PHN_ABI_VERSION 0

/* Define PHN_STATIC when linking the static library on Windows. */
#if defined(_WIN32) && !defined(PHN_STATIC)
#  define PHN_API __declspec(dllimport)
#else
#  define PHN_API
#endif
#if defined(_WIN32)
#  define PHN_CALL __cdecl
#else
#  define PHN_CALL
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define PHN_NODISCARD        __attribute__((warn_unused_result))
#  define PHN_MALLOC_ATTR      __attribute__((malloc))
#  define PHN_ALLOC_SIZE(n)    __attribute__((alloc_size(n)))
#  define PHN_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#else
#  define PHN_NODISCARD
#  define PHN_MALLOC_ATTR
#  define PHN_ALLOC_SIZE(n)
#  define PHN_ALLOC_SIZE2(n, m)
#endif

/* Status codes. Calls that are not allocation functions return 0 (PHN_OK) or one of
 * these negative values, and describe the failure in phn_last_error_message(). */
#define PHN_OK         0
#define PHN_EINVAL    (-1)  /* an argument is invalid (NULL, unknown domain, bad size) */
#define PHN_ENOMEM    (-2)  /* memory could not be obtained */
#define PHN_ESTATE    (-3)  /* the call is not valid in the current state */
#define PHN_EINTERNAL (-4)  /* an internal error was caught at the C boundary */
#define PHN_ENOTSUP   (-5)  /* the feature is not available in this build or configuration */
#define PHN_ECORRUPT  (-6)  /* a heap invariant does not hold (phn_validate) */
#define PHN_ECALLBACK (-7)  /* a user callback reported a failure (reported, never returned:
                               CPython's "Exception ignored in ...") */

#endif /* PYHEAPNATIVE_PHN_CONFIG_H */
