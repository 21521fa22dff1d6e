// GcBenchmarks.cs - a full collection (generation 2) of a ring of 10,000 layout-described
// GC objects built through the bindings, against the same ring and collector in-process.
// Automatic collection is off while they run, so that only the measured collections run.
//   GcSurvivorBenchmarks: the ring is held from outside; every collection examines it and
//                         keeps it (the old generation collected again: "all survive").
//   GcGarbageBenchmarks:  the ring is built before each invocation and its last outside
//                         reference dropped; the collection finds and frees all of it.
// Times are per collection; divide by 10,000 for ns per object.
using BenchmarkDotNet.Attributes;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;
using PyHeapNative.Interop;
using CoreObject = PyHeapNative.Core.Objects.PhnObject;
using CoreObjects = PyHeapNative.Core.Objects.Objects;
using LibObject = PyHeapNative.Interop.PhnObject;

namespace PyHeapNative.Benchmarks;

public abstract unsafe class GcBenchmarkBase
{
    public const int RingSize = 10_000;
    private int _libWasEnabled;
    private bool _coreWasEnabled;

    protected void DisableAutomaticCollection()
    {
        Library.Ensure();
        InProcessHeap.Ensure();
        _libWasEnabled = Native.GcDisable();
        _coreWasEnabled = Generations.Enabled;
        Generations.Enabled = false;
        Native.GcCollect(2);
        Collector.Collect(2, Collector.Manual);
    }

    protected void RestoreAutomaticCollection()
    {
        if (_libWasEnabled != 0)
            Native.GcEnable();
        Generations.Enabled = _coreWasEnabled;
    }

    protected static void Expect(long found, long expected, string what)
    {
        if (found != expected)
            throw new InvalidOperationException($"{what}: {found} unreachable objects, expected {expected}");
    }
}

[MemoryDiagnoser]
public unsafe class GcSurvivorBenchmarks : GcBenchmarkBase
{
    private LibObject* _libRoot;
    private CoreObject* _coreRoot;

    [GlobalSetup]
    public void Setup()
    {
        DisableAutomaticCollection();
        _libRoot = Rings.BuildInLibrary(RingSize);
        _coreRoot = Rings.BuildInProcess(RingSize);
        Expect(Native.GcCollect(2), 0, "phn_gc_collect(2), ring held");
        Expect(Collector.Collect(2, Collector.Manual), 0, "Collector.Collect(2), ring held");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Native.Decref(_libRoot);
        Expect(Native.GcCollect(2), RingSize, "phn_gc_collect(2), ring dropped");
        CoreObjects.DecRef(_coreRoot);
        Expect(Collector.Collect(2, Collector.Manual), RingSize, "Collector.Collect(2), ring dropped");
        RestoreAutomaticCollection();
    }

    [Benchmark(Baseline = true, Description = "P/Invoke phn_gc_collect(2), 10k ring survives")]
    public long PInvokeCollect() => Native.GcCollect(2);

    [Benchmark(Description = "in-process Collector.Collect(2), 10k ring survives")]
    public long InProcessCollect() => Collector.Collect(2, Collector.Manual);
}

[MemoryDiagnoser]
[InvocationCount(1, 1)]
public unsafe class GcGarbageBenchmarks : GcBenchmarkBase
{
    [GlobalSetup]
    public void Setup()
    {
        DisableAutomaticCollection();
        // One invocation per iteration calls the in-process collector a handful of times:
        // too few for tiered compilation to replace its first, unoptimized code. Warm it up
        // on small rings first (30 calls promote a method, tier 1 compiles in the background).
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 40; i++)
            {
                CoreObjects.DecRef(Rings.BuildInProcess(64));
                Expect(Collector.Collect(2, Collector.Manual), 64, "Collector.Collect(2), warm-up ring");
                Native.Decref(Rings.BuildInLibrary(64));
                Expect(Native.GcCollect(2), 64, "phn_gc_collect(2), warm-up ring");
            }
            Thread.Sleep(250);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => RestoreAutomaticCollection();

    [IterationSetup(Target = nameof(PInvokeCollect))]
    public void BuildInLibrary() => Native.Decref(Rings.BuildInLibrary(RingSize));

    [IterationSetup(Target = nameof(InProcessCollect))]
    public void BuildInProcess() => CoreObjects.DecRef(Rings.BuildInProcess(RingSize));

    [Benchmark(Baseline = true, Description = "P/Invoke phn_gc_collect(2), 10k ring is garbage")]
    public long PInvokeCollect()
    {
        long n = Native.GcCollect(2);
        Expect(n, RingSize, "phn_gc_collect(2), ring dropped");
        return n;
    }

    [Benchmark(Description = "in-process Collector.Collect(2), 10k ring is garbage")]
    public long InProcessCollect()
    {
        long n = Collector.Collect(2, Collector.Manual);
        Expect(n, RingSize, "Collector.Collect(2), ring dropped");
        return n;
    }
}
