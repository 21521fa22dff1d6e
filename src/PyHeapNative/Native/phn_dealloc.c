/* phn_dealloc.c - the object layer's common calls, without a transition: making an object,
 * and the calls of a dealloc callback.
 *
 * When a count reaches 0, PHN_DECREF calls phn_dealloc, which runs the type's dealloc; a
 * dealloc callback written as for CPython then untracks the object, clears its fields (each
 * PHN_CLEAR may end another object, one level deeper) and frees it:
 *
 *     phn_dealloc(a) -> a's dealloc -> phn_gc_untrack(a)
 *                                      PHN_CLEAR(a->x) -> phn_dealloc(b) -> b's dealloc ...
 *                                      phn_object_free(a)
 *
 * As exports of managed code those calls would each pay a reverse P/Invoke transition, and
 * the call of the callback a transition back: four per object, the larger part of what a
 * chain of deallocations costs; making an object would pay one. So their common case is
 * here, in C, under the GIL: held by the caller already, or free and taken for the call (as
 * the managed exports take it):
 *
 *   phn_object_new    (and _new_var, phn_gc_new, _new_var) a zeroed block from pymalloc's
 *                     fast path while pymalloc itself serves the OBJ domain (with hooks,
 *                     tracing or a user's allocator the managed side allocates, as before),
 *                     count 1, the type, ob_size; a GC object made by phn_object_new* is
 *                     appended to generation 0 and counted, unless that count is the one
 *                     that starts an automatic collection.
 *   phn_dealloc       an object of a type with a dealloc callback, below the trashcan's
 *                     depth: nesting + 1, the callback, nesting - 1. What the trashcan
 *                     deposited meanwhile is drained by the managed side once the outermost
 *                     dealloc returns (phnimpl_dealloc(NULL)), as Objects.Dealloc drains it.
 *   phn_object_free   unlink if tracked, count0 - 1 for a GC object, the block back to the
 *                     OBJ domain (phn_obj_free); a weak-referenceable object with weak
 *                     references still listed goes to the managed side (they must be cleared).
 *   phn_gc_untrack    the unlink.
 *
 * Anything else — another thread holding the GIL, a bad argument, a type without a callback
 * (Objects.DefaultDealloc), the trashcan's depth reached, a collection to run, a block
 * pymalloc's fast path cannot give — is the managed export's (phnimpl_*), which takes the GIL
 * itself, waits for it, allocates, reports.
 * The words the two sides share (the GIL's owner, generation 0, the trashcan) live here, in
 * object_state (phn_gc_layout.h); the managed side reads them through
 * phnimpl_object_state_address. */
#include <pthread.h>
#include <stddef.h>

#include "phn_gc_layout.h"
#include "../../../include/pyheapnative/phn_gc.h"   /* the exports' declarations, the constants */

_Static_assert(TRASHCAN_DEPTH == PHN_TRASHCAN_DEPTH, "the trashcan's depth");
_Static_assert(TYPE_HAVE_GC == PHN_TPFLAGS_HAVE_GC && TYPE_WEAKREFABLE == PHN_TPFLAGS_WEAKREFABLE, "type flags");
_Static_assert(sizeof(object) == sizeof(phn_object) && offsetof(object, refcnt) == offsetof(phn_object, ob_refcnt)
               && offsetof(object, type) == offsetof(phn_object, ob_type), "the object header");

static object_state state;

PHN_IMPL object_state* phnimpl_object_state_address(void) { return &state; }

PHN_IMPL int32_t phnimpl_gc_untrack(object* op);
PHN_IMPL int32_t phnimpl_object_free(object* op);
PHN_IMPL void phnimpl_dealloc(object* op);

/* phn_obj_free, the OBJ domain's entry point, as the library's own (phn_entry.c). */
PHN_IMPL void phn_obj_free_own(void* p);

PHN_IMPL phn_object* phnimpl_object_new(phn_type* type);
PHN_IMPL phn_object* phnimpl_object_new_var(phn_type* type, int64_t n);
PHN_IMPL phn_object* phnimpl_gc_new(phn_type* type);
PHN_IMPL phn_object* phnimpl_gc_new_var(phn_type* type, int64_t n);

/* A zeroed object block from pymalloc's fast path, or NULL with nothing tried (phn_entry.c). */
PHN_IMPL void* phn_obj_object_block(size_t size);

/* Gil.EnterIfNeeded without waiting: GIL_HELD (the caller holds it), GIL_TAKEN (it was free
 * and is now the caller's, until gil_exit), or GIL_BUSY (another thread holds it: the managed
 * side waits for it). */
enum { GIL_BUSY = 0, GIL_HELD = 1, GIL_TAKEN = 2 };

