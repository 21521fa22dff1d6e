// Native.cs - P/Invoke bindings for include/pyheapnative.h.
//
// Mirrors the headers in the order the umbrella header includes them: phn_config.h,
// phn_runtime.h, phn_mem.h, phn_alloc.h, phn_debug.h, phn_trace.h, phn_stats.h,
// phn_testing.h. Every signature is
// blittable (size_t -> nuint, int32_t -> int, int64_t -> long, uint32_t -> uint, pointers
// as pointers, structs by pointer) and runtime marshalling is disabled for the assembly.
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
