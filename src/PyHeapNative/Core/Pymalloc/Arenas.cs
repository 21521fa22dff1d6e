// Arena management: taking pools from arenas, returning empty pools, and keeping the
// usable-arenas list in order (CPython's allocate_from_new_pool, new_arena and
// insert_to_freepool). Callers hold the lock of the size class at hand; the arena state is
// touched with the arena lock held as well. The arena allocator (possibly user code) and the
// PYHEAPNATIVE_MALLOCSTATS dump run with both dropped.
//
// UsableArenas is a doubly linked list of the arenas that have at least one free pool,
// sorted ascending by NFreePools, so that new pools come from the fullest arena and nearly
// empty arenas get the chance to drain:
//
//    UsableArenas -> [2 free] <-> [2 free] <-> [7 free] <-> [64 free] -> null
//                                    ^             ^            ^
//                  LastArenaWithFreePools[2]      [7]          [64]
//
// LastArenaWithFreePools[k] is the right-most arena with k free pools (bpo-37029), which
// makes re-sorting after a free O(1) instead of a walk over the list. Arenas with no free
// pool are on no list. An arena whose pools are all free is returned to the arena allocator,
// except the last one of the list (bpo-37257): keeping one empty arena stops a loop that
// fills and empties an arena from mapping and unmapping it every time.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

internal static unsafe partial class Pymalloc
{
    private static ArenaObject* s_arenas;                    // the arena-object vector
    private static uint s_maxArenas;                         // its length: 16, 32, 64 ...
    private static ArenaObject* s_unusedArenaObjects;        // slots with Address == 0
    private static ArenaObject* s_usableArenas;              // arenas with free pools, sorted
    private static ArenaObject** s_lastArenaWithFreePools;   // CPython's nfp2lasta

    internal static ulong ArenasCurrentlyAllocated;
    internal static ulong ArenasAllocatedTotal;
    internal static ulong ArenasHighwater;

    /// <summary>Set at start-up from PYHEAPNATIVE_MALLOCSTATS: print the statistics to
    /// stderr before each new arena is allocated.</summary>
    internal static bool DumpStatsBeforeNewArena;
    internal static delegate*<void> StatsPrinter;

    /// <summary>
    /// No used pool of this class: put a free pool (or a newly carved one) of the fullest
    /// usable arena at the front of the class list and return its first block. Null when no
    /// arena can be had; the caller then falls back to RAW.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* AllocateFromNewPool(uint list)
    {
        // Entered with the class lock held; returns with it held and the arena lock free.
        byte* reused = TakeTracedHeapBlock(list);   // before a pool is taken (TracedHeap.cs)
        if (reused != null)
            return reused;
        ArenaLock.Enter();
        bool arenaLocked = true;
        try
        {
            // The locks are dropped inside AddNewArena: when they are back, another thread may
            // have started a pool of this class (then use it; the arena stays usable), or
            // taken every pool of the arenas that were usable (then try again).
            while (s_usableArenas == null)
            {
                if (!AddNewArena(list))
                    return null;
                PoolHeader* head = UsedPools(list);
                if (head->NextPool != head)
                {
                    ArenaLock.Exit();
                    arenaLocked = false;
                    return AllocateBlock(list);
                }
            }
            return TakePool(list);
        }
        catch (Exception e)
        {
            // The fault struck before any change; report it without a lock held. Nothing may
            // leave here with the class lock released, not even a failing report.
            if (arenaLocked)
            {
                ArenaLock.Exit();
                arenaLocked = false;
            }
            HeapLock* classLock = ClassLock(list);
            classLock->Exit();
            try { Errors.Report(Status.Internal, "pymalloc: " + e.GetType().Name + ": " + e.Message); }
            catch { }
            finally { EnterClass(list); }
            return null;
        }
        finally
        {
            if (arenaLocked)
                ArenaLock.Exit();
        }
    }

