// The generational cyclic collector: CPython 3.13's gc_collect_main (spec-gc §7), with the
// weak-reference order of gh-135552. One collection of generation g:
//
//   1. merge generations 0..g-1 into g ("young"); survivors will go to g+1 ("old").
//   2. deduce_unreachable(young):
//        update_refs      gc_refs = ob_refcnt for every object (immortals are untracked)
//        subtract_refs    for every reference from inside young, gc_refs - 1; what is left
//                         is the number of references from outside
//        move_unreachable one scan: objects with gc_refs > 0 are reachable, and so is
//                         everything they reach (moved back behind the cursor); the rest
//                         goes to "unreachable". The gc_prev words hold gc_refs meanwhile,
//                         so the list is singly linked until the scan rebuilds it.
//   3. untrack the survivors of UNTRACK_ATOMIC types that cannot be in a cycle; promote.
//   4. legacy finalizers (del) and all the garbage they reach: uncollectable, set apart.
//   5. weak references with callbacks to the garbage: cleared; the callbacks of those that
//      are not garbage themselves run now, while every garbage object is intact.
//   6. PEP 442 finalizers, once per object ever.
//   7. deduce_unreachable again on the garbage alone: what a finalizer resurrected (and
//      everything it reaches) survives; the rest is "still unreachable". (Skipped when no
//      finalizer and no weak-reference callback ran: then nothing can have changed.)
//   8. weak references without callbacks to it, and weak references in it: cleared.
//   9. delete_garbage: clear each object (DEBUG_SAVEALL: to gc.garbage instead); refcount
//      deallocation frees the cycles; survivors of a clear go to old.
//  10. the legacy group: del objects (all with SAVEALL) to gc.garbage, the group to old.
//
// Steps 2, 4 and 7 run only traverse; everything else may run user code, which may
// allocate, free (unlinking from any list, ours included), collect (returns 0), so the loops
// that call user code always re-read the head of their list.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Objects;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Gc;

internal static unsafe class Collector
{
    internal const int Automatic = 0, Manual = 1, Shutdown = 2;
    internal const int PhaseStart = 0, PhaseStop = 1;

    internal static void Initialize() => Generations.AutoCollect = &CollectGenerations;

    /// <summary>The automatic collection (select_generation with the 25 % rule).</summary>
    private static void CollectGenerations()
    {
        for (int g = 2; g >= 0; g--)
        {
            if (CountOf(g) > ThresholdOf(g))
            {
                if (g == 2 && Generations.LongLivedPending < Generations.LongLivedTotal / 4)
                    continue;
                Collect(g, Automatic);
                break;
            }
        }
    }

    internal static int CountOf(int g) => g == 0 ? Generations.Count0 : g == 1 ? Generations.Count1 : Generations.Count2;
    internal static int ThresholdOf(int g) => g == 0 ? Generations.Threshold0 : g == 1 ? Generations.Threshold1 : Generations.Threshold2;

    /// <summary>gc.collect(g): collected + uncollectable; 0 when already collecting; -1 when
    /// the collection was abandoned on a corrupted object (after the fatal error).</summary>
    internal static long Collect(int generation, int reason)
    {
        if (Generations.Collecting)
            return 0;
        Generations.Collecting = true;
        var info = new GcInfo { StructSize = (uint)sizeof(GcInfo), Generation = generation };
        try
        {
            if (reason != Shutdown)
                InvokeCallbacks(PhaseStart, &info);
            long start = Stopwatch.GetTimestamp();
            bool ok = CollectMain(generation, start, out long m, out long n, out long candidates);
            if (!ok)
                return -1;
            ref GenerationStats stats = ref GcState.Stats(generation);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            stats.Collections++;
            stats.Collected += m;
            stats.Uncollectable += n;
            stats.Candidates += candidates;
            stats.Duration += seconds;
            info.Collected = m;
            info.Uncollectable = n;
            info.Candidates = candidates;
            info.Duration = seconds;
            if (reason != Shutdown)
                InvokeCallbacks(PhaseStop, &info);
            return m + n;
        }
        finally
        {
            Generations.Collecting = false;
        }
    }

