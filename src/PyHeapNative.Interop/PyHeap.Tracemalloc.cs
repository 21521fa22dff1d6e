// PyHeap.Tracemalloc.cs - tracemalloc (phn_trace.h) with the API of CPython's tracemalloc
// module: start/stop, traced memory, snapshots (an owned SafeHandle) with statistics,
// comparisons, filters, dump and load.
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace PyHeapNative.Interop;

/// <summary>How <see cref="TracemallocSnapshot.Statistics"/> groups traces (CPython's <c>key_type</c>).</summary>
public enum TracemallocGroupBy
{
    /// <summary><c>'filename'</c>: the most recent frame's file (line reported as 0).</summary>
    Filename = Native.PHN_KEY_FILENAME,
    /// <summary><c>'lineno'</c>: the most recent frame.</summary>
    Lineno = Native.PHN_KEY_LINENO,
    /// <summary><c>'traceback'</c>: the whole traceback.</summary>
    Traceback = Native.PHN_KEY_TRACEBACK,
}

/// <summary>
/// One frame of a traceback (<c>tracemalloc.Frame</c>). With the default native frames the
/// file name is <c>module:symbol</c> and the line the offset of the return address from the
/// symbol; a frame provider (<see cref="Native.TracemallocSetFrameProvider"/>) gives its own.
/// </summary>
/// <param name="Filename">The file name.</param>
/// <param name="Lineno">The line number.</param>
public sealed record TracemallocFrame(string Filename, int Lineno)
{
    /// <summary><c>filename:lineno</c>, as CPython.</summary>
    public override string ToString() => $"{Filename}:{Lineno}";
}

/// <summary>A traceback, most recent frame first (<c>tracemalloc.Traceback</c>); equal when the frames are.</summary>
public sealed class TracemallocTraceback : IReadOnlyList<TracemallocFrame>, IEquatable<TracemallocTraceback>
{
    private readonly TracemallocFrame[] _frames;

    /// <summary>Creates a traceback.</summary>
    /// <param name="frames">The frames, most recent first.</param>
    /// <param name="totalFrames">The depth when it was recorded (may exceed the frames kept).</param>
    public TracemallocTraceback(IEnumerable<TracemallocFrame> frames, int totalFrames)
    {
        _frames = [.. frames];
        TotalFrames = totalFrames;
    }

    /// <summary>The depth of the stack when the trace was recorded (<c>total_nframe</c>).</summary>
    public int TotalFrames { get; }

    /// <inheritdoc/>
    public TracemallocFrame this[int index] => _frames[index];

    /// <inheritdoc/>
    public int Count => _frames.Length;

    /// <inheritdoc/>
    public IEnumerator<TracemallocFrame> GetEnumerator() => ((IEnumerable<TracemallocFrame>)_frames).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => _frames.GetEnumerator();

    /// <inheritdoc/>
    public bool Equals(TracemallocTraceback? other) => other is not null && _frames.AsSpan().SequenceEqual(other._frames);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TracemallocTraceback);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (TracemallocFrame f in _frames)
            h.Add(f);
        return h.ToHashCode();
    }

    /// <summary>The most recent frame, as CPython's <c>str(traceback)</c>.</summary>
    public override string ToString() => _frames.Length == 0 ? "<no frame>" : _frames[0].ToString();

    /// <summary>One line per frame, most recent first (or oldest first with <paramref name="mostRecentFirst"/> false).</summary>
    public IReadOnlyList<string> Format(bool mostRecentFirst = true)
    {
        IEnumerable<TracemallocFrame> frames = mostRecentFirst ? _frames : _frames.Reverse();
        return [.. frames.Select(f => $"  File \"{f.Filename}\", line {f.Lineno}")];
    }
}

/// <summary>One traced block of a snapshot (<c>tracemalloc.Trace</c>).</summary>
/// <param name="Domain">The trace domain (0 for the library's own allocations).</param>
/// <param name="Size">The requested size in bytes.</param>
/// <param name="Traceback">Where it was allocated.</param>
public sealed record TracemallocTrace(uint Domain, long Size, TracemallocTraceback Traceback);

/// <summary>The traces of one group (<c>tracemalloc.Statistic</c>).</summary>
/// <param name="Traceback">The group's key: one frame, or the whole traceback.</param>
/// <param name="Size">The total size of its blocks.</param>
/// <param name="Count">The number of its blocks.</param>
public sealed record TracemallocStatistic(TracemallocTraceback Traceback, long Size, long Count)
{
    /// <summary>CPython's <c>str(Statistic)</c>: <c>file:line: size=1234 B, count=5, average=247 B</c>.</summary>
    public override string ToString()
    {
        string text = $"{Traceback}: size={SizeFormat.Format(Size, false)}, count={Count}";
        return Count != 0 ? text + $", average={SizeFormat.Format((double)Size / Count, false)}" : text;
    }
}

