// C-callable functions without an exported name: the built-in allocators' tables (handed
// out by phn_get_allocator / phn_get_arena_allocator, so that a hook can forward to them)
// and the atexit handler of PYHEAPNATIVE_MALLOCSTATS. The library itself calls the
// built-in backends directly, never through these.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Debug;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Tracing;

namespace PyHeapNative.Exports;

internal static unsafe class Callbacks
{
    // CPython's _PyMem_RawMalloc family: C malloc, 0 bytes served as 1.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* RawMalloc(void* ctx, nuint size) => RawDomain.BuiltinMalloc(size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* RawCalloc(void* ctx, nuint nelem, nuint elsize) => RawDomain.BuiltinCalloc(nelem, elsize);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* RawRealloc(void* ctx, void* ptr, nuint size) => RawDomain.BuiltinRealloc(ptr, size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void RawFree(void* ctx, void* ptr) => RawDomain.BuiltinFree(ptr);

    // CPython's _PyObject_Malloc family: pymalloc with the RAW fallback.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* PymallocMalloc(void* ctx, nuint size)
    {
        try { return Pymalloc.Malloc(size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "pymalloc malloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* PymallocCalloc(void* ctx, nuint nelem, nuint elsize)
    {
        try
        {
            // Called from C directly: the public wrapper's overflow check has not run.
            if (elsize != 0 && nelem > Core.Runtime.Status.MaxRequest / elsize)
                return RawDomain.OutOfMemory();
            return Pymalloc.Calloc(nelem, elsize);
        }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "pymalloc calloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* PymallocRealloc(void* ctx, void* ptr, nuint size)
    {
        try { return Pymalloc.Realloc(ptr, size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "pymalloc realloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void PymallocFree(void* ctx, void* ptr)
    {
        try { Pymalloc.Free(ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "pymalloc free"); }
    }

    // The debug hooks (CPython's _PyMem_DebugRawMalloc family); ctx is the wrapper's DebugApi.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* DebugMalloc(void* ctx, nuint size)
    {
        try { return DebugHooks.Malloc(ctx, size, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "debug malloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* DebugCalloc(void* ctx, nuint nelem, nuint elsize)
    {
        try { return DebugHooks.Calloc(ctx, nelem, elsize, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "debug calloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* DebugRealloc(void* ctx, void* ptr, nuint size)
    {
        try { return DebugHooks.Realloc(ctx, ptr, size, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "debug realloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void DebugFree(void* ctx, void* ptr)
    {
        try { DebugHooks.Free(ctx, ptr, Call.UnknownCaller); }
        catch (Exception e) { ExportGuard.Failed(e, "debug free"); }
    }

    // tracemalloc's wrappers (CPython's tracemalloc_alloc family); ctx is the wrapper's TracingApi.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* TracingMalloc(void* ctx, nuint size)
    {
        try { return Tracer.Malloc(ctx, size, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "tracemalloc malloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* TracingCalloc(void* ctx, nuint nelem, nuint elsize)
    {
        try { return Tracer.Calloc(ctx, nelem, elsize, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "tracemalloc calloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* TracingRealloc(void* ctx, void* ptr, nuint size)
    {
        try { return Tracer.Realloc(ctx, ptr, size, Call.UnknownCaller); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "tracemalloc realloc"); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void TracingFree(void* ctx, void* ptr)
    {
        try { Tracer.Free(ctx, ptr, Call.UnknownCaller); }
        catch (Exception e) { ExportGuard.Failed(e, "tracemalloc free"); }
    }

    // The default arena allocator: anonymous mmap / munmap.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void* ArenaAlloc(void* ctx, nuint size) => ArenaAllocator.BuiltinAlloc(size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ArenaFree(void* ctx, void* ptr, nuint size) => ArenaAllocator.BuiltinFree(ptr, size);

    // PYHEAPNATIVE_MALLOCSTATS: one more dump when the process exits.

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void PrintMallocStatsAtExit()
    {
        try { Startup.PrintMallocStats(); }
        catch (Exception e) { ExportGuard.Failed(e, "PYHEAPNATIVE_MALLOCSTATS at exit"); }
    }
}
