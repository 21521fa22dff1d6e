/* pyheapnative/phn_trace.h - tracemalloc: where every block was allocated.
 * Mirrored by src/PyHeapNative/Exports/TraceExports.cs (same order).
 *
 * While tracing, every allocation of the three domains records a trace: (trace domain 0,
 * address) -> (requested size, traceback). Tracing is exact: the traced current memory is
 * the sum of the sizes of the live traced blocks after every call; a block allocated inside
 * another traced call (pymalloc's RAW fallback, a frame provider's own allocations) is not
 * traced a second time, and the tracer's own memory is never traced.
 *
 * A traceback holds up to the traceback limit of frames, most recent first. Callers are C,
 * so by default a frame is a native return address of the call, symbolized when a snapshot
 * is taken: filename "<module>:<symbol>" (or "<module>" without a symbol) and, as the line
 * number, the offset of the address from the symbol (or module) start. A host such as an
 * interpreter can supply its own (filename, line) frames with a frame provider. A call with
 * no frame at all gets the single frame ("<unknown>", 0), as CPython.
 *
 * PYHEAPNATIVE_TRACEMALLOC=N (1..65535) starts tracing with N frames at start-up. */
#ifndef PYHEAPNATIVE_PHN_TRACE_H
#define PYHEAPNATIVE_PHN_TRACE_H

#include "phn_config.h"
#include "phn_object.h"   /* phn_object, for phn_tracemalloc_get_object_traceback */