static inline int gil_enter(void) {
    uintptr_t me = (uintptr_t)pthread_self();
    uintptr_t owner = __atomic_load_n(&state.gil_owner, __ATOMIC_RELAXED);
    if (owner == me)
        return GIL_HELD;
    if (owner == 0 && __atomic_compare_exchange_n(&state.gil_owner, &owner, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return GIL_TAKEN;
    return GIL_BUSY;
}

static inline void gil_exit(int how) {
    if (how == GIL_TAKEN)
        __atomic_store_n(&state.gil_owner, 0, __ATOMIC_RELEASE);
}

/* Generations.Untrack: no-op if not tracked; keeps the finalized mark. */
static inline void unlink_gc(object* op) {
    gc_head* g = as_gc(op);
    if (g->next != 0) {
        gc_head* prev = (gc_head*)(g->prev & ~(uintptr_t)PREV_FLAGS);
        gc_head* next = (gc_head*)g->next;
        prev->next = (uintptr_t)next;
        next->prev = (next->prev & PREV_FLAGS) | (uintptr_t)prev;
        g->next = 0;
        g->prev &= PREV_FINALIZED;
    }
}

/* Objects.Allocate: 1 and the object in *out, or 0 (nothing done) for the managed side. */
static inline int make_object(const type_object* t, int64_t n, int var, int gc_only, int track, object** out) {
    if (t == NULL || t->magic != TYPE_MAGIC || (var ? t->item_size == 0 : t->item_size != 0) || n < 0
        || (gc_only && (t->flags & TYPE_HAVE_GC) == 0))
        return 0;   /* reported there */
    size_t size = (size_t)t->pre_size + (size_t)t->basic_size;
    if (n != 0) {
        if ((uint64_t)n > (uint64_t)(PTRDIFF_MAX - (intptr_t)size) / (uint64_t)t->item_size)
            return 0;
        size += (size_t)n * (size_t)t->item_size;
    }
    track = track && (t->flags & TYPE_HAVE_GC) != 0;
    if (track && state.enabled && state.threshold0 != 0 && state.count0 >= state.threshold0)
        return 0;   /* this track starts an automatic collection (Generations.Track) */
    char* block = phn_obj_object_block(size);
    if (block == NULL)
        return 0;   /* not pymalloc's fast path: the managed side allocates */
    object* op = (object*)(block + t->pre_size);
    op->refcnt = 1;
    op->type = t;
    if (t->item_size != 0)
        ((phn_varobject*)op)->ob_size = (intptr_t)n;
    if (track) {   /* GcList.Append to generation 0 */
        gc_head* g = as_gc(op);
        gc_head* list = state.generation0;
        gc_head* last = (gc_head*)list->prev;
        g->prev = (g->prev & PREV_FLAGS) | (uintptr_t)last;
        last->next = (uintptr_t)g;
        g->next = (uintptr_t)list;
        list->prev = (uintptr_t)g;
        state.count0++;
    }
    *out = op;
    return 1;
}

#define PHN_OBJECT_CONSTRUCTOR(name, params, type_arg, n_arg, var, gc_only, track, managed_args) \
    phn_object* phn_##name params {                                                             \
        int gil = gil_enter();                                                                  \
        if (gil != GIL_BUSY) {                                                                  \
            object* op;                                                                         \
            int made = make_object((const type_object*)(type_arg), (n_arg), var, gc_only, track, &op); \
            gil_exit(gil);                                                                      \
            if (made)                                                                           \
                return (phn_object*)op;                                                         \
        }                                                                                       \
        return phnimpl_##name managed_args;                                                     \
    }

PHN_OBJECT_CONSTRUCTOR(object_new, (phn_type* type), type, 0, 0, 0, 1, (type))
PHN_OBJECT_CONSTRUCTOR(object_new_var, (phn_type* type, int64_t n), type, n, 1, 0, 1, (type, n))
PHN_OBJECT_CONSTRUCTOR(gc_new, (phn_type* type), type, 0, 0, 1, 0, (type))
PHN_OBJECT_CONSTRUCTOR(gc_new_var, (phn_type* type, int64_t n), type, n, 1, 1, 0, (type, n))

int32_t phn_gc_untrack(phn_object* public_op) {
    object* op = (object*)public_op;
    int gil;
    if (op != NULL && (gil = gil_enter()) != GIL_BUSY) {
        int done = is_gc(op);
        if (done)
            unlink_gc(op);
        gil_exit(gil);
        if (done)
            return 0;
    }
    return phnimpl_gc_untrack(op);
}

int32_t phn_object_free(phn_object* public_op) {
    object* op = (object*)public_op;
    int gil;
    if (op != NULL && (gil = gil_enter()) != GIL_BUSY) {
        const type_object* t = op->type;
        char* block = (char*)op - t->pre_size;
        /* the weak list is the first word before the object's other headers (ObjectLayout) */
        int done = (t->flags & TYPE_WEAKREFABLE) == 0 || *(object**)block == NULL;
        if (done) {
            if (t->flags & TYPE_HAVE_GC) {
                unlink_gc(op);
                if (state.count0 > 0)
                    state.count0--;
            }
            phn_obj_free_own(block);
        }
        gil_exit(gil);
        if (done)
            return 0;
    }
    return phnimpl_object_free(op);
}

void phn_dealloc(phn_object* public_op) {
    object* op = (object*)public_op;
    int gil;
    if (op != NULL && (gil = gil_enter()) != GIL_BUSY) {
        void (*dealloc)(object*) = op->type->dealloc;
        if ((int32_t)op->refcnt < 0) {   /* immortal */
            gil_exit(gil);
            return;
        }
        if (dealloc != NULL && state.delete_nesting < TRASHCAN_DEPTH) {
            state.delete_nesting++;
            dealloc(op);
            if (--state.delete_nesting == 0 && state.delete_later != NULL)
                phnimpl_dealloc(NULL);   /* under the GIL still: the drain runs before it goes */
            gil_exit(gil);
            return;
        }
        gil_exit(gil);
    }
    phnimpl_dealloc(op);
}
