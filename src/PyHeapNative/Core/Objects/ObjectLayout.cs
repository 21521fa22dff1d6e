// The memory of an object, as in CPython (spec-gc §2):
//
//     [weaklist][unused]   16 bytes, PHN_TPFLAGS_WEAKREFABLE types only
//     [gc_next ][gc_prev]  16 bytes, PHN_TPFLAGS_HAVE_GC types only (PyGC_Head)
//     object -> [ob_refcnt][ob_type] [ob_size] ... fields ... items
//
// The block starts PreSize bytes before the object and comes from the OBJ domain, so both
// headers are 16-byte aligned and the low bits of their addresses are free for flags:
//
//   gc_next  0 = not tracked; else the next node; bit 0 (NextUnreachable) marks a member of
//            the collector's temporary "unreachable" list.
//   gc_prev  bit 0 Finalized (the PEP 442 finalizer has run; never cleared), bit 1
//            Collecting (member of the set being collected); bits 2.. the previous node, or,
//            during a collection, gc_refs (a copy of the count being decremented).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Objects;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PhnObject
{
    public nint RefCnt;
    public TypeObject* Type;
}

[StructLayout(LayoutKind.Sequential)]
internal struct PhnVarObject
{
    public PhnObject Base;
    public nint Size;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GcHead
{
    public nuint Next;
    public nuint Prev;
}

internal static unsafe class ObjectLayout
{
    internal const nuint NextUnreachable = 1;
    internal const nuint PrevFinalized = 1;
    internal const nuint PrevCollecting = 2;
    internal const nuint PrevFlags = PrevFinalized | PrevCollecting;
    internal const int PrevShift = 2;

    internal const int HeaderSize = 16;      // phn_object
    internal const int VarHeaderSize = 24;   // phn_varobject
    internal const int GcHeadSize = 16;
    internal const int WeakSlotSize = 16;

    /// <summary>PHN_IMMORTAL_REFCNT (3.14's initial immortal count on 64-bit).</summary>
    internal const long ImmortalRefCnt = 3L << 30;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsImmortal(PhnObject* op) => (int)op->RefCnt < 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static GcHead* AsGc(PhnObject* op) => (GcHead*)op - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PhnObject* FromGc(GcHead* g) => (PhnObject*)(g + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsGc(PhnObject* op) => (op->Type->Flags & TypeFlags.HaveGc) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsTracked(PhnObject* op) => AsGc(op)->Next != 0;

    /// <summary>The weak-reference list head of a WEAKREFABLE object.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PhnObject** WeakList(PhnObject* op) => (PhnObject**)((byte*)op - op->Type->PreSize);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint VarSize(PhnObject* op) => ((PhnVarObject*)op)->Size;
}