/// <summary>One group's difference between two snapshots (<c>tracemalloc.StatisticDiff</c>).</summary>
/// <param name="Traceback">The group's key.</param>
/// <param name="Size">The size in the newer snapshot.</param>
/// <param name="SizeDiff">The size difference (newer minus older).</param>
/// <param name="Count">The block count in the newer snapshot.</param>
/// <param name="CountDiff">The block count difference.</param>
public sealed record TracemallocStatisticDiff(TracemallocTraceback Traceback, long Size, long SizeDiff, long Count, long CountDiff)
{
    /// <summary>CPython's <c>str(StatisticDiff)</c>: <c>file:line: size=2 KiB (+1 KiB), count=3 (+1), average=683 B</c>.</summary>
    public override string ToString()
    {
        string text = $"{Traceback}: size={SizeFormat.Format(Size, false)} ({SizeFormat.Format(SizeDiff, true)}), " +
                      $"count={Count} ({CountDiff.ToString("+0;-0;+0", CultureInfo.InvariantCulture)})";
        return Count != 0 ? text + $", average={SizeFormat.Format((double)Size / Count, false)}" : text;
    }
}

/// <summary>
/// A trace filter for <see cref="TracemallocSnapshot.FilterTraces(TracemallocFilter[])"/>
/// (<c>tracemalloc.Filter</c>, or <c>DomainFilter</c> when <see cref="FilenamePattern"/> is null).
/// A trace is kept if no inclusive filter is given or one matches, and no exclusive filter matches.
/// </summary>
/// <param name="Inclusive">True keeps matching traces; false drops them.</param>
/// <param name="FilenamePattern">An fnmatch pattern (<c>*</c>, <c>?</c>, <c>[...]</c>); null matches on <see cref="Domain"/> only.</param>
/// <param name="Lineno">A line number, or null for any line.</param>
/// <param name="AllFrames">True: any frame may match; false: the most recent one.</param>
/// <param name="Domain">A trace domain, or null for any domain.</param>
public sealed record TracemallocFilter(bool Inclusive, string? FilenamePattern, int? Lineno = null, bool AllFrames = false, uint? Domain = null)
{
    /// <summary>A <c>DomainFilter</c>: keeps (or drops) the traces of one trace domain.</summary>
    public static TracemallocFilter ForDomain(bool inclusive, uint domain) => new(inclusive, null, null, false, domain);
}

/// <summary>
/// The traces at one moment (<c>tracemalloc.Snapshot</c>): an owned, immutable library
/// object freed (<c>phn_snapshot_free</c>) when disposed or finalized.
/// </summary>
/// <example><code>
/// PyHeap.Tracemalloc.Start();
/// // ... allocate ...
/// using TracemallocSnapshot snapshot = PyHeap.Tracemalloc.TakeSnapshot();
/// foreach (TracemallocStatistic s in snapshot.Statistics(TracemallocGroupBy.Lineno).Take(10))
///     Console.WriteLine(s);
/// </code></example>
public sealed unsafe class TracemallocSnapshot : SafeHandle
{
    private TracemallocSnapshot()
        : base(0, ownsHandle: true)
    {
    }

    /// <summary>Calls a function that stores a new snapshot, and owns it.</summary>
    internal static TracemallocSnapshot Create(Func<nint, int> make)
    {
        var result = new TracemallocSnapshot();   // before the native snapshot, so nothing can leak it
        nint p = 0;
        PyHeap.Check(make((nint)(&p)));
        result.SetHandle(p);
        return result;
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        Native.SnapshotFree((PhnSnapshot*)handle);
        return true;
    }

    /// <summary>The number of traces.</summary>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public long TraceCount
    {
        get
        {
            using var self = new HandleLease(this);
            return ThrowHelper.CheckCount(Native.SnapshotTraceCount((PhnSnapshot*)self.Value));
        }
    }

    /// <summary>The traceback limit the snapshot was taken with (<c>Snapshot.traceback_limit</c>).</summary>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public int TracebackLimit
    {
        get
        {
            using var self = new HandleLease(this);
            int r = Native.SnapshotTracebackLimit((PhnSnapshot*)self.Value);
            if (r < 0)
                ThrowHelper.ThrowForStatus(r);
            return r;
        }
    }

