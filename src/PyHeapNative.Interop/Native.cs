// Native.cs - P/Invoke bindings for include/pyheapnative.h.
//
// Mirrors the headers in the order the umbrella header includes them: phn_config.h,
// phn_runtime.h, phn_mem.h, phn_alloc.h, phn_debug.h, phn_trace.h, phn_stats.h,
// phn_object.h, phn_gc.h, phn_weakref.h, phn_gil.h, phn_testing.h. Every signature is
// blittable (size_t -> nuint, int32_t -> int, int64_t -> long, uint32_t -> uint,
// intptr_t -> nint, pointers as pointers, structs by pointer, callback typedefs as
// delegate* unmanaged[Cdecl]) and runtime marshalling is disabled for the assembly. The
// header-only parts (static inline functions, function-like macros) have no binding; the
// trivial ones have a managed equivalent next to the exports of phn_object.h.
// tests/PyHeapNative.Tests/HeaderExportTests.cs checks this file against the headers.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: DisableRuntimeMarshalling]
[assembly: DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]

namespace PyHeapNative.Interop;

/// <summary>
/// Raw bindings for every function of the PyHeapNative C API (<c>pyheapnative.h</c>).
/// The names drop the <c>phn_</c> prefix and use PascalCase; the constants keep their C
/// spelling. Prefer <see cref="PyHeap"/> unless you need the C semantics exactly.
/// </summary>
/// <remarks>
/// The library is located by <see cref="NativeLibraryResolver"/>, which is registered by the
/// static constructor of this class, before the first call.
/// </remarks>
public static unsafe partial class Native
{
    /// <summary>The library name used by every binding; <see cref="NativeLibraryResolver"/> maps it to a file.</summary>
    public const string LibraryName = "pyheapnative";

    static Native() => NativeLibraryResolver.Register();

    // ---------------------------------------------------------------- phn_config.h

    /// <summary><c>PHN_VERSION_MAJOR</c>: major version of the header these bindings mirror.</summary>
    public const int PHN_VERSION_MAJOR = 0;
    /// <summary><c>PHN_VERSION_MINOR</c>.</summary>
    public const int PHN_VERSION_MINOR = 1;
    /// <summary><c>PHN_VERSION_PATCH</c>.</summary>
    public const int PHN_VERSION_PATCH = 0;
    /// <summary><c>PHN_VERSION</c>: MAJOR*10000 + MINOR*100 + PATCH; compare with <see cref="Version"/>.</summary>
    public const uint PHN_VERSION = PHN_VERSION_MAJOR * 10000 + PHN_VERSION_MINOR * 100 + PHN_VERSION_PATCH;
    /// <summary><c>PHN_ABI_VERSION</c>: equals the soname major (<c>libpyheapnative.so.0</c>).</summary>
    public const int PHN_ABI_VERSION = 0;

    /// <summary><c>PHN_OK</c>: success.</summary>
    public const int PHN_OK = 0;
    /// <summary><c>PHN_EINVAL</c>: an argument is invalid (NULL, unknown domain, bad size).</summary>
    public const int PHN_EINVAL = -1;
    /// <summary><c>PHN_ENOMEM</c>: memory could not be obtained.</summary>
    public const int PHN_ENOMEM = -2;
    /// <summary><c>PHN_ESTATE</c>: the call is not valid in the current state.</summary>
    public const int PHN_ESTATE = -3;
    /// <summary><c>PHN_EINTERNAL</c>: an internal error was caught at the C boundary.</summary>
    public const int PHN_EINTERNAL = -4;
    /// <summary><c>PHN_ENOTSUP</c>: the feature is not available in this build or configuration.</summary>
    public const int PHN_ENOTSUP = -5;
    /// <summary><c>PHN_ECORRUPT</c>: a heap invariant does not hold (<see cref="Validate"/>).</summary>
    public const int PHN_ECORRUPT = -6;
    /// <summary><c>PHN_ECALLBACK</c>: a user callback reported a failure (given to the error handler, never returned; CPython's "Exception ignored in ...").</summary>
    public const int PHN_ECALLBACK = -7;

    // ---------------------------------------------------------------- phn_runtime.h

    /// <summary><c>phn_init</c>: starts the library (reads <c>PYHEAPNATIVE_ALLOCATOR</c>); idempotent.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_init")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int Init();

    /// <summary><c>phn_version</c>: <c>PHN_VERSION</c> of the loaded binary.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_version")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial uint Version();

    /// <summary><c>phn_last_error_message</c>: UTF-8 message of this thread's last failed call ("" if none).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_last_error_message")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* LastErrorMessage();

    /// <summary><c>phn_last_error_code</c>: status code of this thread's last failed call, 0 if none.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_last_error_code")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int LastErrorCode();

    /// <summary><c>phn_clear_error</c>: forgets this thread's last error.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_clear_error")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ClearError();

    /// <summary><c>phn_set_error_handler</c>: <c>void handler(void* ctx, int32_t code, const char* message)</c>; null restores none.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_set_error_handler")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetErrorHandler(delegate* unmanaged[Cdecl]<void*, int, byte*, void> handler, void* ctx);

    /// <summary><c>phn_set_fatal_handler</c>: <c>void handler(void* ctx, const char* message)</c>; null restores the default (print and abort).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_set_fatal_handler")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetFatalHandler(delegate* unmanaged[Cdecl]<void*, byte*, void> handler, void* ctx);

    // ---------------------------------------------------------------- phn_mem.h

    /// <summary><c>phn_raw_malloc</c> (<c>PyMem_RawMalloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_raw_malloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* RawMalloc(nuint size);

    /// <summary><c>phn_raw_calloc</c> (<c>PyMem_RawCalloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_raw_calloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* RawCalloc(nuint nelem, nuint elsize);

    /// <summary><c>phn_raw_realloc</c> (<c>PyMem_RawRealloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_raw_realloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* RawRealloc(void* ptr, nuint newSize);

    /// <summary><c>phn_raw_free</c> (<c>PyMem_RawFree</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_raw_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void RawFree(void* ptr);

    /// <summary><c>phn_mem_malloc</c> (<c>PyMem_Malloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_mem_malloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* MemMalloc(nuint size);

