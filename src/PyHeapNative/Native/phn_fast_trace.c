/* phn_fast_trace.c - the tracer's state handed over by the managed side, and tracemalloc's
 * realloc in C (malloc and free are inlined into the entry points: phn_fast_trace.h). */
#include "phn_fast_trace.h"

static const int32_t unconfigured_gate = 1;

PHN_IMPL trace_state phn_trace_state = { .gate = &unconfigured_gate };
PHN_IMPL volatile int phn_trace_configured;

PHN_IMPL void phnimpl_trace_configure(const trace_state* s) {
    const volatile int32_t* gate = s->gate;
    trace_state copy = *s;
    copy.gate = &unconfigured_gate;
    phn_trace_state = copy;
    __atomic_store_n(&phn_trace_configured, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&phn_trace_state.gate, gate, __ATOMIC_RELEASE);   /* the rest first */
}

PHN_IMPL void* phn_trace_add_slow(void* p, size_t size, void* caller, int32_t realloc) {
    return phnimpl_trace_add(p, size, caller, realloc);
}

PHN_IMPL int32_t* phn_trace_lock_word(void) {
    return __atomic_load_n(&phn_trace_configured, __ATOMIC_ACQUIRE) ? phn_trace_state.lock : NULL;
}

PHN_IMPL int phn_trace_realloc(const tracing_api* api, void* ptr, size_t size, void* caller, void** out) {
    if (ptr == NULL || size > (size_t)PTRDIFF_MAX || !fast_tracing(api) || !phn_try_lock(phn_trace_state.lock))
        return 0;
    address_entry old;
    old.address = 0;
    uint32_t generation = *phn_trace_state.generation;
    if (*phn_trace_state.tracing)
        remove_locked(ptr, phn_trace_header_of(ptr), &old);
    phn_unlock(phn_trace_state.lock);
    void* p2 = phnimpl_pymalloc_realloc(ptr, size);
    if (p2 == NULL) {
        /* ptr is untouched: its trace comes back (rare, so the managed tracer does it). */
        if (old.address != 0)
            phnimpl_trace_restore(ptr, old.value, old.extra, generation);
        *out = NULL;
        return 1;
    }
    *out = phn_trace_record(p2, size, caller, 1);
    return 1;
}
