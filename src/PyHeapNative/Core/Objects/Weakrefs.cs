// Weak references (spec-gc §13). A weak reference is a GC object of the library's type
// "weakref"; a weak-referenceable object keeps the head of a doubly-linked list of them in
// its pre-header (ObjectLayout.WeakList). The list holds at most one callback-less ("basic")
// reference, always first; references with a callback are inserted right after it, so the
// most recent comes first and callbacks run in reverse order of creation, as CPython's.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Objects;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct WeakrefObject
{
    public PhnObject Base;
    public PhnObject* Referent;     // borrowed; null once dead
    public delegate* unmanaged[Cdecl]<void*, PhnObject*, int> Callback;
    public void* Context;
    public WeakrefObject* Prev;
    public WeakrefObject* Next;
}

internal static unsafe class Weakrefs
{
    internal static TypeObject* Type;   // "weakref", created at start-up

    internal static bool Initialize()
    {
        byte* name = (byte*)Libc.Calloc(1, 8);
        if (name == null)
            return false;
        "weakref"u8.CopyTo(new Span<byte>(name, 7));
        var spec = new TypeSpec
        {
            StructSize = (uint)sizeof(TypeSpec),
            Flags = TypeFlags.HaveGc,
            Name = name,
            BasicSize = sizeof(WeakrefObject),
        };
        Type = Types.Create(&spec, out _);
        if (Type == null)
            return false;
        Type->Flags |= TypeFlags.IsWeakref;
        return true;
    }

    internal static bool IsWeakref(PhnObject* op) => op->Type == Type;

    /// <summary>phn_weakref_new; null with ENOMEM if memory ran out.</summary>
    internal static PhnObject* New(PhnObject* referent, delegate* unmanaged[Cdecl]<void*, PhnObject*, int> callback, void* context)
    {
        PhnObject** head = WeakList(referent);
        if (callback == null && *head != null && ((WeakrefObject*)*head)->Callback == null)
        {
            Objects.IncRef(*head);
            return *head;
        }
        var wr = (WeakrefObject*)Objects.Allocate(Type, 0, track: false);
        if (wr == null)
            return null;
        wr->Referent = referent;
        wr->Callback = callback;
        wr->Context = context;
        var first = (WeakrefObject*)*head;
        if (callback == null)
        {
            InsertAfter(wr, null, head);
        }
        else if (first != null && first->Callback == null)
        {
            InsertAfter(wr, first, head);
        }
        else
        {
            InsertAfter(wr, null, head);
        }
        Generations.Track(&wr->Base);   // last: it may collect, and wr is complete
        return &wr->Base;
    }

    private static void InsertAfter(WeakrefObject* wr, WeakrefObject* prev, PhnObject** head)
    {
        if (prev == null)
        {
            wr->Prev = null;
            wr->Next = (WeakrefObject*)*head;
            if (wr->Next != null)
                wr->Next->Prev = wr;
            *head = &wr->Base;
        }
        else
        {
            wr->Prev = prev;
            wr->Next = prev->Next;
            if (wr->Next != null)
                wr->Next->Prev = wr;
            prev->Next = wr;
        }
    }

    /// <summary>clear_weakref: unlink from the referent's list; dead from now on. The
    /// callback is dropped unless keepCallback (the collector calls it afterwards).</summary>
    internal static void Clear(WeakrefObject* wr, bool keepCallback = false)
    {
        PhnObject* referent = wr->Referent;
        if (referent != null)
        {
            PhnObject** head = WeakList(referent);
            if (*head == &wr->Base)
                *head = (PhnObject*)wr->Next;
            if (wr->Prev != null)
                wr->Prev->Next = wr->Next;
            if (wr->Next != null)
                wr->Next->Prev = wr->Prev;
            wr->Prev = wr->Next = null;
            wr->Referent = null;
        }
        if (!keepCallback)
            wr->Callback = null;
    }

    /// <summary>The referent with a new reference, or null when dead (a referent whose count
    /// is 0 or below — dying, or waiting in the trashcan — is dead).</summary>
    internal static PhnObject* GetRef(WeakrefObject* wr)
    {
        PhnObject* r = wr->Referent;
        if (r == null || r->RefCnt <= 0)
            return null;
        Objects.IncRef(r);
        return r;
    }

    internal static long Count(PhnObject* op)
    {
        long n = 0;
        for (var wr = (WeakrefObject*)*WeakList(op); wr != null; wr = wr->Next)
            n++;
        return n;
    }

    /// <summary>PyObject_ClearWeakRefs (callbacks) or ..._NoCallbacks: every weak reference
    /// is cleared first, then the callbacks run in list order, each with a reference to
    /// its weak reference; a failing callback is reported and the others still run.</summary>
    internal static void ClearAll(PhnObject* op, bool callbacks)
    {
        PhnObject** head = WeakList(op);
        if (!callbacks)
        {
            while (*head != null)
                Clear((WeakrefObject*)*head);
            return;
        }
        // The basic reference first, without a callback.
        if (*head != null && ((WeakrefObject*)*head)->Callback == null)
            Clear((WeakrefObject*)*head);
        if (*head == null)
            return;

        long count = Count(op);
        const int OnStack = 16;
        WeakrefObject** pending = stackalloc WeakrefObject*[OnStack];
        WeakrefObject** heap = null;
        if (count > OnStack)
        {
            heap = (WeakrefObject**)Libc.Malloc((nuint)count * (nuint)sizeof(void*));
            if (heap != null)
                pending = heap;
            else
                count = OnStack;   // no memory: the rest are cleared without their callback
        }
        int n = 0;
        while (*head != null)
        {
            var wr = (WeakrefObject*)*head;
            bool call = wr->Callback != null && wr->Base.RefCnt > 0 && n < count;
            Clear(wr, keepCallback: call);
            if (call)
            {
                Objects.IncRef(&wr->Base);
                pending[n++] = wr;
            }
        }
        for (int i = 0; i < n; i++)
        {
            WeakrefObject* wr = pending[i];
            CallBack(wr);
            Objects.DecRef(&wr->Base);
        }
        if (heap != null)
            Libc.Free(heap);
    }

    /// <summary>Calls a cleared weak reference's callback once (it is dropped first); a
    /// failure is reported, never returned. The caller holds a reference to wr.</summary>
    internal static void CallBack(WeakrefObject* wr)
    {
        var cb = wr->Callback;
        wr->Callback = null;
        if (cb == null)
            return;
        int rc = cb(wr->Context, &wr->Base);
        if (rc != 0)
            Objects.ReportIgnored($"Exception ignored on calling weakref callback of {ObjectDump.Describe(&wr->Base)}: the callback returned {rc}");
    }

    /// <summary>The weak reference's own dealloc: untrack, clear (no callback), free.</summary>
    internal static void DeallocWeakref(PhnObject* op)
    {
        Generations.Untrack(op);
        Clear((WeakrefObject*)op);
        Objects.Free(op);
    }
}
