// The allocator pymalloc takes its 1 MiB arenas from (CPython's PyObjectArenaAllocator):
// anonymous mmap by default, replaceable with phn_set_arena_allocator. Every arena records
// the table that allocated it, so swapping allocators never frees an arena with the wrong one.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>The C struct phn_arena_allocator (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ArenaAllocatorTable
{
    public void* Context;
    public delegate* unmanaged[Cdecl]<void*, nuint, void*> Alloc;
    public delegate* unmanaged[Cdecl]<void*, void*, nuint, void> Free;
}

internal static unsafe class ArenaAllocator
{
    /// <summary>The built-in table (C-callable functions registered at start-up).</summary>
    internal static ArenaAllocatorTable* Builtin;

    /// <summary>The current table; immutable once published.</summary>
    internal static ArenaAllocatorTable* Current;

    internal static void RegisterBuiltin(ArenaAllocatorTable* builtin)
    {
        Builtin = builtin;
        if (Current == null)
            Current = builtin;
    }

    internal static void Install(ArenaAllocatorTable* table)
    {
        Thread.MemoryBarrier();   // the table's fields before the pointer
        Current = table;
    }

    /// <summary>Allocates an arena with a table; the built-in one is called directly.</summary>
    internal static void* Allocate(ArenaAllocatorTable* table) =>
        table == Builtin ? BuiltinAlloc(Tunables.ArenaSize) : table->Alloc(table->Context, Tunables.ArenaSize);

    internal static void Release(ArenaAllocatorTable* table, void* address)
    {
        if (table == Builtin)
            BuiltinFree(address, Tunables.ArenaSize);
        else
            table->Free(table->Context, address, Tunables.ArenaSize);
    }

    internal static void* BuiltinAlloc(nuint size) => Libc.MapPages(size);

    internal static void BuiltinFree(void* address, nuint size) => Libc.UnmapPages(address, size);
}
