/* phn_gc_track.c - phn_gc_untrack without a transition, and the GIL's owner word.
 *
 * A dealloc callback (CPython's canonical order: untrack, clear the fields, free) makes
 * three calls into the library per object; as exports of managed code each pays a reverse
 * P/Invoke transition. Untracking is a few pointer moves, so it is done here, in C, when the
 * calling thread holds the GIL (the common case: deallocs run under it); otherwise the
 * managed export (phnimpl_gc_untrack) takes the GIL and does it.
 *
 * The GIL's owner (pthread_self of the holder, 0 when free) lives here so that C can read it;
 * Core/Objects/Gil.cs writes it through phnimpl_gil_owner_address. The GC header layout is
 * the one of Core/Objects/ObjectLayout.cs (see phn_gc_visit.c). */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PHN_IMPL __attribute__((visibility("hidden")))

typedef struct gc_head { uintptr_t next, prev; } gc_head;
typedef struct object { intptr_t refcnt; const void* type; } object;

enum { PREV_FINALIZED = 1, PREV_FLAGS = 3 };

static uintptr_t gil_owner;

PHN_IMPL uintptr_t* phnimpl_gil_owner_address(void) { return &gil_owner; }

PHN_IMPL int32_t phnimpl_gc_untrack(object* op);

int32_t phn_gc_untrack(object* op) {
    if (op != NULL && __atomic_load_n(&gil_owner, __ATOMIC_RELAXED) == (uintptr_t)pthread_self()
        && (*(const uint32_t*)((const char*)op->type + 4) & 1u) != 0) {
        gc_head* g = (gc_head*)op - 1;
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
