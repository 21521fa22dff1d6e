// Object types for the object and collector tests (phn_object.h, phn_gc.h, phn_weakref.h),
// after native-tests/gc_fixture.h: a Node has a phn_object header, four owned slots and an id.
//   LNode   GC type described by its reference layout only (no callbacks)
//   LWNode  the same, weak-referenceable
//   CNode   GC, weak-referenceable type described by callbacks written in C#: traverse,
//           clear, a PEP 442 finalizer and a dealloc in the header's order
//   Leaf    non-GC type without references
//   VList   GC variable-size type whose items are references (PHN_TPFLAGS_ITEMS_ARE_REFS)
// The callbacks log what they do in Nodes.Log; CollectorFixture saves and restores the
// collector's global state around every test (the tests share the process with the others).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Node
{
    public PhnObject Ob;
    public PhnObject* Slot0;
    public PhnObject* Slot1;
    public PhnObject* Slot2;
    public PhnObject* Slot3;
    public long Id;
}

internal static unsafe class Nodes
{
    public const int SlotCount = 4;

    public static PhnType* Layout { get; private set; }
    public static PhnType* WeakLayout { get; private set; }
    public static PhnType* Callback { get; private set; }
    public static PhnType* Leaf { get; private set; }
    public static PhnType* VList { get; private set; }

    private static long s_nextId = 1;

    /// <summary>What the callbacks did since the last Reset (they run on the calling thread, GIL held).</summary>
    public static class Log
    {
        public static int Traverses, Clears, Finalizes, Deallocs, Frees, GilNotHeld;
        public static readonly List<long> DeadIds = [];
        public static readonly List<(nint Ctx, nint Weakref, long RefcntOfWeakref)> WeakrefCallbacks = [];

        public static void Reset()
        {
            Traverses = Clears = Finalizes = Deallocs = Frees = GilNotHeld = 0;
            DeadIds.Clear();
            WeakrefCallbacks.Clear();
        }
    }

    /// <summary>Creates the types once (types live until the process ends).</summary>
    public static void Create()
    {
        if (Layout != null)
            return;
        uint* offsets = (uint*)NativeMemory.Alloc(SlotCount, sizeof(uint));   // kept for the process
        for (int i = 0; i < SlotCount; i++)
            offsets[i] = (uint)(Marshal.OffsetOf<Node>(nameof(Node.Slot0)) + i * sizeof(nint));

        PhnTypeSpec spec = Spec("LNode", Native.PHN_TPFLAGS_HAVE_GC);
        spec.RefOffsets = offsets;
        spec.RefCount = SlotCount;
        Layout = MustCreate(spec);

        spec = Spec("LWNode", Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_WEAKREFABLE);
        spec.RefOffsets = offsets;
        spec.RefCount = SlotCount;
        WeakLayout = MustCreate(spec);

        spec = Spec("CNode", Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_WEAKREFABLE);
        spec.Traverse = &NodeTraverse;
        spec.Clear = &NodeClear;
        spec.Finalize = &NodeFinalize;
        spec.Dealloc = &NodeDealloc;
        Callback = MustCreate(spec);

        Leaf = MustCreate(Spec("Leaf", 0));

        spec = Spec("VList", Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_ITEMS_ARE_REFS);
        spec.Basicsize = sizeof(PhnVarObject);
        spec.Itemsize = sizeof(nint);
        VList = MustCreate(spec);
    }

    /// <summary>A spec for a Node-sized type without references or callbacks; Name points to a
    /// string that is never freed.</summary>
    public static PhnTypeSpec Spec(string name, uint flags) => new()
    {
        StructSize = (uint)sizeof(PhnTypeSpec),
        Flags = flags,
        Name = (byte*)Marshal.StringToCoTaskMemUTF8(name),
        Basicsize = sizeof(Node),
    };

    private static PhnType* MustCreate(PhnTypeSpec spec)
    {
        PhnType* t = Native.TypeNew(&spec);
        Assert.That((nint)t, Is.Not.EqualTo(nint.Zero), $"phn_type_new({Marshal.PtrToStringUTF8((nint)spec.Name)}): {Heap.LastError}");
        return t;
    }

