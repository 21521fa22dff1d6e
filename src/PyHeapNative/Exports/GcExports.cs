// Mirrors include/pyheapnative/phn_gc.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Exports;

internal static unsafe class GcExports
{
    [UnmanagedCallersOnly(EntryPoint = "phn_gc_collect", CallConvs = [typeof(CallConvCdecl)])]
    public static long Collect(int generation)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (generation < 0 || generation > 2)
                return Errors.Report(Status.InvalidArgument, "invalid generation");
            long n = Collector.Collect(generation, Collector.Manual);
            return n < 0 ? Errors.Report(Status.Corrupt, "phn_gc_collect: the collection was abandoned: a tracked object is corrupted (see the fatal error)") : n;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_collect"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_collect_if_enabled", CallConvs = [typeof(CallConvCdecl)])]
    public static long CollectIfEnabled()
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!Generations.Enabled)
                return 0;
            long n = Collector.Collect(2, Collector.Manual);
            return n < 0 ? Errors.Report(Status.Corrupt, "phn_gc_collect_if_enabled: the collection was abandoned: a tracked object is corrupted (see the fatal error)") : n;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_collect_if_enabled"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_enable", CallConvs = [typeof(CallConvCdecl)])]
    public static int Enable() => SetEnabled(true);

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_disable", CallConvs = [typeof(CallConvCdecl)])]
    public static int Disable() => SetEnabled(false);

    private static int SetEnabled(bool enabled)
    {
        try
        {
            using var gil = GilScope.Enter();
            bool previous = Generations.Enabled;
            Generations.Enabled = enabled;
            return previous ? 1 : 0;
        }
        catch (Exception e) { return ExportGuard.Failed(e, enabled ? "phn_gc_enable" : "phn_gc_disable"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_is_enabled", CallConvs = [typeof(CallConvCdecl)])]
    public static int IsEnabled()
    {
        Startup.Ensure();
        return Generations.Enabled ? 1 : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetCount(int* count)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (count == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_get_count: count is NULL");
            count[0] = Generations.Count0;
            count[1] = Generations.Count1;
            count[2] = Generations.Count2;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_set_threshold", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetThreshold(int threshold0, int threshold1, int threshold2)
    {
        try
        {
            using var gil = GilScope.Enter();
            Generations.Threshold0 = threshold0;
            Generations.Threshold1 = threshold1;
            Generations.Threshold2 = threshold2;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_set_threshold"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_threshold", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetThreshold(int* threshold)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (threshold == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_get_threshold: threshold is NULL");
            threshold[0] = Generations.Threshold0;
            threshold[1] = Generations.Threshold1;
            threshold[2] = Generations.Threshold2;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_threshold"); }
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GcStatsOut
    {
        public uint StructSize;
        public uint Reserved;
        public long Collections;
        public long Collected;
        public long Uncollectable;
        public long Candidates;
        public double Duration;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_stats", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetStats(int generation, GcStatsOut* stats)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (generation < 0 || generation > 2)
                return Errors.Report(Status.InvalidArgument, $"phn_gc_get_stats: invalid generation {generation} (must be 0, 1 or 2)");
            if (stats == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_get_stats: stats is NULL");
            if (stats->StructSize < (uint)sizeof(GcStatsOut))
                return Errors.Report(Status.InvalidArgument, $"phn_gc_get_stats: struct_size {stats->StructSize} is smaller than sizeof(phn_gc_stats) = {sizeof(GcStatsOut)}");
            GenerationStats s = GcState.Stats(generation);
            stats->Reserved = 0;
            stats->Collections = s.Collections;
            stats->Collected = s.Collected;
            stats->Uncollectable = s.Uncollectable;
            stats->Candidates = s.Candidates;
            stats->Duration = s.Duration;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_stats"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_freeze", CallConvs = [typeof(CallConvCdecl)])]
    public static int Freeze()
    {
        try
        {
            using var gil = GilScope.Enter();
            GcQueries.Freeze();
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_freeze"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_unfreeze", CallConvs = [typeof(CallConvCdecl)])]
    public static int Unfreeze()
    {
        try
        {
            using var gil = GilScope.Enter();
            GcQueries.Unfreeze();
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_unfreeze"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_freeze_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long GetFreezeCount()
    {
        try
        {
            using var gil = GilScope.Enter();
            return GcQueries.FreezeCount();
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_freeze_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_set_debug", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetDebug(int flags)
    {
        try
        {
            using var gil = GilScope.Enter();
            GcState.DebugFlags = flags;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_set_debug"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_debug", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetDebug()
    {
        Startup.Ensure();
        return GcState.DebugFlags;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_set_debug_output", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetDebugOutput(delegate* unmanaged[Cdecl]<void*, byte*, void> output, void* ctx)
    {
        try
        {
            using var gil = GilScope.Enter();
            GcState.SetOutput(output, ctx);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_set_debug_output"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_add_callback", CallConvs = [typeof(CallConvCdecl)])]
    public static int AddCallback(delegate* unmanaged[Cdecl]<void*, int, GcInfo*, int> callback, void* ctx)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (callback == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_add_callback: callback is NULL");
            return GcState.AddCallback(callback, ctx) ? Status.Ok
                : Errors.Report(Status.NoMemory, "phn_gc_add_callback: out of memory");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_add_callback"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_remove_callback", CallConvs = [typeof(CallConvCdecl)])]
    public static int RemoveCallback(delegate* unmanaged[Cdecl]<void*, int, GcInfo*, int> callback, void* ctx)
    {
        try
        {
            using var gil = GilScope.Enter();
            return GcState.RemoveCallback(callback, ctx) ? Status.Ok
                : Errors.Report(Status.InvalidArgument, "phn_gc_remove_callback: no such callback (the function and context were not added)");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_remove_callback"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_garbage_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long GarbageCount()
    {
        try
        {
            using var gil = GilScope.Enter();
            return GcState.GarbageCount;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_garbage_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_garbage_get", CallConvs = [typeof(CallConvCdecl)])]
    public static int GarbageGet(long index, PhnObject** output)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_garbage_get: out is NULL");
            if (index < 0 || index >= GcState.GarbageCount)
            {
                *output = null;
                return Errors.Report(Status.InvalidArgument, $"phn_gc_garbage_get: index {index} out of range (gc.garbage has {GcState.GarbageCount} objects)");
            }
            *output = GcState.GarbageAt(index);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_garbage_get"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_garbage_clear", CallConvs = [typeof(CallConvCdecl)])]
    public static int GarbageClear()
    {
        try
        {
            using var gil = GilScope.Enter();
            GcState.GarbageClear();
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_garbage_clear"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_objects", CallConvs = [typeof(CallConvCdecl)])]
    public static long GetObjects(int generation, PhnObject** output, long capacity)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (generation >= Generations.Count)
                return Errors.Report(Status.InvalidArgument, "generation parameter must be less than the number of available generations (3)");
            if (generation < -1)
                return Errors.Report(Status.InvalidArgument, "generation parameter cannot be negative");
            if (!CheckOutput(output, capacity, "phn_gc_get_objects"))
                return Status.InvalidArgument;
            return GcQueries.GetObjects(generation, output, capacity);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_objects"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_referrers", CallConvs = [typeof(CallConvCdecl)])]
    public static long GetReferrers(PhnObject** objects, long count, PhnObject** output, long capacity)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckInput(objects, count, "phn_gc_get_referrers") || !CheckOutput(output, capacity, "phn_gc_get_referrers"))
                return Status.InvalidArgument;
            return GcQueries.GetReferrers(objects, count, output, capacity);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_referrers"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_get_referents", CallConvs = [typeof(CallConvCdecl)])]
    public static long GetReferents(PhnObject** objects, long count, PhnObject** output, long capacity)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckInput(objects, count, "phn_gc_get_referents") || !CheckOutput(output, capacity, "phn_gc_get_referents"))
                return Status.InvalidArgument;
            return GcQueries.GetReferents(objects, count, output, capacity);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_get_referents"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_track", CallConvs = [typeof(CallConvCdecl)])]
    public static int Track(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckGcObject(op, "phn_gc_track"))
                return Status.InvalidArgument;
            if (IsTracked(op))
            {
                Errors.Report(Status.InvalidState, "phn_gc_track: object already tracked by the garbage collector");
                GcQueries.Track(op);   // the fatal error
                return Status.InvalidState;
            }
            return GcQueries.Track(op) ? Status.Ok : Status.InvalidState;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_track"); }
    }

    // On Unix phn_gc_untrack itself is C (Native/phn_dealloc.c): it untracks directly under
    // the GIL (the caller's, or taken when free), and comes here otherwise.
#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_gc_untrack", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_gc_untrack", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static int Untrack(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckGcObject(op, "phn_gc_untrack"))
                return Status.InvalidArgument;
            Generations.Untrack(op);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_untrack"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_is_tracked", CallConvs = [typeof(CallConvCdecl)])]
    public static int IsTrackedExport(PhnObject* op)
    {
        if (op == null)
            return Errors.Report(Status.InvalidArgument, "phn_gc_is_tracked: the object is NULL");
        return IsGc(op) && IsTracked(op) ? 1 : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_is_finalized", CallConvs = [typeof(CallConvCdecl)])]
    public static int IsFinalized(PhnObject* op)
    {
        if (op == null)
            return Errors.Report(Status.InvalidArgument, "phn_gc_is_finalized: the object is NULL");
        return IsGc(op) && (AsGc(op)->Prev & PrevFinalized) != 0 ? 1 : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_object_is_gc", CallConvs = [typeof(CallConvCdecl)])]
    public static int ObjectIsGc(PhnObject* op)
    {
        if (op == null)
            return Errors.Report(Status.InvalidArgument, "phn_object_is_gc: the object is NULL");
        return IsGc(op) ? 1 : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_visit_objects", CallConvs = [typeof(CallConvCdecl)])]
    public static int VisitObjects(delegate* unmanaged[Cdecl]<PhnObject*, void*, int> visit, void* arg)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (visit == null)
                return Errors.Report(Status.InvalidArgument, "phn_gc_visit_objects: visit is NULL");
            return GcQueries.VisitObjects(visit, arg) ? Status.Ok
                : Errors.Report(Status.NoMemory, "phn_gc_visit_objects: out of memory");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_visit_objects"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_shutdown", CallConvs = [typeof(CallConvCdecl)])]
    public static long Shutdown()
    {
        try
        {
            using var gil = GilScope.Enter();
            return GcQueries.Shutdown();
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gc_shutdown"); }
    }

    // ---- argument checks ----------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CheckGcObject(PhnObject* op, string function) =>
        (op != null && IsGc(op)) || NotGcObject(op, function);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool NotGcObject(PhnObject* op, string function)
    {
        if (!ObjectExports.CheckObject(op, function))
            return false;
        Errors.Report(Status.InvalidArgument, $"{function}: {ObjectDump.Describe(op)} is not a GC object (its type has no PHN_TPFLAGS_HAVE_GC)");
        return false;
    }

    private static bool CheckOutput(PhnObject** output, long capacity, string function)
    {
        if (capacity < 0)
        {
            Errors.Report(Status.InvalidArgument, $"{function}: capacity {capacity} is negative");
            return false;
        }
        if (capacity > 0 && output == null)
        {
            Errors.Report(Status.InvalidArgument, $"{function}: out is NULL with capacity {capacity}");
            return false;
        }
        return true;
    }

    private static bool CheckInput(PhnObject** objects, long count, string function)
    {
        if (count < 0 || (count > 0 && objects == null))
        {
            Errors.Report(Status.InvalidArgument, $"{function}: objs is NULL or nobjs ({count}) is negative");
            return false;
        }
        return true;
    }
}
