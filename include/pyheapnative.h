/* pyheapnative.h - PyHeapNative: CPython's memory manager as a native library.
 *
 * Umbrella header. Link with -lpyheapnative (pkg-config pyheapnative).
 * Compiles as C99 and C++; fixed-width types only; every function uses the C calling
 * convention. Allocation functions return NULL with errno = ENOMEM on failure; every other
 * function returns an int32_t status (PHN_OK or a negative PHN_E* code) and describes the
 * failure in phn_last_error_message(). */
#ifndef PYHEAPNATIVE_H
#define PYHEAPNATIVE_H

#include "pyheapnative/phn_config.h"
#include "pyheapnative/phn_runtime.h"
#include "pyheapnative/phn_mem.h"
#include "pyheapnative/phn_alloc.h"
#include "pyheapnative/phn_debug.h"
#include "pyheapnative/phn_trace.h"
#include "pyheapnative/phn_stats.h"
#include "pyheapnative/phn_object.h"
#include "pyheapnative/phn_gc.h"
#include "pyheapnative/phn_weakref.h"
#include "pyheapnative/phn_gil.h"
#include "pyheapnative/phn_testing.h"

#endif /* PYHEAPNATIVE_H */
