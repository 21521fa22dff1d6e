// The gc module's functions that are not a collection (spec-gc §10, §11): get_objects,
// get_referrers, get_referents, freeze / unfreeze, PyUnstable_GC_VisitObjects, tracking
// with its checks, and the shutdown report. GIL held.
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Os;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Gc;

internal static unsafe class GcQueries
{
    /// <summary>Objects of one generation (0..2) or of all (-1), up to capacity into out;
    /// returns how many there are.</summary>
    internal static long GetObjects(int generation, PhnObject** output, long capacity)
    {
        long n = 0;
        for (int g = 0; g < Generations.Count; g++)
        {
            if (generation >= 0 && g != generation)
                continue;
            GcHead* head = Generations.Head(g);
            for (GcHead* gc = GcList.Next(head); gc != head; gc = GcList.Next(gc))
            {
                if (n < capacity)
                    output[n] = FromGc(gc);
                n++;
            }
        }
        return n;
    }

    internal static long GetReferrers(PhnObject** targets, long targetCount, PhnObject** output, long capacity)
    {
        var visitor = new MatchVisitor { Targets = targets, TargetCount = targetCount };
        long n = 0;
        for (int g = 0; g < Generations.Count; g++)
        {
            GcHead* head = Generations.Head(g);
            for (GcHead* gc = GcList.Next(head); gc != head; gc = GcList.Next(gc))
            {
                PhnObject* op = FromGc(gc);
                if (Traversal.Traverse(op, ref visitor) == 0)
                    continue;
                if (n < capacity)
                    output[n] = op;
                n++;
            }
        }
        return n;
    }

    internal static long GetReferents(PhnObject** objects, long count, PhnObject** output, long capacity)
    {
        var visitor = new CollectVisitor { Out = output, Capacity = capacity };
        for (long i = 0; i < count; i++)
        {
            PhnObject* op = objects[i];
            if (op != null && IsGc(op))
                Traversal.Traverse(op, ref visitor);
        }
        return visitor.Count;
    }

    internal static void Freeze()
    {
        for (int g = 0; g < Generations.Count; g++)
            GcList.Merge(Generations.Head(g), Generations.Head(Generations.Permanent));
        Generations.Count0 = Generations.Count1 = Generations.Count2 = 0;
    }

    internal static void Unfreeze() =>
        GcList.Merge(Generations.Head(Generations.Permanent), Generations.Head(Generations.Count - 1));

    internal static long FreezeCount() => GcList.Size(Generations.Head(Generations.Permanent));

    /// <summary>PyUnstable_GC_VisitObjects over a snapshot (each object held during the
    /// walk, so that a visit that frees objects cannot pull the list from under us).</summary>
    internal static bool VisitObjects(delegate* unmanaged[Cdecl]<PhnObject*, void*, int> visit, void* arg)
    {
        long total = 0;
        for (int g = 0; g <= Generations.Permanent; g++)
            total += GcList.Size(Generations.Head(g));
        var all = (PhnObject**)Libc.Malloc((nuint)Math.Max(total, 1) * (nuint)sizeof(void*));
        if (all == null)
            return false;
        long n = 0;
        for (int g = 0; g <= Generations.Permanent; g++)
        {
            GcHead* head = Generations.Head(g);
            for (GcHead* gc = GcList.Next(head); gc != head; gc = GcList.Next(gc))
            {
                all[n] = FromGc(gc);
                Objects.Objects.IncRef(all[n]);
                n++;
            }
        }
        bool enabled = Generations.Enabled;
        Generations.Enabled = false;
        long i = 0;
        try
        {
            for (; i < n; i++)
                if (visit(all[i], arg) == 0)
                    break;
        }
        finally
        {
            Generations.Enabled = enabled;
            for (long j = 0; j < n; j++)
                Objects.Objects.DecRef(all[j]);
            Libc.Free(all);
        }
        return true;
    }

    /// <summary>PyObject_GC_Track: false (after the fatal error) if already tracked.</summary>
    internal static bool Track(PhnObject* op)
    {
        if (IsTracked(op))
        {
            ObjectDump.FatalAssertion("PyObject_GC_Track: Assertion failed: object already tracked by the garbage collector", op);
            return false;
        }
        if (ObjectDump.DebugChecksEnabled)
        {
            var visitor = new ValidateVisitor();
            if (Traversal.Traverse(op, ref visitor) != 0)
            {
                ObjectDump.FatalAssertion(
                    $"PyObject_GC_Track: Assertion failed: PyObject_GC_Track() object is not valid: {ObjectDump.Describe(op)} refers to a freed object at {ObjectDump.Hex(visitor.Freed)}", op);
                return false;
            }
        }
        Generations.Track(op);
        return true;
    }

    /// <summary>phn_gc_shutdown: a last collection without callbacks, then the report.</summary>
    internal static long Shutdown()
    {
        Collector.Collect(2, Collector.Shutdown);
        long n = GcState.GarbageCount;
        int debug = GcState.DebugFlags;
        if (n == 0 || (debug & GcState.DebugSaveAll) != 0)
            return n;
        if ((debug & GcState.DebugUncollectable) != 0)
        {
            GcState.Output($"gc: {n} uncollectable objects at shutdown");
            for (long i = 0; i < n; i++)
                GcState.Output($"gc: uncollectable {ObjectDump.Describe(GcState.GarbageAt(i))}");
        }
        else
        {
            GcState.Output($"gc: {n} uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them");
        }
        return n;
    }
}
