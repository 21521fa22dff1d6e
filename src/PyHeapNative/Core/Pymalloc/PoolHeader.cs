using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>
/// The header at the start of every 16 KiB pool (CPython's struct pool_header, 48 bytes).
/// Pools are POOL_SIZE-aligned, so the pool of a block is <c>p &amp; ~POOL_SIZE_MASK</c>.
/// </summary>
/// <remarks>
/// A carved pool is in exactly one state:
///   used:  0 &lt; Count &lt; capacity, linked in its class's circular UsedPools list;
///   full:  Count == capacity, linked in no list;
///   empty: Count == 0, in its arena's singly linked FreePools list, no class.
/// Blocks are carved lazily: FreeBlock holds freed blocks (LIFO, the next pointer in each
/// block's first word) and, once it runs dry, the next never-used block at NextOffset.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = Tunables.PoolOverhead)]
internal unsafe struct PoolHeader
{
    public uint Count;             // 0: blocks allocated from this pool
    public uint Heap;              // 4: the heap whose used list the pool is on (Pymalloc.HeapCount)
    public byte* FreeBlock;        // 8: head of the free-block list
    public PoolHeader* NextPool;   // 16: next pool (used list: circular, doubly linked; free list: singly)
    public PoolHeader* PrevPool;   // 24: previous pool (used list only)
    public uint ArenaIndex;        // 32: index of the owning arena object
    public uint SizeIndex;         // 36: size class, or DummySizeIndex
    public uint NextOffset;        // 40: offset of the next virgin block
    public uint MaxNextOffset;     // 44: largest valid NextOffset = POOL_SIZE - block size
}
