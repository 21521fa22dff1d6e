// The collector's visitors (CPython's visit_decref, visit_reachable, visit_move, and the
// matchers of gc.get_referrers / get_referents). Each has a C-callable twin in
// Exports/GcVisitors.cs, registered in CFunction at start-up.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Objects;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Gc;

/// <summary>The C visitors of Native/phn_gc_visit.c (linked into the library).</summary>
internal static unsafe partial class NativeVisitors
{
#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_gc_native_visitor")]
    [SuppressGCTransition]
    private static extern void* Get(int which);

    internal static void Register()
    {
        DecrefVisitor.NativeVisit = Get(0);
        ReachableVisitor.NativeVisit = Get(1);
    }
#else
    internal static void Register() { }
#endif
}

internal static unsafe class GcRefs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nuint Get(GcHead* g) => g->Prev >> PrevShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Set(GcHead* g, nuint refs) => g->Prev = (g->Prev & PrevFlags) | (refs << PrevShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsCollecting(GcHead* g) => (g->Prev & PrevCollecting) != 0;
}

/// <summary>subtract_refs: one unit of gc_refs less for each reference from inside the set.</summary>
internal unsafe struct DecrefVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;
    internal static void* NativeVisit;
    public static void* NativeFunction => NativeVisit;

    public PhnObject* TooSmall;      // a referent whose gc_refs would go negative

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Visit(PhnObject* r)
    {
        if (!IsGc(r))
            return false;
        GcHead* g = AsGc(r);
        nuint prev = g->Prev;
        if ((prev & PrevCollecting) == 0)
            return false;
        if ((prev >> PrevShift) == 0)
        {
            TooSmall = r;
            return true;
        }
        g->Prev = prev - (1u << PrevShift);
        return false;
    }
}

/// <summary>subtract_refs with the debug hooks on OBJ: also refuses freed referents.</summary>
internal unsafe struct CheckedDecrefVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public DecrefVisitor Inner;
    public PhnObject* Freed;

    public bool Visit(PhnObject* r)
    {
        if (ObjectDump.LooksFreed(r))
        {
            Freed = r;
            return true;
        }
        return Inner.Visit(r);
    }
}

/// <summary>move_unreachable's visit_reachable: what a reachable object refers to is
/// reachable; move it back from the unreachable list if it went there too early.</summary>
internal unsafe struct ReachableVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;
    internal static void* NativeVisit;
    public static void* NativeFunction => NativeVisit;

    public GcHead* Young;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Visit(PhnObject* r)
    {
        if (!IsGc(r))
            return false;
        GcHead* g = AsGc(r);
        // Outside the set, or already scanned ("to the left" of the cursor).
        if (!GcRefs.IsCollecting(g))
            return false;
        if ((g->Next & NextUnreachable) != 0)
        {
            // The list functions do not work with the flag set: unlink by hand.
            GcHead* prev = GcList.Prev(g);
            GcHead* next = (GcHead*)(g->Next & ~NextUnreachable);
            prev->Next = g->Next;   // keeps the flag bit
            g->Next &= ~NextUnreachable;
            GcList.SetPrev(next, prev);
            GcList.Append(g, Young);
            GcRefs.Set(g, 1);
        }
        else if (GcRefs.Get(g) == 0)
        {
            GcRefs.Set(g, 1);   // the cursor has not reached it yet
        }
        return false;
    }
}

/// <summary>move_legacy_finalizer_reachable's visit_move: garbage reachable from a legacy
/// finalizer is uncollectable too.</summary>
internal unsafe struct MoveVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public GcHead* To;

    public bool Visit(PhnObject* r)
    {
        if (!IsGc(r))
            return false;
        GcHead* g = AsGc(r);
        if (GcRefs.IsCollecting(g))
        {
            GcList.Move(g, To);
            g->Prev &= ~PrevCollecting;
        }
        return false;
    }
}

/// <summary>gc.get_referents: every visited object, in order.</summary>
internal unsafe struct CollectVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public PhnObject** Out;
    public long Capacity;
    public long Count;

    public bool Visit(PhnObject* r)
    {
        if (Count < Capacity)
            Out[Count] = r;
        Count++;
        return false;
    }
}

/// <summary>gc.get_referrers: stops at the first visit of any of the targets.</summary>
internal unsafe struct MatchVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public PhnObject** Targets;
    public long TargetCount;

    public bool Visit(PhnObject* r)
    {
        for (long i = 0; i < TargetCount; i++)
            if (Targets[i] == r)
                return true;
        return false;
    }
}

/// <summary>The untracking optimisation: stops at a referent that may be tracked (a GC
/// object other than an untracked instance of an UNTRACK_ATOMIC type).</summary>
internal unsafe struct AtomicVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public bool Visit(PhnObject* r)
    {
        if (!IsGc(r))
            return false;
        return (r->Type->Flags & TypeFlags.UntrackAtomic) == 0 || IsTracked(r);
    }
}

/// <summary>Debug mode: phn_gc_track checks that every referent is a live object.</summary>
internal unsafe struct ValidateVisitor : IVisitor
{
    internal static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CVisit;
    public static delegate* unmanaged[Cdecl]<PhnObject*, void*, int> CFunction => CVisit;

    public PhnObject* Freed;

    public bool Visit(PhnObject* r)
    {
        if (!ObjectDump.LooksFreed(r))
            return false;
        Freed = r;
        return true;
    }
}
