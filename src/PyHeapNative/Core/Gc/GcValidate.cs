// The collector's invariants, checked by phn_validate (the stress tests call it after every
// step): each generation is a well-formed circular list of live GC objects, no collection
// mark is left outside a collection, counts are sane, gc.garbage holds live objects.
using PyHeapNative.Core.Objects;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Core.Gc;

internal static unsafe class GcValidate
{
    /// <summary>null when every invariant holds, else the first broken one. GIL held.</summary>
    internal static string? Validate()
    {
        if (Generations.Collecting)
            return null;   // called from a callback: the lists are mid-collection
        string[] names = ["generation 0", "generation 1", "generation 2", "the permanent generation"];
        for (int i = 0; i <= Generations.Permanent; i++)
        {
            string? broken = ValidateList(Generations.Head(i), names[i]);
            if (broken != null)
                return broken;
        }
        if (Generations.Count0 < 0 || Generations.Count1 < 0 || Generations.Count2 < 0)
            return $"a generation count is negative ({Generations.Count0}, {Generations.Count1}, {Generations.Count2})";
        for (long i = 0; i < GcState.GarbageCount; i++)
        {
            PhnObject* op = GcState.GarbageAt(i);
            if (op == null || op->Type == null || op->Type->Magic != TypeObject.MagicValue)
                return $"gc.garbage[{i}] is not an object";
            if (op->RefCnt <= 0)
                return $"gc.garbage[{i}] {ObjectDump.Describe(op)} has refcount {(long)op->RefCnt}";
        }
        return null;
    }

    private static string? ValidateList(GcHead* head, string name)
    {
        if ((head->Next & NextUnreachable) != 0 || (head->Prev & PrevFlags) != 0)
            return $"{name}: the list head carries flags";
        GcHead* prev = head;
        long n = 0;
        for (var gc = (GcHead*)head->Next; gc != head; gc = (GcHead*)gc->Next)
        {
            if (gc == null)
                return $"{name}: a NULL link after {n} objects";
            if ((gc->Next & NextUnreachable) != 0)
                return $"{name}: object #{n} has the unreachable mark outside a collection";
            if ((gc->Prev & PrevCollecting) != 0)
                return $"{name}: object #{n} has the collecting mark outside a collection";
            if (GcList.Prev(gc) != prev)
                return $"{name}: object #{n}'s gc_prev does not point at the previous object";
            PhnObject* op = FromGc(gc);
            if (op->Type == null || op->Type->Magic != TypeObject.MagicValue)
                return $"{name}: object #{n} at {ObjectDump.Hex(op)} has no valid type (freed while tracked?)";
            if ((op->Type->Flags & TypeFlags.HaveGc) == 0)
                return $"{name}: object #{n} {ObjectDump.Describe(op)} is not a GC object";
            if (op->RefCnt <= 0)
                return $"{name}: object #{n} {ObjectDump.Describe(op)} is tracked with refcount {(long)op->RefCnt}";
            prev = gc;
            if (++n > (1L << 40))
                return $"{name}: the list does not come back to its head";
        }
        if ((GcHead*)head->Prev != prev)
            return $"{name}: the head's gc_prev does not point at the last object";
        return null;
    }
}
