// pymalloc: CPython's allocator for small blocks (Objects/obmalloc.c), serving MEM and OBJ.
//
//     Object-specific allocators
//     _____   ______   ______       ________
//    [ int ] [ dict ] [ list ] ... [ string ]       C programs' objects
//  +3 | <----- Object-specific memory -----> | <-- Non-object memory --> |
//     _______________________________       |                           |
//    [   phn_obj_malloc / phn_mem_*  ]      |                           |
//  +2 | ####### Object memory ####### | <------ Internal buffers ------> |
//     ______________________________________________________________    |
//    [          pymalloc: arenas -> pools -> size classes          ]    |
//  +1 | <- blocks of 1..512 bytes -> | <-- 0 and > 512 bytes: RAW domain --> |
//     __________________________________________________________________
//    [                C malloc (RAW) and mmap (arenas)                  ]
//
// Arenas (1 MiB, from the arena allocator) are cut into 16 KiB pools; each pool serves one
// size class of 16-byte steps. For each class, UsedPools heads a circular list of the pools
// that have both allocated and free blocks; allocation pops the first such pool's free list
// (the fast path below). Full pools are on no list; empty pools go back to their arena's
// free-pool list; arenas with free pools are kept in UsableArenas sorted by how few free
// pools they have, so allocation drains the fullest arenas first and nearly empty ones can
// be returned to the OS (see Arenas.cs).
//
// Threads: each size class has its own spin lock (HeapLock), which guards its UsedPools list
// and the pools on it, so threads allocating different sizes do not contend. The arenas
// (UsableArenas, free pools, the arena vector, the radix tree's writes) have one more lock,
// taken only on slow paths and always after a class lock. Ownership tests (ArenaMap) take no
// lock. User code (hooks, arena allocators, handlers) is never called with a lock held.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

internal static unsafe partial class Pymalloc
{
    /// <summary>Guards the arenas; taken after a class lock, never before one.</summary>
    internal static HeapLock ArenaLock;

    /// <summary>
    /// pymalloc's used-pool lists, one per size class — here one per size class and heap.
    /// Threads are spread over HeapCount heaps in turn (HeapBias.OwnHeap); a heap has its
    /// own list of used pools per class, so threads on different heaps never touch the same
    /// list, lock or cache line on their fast path. A pool belongs to the heap that took it
    /// from an arena (PoolHeader.Heap): a block freed by any thread goes back to its pool,
    /// under the lock of the pool's list. Arenas are shared. A single thread always works in
    /// one heap, so it sees exactly CPython's pymalloc (same pools, same LIFO reuse).
    ///
    /// One cache line per list holds everything its fast path touches outside the pools:
    /// the lock (offset 0) and the list head (offset 8: a fake pool header whose NextPool is
    /// the first used pool, itself when the list is empty; CPython overlays the heads on an
    /// array of pointers, and plain sentinel nodes behave the same). Lists are numbered
    /// heap * NumSizeClasses + size class. One more heap, TracedHeap, serves tracemalloc's
    /// blocks (TracedHeap.cs): no thread is given it.
    /// </summary>
    internal const int HeapCount = 4;
    internal const int AllHeaps = HeapCount + 1;
    internal const int ListCount = AllHeaps * NumSizeClasses;

    private static byte* s_classLines;
    private const int LineSize = 64;
    private const int UsedPoolsOffset = 8;

    /// <summary>The calling thread's heap, the one the C fast paths use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint CurrentHeap() => HeapBias.OwnHeap();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ListOf(uint sizeIndex) => CurrentHeap() * NumSizeClasses + sizeIndex;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ListOfPool(PoolHeader* pool) => pool->Heap * NumSizeClasses + pool->SizeIndex;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint SizeIndexOfList(uint list) => list & (NumSizeClasses - 1);

    /// <summary>The class lines, for the C fast path (Native/phn_entry.c).</summary>
    internal static byte* ClassLines => s_classLines;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PoolHeader* UsedPools(uint list) => (PoolHeader*)(s_classLines + list * LineSize + UsedPoolsOffset);

    /// <summary>Live MEM/OBJ blocks that pymalloc handed to the RAW domain.</summary>
    internal static long RawAllocatedBlocks;