    /// <summary>Every trace (<c>Snapshot.traces</c>), in the snapshot's order.</summary>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public IReadOnlyList<TracemallocTrace> GetTraces()
    {
        using var self = new HandleLease(this);
        var s = (PhnSnapshot*)self.Value;
        long n = ThrowHelper.CheckCount(Native.SnapshotTraceCount(s));
        var names = new FrameNames();
        var list = new List<TracemallocTrace>((int)Math.Min(n, 1 << 24));
        for (long i = 0; i < n; i++)
        {
            PhnTrace t;
            PyHeap.Check(Native.SnapshotGetTrace(s, i, &t));
            list.Add(new TracemallocTrace(t.Domain, (long)t.Size, names.Traceback(t.Frames, t.NFrame, t.TotalNFrame)));
        }
        return list;
    }

    /// <summary>
    /// The traces grouped by <paramref name="groupBy"/>, sorted by size, count and traceback,
    /// largest first (<c>Snapshot.statistics</c>).
    /// </summary>
    /// <param name="groupBy">The grouping key.</param>
    /// <param name="cumulative">Count each trace once for each of its frames (not with <see cref="TracemallocGroupBy.Traceback"/>).</param>
    /// <exception cref="ArgumentException"><paramref name="cumulative"/> with <see cref="TracemallocGroupBy.Traceback"/>, or an unknown key.</exception>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public IReadOnlyList<TracemallocStatistic> Statistics(TracemallocGroupBy groupBy, bool cumulative = false)
    {
        using var self = new HandleLease(this);
        PhnStatistics* st = null;
        PyHeap.Check(Native.SnapshotStatistics((PhnSnapshot*)self.Value, (int)groupBy, cumulative ? 1 : 0, &st));
        return ReadStatistics(st, static (TracemallocTraceback tb, in PhnStatistic x) => new TracemallocStatistic(tb, (long)x.Size, (long)x.Count));
    }

    /// <summary>
    /// The differences from an older snapshot, grouped by <paramref name="groupBy"/> and sorted
    /// by the absolute size difference first (<c>Snapshot.compare_to</c>); groups only in
    /// <paramref name="old"/> appear with size 0 and count 0.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="Statistics"/>.</exception>
    /// <exception cref="ObjectDisposedException">Either snapshot was disposed.</exception>
    public IReadOnlyList<TracemallocStatisticDiff> CompareTo(TracemallocSnapshot old, TracemallocGroupBy groupBy, bool cumulative = false)
    {
        ArgumentNullException.ThrowIfNull(old);
        using var self = new HandleLease(this);
        using var other = new HandleLease(old);
        PhnStatistics* st = null;
        PyHeap.Check(Native.SnapshotCompareTo((PhnSnapshot*)self.Value, (PhnSnapshot*)other.Value, (int)groupBy, cumulative ? 1 : 0, &st));
        return ReadStatistics(st, static (TracemallocTraceback tb, in PhnStatistic x) => new TracemallocStatisticDiff(tb, (long)x.Size, x.SizeDiff, (long)x.Count, x.CountDiff));
    }

    /// <summary>A new snapshot with the traces that pass the filters (<c>Snapshot.filter_traces</c>); none: a copy.</summary>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public TracemallocSnapshot FilterTraces(params TracemallocFilter[] filters) => FilterTraces((IEnumerable<TracemallocFilter>)filters);

    /// <summary>A new snapshot with the traces that pass the filters (<c>Snapshot.filter_traces</c>); none: a copy.</summary>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public TracemallocSnapshot FilterTraces(IEnumerable<TracemallocFilter> filters)
    {
        ArgumentNullException.ThrowIfNull(filters);
        TracemallocFilter[] list = [.. filters];
        var native = new PhnFilter[list.Length];
        var patterns = new nint[list.Length];
        try
        {
            for (int i = 0; i < list.Length; i++)
            {
                TracemallocFilter f = list[i] ?? throw new ArgumentNullException(nameof(filters));
                if (f.FilenamePattern is not null)
                    patterns[i] = Marshal.StringToCoTaskMemUTF8(f.FilenamePattern);
                native[i] = new PhnFilter
                {
                    Inclusive = f.Inclusive ? 1 : 0,
                    AllFrames = f.AllFrames ? 1 : 0,
                    FilenamePattern = (byte*)patterns[i],
                    Lineno = f.Lineno ?? Native.PHN_FILTER_ANY_LINE,
                    Domain = f.Domain is { } d ? d : Native.PHN_FILTER_ANY_DOMAIN,
                };
            }
            using var self = new HandleLease(this);
            nint s = self.Value;
            return Create(output =>
            {
                fixed (PhnFilter* pf = native)
                    return Native.SnapshotFilterTraces((PhnSnapshot*)s, pf, native.Length, (PhnSnapshot**)output);
            });
        }
        finally
        {
            foreach (nint p in patterns)
                Marshal.FreeCoTaskMem(p);
        }
    }

