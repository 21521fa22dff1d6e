/* pyheapnative/phn_gc.h - the generational cyclic garbage collector (CPython's gc module).
 * Mirrored by src/PyHeapNative/Exports/GcExports.cs (same order).
 *
 * CPython 3.13's collector (forward-ported to 3.14.5): three generations, thresholds
 * (2000, 10, 10), a full collection only once the objects promoted since the last one reach
 * 25 % of its survivors, PEP 442 finalizers run once, legacy finalizers (del) making their
 * cycles uncollectable (they go to the garbage list), weak references handled in the order
 * of gh-135552. count0 grows when an object is tracked; the collection it makes due runs
 * synchronously, inside the tracking call (phn_object_new), on that thread, GIL held.
 *
 * Errors: a NULL output pointer (count, threshold, stats, out), a generation out of range,
 * a struct_size too small: PHN_EINVAL, nothing changed.
 *
 * Objects returned by the listing functions (get_objects, get_referrers, get_referents,
 * garbage_get) are borrowed: valid while the caller holds the GIL and frees nothing. */
#ifndef PYHEAPNATIVE_PHN_GC_H
#define PYHEAPNATIVE_PHN_GC_H

#include "phn_config.h"
#include "phn_object.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PHN_GC_NUM_GENERATIONS 3

/* Debug flags (the values of CPython's gc.DEBUG_*). */
#define PHN_GC_DEBUG_STATS         1
#define PHN_GC_DEBUG_COLLECTABLE   2
#define PHN_GC_DEBUG_UNCOLLECTABLE 4
#define PHN_GC_DEBUG_SAVEALL       32
#define PHN_GC_DEBUG_LEAK          (PHN_GC_DEBUG_COLLECTABLE | PHN_GC_DEBUG_UNCOLLECTABLE | PHN_GC_DEBUG_SAVEALL)

/* gc.collect(generation): collect generations 0..generation (0, 1 or 2; else PHN_EINVAL
 * "invalid generation"), even when automatic collection is disabled. Returns what CPython
 * returns, the number of unreachable objects found (collected + uncollectable), or 0 when a
 * collection is already running (from a finalizer or a callback). */
PHN_API int64_t PHN_CALL phn_gc_collect(int32_t generation);

/* PyGC_Collect: a full collection, but 0 at once when automatic collection is disabled (the
 * documented semantics) or a collection is running. */
PHN_API int64_t PHN_CALL phn_gc_collect_if_enabled(void);

/* PyGC_Enable / PyGC_Disable: set automatic collection on / off and return the previous
 * state (1 enabled, 0 disabled). */
PHN_API int32_t PHN_CALL phn_gc_enable(void);
PHN_API int32_t PHN_CALL phn_gc_disable(void);
/* 1 if automatic collection is enabled, else 0. */
PHN_API int32_t PHN_CALL phn_gc_is_enabled(void);

/* gc.get_count(): count[0] = objects tracked minus GC objects freed since the last
 * collection of generation 0 (never below 0); count[1], count[2] = collections of the
 * younger generation since this one was collected. */
PHN_API int32_t PHN_CALL phn_gc_get_count(int32_t count[3]);

/* gc.set_threshold / get_threshold. threshold0 = 0 disables automatic collection. */
PHN_API int32_t PHN_CALL phn_gc_set_threshold(int32_t threshold0, int32_t threshold1, int32_t threshold2);
PHN_API int32_t PHN_CALL phn_gc_get_threshold(int32_t threshold[3]);

/* gc.get_stats()[generation]: running totals, credited to the oldest generation of each
 * collection. candidates (objects examined) and duration (seconds) are 3.15's keys. */
typedef struct phn_gc_stats {
    uint32_t struct_size;     /* sizeof(phn_gc_stats) */
    uint32_t reserved;
    int64_t collections;
    int64_t collected;
    int64_t uncollectable;
    int64_t candidates;
    double duration;
} phn_gc_stats;
PHN_API int32_t PHN_CALL phn_gc_get_stats(int32_t generation, phn_gc_stats* stats);

/* gc.freeze: move every tracked object into the permanent generation, which no collection
 * examines (the objects stay tracked); counts become 0. unfreeze: move them back into the
 * oldest generation. get_freeze_count: the permanent generation's size. */
PHN_API int32_t PHN_CALL phn_gc_freeze(void);
PHN_API int32_t PHN_CALL phn_gc_unfreeze(void);
PHN_API int64_t PHN_CALL phn_gc_get_freeze_count(void);

/* gc.set_debug / get_debug (PHN_GC_DEBUG_* flags; unknown bits are kept, as CPython). */
PHN_API int32_t PHN_CALL phn_gc_set_debug(int32_t flags);
PHN_API int32_t PHN_CALL phn_gc_get_debug(void);

/* Where the debug output ("gc: collecting generation 2...", "gc: collectable <Node 0x...>",
 * the shutdown report) goes, one line at a time without the newline. Default (NULL):
 * stderr, one line each. */
typedef void (PHN_CALL *phn_gc_output)(void* ctx, const char* line);
PHN_API int32_t PHN_CALL phn_gc_set_debug_output(phn_gc_output output, void* ctx);

