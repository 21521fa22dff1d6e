// Circular doubly-linked lists threaded through the GC headers, with a sentinel head that
// never carries flags (CPython's gc_list_*). The flag bits of a node's gc_prev survive every
// operation; gc_next of a member never carries NextUnreachable outside move_unreachable.
using System.Runtime.CompilerServices;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Objects;

internal static unsafe class GcList
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Init(GcHead* list)
    {
        list->Next = (nuint)list;
        list->Prev = (nuint)list;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsEmpty(GcHead* list) => list->Next == (nuint)list;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static GcHead* Next(GcHead* g) => (GcHead*)g->Next;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static GcHead* Prev(GcHead* g) => (GcHead*)(g->Prev & ~PrevFlags);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SetPrev(GcHead* g, GcHead* prev) => g->Prev = (g->Prev & PrevFlags) | (nuint)prev;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Append(GcHead* node, GcHead* list)
    {
        GcHead* last = (GcHead*)list->Prev;
        SetPrev(node, last);
        last->Next = (nuint)node;
        node->Next = (nuint)list;
        list->Prev = (nuint)node;
    }

    /// <summary>Unlinks a tracked node; gc_next becomes 0, gc_prev keeps its flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Remove(GcHead* node)
    {
        GcHead* prev = Prev(node);
        GcHead* next = (GcHead*)node->Next;
        prev->Next = (nuint)next;
        SetPrev(next, prev);
        node->Next = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Move(GcHead* node, GcHead* list)
    {
        GcHead* prev = Prev(node);
        GcHead* next = (GcHead*)node->Next;
        prev->Next = (nuint)next;
        SetPrev(next, prev);
        Append(node, list);
    }

    /// <summary>Appends every node of from to the end of to; from becomes empty.</summary>
    internal static void Merge(GcHead* from, GcHead* to)
    {
        if (IsEmpty(from))
            return;
        GcHead* toTail = (GcHead*)to->Prev;
        GcHead* fromHead = (GcHead*)from->Next;
        GcHead* fromTail = (GcHead*)from->Prev;
        toTail->Next = (nuint)fromHead;
        SetPrev(fromHead, toTail);
        fromTail->Next = (nuint)to;
        to->Prev = (nuint)fromTail;
        Init(from);
    }

    internal static long Size(GcHead* list)
    {
        long n = 0;
        for (GcHead* g = (GcHead*)list->Next; g != list; g = (GcHead*)g->Next)
            n++;
        return n;
    }

    internal static void ClearCollecting(GcHead* list)
    {
        for (GcHead* g = (GcHead*)list->Next; g != list; g = (GcHead*)g->Next)
            g->Prev &= ~PrevCollecting;
    }
}
