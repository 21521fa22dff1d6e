/* phn_fast_trace.h - tracemalloc's common case in C (Core/Tracing/Tracer.cs is the whole
 * implementation), inlined into the entry points (phn_entry.c): a traced MEM or OBJ call over
 * pymalloc itself, one frame, no frame provider, no user code running inside a traced call.
 *
 *   malloc:  1..496 bytes: under the tracer's lock, a block of the traced heap (its class
 *            lock taken inside the tracer's: Core/Pymalloc/TracedHeap.cs) whose header gets
 *            the trace (size, traceback); current += size, peak = max(peak, current).
 *            497..512 bytes: a block from pymalloc's fast path, its trace (0, address) ->
 *            (size, traceback) in the traces table. The traceback is the interned one-frame
 *            traceback of the caller's address, found in the tracer's single-frame cache; a
 *            miss, a pool to take, contention, or a table that must grow first hands the
 *            call to the managed tracer.
 *   free:    under the lock the trace goes (current -= its size; the header's traceback
 *            becomes 0), then the block goes back.
 *   realloc: the old trace goes, the managed pymalloc reallocates, the new trace comes (the
 *            old one back if the realloc failed): phn_fast_trace.c.
 * The order is the managed tracer's: a trace exists only while its block does, so no other
 * thread can be handed an address whose old trace is still there. The table is an
 * AddressTable (phn_fast.h). */
#ifndef PHN_FAST_TRACE_H
#define PHN_FAST_TRACE_H

#include "phn_fast.h"

enum { SINGLE_FRAME_SLOTS = 256 };   /* SingleFrameCache */

/* The tracer's statics, handed over by phnimpl_trace_configure (Core/Tracing/TracerNative.cs). */
typedef struct trace_state {
    int32_t* lock;                 /* Tracer.s_lock */
    const volatile uint8_t* tracing;
    /* Tracer.s_gate: why a traced call must go to the managed tracer (a traceback limit
     * above 1, a frame provider, stray traces, user code running inside a traced call); 0
     * when it need not. Until phnimpl_trace_configure, a word that is never 0. */
    const volatile int32_t* gate;
    address_table* traces;
    size_t* traced;
    size_t* peak;
    const uint64_t* single_pcs;    /* SingleFrameCache: return addresses, then their tracebacks */
    const uint64_t* single_tracebacks;
    const uint32_t* generation;    /* Tracer.s_generation: +1 at each clear of the traces */
    size_t* header_traces;         /* Tracer.s_headerTraces: traces in traced-heap headers */
} trace_state;

PHN_IMPL extern trace_state phn_trace_state;
PHN_IMPL extern volatile int phn_trace_configured;

/* The managed tracer's slow paths (Exports/MemExports.cs): add a trace (the block freed and
 * NULL returned when it cannot be stored; for a realloc, a fatal error), put back the trace
 * of a block whose realloc failed. The entry points reach the first through
 * phn_trace_add_slow (phn_fast_trace.c): each of them calls one managed function only, its
 * own (tests/PyHeapNative.Tests/AbiModel.cs checks that). */
PHN_IMPL void* phnimpl_trace_add(void* p, size_t size, void* caller, int32_t realloc);
PHN_IMPL void phnimpl_trace_restore(void* p, size_t size, size_t traceback, uint32_t generation);
PHN_IMPL void* phn_trace_add_slow(void* p, size_t size, void* caller, int32_t realloc);

/* Tracer.Untraced's re-entrancy test and the single-frame condition of Tracer.AddTrace, read
 * before the lock as the managed tracer does (one word, the gate). Whether tracing is on is
 * read under the lock only: the tracing wrapper is installed while it is, and in the moment
 * stop takes to remove it a call here records nothing, as Tracer.Untraced would have it. */
static inline int fast_tracing(const tracing_api* api) {
    const volatile int32_t* gate = __atomic_load_n(&phn_trace_state.gate, __ATOMIC_ACQUIRE);
    return __atomic_load_n(gate, __ATOMIC_RELAXED) == 0 && api->underlying.kind == BACKEND_PYMALLOC;
}

/* The caller's interned one-frame traceback from the single-frame cache, or 0 when the
 * managed tracer must record the trace: a miss (it interns the traceback), or the gate
 * closed since it was read before the lock (a stray trace, whose table entry the managed
 * tracer drops when the block's header gets a trace: Tracer.StoreTrace). Lock held. */
static inline __attribute__((always_inline)) size_t cached_traceback(void* caller) {
    uint64_t pc = (uint64_t)(uintptr_t)caller;
    size_t slot = (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 56);
    if (phn_trace_state.single_pcs[slot] != pc || pc == 0 || *phn_trace_state.gate != 0)
        return 0;
    return (size_t)phn_trace_state.single_tracebacks[slot];
}

static inline __attribute__((always_inline)) void count_traced(size_t size) {
    *phn_trace_state.traced += size;
    if (*phn_trace_state.traced > *phn_trace_state.peak)
        *phn_trace_state.peak = *phn_trace_state.traced;
}

/* Puts a trace in the header of a live block of the traced heap, replacing the one a track
 * may have put there since the block was taken (or its trace removed, for a realloc). Lock
 * held. */
static inline __attribute__((always_inline)) void store_in_header(trace_header* h, size_t size, size_t traceback) {
    if (h->traceback != 0)
        *phn_trace_state.traced -= h->size;
    else
        ++*phn_trace_state.header_traces;
    h->size = size;
    h->traceback = traceback;
    count_traced(size);
}

