// The debug blocks the hooks handed out from memory pymalloc does not own (RAW, blocks over
// 488 bytes, PYHEAPNATIVE_ALLOCATOR=malloc_debug, custom allocators), and the ones freed
// most recently. With them a foreign pointer, a double free or an interior pointer is
// diagnosed without reading memory that may not be mapped (CPython's dumper reads it and
// crashes). pymalloc's blocks need no registry: the radix tree and the pool geometry answer.
//
// An open-addressing hash table keyed by block base (linear probing, backward-shift
// deletion), grown at half load, and a ring of recently freed bases; one lock.
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Debug;

internal static unsafe class LiveBlocks
{
    private struct Slot
    {
        public nuint Base;     // 0: empty
        public nuint Size;     // requested bytes (the size field as written)
    }

    private const int FreedRingLength = 4096;

    private static HeapLock s_lock;
    private static Slot* s_slots;
    private static nuint s_capacity;   // power of two
    private static nuint s_count;
    private static nuint* s_freed;     // FreedRingLength recently freed bases
    private static int s_freedNext;

    private static nuint IndexOf(nuint key, nuint mask) => (nuint)((ulong)key * 0x9E3779B97F4A7C15ul >> 20) & mask;

    /// <summary>Records a live block. False when out of memory (the caller fails the allocation).</summary>
    internal static bool Add(void* blockBase, nuint size)
    {
        s_lock.Enter();
        try
        {
            if ((s_count + 1) * 2 > s_capacity && !Grow())
                return false;
            Insert((nuint)blockBase, size);
            return true;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Makes sure one more block can be added without growing. False when out of memory.</summary>
    internal static bool EnsureRoom()
    {
        s_lock.Enter();
        try
        {
            return (s_count + 2) * 2 <= s_capacity || Grow();
        }
        finally
        {
            s_lock.Exit();
        }
    }

    internal static void Remove(void* blockBase)
    {
        s_lock.Enter();
        try
        {
            if (s_capacity == 0)
                return;
            nuint mask = s_capacity - 1, key = (nuint)blockBase;
            nuint i = IndexOf(key, mask);
            while (s_slots[i].Base != key)
            {
                if (s_slots[i].Base == 0)
                    return;
                i = (i + 1) & mask;
            }
            // Backward-shift deletion keeps every probe chain unbroken.
            nuint hole = i;
            while (true)
            {
                i = (i + 1) & mask;
                if (s_slots[i].Base == 0)
                    break;
                nuint home = IndexOf(s_slots[i].Base, mask);
                if (((i - home) & mask) >= ((i - hole) & mask))
                {
                    s_slots[hole] = s_slots[i];
                    hole = i;
                }
            }
            s_slots[hole] = default;
            s_count--;
            if (s_freed == null)
                s_freed = (nuint*)Libc.Calloc(FreedRingLength, (nuint)sizeof(nuint));
            if (s_freed != null)
            {
                s_freed[s_freedNext] = key;
                s_freedNext = (s_freedNext + 1) % FreedRingLength;
            }
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>The requested size of a live block, or false if blockBase is not one.</summary>
    internal static bool TryGet(void* blockBase, out nuint size)
    {
        s_lock.Enter();
        try
        {
            size = 0;
            if (s_capacity == 0)
                return false;
            nuint mask = s_capacity - 1, key = (nuint)blockBase;
            for (nuint i = IndexOf(key, mask); s_slots[i].Base != 0; i = (i + 1) & mask)
                if (s_slots[i].Base == key)
                {
                    size = s_slots[i].Size;
                    return true;
                }
            return false;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Updates the size of a live block (realloc that kept its address).</summary>
    internal static void SetSize(void* blockBase, nuint size)
    {
        s_lock.Enter();
        try
        {
            nuint mask = s_capacity - 1, key = (nuint)blockBase;
            for (nuint i = IndexOf(key, mask); s_capacity != 0 && s_slots[i].Base != 0; i = (i + 1) & mask)
                if (s_slots[i].Base == key)
                {
                    s_slots[i].Size = size;
                    return;
                }
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>True if blockBase was freed recently (ask only about a base that is not live).</summary>
    internal static bool WasFreedRecently(void* blockBase)
    {
        s_lock.Enter();
        try
        {
            if (s_freed == null)
                return false;
            for (int i = 0; i < FreedRingLength; i++)
                if (s_freed[i] == (nuint)blockBase)
                    return true;
            return false;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>The live block whose extent [base, base + size + overhead) contains p, if any.</summary>
    internal static bool TryFindContaining(void* p, nuint overhead, out void* blockBase, out nuint size)
    {
        s_lock.Enter();
        try
        {
            for (nuint i = 0; i < s_capacity; i++)
            {
                Slot s = s_slots[i];
                if (s.Base != 0 && (nuint)p >= s.Base && (nuint)p < s.Base + s.Size + overhead)
                {
                    blockBase = (void*)s.Base;
                    size = s.Size;
                    return true;
                }
            }
            blockBase = null;
            size = 0;
            return false;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    private static void Insert(nuint key, nuint size)
    {
        nuint mask = s_capacity - 1;
        nuint i = IndexOf(key, mask);
        while (s_slots[i].Base != 0 && s_slots[i].Base != key)
            i = (i + 1) & mask;
        if (s_slots[i].Base == 0)
            s_count++;
        s_slots[i].Base = key;
        s_slots[i].Size = size;
    }

    private static bool Grow()
    {
        nuint capacity = s_capacity == 0 ? 1024 : s_capacity * 2;
        var slots = (Slot*)Libc.Calloc(capacity, (nuint)sizeof(Slot));
        if (slots == null)
            return false;
        Slot* old = s_slots;
        nuint oldCapacity = s_capacity;
        s_slots = slots;
        s_capacity = capacity;
        s_count = 0;
        for (nuint i = 0; i < oldCapacity; i++)
            if (old[i].Base != 0)
                Insert(old[i].Base, old[i].Size);
        Libc.Free(old);
        return true;
    }
}
