/* pyheapnative/phn_testing.h - fault injection for the library's own tests.
 * Not part of the stable API. Mirrored by src/PyHeapNative/Exports/TestingExports.cs. */
#ifndef PYHEAPNATIVE_PHN_TESTING_H
#define PYHEAPNATIVE_PHN_TESTING_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PHN_FAULT_NONE              0
#define PHN_FAULT_THROW_IN_NEW_ARENA 1  /* a managed exception inside pymalloc's new_arena */
#define PHN_FAULT_THROW_IN_STATS     2  /* a managed exception inside phn_get_stats */

/* Arm a fault: the countdown-th time (1 = next) the named place is reached, it throws a
 * managed exception. The library must turn it into an error that loses nothing: the call
 * fails with its error value and a PHN_EINTERNAL last error, or, inside pymalloc's new-arena
 * path, the request falls back to the RAW domain as when no arena can be had (the last error
 * still describes the exception). An unknown fault or a countdown < 1: PHN_EINVAL. */
PHN_API int32_t PHN_CALL phn_testing_inject_fault(int32_t fault, int32_t countdown);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_TESTING_H */
