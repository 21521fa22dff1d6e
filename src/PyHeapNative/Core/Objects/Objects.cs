// Objects: allocation (tp_alloc / PyObject_GC_New), reference counting, deallocation in
// CPython's order, and the trashcan. Everything runs with the GIL held.
//
// Deallocation (_Py_Dealloc, spec-gc §3.2, §5.5, §5.6):
//
//     DecRef -> count 0 -> Dealloc(op)
//        nesting >= 50?  deposit op on the "delete later" list, return     (the trashcan)
//        nesting++; the type's dealloc (a C callback, or DefaultDealloc); nesting--
//        nesting back to 0?  drain the list, each object's dealloc in turn
//
// A chain of a million objects whose deallocs release each other thus runs in pieces of 50
// frames (CPython 3.14 does it for GC types in _Py_Dealloc; here every type takes part). The
// list is threaded through ob_refcnt, stored inverted (~link, so negative: a weak reference
// to a waiting object already reads dead), bit 0 of the link saying the object must be
// re-tracked before its dealloc runs. Waiting objects are untracked: the collector never
// sees a count of 0.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Objects;

internal static unsafe class Objects
{
    internal const int TrashcanDepth = 50;   // PHN_TRASHCAN_DEPTH

    // the trashcan's words are ObjectState's: C's phn_dealloc nests deallocs too
    private static ref int DeleteNesting => ref ObjectState.Words->DeleteNesting;
    private static ref PhnObject* DeleteLater => ref ObjectState.Words->DeleteLater;

