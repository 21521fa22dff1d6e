// Snapshots and their statistics (Lib/tracemalloc.py: Snapshot, Statistic, StatisticDiff,
// Filter, DomainFilter). These are managed objects behind handles: C receives a GCHandle
// address, checked against the live handles before every use, and reads frames through
// native arrays the object owns until it is freed.
using System.Runtime.InteropServices;
using System.Text;

namespace PyHeapNative.Core.Tracing;

/// <summary>A frame as the snapshot API sees it.</summary>
internal readonly record struct FrameKey(string File, uint Line) : IComparable<FrameKey>
{
    public int CompareTo(FrameKey other)
    {
        int c = string.CompareOrdinal(File, other.File);
        return c != 0 ? c : Line.CompareTo(other.Line);
    }
}

/// <summary>A traceback: frames most recent first. Compared as Python compares Traceback
/// objects: the tuples of frames oldest first.</summary>
internal sealed class TracebackKey : IEquatable<TracebackKey>, IComparable<TracebackKey>
{
    public readonly FrameKey[] Frames;
    public readonly ushort Total;
    private readonly int _hash;

    public TracebackKey(FrameKey[] frames, ushort total)
    {
        Frames = frames;
        Total = total;
        var h = new HashCode();
        foreach (FrameKey f in frames)
            h.Add(f);
        _hash = h.ToHashCode();
    }

    public bool Equals(TracebackKey? other) => other != null && Frames.AsSpan().SequenceEqual(other.Frames);
    public override bool Equals(object? obj) => Equals(obj as TracebackKey);
    public override int GetHashCode() => _hash;

    public int CompareTo(TracebackKey? other)
    {
        if (other == null)
            return 1;
        // Oldest first: walk both from the end.
        int n = Math.Min(Frames.Length, other.Frames.Length);
        for (int i = 1; i <= n; i++)
        {
            int c = Frames[^i].CompareTo(other.Frames[^i]);
            if (c != 0)
                return c;
        }
        return Frames.Length.CompareTo(other.Frames.Length);
    }
}

internal readonly record struct SnapshotTrace(uint Domain, ulong Size, TracebackKey Traceback);

/// <summary>Native strings and frame arrays owned by a snapshot or a statistics list.</summary>
internal sealed unsafe class NativeFrames : IDisposable
{
    private readonly Dictionary<string, nint> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<TracebackKey, nint> _arrays = new();

    public PhnFrame* ArrayOf(TracebackKey tb)
    {
        if (_arrays.TryGetValue(tb, out nint a))
            return (PhnFrame*)a;
        var frames = (PhnFrame*)NativeMemory.AllocZeroed((nuint)Math.Max(tb.Frames.Length, 1), (nuint)sizeof(PhnFrame));
        for (int i = 0; i < tb.Frames.Length; i++)
            frames[i] = new PhnFrame { Filename = StringOf(tb.Frames[i].File), Lineno = tb.Frames[i].Line };
        _arrays[tb] = (nint)frames;
        return frames;
    }

    private byte* StringOf(string s)
    {
        if (!_strings.TryGetValue(s, out nint p))
            _strings[s] = p = Marshal.StringToCoTaskMemUTF8(s);
        return (byte*)p;
    }

    public void Dispose()
    {
        foreach (nint p in _arrays.Values)
            NativeMemory.Free((void*)p);
        foreach (nint p in _strings.Values)
            Marshal.FreeCoTaskMem(p);
        _arrays.Clear();
        _strings.Clear();
    }
}

/// <summary>The C struct phn_trace.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PhnTrace
{
    public uint Domain;
    public uint NFrame;
    public uint TotalNFrame;
    public uint Reserved;
    public ulong Size;
    public PhnFrame* Frames;
}

/// <summary>The C struct phn_statistic.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PhnStatistic
{
    public PhnFrame* Frames;
    public uint NFrame;
    public uint TotalNFrame;
    public ulong Size;
    public ulong Count;
    public long SizeDiff;
    public long CountDiff;
}

/// <summary>The C struct phn_filter.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PhnFilter
{
    public int Inclusive;
    public int AllFrames;
    public byte* FilenamePattern;
    public int Lineno;
    public long Domain;
}

