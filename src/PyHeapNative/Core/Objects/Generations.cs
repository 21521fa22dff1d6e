// The collector's lists and counters that object allocation touches (spec-gc §6.1): three
// generations and the permanent one (gc.freeze), their thresholds and counts. Tracking an
// object appends it to generation 0 and counts it (3.14.5 counts at track time); the track
// that makes count0 exceed threshold0 runs the automatic collection right there
// (DESIGN.md §3). The collector itself lives in Core/Gc and registers AutoCollect.
// Everything here is protected by the GIL.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Os;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Objects;

internal static unsafe class Generations
{
    internal const int Count = 3;
    internal const int Permanent = 3;

    private static GcHead* s_heads;          // 0, 1, 2, permanent
    internal static int Threshold1, Threshold2;
    internal static int Count1, Count2;
    // generation 0's count and threshold, and Enabled, are ObjectState's: C allocates, tracks
    // and frees objects too (Native/phn_dealloc.c)
    internal static ref int Count0 => ref ObjectState.Words->Count0;
    internal static ref int Threshold0 => ref ObjectState.Words->Threshold0;
    internal static bool Enabled
    {
        get => ObjectState.Words->Enabled != 0;
        set => ObjectState.Words->Enabled = value ? 1 : 0;
    }
    internal static bool Collecting;
    internal static long LongLivedTotal, LongLivedPending;

    /// <summary>Runs the automatic collection (set by the collector at start-up).</summary>
    internal static delegate*<void> AutoCollect;

    internal static bool Initialize()
    {
        s_heads = (GcHead*)Libc.Calloc(4, (nuint)sizeof(GcHead));
        if (s_heads == null)
            return false;
        for (int i = 0; i < 4; i++)
            GcList.Init(s_heads + i);
        ObjectState.Words->Generation0 = s_heads;
        Threshold0 = 2000;
        Threshold1 = 10;
        Threshold2 = 10;
        Enabled = true;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static GcHead* Head(int generation) => s_heads + generation;

    // ---- fast path -------------------------------------------------------------------

    /// <summary>Appends a GC object to generation 0 and counts it; may collect.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Track(PhnObject* op)
    {
        GcList.Append(AsGc(op), s_heads);
        if (++Count0 > Threshold0 && Enabled && Threshold0 != 0 && !Collecting)
            AutoCollect();
    }

    /// <summary>Appends to generation 0 without counting (re-tracking by the library).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Relink(PhnObject* op) => GcList.Append(AsGc(op), s_heads);

    /// <summary>PyObject_GC_UnTrack: no-op if not tracked; keeps the finalized mark.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Untrack(PhnObject* op)
    {
        GcHead* g = AsGc(op);
        if (g->Next != 0)
        {
            GcList.Remove(g);
            g->Prev &= PrevFinalized;
        }
    }

    /// <summary>A GC object is being freed: count0 - 1, never below 0 (3.12's rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void OnFree()
    {
        if (Count0 > 0)
            Count0--;
    }
}
