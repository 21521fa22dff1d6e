// Mirrors include/pyheapnative/phn_weakref.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Exports;

internal static unsafe class WeakrefExports
{
    [UnmanagedCallersOnly(EntryPoint = "phn_weakref_new", CallConvs = [typeof(CallConvCdecl)])]
    public static PhnObject* New(PhnObject* referent, delegate* unmanaged[Cdecl]<void*, PhnObject*, int> callback, void* ctx)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!ObjectExports.CheckObject(referent, "phn_weakref_new"))
                return null;
            if ((referent->Type->Flags & TypeFlags.WeakRefable) == 0)
            {
                Errors.Report(Status.InvalidArgument, $"cannot create weak reference to '{Types.NameOf(referent->Type)}' object");
                return null;
            }
            PhnObject* wr = Weakrefs.New(referent, callback, ctx);
            if (wr == null)
                Errors.Report(Status.NoMemory, "phn_weakref_new: out of memory");
            return wr;
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_weakref_new"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_weakref_get_ref", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetRef(PhnObject* weakref, PhnObject** output)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (output != null)
                *output = null;
            if (!CheckWeakref(weakref, "phn_weakref_get_ref"))
                return Status.InvalidArgument;
            if (output == null)
                return Errors.Report(Status.InvalidArgument, "phn_weakref_get_ref: out is NULL");
            *output = Weakrefs.GetRef((WeakrefObject*)weakref);
            return *output != null ? 1 : 0;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_weakref_get_ref"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_weakref_check", CallConvs = [typeof(CallConvCdecl)])]
    public static int Check(PhnObject* op)
    {
        Startup.Ensure();
        return op != null && Weakrefs.IsWeakref(op) ? 1 : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_weakref_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long Count(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!ObjectExports.CheckObject(op, "phn_weakref_count"))
                return Status.InvalidArgument;
            return (op->Type->Flags & TypeFlags.WeakRefable) == 0 ? 0 : Weakrefs.Count(op);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_weakref_count"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_object_clear_weakrefs", CallConvs = [typeof(CallConvCdecl)])]
    public static int ClearWeakrefs(PhnObject* op) => Clear(op, callbacks: true, "phn_object_clear_weakrefs");

    [UnmanagedCallersOnly(EntryPoint = "phn_object_clear_weakrefs_no_callbacks", CallConvs = [typeof(CallConvCdecl)])]
    public static int ClearWeakrefsNoCallbacks(PhnObject* op) => Clear(op, callbacks: false, "phn_object_clear_weakrefs_no_callbacks");

    private static int Clear(PhnObject* op, bool callbacks, string function)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!ObjectExports.CheckObject(op, function))
                return Status.InvalidArgument;
            if ((op->Type->Flags & TypeFlags.WeakRefable) != 0 && *WeakList(op) != null)
                Weakrefs.ClearAll(op, callbacks);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, function); }
    }

    private static bool CheckWeakref(PhnObject* op, string function)
    {
        if (!ObjectExports.CheckObject(op, function))
            return false;
        if (Weakrefs.IsWeakref(op))
            return true;
        Errors.Report(Status.InvalidArgument, $"{function}: {ObjectDump.Describe(op)} is not a weak reference");
        return false;
    }
}
