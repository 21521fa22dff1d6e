// Calling a domain entry that is not a built-in fast path: a custom C table (one transition
// out of managed code and back) or a wrapper of the library (a managed indirect call). The
// table pointer is read once, so a racing phn_set_allocator is seen whole or not at all.
using System.Runtime.CompilerServices;

namespace PyHeapNative.Core.Raw;

internal static unsafe class Call
{
    /// <summary>The return address of the C code that called the export now being served,
    /// set only around calls into a wrapper (tracemalloc records it); null otherwise.</summary>
    [ThreadStatic] private static void* t_caller;

    internal static void* Caller => t_caller;

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Malloc(ref DomainEntry e, nuint size, void* caller)
    {
        t_caller = caller;
        void* r = Malloc(ref e, size);
        t_caller = null;
        return r;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Calloc(ref DomainEntry e, nuint nelem, nuint elsize, void* caller)
    {
        t_caller = caller;
        void* r = Calloc(ref e, nelem, elsize);
        t_caller = null;
        return r;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Realloc(ref DomainEntry e, void* ptr, nuint size, void* caller)
    {
        t_caller = caller;
        void* r = Realloc(ref e, ptr, size);
        t_caller = null;
        return r;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Free(ref DomainEntry e, void* ptr, void* caller)
    {
        t_caller = caller;
        Free(ref e, ptr);
        t_caller = null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Malloc(ref DomainEntry e, nuint size)
    {
        WrapperTable* t = e.Table;
        return t->Malloc != null ? t->Malloc(t->C.Context, size) : t->C.Malloc(t->C.Context, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Calloc(ref DomainEntry e, nuint nelem, nuint elsize)
    {
        WrapperTable* t = e.Table;
        return t->Calloc != null ? t->Calloc(t->C.Context, nelem, elsize) : t->C.Calloc(t->C.Context, nelem, elsize);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* Realloc(ref DomainEntry e, void* ptr, nuint size)
    {
        WrapperTable* t = e.Table;
        return t->Realloc != null ? t->Realloc(t->C.Context, ptr, size) : t->C.Realloc(t->C.Context, ptr, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Free(ref DomainEntry e, void* ptr)
    {
        WrapperTable* t = e.Table;
        if (t->Free != null)
            t->Free(t->C.Context, ptr);
        else
            t->C.Free(t->C.Context, ptr);
    }
}
