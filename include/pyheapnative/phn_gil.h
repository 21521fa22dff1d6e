/* pyheapnative/phn_gil.h - the global lock of the object heap (CPython's GIL).
 * Mirrored by src/PyHeapNative/Exports/GilExports.cs (same order).
 *
 * Objects, reference counts and the collector are protected by one recursive lock. Every
 * object, gc and weakref function takes it for the duration of the call when the calling
 * thread does not hold it; a thread that does several object operations in a row (or uses
 * the inline PHN_INCREF/PHN_DECREF on shared objects) holds it around them with
 * phn_gil_ensure / phn_gil_release, like PyGILState_Ensure / PyGILState_Release. Callbacks
 * (traverse, clear, finalize, del, dealloc, weakref and gc callbacks) run with it held and
 * must not release it. The MEM, OBJ and RAW domains never need it. */
#ifndef PYHEAPNATIVE_PHN_GIL_H
#define PYHEAPNATIVE_PHN_GIL_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What phn_gil_ensure returns: whether the thread already held the lock. */
#define PHN_GIL_LOCKED   0   /* PyGILState_LOCKED: it was held already */
#define PHN_GIL_UNLOCKED 1   /* PyGILState_UNLOCKED: this call took it */

/* Take the lock (waiting for it) unless this thread holds it; returns PHN_GIL_LOCKED or
 * PHN_GIL_UNLOCKED, to give back to phn_gil_release. Recursive. */
PHN_API int32_t PHN_CALL phn_gil_ensure(void);

/* Undo the matching phn_gil_ensure. PHN_ESTATE if this thread does not hold the lock,
 * PHN_EINVAL for a state that is neither value. */
PHN_API int32_t PHN_CALL phn_gil_release(int32_t state);

/* 1 if the calling thread holds the lock, else 0 (PyGILState_Check). */
PHN_API int32_t PHN_CALL phn_gil_held(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_GIL_H */
