// The C-callable visitprocs that the collector hands to traverse callbacks: each forwards
// to the visitor struct passed as arg (Core/Gc/Visitors.cs). They cannot throw.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;

namespace PyHeapNative.Exports;

internal static unsafe class GcVisitors
{
    internal static void Register()
    {
        DecrefVisitor.CVisit = &Decref;
        CheckedDecrefVisitor.CVisit = &CheckedDecref;
        ReachableVisitor.CVisit = &Reachable;
        MoveVisitor.CVisit = &Move;
        CollectVisitor.CVisit = &Collect;
        MatchVisitor.CVisit = &Match;
        AtomicVisitor.CVisit = &Atomic;
        ValidateVisitor.CVisit = &Validate;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Decref(PhnObject* r, void* arg) => r != null && ((DecrefVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int CheckedDecref(PhnObject* r, void* arg) => r != null && ((CheckedDecrefVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Reachable(PhnObject* r, void* arg) => r != null && ((ReachableVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Move(PhnObject* r, void* arg) => r != null && ((MoveVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Collect(PhnObject* r, void* arg) => r != null && ((CollectVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Match(PhnObject* r, void* arg) => r != null && ((MatchVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Atomic(PhnObject* r, void* arg) => r != null && ((AtomicVisitor*)arg)->Visit(r) ? 1 : 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Validate(PhnObject* r, void* arg) => r != null && ((ValidateVisitor*)arg)->Visit(r) ? 1 : 0;
}