    /// <summary>Drops the class lock and the arena lock (for user code and slow calls).</summary>
    private static void DropLocks(uint list)
    {
        ArenaLock.Exit();
        ClassLock(list)->Exit();
    }

    /// <summary>Takes them back, in the order of the hierarchy: class, then arena.</summary>
    private static void RetakeLocks(uint list)
    {
        EnterClass(list);
        ArenaLock.Enter();
    }

    private static byte* TakePool(uint list)
    {
        uint sizeIndex = SizeIndexOfList(list);
        ArenaObject* arena = s_usableArenas;
        uint nf = arena->NFreePools;

        // The arena has the fewest free pools, so taking one keeps the list sorted; it only
        // leaves the list when it has none left.
        if (s_lastArenaWithFreePools[nf] == arena)
            s_lastArenaWithFreePools[nf] = null;   // it was the last with nf
        if (nf > 1)
            s_lastArenaWithFreePools[nf - 1] = arena;   // and is now the first (and last) with nf - 1

        PoolHeader* pool = arena->FreePools;
        if (pool != null)
        {
            arena->FreePools = pool->NextPool;   // a cached empty pool
        }
        else
        {
            // Carve a new pool off the arena.
            pool = (PoolHeader*)arena->PoolAddress;
            pool->ArenaIndex = (uint)(arena - s_arenas);
            pool->SizeIndex = DummySizeIndex;
            arena->PoolAddress += PoolSize;
        }
        if (--arena->NFreePools == 0)
        {
            // Wholly allocated: unlink it.
            s_usableArenas = arena->NextArena;
            if (s_usableArenas != null)
                s_usableArenas->PrevArena = null;
        }

        // Front-link to the (empty) list of used pools of the class, in the caller's heap.
        PoolHeader* head = UsedPools(list);
        pool->Heap = list / NumSizeClasses;
        pool->NextPool = head;
        pool->PrevPool = head;
        head->NextPool = pool;
        head->PrevPool = pool;
        pool->Count = 1;

        byte* bp;
        if (pool->SizeIndex == sizeIndex)
        {
            // The pool last held blocks of this class: its free list is intact.
            bp = pool->FreeBlock;
            pool->FreeBlock = *(byte**)bp;
        }
        else
        {
            // Fresh pool: hand out the first block, thread only the second on the free list.
            uint size = IndexToSize(sizeIndex);
            pool->SizeIndex = sizeIndex;
            bp = (byte*)pool + PoolOverhead;
            pool->NextOffset = PoolOverhead + (size << 1);
            pool->MaxNextOffset = PoolSize - size;
            pool->FreeBlock = bp + size;
            *(byte**)pool->FreeBlock = null;
        }
        if (pool->Heap == TracedHeap)
            ForgetTraceWords(pool);   // what another heap left in them
        return bp;
    }

