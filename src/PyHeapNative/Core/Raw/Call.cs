// Calling a domain entry that is not a built-in fast path: a custom C table (one transition
// out of managed code and back) or a wrapper of the library (a managed indirect call that
// also receives the C caller's address, for tracemalloc). The table pointer is read once, so
// a racing phn_set_allocator is seen whole or not at all.
using System.Runtime.CompilerServices;

namespace PyHeapNative.Core.Raw;

internal static unsafe class Call
{
    /// <summary>The caller of a call the library makes inside another call (pymalloc's RAW
    /// fallback, a wrapper forwarding): tracemalloc does not trace it again.</summary>
    internal static void* NestedCaller => null;

    /// <summary>The caller of a call that came from C through a C-callable table (a hook
    /// forwarding to the library): not known, tracemalloc walks the stack.</summary>
    internal static void* UnknownCaller => (void*)1;

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Malloc(ref DomainEntry e, nuint size, void* caller)
    {
        WrapperTable* t = e.Table;
        return t->Malloc != null ? t->Malloc(t->C.Context, size, caller) : t->C.Malloc(t->C.Context, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Calloc(ref DomainEntry e, nuint nelem, nuint elsize, void* caller)
    {
        WrapperTable* t = e.Table;
        return t->Calloc != null ? t->Calloc(t->C.Context, nelem, elsize, caller) : t->C.Calloc(t->C.Context, nelem, elsize);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Realloc(ref DomainEntry e, void* ptr, nuint size, void* caller)
    {
        WrapperTable* t = e.Table;
        return t->Realloc != null ? t->Realloc(t->C.Context, ptr, size, caller) : t->C.Realloc(t->C.Context, ptr, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Free(ref DomainEntry e, void* ptr, void* caller)
    {
        WrapperTable* t = e.Table;
        if (t->Free != null)
            t->Free(t->C.Context, ptr, caller);
        else
            t->C.Free(t->C.Context, ptr);
    }
}
