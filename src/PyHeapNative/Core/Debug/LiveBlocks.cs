// The debug blocks the hooks handed out from memory pymalloc does not own (RAW, blocks over
// 488 bytes, PYHEAPNATIVE_ALLOCATOR=malloc_debug, custom allocators), and the ones freed
// most recently. With them a foreign pointer, a double free or an interior pointer is
// diagnosed without reading memory that may not be mapped (CPython's dumper reads it and
// crashes). pymalloc's blocks need no registry: the radix tree and the pool geometry answer.
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Debug;

internal static unsafe partial class LiveBlocks
{
    private const int FreedRingLength = 4096;

    private static HeapLock s_lock;
    private static AddressTable s_blocks;   // base -> requested size
    private static nuint* s_freed;          // FreedRingLength recently freed bases
    private static int s_freedNext;

    /// <summary>Records a live block. False when out of memory (the caller fails the allocation).</summary>
    internal static bool Add(void* blockBase, nuint size)
    {
        s_lock.Enter();
        try
        {
            return s_blocks.Set(0, (nuint)blockBase, size, 0, out _, out _);
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
            return s_blocks.Reserve(2);
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
            if (!s_blocks.Remove(0, (nuint)blockBase, out _))
                return;
            if (s_freed == null)
                s_freed = (nuint*)Libc.Calloc(FreedRingLength, (nuint)sizeof(nuint));
            if (s_freed != null)
            {
                s_freed[s_freedNext] = (nuint)blockBase;
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
            AddressTable.Entry* e = s_blocks.Find(0, (nuint)blockBase);
            size = e != null ? e->Value : 0;
            return e != null;
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

    /// <summary>The live block whose extent [base, base + size + overhead) contains p, if any;
    /// of nested blocks (a MEM block inside a RAW one), the innermost.</summary>
    internal static bool TryFindContaining(void* p, nuint overhead, out void* blockBase, out nuint size)
    {
        s_lock.Enter();
        try
        {
            AddressTable.Entry* slots = s_blocks.Slots;
            blockBase = null;
            size = 0;
            for (nuint i = 0; i < s_blocks.Capacity; i++)
            {
                AddressTable.Entry s = slots[i];
                if (s.Address != 0 && (nuint)p >= s.Address && (nuint)p < s.Address + s.Value + overhead &&
                    s.Address > (nuint)blockBase)
                {
                    blockBase = (void*)s.Address;
                    size = s.Value;
                }
            }
            return blockBase != null;
        }
        finally
        {
            s_lock.Exit();
        }
    }
}
