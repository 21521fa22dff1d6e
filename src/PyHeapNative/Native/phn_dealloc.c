/* phn_dealloc.c - the calls of a dealloc callback, without a transition.
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
 * chain of deallocations costs. So their common case is here, in C, taken when the calling
 * thread holds the GIL (deallocs run under it):
 *
 *   phn_dealloc       an object of a type with a dealloc callback, below the trashcan's
 *                     depth: nesting + 1, the callback, nesting - 1. What the trashcan
 *                     deposited meanwhile is drained by the managed side once the outermost
 *                     dealloc returns (phnimpl_dealloc(NULL)), as Objects.Dealloc drains it.
 *   phn_object_free   unlink if tracked, count0 - 1 for a GC object, the block back to the
 *                     OBJ domain (phn_obj_free); a weak-referenceable object with weak
 *                     references still listed goes to the managed side (they must be cleared).
 *   phn_gc_untrack    the unlink.
 *
 * Anything else — no GIL held, a type without a callback (Objects.DefaultDealloc), the
 * trashcan's depth reached — is the managed export's (phnimpl_*), which takes the GIL itself.
 * The words the two sides share (the GIL's owner, count0, the trashcan) live here, in
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

static inline int gil_held(void) {
    return __atomic_load_n(&state.gil_owner, __ATOMIC_RELAXED) == (uintptr_t)pthread_self();
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

int32_t phn_gc_untrack(phn_object* public_op) {
    object* op = (object*)public_op;
    if (op != NULL && gil_held() && is_gc(op)) {
        unlink_gc(op);
        return 0;
    }
    return phnimpl_gc_untrack(op);
}

int32_t phn_object_free(phn_object* public_op) {
    object* op = (object*)public_op;
    if (op != NULL && gil_held()) {
        const type_object* t = op->type;
        char* block = (char*)op - t->pre_size;
        /* the weak list is the first word before the object's other headers (ObjectLayout) */
        if ((t->flags & TYPE_WEAKREFABLE) == 0 || *(object**)block == NULL) {
            if (t->flags & TYPE_HAVE_GC) {
                unlink_gc(op);
                if (state.count0 > 0)
                    state.count0--;
            }
            phn_obj_free_own(block);
            return 0;
        }
    }
    return phnimpl_object_free(op);
}

void phn_dealloc(phn_object* public_op) {
    object* op = (object*)public_op;
    if (op != NULL && gil_held()) {
        if ((int32_t)op->refcnt < 0)
            return;   /* immortal */
        void (*dealloc)(object*) = op->type->dealloc;
        if (dealloc != NULL && state.delete_nesting < TRASHCAN_DEPTH) {
            state.delete_nesting++;
            dealloc(op);
            if (--state.delete_nesting == 0 && state.delete_later != NULL)
                phnimpl_dealloc(NULL);
            return;
        }
    }
    phnimpl_dealloc(op);
}
