// Objects.cs - the object model (phn_object.h, phn_weakref.h) for .NET: PyType (a type from a
// reference layout), PyObjectRef (an owned reference: a SafeHandle released with phn_decref)
// and PyWeakRef (a weak reference, with a managed callback when the referent dies).
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace PyHeapNative.Interop;

/// <summary>
/// An object type of the library (<c>phn_type</c>). <see cref="Define"/> makes one from a
/// reference layout: <c>slots</c> object references after the header, which the library
/// traverses, clears and releases by itself (no callback into .NET). Types live until the
/// process ends.
/// </summary>
/// <example><code>
/// PyType node = PyType.Define("Node", slots: 2, gc: true, weakrefable: true);
/// using PyObjectRef a = node.New(), b = node.New();
/// a[0] = b;    // a holds a reference to b
/// b[0] = a;    // a cycle: only the collector can free it once a and b are disposed
/// </code></example>
public sealed unsafe class PyType
{
    /// <summary>The largest number of slots <see cref="Define"/> accepts.</summary>
    public const int MaxSlots = 1 << 20;

    private static readonly ConcurrentDictionary<nint, PyType> s_types = new();

    private PyType(nint handle, string name, uint flags, int slotCount)
    {
        Handle = handle;
        Name = name;
        Flags = flags;
        SlotCount = slotCount;
    }

    /// <summary>The <c>phn_type*</c>, for calls through <see cref="Native"/>.</summary>
    public nint Handle { get; }

    /// <summary>The type's name, as shown in diagnostics (<c>&lt;Name 0x...&gt;</c>).</summary>
    public string Name { get; }

    /// <summary>The type's <c>PHN_TPFLAGS_*</c> flags.</summary>
    public uint Flags { get; }

    /// <summary>
    /// The number of reference slots of a type made by <see cref="Define"/>; 0 for the other
    /// types (made through <see cref="Native.TypeNew"/>, or the library's own such as weakref).
    /// </summary>
    public int SlotCount { get; }

    /// <summary>Instances are tracked by the cyclic collector (<c>PHN_TPFLAGS_HAVE_GC</c>).</summary>
    public bool IsGc => (Flags & Native.PHN_TPFLAGS_HAVE_GC) != 0;

    /// <summary>Instances can be weakly referenced (<c>PHN_TPFLAGS_WEAKREFABLE</c>).</summary>
    public bool IsWeakReferenceable => (Flags & Native.PHN_TPFLAGS_WEAKREFABLE) != 0;

