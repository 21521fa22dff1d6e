// The allocator pymalloc takes its 1 MiB arenas from (CPython's PyObjectArenaAllocator):
// anonymous mmap by default (below: in aligned pairs, optionally on huge pages), replaceable
// with phn_set_arena_allocator. Every arena records the table that allocated it, so swapping
// allocators never frees an arena with the wrong one.
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

    // ---- the built-in allocator: arenas in aligned pairs, optionally on huge pages ----------
    //
    //   one 2 MiB-aligned chunk (mapped as 4 MiB - 4 KiB, the ends cut off)
    //   | arena handed out now | arena kept as the spare, handed out next |
    //
    // Each arena is 1 MiB-aligned, so all of its 64 pools are usable (an mmap'ed arena is only
    // page-aligned and loses one: "bytes lost to arena alignment"). Arenas are freed one by
    // one. On Windows, where a mapping is released whole, every arena is its own mapping.
    //
    // With PYHEAPNATIVE_PYMALLOC_HUGEPAGES=1 (off by default, as CPython 3.15's
    // PYTHON_PYMALLOC_HUGEPAGES), once HugePageThreshold arenas are live new chunks are advised
    // MADV_HUGEPAGE: when the system's transparent huge pages are "madvise" or "always", a
    // chunk is backed by one 2 MiB page, and a heap of tens of MiB misses the TLB far less
    // (churn over 26 MB of blocks: about 15 % faster here). A small heap stays on 4 KiB pages.
    // It is off by default because of what the kernel does on the first touch of such a chunk:
    // with the usual defrag setting ("madvise") it compacts memory synchronously to find a
    // free 2 MiB page, and on a machine whose memory is fragmented that fault can take a
    // millisecond (measured here: allocating 1M blocks took from 0.2 s to over 1 s from one
    // run to the next). Also, once a chunk is touched its spare half is resident too.

    internal const int HugePageThreshold = 8;            // live arenas before chunks are advised
    private const nuint ChunkSize = 2 * (nuint)Tunables.ArenaSize;

    /// <summary>True: advise huge pages once the heap is big (PYHEAPNATIVE_PYMALLOC_HUGEPAGES=1).</summary>
    internal static bool HugePages;

    private static nint s_spare;          // the unused half of the last chunk, or 0
    private static long s_liveArenas;     // arenas of the built-in allocator not yet freed

    /// <summary>An arena of the built-in allocator, or null. Lock-free: called with
    /// pymalloc's locks dropped, and by anyone holding the built-in table.</summary>
    internal static void* BuiltinAlloc(nuint size)
    {
        void* arena = size == (nuint)Tunables.ArenaSize && Libc.CanUnmapPart ? TakeChunkHalf() : Libc.MapPages(size);
        if (arena != null)
            Interlocked.Increment(ref s_liveArenas);
        return arena;
    }

    internal static void BuiltinFree(void* address, nuint size)
    {
        if (address == null)
            return;
        Libc.UnmapPages(address, size);
        Interlocked.Decrement(ref s_liveArenas);
    }

    private static void* TakeChunkHalf()
    {
        nint spare = Interlocked.Exchange(ref s_spare, 0);
        if (spare != 0)
            return (void*)spare;
        var chunk = (byte*)Libc.MapAlignedPages(ChunkSize, ChunkSize);
        if (chunk == null)
            return Libc.MapPages((nuint)Tunables.ArenaSize);   // no room for 4 MiB: a plain arena
        if (HugePages && Volatile.Read(ref s_liveArenas) >= HugePageThreshold)
            Libc.AdviseHugePages(chunk, ChunkSize);
        byte* second = chunk + Tunables.ArenaSize;
        if (Interlocked.CompareExchange(ref s_spare, (nint)second, 0) != 0)
            Libc.UnmapPages(second, (nuint)Tunables.ArenaSize);   // another thread left one meanwhile
        return chunk;
    }
}
