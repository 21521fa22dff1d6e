/* phn_gc_visit.c - the collector's two hot visitors, in C.
 *
 * A type with a traverse callback is traversed twice per object in every collection
 * (subtract_refs and move_unreachable), and its traverse calls the visitor once per
 * reference. Were the visitor managed code, each of those calls would pay a reverse
 * P/Invoke transition; written here, the traverse callback is called directly from the
 * collector (without a GC transition, see Core/Gc/Traversal.cs) and calls these plain C
 * functions: no transition at all, like CPython's visit_decref / visit_reachable.
 *
 * They read the layouts described in phn_gc_layout.h. Everything else (the debug checks,
 * the rarer visitors) stays managed. */
#include "phn_gc_layout.h"

/* DecrefVisitor (Core/Gc/Visitors.cs): { object* too_small; } */
typedef struct decref_state { object* too_small; } decref_state;

static int32_t visit_decref(object* r, void* arg) {
    if (r == NULL || !is_gc(r))
        return 0;
    gc_head* g = as_gc(r);
    uintptr_t prev = g->prev;
    if ((prev & PREV_COLLECTING) == 0)
        return 0;
    if ((prev >> PREV_SHIFT) == 0) {
        ((decref_state*)arg)->too_small = r;
        return 1;
    }
    g->prev = prev - ((uintptr_t)1 << PREV_SHIFT);
    return 0;
}

/* ReachableVisitor: { gc_head* young; } */
typedef struct reachable_state { gc_head* young; } reachable_state;

static int32_t visit_reachable(object* r, void* arg) {
    if (r == NULL || !is_gc(r))
        return 0;
    gc_head* g = as_gc(r);
    if ((g->prev & PREV_COLLECTING) == 0)
        return 0;   /* outside the set, or already scanned */
    if (g->next & NEXT_UNREACHABLE) {
        /* moved to the unreachable list too early: back to the tail of young */
        gc_head* prev = (gc_head*)(g->prev & ~(uintptr_t)PREV_FLAGS);
        gc_head* next = (gc_head*)(g->next & ~(uintptr_t)NEXT_UNREACHABLE);
        prev->next = g->next;
        g->next &= ~(uintptr_t)NEXT_UNREACHABLE;
        next->prev = (next->prev & PREV_FLAGS) | (uintptr_t)prev;
        gc_head* young = ((reachable_state*)arg)->young;
        gc_head* last = (gc_head*)young->prev;
        g->prev = (g->prev & PREV_FLAGS) | (uintptr_t)last;
        last->next = (uintptr_t)g;
        g->next = (uintptr_t)young;
        young->prev = (uintptr_t)g;
        g->prev = (g->prev & PREV_FLAGS) | ((uintptr_t)1 << PREV_SHIFT);
    } else if ((g->prev >> PREV_SHIFT) == 0) {
        g->prev = (g->prev & PREV_FLAGS) | ((uintptr_t)1 << PREV_SHIFT);
    }
    return 0;
}

/* The addresses, for Core/Gc/Visitors.cs (0 = decref, 1 = reachable). */
PHN_IMPL void* phnimpl_gc_native_visitor(int32_t which) {
    switch (which) {
    case 0: return (void*)visit_decref;
    case 1: return (void*)visit_reachable;
    default: return NULL;
    }
}
