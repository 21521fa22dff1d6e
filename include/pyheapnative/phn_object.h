/* pyheapnative/phn_object.h - reference-counted objects and their types.
 * Mirrored by src/PyHeapNative/Exports/ObjectExports.cs (same order).
 *
 * CPython's object model for C programs. An object starts with a phn_object header (the
 * reference count and the type); a variable-size object with a phn_varobject (plus the
 * number of items). Its memory comes from the OBJ domain. For a type with
 * PHN_TPFLAGS_HAVE_GC, a two-word GC header sits immediately before the object, as
 * CPython's PyGC_Head; for a PHN_TPFLAGS_WEAKREFABLE type, two more words before that hold
 * the head of the object's weak-reference list (CPython's managed weakref pre-header):
 *
 *     [weaklist][unused]  (WEAKREFABLE only)   [gc_next][gc_prev]  (HAVE_GC only)
 *     object -> [ob_refcnt][ob_type] [ob_size] (var objects) ... fields ... items
 *
 * A type describes where its references are in one of two ways, which may be mixed:
 *
 *   - a reference layout (new in PyHeapNative): the offsets of its phn_object* fields and,
 *     with PHN_TPFLAGS_ITEMS_ARE_REFS, that the items of a variable-size object are
 *     phn_object* too. The library then traverses, clears and deallocates instances itself,
 *     with no call into C at all;
 *   - callbacks with the contracts of CPython's slots (tp_traverse, tp_clear, tp_finalize,
 *     tp_del, tp_dealloc). A callback left NULL falls back to the layout: traverse visits the
 *     layout's references, clear clears them (nothing to clear = CPython's tp_clear NULL),
 *     dealloc runs the canonical order below and releases them.
 *
 * The default dealloc (CPython's subtype_dealloc, spec-gc §5.5): the PEP 442 finalizer
 * through phn_object_call_finalizer_from_dealloc (stop if it resurrected the object);
 * untrack; clear the weak references, calling their callbacks; the legacy del (stop if it
 * resurrected the object); clear weak references created meanwhile without callbacks;
 * release the layout's references (field first set to NULL, then DECREF); free.
 *
 * Threads: objects follow CPython's GIL model (phn_gil.h). Every function of this header and
 * of phn_gc.h / phn_weakref.h takes the GIL for the duration of the call when the calling
 * thread does not hold it, except the lock-free reads phn_type_name, phn_type_flags,
 * phn_refcnt, phn_gc_is_enabled, phn_gc_get_debug, phn_gc_is_tracked, phn_gc_is_finalized,
 * phn_object_is_gc and phn_weakref_check (exact only while the GIL is held). The inline
 * reference-count macros are not atomic: touch objects shared between threads with the GIL
 * held.
 *
 * Deep deallocation chains (a million nested objects) never overflow the stack: phn_dealloc
 * defers deallocations nested more than PHN_TRASHCAN_DEPTH deep and runs them from the
 * outermost one (CPython's trashcan, here for every type, GC or not).
 *
 * Errors: functions returning a pointer return NULL with the reason in
 * phn_last_error_message() (and errno = ENOMEM when memory ran out); the others return
 * PHN_OK or a negative PHN_E* code. A NULL object is PHN_EINVAL and changes nothing. */
#ifndef PYHEAPNATIVE_PHN_OBJECT_H
#define PYHEAPNATIVE_PHN_OBJECT_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A type, created by phn_type_new and owned by the library (types live until the process
 * ends; instances do not hold references to their type). Opaque. */
typedef struct phn_type phn_type;

typedef struct phn_object {
    intptr_t ob_refcnt;
    phn_type* ob_type;
} phn_object;

typedef struct phn_varobject {
    phn_object ob_base;
    intptr_t ob_size;    /* number of items */
} phn_varobject;

#define PHN_TYPE(op)   (((phn_object*)(op))->ob_type)
#define PHN_SIZE(op)   (((phn_varobject*)(op))->ob_size)
#define PHN_REFCNT(op) (((phn_object*)(op))->ob_refcnt)

