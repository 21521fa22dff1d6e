// The idiomatic collector API (PyHeap.Gc) over the same scenarios as GcTests: collect's result,
// enable/disable, counts, thresholds, stats, freeze, debug flags and output, callbacks (an
// event with a phase enum and an info record), garbage, the listings and the error mapping.
// CollectorFixture saves and restores the native state around each test; RestoreManagedState
// removes what this fixture adds on the managed side (callback handlers, the debug output).
namespace PyHeapNative.Tests;

/// <summary>Types made with PyType.Define, once for the process (types are never freed).</summary>
internal static class ApiTypes
{
    private static readonly Lazy<PyType> s_node = new(() => PyType.Define("ApiNode", slots: 2, gc: true, weakrefable: true));
    private static readonly Lazy<PyType> s_leaf = new(() => PyType.Define("ApiLeaf", slots: 0, gc: false, weakrefable: true));
    private static readonly Lazy<PyType> s_plain = new(() => PyType.Define("ApiPlain", slots: 1, gc: true));

    /// <summary>GC, weak-referenceable, two slots.</summary>
    public static PyType Node => s_node.Value;

    /// <summary>Not GC, weak-referenceable, no slot.</summary>
    public static PyType Leaf => s_leaf.Value;

    /// <summary>GC, not weak-referenceable, one slot.</summary>
    public static PyType Plain => s_plain.Value;

    /// <summary>a[0] = b, b[0] = a, both handles disposed: cyclic garbage. Returns a weak reference to a.</summary>
    public static PyWeakRef MakeGarbageCycle()
    {
        using PyObjectRef a = Node.New(), b = Node.New();
        a[0] = b;
        b[0] = a;
        return PyWeakRef.Create(a);
    }
}

[TestFixture]
public sealed class GcApiTests : CollectorFixture
{
    private readonly List<GcCallback> _handlers = [];
    private readonly List<Action<Exception>> _exceptionHandlers = [];

    [TearDown]
    public void RestoreManagedState()
    {
        foreach (GcCallback h in _handlers)
            PyHeap.Gc.Callbacks -= h;
        _handlers.Clear();
        foreach (Action<Exception> h in _exceptionHandlers)
            PyHeap.CallbackException -= h;
        _exceptionHandlers.Clear();
        PyHeap.Gc.DebugOutput = null;
        PyHeap.Gc.Debug = GcDebugFlags.None;
    }

    private void Subscribe(GcCallback handler)
    {
        PyHeap.Gc.Callbacks += handler;
        _handlers.Add(handler);
    }

    private void OnCallbackException(Action<Exception> handler)
    {
        PyHeap.CallbackException += handler;
        _exceptionHandlers.Add(handler);
    }

    // ------------------------------------------------------------------ collect

