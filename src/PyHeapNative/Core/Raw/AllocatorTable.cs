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
    Custom = 2,     // an allocator installed with phn_set_allocator, called through its table
}

/// <summary>One domain: its backend and, for Custom, an immutable copy of the table.</summary>
internal unsafe struct DomainEntry
{
    public Backend Kind;
    public AllocatorTable* Custom;
}