    /// <summary>Writes the snapshot to a file (<c>Snapshot.dump</c>); <see cref="Load"/> reads it back.</summary>
    /// <exception cref="InvalidOperationException">The file could not be written (the message says why).</exception>
    /// <exception cref="ObjectDisposedException">The snapshot was disposed.</exception>
    public void Dump(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var self = new HandleLease(this);
        fixed (byte* p = Utf8Z(path))
            PyHeap.Check(Native.SnapshotDump((PhnSnapshot*)self.Value, p));
    }

    /// <summary>Reads a snapshot written by <see cref="Dump"/> (<c>Snapshot.load</c>).</summary>
    /// <exception cref="InvalidOperationException">The file cannot be read or is not a snapshot (the message says why).</exception>
    public static TracemallocSnapshot Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] utf8 = Utf8Z(path);
        return Create(output =>
        {
            fixed (byte* p = utf8)
                return Native.SnapshotLoad(p, (PhnSnapshot**)output);
        });
    }

    private static byte[] Utf8Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private delegate T StatisticFactory<T>(TracemallocTraceback traceback, in PhnStatistic statistic);

    private static List<T> ReadStatistics<T>(PhnStatistics* st, StatisticFactory<T> make)
    {
        try
        {
            long n = ThrowHelper.CheckCount(Native.StatisticsCount(st));
            var names = new FrameNames();
            var list = new List<T>((int)Math.Min(n, 1 << 24));
            for (long i = 0; i < n; i++)
            {
                PhnStatistic x;
                PyHeap.Check(Native.StatisticsGet(st, i, &x));
                list.Add(make(names.Traceback(x.Frames, x.NFrame, x.TotalNFrame), in x));
            }
            return list;
        }
        finally
        {
            Native.StatisticsFree(st);
        }
    }

    /// <summary>Decodes each file name pointer once (frames of one list share them).</summary>
    private sealed class FrameNames
    {
        private readonly Dictionary<nint, string> _names = [];

        public TracemallocTraceback Traceback(PhnFrame* frames, uint count, uint total)
        {
            var list = new TracemallocFrame[count];
            for (int i = 0; i < list.Length; i++)
            {
                nint name = (nint)frames[i].Filename;
                if (!_names.TryGetValue(name, out string? s))
                    _names[name] = s = Marshal.PtrToStringUTF8(name) ?? "";
                list[i] = new TracemallocFrame(s, unchecked((int)frames[i].Lineno));
            }
            return new TracemallocTraceback(list, (int)Math.Min(total, int.MaxValue));
        }
    }
}

/// <summary>CPython's <c>tracemalloc._format_size</c>.</summary>
internal static class SizeFormat
{
    private static readonly string[] s_units = ["B", "KiB", "MiB", "GiB", "TiB"];

    public static string Format(double size, bool sign)
    {
        foreach (string unit in s_units)
        {
            if (Math.Abs(size) < 100 && unit != "B")
                return (sign && size >= 0 ? "+" : "") + size.ToString("0.0", CultureInfo.InvariantCulture) + " " + unit;
            if (Math.Abs(size) < 10 * 1024 || unit == "TiB")
                return (sign && size >= 0 ? "+" : "") + size.ToString("0", CultureInfo.InvariantCulture) + " " + unit;
            size /= 1024;
        }
        throw new InvalidOperationException("unreachable");
    }
}

public static unsafe partial class PyHeap
{
    /// <summary>
    /// Traces every allocation of the three domains (CPython's <c>tracemalloc</c> module):
    /// where each live block was allocated, the traced current and peak memory, and snapshots.
    /// </summary>
    /// <example><code>
    /// PyHeap.Tracemalloc.Start(frames: 5);
    /// var (current, peak) = PyHeap.Tracemalloc.GetTracedMemory();
    /// using TracemallocSnapshot snapshot = PyHeap.Tracemalloc.TakeSnapshot();
    /// PyHeap.Tracemalloc.Stop();
    /// </code></example>
    public static class Tracemalloc
    {
        /// <summary>The largest traceback limit (65535).</summary>
        public const int MaxFrames = Native.PHN_TRACEMALLOC_MAX_NFRAME;

        /// <summary>
        /// Starts tracing with a traceback limit of <paramref name="frames"/>
        /// (<c>tracemalloc.start</c>); already tracing: nothing changes, the limit included.
        /// </summary>
        /// <exception cref="ArgumentException"><paramref name="frames"/> is not in [1; 65535].</exception>
        public static void Start(int frames = 1) => Check(Native.TracemallocStart(frames));