    [Test]
    public void CollectReturnsTheNumberOfUnreachableObjects()
    {
        using PyWeakRef w = ApiTypes.MakeGarbageCycle();
        Assert.That(w.IsAlive, Is.True, "reference counting cannot free a cycle");
        Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2));
        Assert.That(w.IsAlive, Is.False);
        Assert.That(PyHeap.Gc.Collect(), Is.Zero, "nothing left");
    }

    [Test]
    public void ACycleHeldFromDotNetIsReachable()
    {
        using PyObjectRef a = ApiTypes.Node.New();
        using (PyObjectRef b = ApiTypes.Node.New())
        {
            a[0] = b;
            b[0] = a;
        }
        Assert.That(PyHeap.Gc.Collect(), Is.Zero, "the handle is an external reference");
        Assert.That(a.RefCount, Is.EqualTo(2), "the handle and b's slot");
        using PyWeakRef w = PyWeakRef.Create(a);
        a.Dispose();
        Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2));
        Assert.That(w.IsAlive, Is.False);
    }

    [TestCase(3)]
    [TestCase(-1)]
    public void CollectOfAnInvalidGenerationIsAnArgumentException(int generation)
    {
        var e = Assert.Throws<ArgumentException>(() => PyHeap.Gc.Collect(generation));
        Assert.That(e!.Message, Does.Contain("invalid generation"));
        Assert.That(e.Message, Is.EqualTo(PyHeap.LastErrorMessage), "the exception carries phn_last_error_message()");
        Assert.That(e.Data["PyHeapStatus"], Is.EqualTo(PyHeapStatus.InvalidArgument));
    }

    // ------------------------------------------------------------------ state

    [Test]
    public void EnableAndDisable()
    {
        Assert.That(PyHeap.Gc.IsEnabled, Is.False, "disabled by SetUp");
        PyHeap.Gc.Enable();
        Assert.That(PyHeap.Gc.IsEnabled, Is.True);
        PyHeap.Gc.Disable();
        Assert.That(PyHeap.Gc.IsEnabled, Is.False);
    }

    [Test]
    public void CountFollowsTrackedObjectsAndCollections()
    {
        Assert.That(PyHeap.Gc.GetCount(), Is.EqualTo(new GcCounts(0, 0, 0)));
        using (PyObjectRef a = ApiTypes.Node.New())
        {
            Assert.That(PyHeap.Gc.GetCount().Generation0, Is.EqualTo(1));
            using PyObjectRef leaf = ApiTypes.Leaf.New();
            Assert.That(PyHeap.Gc.GetCount().Generation0, Is.EqualTo(1), "a non-GC object is not counted");
        }
        Assert.That(PyHeap.Gc.GetCount().Generation0, Is.Zero);
        PyHeap.Gc.Collect(0);
        Assert.That(PyHeap.Gc.GetCount(), Is.EqualTo(new GcCounts(0, 1, 0)));
        PyHeap.Gc.Collect(1);
        Assert.That(PyHeap.Gc.GetCount(), Is.EqualTo(new GcCounts(0, 0, 1)));
    }

    [Test]
    public void ThresholdRoundTripsAndSetThresholdKeepsOmittedValues()
    {
        Assert.That(PyHeap.Gc.Threshold, Is.EqualTo(new GcThresholds(2000, 10, 10)));
        PyHeap.Gc.Threshold = new GcThresholds(100, 5, 3);
        Assert.That(PyHeap.Gc.Threshold, Is.EqualTo(new GcThresholds(100, 5, 3)));
        PyHeap.Gc.SetThreshold(50);
        Assert.That(PyHeap.Gc.Threshold, Is.EqualTo(new GcThresholds(50, 5, 3)));
        PyHeap.Gc.SetThreshold(60, 7);
        var (t0, t1, t2) = PyHeap.Gc.Threshold;
        Assert.That((t0, t1, t2), Is.EqualTo((60, 7, 3)));
    }

    [Test]
    public void AutomaticCollectionFollowsTheThreshold()
    {
        using PyWeakRef w = ApiTypes.MakeGarbageCycle();
        PyHeap.Gc.SetThreshold(10);
        PyHeap.Gc.Enable();
        var kept = new List<PyObjectRef>();
        try
        {
            for (int i = 0; i < 20 && w.IsAlive; i++)
                kept.Add(ApiTypes.Node.New());
        }
        finally
        {
            PyHeap.Gc.Disable();
            kept.ForEach(k => k.Dispose());
        }
        Assert.That(w.IsAlive, Is.False, "an automatic collection inside New() found the cycle");
        Assert.That(kept, Has.Count.LessThanOrEqualTo(10));
    }

    [Test]
    public void StatsAreRecordsPerGeneration()
    {
        IReadOnlyList<GcGenerationStats> before = PyHeap.Gc.GetStats();
        Assert.That(before.Select(s => s.Generation), Is.EqualTo(new[] { 0, 1, 2 }));
        using (ApiTypes.MakeGarbageCycle())
            Assert.That(PyHeap.Gc.Collect(0), Is.EqualTo(2));
        IReadOnlyList<GcGenerationStats> after = PyHeap.Gc.GetStats();
        Assert.That(after[0].Collections - before[0].Collections, Is.EqualTo(1));
        Assert.That(after[0].Collected - before[0].Collected, Is.EqualTo(2));
        Assert.That(after[0].Candidates - before[0].Candidates, Is.GreaterThanOrEqualTo(2));
        Assert.That(after[0].Duration, Is.GreaterThanOrEqualTo(before[0].Duration));
        Assert.That(after[1], Is.EqualTo(before[1]), "records compare by value");
        Assert.That(after[2].Collections, Is.EqualTo(before[2].Collections));
    }

    [Test]
    public void FrozenGarbageWaitsForUnfreeze()
    {
        using PyWeakRef w = ApiTypes.MakeGarbageCycle();
        Assert.That(PyHeap.Gc.FreezeCount, Is.Zero);
        PyHeap.Gc.Freeze();
        try
        {
            Assert.That(PyHeap.Gc.FreezeCount, Is.GreaterThanOrEqualTo(2));
            Assert.That(PyHeap.Gc.GetCount(), Is.EqualTo(new GcCounts(0, 0, 0)));
            Assert.That(PyHeap.Gc.Collect(), Is.Zero, "no collection examines the permanent generation");
            Assert.That(w.IsAlive, Is.True);
        }
        finally
        {
            PyHeap.Gc.Unfreeze();
        }
        Assert.That(PyHeap.Gc.FreezeCount, Is.Zero);
        Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2));
    }

    // ------------------------------------------------------------------ debug

    [Test]
    public void DebugFlagsRoundTripWithUnknownBits()
    {
        Assert.That((int)GcDebugFlags.Leak, Is.EqualTo(38));
        Assert.That(GcDebugFlags.Leak, Is.EqualTo(GcDebugFlags.Collectable | GcDebugFlags.Uncollectable | GcDebugFlags.SaveAll));
        PyHeap.Gc.Debug = GcDebugFlags.Stats | (GcDebugFlags)0x100;
        Assert.That(PyHeap.Gc.Debug, Is.EqualTo(GcDebugFlags.Stats | (GcDebugFlags)0x100));
        Assert.That(Native.GcGetDebug(), Is.EqualTo(0x101));
    }

    [Test]
    public void DebugOutputReceivesLines()
    {
        var lines = new List<string>();
        PyHeap.Gc.DebugOutput = lines.Add;
        PyHeap.Gc.Debug = GcDebugFlags.Stats | GcDebugFlags.Collectable;
        using (ApiTypes.MakeGarbageCycle())
            PyHeap.Gc.Collect(0);
        PyHeap.Gc.Debug = GcDebugFlags.None;
        Assert.That(lines, Is.Not.Empty);
        Assert.That(lines[0], Does.StartWith("gc: collecting generation 0"));
        Assert.That(lines, Has.Some.Match(@"^gc: collectable <ApiNode 0x[0-9a-f]+>$"));
        Assert.That(lines, Has.None.Contains("\n"));

        PyHeap.Gc.DebugOutput = null;
        Assert.That(PyHeap.Gc.DebugOutput, Is.Null);
        int count = lines.Count;
        PyHeap.Gc.Collect(0);   // no debug flag: nothing anyway
        Assert.That(lines, Has.Count.EqualTo(count));
    }

    // ------------------------------------------------------------------ callbacks

    [Test]
    public void CallbacksSeeStartAndStopInOrder()
    {
        var seen = new List<(string Who, GcPhase Phase, GcCallbackInfo Info)>();
        long nested = -1;
        GcCallback first = (phase, info) => seen.Add(("first", phase, info));
        GcCallback second = (phase, info) =>
        {
            seen.Add(("second", phase, info));
            nested = PyHeap.Gc.Collect();
        };
        Subscribe(first);
        Subscribe(second);

        using (ApiTypes.MakeGarbageCycle())
            Assert.That(PyHeap.Gc.Collect(1), Is.EqualTo(2));

        Assert.That(seen.Select(s => (s.Who, s.Phase)), Is.EqualTo(new[]
        {
            ("first", GcPhase.Start), ("second", GcPhase.Start), ("first", GcPhase.Stop), ("second", GcPhase.Stop),
        }));
        Assert.That(seen.Select(s => s.Info.Generation), Is.All.EqualTo(1));
        Assert.That(seen[0].Info, Is.EqualTo(new GcCallbackInfo(1, 0, 0, 0, TimeSpan.Zero)), "at start everything is 0");
        Assert.That(seen[2].Info.Collected, Is.EqualTo(2));
        Assert.That(seen[2].Info.Candidates, Is.GreaterThanOrEqualTo(2));
        Assert.That(nested, Is.Zero, "Collect from a callback returns 0");

        PyHeap.Gc.Callbacks -= first;
        PyHeap.Gc.Callbacks -= second;
        _handlers.Clear();
        seen.Clear();
        PyHeap.Gc.Collect(0);
        Assert.That(seen, Is.Empty, "unsubscribed");
    }

    [Test]
    public void AThrowingCallbackIsReportedAndTheOthersStillRun()
    {
        var reported = new List<Exception>();
        OnCallbackException(reported.Add);
        int secondCalls = 0;
        Subscribe((phase, info) => throw new InvalidOperationException($"boom at {phase}"));
        Subscribe((phase, info) => secondCalls++);

        Assert.That(PyHeap.Gc.Collect(0), Is.Zero);

        Assert.That(secondCalls, Is.EqualTo(2));
        Assert.That(reported.Select(e => e.Message), Is.EqualTo(new[] { "boom at Start", "boom at Stop" }));
    }

    // ------------------------------------------------------------------ garbage and listings

    [Test]
    public void SaveAllKeepsUnreachableObjectsInTheGarbageList()
    {
        nint addressA, addressB;
        using (PyObjectRef a = ApiTypes.Node.New(), b = ApiTypes.Node.New())
        {
            a[0] = b;
            b[0] = a;
            (addressA, addressB) = (a.Address, b.Address);
        }
        PyHeap.Gc.Debug = GcDebugFlags.SaveAll;
        Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2));
        PyHeap.Gc.Debug = GcDebugFlags.None;

        Assert.That(PyHeap.Gc.GarbageCount, Is.EqualTo(2));
        IReadOnlyList<PyObjectRef> garbage = PyHeap.Gc.GetGarbage();
        try
        {
            Assert.That(garbage.Select(g => g.Address), Is.EquivalentTo(new[] { addressA, addressB }), "saved, not freed");
            Assert.That(garbage.Select(g => g.Type.Name), Is.All.EqualTo("ApiNode"));
            Assert.That(garbage.Select(g => g.RefCount), Is.All.EqualTo(3), "the list, the other's slot and this handle");
        }
        finally
        {
            foreach (PyObjectRef g in garbage)
                g.Dispose();
        }
        PyHeap.Gc.ClearGarbage();
        Assert.That(PyHeap.Gc.GarbageCount, Is.Zero);
        Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2), "collectable again once out of the list");
    }

    [Test]
    public void ListingsReturnOwnedReferences()
    {
        using PyObjectRef a = ApiTypes.Node.New(), b = ApiTypes.Node.New(), leaf = ApiTypes.Leaf.New();
        a[1] = b;
        b[0] = leaf;

        IReadOnlyList<PyObjectRef> referents = PyHeap.Gc.GetReferents(a);
        Assert.That(referents, Is.EqualTo(new[] { b }));
        Assert.That(b.RefCount, Is.EqualTo(3), "b's handle, a's slot and the listing's handle");
        referents[0].Dispose();
        Assert.That(b.RefCount, Is.EqualTo(2));

        using (var disposer = new Disposer(PyHeap.Gc.GetReferents(a, b)))
            Assert.That(disposer.Items, Is.EqualTo(new[] { b, leaf }), "visit order, objects in argument order");
        using (var disposer = new Disposer(PyHeap.Gc.GetReferrers(b)))
            Assert.That(disposer.Items, Is.EqualTo(new[] { a }));
        using (var disposer = new Disposer(PyHeap.Gc.GetReferrers(leaf)))
            Assert.That(disposer.Items, Is.EqualTo(new[] { b }));
        using (var disposer = new Disposer(PyHeap.Gc.GetObjects(0)))
        {
            Assert.That(disposer.Items, Does.Contain(a).And.Contain(b));
            Assert.That(disposer.Items, Does.Not.Contain(leaf), "non-GC objects are not tracked");
        }
        using (var disposer = new Disposer(PyHeap.Gc.GetObjects()))
            Assert.That(disposer.Items, Does.Contain(a));

        Assert.That(PyHeap.Gc.IsTracked(a), Is.True);
        Assert.That(a.IsTracked, Is.True);
        Assert.That(leaf.IsTracked, Is.False);
        Assert.That(a.IsGc, Is.True);
        Assert.That(leaf.IsGc, Is.False);
        Assert.That(a.IsFinalized, Is.False, "a layout type has no finalizer");
    }

    [Test]
    public void GetObjectsRejectsBadGenerations()
    {
        Assert.That(() => PyHeap.Gc.GetObjects(3), Throws.InstanceOf<ArgumentException>()
            .With.Message.Contains("generation parameter must be less than the number of available generations (3)"));
        Assert.That(() => PyHeap.Gc.GetObjects(-1), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public unsafe void IsFinalizedFollowsTheFinalizerOfACallbackType()
    {
        // A type with a PEP 442 finalizer, made through the raw bindings (GcSupport), used through the handle API.
        using PyObjectRef o = PyObjectRef.FromNewReference((nint)Nodes.New(Nodes.Callback));
        Assert.That(o.Type.Name, Is.EqualTo("CNode"));
        Assert.That(o.SlotCount, Is.Zero, "a type not made by PyType.Define has no known slots");
        Assert.That(() => o[0], Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(o.IsFinalized, Is.False);
        Assert.That(Native.ObjectCallFinalizer((PhnObject*)o.Address), Is.EqualTo(Native.PHN_OK));
        Assert.That(o.IsFinalized, Is.True);
        Assert.That(Nodes.Log.Finalizes, Is.EqualTo(1));
    }

    private sealed class Disposer(IReadOnlyList<PyObjectRef> items) : IDisposable
    {
        public IReadOnlyList<PyObjectRef> Items { get; } = items;

        public void Dispose()
        {
            foreach (PyObjectRef o in Items)
                o.Dispose();
        }
    }
}