    /// <summary>
    /// new_arena: gets 1 MiB from the arena allocator (locks dropped for the call), marks it
    /// in the radix tree and inserts it in UsableArenas. False if no arena could be had
    /// (nothing changed then). True otherwise, but the locks were dropped: the caller checks
    /// again that an arena is usable.
    /// </summary>
    private static bool AddNewArena(uint list)
    {
        FaultInjection.Check(Fault.ThrowInNewArena);

        ArenaAllocatorTable* table = ArenaAllocator.Current;
        void* address;
        DropLocks(list);
        try
        {
            if (DumpStatsBeforeNewArena && StatsPrinter != null)
            {
                try { StatsPrinter(); }
                catch { }   // a failed dump must not fail the allocation
            }
            address = ArenaAllocator.Allocate(table);
        }
        finally
        {
            RetakeLocks(list);
        }
        if (address == null)
            return s_usableArenas != null;

        if (s_usableArenas != null)
        {
            // Another thread added an arena while the locks were dropped. CPython allocates one
            // only when none is usable; keep to that, so no extra empty arena lingers.
            DropLocks(list);
            try { ArenaAllocator.Release(table, address); }
            finally { RetakeLocks(list); }
            return true;
        }

        ArenaObject* arena = TakeArenaObject();
        if (arena == null || !ArenaMap.Mark((nuint)address, used: true))
        {
            if (arena != null)
            {
                arena->NextArena = s_unusedArenaObjects;
                s_unusedArenaObjects = arena;
            }
            DropLocks(list);
            try { ArenaAllocator.Release(table, address); }
            finally { RetakeLocks(list); }
            return false;
        }

        arena->Address = (nuint)address;
        arena->Allocator = table;
        arena->FreePools = null;
        // The first pool-aligned address, and the whole pools that fit after it.
        arena->PoolAddress = (byte*)address;
        arena->NFreePools = MaxPoolsInArena;
        uint excess = (uint)((nuint)address & PoolSizeMask);
        if (excess != 0)
        {
            arena->NFreePools--;
            arena->PoolAddress += PoolSize - excess;
        }
        arena->NTotalPools = arena->NFreePools;

        ArenasCurrentlyAllocated++;
        ArenasAllocatedTotal++;
        if (ArenasCurrentlyAllocated > ArenasHighwater)
            ArenasHighwater = ArenasCurrentlyAllocated;

        InsertUsableArena(arena);
        return true;
    }

    /// <summary>Pops an unused arena object, growing the vector (16, then doubling) when none is left.</summary>
    private static ArenaObject* TakeArenaObject()
    {
        if (s_unusedArenaObjects == null)
        {
            uint count = s_maxArenas != 0 ? s_maxArenas << 1 : InitialArenaObjects;
            if (count <= s_maxArenas)
                return null;   // overflow
            ArenaObject* old = s_arenas;
            var arenas = (ArenaObject*)Libc.Realloc(old, (nuint)count * (nuint)sizeof(ArenaObject));
            if (arenas == null)
                return null;
            if (old != null && arenas != old)
                RebaseArenaPointers(old, arenas);
            for (uint i = s_maxArenas; i < count; i++)
            {
                arenas[i] = default;
                arenas[i].NextArena = i < count - 1 ? &arenas[i + 1] : null;
            }
            s_arenas = arenas;
            s_unusedArenaObjects = &arenas[s_maxArenas];
            s_maxArenas = count;
        }
        ArenaObject* arena = s_unusedArenaObjects;
        s_unusedArenaObjects = arena->NextArena;
        return arena;
    }

    /// <summary>
    /// The vector moved. It grows only when no arena is usable (as in CPython), so the
    /// pointers into it are stale links of full arenas; they are moved along all the same, so
    /// that no pointer into the old vector survives.
    /// </summary>
    private static void RebaseArenaPointers(ArenaObject* oldBase, ArenaObject* newBase)
    {
        ArenaObject* Move(ArenaObject* p) =>
            p >= oldBase && p < oldBase + s_maxArenas ? newBase + (p - oldBase) : p;

        for (uint i = 0; i < s_maxArenas; i++)
        {
            newBase[i].NextArena = Move(newBase[i].NextArena);
            newBase[i].PrevArena = Move(newBase[i].PrevArena);
        }
        s_usableArenas = Move(s_usableArenas);
        s_unusedArenaObjects = Move(s_unusedArenaObjects);
        for (int k = 0; k <= MaxPoolsInArena; k++)
            s_lastArenaWithFreePools[k] = Move(s_lastArenaWithFreePools[k]);
    }

