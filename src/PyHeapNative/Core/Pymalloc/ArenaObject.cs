using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>
/// Bookkeeping for one arena (CPython's struct arena_object), kept in a growable vector;
/// pools refer to it by index. Address == 0 means the slot is unused, linked through
/// NextArena in the unused-objects list.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ArenaObject
{
    public nuint Address;            // base from the arena allocator, 0 if unused
    public byte* PoolAddress;        // next pool to carve (pool-aligned)
    public uint NFreePools;          // empty + never-carved pools
    public uint NTotalPools;         // 64, or 63 when the base is not pool-aligned
    public PoolHeader* FreePools;    // singly linked list of empty pools
    public ArenaObject* NextArena;   // UsableArenas (doubly linked) or the unused list
    public ArenaObject* PrevArena;
    public ArenaAllocatorTable* Allocator;   // the allocator that allocated it frees it
}