/* ---- types ---------------------------------------------------------------------------- */

#define PHN_TPFLAGS_HAVE_GC        (1u << 0)  /* instances have a GC header and are tracked */
#define PHN_TPFLAGS_WEAKREFABLE    (1u << 1)  /* instances can be weakly referenced */
#define PHN_TPFLAGS_ITEMS_ARE_REFS (1u << 2)  /* var objects: every item is a phn_object* */
#define PHN_TPFLAGS_UNTRACK_ATOMIC (1u << 3)  /* the collector may untrack an instance whose
                                                 references are all untrackable (non-GC
                                                 objects or untracked instances of such a
                                                 type), as CPython untracks tuples; for
                                                 immutable containers only */

/* Visits one reference; returns 0 to go on, non-zero to stop the traversal. */
typedef int32_t (PHN_CALL *phn_visitproc)(phn_object* referent, void* arg);
/* CPython's tp_traverse: call visit(ref, arg) for every strong reference self owns (never
 * NULL; a reference held twice is visited twice) and return at once any non-zero result.
 * No side effects: no reference-count change, no allocation, no call into the library. */
typedef int32_t (PHN_CALL *phn_traverseproc)(phn_object* self, phn_visitproc visit, void* arg);
/* CPython's tp_clear: drop the references that may form cycles (PHN_CLEAR each field).
 * Non-zero means it failed: reported through the error handler, the collection goes on. */
typedef int32_t (PHN_CALL *phn_inquiry)(phn_object* self);
/* CPython's tp_finalize (PEP 442) and tp_del (legacy): may resurrect self by storing a new
 * reference to it. Non-zero means it failed: reported through the error handler. */
typedef int32_t (PHN_CALL *phn_finalizer)(phn_object* self);
/* CPython's tp_dealloc: called when the count reached 0. Must destroy the object and free
 * it with phn_object_free (see the default order above). */
typedef void (PHN_CALL *phn_destructor)(phn_object* self);

/* Visit helper for traverse callbacks, as Py_VISIT: skips NULL, returns on non-zero. */
#define PHN_VISIT(op)                                                        \
    do {                                                                     \
        if ((op) != NULL) {                                                  \
            int32_t phn_vret_ = visit((phn_object*)(op), arg);               \
            if (phn_vret_ != 0) return phn_vret_;                            \
        }                                                                    \
    } while (0)

typedef struct phn_type_spec {
    uint32_t struct_size;            /* sizeof(phn_type_spec) */
    uint32_t flags;                  /* PHN_TPFLAGS_* */
    const char* name;                /* copied; shows in diagnostics ("<name 0x...>") */
    int64_t basicsize;               /* >= sizeof(phn_object), or sizeof(phn_varobject)
                                        when itemsize != 0; a multiple of 8 */
    int64_t itemsize;                /* 0 for fixed-size objects */
    const uint32_t* ref_offsets;     /* offsets of the phn_object* fields (8-aligned,
                                        after the header, inside basicsize, distinct);
                                        copied, like name */
    uint32_t ref_count;              /* number of entries of ref_offsets */
    uint32_t reserved;               /* 0 */
    phn_traverseproc traverse;       /* NULL: the layout */
    phn_inquiry clear;               /* NULL: the layout's references (none: no clear) */
    phn_finalizer finalize;          /* PEP 442 finalizer, or NULL */
    phn_finalizer del;               /* legacy finalizer (makes cyclic garbage
                                        uncollectable), or NULL */
    phn_destructor dealloc;          /* NULL: the default dealloc */
} phn_type_spec;

/* Create a type. NULL with PHN_EINVAL for a NULL spec or name, an unknown flag, a
 * struct_size too small, sizes that do not fit (negative, below the header, not 8-aligned,
 * ITEMS_ARE_REFS with itemsize != 8), or a reference offset outside the object, inside the
 * header, misaligned or repeated. Nothing is created on failure. */
