// What the caller owns, as SafeHandles: blocks of a domain (PyHeapBlock), object references
// (PyObjectRef, released with phn_decref, also from the finalizer thread) and weak references
// (PyWeakRef, with a managed callback); PyType.Define's layout; the GIL scope; errors as
// exceptions carrying phn_last_error_message().
using System.Runtime.CompilerServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed class BlockHandleTests
{
    private static readonly PyHeapDomainKind[] s_kinds = [PyHeapDomainKind.Raw, PyHeapDomainKind.Mem, PyHeapDomainKind.Obj];

    private static ulong LiveBlocks => PyHeap.GetStats().AllocatedBlocks;

    [TestCaseSource(nameof(s_kinds))]
    public void ABlockIsFreedByDispose(PyHeapDomainKind kind)
    {
        PyHeapDomain d = PyHeap.Domain(kind);
        ulong before = LiveBlocks;
        PyHeapBlock block = d.Allocate(100);
        Assert.That(block.Domain, Is.EqualTo(kind));
        Assert.That(block.Size, Is.EqualTo((nuint)100));
        Assert.That(block.IsInvalid, Is.False);
        Assert.That((long)block.Address % 16, Is.Zero);
        block.AsSpan().Fill(7);
        if (kind != PyHeapDomainKind.Raw)
            Assert.That(LiveBlocks, Is.EqualTo(before + 1), "a MEM/OBJ block counts in allocated_blocks");

        block.Resize(1000);
        Assert.That(block.Size, Is.EqualTo((nuint)1000));
        Assert.That(block.AsSpan()[..100].IndexOfAnyExcept((byte)7), Is.EqualTo(-1), "realloc keeps the contents");
        block.Resize(10);
        Assert.That(block.AsSpan().ToArray(), Is.All.EqualTo((byte)7));

        block.Dispose();
        Assert.That(block.IsClosed, Is.True);
        Assert.That(LiveBlocks, Is.EqualTo(before));
        Assert.DoesNotThrow(block.Dispose, "a second Dispose does nothing");
        Assert.That(() => block.Address, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => block.AsSpan(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => block.Resize(8), Throws.TypeOf<ObjectDisposedException>());
    }

    [TestCaseSource(nameof(s_kinds))]
    public void ZeroedBlocksAndErrors(PyHeapDomainKind kind)
    {
        PyHeapDomain d = PyHeap.Domain(kind);
        using (PyHeapBlock z = d.Allocate(4096, zeroed: true))
            Assert.That(z.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        using (PyHeapBlock empty = d.Allocate(0))
            Assert.That(empty.Address, Is.Not.Zero, "size 0 gives a distinct, non-null block");

        Assert.That(() => d.Allocate(Heap.PtrdiffMax + 1), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("size"));
        Assert.That(() => d.Allocate(Heap.PtrdiffMax), Throws.TypeOf<OutOfMemoryException>());
        using PyHeapBlock b = d.Allocate(32);
        b.AsSpan().Fill(3);
        nint at = b.Address;
        Assert.That(() => b.Resize(Heap.PtrdiffMax), Throws.TypeOf<OutOfMemoryException>());
        Assert.That(b.Address, Is.EqualTo(at), "a failed resize keeps the block");
        Assert.That(b.Size, Is.EqualTo((nuint)32));
        Assert.That(b.AsSpan().IndexOfAnyExcept((byte)3), Is.EqualTo(-1));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateAndDrop(int n)
    {
        for (int i = 0; i < n; i++)
            PyHeap.Obj.Allocate(64);
    }

    [Test]
    public void AnUndisposedBlockIsFreedByTheFinalizer()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ulong before = LiveBlocks;
        AllocateAndDrop(50);
        Assert.That(LiveBlocks, Is.EqualTo(before + 50));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.That(LiveBlocks, Is.EqualTo(before));
        Heap.AssertValid();
    }
}

[TestFixture]
public sealed class ObjectHandleTests : CollectorFixture
{
    private readonly List<Action<Exception>> _exceptionHandlers = [];

    [TearDown]
    public void RemoveExceptionHandlers()
    {
        foreach (Action<Exception> h in _exceptionHandlers)
            PyHeap.CallbackException -= h;
        _exceptionHandlers.Clear();
    }

    // ------------------------------------------------------------------ types

    [Test]
    public void DefineMakesALayoutType()
    {
        PyType t = PyType.Define("Pair", slots: 2, gc: true, weakrefable: true);
        Assert.That(t.Name, Is.EqualTo("Pair"));
        Assert.That(t.SlotCount, Is.EqualTo(2));
        Assert.That(t.IsGc, Is.True);
        Assert.That(t.IsWeakReferenceable, Is.True);
        Assert.That(t.Flags, Is.EqualTo(Native.PHN_TPFLAGS_HAVE_GC | Native.PHN_TPFLAGS_WEAKREFABLE));
        Assert.That(PyType.FromHandle(t.Handle), Is.SameAs(t));

        PyType leaf = PyType.Define("Bare", gc: false);
        Assert.That((leaf.SlotCount, leaf.IsGc, leaf.IsWeakReferenceable), Is.EqualTo((0, false, false)));
        using PyObjectRef o = leaf.New();
        Assert.That(o.Type, Is.SameAs(leaf));
        Assert.That(o.ToString(), Does.Match("^<Bare 0x[0-9a-f]+>$"));
    }

    [Test]
    public void DefineRejectsBadArguments()
    {
        Assert.That(() => PyType.Define(""), Throws.InstanceOf<ArgumentException>());
        Assert.That(() => PyType.Define("a\0b"), Throws.InstanceOf<ArgumentException>());
        Assert.That(() => PyType.Define("T", slots: -1), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => PyType.Define("T", slots: PyType.MaxSlots + 1), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    // ------------------------------------------------------------------ references

    [Test]
    public void HandlesOwnOneReferenceEach()
    {
        PyObjectRef a = ApiTypes.Node.New();
        Assert.That(a.RefCount, Is.EqualTo(1));
        PyObjectRef a2 = a.NewReference();
        Assert.That(a.RefCount, Is.EqualTo(2));
        Assert.That(a2, Is.EqualTo(a), "handles to the same object are equal");
        Assert.That(a2.GetHashCode(), Is.EqualTo(a.GetHashCode()));
        Assert.That(a2, Is.Not.SameAs(a));
        using PyWeakRef w = PyWeakRef.Create(a);
        a.Dispose();
        Assert.That(a2.RefCount, Is.EqualTo(1));
        Assert.That(w.IsAlive, Is.True);
        Assert.That(() => a.RefCount, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => a.Address, Throws.TypeOf<ObjectDisposedException>());
        a2.Dispose();
        Assert.That(w.IsAlive, Is.False, "the last reference freed the object");
        Assert.That(Nodes.Log.GilNotHeld, Is.Zero);
    }

    [Test]
    public void SlotsHoldTheirOwnReferences()
    {
        using PyObjectRef a = ApiTypes.Node.New(), b = ApiTypes.Node.New();
        Assert.That(a.SlotCount, Is.EqualTo(2));
        Assert.That(a[0], Is.Null);
        a[0] = b;
        Assert.That(b.RefCount, Is.EqualTo(2), "the handle and the slot");
        using (PyObjectRef? got = a[0])
        {
            Assert.That(got, Is.EqualTo(b));
            Assert.That(b.RefCount, Is.EqualTo(3), "GetSlot returns a new reference");
        }
        Assert.That(b.RefCount, Is.EqualTo(2));
        a[0] = b;                       // same object again: incref first, then release the old one
        Assert.That(b.RefCount, Is.EqualTo(2));
        a.SetSlot(1, b);
        Assert.That(b.RefCount, Is.EqualTo(3));
        a[0] = null;
        a[1] = null;
        Assert.That(b.RefCount, Is.EqualTo(1));
        Assert.That(() => a[2], Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => a[-1] = b, Throws.TypeOf<ArgumentOutOfRangeException>());

        // The slot owns the last reference after the handle goes: the object lives on.
        using PyWeakRef wb = PyWeakRef.Create(b);
        a[0] = b;
        b.Dispose();
        Assert.That(wb.IsAlive, Is.True);
        a[0] = null;
        Assert.That(wb.IsAlive, Is.False, "overwriting the slot released the last reference");
        Assert.That(() => a[0] = b, Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public unsafe void DetachAndFromReferenceTransferOwnership()
    {
        PyObjectRef a = ApiTypes.Node.New();
        nint raw = a.Detach();
        Assert.That(a.IsClosed, Is.True);
        Assert.That(Native.Refcnt(Ptr(raw)), Is.EqualTo((nint)1), "Detach does not release");
        using PyObjectRef borrowed = PyObjectRef.FromBorrowedReference(raw);
        Assert.That(borrowed.RefCount, Is.EqualTo(2));
        using (PyObjectRef owned = PyObjectRef.FromNewReference(raw))
            Assert.That(owned.RefCount, Is.EqualTo(2));
        Assert.That(borrowed.RefCount, Is.EqualTo(1));
        Assert.That(() => PyObjectRef.FromNewReference(0), Throws.TypeOf<ArgumentNullException>());
    }

    private static unsafe PhnObject* Ptr(nint p) => (PhnObject*)p;

    // ------------------------------------------------------------------ the finalizer thread

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static PyWeakRef DropAnObject()
    {
        PyObjectRef o = ApiTypes.Node.New();
        return PyWeakRef.Create(o);   // o is never disposed
    }

    [Test]
    public void AnUndisposedReferenceIsReleasedByTheFinalizerThread()
    {
        using PyWeakRef w = DropAnObject();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.That(w.IsAlive, Is.False, "the finalizer called phn_decref");
    }

    // The finalizer thread waits for the GIL another thread holds, then releases the object.
    [Test]
    public void TheFinalizerThreadTakesTheGil()
    {
        using PyWeakRef w = DropAnObject();
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            using (PyHeap.AcquireGil())
            {
                held.Set();
                release.Wait();
            }
        });
        holder.Start();
        held.Wait();
        GC.Collect();
        Thread.Sleep(100);   // the finalizer thread is now waiting for the GIL in phn_decref
        release.Set();
        holder.Join();
        GC.WaitForPendingFinalizers();
        Assert.That(w.IsAlive, Is.False);
    }

    [Test]
    public void GilScopeIsRecursiveAndReleased()
    {
        Assert.That(PyHeap.IsGilHeld, Is.False);
        using (PyHeap.AcquireGil())
        {
            Assert.That(PyHeap.IsGilHeld, Is.True);
            using (PyHeap.AcquireGil())
                Assert.That(PyHeap.IsGilHeld, Is.True);
            Assert.That(PyHeap.IsGilHeld, Is.True, "the inner scope found it held and left it");
        }
        Assert.That(PyHeap.IsGilHeld, Is.False);
        GilScope scope = PyHeap.AcquireGil();
        scope.Dispose();
        scope.Dispose();
        Assert.That(PyHeap.IsGilHeld, Is.False, "a second Dispose does nothing");
    }

    // ------------------------------------------------------------------ weak references

    [Test]
    public void AWeakReferenceCallbackRunsOnceWhenTheReferentDies()
    {
        var calls = new List<PyWeakRef>();
        var died = new List<string>();
        PyObjectRef a = ApiTypes.Node.New();
        using PyWeakRef w = PyWeakRef.Create(a, calls.Add);
        w.Died += x => died.Add($"died alive={x.IsAlive}");
        Assert.That(w.HasCallback, Is.True);
        Assert.That(a.WeakReferenceCount, Is.EqualTo(1));
        Assert.That(w.TryGetTarget(out PyObjectRef? t), Is.True);
        using (t)
            Assert.That(t, Is.EqualTo(a));
        Assert.That(calls, Is.Empty);

        a.Dispose();
        Assert.That(calls, Has.Count.EqualTo(1));
        Assert.That(calls[0], Is.SameAs(w), "the callback gets the handle it was registered with");
        Assert.That(died, Is.EqualTo(new[] { "died alive=False" }));
        Assert.That(w.TryGetTarget(out PyObjectRef? none), Is.False);
        Assert.That(none, Is.Null);
    }

    [Test]
    public void CallbacksOfACycleRunDuringTheCollection()
    {
        var calls = 0;
        PyWeakRef w;
        using (PyObjectRef a = ApiTypes.Node.New(), b = ApiTypes.Node.New())
        {
            a[0] = b;
            b[0] = a;
            w = PyWeakRef.Create(a, _ => calls++);
        }
        using (w)
        {
            Assert.That(calls, Is.Zero);
            Assert.That(PyHeap.Gc.Collect(), Is.EqualTo(2));
            Assert.That(calls, Is.EqualTo(1));
            Assert.That(w.IsAlive, Is.False);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (PyObjectRef Holder, PyObjectRef Referent) WeakRefHeldOnlyByASlot(Action<PyWeakRef> callback)
    {
        PyObjectRef holder = ApiTypes.Node.New(), referent = ApiTypes.Node.New();
        using PyWeakRef w = PyWeakRef.Create(referent, callback);
        holder[0] = w;      // the weak reference object outlives its .NET handle
        return (holder, referent);
    }

    [Test]
    public void TheCallbackRunsWithATemporaryHandleWhenItsOwnIsGone()
    {
        var calls = new List<string>();
        var (holder, referent) = WeakRefHeldOnlyByASlot(w => calls.Add($"{w.IsClosed} {w.IsAlive}"));
        using (holder)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            referent.Dispose();
            Assert.That(calls, Is.EqualTo(new[] { "False False" }));
        }
    }

    [Test]
    public void AThrowingWeakReferenceCallbackIsReported()
    {
        var reported = new List<Exception>();
        PyHeap.CallbackException += reported.Add;
        _exceptionHandlers.Add(reported.Add);
        PyObjectRef a = ApiTypes.Node.New();
        using PyWeakRef w = PyWeakRef.Create(a, _ => throw new InvalidOperationException("in callback"));
        a.Dispose();
        Assert.That(reported.Select(e => e.Message), Is.EqualTo(new[] { "in callback" }));
        Assert.That(w.IsAlive, Is.False);
    }

    [Test]
    public void WeakReferencesWithoutCallbackAreSharedAndHaveNoDiedEvent()
    {
        using PyObjectRef a = ApiTypes.Node.New();
        using PyWeakRef w1 = PyWeakRef.Create(a), w2 = PyWeakRef.Create(a);
        Assert.That(w1, Is.EqualTo(w2), "the library shares the callback-less weak reference");
        Assert.That(w1.HasCallback, Is.False);
        Assert.That(() => w1.Died += _ => { }, Throws.TypeOf<InvalidOperationException>());
        Assert.That(a.WeakReferenceCount, Is.EqualTo(1));
        using (PyObjectRef copy = w1.NewReference())
            Assert.That(copy, Is.TypeOf<PyWeakRef>());
    }

    [Test]
    public void AWeakReferenceToANonWeakReferenceableTypeIsAnArgumentException()
    {
        using PyObjectRef o = ApiTypes.Plain.New();
        var e = Assert.Throws<ArgumentException>(() => PyWeakRef.Create(o));
        Assert.That(e!.Message, Is.EqualTo("cannot create weak reference to 'ApiPlain' object"));
        Assert.That(() => PyWeakRef.Create(o, _ => { }), Throws.TypeOf<ArgumentException>());
    }
}
