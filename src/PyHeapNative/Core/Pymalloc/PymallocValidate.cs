// The invariant checker: walks every pymalloc structure and returns the first invariant that
// does not hold, or null. Stress tests call it after every step (phn_validate).
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

internal static unsafe partial class Pymalloc
{
    internal static string? Validate()
    {
        LockAll();
        try
        {
            return ValidateArenas() ?? ValidateUsableArenas() ?? ValidateUsedPools() ?? ValidateHeapBias();
        }
        finally
        {
            UnlockAll();
        }
    }

    /// <summary>With every class lock held (LockAll revoked the heaps biased to other
    /// threads and waited for their owners), no heap may be biased to another thread; a
    /// revoked heap had an owner. (The caller's own heap may be being revoked by another
    /// thread meanwhile, and an owner's busy flag may blink on a revoked heap: it raises it
    /// before it reads the state.)</summary>
    private static string? ValidateHeapBias()
    {
        ulong self = (ulong)Os.Libc.CurrentThread();
        for (uint heap = 0; heap < HeapCount; heap++)
        {
            HeapBiasState b = HeapBias.StateOf(heap);
            if (b.State == HeapBiasState.Revoked && b.Owner == 0)
                return $"heap {heap}: revoked without an owner";
            if (b.State == HeapBiasState.Biased && b.Owner != 0 && b.Owner != self)
                return $"heap {heap}: biased to another thread while every class lock is held";
        }
        return null;
    }

    private static string? ValidateArenas()
    {
        ulong allocated = 0, unused = 0;
        for (ArenaObject* a = s_unusedArenaObjects; a != null; a = a->NextArena)
        {
            if (a < s_arenas || a >= s_arenas + s_maxArenas)
                return "unused arena object outside the vector";
            if (a->Address != 0)
                return $"arena object {a - s_arenas} is on the unused list but has an address";
            if (++unused > s_maxArenas)
                return "cycle in the unused arena objects";
        }
        for (uint i = 0; i < s_maxArenas; i++)
        {
            ArenaObject* arena = &s_arenas[i];
            if (arena->Address == 0)
                continue;
            allocated++;
            if (arena->Address == 0 || !ArenaMap.Owns((void*)arena->Address) || !ArenaMap.Owns((void*)(arena->Address + ArenaSize - 1)))
                return $"arena {i} is not marked in the arena map";
            nuint first = arena->Address;
            uint expectedTotal = MaxPoolsInArena;
            if ((first & PoolSizeMask) != 0)
            {
                first = (first & ~PoolSizeMask) + PoolSize;
                expectedTotal--;
            }
            if (arena->NTotalPools != expectedTotal)
                return $"arena {i}: {arena->NTotalPools} total pools, expected {expectedTotal}";
            nuint carvedEnd = (nuint)arena->PoolAddress;
            if (carvedEnd < first || carvedEnd > first + expectedTotal * (nuint)PoolSize || (carvedEnd - first) % PoolSize != 0)
                return $"arena {i}: pool_address out of range";
            uint uncarved = (uint)((first + expectedTotal * (nuint)PoolSize - carvedEnd) / PoolSize);
            uint freeListed = 0;
            for (PoolHeader* p = arena->FreePools; p != null; p = p->NextPool)
            {
                if ((nuint)p < first || (nuint)p >= carvedEnd || p->Count != 0)
                    return $"arena {i}: bad pool on the free-pool list";
                if (++freeListed > expectedTotal)
                    return $"arena {i}: cycle in the free-pool list";
            }
            if (arena->NFreePools != freeListed + uncarved)
                return $"arena {i}: nfreepools {arena->NFreePools} != {freeListed} free + {uncarved} uncarved";
            uint emptyPools = 0;
            for (nuint pool = first; pool < carvedEnd; pool += PoolSize)
            {
                var p = (PoolHeader*)pool;
                if (p->ArenaIndex != i)
                    return $"pool {pool:x}: arena index {p->ArenaIndex}, expected {i}";
                if (p->Count == 0)
                {
                    emptyPools++;
                    continue;
                }
                string? bad = ValidatePool(p);
                if (bad != null)
                    return bad;
            }
            if (emptyPools != freeListed)
                return $"arena {i}: {emptyPools} empty pools but {freeListed} on the free-pool list";
        }
        if (allocated != ArenasCurrentlyAllocated)
            return $"{allocated} arenas allocated, counter says {ArenasCurrentlyAllocated}";
        if (allocated + unused != s_maxArenas)
            return $"{allocated} allocated + {unused} unused arena objects != {s_maxArenas}";
        return null;
    }