internal sealed record StatisticEntry(TracebackKey Traceback, ulong Size, ulong Count, long SizeDiff, long CountDiff);

internal sealed class StatisticsList : IDisposable
{
    public readonly StatisticEntry[] Entries;
    public readonly NativeFrames Native = new();

    public StatisticsList(StatisticEntry[] entries) => Entries = entries;

    public void Dispose() => Native.Dispose();
}

internal sealed class Snapshot : IDisposable
{
    internal const int KeyFilename = 0, KeyLineno = 1, KeyTraceback = 2;

    public readonly SnapshotTrace[] Traces;
    public readonly int TracebackLimit;
    public readonly NativeFrames Native = new();

    public Snapshot(SnapshotTrace[] traces, int limit)
    {
        Traces = traces;
        TracebackLimit = limit;
    }

    public void Dispose() => Native.Dispose();

    /// <summary>tracemalloc.take_snapshot().</summary>
    internal static Snapshot Take()
    {
        var tracebacks = new Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)>();
        return Of(Tracer.CopyTraces(tracebacks), tracebacks);
    }

    /// <summary>The trace of one block (_PyTraceMalloc_GetTraceback), as a snapshot of it
    /// alone, or of none.</summary>
    internal static Snapshot OfBlock(uint domain, nuint address)
    {
        var tracebacks = new Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)>();
        return Of(Tracer.CopyTraceOf(domain, address, tracebacks), tracebacks);
    }

    private static Snapshot Of(List<(uint Domain, ulong Size, nint Traceback)> raw,
        Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)> tracebacks)
    {
        var keys = new Dictionary<nint, TracebackKey>();
        foreach (var (tb, value) in tracebacks)
            keys[tb] = new TracebackKey(Array.ConvertAll(value.Frames, f => new FrameKey(f.File, f.Line)), value.Total);
        var traces = new SnapshotTrace[raw.Count];
        for (int i = 0; i < raw.Count; i++)
            traces[i] = new SnapshotTrace(raw[i].Domain, raw[i].Size, keys[raw[i].Traceback]);
        return new Snapshot(traces, Tracer.TracebackLimit);
    }

    // ---- statistics ------------------------------------------------------------------------

    /// <summary>Snapshot._group_by; null with a message for a bad key or cumulative use.</summary>
    internal Dictionary<TracebackKey, (ulong Size, ulong Count)>? GroupBy(int keyType, bool cumulative, out string? error)
    {
        error = null;
        if (keyType is not (KeyFilename or KeyLineno or KeyTraceback))
        {
            error = $"unknown key_type: {keyType}";
            return null;
        }
        if (cumulative && keyType == KeyTraceback)
        {
            error = "cumulative mode cannot by used with key type 'traceback'";
            return null;
        }
        var stats = new Dictionary<TracebackKey, (ulong, ulong)>();
        var keys = new Dictionary<object, TracebackKey>();
        void Add(TracebackKey key, ulong size)
        {
            stats.TryGetValue(key, out var s);
            stats[key] = (s.Item1 + size, s.Item2 + 1);
        }
        TracebackKey KeyOfFrame(FrameKey frame)
        {
            var f = keyType == KeyFilename ? frame with { Line = 0 } : frame;
            if (!keys.TryGetValue(f, out TracebackKey? k))
                keys[f] = k = new TracebackKey([f], 1);
            return k;
        }
        foreach (SnapshotTrace t in Traces)
        {
            if (cumulative)
            {
                foreach (FrameKey frame in t.Traceback.Frames)
                    Add(KeyOfFrame(frame), t.Size);
            }
            else if (keyType == KeyTraceback)
                Add(t.Traceback, t.Size);
            else
                Add(KeyOfFrame(t.Traceback.Frames[0]), t.Size);
        }
        return stats;
    }

    internal StatisticsList? Statistics(int keyType, bool cumulative, out string? error)
    {
        var groups = GroupBy(keyType, cumulative, out error);
        if (groups == null)
            return null;
        var list = groups.Select(g => new StatisticEntry(g.Key, g.Value.Size, g.Value.Count, 0, 0)).ToList();
        // (size, count, traceback) descending
        list.Sort((a, b) =>
        {
            int c = b.Size.CompareTo(a.Size);
            if (c == 0) c = b.Count.CompareTo(a.Count);
            return c != 0 ? c : b.Traceback.CompareTo(a.Traceback);
        });
        return new StatisticsList([.. list]);
    }

    internal StatisticsList? CompareTo(Snapshot old, int keyType, bool cumulative, out string? error)
    {
        var newGroups = GroupBy(keyType, cumulative, out error);
        var oldGroups = old.GroupBy(keyType, cumulative, out error);
        if (newGroups == null || oldGroups == null)
            return null;
        var list = new List<StatisticEntry>();
        foreach (var (tb, s) in newGroups)
        {
            if (oldGroups.Remove(tb, out var previous))
                list.Add(new StatisticEntry(tb, s.Size, s.Count, (long)s.Size - (long)previous.Size, (long)s.Count - (long)previous.Count));
            else
                list.Add(new StatisticEntry(tb, s.Size, s.Count, (long)s.Size, (long)s.Count));
        }
        foreach (var (tb, s) in oldGroups)
            list.Add(new StatisticEntry(tb, 0, 0, -(long)s.Size, -(long)s.Count));
        // (|size_diff|, size, |count_diff|, count, traceback) descending
        list.Sort((a, b) =>
        {
            int c = Math.Abs(b.SizeDiff).CompareTo(Math.Abs(a.SizeDiff));
            if (c == 0) c = b.Size.CompareTo(a.Size);
            if (c == 0) c = Math.Abs(b.CountDiff).CompareTo(Math.Abs(a.CountDiff));
            if (c == 0) c = b.Count.CompareTo(a.Count);
            return c != 0 ? c : b.Traceback.CompareTo(a.Traceback);
        });
        return new StatisticsList([.. list]);
    }

    // ---- filters ---------------------------------------------------------------------------

    internal readonly record struct Filter(bool Inclusive, bool AllFrames, string? Pattern, int Lineno, long Domain)
    {
        private bool MatchFrameImpl(FrameKey f) =>
            FnMatch(NormalizeFilename(f.File), Pattern!) && (Lineno < 0 || f.Line == (uint)Lineno);

        private bool MatchTraceback(TracebackKey tb)
        {
            if (AllFrames)
                return tb.Frames.Any(MatchFrameImpl) ? Inclusive : !Inclusive;
            return MatchFrameImpl(tb.Frames[0]) ^ !Inclusive;
        }

        public bool Match(in SnapshotTrace t)
        {
            if (Pattern == null)   // DomainFilter
                return (t.Domain == Domain) ^ !Inclusive;
            bool res = MatchTraceback(t.Traceback);
            if (Domain >= 0)
                return Inclusive ? res && t.Domain == Domain : res || t.Domain != Domain;
            return res;
        }
    }

    internal Snapshot FilterTraces(Filter[] filters)
    {
        if (filters.Length == 0)
            return new Snapshot((SnapshotTrace[])Traces.Clone(), TracebackLimit);
        var include = filters.Where(f => f.Inclusive).ToArray();
        var exclude = filters.Where(f => !f.Inclusive).ToArray();
        var kept = Traces.Where(t =>
            (include.Length == 0 || include.Any(f => f.Match(t))) &&
            !exclude.Any(f => !f.Match(t))).ToArray();
        return new Snapshot(kept, TracebackLimit);
    }

    private static string NormalizeFilename(string name) => name.EndsWith(".pyc", StringComparison.Ordinal) ? name[..^1] : name;

    /// <summary>fnmatch.fnmatchcase: *, ?, [seq], [!seq].</summary>
    internal static bool FnMatch(string name, string pattern)
    {
        pattern = NormalizeFilename(pattern);
        int n = 0, p = 0, starP = -1, starN = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starN = n;
                continue;
            }
            if (p < pattern.Length && MatchOne(name[n], pattern, ref p))
            {
                n++;
                continue;
            }
            if (starP < 0)
                return false;
            p = starP + 1;
            n = ++starN;
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }

    private static bool MatchOne(char c, string pattern, ref int p)
    {
        char pc = pattern[p];
        if (pc == '?')
        {
            p++;
            return true;
        }
        if (pc == '[')
        {
            int i = p + 1;
            bool negate = i < pattern.Length && pattern[i] == '!';
            if (negate)
                i++;
            int start = i;
            bool matched = false;
            while (i < pattern.Length && (pattern[i] != ']' || i == start))
            {
                if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
                {
                    matched |= c >= pattern[i] && c <= pattern[i + 2];
                    i += 3;
                }
                else
                    matched |= c == pattern[i++];
            }
            if (i >= pattern.Length)
            {
                // No closing bracket: '[' is literal.
                if (c != '[')
                    return false;
                p++;
                return true;
            }
            p = i + 1;
            return matched != negate;
        }
        if (pc != c)
            return false;
        p++;
        return true;
    }

    // ---- dump / load -----------------------------------------------------------------------

    private static readonly byte[] Magic = "PHNSNAP1"u8.ToArray();

    internal void Dump(string path)
    {
        using var w = new BinaryWriter(File.Create(path), Encoding.UTF8);
        w.Write(Magic);
        w.Write(TracebackLimit);
        var ids = new Dictionary<TracebackKey, int>();
        var order = new List<TracebackKey>();
        foreach (SnapshotTrace t in Traces)
            if (ids.TryAdd(t.Traceback, order.Count))
                order.Add(t.Traceback);
        w.Write(order.Count);
        foreach (TracebackKey tb in order)
        {
            w.Write(tb.Total);
            w.Write(tb.Frames.Length);
            foreach (FrameKey f in tb.Frames)
            {
                w.Write(f.File);
                w.Write(f.Line);
            }
        }
        w.Write(Traces.Length);
        foreach (SnapshotTrace t in Traces)
        {
            w.Write(t.Domain);
            w.Write(t.Size);
            w.Write(ids[t.Traceback]);
        }
    }

    internal static Snapshot Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException($"{path} is not a PyHeapNative snapshot");
        int limit = r.ReadInt32();
        int ntb = r.ReadInt32();
        if (ntb < 0)
            throw new InvalidDataException("bad traceback count");
        var tbs = new TracebackKey[ntb];
        for (int i = 0; i < ntb; i++)
        {
            ushort total = r.ReadUInt16();
            int nf = r.ReadInt32();
            if (nf < 1 || nf > Frames.MaxFrames)
                throw new InvalidDataException("bad frame count");
            var frames = new FrameKey[nf];
            for (int f = 0; f < nf; f++)
                frames[f] = new FrameKey(r.ReadString(), r.ReadUInt32());
            tbs[i] = new TracebackKey(frames, total);
        }
        int n = r.ReadInt32();
        if (n < 0)
            throw new InvalidDataException("bad trace count");
        var traces = new SnapshotTrace[n];
        for (int i = 0; i < n; i++)
        {
            uint domain = r.ReadUInt32();
            ulong size = r.ReadUInt64();
            int id = r.ReadInt32();
            if ((uint)id >= (uint)ntb)
                throw new InvalidDataException("bad traceback index");
            traces[i] = new SnapshotTrace(domain, size, tbs[id]);
        }
        return new Snapshot(traces, limit);
    }
}

/// <summary>The handles given to C for snapshots and statistics lists: checked before use.</summary>
internal static class Handles
{
    private static readonly HashSet<nint> s_live = new();
    private static readonly Lock s_lock = new();

    internal static nint Create(object o)
    {
        nint h = GCHandle.ToIntPtr(GCHandle.Alloc(o));
        lock (s_lock)
            s_live.Add(h);
        return h;
    }

    internal static T? Get<T>(nint h) where T : class
    {
        lock (s_lock)
            if (!s_live.Contains(h))
                return null;
        return GCHandle.FromIntPtr(h).Target as T;
    }

    /// <summary>Frees a live handle to a T; null (and nothing freed) for anything else.</summary>
    internal static T? Free<T>(nint h) where T : class
    {
        lock (s_lock)
        {
            if (!s_live.Contains(h) || GCHandle.FromIntPtr(h).Target is not T o)
                return null;
            s_live.Remove(h);
            GCHandle.FromIntPtr(h).Free();
            return o;
        }
    }
}
