// Mirrors include/pyheapnative/phn_object.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Objects.ObjectLayout;

namespace PyHeapNative.Exports;

internal static unsafe class ObjectExports
{
    // ---- types ----------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "phn_type_new", CallConvs = [typeof(CallConvCdecl)])]
    public static TypeObject* TypeNew(TypeSpec* spec)
    {
        try
        {
            Startup.Ensure();
            TypeObject* t = Types.Create(spec, out string? error);
            if (t == null)
                Errors.Report(error!.Contains("out of memory") ? Status.NoMemory : Status.InvalidArgument, error);
            return t;
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_type_new"); return null; }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_type_name", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* TypeName(TypeObject* type) => type == null ? null : type->Name;

    [UnmanagedCallersOnly(EntryPoint = "phn_type_flags", CallConvs = [typeof(CallConvCdecl)])]
    public static uint GetTypeFlags(TypeObject* type) => type == null ? 0 : type->Flags & TypeFlags.Public;

    // ---- objects --------------------------------------------------------------------------

    // On Unix the four constructors, phn_object_free and phn_dealloc are C (Native/phn_dealloc.c):
    // they do their common case under the GIL (the caller's, or taken when free), and come here
    // otherwise.
#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_object_new", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_object_new", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static PhnObject* ObjectNew(TypeObject* type)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckType(type, "phn_object_new", var: false, gcOnly: false))
                return null;
            return Allocated(Objects.Allocate(type, 0, track: true), "phn_object_new");
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_object_new"); }
    }

#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_object_new_var", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_object_new_var", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static PhnObject* ObjectNewVar(TypeObject* type, long n)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckType(type, "phn_object_new_var", var: true, gcOnly: false) || !CheckItems(n, "phn_object_new_var"))
                return null;
            return Allocated(Objects.Allocate(type, (nint)n, track: true), "phn_object_new_var");
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_object_new_var"); }
    }

#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_gc_new", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_gc_new", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static PhnObject* GcNew(TypeObject* type)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckType(type, "phn_gc_new", var: false, gcOnly: true))
                return null;
            return Allocated(Objects.Allocate(type, 0, track: false), "phn_gc_new");
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_gc_new"); }
    }

#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_gc_new_var", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_gc_new_var", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static PhnObject* GcNewVar(TypeObject* type, long n)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckType(type, "phn_gc_new_var", var: true, gcOnly: true) || !CheckItems(n, "phn_gc_new_var"))
                return null;
            return Allocated(Objects.Allocate(type, (nint)n, track: false), "phn_gc_new_var");
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_gc_new_var"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gc_resize", CallConvs = [typeof(CallConvCdecl)])]
    public static PhnObject* GcResize(PhnObject* op, long n)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_gc_resize") || !CheckItems(n, "phn_gc_resize"))
                return null;
            if (op->Type->ItemSize == 0)
            {
                Errors.Report(Status.InvalidArgument, $"phn_gc_resize: {ObjectDump.Describe(op)} is not a variable-size object");
                return null;
            }
            if (IsGc(op) && IsTracked(op))
            {
                Errors.Report(Status.InvalidState, "phn_gc_resize: object is tracked");
                ObjectDump.FatalAssertion("phn_gc_resize: object is tracked", op);
                return null;
            }
            return Allocated(Objects.Resize(op, (nint)n), "phn_gc_resize");
        }
        catch (Exception e) { return (PhnObject*)ExportGuard.AllocationFailed(e, "phn_gc_resize"); }
    }

#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_object_free", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_object_free", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static int ObjectFree(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_object_free"))
                return Status.InvalidArgument;
            Objects.Free(op);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_object_free"); }
    }

    // ---- reference counting -----------------------------------------------------------

    /// <summary>phn_dealloc; called with NULL by C's phn_dealloc when its outermost dealloc has
    /// returned and the trashcan holds objects: drains them.</summary>
#if PHN_WINDOWS
    [UnmanagedCallersOnly(EntryPoint = "phn_dealloc", CallConvs = [typeof(CallConvCdecl)])]
#else
    [UnmanagedCallersOnly(EntryPoint = "phnimpl_dealloc", CallConvs = [typeof(CallConvCdecl)])]