    /// <summary>
    /// Creates a type whose instances are a <c>phn_object</c> header followed by
    /// <paramref name="slots"/> object references (<c>phn_object*</c>, null at first).
    /// </summary>
    /// <param name="name">The type's name (copied by the library).</param>
    /// <param name="slots">The number of reference slots, 0 to <see cref="MaxSlots"/>.</param>
    /// <param name="gc">Whether instances are tracked by the cyclic collector, so that cycles through them are freed.</param>
    /// <param name="weakrefable">Whether instances can be weakly referenced (<see cref="PyWeakRef"/>).</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or contains a NUL, or the library refused the layout.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slots"/> is negative or above <see cref="MaxSlots"/>.</exception>
    public static PyType Define(string name, int slots = 0, bool gc = true, bool weakrefable = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('\0'))
            throw new ArgumentException("The type name contains a NUL character.", nameof(name));
        ArgumentOutOfRangeException.ThrowIfNegative(slots);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slots, MaxSlots);

        uint flags = (gc ? Native.PHN_TPFLAGS_HAVE_GC : 0) | (weakrefable ? Native.PHN_TPFLAGS_WEAKREFABLE : 0);
        var offsets = new uint[slots];
        for (int i = 0; i < slots; i++)
            offsets[i] = (uint)(sizeof(PhnObject) + i * sizeof(nint));
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");

        PhnType* type;
        fixed (byte* pName = utf8)
        fixed (uint* pOffsets = offsets)
        {
            PhnTypeSpec spec = new()
            {
                StructSize = (uint)sizeof(PhnTypeSpec),
                Flags = flags,
                Name = pName,
                Basicsize = sizeof(PhnObject) + (long)slots * sizeof(nint),
                Itemsize = 0,
                RefOffsets = slots == 0 ? null : pOffsets,
                RefCount = (uint)slots,
            };
            type = Native.TypeNew(&spec);   // name and offsets are copied
        }
        if (type == null)
            ThrowHelper.ThrowLastError();
        var result = new PyType((nint)type, name, flags, slots);
        s_types[(nint)type] = result;
        return result;
    }

    /// <summary>The <see cref="PyType"/> of a <c>phn_type*</c> (a new wrapper with no slots for a type not made by <see cref="Define"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="handle"/> is 0.</exception>
    public static PyType FromHandle(nint handle)
    {
        if (handle == 0)
            throw new ArgumentNullException(nameof(handle));
        return s_types.GetOrAdd(handle, static h => new PyType(h,
            Marshal.PtrToStringUTF8((nint)Native.TypeName((PhnType*)h)) ?? "?",
            Native.TypeFlags((PhnType*)h), 0));
    }

    /// <summary>
    /// A new instance (<c>phn_object_new</c>): slots null, reference count 1 (the returned
    /// handle's), tracked if the type is a GC type. Tracking may run an automatic collection
    /// before this returns.
    /// </summary>
    /// <exception cref="OutOfMemoryException">Memory ran out.</exception>
    /// <exception cref="ArgumentException">The library refused (a variable-size type).</exception>
    public PyObjectRef New()
    {
        var result = new PyObjectRef();   // before the native object, so nothing can leak it
        PhnObject* op = Native.ObjectNew((PhnType*)Handle);
        if (op == null)
            ThrowHelper.ThrowLastError();
        result.Attach((nint)op);
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// An owned (strong) reference to a library object: a <see cref="SafeHandle"/> whose release
/// is <c>phn_decref</c>. Dispose it to drop the reference; a reference never disposed is
/// dropped by the finalizer thread (the library takes its lock for that call by itself).
/// </summary>
/// <remarks>
/// Every handle returned by this API (by <see cref="PyType.New"/>, <see cref="GetSlot"/>, the
/// listings of <see cref="PyHeap.Gc"/>, ...) owns one reference. Two handles to the same
/// object are <see cref="Equals(PyObjectRef)">equal</see>. Reading and writing slots takes the
/// library's lock for the duration of the call.
/// </remarks>
public unsafe class PyObjectRef : SafeHandle, IEquatable<PyObjectRef>
{
    internal PyObjectRef()
        : base(0, ownsHandle: true)
    {
    }

    internal void Attach(nint op) => SetHandle(op);

    /// <summary>
    /// Wraps a borrowed or new reference in the right handle type (a <see cref="PyWeakRef"/>
    /// for a weak reference). The handle is made first, so that no failure can lose a reference.
    /// </summary>
    internal static PyObjectRef Wrap(PhnObject* op, bool incref, PyWeakRef.CallbackState? state = null)
    {
        PyObjectRef r = Native.WeakrefCheck(op) == 1 ? new PyWeakRef(state) : new PyObjectRef();
        if (incref)
            Native.Incref(op);
        r.Attach((nint)op);
        return r;
    }

    /// <summary>Takes ownership of a new reference (one the caller would otherwise <c>phn_decref</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="obj"/> is 0.</exception>
    public static PyObjectRef FromNewReference(nint obj)
    {
        if (obj == 0)
            throw new ArgumentNullException(nameof(obj));
        return Wrap((PhnObject*)obj, incref: false);
    }

    /// <summary>Makes a new reference to a borrowed one (<c>phn_incref</c>) and owns it.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="obj"/> is 0.</exception>
    public static PyObjectRef FromBorrowedReference(nint obj)
    {
        if (obj == 0)
            throw new ArgumentNullException(nameof(obj));
        return Wrap((PhnObject*)obj, incref: true);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>The object's address (<c>phn_object*</c>), for calls through <see cref="Native"/>.</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public nint Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    /// <summary>The object's type.</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public PyType Type
    {
        get
        {
            using var self = new HandleLease(this);
            return PyType.FromHandle((nint)((PhnObject*)self.Value)->ObType);
        }
    }

    /// <summary>The reference count (<c>phn_refcnt</c>), this handle's reference included.</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public long RefCount
    {
        get
        {
            using var self = new HandleLease(this);
            return Native.Refcnt((PhnObject*)self.Value);
        }
    }

    /// <summary>The object's type is a GC type (<c>phn_object_is_gc</c>).</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public bool IsGc
    {
        get
        {
            using var self = new HandleLease(this);
            return Native.ObjectIsGc((PhnObject*)self.Value) == 1;
        }
    }

    /// <summary>The collector tracks the object (<c>gc.is_tracked</c>).</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public bool IsTracked => PyHeap.Gc.IsTracked(this);

    /// <summary>The object's finalizer has run (<c>gc.is_finalized</c>).</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public bool IsFinalized => PyHeap.Gc.IsFinalized(this);

    /// <summary>The number of live weak references to the object (<c>weakref.getweakrefcount</c>).</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public long WeakReferenceCount
    {
        get
        {
            using var self = new HandleLease(this);
            return ThrowHelper.CheckCount(Native.WeakrefCount((PhnObject*)self.Value));
        }
    }

    /// <summary>The number of reference slots (<see cref="PyType.SlotCount"/>).</summary>
    public int SlotCount => Type.SlotCount;

    /// <summary>A slot of an object of a <see cref="PyType.Define"/>d type: <see cref="GetSlot"/> and <see cref="SetSlot"/>.</summary>
    /// <param name="slot">The slot index.</param>
    /// <remarks>The getter returns a new handle each time; dispose it.</remarks>
    public PyObjectRef? this[int slot]
    {
        get => GetSlot(slot);
        set => SetSlot(slot, value);
    }

    /// <summary>A new reference to the object in a slot, or null if the slot is empty.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is not below <see cref="SlotCount"/>.</exception>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public PyObjectRef? GetSlot(int slot)
    {
        using var self = new HandleLease(this);
        PhnObject** slots = Slots(self.Value, slot);
        using GilScope gil = PyHeap.AcquireGil();
        PhnObject* value = slots[slot];
        return value == null ? null : Wrap(value, incref: true);
    }

    /// <summary>
    /// Stores a new reference to <paramref name="value"/> (or null) in a slot and then releases
    /// the object the slot held (CPython's <c>Py_XSETREF</c>), which may free it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is not below <see cref="SlotCount"/>.</exception>
    /// <exception cref="ObjectDisposedException">This reference or <paramref name="value"/> was disposed.</exception>
    public void SetSlot(int slot, PyObjectRef? value)
    {
        using var self = new HandleLease(this);
        PhnObject** slots = Slots(self.Value, slot);
        using HandleLease v = value is null ? default : new HandleLease(value);
        using GilScope gil = PyHeap.AcquireGil();
        PhnObject* nv = (PhnObject*)v.Value;
        if (nv != null)
            Native.Incref(nv);
        PhnObject* old = slots[slot];
        slots[slot] = nv;
        if (old != null)
            Native.Decref(old);
    }

    private PhnObject** Slots(nint self, int slot)
    {
        int count = PyType.FromHandle((nint)((PhnObject*)self)->ObType).SlotCount;
        if ((uint)slot >= (uint)count)
            throw new ArgumentOutOfRangeException(nameof(slot), slot, $"The object has {count} slot(s).");
        return (PhnObject**)((byte*)self + sizeof(PhnObject));
    }

    /// <summary>Another owned reference to the same object (<c>phn_incref</c>).</summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public PyObjectRef NewReference()
    {
        using var self = new HandleLease(this);
        return Wrap((PhnObject*)self.Value, incref: true, (this as PyWeakRef)?.State);
    }

    /// <summary>
    /// Gives up ownership: returns the object's address, whose reference the caller now owns
    /// (to pass to C that steals it, or to <see cref="FromNewReference"/>), and closes this handle.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
    public nint Detach()
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        nint p = handle;
        SetHandleAsInvalid();
        return p;
    }

    /// <summary>Releases the reference (<c>phn_decref</c>, which takes the library's lock if this thread does not hold it).</summary>
    protected override bool ReleaseHandle()
    {
        Native.Decref((PhnObject*)handle);
        return true;
    }

    /// <summary>Whether both handles refer to the same object.</summary>
    public bool Equals(PyObjectRef? other) => other is not null && other.handle == handle;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as PyObjectRef);

    /// <inheritdoc/>
    public override int GetHashCode() => handle.GetHashCode();

    /// <summary><c>&lt;TypeName 0x...&gt;</c>, as the library's diagnostics name objects.</summary>
    public override string ToString() => IsClosed ? "<disposed PyObjectRef>" : $"<{Type.Name} 0x{handle:x}>";
}