    private static string? ValidatePool(PoolHeader* p)
    {
        if (p->SizeIndex >= NumSizeClasses)
            return $"pool {(nuint)p:x}: size index {p->SizeIndex}";
        uint size = IndexToSize(p->SizeIndex), capacity = BlocksPerPool(p->SizeIndex);
        if (p->Count > capacity)
            return $"pool {(nuint)p:x}: count {p->Count} > capacity {capacity}";
        if (p->MaxNextOffset != PoolSize - size || p->NextOffset < PoolOverhead + size || p->NextOffset > PoolSize)
            return $"pool {(nuint)p:x}: bad offsets {p->NextOffset}/{p->MaxNextOffset}";
        uint virgin = p->NextOffset > p->MaxNextOffset ? 0 : (p->MaxNextOffset - p->NextOffset) / size + 1;
        uint free = 0;
        for (byte* b = p->FreeBlock; b != null; b = *(byte**)b)
        {
            nuint offset = (nuint)(b - (byte*)p);
            if (offset < PoolOverhead || offset >= p->NextOffset || (offset - PoolOverhead) % size != 0)
                return $"pool {(nuint)p:x}: free block at bad offset {offset}";
            if (++free > capacity)
                return $"pool {(nuint)p:x}: cycle in the free-block list";
        }
        if (p->Count + free + virgin != capacity)
            return $"pool {(nuint)p:x}: {p->Count} used + {free} free + {virgin} virgin != {capacity}";
        bool full = p->Count == capacity;
        if (p->Heap >= AllHeaps)
            return $"pool {(nuint)p:x}: heap {p->Heap} out of range";
        if (p->Heap == TracedHeap)
            for (byte* b = p->FreeBlock; b != null; b = *(byte**)b)
                if (((TraceHeader*)b)->Traceback != 0)
                    return $"pool {(nuint)p:x}: free block {(nuint)b:x} of the traced heap keeps a trace";
        bool listed = PoolIsInList(p, UsedPools(ListOfPool(p)));
        if (full == listed)
            return $"pool {(nuint)p:x}: {(full ? "full pool on" : "used pool missing from")} the used list of class {p->SizeIndex}";
        return null;
    }

    private static bool PoolIsInList(PoolHeader* pool, PoolHeader* head)
    {
        for (PoolHeader* p = head->NextPool; p != head; p = p->NextPool)
            if (p == pool)
                return true;
        return false;
    }

    private static string? ValidateUsableArenas()
    {
        ArenaObject* prev = null;
        var lastWith = stackalloc ArenaObject*[MaxPoolsInArena + 1];
        for (int k = 0; k <= MaxPoolsInArena; k++)
            lastWith[k] = null;
        ulong n = 0;
        for (ArenaObject* a = s_usableArenas; a != null; prev = a, a = a->NextArena)
        {
            if (++n > s_maxArenas)
                return "cycle in the usable arenas";
            if (a->Address == 0 || a->NFreePools == 0)
                return $"usable arena {a - s_arenas} has no address or no free pool";
            if (a->PrevArena != prev)
                return $"usable arena {a - s_arenas}: bad back link";
            if (prev != null && prev->NFreePools > a->NFreePools)
                return $"usable arenas out of order: {prev->NFreePools} before {a->NFreePools}";
            lastWith[a->NFreePools] = a;
        }
        for (int k = 0; k <= MaxPoolsInArena; k++)
            if (s_lastArenaWithFreePools[k] != lastWith[k])
                return $"nfp2lasta[{k}] is not the last usable arena with {k} free pools";
        for (uint i = 0; i < s_maxArenas; i++)
        {
            ArenaObject* a = &s_arenas[i];
            if (a->Address != 0 && a->NFreePools > 0)
            {
                bool found = false;
                for (ArenaObject* u = s_usableArenas; u != null && !found; u = u->NextArena)
                    found = u == a;
                if (!found)
                    return $"arena {i} has free pools but is not usable";
            }
        }
        return null;
    }

    private static string? ValidateUsedPools()
    {
        for (uint list = 0; list < ListCount; list++)
        {
            uint c = SizeIndexOfList(list), heap = list / NumSizeClasses;
            PoolHeader* head = UsedPools(list);
            PoolHeader* prev = head;
            uint n = 0;
            for (PoolHeader* p = head->NextPool; p != head; prev = p, p = p->NextPool)
            {
                if (p->PrevPool != prev)
                    return $"class {c} (heap {heap}): bad back link in the used pools";
                if (p->SizeIndex != c || p->Heap != heap || p->Count == 0 || p->Count >= BlocksPerPool(c))
                    return $"class {c} (heap {heap}): pool {(nuint)p:x} of heap {p->Heap} with count {p->Count} on the used list";
                if (!ArenaMap.Owns(p) || ++n > 1u << 24)
                    return $"class {c} (heap {heap}): foreign pool or cycle in the used pools";
            }
            if (head->PrevPool != prev)
                return $"class {c} (heap {heap}): bad tail link in the used pools";
        }
        return null;
    }
}