    /// <summary><c>phn_mem_calloc</c> (<c>PyMem_Calloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_mem_calloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* MemCalloc(nuint nelem, nuint elsize);

    /// <summary><c>phn_mem_realloc</c> (<c>PyMem_Realloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_mem_realloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* MemRealloc(void* ptr, nuint newSize);

    /// <summary><c>phn_mem_free</c> (<c>PyMem_Free</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_mem_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void MemFree(void* ptr);

    /// <summary><c>phn_obj_malloc</c> (<c>PyObject_Malloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_malloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* ObjMalloc(nuint size);

    /// <summary><c>phn_obj_calloc</c> (<c>PyObject_Calloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_calloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* ObjCalloc(nuint nelem, nuint elsize);

    /// <summary><c>phn_obj_realloc</c> (<c>PyObject_Realloc</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_realloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void* ObjRealloc(void* ptr, nuint newSize);

    /// <summary><c>phn_obj_free</c> (<c>PyObject_Free</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ObjFree(void* ptr);

    /// <summary><c>phn_obj_malloc_many</c>: n blocks of size bytes into out; returns how many were allocated.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_malloc_many")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nuint ObjMallocMany(nuint size, nuint n, void** @out);

    /// <summary><c>phn_obj_free_many</c>: frees ptrs[0..n) (NULL entries are skipped).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_obj_free_many")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ObjFreeMany(void** ptrs, nuint n);

    // ---------------------------------------------------------------- phn_alloc.h

    /// <summary><c>PHN_DOMAIN_RAW</c>.</summary>
    public const int PHN_DOMAIN_RAW = 0;
    /// <summary><c>PHN_DOMAIN_MEM</c>.</summary>
    public const int PHN_DOMAIN_MEM = 1;
    /// <summary><c>PHN_DOMAIN_OBJ</c>.</summary>
    public const int PHN_DOMAIN_OBJ = 2;

    /// <summary><c>phn_get_allocator</c>: copies a domain's allocator; unknown domain gives five nulls and <see cref="PHN_EINVAL"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_get_allocator")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GetAllocator(int domain, PhnAllocator* @out);

    /// <summary><c>phn_set_allocator</c>: installs an allocator (copied); it must wrap the previous one once blocks are live.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_set_allocator")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetAllocator(int domain, PhnAllocator* allocator);

    /// <summary><c>phn_get_arena_allocator</c>: copies the allocator pymalloc uses for its arenas.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_get_arena_allocator")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GetArenaAllocator(PhnArenaAllocator* @out);

    /// <summary><c>phn_set_arena_allocator</c>: installs an arena allocator (copied).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_set_arena_allocator")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetArenaAllocator(PhnArenaAllocator* allocator);

    /// <summary><c>phn_allocator_name</c>: "pymalloc", "malloc", "pymalloc_debug", "malloc_debug", or null when a domain holds a custom allocator.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_allocator_name")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* AllocatorName();

    // ---------------------------------------------------------------- phn_debug.h

    /// <summary><c>phn_setup_debug_hooks</c>: wraps every domain not already wrapped with CPython's debug hooks.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_setup_debug_hooks")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetupDebugHooks();

    // ---------------------------------------------------------------- phn_trace.h

    /// <summary><c>PHN_TRACEMALLOC_MAX_NFRAME</c>: the largest traceback limit.</summary>
    public const int PHN_TRACEMALLOC_MAX_NFRAME = 65535;
    /// <summary><c>PHN_TRACE_DOMAIN_DEFAULT</c>: the trace domain of the library's own allocations.</summary>
    public const int PHN_TRACE_DOMAIN_DEFAULT = 0;

    /// <summary><c>phn_tracemalloc_start</c>: start tracing with 1..65535 frames (else <see cref="PHN_EINVAL"/>); already tracing: nothing changes.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_start")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocStart(int nframe);

    /// <summary><c>phn_tracemalloc_stop</c>: uninstall the hooks and forget every trace.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_stop")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocStop();

    /// <summary><c>phn_tracemalloc_is_tracing</c>: 1 while tracing, else 0.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_is_tracing")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocIsTracing();

    /// <summary><c>phn_tracemalloc_get_traced_memory</c>: current and peak traced size; (0, 0) when not tracing. Either may be null.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_get_traced_memory")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocGetTracedMemory(nuint* current, nuint* peak);

    /// <summary><c>phn_tracemalloc_reset_peak</c>: set the peak to the current size.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_reset_peak")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocResetPeak();

    /// <summary><c>phn_tracemalloc_clear_traces</c>: forget every trace; current and peak become 0.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_clear_traces")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocClearTraces();

    /// <summary><c>phn_tracemalloc_get_traceback_limit</c>: the limit of the current or last start (1 before any).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_get_traceback_limit")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocGetTracebackLimit();

    /// <summary><c>phn_tracemalloc_get_tracemalloc_memory</c>: bytes used by the tracer's own tables.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_get_tracemalloc_memory")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nuint TracemallocGetTracemallocMemory();

    /// <summary><c>phn_tracemalloc_track</c> (<c>PyTraceMalloc_Track</c>): 0, -1 if the trace could not be stored, -2 when not tracing (not a status).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_track")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocTrack(uint domain, nuint ptr, nuint size);

    /// <summary><c>phn_tracemalloc_untrack</c> (<c>PyTraceMalloc_Untrack</c>): 0 (also when unknown), -2 when not tracing (not a status).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_untrack")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocUntrack(uint domain, nuint ptr);

    /// <summary><c>phn_tracemalloc_set_frame_provider</c>: <c>int32_t provider(void* ctx, phn_frame* frames, int32_t max, int32_t* total)</c>; null restores native return addresses.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_set_frame_provider")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocSetFrameProvider(delegate* unmanaged[Cdecl]<void*, PhnFrame*, int, int*, int> provider, void* ctx);

    /// <summary><c>phn_tracemalloc_take_snapshot</c>: copy the traces; <see cref="PHN_ESTATE"/> when not tracing. Free with <see cref="SnapshotFree"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_take_snapshot")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocTakeSnapshot(PhnSnapshot** @out);