/* gc.callbacks: called at the start and the stop of every collection (not the one of
 * phn_gc_shutdown), in the order added, with the collector's state already "collecting"
 * (phn_gc_collect from a callback returns 0). A non-zero return is reported through the
 * error handler; the others still run. */
#define PHN_GC_PHASE_START 0
#define PHN_GC_PHASE_STOP  1
typedef struct phn_gc_info {
    uint32_t struct_size;     /* sizeof(phn_gc_info) */
    int32_t generation;       /* oldest generation collected */
    int64_t collected;        /* 0 at start */
    int64_t uncollectable;    /* 0 at start */
    int64_t candidates;       /* objects examined; 0 at start */
    double duration;          /* seconds; 0 at start */
} phn_gc_info;
typedef int32_t (PHN_CALL *phn_gc_callback)(void* ctx, int32_t phase, const phn_gc_info* info);
/* Add a callback (the same pair may be added twice, then it is called twice). */
PHN_API int32_t PHN_CALL phn_gc_add_callback(phn_gc_callback callback, void* ctx);
/* Remove the first registration of (callback, ctx); PHN_EINVAL if there is none. */
PHN_API int32_t PHN_CALL phn_gc_remove_callback(phn_gc_callback callback, void* ctx);

/* gc.garbage: the uncollectable objects (legacy finalizers) and, with DEBUG_SAVEALL, every
 * unreachable object; the list holds a reference to each. */
PHN_API int64_t PHN_CALL phn_gc_garbage_count(void);
/* The index-th object (borrowed) into *out; PHN_EINVAL for an index out of range. */
PHN_API int32_t PHN_CALL phn_gc_garbage_get(int64_t index, phn_object** out);
/* Empty the list, releasing its references (del gc.garbage[:]). */
PHN_API int32_t PHN_CALL phn_gc_garbage_clear(void);

/* gc.get_objects(generation): the tracked objects of that generation (0..2) or of all
 * (-1), not the permanent generation. Writes up to capacity borrowed pointers to out (out
 * may be NULL when capacity is 0) and returns how many there are; negative PHN_EINVAL for
 * generation >= 3 ("generation parameter must be less than the number of available
 * generations (3)") or < -1 ("generation parameter cannot be negative"). */
PHN_API int64_t PHN_CALL phn_gc_get_objects(int32_t generation, phn_object** out, int64_t capacity);

/* gc.get_referrers(*objs): the tracked objects of generations 0..2 whose traversal visits
 * any of objs, each once. Same output convention as phn_gc_get_objects. */
PHN_API int64_t PHN_CALL phn_gc_get_referrers(phn_object* const* objs, int64_t nobjs,
                                              phn_object** out, int64_t capacity);

/* gc.get_referents(*objs): everything the traversal of each object visits, in visit order,
 * duplicates kept; non-GC objects contribute nothing. Same output convention. */
PHN_API int64_t PHN_CALL phn_gc_get_referents(phn_object* const* objs, int64_t nobjs,
                                              phn_object** out, int64_t capacity);

/* PyObject_GC_Track: append to generation 0 (count0 + 1; may start an automatic
 * collection). A non-GC object: PHN_EINVAL. An object already tracked: a fatal error
 * "object already tracked by the garbage collector" (if the handler returns: PHN_ESTATE). */
PHN_API int32_t PHN_CALL phn_gc_track(phn_object* op);
/* PyObject_GC_UnTrack: no-op if not tracked; keeps the finalized mark. */
PHN_API int32_t PHN_CALL phn_gc_untrack(phn_object* op);
/* 1 if tracked (GC object in a generation or the permanent generation), 0 if not or not a
 * GC object, negative for NULL. */
PHN_API int32_t PHN_CALL phn_gc_is_tracked(const phn_object* op);
/* 1 once the finalizer of a GC object has run (by the collector or the dealloc), else 0. */
PHN_API int32_t PHN_CALL phn_gc_is_finalized(const phn_object* op);
/* PyObject_IS_GC: 1 if the object's type has PHN_TPFLAGS_HAVE_GC. */
PHN_API int32_t PHN_CALL phn_object_is_gc(const phn_object* op);

/* PyUnstable_GC_VisitObjects: call visit(obj, arg) for every tracked object, the permanent
 * generation included, holding a reference around each call; return 0 from visit to stop.
 * Automatic collection is off during the walk and restored after. */
typedef int32_t (PHN_CALL *phn_gc_visit_objects_fn)(phn_object* op, void* arg);
PHN_API int32_t PHN_CALL phn_gc_visit_objects(phn_gc_visit_objects_fn visit, void* arg);

/* The end of the heap's life for a host that has one (interpreter finalization): a last
 * full collection without callbacks, then, when gc.garbage is not empty and DEBUG_SAVEALL
 * is not set, the report "gc: N uncollectable objects at shutdown; use
 * gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them" to the debug output (with
 * DEBUG_UNCOLLECTABLE set: no hint, and one line "gc: uncollectable <Type 0x...>" per
 * object follows). Returns N. The collector stays usable. */
PHN_API int64_t PHN_CALL phn_gc_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_GC_H */
