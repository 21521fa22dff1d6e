/* pyheapnative/phn_weakref.h - weak references (CPython's weakref.ref).
 * Mirrored by src/PyHeapNative/Exports/WeakrefExports.cs (same order).
 *
 * A weak reference is itself a GC object (type "weakref"). It does not keep its referent
 * alive; when the referent dies it is cleared ("dead") and its callback, if any, is called
 * with the weak reference:
 *   - death by reference count: the referent's finalizer runs first (the weak reference
 *     still resolves inside it); then every weak reference is cleared, and only then the
 *     callbacks run, most recently created first; a failing callback is reported through
 *     the error handler and the others still run;
 *   - death in the cyclic collector (gh-135552's order): weak references with a callback
 *     are cleared before any finalizer runs and their callbacks run only if the weak
 *     reference itself is not garbage; weak references without a callback still resolve
 *     inside finalizers and are cleared after them, before any clear; a resurrected
 *     object keeps them. Objects kept by a legacy finalizer keep all of theirs.
 * A callback-less weak reference is shared: asking twice for one gives the same object. */
#ifndef PYHEAPNATIVE_PHN_WEAKREF_H
#define PYHEAPNATIVE_PHN_WEAKREF_H

#include "phn_config.h"
#include "phn_object.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called with the weak reference (borrowed; the library holds a reference during the
 * call) once its referent has died. Non-zero means it failed: reported through the error
 * handler. */
typedef int32_t (PHN_CALL *phn_weakref_callback)(void* ctx, phn_object* weakref);

/* A new reference to a weak reference to referent, whose type must have
 * PHN_TPFLAGS_WEAKREFABLE (else NULL, PHN_EINVAL "cannot create weak reference to '<name>'
 * object"). callback NULL: the shared callback-less weak reference. */
PHN_API phn_object* PHN_CALL phn_weakref_new(phn_object* referent, phn_weakref_callback callback, void* ctx);

/* PyWeakref_GetRef: 1 and a new reference in *out while the referent lives, 0 and NULL
 * once it is dead, PHN_EINVAL if ref is not a weak reference. */
PHN_API int32_t PHN_CALL phn_weakref_get_ref(phn_object* ref, phn_object** out);

/* 1 if op is a weak reference, else 0. */
PHN_API int32_t PHN_CALL phn_weakref_check(const phn_object* op);

/* Number of live weak references to op (weakref.getweakrefcount). */
PHN_API int64_t PHN_CALL phn_weakref_count(const phn_object* op);

/* PyObject_ClearWeakRefs, for dealloc callbacks of weak-referenceable types: clear every
 * weak reference to op (count 0) and call the callbacks, as on death by reference count. */
PHN_API int32_t PHN_CALL phn_object_clear_weakrefs(phn_object* op);

/* PyUnstable_Object_ClearWeakRefsNoCallbacks: clear them without calling any callback. */
PHN_API int32_t PHN_CALL phn_object_clear_weakrefs_no_callbacks(phn_object* op);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_WEAKREF_H */