    /// <summary><c>phn_snapshot_free</c>: release a snapshot (null: nothing).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void SnapshotFree(PhnSnapshot* snapshot);

    /// <summary><c>phn_snapshot_trace_count</c>: number of traces (negative status for a bad handle).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_trace_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long SnapshotTraceCount(PhnSnapshot* snapshot);

    /// <summary><c>phn_snapshot_traceback_limit</c>: the traceback limit the snapshot was taken with.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_traceback_limit")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotTracebackLimit(PhnSnapshot* snapshot);

    /// <summary><c>phn_snapshot_get_trace</c>: the index-th trace, valid while the snapshot lives.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_get_trace")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotGetTrace(PhnSnapshot* snapshot, long index, PhnTrace* @out);

    /// <summary><c>phn_tracemalloc_get_traceback</c> (<c>_PyTraceMalloc_GetTraceback</c>): the trace of the block at <paramref name="ptr"/> in a trace domain, as a snapshot of it alone (no trace: untraced, or not tracing). Free with <see cref="SnapshotFree"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_get_traceback")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocGetTraceback(uint domain, nuint ptr, PhnSnapshot** @out);

    /// <summary><c>phn_tracemalloc_get_object_traceback</c> (<c>tracemalloc.get_object_traceback</c>): the trace of an object's block, as a snapshot of it alone. Free with <see cref="SnapshotFree"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_tracemalloc_get_object_traceback")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TracemallocGetObjectTraceback(PhnObject* op, PhnSnapshot** @out);

    /// <summary><c>PHN_FILTER_ANY_LINE</c>: <see cref="PhnFilter.Lineno"/> matching every line.</summary>
    public const int PHN_FILTER_ANY_LINE = -1;
    /// <summary><c>PHN_FILTER_ANY_DOMAIN</c>: <see cref="PhnFilter.Domain"/> matching every domain.</summary>
    public const int PHN_FILTER_ANY_DOMAIN = -1;

    /// <summary><c>phn_snapshot_filter_traces</c>: a new snapshot with the traces that pass the filters (count 0: a copy).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_filter_traces")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotFilterTraces(PhnSnapshot* snapshot, PhnFilter* filters, int count, PhnSnapshot** @out);

    /// <summary><c>phn_snapshot_dump</c>: write a snapshot to a file (UTF-8 path).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_dump")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotDump(PhnSnapshot* snapshot, byte* path);

    /// <summary><c>phn_snapshot_load</c>: read a snapshot written by <see cref="SnapshotDump"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_load")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotLoad(byte* path, PhnSnapshot** @out);

    /// <summary><c>PHN_KEY_FILENAME</c>: group by the most recent frame's file (lineno reported as 0).</summary>
    public const int PHN_KEY_FILENAME = 0;
    /// <summary><c>PHN_KEY_LINENO</c>: group by the most recent frame.</summary>
    public const int PHN_KEY_LINENO = 1;
    /// <summary><c>PHN_KEY_TRACEBACK</c>: group by the whole traceback.</summary>
    public const int PHN_KEY_TRACEBACK = 2;

    /// <summary><c>phn_snapshot_statistics</c> (<c>Snapshot.statistics</c>): sorted by (size, count, traceback) descending.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_statistics")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotStatistics(PhnSnapshot* snapshot, int keyType, int cumulative, PhnStatistics** @out);

    /// <summary><c>phn_snapshot_compare_to</c> (<c>Snapshot.compare_to</c>): differences against an older snapshot.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_snapshot_compare_to")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SnapshotCompareTo(PhnSnapshot* snapshot, PhnSnapshot* old, int keyType, int cumulative, PhnStatistics** @out);

    /// <summary><c>phn_statistics_count</c>: number of statistics (negative status for a bad handle).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_statistics_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long StatisticsCount(PhnStatistics* statistics);

    /// <summary><c>phn_statistics_get</c>: the index-th statistic, valid while the list lives.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_statistics_get")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int StatisticsGet(PhnStatistics* statistics, long index, PhnStatistic* @out);

    /// <summary><c>phn_statistics_free</c>: release a statistics list (null: nothing).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_statistics_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void StatisticsFree(PhnStatistics* statistics);

    // ---------------------------------------------------------------- phn_stats.h

    /// <summary><c>PHN_ALIGNMENT</c>: alignment of every block.</summary>
    public const int PHN_ALIGNMENT = 16;
    /// <summary><c>PHN_SMALL_REQUEST_THRESHOLD</c>: largest request pymalloc serves.</summary>
    public const int PHN_SMALL_REQUEST_THRESHOLD = 512;
    /// <summary><c>PHN_NB_SMALL_SIZE_CLASSES</c>.</summary>
    public const int PHN_NB_SMALL_SIZE_CLASSES = 32;
    /// <summary><c>PHN_POOL_SIZE</c>.</summary>
    public const int PHN_POOL_SIZE = 16384;
    /// <summary><c>PHN_POOL_OVERHEAD</c>: pool header size.</summary>
    public const int PHN_POOL_OVERHEAD = 48;
    /// <summary><c>PHN_ARENA_SIZE</c>.</summary>
    public const int PHN_ARENA_SIZE = 1048576;
    /// <summary><c>PHN_MAX_POOLS_IN_ARENA</c>.</summary>
    public const int PHN_MAX_POOLS_IN_ARENA = 64;
    /// <summary><c>PHN_STATS_VERSION</c>: the <see cref="PhnStats"/> layout these bindings mirror.</summary>
    public const int PHN_STATS_VERSION = 1;

    /// <summary><c>phn_get_stats</c>: set <see cref="PhnStats.StructSize"/> = <c>sizeof(PhnStats)</c> first.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_get_stats")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GetStats(PhnStats* stats);

    /// <summary><c>phn_format_malloc_stats</c>: snprintf-like; returns the length the whole text needs, or a negative status.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_format_malloc_stats")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long FormatMallocStats(byte* buf, nuint cap);

    /// <summary><c>phn_validate</c>: checks every pymalloc invariant; <see cref="PHN_ECORRUPT"/> if one is broken.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_validate")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int Validate();