    /// <summary>A new Node of type t (count 1, tracked for a GC type) with a fresh id.</summary>
    public static Node* New(PhnType* t)
    {
        Node* n = (Node*)Native.ObjectNew(t);
        Assert.That((nint)n, Is.Not.EqualTo(nint.Zero), $"phn_object_new: {Heap.LastError}");
        n->Id = s_nextId++;
        return n;
    }

    public static PhnObject** Slots(Node* n) => &n->Slot0;

    /// <summary>from.slot[i] = new reference to to (the slot must be empty).</summary>
    public static void Link(Node* from, int slot, void* to)
    {
        Assert.That((nint)Slots(from)[slot], Is.EqualTo(nint.Zero), "slot already set");
        Slots(from)[slot] = Native.NewRef((PhnObject*)to);
    }

    /// <summary>a.slot0 = b, b.slot0 = a, and the caller's references dropped: cyclic garbage.</summary>
    public static void MakeGarbageCycle(Node* a, Node* b)
    {
        Link(a, 0, b);
        Link(b, 0, a);
        Native.Decref(&a->Ob);
        Native.Decref(&b->Ob);
    }

    // ------------------------------------------------------------------ CNode callbacks

    // CPython's tp_traverse: visit every owned reference; no call into the library.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int NodeTraverse(PhnObject* self, delegate* unmanaged[Cdecl]<PhnObject*, void*, int> visit, void* arg)
    {
        Log.Traverses++;
        PhnObject** slots = Slots((Node*)self);
        for (int i = 0; i < SlotCount; i++)
        {
            if (slots[i] != null)
            {
                int r = visit(slots[i], arg);
                if (r != 0)
                    return r;
            }
        }
        return 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int NodeClear(PhnObject* self)
    {
        Log.Clears++;
        if (Native.GilHeld() != 1)
            Log.GilNotHeld++;
        PhnObject** slots = Slots((Node*)self);
        for (int i = 0; i < SlotCount; i++)
            Native.Clear(ref slots[i]);
        return 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int NodeFinalize(PhnObject* self)
    {
        Log.Finalizes++;
        if (Native.GilHeld() != 1)
            Log.GilNotHeld++;
        return 0;
    }

    // The order of phn_object.h: the finalizer (stop if resurrected), untrack, clear the weak
    // references (calling their callbacks), release the fields, free.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void NodeDealloc(PhnObject* self)
    {
        Node* n = (Node*)self;
        Log.Deallocs++;
        if (Native.GilHeld() != 1)
            Log.GilNotHeld++;
        if (Native.ObjectCallFinalizerFromDealloc(self) < 0)
            return;   // resurrected
        Native.GcUntrack(self);
        Native.ObjectClearWeakrefs(self);
        PhnObject** slots = Slots(n);
        for (int i = 0; i < SlotCount; i++)
            Native.Clear(ref slots[i]);
        Log.DeadIds.Add(n->Id);
        Log.Frees++;
        Native.ObjectFree(self);
    }

    /// <summary>A phn_weakref_callback recording (ctx, weakref, the weakref's count).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    public static int OnWeakrefDeath(void* ctx, PhnObject* weakref)
    {
        Log.WeakrefCallbacks.Add(((nint)ctx, (nint)weakref, Native.Refcnt(weakref)));
        return 0;
    }
}

/// <summary>The collector's global state and small readers.</summary>
internal static unsafe class Gc
{
    public static (int, int, int) Count()
    {
        int* c = stackalloc int[3] { -1, -1, -1 };
        Assert.That(Native.GcGetCount(c), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        return (c[0], c[1], c[2]);
    }

    public static (int, int, int) Thresholds()
    {
        int* t = stackalloc int[3] { -1, -1, -1 };
        Assert.That(Native.GcGetThreshold(t), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        return (t[0], t[1], t[2]);
    }

    public static PhnGcStats Stats(int generation)
    {
        PhnGcStats s = default;
        s.StructSize = (uint)sizeof(PhnGcStats);
        Assert.That(Native.GcGetStats(generation, &s), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        return s;
    }

    /// <summary>1 and a new reference while the referent lives (released here), 0 once dead.</summary>
    public static int Alive(PhnObject* weakref)
    {
        PhnObject* o = (PhnObject*)0x1;
        int r = Native.WeakrefGetRef(weakref, &o);
        if (r == 1)
            Native.Decref(o);
        else
            Assert.That((nint)o, Is.EqualTo(nint.Zero), "phn_weakref_get_ref of a dead reference sets *out to NULL");
        return r;
    }

    public static void FullCollectionAndEmptyGarbage()
    {
        Assert.That(Native.GcCollect(2), Is.GreaterThanOrEqualTo(0), Heap.LastError);
        Assert.That(Native.GcGarbageClear(), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        Assert.That(Native.GcCollect(2), Is.GreaterThanOrEqualTo(0), Heap.LastError);
    }
}

/// <summary>
/// Base of the fixtures that use objects: automatic collection off and a full collection
/// before each test (so counts are deterministic); the thresholds, the enabled state, the
/// debug flags and output, registered gc callbacks, a freeze and a GIL left held restored
/// after it.
/// </summary>
public abstract unsafe class CollectorFixture
{
    private int _wasEnabled;
    private int _debug;
    private (int T0, int T1, int T2) _thresholds;
    private readonly List<(nint Callback, nint Ctx)> _callbacks = [];
    private bool _froze;

    [OneTimeSetUp]
    public void CreateTypes() => Nodes.Create();

    [SetUp]
    public void QuietCollector()
    {
        _wasEnabled = Native.GcDisable();
        Assert.That(_wasEnabled, Is.EqualTo(0).Or.EqualTo(1), Heap.LastError);
        _debug = Native.GcGetDebug();
        _thresholds = Gc.Thresholds();
        Gc.FullCollectionAndEmptyGarbage();
        Nodes.Log.Reset();
        Native.ClearError();
    }

    [TearDown]
    public void RestoreCollector()
    {
        int leakedGil = 0;
        while (Native.GilHeld() == 1 && leakedGil < 100)
        {
            Native.GilRelease(Native.PHN_GIL_UNLOCKED);
            leakedGil++;
        }
        foreach (var (callback, ctx) in _callbacks)
            Native.GcRemoveCallback((delegate* unmanaged[Cdecl]<void*, int, PhnGcInfo*, int>)callback, (void*)ctx);
        _callbacks.Clear();
        Native.GcSetDebugOutput(null, null);
        Native.GcSetDebug(_debug);
        Native.GcSetThreshold(_thresholds.T0, _thresholds.T1, _thresholds.T2);
        if (_froze)
            Native.GcUnfreeze();
        _froze = false;
        Gc.FullCollectionAndEmptyGarbage();
        if (_wasEnabled == 1)
            Native.GcEnable();
        Assert.That(leakedGil, Is.Zero, "the test left the GIL held");
        Heap.AssertValid();
    }

    /// <summary>phn_gc_add_callback, removed again by TearDown if the test does not.</summary>
    protected void AddCallback(delegate* unmanaged[Cdecl]<void*, int, PhnGcInfo*, int> callback, void* ctx)
    {
        Assert.That(Native.GcAddCallback(callback, ctx), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        _callbacks.Add(((nint)callback, (nint)ctx));
    }

    protected void RemoveCallback(delegate* unmanaged[Cdecl]<void*, int, PhnGcInfo*, int> callback, void* ctx)
    {
        Assert.That(Native.GcRemoveCallback(callback, ctx), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        _callbacks.Remove(((nint)callback, (nint)ctx));
    }

    /// <summary>phn_gc_freeze, undone by TearDown if the test does not.</summary>
    protected void Freeze()
    {
        Assert.That(Native.GcFreeze(), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        _froze = true;
    }

    protected void Unfreeze()
    {
        Assert.That(Native.GcUnfreeze(), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        _froze = false;
    }
}
