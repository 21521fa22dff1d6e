// Objects, types, reference counts, weak references and the GIL through the bindings
// (phn_object.h, phn_weakref.h, phn_gil.h; spec-gc.md §3, §4, §13, §16.1).
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class ObjectTests : CollectorFixture
{
    // ------------------------------------------------------------------ types and objects

    [Test]
    public void TypesKeepTheirNameAndFlags()
    {
        Assert.That(Marshal.PtrToStringUTF8((nint)Native.TypeName(Nodes.Layout)), Is.EqualTo("LNode"));
        Assert.That(Native.TypeFlags(Nodes.Layout), Is.EqualTo(Native.PHN_TPFLAGS_HAVE_GC));
        Assert.That(Native.TypeFlags(Nodes.WeakLayout), Is.EqualTo(Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_WEAKREFABLE));
        Assert.That(Native.TypeFlags(Nodes.Leaf), Is.Zero);
        Assert.That((nint)Native.TypeName(null), Is.EqualTo(nint.Zero));
        Assert.That(Native.TypeFlags(null), Is.Zero);
    }

    [Test]
    public void NewObjectIsZeroFilledWithCountOneAndTracked()
    {
        Node* n = (Node*)Native.ObjectNew(Nodes.Layout);
        Assert.That((nint)n, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        PhnObject* op = &n->Ob;
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)1));
        Assert.That(op->ObRefcnt, Is.EqualTo((nint)1));
        Assert.That((nint)Native.TypeOf(op), Is.EqualTo((nint)Nodes.Layout));
        Assert.That(Heap.IsZero(&n->Slot0, (nuint)(sizeof(Node) - sizeof(PhnObject))), Is.True, "fields are zero-filled");
        Assert.That(Native.ObjectIsGc(op), Is.EqualTo(1));
        Assert.That(Native.GcIsTracked(op), Is.EqualTo(1));
        Assert.That(Native.GcIsFinalized(op), Is.Zero);
        Heap.AssertAligned(op, "an object");

        Native.Incref(op);
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)2));
        Native.Decref(op);
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)1));
        Native.Decref(op);
    }

    [Test]
    public void NonGcObjectsAreNeitherTrackedNorTrackable()
    {
        Node* leaf = Nodes.New(Nodes.Leaf);
        Assert.That(Native.ObjectIsGc(&leaf->Ob), Is.Zero);
        Assert.That(Native.GcIsTracked(&leaf->Ob), Is.Zero);
        Assert.That(Native.GcTrack(&leaf->Ob), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GcIsFinalized(&leaf->Ob), Is.Zero);
        Native.Decref(&leaf->Ob);
    }

    [Test]
    public void GcNewIsUntrackedUntilTracked()
    {
        PhnObject* op = Native.GcNew(Nodes.Layout);
        Assert.That((nint)op, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That(Native.GcIsTracked(op), Is.Zero);
        Assert.That(Gc.Count(), Is.EqualTo((0, 0, 0)), "count0 grows at track time");
        Assert.That(Native.GcTrack(op), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GcIsTracked(op), Is.EqualTo(1));
        Assert.That(Gc.Count(), Is.EqualTo((1, 0, 0)));
        Assert.That(Native.GcUntrack(op), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GcIsTracked(op), Is.Zero);
        Assert.That(Native.GcUntrack(op), Is.EqualTo(Native.PHN_OK), "untracking an untracked object is a no-op");
        Native.Decref(op);
        Assert.That((nint)Native.GcNew(Nodes.Leaf), Is.EqualTo(nint.Zero), "GC types only");
    }

    [Test]
    public void VarObjectsHaveTheirSizeAndResize()
    {
        Assert.That((nint)Native.ObjectNew(Nodes.VList), Is.EqualTo(nint.Zero), "phn_object_new of a var type");
        Assert.That((nint)Native.ObjectNewVar(Nodes.VList, -1), Is.EqualTo(nint.Zero));
        Assert.That(Native.LastErrorCode(), Is.Not.Zero);

        PhnObject* op = Native.GcNewVar(Nodes.VList, 2);
        Assert.That((nint)op, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That(Native.GcIsTracked(op), Is.Zero);
        Assert.That(((PhnVarObject*)op)->ObSize, Is.EqualTo((nint)2));
        Node* leaf = Nodes.New(Nodes.Leaf);
        ((PhnObject**)((byte*)op + sizeof(PhnVarObject)))[1] = &leaf->Ob;   // the reference is moved in

        op = Native.GcResize(op, 5);
        Assert.That((nint)op, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That(((PhnVarObject*)op)->ObSize, Is.EqualTo((nint)5));
        PhnObject** items = (PhnObject**)((byte*)op + sizeof(PhnVarObject));
        Assert.That((nint)items[0], Is.EqualTo(nint.Zero));
        Assert.That((nint)items[1], Is.EqualTo((nint)leaf), "contents kept");
        Assert.That((nint)items[2] | (nint)items[3] | (nint)items[4], Is.EqualTo(nint.Zero), "new items are zero");
        Assert.That(Native.GcTrack(op), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.Refcnt(&leaf->Ob), Is.EqualTo((nint)1));
        Native.Decref(op);   // releases the leaf through the layout
    }

    [Test]
    public void ImmortalObjectsIgnoreReferenceCounting()
    {
        Node* leaf = Nodes.New(Nodes.Leaf);   // leaked on purpose: immortal objects are never freed
        PhnObject* op = &leaf->Ob;
        Assert.That(Native.IsImmortal(op), Is.False);
        Assert.That(Native.ObjectSetImmortal(op), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.IsImmortal(op), Is.True);
        Assert.That((long)Native.Refcnt(op), Is.EqualTo(Native.PHN_IMMORTAL_REFCNT));
        Native.Decref(op);
        Native.Decref(op);
        Native.Incref(op);
        Assert.That((long)Native.Refcnt(op), Is.EqualTo(Native.PHN_IMMORTAL_REFCNT));
        Assert.That(Native.SetRefcnt(op, 5), Is.EqualTo(Native.PHN_OK));
        Assert.That((long)Native.Refcnt(op), Is.EqualTo(Native.PHN_IMMORTAL_REFCNT), "no effect on immortal objects");
    }

    [Test]
    public void SetRefcntSetsTheCountWithoutDeallocating()
    {
        Node* n = Nodes.New(Nodes.Callback);
        PhnObject* op = &n->Ob;
        Assert.That(Native.SetRefcnt(op, 7), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)7));
        Assert.That(Native.SetRefcnt(op, -1), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)7), "a failed call changes nothing");
        Assert.That(Native.SetRefcnt(op, 1), Is.EqualTo(Native.PHN_OK));
        Assert.That(Nodes.Log.Deallocs, Is.Zero);
        Native.Decref(op);
        Assert.That(Nodes.Log.Deallocs, Is.EqualTo(1), "count 0: the type's dealloc");
        Assert.That(Nodes.Log.Frees, Is.EqualTo(1));
        Assert.That(Nodes.Log.Finalizes, Is.EqualTo(1), "the finalizer runs from dealloc");
        Assert.That(Nodes.Log.GilNotHeld, Is.Zero);
    }

    [Test]
    public void NullObjectsAreEinvalAndChangeNothing()
    {
        Native.Incref(null);
        Native.Decref(null);
        Assert.That(Native.Refcnt(null), Is.EqualTo((nint)0));
        Assert.That(Native.GcIsTracked(null), Is.LessThan(0));
        Assert.That(Native.GcTrack(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GcUntrack(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.ObjectFree(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.SetRefcnt(null, 1), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.ObjectSetImmortal(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.ObjectCallFinalizer(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That((nint)Native.ObjectNew(null), Is.EqualTo(nint.Zero));
        Assert.That((nint)Native.WeakrefNew(null, null, null), Is.EqualTo(nint.Zero));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
    }

    // ------------------------------------------------------------------ type specs

    private static readonly uint[] s_goodOffsets = [16, 24];

    private static IEnumerable<TestCaseData> BadSpecs()
    {
        yield return new TestCaseData("unknown flag", (1u << 20), 56L, 0L, Array.Empty<uint>(), 0u);
        yield return new TestCaseData("struct_size too small", 0u, 56L, 0L, Array.Empty<uint>(), 8u);
        yield return new TestCaseData("basicsize below the header", 0u, 8L, 0L, Array.Empty<uint>(), 0u);
        yield return new TestCaseData("basicsize not a multiple of 8", 0u, 60L, 0L, Array.Empty<uint>(), 0u);
        yield return new TestCaseData("negative basicsize", 0u, -56L, 0L, Array.Empty<uint>(), 0u);
        yield return new TestCaseData("var type smaller than phn_varobject", Native.PHN_TPFLAGS_HAVE_GC, 16L, 8L, Array.Empty<uint>(), 0u);
        yield return new TestCaseData("offset inside the header", Native.PHN_TPFLAGS_HAVE_GC, 56L, 0L, new uint[] { 8 }, 0u);
        yield return new TestCaseData("misaligned offset", Native.PHN_TPFLAGS_HAVE_GC, 56L, 0L, new uint[] { 20 }, 0u);
        yield return new TestCaseData("offset outside the object", Native.PHN_TPFLAGS_HAVE_GC, 56L, 0L, new uint[] { 56 }, 0u);
        yield return new TestCaseData("repeated offset", Native.PHN_TPFLAGS_HAVE_GC, 56L, 0L, new uint[] { 16, 24, 16 }, 0u);
        yield return new TestCaseData("ITEMS_ARE_REFS with itemsize 16", Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_ITEMS_ARE_REFS, 24L, 16L, Array.Empty<uint>(), 0u);
    }

    [TestCaseSource(nameof(BadSpecs))]
    public void BadTypeSpecIsEinval(string what, uint flags, long basicsize, long itemsize, uint[] offsets, uint structSize)
    {
        PhnTypeSpec spec = Nodes.Spec("Bad", flags);
        spec.Basicsize = basicsize;
        spec.Itemsize = itemsize;
        if (structSize != 0)
            spec.StructSize = structSize;
        fixed (uint* o = offsets)
        {
            spec.RefOffsets = offsets.Length > 0 ? o : null;
            spec.RefCount = (uint)offsets.Length;
            Native.ClearError();
            Assert.That((nint)Native.TypeNew(&spec), Is.EqualTo(nint.Zero), what);
        }
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL), what);
        Assert.That(Heap.LastError, Is.Not.Empty);
    }

    [Test]
    public void NullSpecOrNameIsEinval()
    {
        Assert.That((nint)Native.TypeNew(null), Is.EqualTo(nint.Zero));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        PhnTypeSpec spec = Nodes.Spec("x", 0);
        spec.Name = null;
        Native.ClearError();
        Assert.That((nint)Native.TypeNew(&spec), Is.EqualTo(nint.Zero));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        // and a valid layout spec for comparison
        spec = Nodes.Spec("Good", Native.PHN_TPFLAGS_HAVE_GC);
        fixed (uint* o = s_goodOffsets)
        {
            spec.RefOffsets = o;
            spec.RefCount = (uint)s_goodOffsets.Length;
            Assert.That((nint)Native.TypeNew(&spec), Is.Not.EqualTo(nint.Zero), Heap.LastError);
        }
    }

    // ------------------------------------------------------------------ weak references

    [Test]
    public void WeakrefCallbackRunsOnDeathByReferenceCount()
    {
        Node* n = Nodes.New(Nodes.WeakLayout);
        PhnObject* op = &n->Ob;
        PhnObject* wr = Native.WeakrefNew(op, &Nodes.OnWeakrefDeath, (void*)0xABC);
        Assert.That((nint)wr, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That(Native.WeakrefCheck(wr), Is.EqualTo(1));
        Assert.That(Native.WeakrefCheck(op), Is.Zero);
        Assert.That(Native.WeakrefCount(op), Is.EqualTo(1));

        PhnObject* got = null;
        Assert.That(Native.WeakrefGetRef(wr, &got), Is.EqualTo(1));
        Assert.That((nint)got, Is.EqualTo((nint)op));
        Assert.That(Native.Refcnt(op), Is.EqualTo((nint)2), "a new reference");
        Native.Decref(got);
        Assert.That(Nodes.Log.WeakrefCallbacks, Is.Empty);

        Native.Decref(op);
        Assert.That(Nodes.Log.WeakrefCallbacks, Has.Count.EqualTo(1));
        Assert.That(Nodes.Log.WeakrefCallbacks[0].Ctx, Is.EqualTo((nint)0xABC));
        Assert.That(Nodes.Log.WeakrefCallbacks[0].Weakref, Is.EqualTo((nint)wr));
        Assert.That(Gc.Alive(wr), Is.Zero);
        Native.Decref(wr);
    }

    [Test]
    public void CallbackTypesDeallocClearsWeakrefsInOrder()
    {
        Node* n = Nodes.New(Nodes.Callback);
        PhnObject* wr = Native.WeakrefNew(&n->Ob, &Nodes.OnWeakrefDeath, (void*)5);
        Native.Decref(&n->Ob);
        Assert.That(Nodes.Log.Finalizes, Is.EqualTo(1));
        Assert.That(Nodes.Log.Frees, Is.EqualTo(1));
        Assert.That(Nodes.Log.WeakrefCallbacks.Select(c => c.Ctx), Is.EqualTo(new nint[] { 5 }));
        Assert.That(Gc.Alive(wr), Is.Zero);
        Native.Decref(wr);
    }

    [Test]
    public void CallbackLessWeakrefIsShared()
    {
        Node* n = Nodes.New(Nodes.WeakLayout);
        PhnObject* w1 = Native.WeakrefNew(&n->Ob, null, null);
        PhnObject* w2 = Native.WeakrefNew(&n->Ob, null, null);
        PhnObject* w3 = Native.WeakrefNew(&n->Ob, &Nodes.OnWeakrefDeath, null);
        Assert.That((nint)w1, Is.Not.EqualTo(nint.Zero), Heap.LastError);
        Assert.That((nint)w2, Is.EqualTo((nint)w1), "asking twice gives the same object");
        Assert.That((nint)w3, Is.Not.EqualTo((nint)w1));
        Assert.That(Native.WeakrefCount(&n->Ob), Is.EqualTo(2));
        Native.Decref(&n->Ob);
        Assert.That(Gc.Alive(w1), Is.Zero);
        Assert.That(Nodes.Log.WeakrefCallbacks, Has.Count.EqualTo(1));
        Native.Decref(w1);
        Native.Decref(w2);
        Native.Decref(w3);
    }

    [Test]
    public void WeakrefToANonWeakReferenceableObjectIsEinval()
    {
        Node* n = Nodes.New(Nodes.Layout);
        Assert.That((nint)Native.WeakrefNew(&n->Ob, null, null), Is.EqualTo(nint.Zero));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Does.Contain("cannot create weak reference to 'LNode' object"));
        PhnObject* got = (PhnObject*)0x1;
        Assert.That(Native.WeakrefGetRef(&n->Ob, &got), Is.EqualTo(Native.PHN_EINVAL), "not a weak reference");
        Native.Decref(&n->Ob);
    }

    // ------------------------------------------------------------------ the GIL

    [Test]
    public void GilEnsureIsRecursiveAndReleaseChecksTheState()
    {
        Assert.That(Native.GilHeld(), Is.Zero);
        Assert.That(Native.GilRelease(Native.PHN_GIL_UNLOCKED), Is.EqualTo(Native.PHN_ESTATE), "not held");
        int outer = Native.GilEnsure();
        Assert.That(outer, Is.EqualTo(Native.PHN_GIL_UNLOCKED), "this call took it");
        Assert.That(Native.GilHeld(), Is.EqualTo(1));
        int inner = Native.GilEnsure();
        Assert.That(inner, Is.EqualTo(Native.PHN_GIL_LOCKED), "held already");
        Assert.That(Native.GilRelease(7), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GilRelease(inner), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GilHeld(), Is.EqualTo(1), "the outer ensure still holds it");
        Native.GcCollect(0);
        Assert.That(Native.GilHeld(), Is.EqualTo(1), "a call made with the GIL keeps it");
        Assert.That(Native.GilRelease(outer), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GilHeld(), Is.Zero);
        Native.GcCollect(0);
        Assert.That(Native.GilHeld(), Is.Zero, "a call made without the GIL takes it only for the call");
    }

    [Test]
    public void AnotherThreadWaitsForTheGil()
    {
        int state = Native.GilEnsure();
        Assert.That(state, Is.EqualTo(Native.PHN_GIL_UNLOCKED));
        int heldThere = -1, ensured = -1;
        long collectedThere = -1;
        var explicitEnsure = new Thread(() =>
        {
            heldThere = Native.GilHeld();
            int s = Native.GilEnsure();
            Volatile.Write(ref ensured, s);
            Native.GilRelease(s);
        });
        var implicitCall = new Thread(() => Volatile.Write(ref collectedThere, Native.GcCollect(0)));
        explicitEnsure.IsBackground = implicitCall.IsBackground = true;   // never keep the test host alive
        explicitEnsure.Start();
        implicitCall.Start();
        bool ensureBlocked = !explicitEnsure.Join(300);
        bool callBlocked = !implicitCall.Join(10);
        int ensuredWhileHeld = Volatile.Read(ref ensured);
        long collectedWhileHeld = Volatile.Read(ref collectedThere);
        Assert.That(Native.GilRelease(state), Is.EqualTo(Native.PHN_OK));
        bool finished = explicitEnsure.Join(10_000) & implicitCall.Join(10_000);

        Assert.That(heldThere, Is.Zero, "another thread does not hold it");
        Assert.That(ensureBlocked, Is.True, "phn_gil_ensure on another thread waits while this one holds the GIL");
        Assert.That(callBlocked, Is.True, "an object call on another thread waits while this one holds the GIL");
        Assert.That(ensuredWhileHeld, Is.EqualTo(-1));
        Assert.That(collectedWhileHeld, Is.EqualTo(-1));
        Assert.That(finished, Is.True, "both proceed once it is released");
        Assert.That(ensured, Is.EqualTo(Native.PHN_GIL_UNLOCKED));
        Assert.That(collectedThere, Is.Zero);
    }
}
