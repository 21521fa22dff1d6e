/* abi_mismatch.h - a deliberately WRONG copy of a few declarations of include/pyheapnative.h.
 *
 * Only AbiTests.MismatchFixtureIsReported uses it: the ABI checker that finds nothing wrong
 * with the real header is run against this file, against the same library, bindings and
 * Python package, and must report each difference marked below (and nothing for the parts
 * marked "correct"). Never include it anywhere else. */
#ifndef PHN_ABI_MISMATCH_FIXTURE_H
#define PHN_ABI_MISMATCH_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* WRONG: one parameter too many (phn_trace.h: int32_t phn_tracemalloc_start(int32_t nframe)). */
int32_t phn_tracemalloc_start(int32_t nframe, int32_t extra);

/* WRONG: return size, int64_t instead of int32_t. */
int64_t phn_gc_enable(void);

/* WRONG: parameter size, uint32_t instead of size_t; an entry point with a C shim
 * (Native/phn_entry.c), so the shim's signature is reported too. */
void* phn_mem_malloc(uint32_t size);

/* WRONG: same size, other register class: double instead of int64_t. */
double phn_gc_collect(int32_t generation);

/* WRONG: a callback with one parameter too many (phn_gc_output is
 * void (*)(void* ctx, const char* line)). */
typedef void (*abi_fixture_gc_output)(void* ctx, int32_t level, const char* line);
int32_t phn_gc_set_debug_output(abi_fixture_gc_output output, void* ctx);

/* WRONG: not exported by the library at all. */
int32_t phn_abi_fixture_not_exported(void);

/* correct: an exact copy of phn_stats.h's declaration. */
int32_t phn_validate(void);

/* WRONG layout: collected and uncollectable are int32_t (int64_t in phn_gc.h), so the
 * size, those fields' sizes and the offsets after them differ; and phn_gc_get_stats, whose
 * declaration is otherwise correct, now points to a struct of another size. */
typedef struct phn_gc_stats {
    uint32_t struct_size;
    uint32_t reserved;
    int64_t collections;
    int32_t collected;
    int32_t uncollectable;
    int64_t candidates;
    double duration;
} phn_gc_stats;
int32_t phn_gc_get_stats(int32_t generation, phn_gc_stats* stats);

/* WRONG: a struct that no binding mirrors. */
typedef struct phn_abi_fixture_only {
    uint64_t value;
} phn_abi_fixture_only;

/* correct: a header-only function (static inline) is never looked for in the library. */
static inline int32_t phn_abi_fixture_inline(void) { return 0; }

#endif /* PHN_ABI_MISMATCH_FIXTURE_H */
