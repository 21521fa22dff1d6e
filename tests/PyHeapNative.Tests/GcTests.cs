// The generational cyclic collector through the bindings (phn_gc.h; spec-gc.md §6, §10, §11,
// §16): collect's return value for layout-described and callback-described cycles, counts,
// thresholds, stats, enable/disable, freeze, callbacks, debug output, listings, automatic
// collection and bad generations. Automatic collection is off in every test unless the test
// turns it on (CollectorFixture restores the global state).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class GcTests : CollectorFixture
{
    // ------------------------------------------------------------------ cycles

    [Test]
    public void TwoObjectCycleOfALayoutTypeIsCollected()
    {
        Node* a = Nodes.New(Nodes.WeakLayout);
        Node* b = Nodes.New(Nodes.WeakLayout);
        PhnObject* wa = Native.WeakrefNew(&a->Ob, null, null);
        Assert.That((nint)wa, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Nodes.MakeGarbageCycle(a, b);
        Assert.That(Gc.Alive(wa), Is.EqualTo(1), "a cycle is not freed by reference counting");

        Assert.That(Native.GcCollect(2), Is.EqualTo(2), "gc.collect() returns the number of unreachable objects");
        Assert.That(Gc.Alive(wa), Is.Zero, "the weak reference is dead after the collection");
        Assert.That(Native.GcCollect(2), Is.Zero, "nothing left");
        Native.Decref(wa);
    }

    [Test]
    public void CycleHeldFromOutsideIsNotCollectedUntilReleased()
    {
        Node* a = Nodes.New(Nodes.Layout);
        Node* b = Nodes.New(Nodes.Layout);
        Nodes.Link(a, 0, b);
        Nodes.Link(b, 0, a);
        Native.Decref(&b->Ob);   // the test still holds a, which holds b

        Assert.That(Native.GcCollect(2), Is.Zero, "an externally held cycle is reachable");
        Assert.That(Native.GcIsTracked(&a->Ob), Is.EqualTo(1));
        Assert.That(Native.GcIsTracked(&b->Ob), Is.EqualTo(1));
        Assert.That(Native.Refcnt(&a->Ob), Is.EqualTo((nint)2), "the collection leaves the counts alone");
        Assert.That(Native.Refcnt(&b->Ob), Is.EqualTo((nint)1));

        Native.Decref(&a->Ob);
        Assert.That(Native.GcCollect(2), Is.EqualTo(2));
    }

    // A cycle of a type described by C# callbacks: the collector traverses, finalizes once
    // (PEP 442), clears, and the dealloc callback frees both; a weak reference with a callback
    // that is not itself garbage is cleared and its callback runs once.
    [Test]
    public void CycleOfACallbackTypeIsCollectedThroughItsCallbacks()
    {
        Node* a = Nodes.New(Nodes.Callback);
        Node* b = Nodes.New(Nodes.Callback);
        long ida = a->Id, idb = b->Id;
        PhnObject* wa = Native.WeakrefNew(&a->Ob, &Nodes.OnWeakrefDeath, (void*)0xC0FFEE);
        Assert.That((nint)wa, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Nodes.MakeGarbageCycle(a, b);
        Assert.That(Nodes.Log.Deallocs, Is.Zero);

        Assert.That(Native.GcCollect(2), Is.EqualTo(2));

        Assert.That(Nodes.Log.Traverses, Is.GreaterThanOrEqualTo(2), "each object of the generation traversed");
        Assert.That(Nodes.Log.Finalizes, Is.EqualTo(2), "each finalizer runs once (not again from dealloc)");
        Assert.That(Nodes.Log.Clears, Is.GreaterThanOrEqualTo(1), "clear breaks the cycle");
        Assert.That(Nodes.Log.Deallocs, Is.EqualTo(2));
        Assert.That(Nodes.Log.Frees, Is.EqualTo(2));
        Assert.That(Nodes.Log.DeadIds, Is.EquivalentTo(new[] { ida, idb }));
        Assert.That(Nodes.Log.GilNotHeld, Is.Zero, "callbacks run with the GIL held");
        Assert.That(Nodes.Log.WeakrefCallbacks, Has.Count.EqualTo(1));
        Assert.That(Nodes.Log.WeakrefCallbacks[0].Ctx, Is.EqualTo((nint)0xC0FFEE));
        Assert.That(Nodes.Log.WeakrefCallbacks[0].Weakref, Is.EqualTo((nint)wa));
        Assert.That(Gc.Alive(wa), Is.Zero);
        Native.Decref(wa);
        Assert.That(Nodes.Log.WeakrefCallbacks, Has.Count.EqualTo(1));
    }

    // A variable-size type whose items are references: a self-reference through an item.
    [Test]
    public void SelfReferenceThroughAnItemIsCollected()
    {
        PhnObject* v = Native.ObjectNewVar(Nodes.VList, 3);
        Assert.That((nint)v, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That(((PhnVarObject*)v)->ObSize, Is.EqualTo((nint)3));
        PhnObject** items = (PhnObject**)((byte*)v + sizeof(PhnVarObject));
        Assert.That((nint)items[0] | (nint)items[1] | (nint)items[2], Is.EqualTo(nint.Zero), "items are zero-filled");
        items[1] = Native.NewRef(v);
        Native.Decref(v);
        Assert.That(Native.GcCollect(2), Is.EqualTo(1));
    }

    // ------------------------------------------------------------------ counts, thresholds, state

    [Test]
    public void CountFollowsTrackingFreesAndCollections()
    {
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "after a full collection");
        Node* a = Nodes.New(Nodes.Layout);
        Assert.That(Gc.Count(), Is.EqualTo((1, 0, 0)), "count0 grows when an object is tracked");
        Node* leaf = Nodes.New(Nodes.Leaf);
        Assert.That(Gc.Count(), Is.EqualTo((1, 0, 0)), "a non-GC object is not counted");
        Native.Decref(&leaf->Ob);
        Native.Decref(&a->Ob);
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "a freed GC object is subtracted");
        Native.Decref(&Nodes.New(Nodes.Layout)->Ob);
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "never below 0");

        Assert.That(Native.GcCollect(0), Is.Zero);
        Assert.That(Gc.Count(), Is.EqualTo((0, 1, 0)), "after collect(0)");
        Assert.That(Native.GcCollect(0), Is.Zero);
        Assert.That(Gc.Count(), Is.EqualTo((0, 2, 0)));
        Assert.That(Native.GcCollect(1), Is.Zero);
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 1)), "after collect(1)");
        Assert.That(Native.GcCollect(2), Is.Zero);
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "after collect(2)");
    }

    [Test]
    public void ThresholdsDefaultToCPythonsAndRoundTrip()
    {
        Assert.That(Gc.Thresholds(), Is.EqualTo((2000, 10, 10)));
        Assert.That(Native.GcSetThreshold(100, 5, 3), Is.EqualTo(Native.PHN_OK));
        Assert.That(Gc.Thresholds(), Is.EqualTo((100, 5, 3)));
        Assert.That(Native.GcSetThreshold(0, 10, 10), Is.EqualTo(Native.PHN_OK), "threshold0 = 0 disables automatic collection");
        Assert.That(Gc.Thresholds(), Is.EqualTo((0, 10, 10)));
    }

    [Test]
    public void EnableAndDisableReturnThePreviousState()
    {
        Assert.That(Native.GcIsEnabled(), Is.Zero, "disabled by SetUp");
        Assert.That(Native.GcEnable(), Is.Zero);
        Assert.That(Native.GcIsEnabled(), Is.EqualTo(1));
        Assert.That(Native.GcEnable(), Is.EqualTo(1));
        Assert.That(Native.GcDisable(), Is.EqualTo(1));
        Assert.That(Native.GcIsEnabled(), Is.Zero);
        Assert.That(Native.GcDisable(), Is.Zero);
    }

    [Test]
    public void CollectIfEnabledDoesNothingWhileDisabled()
    {
        Node* a = Nodes.New(Nodes.Layout);
        Node* b = Nodes.New(Nodes.Layout);
        Nodes.MakeGarbageCycle(a, b);
        Assert.That(Native.GcCollectIfEnabled(), Is.Zero, "PyGC_Collect while disabled");
        Assert.That(Native.GcCollect(2), Is.EqualTo(2), "gc.collect runs even when disabled");
        Native.GcEnable();
        Nodes.MakeGarbageCycle(Nodes.New(Nodes.Layout), Nodes.New(Nodes.Layout));
        Assert.That(Native.GcCollectIfEnabled(), Is.EqualTo(2));
    }

    [Test]
    public void StatsCreditTheCollectedGeneration()
    {
        PhnGcStats[] before = [Gc.Stats(0), Gc.Stats(1), Gc.Stats(2)];
        Nodes.MakeGarbageCycle(Nodes.New(Nodes.Layout), Nodes.New(Nodes.Layout));
        Assert.That(Native.GcCollect(0), Is.EqualTo(2));
        PhnGcStats[] after = [Gc.Stats(0), Gc.Stats(1), Gc.Stats(2)];

        Assert.That(after[0].Collections - before[0].Collections, Is.EqualTo(1));
        Assert.That(after[0].Collected - before[0].Collected, Is.EqualTo(2));
        Assert.That(after[0].Uncollectable - before[0].Uncollectable, Is.Zero);
        Assert.That(after[0].Candidates - before[0].Candidates, Is.GreaterThanOrEqualTo(2), "the cycle was examined");
        Assert.That(after[0].Duration, Is.GreaterThanOrEqualTo(before[0].Duration));
        for (int g = 1; g < 3; g++)
        {
            Assert.That(after[g].Collections, Is.EqualTo(before[g].Collections), $"generation {g}");
            Assert.That(after[g].Collected, Is.EqualTo(before[g].Collected), $"generation {g}");
        }

        Assert.That(Native.GcCollect(2), Is.Zero);
        Assert.That(Gc.Stats(2).Collections - after[2].Collections, Is.EqualTo(1), "credited to the oldest generation collected");
        Assert.That(Gc.Stats(0).Collections, Is.EqualTo(after[0].Collections));
    }

    [Test]
    public void GetStatsRejectsBadArguments()
    {
        PhnGcStats s = default;
        s.StructSize = (uint)sizeof(PhnGcStats);
        Assert.That(Native.GcGetStats(3, &s), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GcGetStats(-1, &s), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GcGetStats(0, null), Is.EqualTo(Native.PHN_EINVAL));
        s.StructSize = 4;
        Assert.That(Native.GcGetStats(0, &s), Is.EqualTo(Native.PHN_EINVAL), "struct_size too small");
    }

    // gc.freeze: tracked objects move to the permanent generation, which no collection
    // examines; they stay tracked. unfreeze moves them back into the oldest generation.
    [Test]
    public void FrozenGarbageIsCollectedOnlyAfterUnfreeze()
    {
        Node* a = Nodes.New(Nodes.WeakLayout);
        Node* b = Nodes.New(Nodes.WeakLayout);
        PhnObject* wa = Native.WeakrefNew(&a->Ob, null, null);
        Nodes.MakeGarbageCycle(a, b);
        Assert.That(Native.GcGetFreezeCount(), Is.Zero);

        Freeze();
        Assert.That(Native.GcGetFreezeCount(), Is.GreaterThanOrEqualTo(3), "a, b and the weak reference");
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "counts become 0");
        Assert.That(Native.GcIsTracked(wa), Is.EqualTo(1), "frozen objects stay tracked");
        Assert.That(Native.GcCollect(2), Is.Zero, "no collection examines the permanent generation");
        Assert.That(Gc.Alive(wa), Is.EqualTo(1));

        Unfreeze();
        Assert.That(Native.GcGetFreezeCount(), Is.Zero);
        Assert.That(Native.GcCollect(2), Is.EqualTo(2));
        Assert.That(Gc.Alive(wa), Is.Zero);
        Native.Decref(wa);
    }

    // ------------------------------------------------------------------ callbacks and debug output

    private static readonly List<(nint Ctx, int Phase, uint StructSize, int Generation, long Collected, long Uncollectable)> s_phases = [];
    private static long s_collectInCallback = -12345;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int OnCollection(void* ctx, int phase, PhnGcInfo* info)
    {
        s_phases.Add(((nint)ctx, phase, info->StructSize, info->Generation, info->Collected, info->Uncollectable));
        if ((nint)ctx == 2)
            s_collectInCallback = Native.GcCollect(2);
        return 0;
    }

    [Test]
    public void CallbacksSeeStartAndStopInTheOrderAdded()
    {
        s_phases.Clear();
        s_collectInCallback = -12345;
        AddCallback(&OnCollection, (void*)1);
        AddCallback(&OnCollection, (void*)2);
        Nodes.MakeGarbageCycle(Nodes.New(Nodes.Layout), Nodes.New(Nodes.Layout));

        Assert.That(Native.GcCollect(1), Is.EqualTo(2));

        Assert.That(s_phases.Select(p => (p.Ctx, p.Phase)), Is.EqualTo(new (nint, int)[]
        {
            (1, Native.PHN_GC_PHASE_START), (2, Native.PHN_GC_PHASE_START),
            (1, Native.PHN_GC_PHASE_STOP), (2, Native.PHN_GC_PHASE_STOP),
        }));
        Assert.That(s_phases.Select(p => p.Generation), Is.All.EqualTo(1));
        Assert.That(s_phases.Select(p => p.StructSize), Is.All.EqualTo((uint)sizeof(PhnGcInfo)));
        Assert.That(s_phases.Where(p => p.Phase == Native.PHN_GC_PHASE_START).Select(p => p.Collected), Is.All.Zero);
        Assert.That(s_phases.Where(p => p.Phase == Native.PHN_GC_PHASE_STOP).Select(p => p.Collected), Is.All.EqualTo(2));
        Assert.That(s_phases.Select(p => p.Uncollectable), Is.All.Zero);
        Assert.That(s_collectInCallback, Is.Zero, "phn_gc_collect from a callback returns 0");

        RemoveCallback(&OnCollection, (void*)1);
        RemoveCallback(&OnCollection, (void*)2);
        Assert.That(Native.GcRemoveCallback(&OnCollection, (void*)1), Is.EqualTo(Native.PHN_EINVAL), "not registered any more");
        s_phases.Clear();
        Native.GcCollect(0);
        Assert.That(s_phases, Is.Empty);
    }

    private static readonly List<string> s_debugLines = [];

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDebugLine(void* ctx, byte* line) =>
        s_debugLines.Add(((nint)ctx == 7 ? "" : "bad ctx: ") + Marshal.PtrToStringUTF8((nint)line));

    [Test]
    public void DebugFlagsRoundTripAndStatsGoToTheDebugOutput()
    {
        Assert.That(Native.PHN_GC_DEBUG_LEAK, Is.EqualTo(38));
        Assert.That(Native.GcSetDebug(Native.PHN_GC_DEBUG_LEAK | 0x100), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GcGetDebug(), Is.EqualTo(Native.PHN_GC_DEBUG_LEAK | 0x100), "unknown bits are kept");

        s_debugLines.Clear();
        Assert.That(Native.GcSetDebugOutput(&OnDebugLine, (void*)7), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GcSetDebug(Native.PHN_GC_DEBUG_STATS), Is.EqualTo(Native.PHN_OK));
        Native.GcCollect(0);
        Native.GcSetDebug(0);
        Assert.That(s_debugLines, Is.Not.Empty);
        Assert.That(s_debugLines[0], Does.StartWith("gc: collecting generation 0"));
        Assert.That(s_debugLines, Has.None.Contains("\n"), "one line at a time without the newline");
        Assert.That(s_debugLines, Has.Some.StartWith("gc: done"));
    }

    // ------------------------------------------------------------------ listings

    [Test]
    public void ListingsFindObjectsReferentsAndReferrers()
    {
        Node* a = Nodes.New(Nodes.Layout);
        Node* b = Nodes.New(Nodes.Layout);
        Nodes.Link(a, 2, b);
        PhnObject** out16 = stackalloc PhnObject*[16];

        PhnObject* pa = &a->Ob;
        Assert.That(Native.GcGetReferents(&pa, 1, out16, 16), Is.EqualTo(1));
        Assert.That((nint)out16[0], Is.EqualTo((nint)b));

        PhnObject* pb = &b->Ob;
        long n = Native.GcGetReferrers(&pb, 1, null, 0);
        Assert.That(n, Is.EqualTo(1), "a is b's only tracked referrer");
        Assert.That(Native.GcGetReferrers(&pb, 1, out16, 16), Is.EqualTo(1));
        Assert.That((nint)out16[0], Is.EqualTo((nint)a));

        long all = Native.GcGetObjects(0, null, 0);
        Assert.That(all, Is.GreaterThanOrEqualTo(2));
        var buffer = new nint[all + 8];
        fixed (nint* p = buffer)
        {
            long got = Native.GcGetObjects(0, (PhnObject**)p, buffer.Length);
            Assert.That(got, Is.EqualTo(all));
            Assert.That(buffer.Take((int)got), Does.Contain((nint)a).And.Contain((nint)b));
        }
        Assert.That(Native.GcGetObjects(-1, null, 0), Is.GreaterThanOrEqualTo(all), "-1: every generation");

        Native.Decref(&a->Ob);
        Native.Decref(&b->Ob);
    }

    // ------------------------------------------------------------------ automatic collection

    [Test]
    public void AutomaticCollectionRunsInTheAllocationThatCrossesTheThreshold()
    {
        Node* a = Nodes.New(Nodes.WeakLayout);
        Node* b = Nodes.New(Nodes.WeakLayout);
        PhnObject* wa = Native.WeakrefNew(&a->Ob, null, null);
        Nodes.MakeGarbageCycle(a, b);
        long before = Gc.Stats(0).Collections + Gc.Stats(1).Collections + Gc.Stats(2).Collections;

        Assert.That(Native.GcSetThreshold(10, 10, 10), Is.EqualTo(Native.PHN_OK));
        Native.GcEnable();
        var kept = new List<nint>();
        for (int i = 0; i < 20 && Gc.Alive(wa) == 1; i++)
            kept.Add((nint)Nodes.New(Nodes.Layout));
        Native.GcDisable();

        long after = Gc.Stats(0).Collections + Gc.Stats(1).Collections + Gc.Stats(2).Collections;
        Assert.That(after, Is.GreaterThan(before), "an automatic collection ran");
        Assert.That(Gc.Alive(wa), Is.Zero, "and collected the cycle");
        Assert.That(kept.Count, Is.LessThanOrEqualTo(10), "as soon as count0 exceeded threshold0");
        foreach (nint o in kept)
            Native.Decref((PhnObject*)o);
        Native.Decref(wa);
    }

    // ------------------------------------------------------------------ bad input

    [TestCase(3)]
    [TestCase(-1)]
    [TestCase(int.MaxValue)]
    public void CollectOfAnInvalidGenerationIsEinval(int generation)
    {
        var count = Gc.Count();
        Assert.That(Native.GcCollect(generation), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Does.Contain("invalid generation"));
        Assert.That(Gc.Count(), Is.EqualTo(count), "nothing changed");
    }

    [Test]
    public void GetObjectsOfAnInvalidGenerationIsEinval()
    {
        Assert.That(Native.GcGetObjects(3, null, 0), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Does.Contain("generation parameter must be less than the number of available generations (3)"));
        Assert.That(Native.GcGetObjects(-2, null, 0), Is.EqualTo((long)Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Does.Contain("generation parameter cannot be negative"));
    }

    [Test]
    public void NullArraysAreEinval()
    {
        Assert.That(Native.GcGetCount(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GcGetThreshold(null), Is.EqualTo(Native.PHN_EINVAL));
        PhnObject* o;
        Assert.That(Native.GcGarbageGet(0, &o), Is.EqualTo(Native.PHN_EINVAL), "index out of range of an empty gc.garbage");
        Assert.That(Native.GcGarbageCount(), Is.Zero);
    }
}