    private static void InvokeCallbacks(int phase, GcInfo* info)
    {
        // The list may change under us (a callback may add or remove callbacks).
        for (int i = 0; i < GcState.CallbackCount; i++)
        {
            GcState.CallbackEntry cb = GcState.CallbackAt(i);
            int rc = cb.Function(cb.Context, phase, info);
            if (rc != 0)
                Objects.Objects.ReportIgnored($"Exception ignored in garbage collector callback (phase \"{(phase == PhaseStart ? "start" : "stop")}\"): the callback returned {rc}");
        }
    }

    private static bool CollectMain(int g, long start, out long m, out long n, out long candidates)
    {
        m = n = candidates = 0;
        int debug = GcState.DebugFlags;
        if ((debug & GcState.DebugStats) != 0)
        {
            GcState.Output($"gc: collecting generation {g}...");
            GcState.Output($"gc: objects in each generation: {GcList.Size(Generations.Head(0))} {GcList.Size(Generations.Head(1))} {GcList.Size(Generations.Head(2))}");
            GcState.Output($"gc: objects in permanent generation: {GcList.Size(Generations.Head(Generations.Permanent))}");
        }

        // Counters (§6.4) and the merge of the younger generations.
        if (g == 0) { Generations.Count1++; Generations.Count0 = 0; }
        else if (g == 1) { Generations.Count2++; Generations.Count0 = Generations.Count1 = 0; }
        else { Generations.Count0 = Generations.Count1 = Generations.Count2 = 0; }
        for (int i = 0; i < g; i++)
            GcList.Merge(Generations.Head(i), Generations.Head(g));
        GcHead* young = Generations.Head(g);
        GcHead* old = g < 2 ? Generations.Head(g + 1) : young;

        GcHead unreachableHead, finalizersHead, stillHead;
        GcHead* unreachable = &unreachableHead;
        GcHead* finalizers = &finalizersHead;
        GcHead* still = &stillHead;

        if (!DeduceUnreachable(young, unreachable, ref candidates, out long survivors))
            return false;
        if (Types.UntrackAtomicTypes != 0)
            survivors -= UntrackAtomic(young);

        // Promote the survivors.
        if (young != old)
        {
            if (g == 1)
                Generations.LongLivedPending += survivors;
            GcList.Merge(young, old);
        }
        else
        {
            Generations.LongLivedPending = 0;
            Generations.LongLivedTotal = survivors;
        }

        GcList.Init(finalizers);
        MoveLegacyFinalizers(unreachable, finalizers);
        MoveLegacyFinalizerReachable(finalizers);

        if ((debug & GcState.DebugCollectable) != 0)
            for (GcHead* gc = GcList.Next(unreachable); gc != unreachable; gc = GcList.Next(gc))
                GcState.Output($"gc: collectable {ObjectDump.Describe(FromGc(gc))}");

        m += HandleWeakrefCallbacks(unreachable, old, out bool calledBack);
        bool finalized = FinalizeGarbage(unreachable);
        if (!calledBack && !finalized)
        {
            // No user code ran since the garbage was found, so nothing can have been
            // resurrected: the second deduce_unreachable would find the same set.
            GcList.Init(still);
            GcList.Merge(unreachable, still);
        }
        else if (!HandleResurrectedObjects(unreachable, still, old))
        {
            // Abandoned: what was left of the garbage is back in old, intact.
            GcList.Merge(finalizers, old);
            return false;
        }
        ClearWeakrefs(still);
        m += GcList.Size(still);
        DeleteGarbage(still, old);

        for (GcHead* gc = GcList.Next(finalizers); gc != finalizers; gc = GcList.Next(gc))
        {
            n++;
            if ((GcState.DebugFlags & GcState.DebugUncollectable) != 0)
                GcState.Output($"gc: uncollectable {ObjectDump.Describe(FromGc(gc))}");
        }
        if ((GcState.DebugFlags & GcState.DebugStats) != 0)
        {
            double d = Stopwatch.GetElapsedTime(start).TotalSeconds;
            GcState.Output(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"gc: done, {m + n} unreachable, {n} uncollectable, {d:F4}s elapsed"));
        }
        HandleLegacyFinalizers(finalizers, old);
        return true;
    }

    // ---- step 2: deduce_unreachable ------------------------------------------------------

    /// <summary>survivors: how many objects stay in from (all reachable).</summary>
    private static bool DeduceUnreachable(GcHead* from, GcHead* unreachable, ref long candidates, out long survivors)
    {
        survivors = 0;
        if (!UpdateRefs(from, ref candidates) || !SubtractRefs(from))
            return false;
        GcList.Init(unreachable);
        survivors = MoveUnreachable(from, unreachable);
        return true;
    }

    private static bool UpdateRefs(GcHead* containers, ref long candidates)
    {
        GcHead* next;
        for (GcHead* gc = GcList.Next(containers); gc != containers; gc = next)
        {
            next = GcList.Next(gc);
            PhnObject* op = FromGc(gc);
            if (IsImmortal(op))
            {
                // Its count says nothing about references (3.13+: untrack it).
                GcList.Remove(gc);
                gc->Prev &= PrevFinalized;
                continue;
            }
            nint refs = op->RefCnt;
            if (refs <= 0)
            {
                RestoreList(containers);
                ObjectDump.FatalAssertion(
                    $"update_refs: Assertion \"gc_get_refs(gc) != 0\" failed: a tracked object has refcount {(long)refs} {ObjectDump.Describe(op)}", op);
                return false;
            }
            gc->Prev = (gc->Prev & PrevFinalized) | PrevCollecting | ((nuint)refs << PrevShift);
            candidates++;
        }
        return true;
    }

    private static bool SubtractRefs(GcHead* containers)
    {
        if (ObjectDump.DebugChecksEnabled)
            return SubtractRefsChecked(containers);
        var visitor = new DecrefVisitor();
        for (GcHead* gc = GcList.Next(containers); gc != containers; gc = GcList.Next(gc))
        {
            if (Traversal.Traverse(FromGc(gc), ref visitor) != 0)
                return SubtractRefsFailed(containers, FromGc(gc), visitor.TooSmall, null);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool SubtractRefsChecked(GcHead* containers)
    {
        var visitor = new CheckedDecrefVisitor();
        for (GcHead* gc = GcList.Next(containers); gc != containers; gc = GcList.Next(gc))
        {
            if (Traversal.Traverse(FromGc(gc), ref visitor) != 0)
                return SubtractRefsFailed(containers, FromGc(gc), visitor.Inner.TooSmall, visitor.Freed);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool SubtractRefsFailed(GcHead* containers, PhnObject* parent, PhnObject* tooSmall, PhnObject* freed)
    {
        RestoreList(containers);
        if (freed != null)
            ObjectDump.FatalAssertion(
                $"visit_decref: Assertion \"!_PyObject_IsFreed(op)\" failed: the traverse of {ObjectDump.Describe(parent)} reached a freed object at {ObjectDump.Hex(freed)}", parent);
        else
            ObjectDump.FatalAssertion(
                $"gc_decref: Assertion \"gc_get_refs(g) > 0\" failed: refcount is too small: {ObjectDump.Describe(tooSmall)} is visited more often than it is referenced (by the traverse of {ObjectDump.Describe(parent)})",
                tooSmall);
        return false;
    }

    /// <summary>After an abandoned update_refs / subtract_refs: rebuild the gc_prev pointers
    /// from the gc_next chain and clear the collecting marks.</summary>
    private static void RestoreList(GcHead* list)
    {
        GcHead* prev = list;
        for (GcHead* gc = GcList.Next(list); gc != list; gc = GcList.Next(gc))
        {
            gc->Prev = (gc->Prev & PrevFinalized) | (nuint)prev;
            prev = gc;
        }
        list->Prev = (nuint)prev;
    }

    private static long MoveUnreachable(GcHead* young, GcHead* unreachable)
    {
        long reachable = 0;
        GcHead* prev = young;
        GcHead* gc = GcList.Next(young);
        var visitor = new ReachableVisitor { Young = young };
        while (gc != young)
        {
            if (GcRefs.Get(gc) != 0)
            {
                // Reachable from outside: so is everything it refers to. The traverse may
                // append to young, so the next node is read only afterwards.
                Traversal.Traverse(FromGc(gc), ref visitor);
                GcList.SetPrev(gc, prev);
                gc->Prev &= ~PrevCollecting;
                prev = gc;
                reachable++;
            }
            else
            {
                // Maybe unreachable: move it; visit_reachable brings it back if not.
                prev->Next = gc->Next;
                var last = (GcHead*)unreachable->Prev;
                last->Next = NextUnreachable | (nuint)gc;
                GcList.SetPrev(gc, last);
                gc->Next = NextUnreachable | (nuint)unreachable;
                unreachable->Prev = (nuint)gc;
            }
            gc = GcList.Next(prev);
        }
        young->Prev = (nuint)prev;
        young->Next &= ~NextUnreachable;
        unreachable->Next &= ~NextUnreachable;   // the pollution of the head's next pointer
        return reachable;
    }

    // ---- step 3: the untracking optimisation ------------------------------------------

    /// <summary>Returns how many objects it untracked.</summary>
    private static long UntrackAtomic(GcHead* young)
    {
        long untracked = 0;
        GcHead* next;
        for (GcHead* gc = GcList.Next(young); gc != young; gc = next)
        {
            next = GcList.Next(gc);
            PhnObject* op = FromGc(gc);
            TypeObject* t = op->Type;
            if ((t->Flags & TypeFlags.UntrackAtomic) == 0)
                continue;
            if (t->Traverse == null && !Traversal.LayoutComplete(op, t))
                continue;
            var visitor = new AtomicVisitor();
            if (Traversal.Traverse(op, ref visitor) == 0)
            {
                Generations.Untrack(op);
                untracked++;
            }
        }
        return untracked;
    }

    // ---- step 4: legacy finalizers --------------------------------------------------------

    private static void MoveLegacyFinalizers(GcHead* unreachable, GcHead* finalizers)
    {
        GcHead* next;
        for (GcHead* gc = GcList.Next(unreachable); gc != unreachable; gc = next)
        {
            gc->Next &= ~NextUnreachable;
            next = GcList.Next(gc);
            if (FromGc(gc)->Type->Del != null)
            {
                gc->Prev &= ~PrevCollecting;
                GcList.Move(gc, finalizers);
            }
        }
    }

    private static void MoveLegacyFinalizerReachable(GcHead* finalizers)
    {
        var visitor = new MoveVisitor { To = finalizers };
        // The list grows while it is walked.
        for (GcHead* gc = GcList.Next(finalizers); gc != finalizers; gc = GcList.Next(gc))
            Traversal.Traverse(FromGc(gc), ref visitor);
    }

    // ---- step 5: weak references with callbacks ---------------------------------------

    private static long HandleWeakrefCallbacks(GcHead* unreachable, GcHead* old, out bool calledBack)
    {
        GcHead toCallHead;
        GcHead* toCall = &toCallHead;
        GcList.Init(toCall);
        for (GcHead* gc = GcList.Next(unreachable); gc != unreachable; gc = GcList.Next(gc))
        {
            PhnObject* op = FromGc(gc);
            if ((op->Type->Flags & TypeFlags.WeakRefable) == 0)
                continue;
            WeakrefObject* next;
            for (var wr = (WeakrefObject*)*WeakList(op); wr != null; wr = next)
            {
                next = wr->Next;
                if (wr->Callback == null)
                    continue;   // cleared after the finalizers (gh-135552)
                GcHead* wg = AsGc(&wr->Base);
                bool call = wg->Next != 0 && !GcRefs.IsCollecting(wg) && wr->Base.RefCnt > 0;
                // A weak reference that is garbage itself never calls back.
                Weakrefs.Clear(wr, keepCallback: call);
                if (!call)
                    continue;
                Objects.Objects.IncRef(&wr->Base);
                GcList.Move(wg, toCall);
            }
        }

        long freed = 0;
        calledBack = !GcList.IsEmpty(toCall);
        while (!GcList.IsEmpty(toCall))
        {
            GcHead* gc = GcList.Next(toCall);
            var wr = (WeakrefObject*)FromGc(gc);
            Weakrefs.CallBack(wr);
            Objects.Objects.DecRef(&wr->Base);
            if (GcList.Next(toCall) == gc)
                GcList.Move(gc, old);   // still alive
            else
                freed++;
        }
        return freed;
    }

    // ---- step 6: PEP 442 finalizers -----------------------------------------------------

    /// <summary>True if a finalizer ran.</summary>
    private static bool FinalizeGarbage(GcHead* collectable)
    {
        bool ran = false;
        GcHead seenHead;
        GcHead* seen = &seenHead;
        GcList.Init(seen);
        while (!GcList.IsEmpty(collectable))
        {
            GcHead* gc = GcList.Next(collectable);
            PhnObject* op = FromGc(gc);
            GcList.Move(gc, seen);
            var finalize = op->Type->Finalize;
            if ((gc->Prev & PrevFinalized) == 0 && finalize != null)
            {
                gc->Prev |= PrevFinalized;
                ran = true;
                Objects.Objects.IncRef(op);
                Objects.Objects.CallSlot(finalize, op, "finalize");
                Objects.Objects.DecRef(op);
            }
        }
        GcList.Merge(seen, collectable);
        return ran;
    }

    // ---- step 7: resurrection ---------------------------------------------------------

    private static bool HandleResurrectedObjects(GcHead* unreachable, GcHead* still, GcHead* old)
    {
        GcList.ClearCollecting(unreachable);
        long ignored = 0;
        if (!DeduceUnreachable(unreachable, still, ref ignored, out _))
        {
            GcList.Merge(unreachable, old);
            return false;
        }
        for (GcHead* gc = GcList.Next(still); gc != still; gc = GcList.Next(gc))
            gc->Next &= ~NextUnreachable;
        // The resurrected, and everything they reach, survive.
        GcList.Merge(unreachable, old);
        return true;
    }

    // ---- step 8: the remaining weak references ---------------------------------------

    private static void ClearWeakrefs(GcHead* still)
    {
        for (GcHead* gc = GcList.Next(still); gc != still; gc = GcList.Next(gc))
        {
            PhnObject* op = FromGc(gc);
            TypeObject* t = op->Type;
            if ((t->Flags & TypeFlags.IsWeakref) != 0)
                Weakrefs.Clear((WeakrefObject*)op);   // bpo-38006: garbage cannot call back
            if ((t->Flags & TypeFlags.WeakRefable) != 0 && *WeakList(op) != null)
                Weakrefs.ClearAll(op, callbacks: false);
        }
    }

    // ---- step 9: delete_garbage -----------------------------------------------------------

    private static void DeleteGarbage(GcHead* collectable, GcHead* old)
    {
        while (!GcList.IsEmpty(collectable))
        {
            GcHead* gc = GcList.Next(collectable);
            PhnObject* op = FromGc(gc);
            if ((GcState.DebugFlags & GcState.DebugSaveAll) != 0)
            {
                GcState.GarbageAppend(op);
            }
            else
            {
                TypeObject* t = op->Type;
                if (t->Clear != null)
                {
                    Objects.Objects.IncRef(op);
                    Objects.Objects.CallSlot(t->Clear, op, "clear");
                    Objects.Objects.DecRef(op);
                }
                else if ((t->Flags & TypeFlags.IsWeakref) != 0)
                {
                    Weakrefs.Clear((WeakrefObject*)op);
                }
                else if ((t->Flags & TypeFlags.HasLayoutRefs) != 0)
                {
                    Objects.Objects.IncRef(op);
                    Objects.Objects.ClearLayout(op, t);
                    Objects.Objects.DecRef(op);
                }
            }
            if (GcList.Next(collectable) == gc)
            {
                // Still alive: it may die later.
                gc->Prev &= ~PrevCollecting;
                GcList.Move(gc, old);
            }
        }
    }

    // ---- step 10: the uncollectable -----------------------------------------------------

    private static void HandleLegacyFinalizers(GcHead* finalizers, GcHead* old)
    {
        bool saveAll = (GcState.DebugFlags & GcState.DebugSaveAll) != 0;
        for (GcHead* gc = GcList.Next(finalizers); gc != finalizers; gc = GcList.Next(gc))
        {
            PhnObject* op = FromGc(gc);
            if ((saveAll || op->Type->Del != null) && !GcState.GarbageAppend(op))
                break;
        }
        GcList.Merge(finalizers, old);
    }
}