/// <summary>
/// A weak reference (<c>phn_weakref_new</c>, CPython's <c>weakref.ref</c>): it does not keep
/// its referent alive. The handle itself owns a strong reference to the weak-reference object.
/// </summary>
/// <remarks>
/// A weak reference made with a callback is called back, with the library's lock held and on
/// the thread where the referent died, once it is dead (the collector's order follows
/// CPython: not if the weak reference itself died first or is part of the garbage).
/// Exceptions thrown by the callback go to <see cref="PyHeap.CallbackException"/>.
/// </remarks>
/// <example><code>
/// using PyWeakRef w = PyWeakRef.Create(obj, dead => Console.WriteLine("gone"));
/// if (w.TryGetTarget(out PyObjectRef? target)) using (target) { /* alive */ }
/// </code></example>
public sealed unsafe class PyWeakRef : PyObjectRef
{
    private static readonly ConcurrentDictionary<nint, CallbackState> s_states = new();
    private static long s_nextId;

    internal sealed class CallbackState(nint id)
    {
        public nint Id { get; } = id;
        public readonly object Lock = new();
        public Action<PyWeakRef>? Handlers;
        public WeakReference<PyWeakRef>? Owner;
    }

    internal PyWeakRef(CallbackState? state) => State = state;

    internal CallbackState? State { get; }

