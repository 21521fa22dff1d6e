// Mirrors include/pyheapnative/phn_trace.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Runtime;
using PyHeapNative.Core.Tracing;

namespace PyHeapNative.Exports;

internal static unsafe class TraceExports
{
    private const string Prefix = "phn_tracemalloc_";

    [UnmanagedCallersOnly(EntryPoint = Prefix + "start", CallConvs = [typeof(CallConvCdecl)])]
    public static int Start(int nframe)
    {
        try
        {
            Startup.Ensure();
            if (nframe < 1 || nframe > Frames.MaxFrames)
                return Errors.Report(Status.InvalidArgument, $"the number of frames must be in range [1; {Frames.MaxFrames}]");
            return Tracer.Start(nframe) ? Status.Ok : Errors.Report(Status.NoMemory, "phn_tracemalloc_start: out of memory");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_start"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int Stop()
    {
        try { Startup.Ensure(); Tracer.Stop(); return Status.Ok; }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_stop"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "is_tracing", CallConvs = [typeof(CallConvCdecl)])]
    public static int IsTracing()
    {
        try { Startup.Ensure(); return Tracer.IsTracing ? 1 : 0; }
        catch (Exception e) { ExportGuard.Failed(e, "phn_tracemalloc_is_tracing"); return 0; }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_traced_memory", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetTracedMemory(nuint* current, nuint* peak)
    {
        try
        {
            Startup.Ensure();
            Tracer.GetTracedMemory(out nuint c, out nuint p);
            if (current != null)
                *current = c;
            if (peak != null)
                *peak = p;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_get_traced_memory"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "reset_peak", CallConvs = [typeof(CallConvCdecl)])]
    public static int ResetPeak()
    {
        try { Startup.Ensure(); Tracer.ResetPeak(); return Status.Ok; }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_reset_peak"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "clear_traces", CallConvs = [typeof(CallConvCdecl)])]
    public static int ClearTraces()
    {
        try { Startup.Ensure(); Tracer.ClearTraces(); return Status.Ok; }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_clear_traces"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_traceback_limit", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetTracebackLimit()
    {
        try { Startup.Ensure(); return Tracer.TracebackLimit; }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_get_traceback_limit"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_tracemalloc_memory", CallConvs = [typeof(CallConvCdecl)])]
    public static nuint GetTracemallocMemory()
    {
        try { Startup.Ensure(); return Tracer.TracerMemory(); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_tracemalloc_get_tracemalloc_memory"); return 0; }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "track", CallConvs = [typeof(CallConvCdecl)])]
    public static int Track(uint domain, nuint ptr, nuint size)
    {
        try { Startup.Ensure(); return Tracer.Track(domain, ptr, size); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_tracemalloc_track"); return -1; }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "untrack", CallConvs = [typeof(CallConvCdecl)])]
    public static int Untrack(uint domain, nuint ptr)
    {
        try { Startup.Ensure(); return Tracer.Untrack(domain, ptr); }
        catch (Exception e) { ExportGuard.Failed(e, "phn_tracemalloc_untrack"); return -1; }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "set_frame_provider", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetFrameProvider(delegate* unmanaged[Cdecl]<void*, PhnFrame*, int, int*, int> provider, void* ctx)
    {
        try { Startup.Ensure(); Tracer.SetFrameProvider(provider, ctx); return Status.Ok; }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_set_frame_provider"); }
    }

    // ---- snapshots -----------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = Prefix + "take_snapshot", CallConvs = [typeof(CallConvCdecl)])]
    public static int TakeSnapshot(nint* output)
    {
        try
        {
            Startup.Ensure();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_tracemalloc_take_snapshot: out is NULL");
            *output = 0;
            if (!Tracer.IsTracing)
                return Errors.Report(Status.InvalidState, "the tracemalloc module must be tracing memory allocations to take a snapshot");
            *output = Handles.Create(Snapshot.Take());
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_take_snapshot"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void SnapshotFree(nint snapshot)
    {
        try
        {
            if (snapshot == 0)
                return;
            Snapshot? s = Handles.Free<Snapshot>(snapshot);
            if (s == null)
                Errors.Report(Status.InvalidArgument, "phn_snapshot_free: not a live snapshot");
            s?.Dispose();
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_snapshot_free"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_trace_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long SnapshotTraceCount(nint snapshot)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            return s != null ? s.Traces.Length : Errors.Report(Status.InvalidArgument, "phn_snapshot_trace_count: not a live snapshot");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_trace_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_traceback_limit", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotTracebackLimit(nint snapshot)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            return s != null ? s.TracebackLimit : Errors.Report(Status.InvalidArgument, "phn_snapshot_traceback_limit: not a live snapshot");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_traceback_limit"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_get_trace", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotGetTrace(nint snapshot, long index, PhnTrace* output)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            if (s == null || output == null)
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_get_trace: not a live snapshot, or out is NULL");
            if ((ulong)index >= (ulong)s.Traces.Length)
                return Errors.Report(Status.InvalidArgument, $"phn_snapshot_get_trace: index {index} out of range [0; {s.Traces.Length})");
            SnapshotTrace t = s.Traces[index];
            *output = new PhnTrace
            {
                Domain = t.Domain,
                NFrame = (uint)t.Traceback.Frames.Length,
                TotalNFrame = t.Traceback.Total,
                Size = t.Size,
                Frames = s.Native.ArrayOf(t.Traceback),
            };
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_get_trace"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_traceback", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetTraceback(uint domain, nuint ptr, nint* output)
    {
        try
        {
            Startup.Ensure();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_tracemalloc_get_traceback: out is NULL");
            *output = 0;
            *output = Handles.Create(Snapshot.OfBlock(domain, ptr));
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_get_traceback"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "get_object_traceback", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetObjectTraceback(PhnObject* op, nint* output)
    {
        try
        {
            Startup.Ensure();
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_tracemalloc_get_object_traceback: out is NULL");
            *output = 0;
            // (best effort, as every object export: a pointer to freed or foreign memory is the
            // caller's error; NULL and a type not made by phn_type_new are caught)
            if (op == null || op->Type == null || op->Type->Magic != TypeObject.MagicValue)
                return Errors.Report(Status.InvalidArgument, "phn_tracemalloc_get_object_traceback: not an object of this library");
            // The block starts at the object's headers (ObjectLayout), as the OBJ domain gave it.
            *output = Handles.Create(Snapshot.OfBlock(Tracer.DefaultDomain, (nuint)((byte*)op - op->Type->PreSize)));
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_tracemalloc_get_object_traceback"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_filter_traces", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotFilterTraces(nint snapshot, PhnFilter* filters, int count, nint* output)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            if (s == null || output == null || count < 0 || (count > 0 && filters == null))
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_filter_traces: not a live snapshot, out is NULL, or bad filters");
            var list = new Snapshot.Filter[count];
            for (int i = 0; i < count; i++)
            {
                PhnFilter f = filters[i];
                string? pattern = f.FilenamePattern == null ? null : Marshal.PtrToStringUTF8((nint)f.FilenamePattern);
                if (pattern == null && f.Domain < 0)
                    return Errors.Report(Status.InvalidArgument, $"phn_snapshot_filter_traces: filter {i} has neither a filename pattern nor a domain");
                list[i] = new Snapshot.Filter(f.Inclusive != 0, f.AllFrames != 0, pattern, f.Lineno, f.Domain);
            }
            *output = Handles.Create(s.FilterTraces(list));
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_filter_traces"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_dump", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotDump(nint snapshot, byte* path)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            if (s == null || path == null)
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_dump: not a live snapshot, or path is NULL");
            s.Dump(Marshal.PtrToStringUTF8((nint)path)!);
            return Status.Ok;
        }
        catch (IOException e) { return Errors.Report(Status.InvalidState, $"phn_snapshot_dump: {e.Message}"); }
        catch (UnauthorizedAccessException e) { return Errors.Report(Status.InvalidState, $"phn_snapshot_dump: {e.Message}"); }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_dump"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_load", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotLoad(byte* path, nint* output)
    {
        try
        {
            if (path == null || output == null)
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_load: path or out is NULL");
            *output = 0;
            *output = Handles.Create(Snapshot.Load(Marshal.PtrToStringUTF8((nint)path)!));
            return Status.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return Errors.Report(Status.InvalidState, $"phn_snapshot_load: {e.Message}");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_load"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_statistics", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotStatistics(nint snapshot, int keyType, int cumulative, nint* output)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot);
            if (s == null || output == null)
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_statistics: not a live snapshot, or out is NULL");
            *output = 0;
            StatisticsList? list = s.Statistics(keyType, cumulative != 0, out string? error);
            if (list == null)
                return Errors.Report(Status.InvalidArgument, error!);
            *output = Handles.Create(list);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_statistics"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_snapshot_compare_to", CallConvs = [typeof(CallConvCdecl)])]
    public static int SnapshotCompareTo(nint snapshot, nint old, int keyType, int cumulative, nint* output)
    {
        try
        {
            Snapshot? s = Handles.Get<Snapshot>(snapshot), o = Handles.Get<Snapshot>(old);
            if (s == null || o == null || output == null)
                return Errors.Report(Status.InvalidArgument, "phn_snapshot_compare_to: not live snapshots, or out is NULL");
            *output = 0;
            StatisticsList? list = s.CompareTo(o, keyType, cumulative != 0, out string? error);
            if (list == null)
                return Errors.Report(Status.InvalidArgument, error!);
            *output = Handles.Create(list);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_snapshot_compare_to"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_statistics_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long StatisticsCount(nint statistics)
    {
        try
        {
            StatisticsList? l = Handles.Get<StatisticsList>(statistics);
            return l != null ? l.Entries.Length : Errors.Report(Status.InvalidArgument, "phn_statistics_count: not a live statistics list");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_statistics_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_statistics_get", CallConvs = [typeof(CallConvCdecl)])]
    public static int StatisticsGet(nint statistics, long index, PhnStatistic* output)
    {
        try
        {
            StatisticsList? l = Handles.Get<StatisticsList>(statistics);
            if (l == null || output == null)
                return Errors.Report(Status.InvalidArgument, "phn_statistics_get: not a live statistics list, or out is NULL");
            if ((ulong)index >= (ulong)l.Entries.Length)
                return Errors.Report(Status.InvalidArgument, $"phn_statistics_get: index {index} out of range [0; {l.Entries.Length})");
            StatisticEntry e = l.Entries[index];
            *output = new PhnStatistic
            {
                Frames = l.Native.ArrayOf(e.Traceback),
                NFrame = (uint)e.Traceback.Frames.Length,
                TotalNFrame = e.Traceback.Total,
                Size = e.Size,
                Count = e.Count,
                SizeDiff = e.SizeDiff,
                CountDiff = e.CountDiff,
            };
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_statistics_get"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_statistics_free", CallConvs = [typeof(CallConvCdecl)])]
    public static void StatisticsFree(nint statistics)
    {
        try
        {
            if (statistics == 0)
                return;
            StatisticsList? l = Handles.Free<StatisticsList>(statistics);
            if (l == null)
                Errors.Report(Status.InvalidArgument, "phn_statistics_free: not a live statistics list");
            l?.Dispose();
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_statistics_free"); }
    }
}