    // ---------------------------------------------------------------- phn_object.h

    /// <summary><c>PHN_TPFLAGS_HAVE_GC</c>: instances have a GC header and are tracked.</summary>
    public const uint PHN_TPFLAGS_HAVE_GC = 1u << 0;
    /// <summary><c>PHN_TPFLAGS_WEAKREFABLE</c>: instances can be weakly referenced.</summary>
    public const uint PHN_TPFLAGS_WEAKREFABLE = 1u << 1;
    /// <summary><c>PHN_TPFLAGS_ITEMS_ARE_REFS</c>: every item of a var object is a <c>phn_object*</c>.</summary>
    public const uint PHN_TPFLAGS_ITEMS_ARE_REFS = 1u << 2;
    /// <summary><c>PHN_TPFLAGS_UNTRACK_ATOMIC</c>: the collector may untrack an instance whose references are all untrackable (immutable containers only).</summary>
    public const uint PHN_TPFLAGS_UNTRACK_ATOMIC = 1u << 3;

    /// <summary><c>phn_type_new</c>: a type from a <see cref="PhnTypeSpec"/> (set <see cref="PhnTypeSpec.StructSize"/>); null with <see cref="PHN_EINVAL"/> for a bad spec.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_type_new")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnType* TypeNew(PhnTypeSpec* spec);

    /// <summary><c>phn_type_name</c>: the type's name (owned by the type), null for null.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_type_name")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* TypeName(PhnType* type);

    /// <summary><c>phn_type_flags</c>: the type's <c>PHN_TPFLAGS_*</c>, 0 for null.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_type_flags")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial uint TypeFlags(PhnType* type);

    /// <summary><c>phn_object_new</c> (<c>tp_alloc</c>): zero-filled, count 1, tracked for a GC type (may run an automatic collection).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_new")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* ObjectNew(PhnType* type);

    /// <summary><c>phn_object_new_var</c>: as <see cref="ObjectNew"/> with n items (<c>ob_size = n</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_new_var")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* ObjectNewVar(PhnType* type, long n);

    /// <summary><c>phn_gc_new</c> (<c>PyObject_GC_New</c>): a GC object, not tracked.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_new")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* GcNew(PhnType* type);

    /// <summary><c>phn_gc_new_var</c> (<c>PyObject_GC_NewVar</c>): a GC var object with n items, not tracked.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_new_var")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* GcNewVar(PhnType* type, long n);

    /// <summary><c>phn_gc_resize</c> (<c>PyObject_GC_Resize</c>): resize an untracked var object; the possibly moved object, or null (the original still valid).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_resize")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* GcResize(PhnObject* op, long n);

    /// <summary><c>phn_object_free</c> (<c>tp_free</c>): release the memory, at the end of a dealloc callback.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_free")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectFree(PhnObject* op);

    /// <summary><c>PHN_IMMORTAL_REFCNT</c>: the count of an immortal object (PEP 683, 3.14's 64-bit encoding).</summary>
    public const long PHN_IMMORTAL_REFCNT = 3L << 30;

    /// <summary><c>phn_dealloc</c> (<c>_Py_Dealloc</c>): deallocate an object whose count has just reached 0.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_dealloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void Dealloc(PhnObject* op);

    /// <summary><c>phn_negative_refcount</c>: the fatal error of a count driven below zero.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_negative_refcount")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void NegativeRefcount(byte* file, int line, PhnObject* op);

    /// <summary><c>phn_incref</c> (<c>Py_IncRef</c>): null-tolerant function form of <c>PHN_INCREF</c>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_incref")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void Incref(PhnObject* op);

    /// <summary><c>phn_decref</c> (<c>Py_DecRef</c>): null-tolerant function form of <c>PHN_DECREF</c>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_decref")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void Decref(PhnObject* op);

    /// <summary><c>phn_refcnt</c>: the count (<see cref="PHN_IMMORTAL_REFCNT"/> for immortals), 0 for null.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_refcnt")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nint Refcnt(PhnObject* op);

    /// <summary><c>phn_set_refcnt</c> (<c>Py_SET_REFCNT</c>): n &gt;= 0; no effect on immortals; 0 does not deallocate.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_set_refcnt")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int SetRefcnt(PhnObject* op, nint n);

    /// <summary><c>phn_object_set_immortal</c>: make an object immortal.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_set_immortal")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectSetImmortal(PhnObject* op);

    /// <summary><c>phn_object_call_finalizer</c> (<c>PyObject_CallFinalizer</c>): run the type's finalize once.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_call_finalizer")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectCallFinalizer(PhnObject* op);

    /// <summary><c>phn_object_call_finalizer_from_dealloc</c> (<c>PyObject_CallFinalizerFromDealloc</c>): 0 to go on destroying, -1 if the finalizer resurrected the object (not a status).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_call_finalizer_from_dealloc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectCallFinalizerFromDealloc(PhnObject* op);

    /// <summary><c>PHN_TRASHCAN_DEPTH</c>: nested deallocations before the trashcan defers them.</summary>
    public const int PHN_TRASHCAN_DEPTH = 50;

    // The function-like macros and static inline functions of phn_object.h are header-only.
    // These managed equivalents of the trivial ones read the object header directly; the
    // others go through the exports (Incref, Decref).

    /// <summary><c>PHN_TYPE(op)</c>.</summary>
    public static PhnType* TypeOf(PhnObject* op) => op->ObType;

    /// <summary><c>PHN_IS_IMMORTAL(op)</c>: the low 32 bits of the count, read as a signed number, are negative.</summary>
    public static bool IsImmortal(PhnObject* op) => (int)op->ObRefcnt < 0;

    /// <summary><c>phn_new_ref</c> / <c>Py_NewRef</c> through <see cref="Incref"/>: a new reference to op, returned.</summary>
    public static PhnObject* NewRef(PhnObject* op)
    {
        Incref(op);
        return op;
    }

    /// <summary><c>PHN_CLEAR(field)</c> through <see cref="Decref"/>: the field is set to null before the old value is released.</summary>
    public static void Clear(ref PhnObject* field)
    {
        PhnObject* old = field;
        if (old != null)
        {
            field = null;
            Decref(old);
        }
    }