PHN_API phn_type* PHN_CALL phn_type_new(const phn_type_spec* spec);

/* The type's name (owned by the type), or NULL for NULL. */
PHN_API const char* PHN_CALL phn_type_name(const phn_type* type);

/* The type's flags, or 0 for NULL. */
PHN_API uint32_t PHN_CALL phn_type_flags(const phn_type* type);

/* ---- objects ---------------------------------------------------------------------------- */

/* A new object of a fixed-size type (CPython's tp_alloc): zero-filled, refcount 1, tracked
 * if the type has PHN_TPFLAGS_HAVE_GC. Tracking may start an automatic collection
 * (phn_gc.h) before the call returns. NULL for a NULL type or a var type. */
PHN_API phn_object* PHN_CALL phn_object_new(phn_type* type);

/* A new object of a variable-size type with n items (ob_size = n), as phn_object_new.
 * NULL for n < 0 or a size that overflows. */
PHN_API phn_object* PHN_CALL phn_object_new_var(phn_type* type, int64_t n);

/* CPython's PyObject_GC_New / PyObject_GC_NewVar: as phn_object_new(_var) but the object
 * is NOT tracked (track it with phn_gc_track once its fields are valid). GC types only. */
PHN_API phn_object* PHN_CALL phn_gc_new(phn_type* type);
PHN_API phn_object* PHN_CALL phn_gc_new_var(phn_type* type, int64_t n);

/* CPython's PyObject_GC_Resize: change the number of items of an untracked var object,
 * keeping the contents (new items are zero). Returns the possibly moved object; NULL on
 * failure, the original still valid. A tracked object is a fatal error ("phn_gc_resize:
 * object is tracked"); if the fatal handler returns, NULL and nothing changed. */
PHN_API phn_object* PHN_CALL phn_gc_resize(phn_object* op, int64_t n);

/* CPython's tp_free (PyObject_GC_Del for GC types): release the object's memory. A GC
 * object still tracked is unlinked first; count0 drops by one (never below 0). For use at
 * the end of a dealloc callback; the reference count is not checked. */
PHN_API int32_t PHN_CALL phn_object_free(phn_object* op);

/* ---- reference counting ----------------------------------------------------------------- */

/* Immortal objects (PEP 683, 3.14's encoding on 64-bit): the low 32 bits of the count,
 * read as a signed number, are negative. INCREF and DECREF leave them alone; they are never
 * deallocated; the collector untracks them. A count reaching 2^31 makes an object immortal
 * (it leaks rather than overflow). */
#define PHN_IMMORTAL_REFCNT ((intptr_t)(3u << 30))
#define PHN_IS_IMMORTAL(op) ((int32_t)((phn_object*)(op))->ob_refcnt < 0)

/* Deallocate an object whose count has just reached 0 (called by PHN_DECREF; CPython's
 * _Py_Dealloc). Runs the type's dealloc, through the trashcan. */
PHN_API void PHN_CALL phn_dealloc(phn_object* op);

/* A count driven below zero (the macros check it when PHN_REF_DEBUG is defined, naming the
 * file and line of the DECREF; phn_decref always): a fatal error with CPython's message "<file>:<line>: _Py_NegativeRefcount:
 * Assertion failed: object has negative ref count". */
PHN_API void PHN_CALL phn_negative_refcount(const char* file, int32_t line, phn_object* op);

/* Function forms of the macros, for ctypes and .NET: NULL-tolerant (Py_IncRef/Py_DecRef). */
PHN_API void PHN_CALL phn_incref(phn_object* op);
PHN_API void PHN_CALL phn_decref(phn_object* op);

/* The reference count (PHN_IMMORTAL_REFCNT's value for immortals), or 0 for NULL. */
PHN_API intptr_t PHN_CALL phn_refcnt(const phn_object* op);

/* Py_SET_REFCNT: set the count (n >= 0, else PHN_EINVAL); no effect on immortal objects.
 * Setting 0 does not deallocate. */
