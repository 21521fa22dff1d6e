// The RAW domain (CPython's PyMem_RawMalloc and friends): C malloc by default, thread-safe,
// replaceable with phn_set_allocator. pymalloc falls back to it for 0 and > 512 bytes.
//
// Methods here are the public wrappers: they reject sizes above PY_SSIZE_T_MAX (NULL and
// errno = ENOMEM, the installed allocator not called) and dispatch on the backend.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Raw;

internal static unsafe class RawDomain
{
    internal static DomainEntry Entry;   // Malloc (or the zero value) for C malloc, Custom, Wrapper

    // ---- fast path: calls made inside another call (pymalloc's fallback) ---------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Malloc(nuint size)
    {
        if (size > Status.MaxRequest)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinMalloc(size);
        return Call.Malloc(ref Entry, size, Call.NestedCaller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Calloc(nuint nelem, nuint elsize)
    {
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinCalloc(nelem, elsize);
        return Call.Calloc(ref Entry, nelem, elsize, Call.NestedCaller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Realloc(void* ptr, nuint size)
    {
        if (size > Status.MaxRequest)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinRealloc(ptr, size);
        return Call.Realloc(ref Entry, ptr, size, Call.NestedCaller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Free(void* ptr)
    {
        if (Entry.Kind < Backend.Custom)
            BuiltinFree(ptr);
        else
            Call.Free(ref Entry, ptr, Call.NestedCaller);
    }

    // ---- entry points of the exports: the C caller's address goes to wrappers ---------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Malloc(nuint size, void* caller)
    {
        if (size > Status.MaxRequest)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinMalloc(size);
        return Call.Malloc(ref Entry, size, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Calloc(nuint nelem, nuint elsize, void* caller)
    {
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinCalloc(nelem, elsize);
        return Call.Calloc(ref Entry, nelem, elsize, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Realloc(void* ptr, nuint size, void* caller)
    {
        if (size > Status.MaxRequest)
            return OutOfMemory();
        if (Entry.Kind < Backend.Custom)
            return BuiltinRealloc(ptr, size);
        return Call.Realloc(ref Entry, ptr, size, caller);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Free(void* ptr, void* caller)
    {
        if (Entry.Kind < Backend.Custom)
            BuiltinFree(ptr);
        else
            Call.Free(ref Entry, ptr, caller);
    }

    // ---- the built-in allocator (CPython's _PyMem_RawMalloc ...) ------------------------
    // Some C libraries return NULL for 0 bytes and others a block with no storage; ask for 1
    // so that 0-byte blocks are distinct and pymalloc can rely on them.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* BuiltinMalloc(nuint size) => Libc.Malloc(size == 0 ? 1 : size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* BuiltinCalloc(nuint nelem, nuint elsize) =>
        nelem == 0 || elsize == 0 ? Libc.Calloc(1, 1) : Libc.Calloc(nelem, elsize);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* BuiltinRealloc(void* ptr, nuint size) => Libc.Realloc(ptr, size == 0 ? 1 : size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BuiltinFree(void* ptr) => Libc.Free(ptr);

    // ---- slow path -------------------------------------------------------------------

    /// <summary>NULL with errno = ENOMEM, for requests no allocator is asked about.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void* OutOfMemory()
    {
        Libc.SetErrno(Libc.ENOMEM);
        return null;
    }
}