    // ---------------------------------------------------------------- phn_gc.h

    /// <summary><c>PHN_GC_NUM_GENERATIONS</c>.</summary>
    public const int PHN_GC_NUM_GENERATIONS = 3;
    /// <summary><c>PHN_GC_DEBUG_STATS</c> (<c>gc.DEBUG_STATS</c>).</summary>
    public const int PHN_GC_DEBUG_STATS = 1;
    /// <summary><c>PHN_GC_DEBUG_COLLECTABLE</c>.</summary>
    public const int PHN_GC_DEBUG_COLLECTABLE = 2;
    /// <summary><c>PHN_GC_DEBUG_UNCOLLECTABLE</c>.</summary>
    public const int PHN_GC_DEBUG_UNCOLLECTABLE = 4;
    /// <summary><c>PHN_GC_DEBUG_SAVEALL</c>.</summary>
    public const int PHN_GC_DEBUG_SAVEALL = 32;
    /// <summary><c>PHN_GC_DEBUG_LEAK</c>: COLLECTABLE | UNCOLLECTABLE | SAVEALL.</summary>
    public const int PHN_GC_DEBUG_LEAK = PHN_GC_DEBUG_COLLECTABLE | PHN_GC_DEBUG_UNCOLLECTABLE | PHN_GC_DEBUG_SAVEALL;

    /// <summary><c>phn_gc_collect</c> (<c>gc.collect</c>): collect generations 0..generation; the number of unreachable objects found, 0 when a collection is running, or a negative status.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_collect")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcCollect(int generation);

    /// <summary><c>phn_gc_collect_if_enabled</c> (<c>PyGC_Collect</c>): a full collection, 0 at once when disabled or running.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_collect_if_enabled")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcCollectIfEnabled();

    /// <summary><c>phn_gc_enable</c> (<c>PyGC_Enable</c>): the previous state (1 enabled, 0 disabled).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_enable")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcEnable();

    /// <summary><c>phn_gc_disable</c> (<c>PyGC_Disable</c>): the previous state (1 enabled, 0 disabled).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_disable")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcDisable();

    /// <summary><c>phn_gc_is_enabled</c>: 1 if automatic collection is enabled, else 0.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_is_enabled")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcIsEnabled();

    /// <summary><c>phn_gc_get_count</c> (<c>gc.get_count</c>): three counts into count[0..3).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGetCount(int* count);

    /// <summary><c>phn_gc_set_threshold</c> (<c>gc.set_threshold</c>); threshold0 = 0 disables automatic collection.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_set_threshold")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcSetThreshold(int threshold0, int threshold1, int threshold2);

    /// <summary><c>phn_gc_get_threshold</c> (<c>gc.get_threshold</c>): three thresholds into threshold[0..3).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_threshold")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGetThreshold(int* threshold);

    /// <summary><c>phn_gc_get_stats</c> (<c>gc.get_stats()[generation]</c>): set <see cref="PhnGcStats.StructSize"/> first.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_stats")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGetStats(int generation, PhnGcStats* stats);

    /// <summary><c>phn_gc_freeze</c> (<c>gc.freeze</c>): every tracked object into the permanent generation.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_freeze")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcFreeze();

    /// <summary><c>phn_gc_unfreeze</c> (<c>gc.unfreeze</c>): the permanent generation back into the oldest one.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_unfreeze")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcUnfreeze();

    /// <summary><c>phn_gc_get_freeze_count</c> (<c>gc.get_freeze_count</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_freeze_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcGetFreezeCount();

    /// <summary><c>phn_gc_set_debug</c> (<c>gc.set_debug</c>): <c>PHN_GC_DEBUG_*</c> flags (unknown bits kept).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_set_debug")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcSetDebug(int flags);

    /// <summary><c>phn_gc_get_debug</c> (<c>gc.get_debug</c>): the flags word (not a status).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_debug")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGetDebug();

    /// <summary><c>phn_gc_set_debug_output</c>: <c>void output(void* ctx, const char* line)</c> receives the debug output a line at a time; null restores stderr.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_set_debug_output")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcSetDebugOutput(delegate* unmanaged[Cdecl]<void*, byte*, void> output, void* ctx);

    /// <summary><c>PHN_GC_PHASE_START</c>: a gc callback at the start of a collection.</summary>
    public const int PHN_GC_PHASE_START = 0;
    /// <summary><c>PHN_GC_PHASE_STOP</c>: a gc callback at the end of a collection.</summary>
    public const int PHN_GC_PHASE_STOP = 1;

    /// <summary><c>phn_gc_add_callback</c> (<c>gc.callbacks.append</c>): <c>int32_t callback(void* ctx, int32_t phase, const phn_gc_info* info)</c>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_add_callback")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcAddCallback(delegate* unmanaged[Cdecl]<void*, int, PhnGcInfo*, int> callback, void* ctx);

    /// <summary><c>phn_gc_remove_callback</c>: remove the first registration of (callback, ctx); <see cref="PHN_EINVAL"/> if none.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_remove_callback")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcRemoveCallback(delegate* unmanaged[Cdecl]<void*, int, PhnGcInfo*, int> callback, void* ctx);

    /// <summary><c>phn_gc_garbage_count</c>: <c>len(gc.garbage)</c>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_garbage_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcGarbageCount();

    /// <summary><c>phn_gc_garbage_get</c>: <c>gc.garbage[index]</c> (borrowed) into *out.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_garbage_get")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGarbageGet(long index, PhnObject** @out);

    /// <summary><c>phn_gc_garbage_clear</c>: <c>del gc.garbage[:]</c>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_garbage_clear")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcGarbageClear();

    /// <summary><c>phn_gc_get_objects</c> (<c>gc.get_objects</c>): up to capacity borrowed pointers; returns how many there are.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_objects")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcGetObjects(int generation, PhnObject** @out, long capacity);

    /// <summary><c>phn_gc_get_referrers</c> (<c>gc.get_referrers</c>): same output convention as <see cref="GcGetObjects"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_referrers")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcGetReferrers(PhnObject** objs, long nobjs, PhnObject** @out, long capacity);