PHN_API int32_t PHN_CALL phn_set_refcnt(phn_object* op, intptr_t n);

/* Make an object immortal (it is never deallocated; a tracked one is untracked by the next
 * collection that examines it). */
PHN_API int32_t PHN_CALL phn_object_set_immortal(phn_object* op);

/* PyObject_CallFinalizer: run the type's finalize once (for a GC object, only if it has not
 * run yet; it is then marked finalized). */
PHN_API int32_t PHN_CALL phn_object_call_finalizer(phn_object* op);

/* PyObject_CallFinalizerFromDealloc, for dealloc callbacks: op's count must be 0 (else a
 * fatal error). Runs the finalizer with a temporary reference; returns 0 if the object is
 * to be destroyed, -1 if the finalizer resurrected it (the dealloc must return at once). */
PHN_API int32_t PHN_CALL phn_object_call_finalizer_from_dealloc(phn_object* op);

static inline void phn_inline_incref_(phn_object* op) {
    if (!PHN_IS_IMMORTAL(op))
        op->ob_refcnt++;
}

static inline void phn_inline_decref_(const char* file, int32_t line, phn_object* op) {
    if (PHN_IS_IMMORTAL(op))
        return;
    if (--op->ob_refcnt == 0)
        phn_dealloc(op);
#if defined(PHN_REF_DEBUG)
    else if (op->ob_refcnt < 0)
        phn_negative_refcount(file, line, op);
#else
    (void)file;
    (void)line;
#endif
}

/* With PHN_REF_DEBUG defined, every DECREF names its own file and line in the diagnostic. */
#if defined(PHN_REF_DEBUG)
#  define PHN_DECREF_AT_(op) phn_inline_decref_(__FILE__, __LINE__, (op))
#else
#  define PHN_DECREF_AT_(op) phn_inline_decref_(NULL, 0, (op))
#endif

#define PHN_INCREF(op)  phn_inline_incref_((phn_object*)(op))
#define PHN_DECREF(op)  PHN_DECREF_AT_((phn_object*)(op))
#define PHN_XINCREF(op) do { phn_object* phn_x_ = (phn_object*)(op); if (phn_x_ != NULL) phn_inline_incref_(phn_x_); } while (0)
#define PHN_XDECREF(op) do { phn_object* phn_x_ = (phn_object*)(op); if (phn_x_ != NULL) PHN_DECREF_AT_(phn_x_); } while (0)
/* Py_CLEAR: the field is set to NULL before the old value is released. */
#define PHN_CLEAR(field) \
    do { phn_object* phn_c_ = (phn_object*)(field); if (phn_c_ != NULL) { (field) = NULL; PHN_DECREF_AT_(phn_c_); } } while (0)
/* Py_SETREF / Py_XSETREF: store the new value, then release the old one. */
#define PHN_SETREF(field, value) \
    do { phn_object* phn_s_ = (phn_object*)(field); (field) = (value); PHN_DECREF_AT_(phn_s_); } while (0)
#define PHN_XSETREF(field, value) \
    do { phn_object* phn_s_ = (phn_object*)(field); (field) = (value); if (phn_s_ != NULL) PHN_DECREF_AT_(phn_s_); } while (0)
/* Py_SET_REFCNT (no effect on immortal objects). */
#define PHN_SET_REFCNT(op, n) \
    do { phn_object* phn_r_ = (phn_object*)(op); if (!PHN_IS_IMMORTAL(phn_r_)) phn_r_->ob_refcnt = (n); } while (0)

static inline phn_object* phn_new_ref(phn_object* op) { phn_inline_incref_(op); return op; }
static inline phn_object* phn_xnew_ref(phn_object* op) { if (op != NULL) phn_inline_incref_(op); return op; }

#define PHN_TRASHCAN_DEPTH 50   /* nested deallocations before the trashcan defers them */

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_OBJECT_H */