#ifdef __cplusplus
extern "C" {
#endif

#define PHN_TRACEMALLOC_MAX_NFRAME 65535
#define PHN_TRACE_DOMAIN_DEFAULT   0     /* the domain of the library's own allocations */

/* Start tracing with a traceback limit of nframe frames (1..65535; else PHN_EINVAL with
 * "the number of frames must be in range [1; 65535]"). Already tracing: nothing changes,
 * the limit included (as CPython). */
PHN_API int32_t PHN_CALL phn_tracemalloc_start(int32_t nframe);

/* Stop tracing: uninstall the hooks and forget every trace. Not tracing: nothing happens. */
PHN_API int32_t PHN_CALL phn_tracemalloc_stop(void);

/* 1 while tracing, else 0. */
PHN_API int32_t PHN_CALL phn_tracemalloc_is_tracing(void);

/* Current and peak size of the traced blocks; (0, 0) when not tracing. Either may be NULL. */
PHN_API int32_t PHN_CALL phn_tracemalloc_get_traced_memory(size_t* current, size_t* peak);

/* Set the peak to the current size (nothing when not tracing). */
PHN_API int32_t PHN_CALL phn_tracemalloc_reset_peak(void);

/* Forget every trace; current and peak become 0 (nothing when not tracing). */
PHN_API int32_t PHN_CALL phn_tracemalloc_clear_traces(void);

/* The traceback limit of the current or last start (1 before any). */
PHN_API int32_t PHN_CALL phn_tracemalloc_get_traceback_limit(void);

/* Bytes used by the tracer's own tables. */
PHN_API size_t PHN_CALL phn_tracemalloc_get_tracemalloc_memory(void);

/* Record a block of another allocator in a trace domain (CPython's PyTraceMalloc_Track):
 * 0 on success, -1 if the trace could not be stored (also for ptr 0), -2 when not tracing.
 * Tracking an address already tracked in that domain replaces its size and traceback. */
PHN_API int32_t PHN_CALL phn_tracemalloc_track(uint32_t domain, uintptr_t ptr, size_t size);

/* Forget a block tracked in a domain: 0 (also when unknown), -2 when not tracing. */
PHN_API int32_t PHN_CALL phn_tracemalloc_untrack(uint32_t domain, uintptr_t ptr);

/* A frame: a file name (NUL-terminated, owned by the library or the snapshot) and a line. */
typedef struct phn_frame {
    const char* filename;
    uint32_t lineno;
    uint32_t reserved;
} phn_frame;

/* A frame provider fills frames[0..max) with the calling thread's frames, most recent first,
 * stores the total depth (which may exceed max) in *total, and returns how many it wrote
 * (0 for none). The library copies the file names as soon as it returns, so they must stay
 * valid past the return until the allocation call that invoked the provider returns (static
 * strings, or strings the host owns; not a buffer in the provider's own stack frame).
 * It runs outside the library's locks; allocations it makes are not traced. */
typedef int32_t (PHN_CALL *phn_frame_provider)(void* ctx, phn_frame* frames, int32_t max, int32_t* total);

/* Use a provider instead of native return addresses (NULL restores those). */
PHN_API int32_t PHN_CALL phn_tracemalloc_set_frame_provider(phn_frame_provider provider, void* ctx);

/* ---- snapshots (Lib/tracemalloc.py's Snapshot, Statistic, StatisticDiff, Filter) ---- */

typedef struct phn_snapshot phn_snapshot;       /* the traces at one moment; immutable */
typedef struct phn_statistics phn_statistics;   /* a sorted list of statistics */

/* One trace of a snapshot. frames: nframe frames, most recent first, owned by the snapshot. */
typedef struct phn_trace {
    uint32_t domain;
    uint32_t nframe;
    uint32_t total_nframe;   /* the depth when it was recorded (saturates at 65535); with
                                native frames and a limit of 1 the stack is not walked
                                (the first frame is free, the walk is not) and this is 1 */
    uint32_t reserved;
    uint64_t size;
    const phn_frame* frames;
} phn_trace;

/* Copy the traces. Not tracing: PHN_ESTATE with "the tracemalloc module must be tracing
 * memory allocations to take a snapshot". Free with phn_snapshot_free. */
PHN_API int32_t PHN_CALL phn_tracemalloc_take_snapshot(phn_snapshot** out);

/* Release a snapshot (NULL: nothing). */
PHN_API void PHN_CALL phn_snapshot_free(phn_snapshot* snapshot);

/* Number of traces, and the traceback limit the snapshot was taken with. */
PHN_API int64_t PHN_CALL phn_snapshot_trace_count(const phn_snapshot* snapshot);
PHN_API int32_t PHN_CALL phn_snapshot_traceback_limit(const phn_snapshot* snapshot);

/* The index-th trace (0 <= index < count), valid while the snapshot lives. */
PHN_API int32_t PHN_CALL phn_snapshot_get_trace(const phn_snapshot* snapshot, int64_t index, phn_trace* out);

/* The trace of one block, as a snapshot holding that trace alone (read it with
 * phn_snapshot_get_trace, free it with phn_snapshot_free), or no trace when the block is not
 * traced or tracing is off (CPython returns None then): the block at ptr in a trace domain
 * (CPython's _PyTraceMalloc_GetTraceback), or the block of an object made by this library
 * (tracemalloc.get_object_traceback: the block starts at the object's headers, before it).
 * op must be a live object; PHN_EINVAL: out is NULL, op is NULL, or its type was not made by
 * phn_type_new. */
PHN_API int32_t PHN_CALL phn_tracemalloc_get_traceback(uint32_t domain, uintptr_t ptr, phn_snapshot** out);
PHN_API int32_t PHN_CALL phn_tracemalloc_get_object_traceback(const phn_object* op, phn_snapshot** out);

/* Filters (tracemalloc.Filter and DomainFilter). A trace is kept if no inclusive filter is
 * given or it matches one, and no exclusive filter matches it. */
#define PHN_FILTER_ANY_LINE   (-1)    /* lineno: match every line */
#define PHN_FILTER_ANY_DOMAIN (-1)    /* domain: match every domain */
typedef struct phn_filter {
    int32_t inclusive;               /* 1: keep matching traces; 0: drop them */
    int32_t all_frames;              /* 1: any frame may match; 0: the most recent one */
    const char* filename_pattern;    /* fnmatch pattern; NULL: a DomainFilter (domain only) */
    int32_t lineno;                  /* a line, or PHN_FILTER_ANY_LINE */
    int64_t domain;                  /* a trace domain, or PHN_FILTER_ANY_DOMAIN */
} phn_filter;

/* A new snapshot with the traces that pass the filters (count 0: a copy). */
PHN_API int32_t PHN_CALL phn_snapshot_filter_traces(const phn_snapshot* snapshot, const phn_filter* filters,
                                                     int32_t count, phn_snapshot** out);

/* Write a snapshot to a file and read it back. */
PHN_API int32_t PHN_CALL phn_snapshot_dump(const phn_snapshot* snapshot, const char* path);
PHN_API int32_t PHN_CALL phn_snapshot_load(const char* path, phn_snapshot** out);

/* Grouping keys of statistics. */
#define PHN_KEY_FILENAME  0   /* the most recent frame's file; lineno reported as 0 */
#define PHN_KEY_LINENO    1   /* the most recent frame */
#define PHN_KEY_TRACEBACK 2   /* the whole traceback */

/* One statistic, or one difference for compare_to (the *_diff fields are 0 otherwise). */
typedef struct phn_statistic {
    const phn_frame* frames;   /* the group's key: 1 frame, or the whole traceback */
    uint32_t nframe;
    uint32_t total_nframe;
    uint64_t size;
    uint64_t count;
    int64_t size_diff;
    int64_t count_diff;
} phn_statistic;

/* Snapshot.statistics(key_type, cumulative): sorted by (size, count, traceback) descending.
 * cumulative counts a trace once for each of its frames (not with PHN_KEY_TRACEBACK:
 * PHN_EINVAL "cumulative mode cannot by used with key type 'traceback'"); an unknown key:
 * PHN_EINVAL "unknown key_type: <k>". */
PHN_API int32_t PHN_CALL phn_snapshot_statistics(const phn_snapshot* snapshot, int32_t key_type,
                                                  int32_t cumulative, phn_statistics** out);

/* Snapshot.compare_to(old, key_type, cumulative): sorted by (|size_diff|, size, |count_diff|,
 * count, traceback) descending; groups only in old appear with size 0 and count 0. */
PHN_API int32_t PHN_CALL phn_snapshot_compare_to(const phn_snapshot* snapshot, const phn_snapshot* old,
                                                  int32_t key_type, int32_t cumulative, phn_statistics** out);

PHN_API int64_t PHN_CALL phn_statistics_count(const phn_statistics* statistics);
/* The index-th statistic, valid while the list lives (its frames belong to the list). */
PHN_API int32_t PHN_CALL phn_statistics_get(const phn_statistics* statistics, int64_t index, phn_statistic* out);
PHN_API void PHN_CALL phn_statistics_free(phn_statistics* statistics);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_TRACE_H */