        /// <summary>Stops tracing and forgets every trace (<c>tracemalloc.stop</c>).</summary>
        public static void Stop() => Check(Native.TracemallocStop());

        /// <summary>Whether allocations are being traced (<c>tracemalloc.is_tracing</c>).</summary>
        public static bool IsTracing => Native.TracemallocIsTracing() == 1;

        /// <summary>The current and peak size of the traced blocks in bytes (<c>tracemalloc.get_traced_memory</c>); (0, 0) when not tracing.</summary>
        public static (long Current, long Peak) GetTracedMemory()
        {
            nuint current, peak;
            Check(Native.TracemallocGetTracedMemory(&current, &peak));
            return ((long)current, (long)peak);
        }

        /// <summary>Sets the peak to the current size (<c>tracemalloc.reset_peak</c>).</summary>
        public static void ResetPeak() => Check(Native.TracemallocResetPeak());

        /// <summary>Forgets every trace; current and peak become 0 (<c>tracemalloc.clear_traces</c>).</summary>
        public static void ClearTraces() => Check(Native.TracemallocClearTraces());

        /// <summary>The traceback limit of the current or last start (<c>tracemalloc.get_traceback_limit</c>).</summary>
        public static int TracebackLimit => Native.TracemallocGetTracebackLimit();

        /// <summary>The bytes used by the tracer's own tables (<c>tracemalloc.get_tracemalloc_memory</c>).</summary>
        public static long TracemallocMemory => (long)Native.TracemallocGetTracemallocMemory();

        /// <summary>A snapshot of the traces (<c>tracemalloc.take_snapshot</c>); dispose it.</summary>
        /// <exception cref="InvalidOperationException">Not tracing.</exception>
        public static TracemallocSnapshot TakeSnapshot() =>
            TracemallocSnapshot.Create(static output => Native.TracemallocTakeSnapshot((PhnSnapshot**)output));

        /// <summary>
        /// Records a block of another allocator in a trace domain (<c>PyTraceMalloc_Track</c>);
        /// an address already tracked there gets the new size and traceback.
        /// </summary>
        /// <returns>False when not tracing.</returns>
        /// <exception cref="ArgumentException"><paramref name="address"/> is 0.</exception>
        /// <exception cref="OutOfMemoryException">The trace could not be stored.</exception>
        public static bool Track(uint domain, nuint address, nuint size)
        {
            if (address == 0)
                throw new ArgumentException("The address is 0.", nameof(address));
            return Native.TracemallocTrack(domain, address, size) switch
            {
                0 => true,
                -2 => false,
                _ => throw new OutOfMemoryException("tracemalloc could not store the trace"),
            };
        }

        /// <summary>Forgets a block tracked in a trace domain (<c>PyTraceMalloc_Untrack</c>).</summary>
        /// <returns>False when not tracing.</returns>
        public static bool Untrack(uint domain, nuint address) => Native.TracemallocUntrack(domain, address) == 0;

        /// <summary>Where the block at <paramref name="address"/> in a trace domain was allocated
        /// (<c>_PyTraceMalloc_GetTraceback</c>); null when it is not traced or tracing is off.</summary>
        public static TracemallocTraceback? GetTraceback(uint domain, nuint address)
        {
            using var one = TracemallocSnapshot.Create(output => Native.TracemallocGetTraceback(domain, address, (PhnSnapshot**)output));
            var traces = one.GetTraces();
            return traces.Count == 0 ? null : traces[0].Traceback;
        }

        /// <summary>Where an object's block was allocated (<c>tracemalloc.get_object_traceback</c>);
        /// null when it is not traced or tracing is off.</summary>
        /// <exception cref="ArgumentNullException"><paramref name="obj"/> is null.</exception>
        /// <exception cref="ObjectDisposedException"><paramref name="obj"/> was disposed.</exception>
        public static TracemallocTraceback? GetObjectTraceback(PyObjectRef obj)
        {
            ArgumentNullException.ThrowIfNull(obj);
            TracemallocSnapshot one;
            using (var lease = new HandleLease(obj))   // the object lives until the call returns
            {
                nint address = lease.Value;
                one = TracemallocSnapshot.Create(output => Native.TracemallocGetObjectTraceback((PhnObject*)address, (PhnSnapshot**)output));
            }
            using var owned = one;
            var traces = owned.GetTraces();
            return traces.Count == 0 ? null : traces[0].Traceback;
        }
    }
}