    /// <summary>A weak reference without a callback (the library shares one per referent).</summary>
    /// <exception cref="ArgumentException">The referent's type is not weak-referenceable.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="referent"/> was disposed.</exception>
    public static PyWeakRef Create(PyObjectRef referent)
    {
        ArgumentNullException.ThrowIfNull(referent);
        var w = new PyWeakRef(null);
        using var r = new HandleLease(referent);
        PhnObject* p = Native.WeakrefNew((PhnObject*)r.Value, null, null);
        if (p == null)
            ThrowHelper.ThrowLastError();
        w.Attach((nint)p);
        return w;
    }

    /// <summary>
    /// A weak reference whose <paramref name="callback"/> (and later <see cref="Died"/>
    /// handlers) run once its referent is dead.
    /// </summary>
    /// <exception cref="ArgumentException">The referent's type is not weak-referenceable.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="referent"/> was disposed.</exception>
    public static PyWeakRef Create(PyObjectRef referent, Action<PyWeakRef> callback)
    {
        ArgumentNullException.ThrowIfNull(referent);
        ArgumentNullException.ThrowIfNull(callback);
        var state = new CallbackState((nint)Interlocked.Increment(ref s_nextId)) { Handlers = callback };
        var w = new PyWeakRef(state);
        state.Owner = new WeakReference<PyWeakRef>(w);
        s_states[state.Id] = state;
        PhnObject* p;
        try
        {
            using var r = new HandleLease(referent);
            p = Native.WeakrefNew((PhnObject*)r.Value, &OnReferentDeath, (void*)state.Id);
            if (p == null)
                ThrowHelper.ThrowLastError();
        }
        catch
        {
            s_states.TryRemove(state.Id, out _);
            throw;
        }
        w.Attach((nint)p);
        return w;
    }