    /// <summary><c>phn_gc_get_referents</c> (<c>gc.get_referents</c>): same output convention as <see cref="GcGetObjects"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_get_referents")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcGetReferents(PhnObject** objs, long nobjs, PhnObject** @out, long capacity);

    /// <summary><c>phn_gc_track</c> (<c>PyObject_GC_Track</c>): may run an automatic collection.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_track")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcTrack(PhnObject* op);

    /// <summary><c>phn_gc_untrack</c> (<c>PyObject_GC_UnTrack</c>): no-op if not tracked.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_untrack")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcUntrack(PhnObject* op);

    /// <summary><c>phn_gc_is_tracked</c> (<c>gc.is_tracked</c>): 1 / 0, negative for null.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_is_tracked")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcIsTracked(PhnObject* op);

    /// <summary><c>phn_gc_is_finalized</c> (<c>gc.is_finalized</c>): 1 once the finalizer of a GC object has run.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_is_finalized")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcIsFinalized(PhnObject* op);

    /// <summary><c>phn_object_is_gc</c> (<c>PyObject_IS_GC</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_is_gc")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectIsGc(PhnObject* op);

    /// <summary><c>phn_gc_visit_objects</c> (<c>PyUnstable_GC_VisitObjects</c>): <c>int32_t visit(phn_object* op, void* arg)</c>, 0 to stop.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_visit_objects")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GcVisitObjects(delegate* unmanaged[Cdecl]<PhnObject*, void*, int> visit, void* arg);

    /// <summary><c>phn_gc_shutdown</c>: a last full collection and the uncollectable report; returns the garbage count.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gc_shutdown")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long GcShutdown();

    // ---------------------------------------------------------------- phn_weakref.h

    /// <summary><c>phn_weakref_new</c>: a new reference to a weak reference; <c>int32_t callback(void* ctx, phn_object* weakref)</c> or null (the shared callback-less one).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_weakref_new")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial PhnObject* WeakrefNew(PhnObject* referent, delegate* unmanaged[Cdecl]<void*, PhnObject*, int> callback, void* ctx);

    /// <summary><c>phn_weakref_get_ref</c> (<c>PyWeakref_GetRef</c>): 1 and a new reference while alive, 0 and null once dead.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_weakref_get_ref")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int WeakrefGetRef(PhnObject* @ref, PhnObject** @out);

    /// <summary><c>phn_weakref_check</c>: 1 if op is a weak reference.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_weakref_check")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int WeakrefCheck(PhnObject* op);

    /// <summary><c>phn_weakref_count</c> (<c>weakref.getweakrefcount</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_weakref_count")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial long WeakrefCount(PhnObject* op);

    /// <summary><c>phn_object_clear_weakrefs</c> (<c>PyObject_ClearWeakRefs</c>), for dealloc callbacks.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_clear_weakrefs")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectClearWeakrefs(PhnObject* op);

    /// <summary><c>phn_object_clear_weakrefs_no_callbacks</c> (<c>PyUnstable_Object_ClearWeakRefsNoCallbacks</c>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_object_clear_weakrefs_no_callbacks")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int ObjectClearWeakrefsNoCallbacks(PhnObject* op);

    // ---------------------------------------------------------------- phn_gil.h

    /// <summary><c>PHN_GIL_LOCKED</c>: the thread held the lock already.</summary>
    public const int PHN_GIL_LOCKED = 0;
    /// <summary><c>PHN_GIL_UNLOCKED</c>: this <see cref="GilEnsure"/> took the lock.</summary>
    public const int PHN_GIL_UNLOCKED = 1;

    /// <summary><c>phn_gil_ensure</c> (<c>PyGILState_Ensure</c>): <see cref="PHN_GIL_LOCKED"/> or <see cref="PHN_GIL_UNLOCKED"/>, for <see cref="GilRelease"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gil_ensure")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GilEnsure();

    /// <summary><c>phn_gil_release</c> (<c>PyGILState_Release</c>): undo the matching <see cref="GilEnsure"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gil_release")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GilRelease(int state);

    /// <summary><c>phn_gil_held</c> (<c>PyGILState_Check</c>): 1 if the calling thread holds the lock.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_gil_held")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int GilHeld();

    // ---------------------------------------------------------------- phn_testing.h

    /// <summary><c>PHN_FAULT_NONE</c>.</summary>
    public const int PHN_FAULT_NONE = 0;
    /// <summary><c>PHN_FAULT_THROW_IN_NEW_ARENA</c>: a managed exception inside pymalloc's new_arena.</summary>
    public const int PHN_FAULT_THROW_IN_NEW_ARENA = 1;
    /// <summary><c>PHN_FAULT_THROW_IN_STATS</c>: a managed exception inside phn_get_stats.</summary>
    public const int PHN_FAULT_THROW_IN_STATS = 2;

