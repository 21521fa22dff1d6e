// Mirrors include/pyheapnative/phn_alloc.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static unsafe class AllocatorExports
{
    private const string Prefix = "phn_";

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_allocator", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetAllocator(int domain, AllocatorTable* output)
    {
        try
        {
            Startup.Ensure();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_get_allocator: out is NULL");
            if (!AllocatorRegistry.IsValidDomain(domain))
            {
                *output = default;
                return Errors.Report(Status.InvalidArgument, $"phn_get_allocator: unknown domain {domain} (expected PHN_DOMAIN_RAW, _MEM or _OBJ)");
            }
            *output = AllocatorRegistry.Get(domain);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_get_allocator"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "set_allocator", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetAllocator(int domain, AllocatorTable* allocator)
    {
        try
        {
            Startup.Ensure();
            if (!AllocatorRegistry.IsValidDomain(domain))
                return Errors.Report(Status.InvalidArgument, $"phn_set_allocator: unknown domain {domain} (expected PHN_DOMAIN_RAW, _MEM or _OBJ)");
            if (allocator == null)
                return Errors.Report(Status.InvalidArgument, "phn_set_allocator: allocator is NULL");
            AllocatorTable table = *allocator;
            if (!table.IsComplete)
                return Errors.Report(Status.InvalidArgument, "phn_set_allocator: malloc, calloc, realloc and free must all be set");
            if (!AllocatorRegistry.Set(domain, table))
                return Errors.Report(Status.NoMemory, "phn_set_allocator: out of memory");
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_set_allocator"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_arena_allocator", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetArenaAllocator(ArenaAllocatorTable* output)
    {
        try
        {
            Startup.Ensure();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_get_arena_allocator: out is NULL");
            *output = AllocatorRegistry.GetArenaAllocator();
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_get_arena_allocator"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "set_arena_allocator", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetArenaAllocator(ArenaAllocatorTable* allocator)
    {
        try
        {
            Startup.Ensure();
            if (allocator == null)
                return Errors.Report(Status.InvalidArgument, "phn_set_arena_allocator: allocator is NULL");
            ArenaAllocatorTable table = *allocator;
            if (table.Alloc == null || table.Free == null)
                return Errors.Report(Status.InvalidArgument, "phn_set_arena_allocator: alloc and free must both be set");
            if (!AllocatorRegistry.SetArenaAllocator(table))
                return Errors.Report(Status.NoMemory, "phn_set_arena_allocator: out of memory");
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_set_arena_allocator"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "allocator_name", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* AllocatorName()
    {
        try
        {
            Startup.Ensure();
            return AllocatorRegistry.CurrentName() switch
            {
                "pymalloc" => StaticString("pymalloc\0"u8),
                "malloc" => StaticString("malloc\0"u8),
                "pymalloc_debug" => StaticString("pymalloc_debug\0"u8),
                "malloc_debug" => StaticString("malloc_debug\0"u8),
                _ => null,
            };
        }
        catch (Exception e)
        {
            ExportGuard.Failed(e, "phn_allocator_name");
            return null;
        }
    }

    /// <summary>A u8 literal lives in the image's read-only data: its address never changes.</summary>
    private static byte* StaticString(ReadOnlySpan<byte> literal) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(literal));
}