    /// <summary>Whether this weak reference was created with a callback through <see cref="Create(PyObjectRef, Action{PyWeakRef})"/>.</summary>
    public bool HasCallback => State is not null;

    /// <summary>
    /// Raised once the referent is dead, after the creation callback; only for a weak
    /// reference created with a callback.
    /// </summary>
    /// <exception cref="InvalidOperationException">Subscribing to a weak reference made without a callback.</exception>
    public event Action<PyWeakRef>? Died
    {
        add
        {
            CallbackState s = State ?? throw new InvalidOperationException("This weak reference was created without a callback.");
            lock (s.Lock)
                s.Handlers += value;
        }
        remove
        {
            if (State is { } s)
            {
                lock (s.Lock)
                    s.Handlers -= value;
            }
        }
    }

    /// <summary>A new reference to the referent while it lives (<c>phn_weakref_get_ref</c>).</summary>
    /// <param name="target">The referent (dispose it), or null once it is dead.</param>
    /// <exception cref="ObjectDisposedException">The weak reference was disposed.</exception>
    public bool TryGetTarget([NotNullWhen(true)] out PyObjectRef? target)
    {
        using var self = new HandleLease(this);
        var t = new PyObjectRef();   // a weak reference is never weak-referenceable: the target is a plain object
        PhnObject* o = null;
        int r = Native.WeakrefGetRef((PhnObject*)self.Value, &o);
        if (r < 0)
            ThrowHelper.ThrowForStatus(r);
        if (r == 0 || o == null)
        {
            target = null;
            return false;
        }
        t.Attach((nint)o);
        target = t;
        return true;
    }

    /// <summary>Whether the referent still lives.</summary>
    /// <exception cref="ObjectDisposedException">The weak reference was disposed.</exception>
    public bool IsAlive
    {
        get
        {
            if (!TryGetTarget(out PyObjectRef? t))
                return false;
            t.Dispose();
            return true;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        if (State is null)
            return base.ReleaseHandle();
        int gil = Native.GilEnsure();
        try
        {
            // The last reference: the weak reference dies with it and can never call back.
            if (Native.Refcnt((PhnObject*)handle) <= 1)
                s_states.TryRemove(State.Id, out _);
            Native.Decref((PhnObject*)handle);
        }
        finally
        {
            if (gil >= 0)
                Native.GilRelease(gil);
        }
        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int OnReferentDeath(void* ctx, PhnObject* weakref)
    {
        try
        {
            if (!s_states.TryRemove((nint)ctx, out CallbackState? state))
                return 0;
            Action<PyWeakRef>? handlers;
            lock (state.Lock)
                handlers = state.Handlers;
            if (handlers is null)
                return 0;
            PyWeakRef? owner = null;
            state.Owner?.TryGetTarget(out owner);
            bool temporary = owner is null || owner.IsClosed;
            PyWeakRef w = owner!;
            if (temporary)
            {
                w = new PyWeakRef(state);
                Native.Incref(weakref);
                w.Attach((nint)weakref);
            }
            bool failed = false;
            try
            {
                foreach (Action<PyWeakRef> handler in handlers.GetInvocationList().Cast<Action<PyWeakRef>>())
                {
                    try
                    {
                        handler(w);
                    }
                    catch (Exception e)
                    {
                        failed = true;
                        PyHeap.ReportCallbackException(e);
                    }
                }
            }
            finally
            {
                if (temporary)
                    w.Dispose();
            }
            return failed ? -1 : 0;
        }
        catch (Exception e)
        {
            PyHeap.ReportCallbackException(e);
            return -1;
        }
    }
}
