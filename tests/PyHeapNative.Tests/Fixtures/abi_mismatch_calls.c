/* abi_mismatch_calls.c - C code calling managed phnimpl_* functions, partly WRONG on purpose.
 *
 * Only AbiTests.MismatchFixtureIsReported uses it: parsed with libclang (never compiled) next
 * to the library's own src/PyHeapNative/Native/*.c, it stands for C code outside the exported
 * shims that calls the managed side (as phn_fast_debug.c and phn_fast_trace.c do). The checker
 * must report each call marked WRONG below (and nothing for the one marked "correct"). */
#include <stddef.h>
#include <stdint.h>

#define ABI_FIXTURE_HIDDEN __attribute__((visibility("hidden")))

/* WRONG: parameter 2 is uint32_t; MemExports.TraceRestore (phnimpl_trace_restore) takes
 * (void* p, nuint size, nuint traceback, uint generation), as phn_fast_trace.h declares it. */
ABI_FIXTURE_HIDDEN void phnimpl_trace_restore(void* p, uint32_t size, size_t traceback, uint32_t generation);

/* WRONG: no [UnmanagedCallersOnly] method of the library has this entry point. */
ABI_FIXTURE_HIDDEN int32_t phnimpl_abi_fixture_missing(void* p);

/* correct: MemExports.PymallocFree, as phn_fast.h declares it. */
ABI_FIXTURE_HIDDEN void phnimpl_pymalloc_free(void* p);

/* The calls: from a static inline function, a static function and a hidden one (none of
 * them an exported shim). */
static inline void abi_fixture_free(void* p) { phnimpl_pymalloc_free(p); }

static void abi_fixture_restore(void* p, size_t size) { phnimpl_trace_restore(p, (uint32_t)size, 0, 0); }

ABI_FIXTURE_HIDDEN int32_t abi_fixture_calls(void* p, size_t size) {
    abi_fixture_restore(p, size);
    abi_fixture_free(p);
    return phnimpl_abi_fixture_missing(p);
}
