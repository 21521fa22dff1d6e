// The idiomatic tracemalloc API (PyHeap.Tracemalloc, TracemallocSnapshot): start/stop, exact
// traced memory, snapshots as owned handles, statistics and comparisons as records, filters,
// dump/load and the errors. TraceTests covers the native semantics in depth; these tests check
// that the managed API carries them. Tracing is stopped after each test.
namespace PyHeapNative.Tests;

[TestFixture]
public sealed class TracemallocApiTests
{
    private const uint ForeignDomain = 7;

    [OneTimeSetUp]
    public void DefaultConfiguration()
    {
        PyHeap.Initialize();
        PyHeap.Tracemalloc.Stop();
        Assert.That(PyHeap.AllocatorName, Is.EqualTo("pymalloc"), "these tests expect the default configuration");
    }

    [SetUp]
    public void NoPendingFinalizers()
    {
        // Handles of earlier tests released by the finalizer thread would change the traced memory.
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    [TearDown]
    public void StopTracing()
    {
        PyHeap.Tracemalloc.Stop();
        Assert.That(PyHeap.Tracemalloc.IsTracing, Is.False);
        Assert.That(PyHeap.AllocatorName, Is.EqualTo("pymalloc"), "stop restores the allocators");
        Heap.AssertValid();
    }

    [Test]
    public void StartAndStop()
    {
        Assert.That(PyHeap.Tracemalloc.IsTracing, Is.False);
        Assert.That(PyHeap.Tracemalloc.GetTracedMemory(), Is.EqualTo((0L, 0L)), "(0, 0) when not tracing");
        PyHeap.Tracemalloc.Start(5);
        Assert.That(PyHeap.Tracemalloc.IsTracing, Is.True);
        Assert.That(PyHeap.Tracemalloc.TracebackLimit, Is.EqualTo(5));
        PyHeap.Tracemalloc.Start(9);
        Assert.That(PyHeap.Tracemalloc.TracebackLimit, Is.EqualTo(5), "already tracing: nothing changes");
        long tables = PyHeap.Tracemalloc.TracemallocMemory;
        var blocks = Enumerable.Range(0, 2000).Select(_ => PyHeap.Obj.Allocate(8)).ToList();
        Assert.That(PyHeap.Tracemalloc.TracemallocMemory, Is.GreaterThan(tables), "the tracer's own tables grew");
        blocks.ForEach(b => b.Dispose());
        PyHeap.Tracemalloc.Stop();
        Assert.That(PyHeap.Tracemalloc.IsTracing, Is.False);
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(PyHeap.Tracemalloc.MaxFrames + 1)]
    public void StartOutOfRangeIsAnArgumentException(int frames)
    {
        var e = Assert.Throws<ArgumentException>(() => PyHeap.Tracemalloc.Start(frames));
        Assert.That(e!.Message, Is.EqualTo("the number of frames must be in range [1; 65535]"));
        Assert.That(PyHeap.Tracemalloc.IsTracing, Is.False);
    }

    [Test]
    public void TracedMemoryIsExact()
    {
        PyHeap.Tracemalloc.Start();
        var (current0, _) = PyHeap.Tracemalloc.GetTracedMemory();
        using (PyHeapBlock block = PyHeap.Obj.Allocate(1000))
        {
            var (current1, peak1) = PyHeap.Tracemalloc.GetTracedMemory();
            Assert.That(current1 - current0, Is.EqualTo(1000));
            Assert.That(peak1, Is.GreaterThanOrEqualTo(current1));
            block.Resize(3000);
            Assert.That(PyHeap.Tracemalloc.GetTracedMemory().Current - current0, Is.EqualTo(3000));
        }
        var (current2, peak2) = PyHeap.Tracemalloc.GetTracedMemory();
        Assert.That(current2, Is.EqualTo(current0));
        Assert.That(peak2, Is.GreaterThanOrEqualTo(current0 + 3000));
        PyHeap.Tracemalloc.ResetPeak();
        Assert.That(PyHeap.Tracemalloc.GetTracedMemory().Peak, Is.EqualTo(current2));
        PyHeap.Tracemalloc.ClearTraces();
        Assert.That(PyHeap.Tracemalloc.GetTracedMemory(), Is.EqualTo((0L, 0L)));
    }

    [Test]
    public void TakeSnapshotWhenNotTracingIsAnInvalidOperation()
    {
        var e = Assert.Throws<InvalidOperationException>(() => PyHeap.Tracemalloc.TakeSnapshot());
        Assert.That(e!.Message, Is.EqualTo("the tracemalloc module must be tracing memory allocations to take a snapshot"));
        Assert.That(e.Data["PyHeapStatus"], Is.EqualTo(PyHeapStatus.InvalidState));
    }

    [Test]
    public void SnapshotStatisticsAddUpToTheTracedMemory()
    {
        PyHeap.Tracemalloc.Start(3);
        var blocks = Enumerable.Range(0, 10).Select(_ => PyHeap.Mem.Allocate(100)).ToList();
        try
        {
            using TracemallocSnapshot snapshot = PyHeap.Tracemalloc.TakeSnapshot();
            long current = PyHeap.Tracemalloc.GetTracedMemory().Current;
            Assert.That(snapshot.TracebackLimit, Is.EqualTo(3));
            Assert.That(snapshot.TraceCount, Is.GreaterThanOrEqualTo(10));

            IReadOnlyList<TracemallocTrace> traces = snapshot.GetTraces();
            Assert.That(traces, Has.Count.EqualTo(snapshot.TraceCount));
            Assert.That(traces.Sum(t => t.Size), Is.EqualTo(current));
            Assert.That(traces.Count(t => t.Size == 100), Is.GreaterThanOrEqualTo(10));
            Assert.That(traces.Select(t => t.Domain), Is.All.EqualTo((uint)Native.PHN_TRACE_DOMAIN_DEFAULT));
            Assert.That(traces.Select(t => t.Traceback.Count), Is.All.InRange(1, 3));

            foreach (TracemallocGroupBy key in Enum.GetValues<TracemallocGroupBy>())
            {
                IReadOnlyList<TracemallocStatistic> stats = snapshot.Statistics(key);
                Assert.That(stats.Sum(s => s.Size), Is.EqualTo(current), $"{key}");
                Assert.That(stats.Sum(s => s.Count), Is.EqualTo(traces.Count), $"{key}");
                Assert.That(stats.Select(s => s.Size), Is.Ordered.Descending, $"{key}");
            }
            Assert.That(snapshot.Statistics(TracemallocGroupBy.Filename).Select(s => s.Traceback[0].Lineno), Is.All.Zero,
                "grouping by file reports line 0");
            Assert.That(snapshot.Statistics(TracemallocGroupBy.Lineno, cumulative: true).Sum(s => s.Size), Is.GreaterThanOrEqualTo(current));
            Assert.That(snapshot.Statistics(TracemallocGroupBy.Lineno)[0].ToString(),
                Does.Match(@"^.+:\d+: size=\d+(\.\d)? (B|KiB|MiB), count=\d+, average=\d+(\.\d)? (B|KiB)$"));

            var e = Assert.Throws<ArgumentException>(() => snapshot.Statistics(TracemallocGroupBy.Traceback, cumulative: true));
            Assert.That(e!.Message, Is.EqualTo("cumulative mode cannot by used with key type 'traceback'"));
            Assert.That(() => snapshot.Statistics((TracemallocGroupBy)9), Throws.InstanceOf<ArgumentException>().With.Message.EqualTo("unknown key_type: 9"));
        }
        finally
        {
            blocks.ForEach(b => b.Dispose());
        }
    }

    [Test]
    public void CompareToReportsTheDifferences()
    {
        PyHeap.Tracemalloc.Start();
        using TracemallocSnapshot before = PyHeap.Tracemalloc.TakeSnapshot();
        long current0 = PyHeap.Tracemalloc.GetTracedMemory().Current;
        var blocks = Enumerable.Range(0, 5).Select(_ => PyHeap.Raw.Allocate(2000)).ToList();
        try
        {
            using TracemallocSnapshot after = PyHeap.Tracemalloc.TakeSnapshot();
            long current1 = PyHeap.Tracemalloc.GetTracedMemory().Current;
            IReadOnlyList<TracemallocStatisticDiff> diff = after.CompareTo(before, TracemallocGroupBy.Traceback);
            Assert.That(diff.Sum(d => d.SizeDiff), Is.EqualTo(current1 - current0));
            Assert.That(diff.Sum(d => d.Size), Is.EqualTo(current1));
            Assert.That(diff.Select(d => Math.Abs(d.SizeDiff)), Is.Ordered.Descending);
            Assert.That(diff[0].SizeDiff, Is.GreaterThanOrEqualTo(2000));
            Assert.That(diff[0].ToString(), Does.Match(@": size=.+ \(\+.+\), count=\d+ \(\+\d+\), average="));

            IReadOnlyList<TracemallocStatisticDiff> back = before.CompareTo(after, TracemallocGroupBy.Lineno);
            Assert.That(back.Sum(d => d.SizeDiff), Is.EqualTo(current0 - current1));
        }
        finally
        {
            blocks.ForEach(b => b.Dispose());
        }
    }

    [Test]
    public void FiltersDumpAndLoad()
    {
        PyHeap.Tracemalloc.Start(2);
        const nuint Address = 0x7000_0000;
        Assert.That(PyHeap.Tracemalloc.Track(ForeignDomain, Address, 4096), Is.True);
        using PyHeapBlock keep = PyHeap.Obj.Allocate(48);
        using TracemallocSnapshot all = PyHeap.Tracemalloc.TakeSnapshot();
        Assert.That(PyHeap.Tracemalloc.Untrack(ForeignDomain, Address), Is.True);

        using (TracemallocSnapshot only = all.FilterTraces(TracemallocFilter.ForDomain(true, ForeignDomain)))
        {
            IReadOnlyList<TracemallocTrace> traces = only.GetTraces();
            Assert.That(traces.Select(t => (t.Domain, t.Size)), Is.EqualTo(new[] { (ForeignDomain, 4096L) }));
        }
        using (TracemallocSnapshot without = all.FilterTraces(TracemallocFilter.ForDomain(false, ForeignDomain)))
            Assert.That(without.TraceCount, Is.EqualTo(all.TraceCount - 1));
        using (TracemallocSnapshot copy = all.FilterTraces())
            Assert.That(copy.TraceCount, Is.EqualTo(all.TraceCount), "no filter: a copy");
        using (TracemallocSnapshot any = all.FilterTraces(new TracemallocFilter(true, "*", AllFrames: true)))
            Assert.That(any.TraceCount, Is.EqualTo(all.TraceCount));
        using (TracemallocSnapshot none = all.FilterTraces(new TracemallocFilter(true, "no such file", Lineno: 1)))
            Assert.That(none.TraceCount, Is.Zero);

        string dir = Repo.NewScratchDir("tracemalloc-api");
        try
        {
            string path = Path.Combine(dir, "snapshot.bin");
            all.Dump(path);
            using TracemallocSnapshot loaded = TracemallocSnapshot.Load(path);
            Assert.That(loaded.TracebackLimit, Is.EqualTo(2));
            Assert.That(loaded.GetTraces(), Is.EquivalentTo(all.GetTraces()), "records and tracebacks compare by value");
            Assert.That(loaded.Statistics(TracemallocGroupBy.Traceback), Is.EqualTo(all.Statistics(TracemallocGroupBy.Traceback)));
            Assert.That(() => TracemallocSnapshot.Load(path + ".missing"),
                Throws.TypeOf<InvalidOperationException>().With.Message.StartsWith("phn_snapshot_load: "));
            File.WriteAllText(path, "not a snapshot");
            Assert.That(() => TracemallocSnapshot.Load(path), Throws.TypeOf<InvalidOperationException>().With.Message.Contains("is not a PyHeapNative snapshot"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void TrackWhenNotTracingReturnsFalse()
    {
        Assert.That(PyHeap.Tracemalloc.Track(ForeignDomain, 0x1000, 10), Is.False);
        Assert.That(PyHeap.Tracemalloc.Untrack(ForeignDomain, 0x1000), Is.False);
        Assert.That(() => PyHeap.Tracemalloc.Track(ForeignDomain, 0, 10), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void ASnapshotIsAnOwnedHandle()
    {
        PyHeap.Tracemalloc.Start();
        TracemallocSnapshot s = PyHeap.Tracemalloc.TakeSnapshot();
        Assert.That(s.IsInvalid, Is.False);
        long n = s.TraceCount;
        Assert.That(n, Is.GreaterThanOrEqualTo(0));
        s.Dispose();
        Assert.That(s.IsClosed, Is.True);
        Assert.That(() => s.TraceCount, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => s.Statistics(TracemallocGroupBy.Lineno), Throws.TypeOf<ObjectDisposedException>());
        Assert.DoesNotThrow(s.Dispose);
    }

    // _PyTraceMalloc_GetTraceback and tracemalloc.get_object_traceback
    [Test]
    public void OneBlocksAndOneObjectsTraceback()
    {
        using PyHeapBlock before = PyHeap.Mem.Allocate(100);
        Assert.That(PyHeap.Tracemalloc.GetTraceback(0, (nuint)before.Address), Is.Null, "not tracing");
        PyHeap.Tracemalloc.Start(2);
        Assert.That(PyHeap.Tracemalloc.GetTraceback(0, (nuint)before.Address), Is.Null, "allocated before the start");
        using PyHeapBlock small = PyHeap.Mem.Allocate(100);   // its trace in its header
        using PyHeapBlock large = PyHeap.Obj.Allocate(5000);  // its trace in the table
        var type = PyType.Define("TracebackNode", slots: 1, gc: true);
        using PyObjectRef obj = type.New();
        IReadOnlyList<TracemallocTrace> all;
        using (TracemallocSnapshot s = PyHeap.Tracemalloc.TakeSnapshot())
            all = s.GetTraces();
        TracemallocTraceback? smallTb = PyHeap.Tracemalloc.GetTraceback(0, (nuint)small.Address);
        TracemallocTraceback? largeTb = PyHeap.Tracemalloc.GetTraceback(0, (nuint)large.Address);
        TracemallocTraceback? objectTb = PyHeap.Tracemalloc.GetObjectTraceback(obj);
        Assert.That(smallTb, Is.Not.Null);
        Assert.That(largeTb, Is.Not.Null);
        Assert.That(objectTb, Is.Not.Null);
        Assert.That(all.Any(t => t.Size == 100 && t.Traceback.Equals(smallTb)), Is.True, "the snapshot's trace of the 100-byte block");
        Assert.That(all.Any(t => t.Size == 5000 && t.Traceback.Equals(largeTb)), Is.True);
        Assert.That(all.Any(t => t.Traceback.Equals(objectTb)), Is.True);
        Assert.That(PyHeap.Tracemalloc.GetTraceback(0, (nuint)obj.Address), Is.Null, "a GC object's block starts at its header, before it");
        Assert.That(PyHeap.Tracemalloc.GetTraceback(0, (nuint)small.Address + 16), Is.Null, "inside a block");
        Assert.That(() => PyHeap.Tracemalloc.GetObjectTraceback(null!), Throws.ArgumentNullException);
    }

    [Test]
    public void TracebacksAndFramesCompareByValue()
    {
        var a = new TracemallocTraceback([new TracemallocFrame("a.py", 1), new TracemallocFrame("b.py", 2)], 5);
        var b = new TracemallocTraceback([new TracemallocFrame("a.py", 1), new TracemallocFrame("b.py", 2)], 2);
        Assert.That(a, Is.EqualTo(b), "frames decide, as CPython's Traceback");
        Assert.That(a.GetHashCode(), Is.EqualTo(b.GetHashCode()));
        Assert.That(a.ToString(), Is.EqualTo("a.py:1"));
        Assert.That(a.Format(), Is.EqualTo(new[] { "  File \"a.py\", line 1", "  File \"b.py\", line 2" }));
        Assert.That(new TracemallocStatistic(a, 12345, 3).ToString(), Is.EqualTo("a.py:1: size=12.1 KiB, count=3, average=4115 B"));
        Assert.That(new TracemallocStatisticDiff(a, 2048, 1024, 2, 1).ToString(),
            Is.EqualTo("a.py:1: size=2048 B (+1024 B), count=2 (+1), average=1024 B"));
    }
}
