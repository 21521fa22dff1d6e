// Mirrors include/pyheapnative/phn_mem.h (same order). The C entry points phn_* are the
// shims of Native/phn_entry.c, which call these phnimpl_* methods with their caller's return
// address (recorded by tracemalloc). On Windows there is no shim: these are phn_* themselves
// and the caller is unknown. Each starts the library if needed and calls its domain's inlined
// fast path; an exception becomes NULL + ENOMEM.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static unsafe class MemExports
{
#if PHN_WINDOWS
    private const string Prefix = "phn_";   // no shim: the caller argument is not passed (see Known)
#else
    private const string Prefix = "phnimpl_";
#endif

    /// <summary>The C caller's address, as far as it is known.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
#if PHN_WINDOWS
    private static void* Known(void* caller) => Call.UnknownCaller;
#else
    private static void* Known(void* caller) => caller;
#endif

    [UnmanagedCallersOnly(EntryPoint = Prefix + "raw_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawMalloc(nuint size, void* caller)
    {
        try { Startup.Ensure(); return RawDomain.Malloc(size, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "raw_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawCalloc(nuint nelem, nuint elsize, void* caller)
    {
        try { Startup.Ensure(); return RawDomain.Calloc(nelem, elsize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "raw_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawRealloc(void* ptr, nuint newSize, void* caller)
    {
        try { Startup.Ensure(); return RawDomain.Realloc(ptr, newSize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "raw_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void RawFree(void* ptr, void* caller)
    {
        try { Startup.Ensure(); RawDomain.Free(ptr, Known(caller)); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_raw_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "mem_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemMalloc(nuint size, void* caller)
    {
        try { Startup.Ensure(); return Domains.Malloc(ref Domains.Mem, size, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "mem_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemCalloc(nuint nelem, nuint elsize, void* caller)
    {
        try { Startup.Ensure(); return Domains.Calloc(ref Domains.Mem, nelem, elsize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "mem_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemRealloc(void* ptr, nuint newSize, void* caller)
    {
        try { Startup.Ensure(); return Domains.Realloc(ref Domains.Mem, ptr, newSize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "mem_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void MemFree(void* ptr, void* caller)
    {
        try { Startup.Ensure(); Domains.Free(ref Domains.Mem, ptr, Known(caller)); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_mem_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjMalloc(nuint size, void* caller)
    {
        try { Startup.Ensure(); return Domains.Malloc(ref Domains.Obj, size, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjCalloc(nuint nelem, nuint elsize, void* caller)
    {
        try { Startup.Ensure(); return Domains.Calloc(ref Domains.Obj, nelem, elsize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjRealloc(void* ptr, nuint newSize, void* caller)
    {
        try { Startup.Ensure(); return Domains.Realloc(ref Domains.Obj, ptr, newSize, Known(caller)); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void ObjFree(void* ptr, void* caller)
    {
        try { Startup.Ensure(); Domains.Free(ref Domains.Obj, ptr, Known(caller)); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_obj_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_malloc_many", CallConvs = [typeof(CallConvCdecl)])]
    public static nuint ObjMallocMany(nuint size, nuint n, void** output, void* caller)
    {
        try
        {
            Startup.Ensure();
            if (n == 0)
                return 0;
            if (output == null)
            {
                Errors.Report(Status.InvalidArgument, "phn_obj_malloc_many: out is NULL");
                return 0;
            }
            return Domains.MallocMany(ref Domains.Obj, size, n, output, Known(caller));
        }
        catch (Exception e)
        {
            ExportGuard.AllocationFailed(e, "phn_obj_malloc_many");
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_free_many", CallConvs = [typeof(CallConvCdecl)])]
    public static void ObjFreeMany(void** ptrs, nuint n, void* caller)
    {
        try
        {
            Startup.Ensure();
            if (ptrs != null)
                Domains.FreeMany(ref Domains.Obj, ptrs, n, Known(caller));
            else if (n != 0)
                Errors.Report(Status.InvalidArgument, "phn_obj_free_many: ptrs is NULL");
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_obj_free_many"); }
    }

#if !PHN_WINDOWS
    // ---- the C fast paths' slow paths (Native/phn_fast.h): hidden, called from C only ------

    [UnmanagedCallersOnly(EntryPoint = "phnimpl_pymalloc_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void PymallocFree(void* ptr)
    {
        try { Core.Pymalloc.Pymalloc.Free(ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_mem_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phnimpl_pymalloc_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* PymallocRealloc(void* ptr, nuint size)
    {
        try { return Core.Pymalloc.Pymalloc.Realloc(ptr, size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phnimpl_trace_add", CallConvs = [typeof(CallConvCdecl)])]
    public static void* TraceAdd(void* ptr, nuint size, void* caller, int realloc)
    {
        try { return Core.Tracing.Tracer.AddTraceOfPymallocBlock(ptr, size, caller, realloc != 0); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phnimpl_trace_restore", CallConvs = [typeof(CallConvCdecl)])]
    public static void TraceRestore(void* ptr, nuint size, nuint traceback, uint generation)
    {
        try { Core.Tracing.Tracer.RestoreTrace((nuint)ptr, size, traceback, generation); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_mem_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phnimpl_debug_register", CallConvs = [typeof(CallConvCdecl)])]
    public static void DebugRegister(void* head, nuint size)
    {
        try { Core.Debug.LiveBlocks.Add(head, size); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_mem_realloc"); }
    }
#endif
}
