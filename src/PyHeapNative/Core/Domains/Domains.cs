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
    public static void* Malloc(ref DomainEntry domain, nuint size)
    {
        if (size > Status.MaxRequest)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Malloc(size);
        return MallocSlow(ref domain, size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Calloc(ref DomainEntry domain, nuint nelem, nuint elsize)
    {
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Calloc(nelem, elsize);
        return CallocSlow(ref domain, nelem, elsize);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Realloc(ref DomainEntry domain, void* ptr, nuint size)
    {
        if (size > Status.MaxRequest)
            return RawDomain.OutOfMemory();
        if (domain.Kind == Backend.Pymalloc)
            return Pymalloc.Pymalloc.Realloc(ptr, size);
        return ReallocSlow(ref domain, ptr, size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Free(ref DomainEntry domain, void* ptr)
    {
        if (domain.Kind == Backend.Pymalloc)
            Pymalloc.Pymalloc.Free(ptr);
        else
            FreeSlow(ref domain, ptr);
    }

    // ---- other backends --------------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* MallocSlow(ref DomainEntry domain, nuint size) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinMalloc(size) : domain.Custom->Malloc(domain.Custom->Context, size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* CallocSlow(ref DomainEntry domain, nuint nelem, nuint elsize) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinCalloc(nelem, elsize) : domain.Custom->Calloc(domain.Custom->Context, nelem, elsize);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* ReallocSlow(ref DomainEntry domain, void* ptr, nuint size) =>
        domain.Kind == Backend.Malloc ? RawDomain.BuiltinRealloc(ptr, size) : domain.Custom->Realloc(domain.Custom->Context, ptr, size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FreeSlow(ref DomainEntry domain, void* ptr)
    {
        if (domain.Kind == Backend.Malloc)
            RawDomain.BuiltinFree(ptr);
        else
            domain.Custom->Free(domain.Custom->Context, ptr);
    }
}
