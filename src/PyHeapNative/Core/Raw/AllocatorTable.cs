using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Raw;

/// <summary>
/// A domain's allocator: CPython's PyMemAllocatorEx, the C struct phn_allocator (40 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct AllocatorTable
{
    public void* Context;
    public delegate* unmanaged[Cdecl]<void*, nuint, void*> Malloc;
    public delegate* unmanaged[Cdecl]<void*, nuint, nuint, void*> Calloc;
    public delegate* unmanaged[Cdecl]<void*, void*, nuint, void*> Realloc;
    public delegate* unmanaged[Cdecl]<void*, void*, void> Free;

    public readonly bool IsComplete => Malloc != null && Calloc != null && Realloc != null && Free != null;

    public readonly bool SameAs(in AllocatorTable other) =>
        Context == other.Context && Malloc == other.Malloc && Calloc == other.Calloc &&
        Realloc == other.Realloc && Free == other.Free;
}

/// <summary>Which implementation serves a domain; the hot paths switch on it.</summary>
internal enum Backend : byte
{
    Pymalloc = 0,   // MEM/OBJ default: pymalloc, falling back to RAW
    Malloc = 1,     // RAW default (and MEM/OBJ with PYHEAPNATIVE_ALLOCATOR=malloc): C malloc
    Custom = 2,     // an allocator installed with phn_set_allocator, called through its C table
    Wrapper = 3,    // a layer of the library over the previous entry (debug hooks, tracing)
}

/// <summary>Which layer a wrapper is.</summary>
internal enum WrapperKind : byte
{
    None = 0,      // a custom C table: no managed entry points
    Debug = 1,
    Tracing = 2,
}

/// <summary>
/// An installed table. For a custom allocator only C is set. For a wrapper installed by the
/// library itself (Kind != None), C is what phn_get_allocator returns (so hooks can forward
/// to it) and the library calls the managed entry points, same context, no transition.
/// Immutable once installed and never freed: a call reads the entry's pointer once.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct WrapperTable
{
    public AllocatorTable C;   // first: a WrapperTable* is also an AllocatorTable*
    // Managed entry points: (context, arguments..., caller), where caller is the C caller's
    // return address for a call from an export, Call.NestedCaller for a call the library makes
    // itself inside another one, Call.UnknownCaller when C called a C-callable table.
    public delegate*<void*, nuint, void*, void*> Malloc;
    public delegate*<void*, nuint, nuint, void*, void*> Calloc;
    public delegate*<void*, void*, nuint, void*, void*> Realloc;
    public delegate*<void*, void*, void*, void> Free;
    public WrapperKind Kind;
    public DomainEntry* Wrapped;   // the entry this wrapper forwards to

    /// <summary>A new wrapper table in C memory (never freed: hooks may keep forwarding to
    /// it): C gets cFunctions with this context, the library the managed entry points.
    /// Null when out of memory.</summary>
    internal static WrapperTable* Create(in AllocatorTable cFunctions, void* context, WrapperKind kind, DomainEntry* wrapped,
        delegate*<void*, nuint, void*, void*> malloc, delegate*<void*, nuint, nuint, void*, void*> calloc,
        delegate*<void*, void*, nuint, void*, void*> realloc, delegate*<void*, void*, void*, void> free)
    {
        var table = (WrapperTable*)Os.Libc.Calloc(1, (nuint)sizeof(WrapperTable));
        if (table == null)
            return null;
        table->C = cFunctions;
        table->C.Context = context;
        table->Malloc = malloc;
        table->Calloc = calloc;
        table->Realloc = realloc;
        table->Free = free;
        table->Kind = kind;
        table->Wrapped = wrapped;
        return table;
    }
}

/// <summary>One domain: its backend and, for Custom and Wrapper, the installed table.
/// The table is published before the kind.</summary>
internal unsafe struct DomainEntry
{
    public Backend Kind;
    public WrapperTable* Table;
}