/* Adds the trace of p under the held lock; 0 when the managed tracer must (no cached
 * traceback for the caller, or the table must grow). */
static inline __attribute__((always_inline)) int add_locked(void* p, size_t size, void* caller) {
    size_t traceback = cached_traceback(caller);
    if (traceback == 0)
        return 0;
    trace_header* h = phn_trace_header_of(p);
    if (h != NULL) {
        store_in_header(h, size, traceback);
        return 1;
    }
    address_table* t = phn_trace_state.traces;
    if (!phn_table_has_room(t, 1))
        return 0;
    address_entry* e = phn_table_slot(t, (uintptr_t)p);
    if (e->address != 0)
        *phn_trace_state.traced -= e->value;   /* replaced */
    phn_table_store(t, e, (uintptr_t)p, size, traceback);
    count_traced(size);
    return 1;
}

/* Removes the trace of p (h: its header in the traced heap, or NULL) under the held lock;
 * a copy of it in *removed (address 0 if p had none). */
static inline __attribute__((always_inline)) void remove_locked(void* p, trace_header* h, address_entry* removed) {
    removed->address = 0;
    if (h != NULL) {
        if (h->traceback != 0) {
            removed->address = (uintptr_t)p;
            removed->value = h->size;
            removed->extra = h->traceback;
            *phn_trace_state.traced -= h->size;
            --*phn_trace_state.header_traces;
            h->traceback = 0;
        }
        return;
    }
    address_table* t = phn_trace_state.traces;
    address_entry* e = phn_table_find(t, (uintptr_t)p);
    if (e == NULL)
        return;
    *removed = *e;
    *phn_trace_state.traced -= removed->value;
    phn_table_remove(t, e);
}

/* Records the trace of a block just allocated: here, or by the managed tracer (which frees
 * the block and returns NULL when the trace cannot be stored, as Tracer.Malloc). */
static inline __attribute__((always_inline)) void* phn_trace_record(void* p, size_t size, void* caller, int32_t realloc) {
    if (phn_try_lock(phn_trace_state.lock)) {
        int done = !*phn_trace_state.tracing || add_locked(p, size, caller);   /* stopped: nothing to record */
        phn_unlock(phn_trace_state.lock);
        if (done)
            return p;
    }
    return phn_trace_add_slow(p, size, caller, realloc);
}

/* The class line of the traced heap for class idx: its lock at 0, its used pools at 8. */
static inline int32_t* traced_class_line(uint32_t idx) {
    return (int32_t*)(phn_fast_class_lines + ((size_t)TRACED_HEAP * NUM_SIZE_CLASSES + idx) * CLASS_LINE);
}

/* A traced block of 1..TRACED_MAX_REQUEST bytes from the traced heap, its trace in its
 * header; NULL when the managed tracer must serve the call (nothing changed). */
static inline __attribute__((always_inline)) void* phn_trace_malloc_in_header(size_t size, int zero, void* caller) {
    uint32_t idx = phn_size_class(size + TRACE_HEADER_SIZE);
    int32_t* class_lock = traced_class_line(idx);
    if (!phn_try_lock(phn_trace_state.lock))
        return NULL;
    trace_header* h = NULL;
    size_t traceback = cached_traceback(caller);
    if (*phn_trace_state.tracing && traceback != 0 && phn_try_lock(class_lock)) {
        h = (trace_header*)phn_take_block((char*)class_lock, idx);
        phn_unlock(class_lock);
        if (h != NULL)
            store_in_header(h, size, traceback);
    }
    phn_unlock(phn_trace_state.lock);
    if (h == NULL)
        return NULL;
    if (zero)
        memset(h + 1, 0, size);
    return h + 1;
}

static inline __attribute__((always_inline)) int phn_trace_malloc(const tracing_api* api, size_t size, int zero, void* caller, void** out) {
    if (size - 1 >= SMALL_REQUEST_THRESHOLD || !fast_tracing(api))
        return 0;
    void* p;
    if (size - 1 < TRACED_MAX_REQUEST) {
        if ((p = phn_trace_malloc_in_header(size, zero, caller)) == NULL)
            return 0;
        *out = p;
        return 1;
    }
    p = phn_pymalloc_alloc(phn_size_class(size));
    if (p == NULL)
        return 0;
    if (zero)
        memset(p, 0, size);
    *out = phn_trace_record(p, size, caller, 0);
    return 1;
}

/* Tracer.Free: 1 when p's trace is gone and p went back, 0 when nothing changed. A block of
 * the traced heap goes back to its pool under the tracer's lock when it can. */
static inline __attribute__((always_inline)) int phn_trace_free(const tracing_api* api, void* p) {
    if (!fast_tracing(api) || !phn_try_lock(phn_trace_state.lock))
        return 0;
    trace_header* h = phn_trace_header_of(p);
    address_entry removed;
    if (*phn_trace_state.tracing)
        remove_locked(p, h, &removed);
    int done = 0;
    if (h != NULL) {
        pool_header* pool = phn_pool_of(h);
        int32_t* class_lock = traced_class_line(pool->szidx);
        if (phn_try_lock(class_lock)) {
            done = phn_return_block(pool, (char*)class_lock, h);
            phn_unlock(class_lock);
        }
    }
    phn_unlock(phn_trace_state.lock);
    /* The block is still the caller's: nobody can be handed its address until now. */
    if (!done)
        phn_pymalloc_free_any(p);
    return 1;
}

#endif