    /// <summary>Inserts an arena that is on no list at its sorted place in UsableArenas.</summary>
    private static void InsertUsableArena(ArenaObject* arena)
    {
        uint nf = arena->NFreePools;
        // The right-most arena with at most nf free pools; everything after it has more.
        ArenaObject* after = null;
        for (uint k = nf; k >= 1 && after == null; k--)
            after = s_lastArenaWithFreePools[k];

        if (after == null)
        {
            arena->PrevArena = null;
            arena->NextArena = s_usableArenas;
            if (s_usableArenas != null)
                s_usableArenas->PrevArena = arena;
            s_usableArenas = arena;
        }
        else
        {
            arena->PrevArena = after;
            arena->NextArena = after->NextArena;
            if (arena->NextArena != null)
                arena->NextArena->PrevArena = arena;
            after->NextArena = arena;
        }
        s_lastArenaWithFreePools[nf] = arena;
    }

    /// <summary>
    /// insert_to_freepool: the pool has just become empty. Unlink it from its class list,
    /// push it on its arena's free pools, and restore the order of UsableArenas.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void InsertToFreePool(PoolHeader* pool)
    {
        // Entered with the pool's class lock held; returns with it held.
        uint list = ListOfPool(pool);
        PoolHeader* next = pool->NextPool;
        PoolHeader* prev = pool->PrevPool;
        next->PrevPool = prev;
        prev->NextPool = next;

        ArenaLock.Enter();
        try
        {
            ReturnPoolToArena(pool, list);
        }
        finally
        {
            ArenaLock.Exit();
        }
    }

    /// <summary>The arena half of insert_to_freepool; the class and arena locks are held.</summary>
    private static void ReturnPoolToArena(PoolHeader* pool, uint list)
    {
        ArenaObject* arena = &s_arenas[pool->ArenaIndex];
        pool->NextPool = arena->FreePools;
        arena->FreePools = pool;

        uint nf = arena->NFreePools;
        // If this was the right-most arena with nf free pools, that place moves left.
        ArenaObject* lastNf = s_lastArenaWithFreePools[nf];
        if (lastNf == arena)
        {
            ArenaObject* p = arena->PrevArena;
            s_lastArenaWithFreePools[nf] = p != null && p->NFreePools == nf ? p : null;
        }
        arena->NFreePools = ++nf;

        // Case 1: every pool is free. Return the arena, unless it is the last one of the list.
        if (nf == arena->NTotalPools && arena->NextArena != null)
        {
            if (arena->PrevArena == null)
                s_usableArenas = arena->NextArena;
            else
                arena->PrevArena->NextArena = arena->NextArena;
            arena->NextArena->PrevArena = arena->PrevArena;

            ArenaMap.Mark(arena->Address, used: false);
            void* address = (void*)arena->Address;
            ArenaAllocatorTable* table = arena->Allocator;
            arena->Address = 0;
            arena->NextArena = s_unusedArenaObjects;
            s_unusedArenaObjects = arena;
            ArenasCurrentlyAllocated--;

            DropLocks(list);
            try { ArenaAllocator.Release(table, address); }
            finally { RetakeLocks(list); }
            return;
        }

        // Case 2: its first free pool. It was on no list; it goes to the head.
        if (nf == 1)
        {
            arena->NextArena = s_usableArenas;
            arena->PrevArena = null;
            if (s_usableArenas != null)
                s_usableArenas->PrevArena = arena;
            s_usableArenas = arena;
            if (s_lastArenaWithFreePools[1] == null)
                s_lastArenaWithFreePools[1] = arena;
            return;
        }

        if (s_lastArenaWithFreePools[nf] == null)
            s_lastArenaWithFreePools[nf] = arena;

        // Case 4: it was the right-most with its old count, so it is still in order.
        if (arena == lastNf)
            return;

        // Case 3: slide it right, to just after the last arena with its old count.
        if (arena->PrevArena != null)
            arena->PrevArena->NextArena = arena->NextArena;
        else
            s_usableArenas = arena->NextArena;
        arena->NextArena->PrevArena = arena->PrevArena;

        arena->PrevArena = lastNf;
        arena->NextArena = lastNf->NextArena;
        if (arena->NextArena != null)
            arena->NextArena->PrevArena = arena;
        lastNf->NextArena = arena;
    }
}
