// The MEM and OBJ domains (CPython's PyMem_* and PyObject_* functions). Each is served by
// pymalloc (default), by C malloc (PYHEAPNATIVE_ALLOCATOR=malloc) or by an allocator
// installed with phn_set_allocator. The public wrappers reject sizes above PY_SSIZE_T_MAX
// and calloc products that overflow it: NULL, errno = ENOMEM, the allocator not called.
// The built-in backends are called directly, not through their C-callable table.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Domains;

internal static unsafe class Domains
{
    internal static DomainEntry Mem;   // Kind defaults to Backend.Pymalloc
    internal static DomainEntry Obj;

    // ---- fast path -------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Malloc(ref DomainEntry domain, nuint size, void* caller)
    {
        if (size > Status.MaxRequest)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Malloc(size);
        return MallocSlow(ref domain, size, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Calloc(ref DomainEntry domain, nuint nelem, nuint elsize, void* caller)
    {
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Calloc(nelem, elsize);
        return CallocSlow(ref domain, nelem, elsize, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Realloc(ref DomainEntry domain, void* ptr, nuint size, void* caller)
    {
        if (size > Status.MaxRequest)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Realloc(ptr, size);
        return ReallocSlow(ref domain, ptr, size, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Free(ref DomainEntry domain, void* ptr, void* caller)
    {
        if (domain.Kind == Backend.Pymalloc)
            Pymalloc.Pymalloc.Free(ptr);
        else
            FreeSlow(ref domain, ptr, caller);
    }

    // ---- batches (phn_obj_malloc_many / phn_obj_free_many) ------------------------------

    public static nuint MallocMany(ref DomainEntry domain, nuint size, nuint n, void** output, void* caller)
    {
        if (size > Status.MaxRequest)
        {
            for (nuint i = 0; i < n; i++)
                output[i] = null;
            RawDomain.OutOfMemory();
            return 0;
        }
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.MallocMany(size, n, output);
        for (nuint i = 0; i < n; i++)
        {
            output[i] = MallocSlow(ref domain, size, caller);
            if (output[i] == null)
            {
                for (nuint j = i + 1; j < n; j++)
                    output[j] = null;
                return i;
            }
        }
        return n;
    }

    public static void FreeMany(ref DomainEntry domain, void** ptrs, nuint n, void* caller)
    {
        if (domain.Kind == Backend.Pymalloc)
        {
            Pymalloc.Pymalloc.FreeMany(ptrs, n);
            return;
        }
        for (nuint i = 0; i < n; i++)
            if (ptrs[i] != null)
                FreeSlow(ref domain, ptrs[i], caller);
    }

    // ---- other backends --------------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* MallocSlow(ref DomainEntry domain, nuint size, void* caller) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinMalloc(size) : Call.Malloc(ref domain, size, caller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* CallocSlow(ref DomainEntry domain, nuint nelem, nuint elsize, void* caller) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinCalloc(nelem, elsize) : Call.Calloc(ref domain, nelem, elsize, caller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* ReallocSlow(ref DomainEntry domain, void* ptr, nuint size, void* caller) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinRealloc(ptr, size) : Call.Realloc(ref domain, ptr, size, caller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FreeSlow(ref DomainEntry domain, void* ptr, void* caller)
    {
        if (domain.Kind == Backend.Malloc)
            RawDomain.BuiltinFree(ptr);
        else
            Call.Free(ref domain, ptr, caller);
    }

    // ---- any entry, without the size checks (for wrappers calling what they wrap; caller is
    // passed on, see WrapperTable) ----------------------------------------------------------

    public static void* EntryMalloc(ref DomainEntry e, nuint size, void* caller) => e.Kind switch
    {
        Backend.Pymalloc => Pymalloc.Pymalloc.Malloc(size),
        Backend.Malloc => RawDomain.BuiltinMalloc(size),
        _ => Call.Malloc(ref e, size, caller),
    };

    public static void* EntryCalloc(ref DomainEntry e, nuint nelem, nuint elsize, void* caller) => e.Kind switch
    {
        Backend.Pymalloc => Pymalloc.Pymalloc.Calloc(nelem, elsize),
        Backend.Malloc => RawDomain.BuiltinCalloc(nelem, elsize),
        _ => Call.Calloc(ref e, nelem, elsize, caller),
    };

    public static void* EntryRealloc(ref DomainEntry e, void* ptr, nuint size, void* caller) => e.Kind switch
    {
        Backend.Pymalloc => Pymalloc.Pymalloc.Realloc(ptr, size),
        Backend.Malloc => RawDomain.BuiltinRealloc(ptr, size),
        _ => Call.Realloc(ref e, ptr, size, caller),
    };

    public static void EntryFree(ref DomainEntry e, void* ptr, void* caller)
    {
        switch (e.Kind)
        {
            case Backend.Pymalloc: Pymalloc.Pymalloc.Free(ptr); break;
            case Backend.Malloc: RawDomain.BuiltinFree(ptr); break;
            default: Call.Free(ref e, ptr, caller); break;
        }
    }
}
