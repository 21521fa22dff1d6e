// tracemalloc through the P/Invoke bindings (phn_trace.h; spec-allocator.md §4 and §7 items
// 40-48, reliability.md §8 goal 8). native-tests/test_trace.c has the exhaustive cases; these
// show that Native carries them: start/stop, exact traced memory, track/untrack codes,
// snapshots and their statistics with a frame provider written in C#, filters, dump/load and
// bad handles. The test process shares one library instance with every other fixture, so
// each test stops tracing and removes its frame provider in TearDown.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class TraceTests
{
    private const string RangeMessage = "the number of frames must be in range [1; 65535]";
    private const string SnapshotMessage = "the tracemalloc module must be tracing memory allocations to take a snapshot";
    private const string CumulativeMessage = "cumulative mode cannot by used with key type 'traceback'";

    [OneTimeSetUp]
    public void StartsWithPymalloc()
    {
        Assert.That(Native.Init(), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        Native.TracemallocStop();
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "these tests expect the default configuration");
    }

    [TearDown]
    public void StopTracing()
    {
        Assert.That(Native.TracemallocSetFrameProvider(null, null), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocStop(), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocIsTracing(), Is.Zero);
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "stop restores the allocators");
        Heap.AssertValid();
    }

    // ------------------------------------------------------------------ helpers

    private static (ulong Current, ulong Peak) Traced()
    {
        nuint current = 12345, peak = 12345;
        Assert.That(Native.TracemallocGetTracedMemory(&current, &peak), Is.EqualTo(Native.PHN_OK));
        return (current, peak);
    }

    private static PhnSnapshot* TakeSnapshot()
    {
        PhnSnapshot* s = null;
        Assert.That(Native.TracemallocTakeSnapshot(&s), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        Assert.That((long)(nint)s, Is.Not.Zero);
        return s;
    }

    private static string Text(byte* utf8) => Marshal.PtrToStringUTF8((nint)utf8) ?? "(null)";

    private static string Frames(PhnFrame* frames, uint n) =>
        string.Join("<", Enumerable.Range(0, (int)n).Select(i => $"{Text(frames[i].Filename)}:{frames[i].Lineno}"));

    private static List<(uint Domain, ulong Size, string Frames, uint Total)> Traces(PhnSnapshot* s)
    {
        long n = Native.SnapshotTraceCount(s);
        Assert.That(n, Is.GreaterThanOrEqualTo(0), Heap.LastError);
        var list = new List<(uint, ulong, string, uint)>();
        for (long i = 0; i < n; i++)
        {
            PhnTrace t;
            Assert.That(Native.SnapshotGetTrace(s, i, &t), Is.EqualTo(Native.PHN_OK), Heap.LastError);
            list.Add((t.Domain, t.Size, Frames(t.Frames, t.NFrame), t.TotalNFrame));
        }
        return list;
    }

    /// <summary>"frames size=S count=C" (plus " diff=D/E" for compare_to) lines, in list order.</summary>
    private static List<string> Statistics(PhnSnapshot* s, int key, bool cumulative = false, PhnSnapshot* old = null)
    {
        PhnStatistics* st = null;
        int rc = old == null
            ? Native.SnapshotStatistics(s, key, cumulative ? 1 : 0, &st)
            : Native.SnapshotCompareTo(s, old, key, cumulative ? 1 : 0, &st);
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), Heap.LastError);
        try
        {
            var lines = new List<string>();
            long n = Native.StatisticsCount(st);
            for (long i = 0; i < n; i++)
            {
                PhnStatistic x;
                Assert.That(Native.StatisticsGet(st, i, &x), Is.EqualTo(Native.PHN_OK), Heap.LastError);
                string line = $"{Frames(x.Frames, x.NFrame)} size={x.Size} count={x.Count}";
                if (old != null)
                    line += $" diff={x.SizeDiff:+0;-0;+0}/{x.CountDiff:+0;-0;+0}";
                else
                    Assert.That((x.SizeDiff, x.CountDiff), Is.EqualTo((0L, 0L)), "statistics have no diffs");
                lines.Add(line);
            }
            return lines;
        }
        finally
        {
            Native.StatisticsFree(st);
        }
    }

    // ------------------------------------------------------------------ a frame provider in C#

    private static readonly List<(nint File, uint Line)> s_frames = [];
    private static int s_total;
    private static int s_providerCalls;
    private static readonly Dictionary<string, nint> s_names = [];   // UTF-8 copies, kept for the process

    private static nint Utf8(string s)
    {
        lock (s_names)
        {
            if (!s_names.TryGetValue(s, out nint p))
                s_names[s] = p = Marshal.StringToCoTaskMemUTF8(s);
            return p;
        }
    }

    private static void SetFrames(int total, params (string File, uint Line)[] frames)
    {
        s_frames.Clear();
        foreach (var (file, line) in frames)
            s_frames.Add((Utf8(file), line));
        s_total = total;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Provider(void* ctx, PhnFrame* frames, int max, int* total)
    {
        s_providerCalls++;
        int n = Math.Min(s_frames.Count, max);
        for (int i = 0; i < n; i++)
            frames[i] = new PhnFrame { Filename = (byte*)s_frames[i].File, Lineno = s_frames[i].Line };
        *total = s_total != 0 ? s_total : s_frames.Count;
        return n;
    }

    private static void InstallProvider() =>
        Assert.That(Native.TracemallocSetFrameProvider(&Provider, null), Is.EqualTo(Native.PHN_OK));

    private static void* MallocAt(string file, uint line, nuint size)
    {
        SetFrames(0, (file, line));
        return Native.MemMalloc(size);
    }

    // ------------------------------------------------------------------ start / stop

    // 40
    [TestCase(0)]
    [TestCase(65536)]
    [TestCase(-1)]
    [TestCase(int.MaxValue)]
    public void StartOutOfRangeIsInvalidWithCPythonsMessage(int nframe)
    {
        Native.ClearError();
        Assert.That(Native.TracemallocStart(nframe), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Is.EqualTo(RangeMessage));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.TracemallocIsTracing(), Is.Zero);
    }

    // 41
    [Test]
    public void SecondStartKeepsTheLimit()
    {
        Assert.That(Native.TracemallocStart(3), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocStart(10), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocGetTracebackLimit(), Is.EqualTo(3));
        Assert.That(Native.TracemallocStop(), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocGetTracebackLimit(), Is.EqualTo(3), "kept after stop");
        Assert.That(Native.TracemallocStart(Native.PHN_TRACEMALLOC_MAX_NFRAME), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocGetTracebackLimit(), Is.EqualTo(65535));
    }

    [Test]
    public void StopRestoresTheAllocatorsBitForBit()
    {
        var before = new PhnAllocator[3];
        for (int d = 0; d < 3; d++)
        {
            fixed (PhnAllocator* p = &before[d])
                Native.GetAllocator(d, p);
        }
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        Assert.That(Heap.AllocatorName, Is.Null, "the tracer's wrappers are installed");
        Assert.That(Native.TracemallocStop(), Is.EqualTo(Native.PHN_OK));
        for (int d = 0; d < 3; d++)
        {
            PhnAllocator now;
            Native.GetAllocator(d, &now);
            Assert.That(new ReadOnlySpan<byte>(&now, sizeof(PhnAllocator)).SequenceEqual(
                MemoryMarshal.AsBytes(new ReadOnlySpan<PhnAllocator>(before, d, 1))), Is.True, Heap.Name(d));
        }
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"));
    }

    // ------------------------------------------------------------------ traced memory

    // 42, 43
    [Test]
    public void TrackAndUntrackReturnCPythonsCodes()
    {
        int local;
        nuint addr = (nuint)(&local);
        Assert.That(Native.TracemallocTrack(7, addr, 10), Is.EqualTo(-2), "not tracing");
        Assert.That(Native.TracemallocUntrack(7, addr), Is.EqualTo(-2), "not tracing");
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TracemallocTrack(7, addr, 100), Is.Zero);
        Assert.That(Native.TracemallocTrack(7, addr, 300), Is.Zero, "replaces");
        Assert.That(Traced(), Is.EqualTo((300UL, 300UL)));
        PhnSnapshot* s = TakeSnapshot();
        try
        {
            Assert.That(Traces(s).Where(t => t.Domain == 7).Select(t => t.Size), Is.EqualTo(new[] { 300UL }));
            var filter = new PhnFilter { Inclusive = 1, FilenamePattern = null, Lineno = Native.PHN_FILTER_ANY_LINE, Domain = 7 };
            PhnSnapshot* only = null;
            Assert.That(Native.SnapshotFilterTraces(s, &filter, 1, &only), Is.EqualTo(Native.PHN_OK), Heap.LastError);
            Assert.That(Traces(only).Select(t => (t.Domain, t.Size)), Is.EqualTo(new[] { (7u, 300UL) }));
            Native.SnapshotFree(only);
        }
        finally
        {
            Native.SnapshotFree(s);
        }
        Assert.That(Native.TracemallocUntrack(7, addr), Is.Zero);
        Assert.That(Native.TracemallocUntrack(7, addr), Is.Zero, "again");
        Assert.That(Native.TracemallocUntrack(99, addr + 8), Is.Zero, "unknown");
        Assert.That(Traced(), Is.EqualTo((0UL, 300UL)));
    }

    // 44, 45
    [Test]
    public void CountersFollowCPython()
    {
        Assert.That(Traced(), Is.EqualTo((0UL, 0UL)), "not tracing");
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        void* big = Native.ObjMalloc(100_000);
        Assert.That(Traced(), Is.EqualTo((100_000UL, 100_000UL)), "a RAW fallback is traced once");
        void* a = Native.MemMalloc(1000);
        Native.ObjFree(big);
        Assert.That(Traced(), Is.EqualTo((1000UL, 101_000UL)), "the peak survives frees");
        Assert.That(Native.TracemallocResetPeak(), Is.EqualTo(Native.PHN_OK));
        Assert.That(Traced(), Is.EqualTo((1000UL, 1000UL)));
        Assert.That(Native.TracemallocClearTraces(), Is.EqualTo(Native.PHN_OK));
        Assert.That(Traced(), Is.EqualTo((0UL, 0UL)));
        Native.MemFree(a);
        Assert.That(Traced(), Is.EqualTo((0UL, 0UL)), "an untraced free changes nothing");
    }

    // reliability goal 8
    [Test]
    public void RandomOperationsAreTracedExactly()
    {
        var rng = new Random(2024);
        var live = new Dictionary<int, (int Domain, nint Ptr, nuint Size)>();
        ulong model = 0, peak = 0;
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        nuint tables0 = Native.TracemallocGetTracemallocMemory();
        try
        {
            for (int step = 0; step < 20_000; step++)
            {
                int slot = rng.Next(300);
                nuint size = rng.Next(8) switch
                {
                    0 => 0,
                    1 => (nuint)rng.Next(513, 5000),
                    2 => 100_000,
                    _ => (nuint)rng.Next(1, 513),
                };
                int op = rng.Next(4);
                if (live.TryGetValue(slot, out var b) && op != 2)
                {
                    Heap.Free(b.Domain, (void*)b.Ptr);
                    live.Remove(slot);
                    model -= b.Size;
                }
                else if (op == 2)
                {
                    (int Domain, nint Ptr, nuint Size) old = live.TryGetValue(slot, out var o) ? o : (rng.Next(3), 0, 0);
                    void* p = Heap.Realloc(old.Domain, (void*)old.Ptr, size);
                    Assert.That((long)(nint)p, Is.Not.Zero);
                    live[slot] = (old.Domain, (nint)p, size);
                    model = model - old.Size + size;
                }
                else if (op == 3)
                {
                    int d = rng.Next(3);
                    nuint n = (nuint)rng.Next(40), e = (nuint)rng.Next(40);
                    live[slot] = (d, (nint)Heap.Calloc(d, n, e), n * e);
                    model += n * e;
                }
                else
                {
                    int d = rng.Next(3);
                    live[slot] = (d, (nint)Heap.Malloc(d, size), size);
                    model += size;
                }
                peak = Math.Max(peak, model);
                if (step % 1000 == 999)
                {
                    Native.TracemallocResetPeak();
                    peak = model;
                }
                var traced = Traced();
                if (traced != (model, peak))
                    Assert.Fail($"after step {step}: traced {traced}, model ({model}, {peak})");
            }
            PhnSnapshot* s = TakeSnapshot();
            var traces = Traces(s);
            Native.SnapshotFree(s);
            Assert.That(traces, Has.Count.EqualTo(live.Count));
            Assert.That(traces.Aggregate(0UL, (sum, t) => sum + t.Size), Is.EqualTo(model));
            Assert.That(Native.TracemallocGetTracemallocMemory(), Is.GreaterThan(tables0), "the tracer's tables grew...");
            Assert.That(Traced().Current, Is.EqualTo(model), "...without being traced");
        }
        finally
        {
            foreach (var b in live.Values)
                Heap.Free(b.Domain, (void*)b.Ptr);
        }
        Assert.That(Traced().Current, Is.Zero);
    }

    // Traced pymalloc blocks of 1..496 bytes keep their trace in a 16-byte header (pymalloc's
    // traced heap): the tracer's memory grows by exactly that per block from one call site
    // (no table grows, the traceback is interned once), and the blocks outlive tracing.
    [Test]
    public void TracesOfSmallBlocksAreHeadersThatOutliveTracing()
    {
        const int N = 1000;
        ulong blocks0 = Heap.Stats().AllocatedBlocks;
        var ptrs = new nint[N];
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        nuint memory1 = 0;
        for (int i = 0; i < N; i++)
        {
            ptrs[i] = (nint)Native.MemMalloc(100);   // one call site: its traceback is interned once
            if (i == 0)
                memory1 = Native.TracemallocGetTracemallocMemory();
        }
        Assert.That(Traced().Current, Is.EqualTo(100UL * N));
        Assert.That(Native.TracemallocGetTracemallocMemory() - memory1, Is.EqualTo((nuint)(16 * (N - 1))), "16 bytes per trace, nothing else");
        PhnSnapshot* s = TakeSnapshot();
        var traces = Traces(s);
        Native.SnapshotFree(s);
        Assert.That(traces, Has.Count.EqualTo(N));
        Assert.That(traces.All(t => t.Domain == 0 && t.Size == 100), Is.True);
        Assert.That(Native.TracemallocStop(), Is.EqualTo(Native.PHN_OK));
        Heap.AssertValid();
        for (int i = 0; i < N; i += 2)
            ptrs[i] = (nint)Native.MemRealloc((void*)ptrs[i], 90);   // in place, after tracing
        foreach (nint p in ptrs)
            Native.MemFree((void*)p);
        Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(blocks0), "every block went back to its pool");
    }

    // ------------------------------------------------------------------ snapshots

    // 46
    [Test]
    public void TakeSnapshotWhileStoppedIsInvalidState()
    {
        PhnSnapshot* s = (PhnSnapshot*)0x1234;
        Assert.That(Native.TracemallocTakeSnapshot(&s), Is.EqualTo(Native.PHN_ESTATE));
        Assert.That((long)(nint)s, Is.Zero);
        Assert.That(Heap.LastError, Is.EqualTo(SnapshotMessage));
    }

    // 47
    [Test]
    public void StatisticsRejectCumulativeTracebackAndUnknownKeys()
    {
        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        PhnSnapshot* s = TakeSnapshot();
        try
        {
            PhnStatistics* st = null;
            Assert.That(Native.SnapshotStatistics(s, Native.PHN_KEY_TRACEBACK, 1, &st), Is.EqualTo(Native.PHN_EINVAL));
            Assert.That(Heap.LastError, Is.EqualTo(CumulativeMessage));
            Assert.That(Native.SnapshotStatistics(s, 3, 0, &st), Is.EqualTo(Native.PHN_EINVAL));
            Assert.That(Heap.LastError, Does.StartWith("unknown key_type"));
            Assert.That((long)(nint)st, Is.Zero);
        }
        finally
        {
            Native.SnapshotFree(s);
        }
    }

    // 48, 49
    [Test]
    public void StatisticsAndCompareToWithAFrameProvider()
    {
        InstallProvider();
        Assert.That(Native.TracemallocStart(4), Is.EqualTo(Native.PHN_OK));
        var blocks = new List<nint>
        {
            (nint)MallocAt("a.py", 1, 100), (nint)MallocAt("a.py", 1, 100), (nint)MallocAt("b.py", 1, 200), (nint)MallocAt("c.py", 5, 200),
        };
        void* a2 = MallocAt("a.py", 2, 300);
        PhnSnapshot* old = TakeSnapshot();
        PhnSnapshot* now = null;
        try
        {
            Assert.That(Statistics(old, Native.PHN_KEY_LINENO), Is.EqualTo(new[]
            {
                "a.py:2 size=300 count=1", "a.py:1 size=200 count=2", "c.py:5 size=200 count=1", "b.py:1 size=200 count=1",
            }));
            Assert.That(Statistics(old, Native.PHN_KEY_FILENAME), Is.EqualTo(new[]
            {
                "a.py:0 size=500 count=3", "c.py:0 size=200 count=1", "b.py:0 size=200 count=1",
            }));
            Native.MemFree(a2);
            blocks.Add((nint)MallocAt("d.py", 1, 50));
            blocks.Add((nint)MallocAt("a.py", 1, 100));
            now = TakeSnapshot();
            Assert.That(Statistics(now, Native.PHN_KEY_LINENO, old: old), Is.EqualTo(new[]
            {
                "a.py:2 size=0 count=0 diff=-300/-1",
                "a.py:1 size=300 count=3 diff=+100/+1",
                "d.py:1 size=50 count=1 diff=+50/+1",
                "c.py:5 size=200 count=1 diff=+0/+0",
                "b.py:1 size=200 count=1 diff=+0/+0",
            }));

            // frames most recent first, total_nframe, and no frame at all
            SetFrames(9, ("inner.py", 3), ("middle.py", 2), ("outer.py", 1));
            blocks.Add((nint)Native.MemMalloc(11));
            SetFrames(0);
            blocks.Add((nint)Native.MemMalloc(12));
            PhnSnapshot* s = TakeSnapshot();
            var traces = Traces(s).Where(t => t.Size is 11 or 12).ToDictionary(t => t.Size);
            Native.SnapshotFree(s);
            Assert.That(traces[11].Frames, Is.EqualTo("inner.py:3<middle.py:2<outer.py:1"));
            Assert.That(traces[11].Total, Is.EqualTo(9u));
            Assert.That(traces[12].Frames, Is.EqualTo("<unknown>:0"));
            Assert.That(s_providerCalls, Is.GreaterThanOrEqualTo(8));
        }
        finally
        {
            Native.SnapshotFree(old);
            Native.SnapshotFree(now);
            foreach (nint p in blocks)
                Native.MemFree((void*)p);
        }
    }

    [Test]
    public void FiltersAndDumpLoad()
    {
        InstallProvider();
        Assert.That(Native.TracemallocStart(2), Is.EqualTo(Native.PHN_OK));
        var blocks = new List<nint> { (nint)MallocAt("app.py", 10, 1), (nint)MallocAt("app.py", 20, 2) };
        SetFrames(0, ("lib/util.py", 5), ("app.py", 30));
        blocks.Add((nint)Native.MemMalloc(4));
        blocks.Add((nint)MallocAt("lib/uti1.py", 7, 8));
        PhnSnapshot* s = TakeSnapshot();
        string dir = Repo.NewScratchDir("trace");
        try
        {
            ulong Kept(params (int Inclusive, int AllFrames, string? Pattern, int Lineno)[] filters)
            {
                var native = new PhnFilter[filters.Length];
                for (int i = 0; i < filters.Length; i++)
                {
                    native[i] = new PhnFilter
                    {
                        Inclusive = filters[i].Inclusive,
                        AllFrames = filters[i].AllFrames,
                        FilenamePattern = filters[i].Pattern == null ? null : (byte*)Utf8(filters[i].Pattern!),
                        Lineno = filters[i].Lineno,
                        Domain = Native.PHN_FILTER_ANY_DOMAIN,
                    };
                }
                PhnSnapshot* f = null;
                fixed (PhnFilter* pf = native)
                    Assert.That(Native.SnapshotFilterTraces(s, pf, native.Length, &f), Is.EqualTo(Native.PHN_OK), Heap.LastError);
                ulong sum = Traces(f).Aggregate(0UL, (acc, t) => acc + t.Size);
                Native.SnapshotFree(f);
                return sum;
            }
            const int Any = Native.PHN_FILTER_ANY_LINE;
            Assert.That(Kept(), Is.EqualTo(15UL));
            Assert.That(Kept((1, 0, "app.py", Any)), Is.EqualTo(3UL));
            Assert.That(Kept((1, 1, "app.py", Any)), Is.EqualTo(7UL));
            Assert.That(Kept((1, 0, "app.py", 20)), Is.EqualTo(2UL));
            Assert.That(Kept((1, 0, "lib/uti?.py", Any)), Is.EqualTo(12UL));
            Assert.That(Kept((1, 0, "lib/uti[0-9].py", Any)), Is.EqualTo(8UL));
            Assert.That(Kept((1, 0, "*.py", Any), (0, 0, "lib/*", Any)), Is.EqualTo(3UL));

            string path = Path.Combine(dir, "snap.bin");
            byte* p = (byte*)Utf8(path);
            Assert.That(Native.SnapshotDump(s, p), Is.EqualTo(Native.PHN_OK), Heap.LastError);
            PhnSnapshot* loaded = null;
            Assert.That(Native.SnapshotLoad(p, &loaded), Is.EqualTo(Native.PHN_OK), Heap.LastError);
            try
            {
                Assert.That(Traces(loaded).Order(), Is.EqualTo(Traces(s).Order()));
                Assert.That(Native.SnapshotTracebackLimit(loaded), Is.EqualTo(2));
                foreach (int key in new[] { Native.PHN_KEY_FILENAME, Native.PHN_KEY_LINENO, Native.PHN_KEY_TRACEBACK })
                    Assert.That(Statistics(loaded, key), Is.EqualTo(Statistics(s, key)), $"key {key}");
            }
            finally
            {
                Native.SnapshotFree(loaded);
            }
        }
        finally
        {
            Native.SnapshotFree(s);
            foreach (nint b in blocks)
                Native.MemFree((void*)b);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void BadHandlesAreInvalidNotACrash()
    {
        int local = 0;
        PhnTrace t;
        PhnStatistic x;
        Assert.That(Native.SnapshotTraceCount(null), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Native.SnapshotGetTrace(null, 0, &t), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.StatisticsCount(null), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Native.StatisticsGet(null, 0, &x), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.SnapshotTraceCount((PhnSnapshot*)&local), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Native.StatisticsCount((PhnStatistics*)&local), Is.EqualTo((long)Native.PHN_EINVAL));

        Assert.That(Native.TracemallocStart(1), Is.EqualTo(Native.PHN_OK));
        PhnSnapshot* s = TakeSnapshot();
        Assert.That(Native.SnapshotGetTrace(s, 0, &t), Is.EqualTo(Native.PHN_EINVAL), "index out of range");
        Native.SnapshotFree(s);
        Assert.That(Native.SnapshotTraceCount(s), Is.EqualTo((long)Native.PHN_EINVAL), "freed");
        Native.ClearError();
        Native.SnapshotFree(s);
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL), "freed twice");
        Native.ClearError();
        Native.SnapshotFree(null);
        Native.StatisticsFree(null);
        Assert.That(Native.LastErrorCode(), Is.Zero, "freeing NULL is not an error");
        Assert.That(local, Is.Zero);
    }

    [Test]
    public void StructLayoutsMatchTheCApi()
    {
        Assert.That(sizeof(PhnFrame), Is.EqualTo(16));
        Assert.That(sizeof(PhnTrace), Is.EqualTo(32));
        Assert.That(sizeof(PhnFilter), Is.EqualTo(32));
        Assert.That(sizeof(PhnStatistic), Is.EqualTo(48));
        Assert.That(Marshal.OffsetOf<PhnFilter>(nameof(PhnFilter.Domain)), Is.EqualTo((nint)24));
        Assert.That(Marshal.OffsetOf<PhnTrace>(nameof(PhnTrace.Frames)), Is.EqualTo((nint)24));
    }
}
