// Mirrors include/pyheapnative/phn_mem.h (same order). Each export starts the library if
// needed and calls its domain's inlined fast path; an exception becomes NULL + ENOMEM.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Raw;

namespace PyHeapNative.Exports;

internal static unsafe class MemExports
{
    [UnmanagedCallersOnly(EntryPoint = "phn_raw_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawMalloc(nuint size)
    {
        try { Startup.Ensure(); return RawDomain.Malloc(size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_raw_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawCalloc(nuint nelem, nuint elsize)
    {
        try { Startup.Ensure(); return RawDomain.Calloc(nelem, elsize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_raw_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* RawRealloc(void* ptr, nuint newSize)
    {
        try { Startup.Ensure(); return RawDomain.Realloc(ptr, newSize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_raw_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_raw_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void RawFree(void* ptr)
    {
        try { Startup.Ensure(); RawDomain.Free(ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_raw_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_mem_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemMalloc(nuint size)
    {
        try { Startup.Ensure(); return Domains.Malloc(ref Domains.Mem, size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_mem_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemCalloc(nuint nelem, nuint elsize)
    {
        try { Startup.Ensure(); return Domains.Calloc(ref Domains.Mem, nelem, elsize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_mem_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* MemRealloc(void* ptr, nuint newSize)
    {
        try { Startup.Ensure(); return Domains.Realloc(ref Domains.Mem, ptr, newSize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_mem_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_mem_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void MemFree(void* ptr)
    {
        try { Startup.Ensure(); Domains.Free(ref Domains.Mem, ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_mem_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_obj_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjMalloc(nuint size)
    {
        try { Startup.Ensure(); return Domains.Malloc(ref Domains.Obj, size); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_malloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_obj_calloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjCalloc(nuint nelem, nuint elsize)
    {
        try { Startup.Ensure(); return Domains.Calloc(ref Domains.Obj, nelem, elsize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_calloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_obj_realloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* ObjRealloc(void* ptr, nuint newSize)
    {
        try { Startup.Ensure(); return Domains.Realloc(ref Domains.Obj, ptr, newSize); }
        catch (Exception e) { return ExportGuard.AllocationFailed(e, "phn_obj_realloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_obj_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void ObjFree(void* ptr)
    {
        try { Startup.Ensure(); Domains.Free(ref Domains.Obj, ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_obj_free"); }
    }

}