    // ---- fast path: MEM/OBJ entry points (CPython's _PyObject_Malloc ...) -----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Malloc(nuint nbytes)
    {
        if (nbytes - 1 < SmallRequestThreshold)   // 1..512; 0 wraps around
        {
            uint list = ListOf((uint)(nbytes - 1) >> AlignmentShift);
            HeapLock* l = EnterClass(list);
            byte* bp = AllocateBlock(list);
            l->Exit();
            if (bp != null)
                return bp;
        }
        return MallocRaw(nbytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void* Calloc(nuint nelem, nuint elsize)
    {
        nuint nbytes = nelem * elsize;            // the domain wrapper checked for overflow
        if (nbytes - 1 < SmallRequestThreshold)
        {
            uint list = ListOf((uint)(nbytes - 1) >> AlignmentShift);
            HeapLock* l = EnterClass(list);
            byte* bp = AllocateBlock(list);
            l->Exit();
            if (bp != null)
            {
                NativeMemory.Clear(bp, nbytes);
                return bp;
            }
        }
        return CallocRaw(nelem, elsize);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Free(void* p)
    {
        if (p == null)
            return;
        if (ArenaMap.Owns(p))
        {
            // The size class of a pool cannot change while one of its blocks is live.
            PoolHeader* pool = PoolOf(p);
            HeapLock* l = EnterClass(ListOfPool(pool));
            while (HasStrayTrace(pool, p))
            {
                l->Exit();   // the tracer's lock comes before a class lock
                TraceForgetter(p);
                l = EnterClass(ListOfPool(pool));
            }
            FreeBlock(BlockOf(pool, p));
            l->Exit();
            return;
        }
        FreeRaw(p);
    }

    /// <summary>
    /// n blocks of nbytes into output; returns how many (fewer only when memory ran out). The
    /// class lock is taken once per chunk of blocks, not once per block.
    /// </summary>
    public static nuint MallocMany(nuint nbytes, nuint n, void** output)
    {
        nuint done = 0;
        if (nbytes - 1 < SmallRequestThreshold)
        {
            uint list = ListOf((uint)(nbytes - 1) >> AlignmentShift);
            while (done < n)
            {
                // Chunks, so that other threads of this class are not shut out for long.
                nuint end = done + Math.Min(n - done, (nuint)BatchChunk);
                HeapLock* l = EnterClass(list);
                for (; done < end; done++)
                {
                    byte* bp = AllocateBlock(list);
                    if (bp == null)
                        break;
                    output[done] = bp;
                }
                l->Exit();
                if (done < end)
                    break;   // no arena: the rest goes to RAW
            }
        }
        for (; done < n; done++)
        {
            void* p = MallocRaw(nbytes);
            if (p == null)
            {
                for (nuint i = done; i < n; i++)
                    output[i] = null;
                break;
            }
            output[done] = p;
        }
        return done;
    }

    /// <summary>Frees every non-null pointer; consecutive blocks of one class share one lock.</summary>
    public static void FreeMany(void** ptrs, nuint n)
    {
        HeapLock* held = null;
        for (nuint i = 0; i < n; i++)
        {
            void* p = ptrs[i];
            if (p == null)
                continue;
            if (!ArenaMap.Owns(p))
            {
                if (held != null)
                {
                    held->Exit();   // the RAW allocator may be user code
                    held = null;
                }
                FreeRaw(p);
                continue;
            }
            PoolHeader* pool = PoolOf(p);
            uint list = ListOfPool(pool);
            if (ClassLock(list) != held)
            {
                if (held != null)
                    held->Exit();
                held = EnterClass(list);
            }
            while (HasStrayTrace(pool, p))
            {
                held->Exit();   // the tracer's lock comes before a class lock
                TraceForgetter(p);
                held = EnterClass(list);
            }
            FreeBlock(BlockOf(pool, p));
        }
        if (held != null)
            held->Exit();
    }

    private const int BatchChunk = 256;

    /// <summary>
    /// CPython's _PyObject_Realloc. A block pymalloc owns keeps its address when the new size
    /// fits its class and shrinks it by less than 25 %; otherwise it moves (possibly to RAW).
    /// A block pymalloc does not own stays in RAW even when small: its valid length is unknown
    /// (bpo-1185883). On failure NULL is returned and p is untouched. A block of the traced
    /// heap has its header's 16 bytes less; when it moves, it moves to the caller's heap.
    /// </summary>
    public static void* Realloc(void* p, nuint nbytes)
    {
        if (p == null)
            return Malloc(nbytes);
        if (!ArenaMap.Owns(p))
            return RawDomain.Realloc(p, nbytes);

        // The size class cannot change while the caller holds a block of the pool.
        PoolHeader* pool = PoolOf(p);
        nuint size = IndexToSize(pool->SizeIndex) - (pool->Heap == TracedHeap ? (nuint)TraceHeaderSize : 0);
        if (nbytes <= size)
        {
            if (4 * nbytes > 3 * size)
                return p;
            size = nbytes;
        }
        void* bp = Malloc(nbytes);
        if (bp != null)
        {
            Buffer.MemoryCopy(p, bp, size, size);
            Free(p);
        }
        return bp;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PoolHeader* PoolOf(void* p) => (PoolHeader*)((nuint)p & ~PoolSizeMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static HeapLock* ClassLock(uint list) => (HeapLock*)(s_classLines + list * LineSize);

    /// <summary>Takes a class line's lock; a heap biased to another thread is revoked first
    /// (HeapBias.cs), so that its owner's C fast path stays out while the lock is held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static HeapLock* EnterClass(uint list)
    {
        HeapLock* l = ClassLock(list);
        l->Enter();
        if (HeapBias.MustRevoke(list / NumSizeClasses))
            RevokeAndEnter(l, list);
        return l;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RevokeAndEnter(HeapLock* l, uint list)
    {
        l->Exit();   // the owner may be claiming or inside the line: never wait for it holding the lock
        HeapBias.Revoke(list / NumSizeClasses);
        l->Enter();
    }

    /// <summary>Every class lock, then the arena lock: the whole heap (statistics, checks).</summary>
    internal static void LockAll()
    {
        for (uint c = 0; c < ListCount; c++)
            EnterClass(c);
        ArenaLock.Enter();
    }

    internal static void UnlockAll()
    {
        ArenaLock.Exit();
        for (uint c = ListCount; c-- > 0;)
            ClassLock(c)->Exit();
    }

    /// <summary>True iff pymalloc owns p (the radix-tree test).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Owns(void* p) => ArenaMap.Owns(p);

    // ---- fast path: blocks within pools (the class lock held) -------------------------------

    /// <summary>pymalloc_alloc: a block from the used-pool list (its lock held), or null if no
    /// arena could be had.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* AllocateBlock(uint list)
    {
        PoolHeader* head = UsedPools(list);
        PoolHeader* pool = head->NextPool;
        if (pool != head)
        {
            // There is a used pool for this class: pop the head of its free list.
            pool->Count++;
            byte* bp = pool->FreeBlock;
            if ((pool->FreeBlock = *(byte**)bp) == null)
                ExtendPool(pool, SizeIndexOfList(list));
            return bp;
        }
        return AllocateFromNewPool(list);
    }

    /// <summary>The free list ran dry: thread on the next virgin block, or unlink a full pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExtendPool(PoolHeader* pool, uint sizeIndex)
    {
        if (pool->NextOffset <= pool->MaxNextOffset)
        {
            byte* block = (byte*)pool + pool->NextOffset;
            pool->FreeBlock = block;
            pool->NextOffset += IndexToSize(sizeIndex);
            *(byte**)block = null;
            ((TraceHeader*)block)->Traceback = 0;   // the traced heap's invariant (TracedHeap.cs)
            return;
        }
        // The pool is full: unlink it from the used pools.
        PoolHeader* next = pool->NextPool;
        PoolHeader* prev = pool->PrevPool;
        next->PrevPool = prev;
        prev->NextPool = next;
    }

    /// <summary>pymalloc_free: push p on its pool's free list and fix the pool's state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FreeBlock(byte* p)
    {
        PoolHeader* pool = PoolOf(p);
        byte* lastFree = pool->FreeBlock;
        *(byte**)p = lastFree;
        pool->FreeBlock = p;
        pool->Count--;
        if (lastFree == null)
        {
            // The pool was full: link it at the front of its class list, so the very next
            // allocation of the class reuses p.
            InsertToUsedPool(pool);
            return;
        }
        if (pool->Count != 0)
            return;
        // The pool is now empty: give it back to its arena.
        InsertToFreePool(pool);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InsertToUsedPool(PoolHeader* pool)
    {
        PoolHeader* head = UsedPools(ListOfPool(pool));
        PoolHeader* next = head->NextPool;
        pool->NextPool = next;
        pool->PrevPool = head;
        next->PrevPool = pool;
        head->NextPool = pool;
    }

    // ---- slow path: the RAW fallback ------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* MallocRaw(nuint nbytes)
    {
        void* p = RawDomain.Malloc(nbytes);
        if (p != null)
            Interlocked.Increment(ref RawAllocatedBlocks);
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* CallocRaw(nuint nelem, nuint elsize)
    {
        void* p = RawDomain.Calloc(nelem, elsize);
        if (p != null)
            Interlocked.Increment(ref RawAllocatedBlocks);
        return p;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FreeRaw(void* p)
    {
        RawDomain.Free(p);
        Interlocked.Decrement(ref RawAllocatedBlocks);
    }

    // ---- start-up --------------------------------------------------------------------------

    /// <summary>Allocates the list heads and the radix-tree root. False when out of memory.</summary>
    internal static bool Initialize()
    {
        if (s_classLines != null)
            return true;
        var lines = (byte*)Os.Libc.Calloc(ListCount + 1, LineSize);
        var lastOfCount = (ArenaObject**)Os.Libc.Calloc(MaxPoolsInArena + 1, (nuint)sizeof(ArenaObject*));
        if (lines == null || lastOfCount == null || !ArenaMap.Initialize())
        {
            Os.Libc.Free(lines);
            Os.Libc.Free(lastOfCount);
            return false;
        }
        // Aligned to a line (the extra line of the allocation leaves room).
        byte* aligned = (byte*)(((nuint)lines + LineSize - 1) & ~(nuint)(LineSize - 1));
        for (uint i = 0; i < ListCount; i++)
        {
            PoolHeader* head = (PoolHeader*)(aligned + i * LineSize + UsedPoolsOffset);
            head->NextPool = head->PrevPool = head;
        }
        s_lastArenaWithFreePools = lastOfCount;
        s_classLines = aligned;
        return true;
    }
}
