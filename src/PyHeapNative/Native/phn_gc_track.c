/* phn_gc_track.c - phn_gc_untrack without a transition, and the GIL's owner word.
 *
 * A dealloc callback (CPython's canonical order: untrack, clear the fields, free) makes
 * three calls into the library per object; as exports of managed code each pays a reverse
 * P/Invoke transition. Untracking is a few pointer moves, so it is done here, in C, when the
 * calling thread holds the GIL (the common case: deallocs run under it); otherwise the
 * managed export (phnimpl_gc_untrack) takes the GIL and does it.
 *
 * The GIL's owner (pthread_self of the holder, 0 when free) lives here so that C can read it;
 * Core/Objects/Gil.cs writes it through phnimpl_gil_owner_address. The layouts are
 * those of phn_gc_layout.h. */
#include <pthread.h>

#include "phn_gc_layout.h"

static uintptr_t gil_owner;

PHN_IMPL uintptr_t* phnimpl_gil_owner_address(void) { return &gil_owner; }

PHN_IMPL int32_t phnimpl_gc_untrack(object* op);

int32_t phn_gc_untrack(object* op) {
    if (op != NULL && __atomic_load_n(&gil_owner, __ATOMIC_RELAXED) == (uintptr_t)pthread_self()
        && is_gc(op)) {
        gc_head* g = as_gc(op);
        if (g->next != 0) {
            gc_head* prev = (gc_head*)(g->prev & ~(uintptr_t)PREV_FLAGS);
            gc_head* next = (gc_head*)g->next;
            prev->next = (uintptr_t)next;
            next->prev = (next->prev & PREV_FLAGS) | (uintptr_t)prev;
            g->next = 0;
            g->prev &= PREV_FINALIZED;
        }
        return 0;
    }
    return phnimpl_gc_untrack(op);
}