    // ---- fast path: reference counting ------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void IncRef(PhnObject* op)
    {
        if (!IsImmortal(op))
            op->RefCnt++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void DecRef(PhnObject* op)
    {
        if (IsImmortal(op))
            return;
        if (--op->RefCnt == 0)
            Dealloc(op);
    }

    // ---- fast path: allocation ---------------------------------------------------------

    /// <summary>A zeroed object with n items and refcount 1, tracked when GC and track is
    /// set; null if memory ran out (errno = ENOMEM, nothing changed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PhnObject* Allocate(TypeObject* t, nint n, bool track)
    {
        nuint size = (nuint)t->PreSize + (nuint)t->BasicSize;
        if (n != 0)
        {
            if ((ulong)n > (ulong)(nint.MaxValue - (nint)size) / (ulong)t->ItemSize)
                return (PhnObject*)RawDomain.OutOfMemory();
            size += (nuint)n * (nuint)t->ItemSize;
        }
        byte* block = (byte*)Domains.Domains.Calloc(ref Domains.Domains.Obj, 1, size, Call.UnknownCaller);
        if (block == null)
            return null;
        var op = (PhnObject*)(block + t->PreSize);
        op->RefCnt = 1;
        op->Type = t;
        if (t->ItemSize != 0)
            ((PhnVarObject*)op)->Size = n;
        if (track && (t->Flags & TypeFlags.HaveGc) != 0)
            Generations.Track(op);
        return op;
    }

    /// <summary>tp_free: unlink if still tracked, count0 - 1 for a GC object, free.</summary>
    internal static void Free(PhnObject* op)
    {
        TypeObject* t = op->Type;
        if ((t->Flags & TypeFlags.HaveGc) != 0)
        {
            Generations.Untrack(op);
            Generations.OnFree();
        }
        if ((t->Flags & TypeFlags.WeakRefable) != 0 && *WeakList(op) != null)
            Weakrefs.ClearAll(op, callbacks: false);   // never leave a weak reference dangling
        Domains.Domains.Free(ref Domains.Domains.Obj, (byte*)op - t->PreSize, Call.UnknownCaller);
    }

    /// <summary>PyObject_GC_Resize on an untracked var object; null if memory ran out (the
    /// object is then unchanged).</summary>
    internal static PhnObject* Resize(PhnObject* op, nint n)
    {
        TypeObject* t = op->Type;
        nint old = VarSize(op);
        nuint size = (nuint)t->PreSize + (nuint)t->BasicSize;
        if ((ulong)n > (ulong)(nint.MaxValue - (nint)size) / (ulong)t->ItemSize)
            return (PhnObject*)RawDomain.OutOfMemory();
        size += (nuint)n * (nuint)t->ItemSize;
        byte* block = (byte*)Domains.Domains.Realloc(ref Domains.Domains.Obj, (byte*)op - t->PreSize, size, Call.UnknownCaller);
        if (block == null)
            return null;
        op = (PhnObject*)(block + t->PreSize);
        if (n > old)
        {
            byte* items = (byte*)op + t->BasicSize;
            new Span<byte>(items + old * t->ItemSize, (int)((n - old) * t->ItemSize)).Clear();
        }
        ((PhnVarObject*)op)->Size = n;
        return op;
    }

    // ---- deallocation -------------------------------------------------------------------

    /// <summary>_Py_Dealloc: the count reached 0.</summary>
    internal static void Dealloc(PhnObject* op)
    {
        if (DeleteNesting >= TrashcanDepth)
        {
            Deposit(op);
            return;
        }
        DeleteNesting++;
        try
        {
            RunDealloc(op);
        }
        finally
        {
            DeleteNesting--;
        }
        if (DeleteNesting == 0 && DeleteLater != null)
            DrainTrashcan();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunDealloc(PhnObject* op)
    {
        var dealloc = op->Type->Dealloc;
        if (dealloc != null)
            dealloc(op);
        else
            DefaultDealloc(op);
    }

    private static void Deposit(PhnObject* op)
    {
        TypeObject* t = op->Type;
        nint link = (nint)DeleteLater;
        if ((t->Flags & TypeFlags.HaveGc) != 0 && IsTracked(op))
        {
            Generations.Untrack(op);
            // A callback dealloc or a finalizer expects the object as it left it: tracked.
            if (t->Dealloc != null || t->Finalize != null || t->Del != null)
                link |= 1;
        }
        op->RefCnt = ~link;
        DeleteLater = op;
    }

    /// <summary>Drains the trashcan when no dealloc is running (C's phn_dealloc asks, after
    /// its outermost dealloc returned).</summary>
    internal static void DrainIfOutermost()
    {
        if (DeleteNesting == 0 && DeleteLater != null)
            DrainTrashcan();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DrainTrashcan()
    {
        DeleteNesting = 1;   // the drain must not drain itself
        try
        {
            while (DeleteLater != null)
            {
                PhnObject* op = DeleteLater;
                nint link = ~op->RefCnt;
                DeleteLater = (PhnObject*)(link & ~(nint)1);
                op->RefCnt = 0;
                if ((link & 1) != 0)
                    Generations.Relink(op);
                RunDealloc(op);
            }
        }
        finally
        {
            DeleteNesting = 0;
        }
    }

    /// <summary>The dealloc of a type without a dealloc callback: CPython's subtype_dealloc
    /// order (spec-gc §5.5) over the reference layout.</summary>
    internal static void DefaultDealloc(PhnObject* op)
    {
        TypeObject* t = op->Type;
        uint flags = t->Flags;
        if ((flags & TypeFlags.IsWeakref) != 0)
        {
            Weakrefs.DeallocWeakref(op);
            return;
        }
        if (t->Finalize != null && CallFinalizerFromDealloc(op) < 0)
            return;   // resurrected
        bool gc = (flags & TypeFlags.HaveGc) != 0;
        if (gc)
            Generations.Untrack(op);
        bool weak = (flags & TypeFlags.WeakRefable) != 0;
        if (weak && *WeakList(op) != null)
            Weakrefs.ClearAll(op, callbacks: true);
        if (t->Del != null)
        {
            if (gc)
                Generations.Relink(op);
            op->RefCnt = 1;
            CallSlot(t->Del, op, "del");
            if (--op->RefCnt != 0)
                return;   // resurrected by del
            if (gc)
                Generations.Untrack(op);
        }
        if (weak && (t->Finalize != null || t->Del != null) && *WeakList(op) != null)
            Weakrefs.ClearAll(op, callbacks: false);
        if ((flags & TypeFlags.HasLayoutRefs) != 0)
            ClearLayout(op, t);
        Free(op);
    }

    /// <summary>Releases the layout's references, each field set to NULL before its DECREF
    /// (Py_CLEAR). Also the collector's clear for layout types.</summary>
    internal static void ClearLayout(PhnObject* op, TypeObject* t)
    {
        uint* offsets = t->RefOffsets;
        for (int i = 0; i < t->RefCount; i++)
        {
            var field = (PhnObject**)((byte*)op + offsets[i]);
            PhnObject* r = *field;
            if (r != null)
            {
                *field = null;
                DecRef(r);
            }
        }
        if ((t->Flags & TypeFlags.ItemsAreRefs) != 0)
        {
            // Re-read the size each step: a DECREF may run code that resizes nothing we own,
            // but the object itself stays valid (we hold it).
            var items = (PhnObject**)((byte*)op + t->BasicSize);
            for (nint i = 0; i < VarSize(op); i++)
            {
                PhnObject* r = items[i];
                if (r != null)
                {
                    items[i] = null;
                    DecRef(r);
                }
            }
        }
    }

    // ---- finalizers -----------------------------------------------------------------------

    /// <summary>PyObject_CallFinalizer: once for GC objects (then marked finalized).</summary>
    internal static void CallFinalizer(PhnObject* op)
    {
        TypeObject* t = op->Type;
        if (t->Finalize == null)
            return;
        bool gc = (t->Flags & TypeFlags.HaveGc) != 0;
        if (gc && (AsGc(op)->Prev & PrevFinalized) != 0)
            return;
        CallSlot(t->Finalize, op, "finalize");
        if (gc)
            AsGc(op)->Prev |= PrevFinalized;
    }

    /// <summary>PyObject_CallFinalizerFromDealloc: 0 to go on destroying, -1 if the
    /// finalizer resurrected the object.</summary>
    internal static int CallFinalizerFromDealloc(PhnObject* op)
    {
        if (op->RefCnt != 0)
        {
            ObjectDump.FatalAssertion(
                "PyObject_CallFinalizerFromDealloc: Assertion failed: PyObject_CallFinalizerFromDealloc called on object with a non-zero refcount", op);
            return -1;   // the fatal handler returned: do not destroy a live object
        }
        op->RefCnt = 1;   // temporary resurrection
        CallFinalizer(op);
        if (--op->RefCnt == 0)
            return 0;
        return -1;
    }

    /// <summary>Calls a finalize / del / clear slot; a failure is reported, never returned
    /// (CPython's "Exception ignored in ...").</summary>
    internal static void CallSlot(delegate* unmanaged[Cdecl]<PhnObject*, int> slot, PhnObject* op, string what)
    {
        int rc = slot(op);
        if (rc != 0)
            ReportIgnored($"Exception ignored in tp_{what} of {ObjectDump.Describe(op)}: the callback returned {rc}");
    }

    internal static void ReportIgnored(string message) => Errors.Report(Status.CallbackFailed, message);

    // ---- refcount errors ------------------------------------------------------------------

    internal static void NegativeRefcount(string file, int line, PhnObject* op) =>
        ObjectDump.FatalAssertion($"{file}:{line}: _Py_NegativeRefcount: Assertion failed: object has negative ref count", op);
}
