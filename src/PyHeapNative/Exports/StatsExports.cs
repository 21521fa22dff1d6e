// Mirrors include/pyheapnative/phn_stats.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static unsafe class StatsExports
{
    private const string Prefix = "phn_";

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_stats", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetStats(PymallocStatistics* stats)
    {
        try
        {
            Startup.Ensure();
            if (stats == null)
                return Errors.Report(Status.InvalidArgument, "phn_get_stats: stats is NULL");
            if (stats->StructSize < (uint)sizeof(PymallocStatistics))
                return Errors.Report(Status.InvalidArgument,
                    $"phn_get_stats: struct_size {stats->StructSize} is smaller than sizeof(phn_stats) version 1 ({sizeof(PymallocStatistics)}); set it before the call");
            FaultInjection.Check(Fault.ThrowInStats);
            Pymalloc.CollectStatistics(out *stats);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_get_stats"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "format_malloc_stats", CallConvs = [typeof(CallConvCdecl)])]
    public static long FormatMallocStats(byte* buffer, nuint capacity)
    {
        try
        {
            Startup.Ensure();
            if (buffer == null && capacity != 0)
                return Errors.Report(Status.InvalidArgument, "phn_format_malloc_stats: buf is NULL but cap is not 0");
            if (!AllocatorRegistry.PymallocServesObj)
            {
                if (capacity != 0)
                    buffer[0] = 0;
                return 0;
            }
            Pymalloc.CollectStatistics(out PymallocStatistics stats);
            byte[] text = Encoding.UTF8.GetBytes(MallocStatsText.Format(stats));
            if (capacity != 0)
            {
                int n = (int)Math.Min((nuint)text.Length, capacity - 1);
                text.AsSpan(0, n).CopyTo(new Span<byte>(buffer, n));
                buffer[n] = 0;
            }
            return text.Length;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_format_malloc_stats"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "validate", CallConvs = [typeof(CallConvCdecl)])]
    public static int Validate()
    {
        try
        {
            Startup.Ensure();
            string? broken = Pymalloc.Validate();
            if (broken != null)
                return Errors.Report(Status.Corrupt, "phn_validate: pymalloc: " + broken);
            using (var gil = GilScope.Enter())
                broken = GcValidate.Validate();
            return broken == null ? Status.Ok : Errors.Report(Status.Corrupt, "phn_validate: gc: " + broken);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_validate"); }
    }
}