    /// <summary><c>phn_testing_inject_fault</c>: not part of the stable API.</summary>
    [LibraryImport(LibraryName, EntryPoint = "phn_testing_inject_fault")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int TestingInjectFault(int fault, int countdown);
}

/// <summary><c>phn_allocator</c> (CPython's <c>PyMemAllocatorEx</c>): 40 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnAllocator
{
    /// <summary><c>void* ctx</c>: passed as the first argument of every function.</summary>
    public void* Ctx;
    /// <summary><c>void* malloc(void* ctx, size_t size)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, nuint, void*> Malloc;
    /// <summary><c>void* calloc(void* ctx, size_t nelem, size_t elsize)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, nuint, nuint, void*> Calloc;
    /// <summary><c>void* realloc(void* ctx, void* ptr, size_t new_size)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, void*, nuint, void*> Realloc;
    /// <summary><c>void free(void* ctx, void* ptr)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, void*, void> Free;
}

/// <summary><c>phn_arena_allocator</c> (CPython's <c>PyObjectArenaAllocator</c>): 24 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnArenaAllocator
{
    /// <summary><c>void* ctx</c>.</summary>
    public void* Ctx;
    /// <summary><c>void* alloc(void* ctx, size_t size)</c>, called with <c>PHN_ARENA_SIZE</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, nuint, void*> Alloc;
    /// <summary><c>void free(void* ctx, void* ptr, size_t size)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, void*, nuint, void> Free;
}

/// <summary><c>phn_size_class_stats</c>: one pymalloc size class (block size = (index + 1) * 16).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PhnSizeClassStats
{
    /// <summary><c>block_size</c>.</summary>
    public uint BlockSize;
    /// <summary><c>blocks_per_pool</c>: (PHN_POOL_SIZE - PHN_POOL_OVERHEAD) / block_size.</summary>
    public uint BlocksPerPool;
    /// <summary><c>pools</c>: pools of this class with a block in use.</summary>
    public ulong Pools;
    /// <summary><c>full_pools</c>.</summary>
    public ulong FullPools;
    /// <summary><c>blocks_in_use</c>.</summary>
    public ulong BlocksInUse;
    /// <summary><c>blocks_available</c>: free blocks in those pools.</summary>
    public ulong BlocksAvailable;
}

/// <summary>The <c>size_classes[PHN_NB_SMALL_SIZE_CLASSES]</c> array of <see cref="PhnStats"/>.</summary>
[InlineArray(Native.PHN_NB_SMALL_SIZE_CLASSES)]
public struct PhnSizeClassStatsArray
{
    private PhnSizeClassStats _element0;
}

/// <summary><c>phn_stats</c>: size-prefixed; set <see cref="StructSize"/> before <see cref="Native.GetStats"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PhnStats
{
    /// <summary><c>struct_size</c>: <c>sizeof(PhnStats)</c>, set by the caller.</summary>
    public uint StructSize;
    /// <summary><c>version</c>: <c>PHN_STATS_VERSION</c> of the library.</summary>
    public uint Version;
    /// <summary><c>arenas_allocated_total</c>: arenas ever allocated.</summary>
    public ulong ArenasAllocatedTotal;
    /// <summary><c>arenas_reclaimed</c>: arenas returned to the arena allocator.</summary>
    public ulong ArenasReclaimed;
    /// <summary><c>arenas_highwater</c>: most arenas allocated at once.</summary>
    public ulong ArenasHighwater;
    /// <summary><c>arenas_allocated_current</c>.</summary>
    public ulong ArenasAllocatedCurrent;
    /// <summary><c>arena_size</c>.</summary>
    public ulong ArenaSize;
    /// <summary><c>pool_size</c>.</summary>
    public ulong PoolSize;
    /// <summary><c>unused_pools</c>: empty and never-carved pools of live arenas.</summary>
    public ulong UnusedPools;
    /// <summary><c>bytes_in_allocated_blocks</c>.</summary>
    public ulong BytesInAllocatedBlocks;
    /// <summary><c>bytes_in_available_blocks</c>.</summary>
    public ulong BytesInAvailableBlocks;
    /// <summary><c>bytes_in_unused_pools</c>.</summary>
    public ulong BytesInUnusedPools;
    /// <summary><c>bytes_lost_to_pool_headers</c>.</summary>
    public ulong BytesLostToPoolHeaders;
    /// <summary><c>bytes_lost_to_quantization</c>.</summary>
    public ulong BytesLostToQuantization;
    /// <summary><c>bytes_lost_to_arena_alignment</c>.</summary>
    public ulong BytesLostToArenaAlignment;
    /// <summary><c>allocated_blocks</c>: live MEM/OBJ blocks (<c>sys.getallocatedblocks()</c>).</summary>
    public ulong AllocatedBlocks;
    /// <summary><c>raw_allocated_blocks</c>: of those, the ones pymalloc sent to RAW.</summary>
    public ulong RawAllocatedBlocks;
    /// <summary><c>arena_map_mid_nodes</c>.</summary>
    public ulong ArenaMapMidNodes;
    /// <summary><c>arena_map_bot_nodes</c>.</summary>
    public ulong ArenaMapBotNodes;
    /// <summary><c>bytes_lost_to_arena_map_root</c>.</summary>
    public ulong BytesLostToArenaMapRoot;
    /// <summary><c>bytes_lost_to_arena_map_mid</c>.</summary>
    public ulong BytesLostToArenaMapMid;
    /// <summary><c>bytes_lost_to_arena_map_bot</c>.</summary>
    public ulong BytesLostToArenaMapBot;
    /// <summary><c>num_size_classes</c>: <c>PHN_NB_SMALL_SIZE_CLASSES</c>.</summary>
    public uint NumSizeClasses;
    /// <summary><c>reserved</c>.</summary>
    public uint Reserved;
    /// <summary><c>size_classes</c>.</summary>
    public PhnSizeClassStatsArray SizeClasses;
}

/// <summary><c>phn_frame</c>: a file name (NUL-terminated UTF-8, owned by the library or the snapshot) and a line; 16 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnFrame
{
    /// <summary><c>const char* filename</c>.</summary>
    public byte* Filename;
    /// <summary><c>lineno</c>.</summary>
    public uint Lineno;
    /// <summary><c>reserved</c>.</summary>
    public uint Reserved;
}

/// <summary><c>phn_snapshot</c>: opaque; only ever used through a pointer.</summary>
public struct PhnSnapshot
{
}

/// <summary><c>phn_statistics</c>: opaque; only ever used through a pointer.</summary>
public struct PhnStatistics
{
}

/// <summary><c>phn_trace</c>: one trace of a snapshot; 32 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnTrace
{
    /// <summary><c>domain</c>: the trace domain.</summary>
    public uint Domain;
    /// <summary><c>nframe</c>: number of <see cref="Frames"/>.</summary>
    public uint NFrame;
    /// <summary><c>total_nframe</c>: the depth when it was recorded (saturates at 65535).</summary>
    public uint TotalNFrame;
    /// <summary><c>reserved</c>.</summary>
    public uint Reserved;
    /// <summary><c>size</c>: the requested size.</summary>
    public ulong Size;
    /// <summary><c>const phn_frame* frames</c>: most recent first, owned by the snapshot.</summary>
    public PhnFrame* Frames;
}

/// <summary><c>phn_filter</c> (<c>tracemalloc.Filter</c> / <c>DomainFilter</c>); 32 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnFilter
{
    /// <summary><c>inclusive</c>: 1 keeps matching traces, 0 drops them.</summary>
    public int Inclusive;
    /// <summary><c>all_frames</c>: 1 any frame may match, 0 the most recent one.</summary>
    public int AllFrames;
    /// <summary><c>const char* filename_pattern</c>: fnmatch pattern; null makes a domain filter.</summary>
    public byte* FilenamePattern;
    /// <summary><c>lineno</c>: a line, or <see cref="Native.PHN_FILTER_ANY_LINE"/>.</summary>
    public int Lineno;
    /// <summary><c>domain</c>: a trace domain, or <see cref="Native.PHN_FILTER_ANY_DOMAIN"/>.</summary>
    public long Domain;
}

/// <summary><c>phn_statistic</c>: one statistic or one difference; 48 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnStatistic
{
    /// <summary><c>const phn_frame* frames</c>: the group's key, owned by the list.</summary>
    public PhnFrame* Frames;
    /// <summary><c>nframe</c>.</summary>
    public uint NFrame;
    /// <summary><c>total_nframe</c>.</summary>
    public uint TotalNFrame;
    /// <summary><c>size</c>.</summary>
    public ulong Size;
    /// <summary><c>count</c>.</summary>
    public ulong Count;
    /// <summary><c>size_diff</c> (compare_to only).</summary>
    public long SizeDiff;
    /// <summary><c>count_diff</c> (compare_to only).</summary>
    public long CountDiff;
}

/// <summary><c>phn_type</c>: opaque; only ever used through a pointer (types live until the process ends).</summary>
public struct PhnType
{
}

/// <summary><c>phn_object</c> (<c>PyObject</c>): the header every object starts with; 16 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnObject
{
    /// <summary><c>intptr_t ob_refcnt</c>: the reference count (not atomic: touch with the GIL held).</summary>
    public nint ObRefcnt;
    /// <summary><c>phn_type* ob_type</c>.</summary>
    public PhnType* ObType;
}

/// <summary><c>phn_varobject</c> (<c>PyVarObject</c>): the header of a variable-size object; 24 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PhnVarObject
{
    /// <summary><c>phn_object ob_base</c>.</summary>
    public PhnObject ObBase;
    /// <summary><c>intptr_t ob_size</c>: number of items.</summary>
    public nint ObSize;
}

/// <summary><c>phn_type_spec</c>: what <see cref="Native.TypeNew"/> makes a type of; 88 bytes on 64-bit.</summary>
/// <remarks>
/// Callbacks are <c>[UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]</c> static
/// methods; a null one falls back to the reference layout (<see cref="RefOffsets"/>).
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PhnTypeSpec
{
    /// <summary><c>struct_size</c>: <c>sizeof(PhnTypeSpec)</c>.</summary>
    public uint StructSize;
    /// <summary><c>flags</c>: <c>PHN_TPFLAGS_*</c>.</summary>
    public uint Flags;
    /// <summary><c>const char* name</c>: copied.</summary>
    public byte* Name;
    /// <summary><c>basicsize</c>: at least <c>sizeof(PhnObject)</c> (<c>sizeof(PhnVarObject)</c> for var types), a multiple of 8.</summary>
    public long Basicsize;
    /// <summary><c>itemsize</c>: 0 for fixed-size objects.</summary>
    public long Itemsize;
    /// <summary><c>const uint32_t* ref_offsets</c>: offsets of the <c>phn_object*</c> fields.</summary>
    public uint* RefOffsets;
    /// <summary><c>ref_count</c>: entries of <see cref="RefOffsets"/>.</summary>
    public uint RefCount;
    /// <summary><c>reserved</c>: 0.</summary>
    public uint Reserved;
    /// <summary><c>phn_traverseproc traverse</c>: <c>int32_t traverse(phn_object* self, phn_visitproc visit, void* arg)</c>; null: the layout.</summary>
    public delegate* unmanaged[Cdecl]<PhnObject*, delegate* unmanaged[Cdecl]<PhnObject*, void*, int>, void*, int> Traverse;
    /// <summary><c>phn_inquiry clear</c>: <c>int32_t clear(phn_object* self)</c>; null: the layout's references.</summary>
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Clear;
    /// <summary><c>phn_finalizer finalize</c>: the PEP 442 finalizer, or null.</summary>
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Finalize;
    /// <summary><c>phn_finalizer del</c>: the legacy finalizer, or null.</summary>
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Del;
    /// <summary><c>phn_destructor dealloc</c>: <c>void dealloc(phn_object* self)</c>; null: the default dealloc.</summary>
    public delegate* unmanaged[Cdecl]<PhnObject*, void> Dealloc;
}

/// <summary><c>phn_gc_stats</c> (<c>gc.get_stats()[generation]</c>): size-prefixed; 48 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PhnGcStats
{
    /// <summary><c>struct_size</c>: <c>sizeof(PhnGcStats)</c>, set by the caller.</summary>
    public uint StructSize;
    /// <summary><c>reserved</c>.</summary>
    public uint Reserved;
    /// <summary><c>collections</c>.</summary>
    public long Collections;
    /// <summary><c>collected</c>.</summary>
    public long Collected;
    /// <summary><c>uncollectable</c>.</summary>
    public long Uncollectable;
    /// <summary><c>candidates</c>: objects examined (3.15).</summary>
    public long Candidates;
    /// <summary><c>duration</c>: seconds (3.15).</summary>
    public double Duration;
}

/// <summary><c>phn_gc_info</c>: what a gc callback receives (the <c>info</c> dict); 40 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PhnGcInfo
{
    /// <summary><c>struct_size</c>: <c>sizeof(phn_gc_info)</c> of the library.</summary>
    public uint StructSize;
    /// <summary><c>generation</c>: the oldest generation collected.</summary>
    public int Generation;
    /// <summary><c>collected</c>: 0 at start.</summary>
    public long Collected;
    /// <summary><c>uncollectable</c>: 0 at start.</summary>
    public long Uncollectable;
    /// <summary><c>candidates</c>: objects examined; 0 at start.</summary>
    public long Candidates;
    /// <summary><c>duration</c>: seconds; 0 at start.</summary>
    public double Duration;
}
