// Traversal: every reference an object owns, visited by one of the collector's visitors.
// A type described by its reference layout is walked here, inline, with no call into C
// (DESIGN.md §4). A type with a traverse callback is called with the C-callable form of the
// same visitor (Exports/GcVisitors.cs), whose arg is the visitor struct itself.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Objects;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Gc;

/// <summary>A visitor: Visit returns true to stop the traversal (a non-zero visitproc).</summary>
internal unsafe interface IVisitor
{
    bool Visit(PhnObject* referent);

    /// <summary>The C-callable visitproc for this visitor (set at start-up).</summary>
    static abstract delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction { get; }

    /// <summary>The same visitor written in C (Native/phn_gc_visit.c), or null. With one,
    /// the traverse callback is called without a GC transition and visits without one.</summary>
    static virtual void* NativeFunction => null;
}

internal static unsafe class Traversal
{
    /// <summary>tp_traverse(op, visitor); 1 if the visitor stopped it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Traverse<TVisitor>(PhnObject* op, ref TVisitor visitor) where TVisitor : struct, IVisitor
    {
        TypeObject* t = op->Type;
        if (t->Traverse != null)
            return TraverseCallback(op, t, ref visitor);
        if ((t->Flags & TypeFlags.HasLayoutRefs) == 0)
            return 0;
        return TraverseLayout(op, t, ref visitor);
    }

    /// <summary>The C traverse, given a copy of the visitor (so that the caller's visitor
    /// is never address-exposed and stays in registers on the layout path).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int TraverseCallback<TVisitor>(PhnObject* op, TypeObject* t, ref TVisitor visitor) where TVisitor : struct, IVisitor
    {
        TVisitor copy = visitor;
        void* native = TVisitor.NativeFunction;
        int rc;
        if (native != null)
        {
            // A traverse calls nothing but its visit function (phn_object.h), which is C
            // here: the runtime's thread state need not change around it.
            var traverse = (delegate* unmanaged[Cdecl, SuppressGCTransition]<PhnObject*, void*, void*, int>)t->Traverse;
            rc = traverse(op, native, Unsafe.AsPointer(ref copy));
        }
        else
        {
            rc = t->Traverse(op, TVisitor.CFunction, Unsafe.AsPointer(ref copy));
        }
        visitor = copy;
        return rc != 0 ? 1 : 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TraverseLayout<TVisitor>(PhnObject* op, TypeObject* t, ref TVisitor visitor) where TVisitor : struct, IVisitor
    {
        uint* offsets = t->RefOffsets;
        int count = t->RefCount;
        for (int i = 0; i < count; i++)
        {
            PhnObject* r = *(PhnObject**)((byte*)op + offsets[i]);
            if (r != null && visitor.Visit(r))
                return 1;
        }
        if ((t->Flags & TypeFlags.ItemsAreRefs) != 0)
        {
            var items = (PhnObject**)((byte*)op + t->BasicSize);
            nint n = VarSize(op);
            for (nint i = 0; i < n; i++)
            {
                PhnObject* r = items[i];
                if (r != null && visitor.Visit(r))
                    return 1;
            }
        }
        return 0;
    }

    /// <summary>True when every reference field of a layout object is set (a tuple still
    /// under construction, with a NULL, is never untracked).</summary>
    internal static bool LayoutComplete(PhnObject* op, TypeObject* t)
    {
        for (int i = 0; i < t->RefCount; i++)
            if (*(PhnObject**)((byte*)op + t->RefOffsets[i]) == null)
                return false;
        if ((t->Flags & TypeFlags.ItemsAreRefs) != 0)
        {
            var items = (PhnObject**)((byte*)op + t->BasicSize);
            for (nint i = 0, n = VarSize(op); i < n; i++)
                if (items[i] == null)
                    return false;
        }
        return true;
    }
}