#endif
    public static void Dealloc(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (op == null)
                Objects.DrainIfOutermost();
            if (op == null || IsImmortal(op))
                return;
            Objects.Dealloc(op);
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_dealloc"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_negative_refcount", CallConvs = [typeof(CallConvCdecl)])]
    public static void NegativeRefcount(byte* file, int line, PhnObject* op)
    {
        try
        {
            Startup.Ensure();
            string f = file == null ? "?" : Marshal.PtrToStringUTF8((nint)file) ?? "?";
            Objects.NegativeRefcount(f, line, op);
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_negative_refcount"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_incref", CallConvs = [typeof(CallConvCdecl)])]
    public static void IncRef(PhnObject* op)
    {
        if (op == null)
            return;
        try
        {
            using var gil = GilScope.Enter();
            Objects.IncRef(op);
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_incref"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_decref", CallConvs = [typeof(CallConvCdecl)])]
    public static void DecRef(PhnObject* op)
    {
        if (op == null)
            return;
        try
        {
            using var gil = GilScope.Enter();
            if (IsImmortal(op))
                return;
            if (op->RefCnt <= 0)
            {
                Objects.NegativeRefcount("phn_decref", 0, op);
                return;   // the fatal handler returned: leave the count alone
            }
            Objects.DecRef(op);
        }
        catch (Exception e) { ExportGuard.Failed(e, "phn_decref"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_refcnt", CallConvs = [typeof(CallConvCdecl)])]
    public static nint RefCnt(PhnObject* op) =>
        op == null ? 0 : IsImmortal(op) ? unchecked((nint)ImmortalRefCnt) : op->RefCnt;

    [UnmanagedCallersOnly(EntryPoint = "phn_set_refcnt", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetRefCnt(PhnObject* op, nint n)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_set_refcnt"))
                return Status.InvalidArgument;
            if (n < 0)
                return Errors.Report(Status.InvalidArgument, $"phn_set_refcnt: the count {(long)n} is negative");
            if (!IsImmortal(op))
                op->RefCnt = n;
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_set_refcnt"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_object_set_immortal", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetImmortal(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_object_set_immortal"))
                return Status.InvalidArgument;
            op->RefCnt = unchecked((nint)ImmortalRefCnt);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_object_set_immortal"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_object_call_finalizer", CallConvs = [typeof(CallConvCdecl)])]
    public static int CallFinalizer(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_object_call_finalizer"))
                return Status.InvalidArgument;
            Objects.CallFinalizer(op);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_object_call_finalizer"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_object_call_finalizer_from_dealloc", CallConvs = [typeof(CallConvCdecl)])]
    public static int CallFinalizerFromDealloc(PhnObject* op)
    {
        try
        {
            using var gil = GilScope.Enter();
            if (!CheckObject(op, "phn_object_call_finalizer_from_dealloc"))
                return Status.InvalidArgument;
            return Objects.CallFinalizerFromDealloc(op);
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_object_call_finalizer_from_dealloc"); }
    }

    // ---- argument checks ----------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool CheckObject(PhnObject* op, string function) => op != null || NullObject(function);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool NullObject(string function)
    {
        Errors.Report(Status.InvalidArgument, $"{function}: the object is NULL");
        return false;
    }

    private static bool CheckType(TypeObject* type, string function, bool var, bool gcOnly)
    {
        string? error = null;
        if (type == null)
            error = "the type is NULL";
        else if (type->Magic != TypeObject.MagicValue)
            error = "not a type made by phn_type_new";
        else if (var && type->ItemSize == 0)
            error = $"type '{Types.NameOf(type)}' is not variable-size (itemsize 0); use phn_object_new / phn_gc_new";
        else if (!var && type->ItemSize != 0)
            error = $"type '{Types.NameOf(type)}' is variable-size; use phn_object_new_var / phn_gc_new_var";
        else if (gcOnly && (type->Flags & TypeFlags.HaveGc) == 0)
            error = $"type '{Types.NameOf(type)}' is not a GC type (PHN_TPFLAGS_HAVE_GC)";
        if (error == null)
            return true;
        Errors.Report(Status.InvalidArgument, $"{function}: {error}");
        return false;
    }

    private static PhnObject* Allocated(PhnObject* op, string function)
    {
        if (op == null)
        {
            int errno = Libc.GetErrno();
            Errors.Report(Status.NoMemory, $"{function}: out of memory");
            Libc.SetErrno(errno);
        }
        return op;
    }

    private static bool CheckItems(long n, string function)
    {
        if (n >= 0)
            return true;
        Errors.Report(Status.InvalidArgument, $"{function}: the number of items {n} is negative");
        return false;
    }
}
