// The radix tree that answers "does pymalloc own this address?" (CPython 3.11+,
// bpo-37448 / bpo-45526), for every free and realloc of MEM and OBJ.
//
// The key is the address's "ideal arena" number p >> ARENA_BITS, split over three levels
// using all 64 address bits:
//
//     63          49 48          34 33          20 19                0
//    +--------------+--------------+--------------+------------------+
//    |  root index  |  mid index   |  bot index   |  offset in arena |
//    |  15 bits     |  15 bits     |  14 bits     |  20 bits         |
//    +--------------+--------------+--------------+------------------+
//
// Root, mid and bottom nodes hold 32768, 32768 and 16384 entries (256 KiB, 256 KiB and
// 128 KiB); they come zeroed from the page allocator, so only touched pages are resident,
// and interior nodes are never freed. A leaf holds two int32 "tails": an arena based at B
// with t = B & (ARENA_SIZE-1) sets leaf(B).tail_hi = t (or -1 when t == 0) and, if t != 0,
// leaf(B + ARENA_SIZE).tail_lo = t, since an unaligned arena covers two ideal arenas.
// p is owned iff (p & (ARENA_SIZE-1)) < tail_lo or (tail_hi != 0 and it is >= tail_hi).
// Exact: no false positives, and the query reads no memory pymalloc does not own.
//
// Writes happen under the arena lock. Queries take no lock: a block being freed keeps its
// arena's marks in place, and writes for a neighbouring arena cannot change the answer for
// an address outside it.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Pymalloc;

internal static unsafe class ArenaMap
{
    private const int RootBits = 15, MidBits = 15, BotBits = 64 - Tunables.ArenaBits - RootBits - MidBits; // 14
    private const int RootLength = 1 << RootBits, MidLength = 1 << MidBits, BotLength = 1 << BotBits;
    private const int BotShift = Tunables.ArenaBits, MidShift = BotShift + BotBits, RootShift = MidShift + MidBits;

    internal const int RootBytes = RootLength * 8;   // 262,144
    internal const int MidBytes = MidLength * 8;     // 262,144
    internal const int BotBytes = BotLength * 8;     // 131,072

    [StructLayout(LayoutKind.Sequential)]
    private struct Leaf
    {
        public int TailHi;
        public int TailLo;
    }

    private static void*** s_root;      // RootLength pointers to mid nodes (each MidLength pointers to bottoms)
    /// <summary>The root of the tree, for the C fast path (Native/phn_entry.c).</summary>
    internal static void*** Root => s_root;

    internal static int MidCount;
    internal static int BotCount;

    internal static bool Initialize()
    {
        if (s_root != null)
            return true;
        s_root = (void***)Libc.MapPages(RootBytes);
        return s_root != null;
    }

    // ---- fast path -------------------------------------------------------------------

    /// <summary>True iff p lies in an arena pymalloc currently holds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Owns(void* p)
    {
        nuint a = (nuint)p;
        void** mid = s_root[a >> RootShift];
        if (mid == null)
            return false;
        Leaf* bot = (Leaf*)mid[(a >> MidShift) & (MidLength - 1)];
        if (bot == null)
            return false;
        Leaf* leaf = bot + ((a >> BotShift) & (BotLength - 1));
        int tail = (int)(a & Tunables.ArenaSizeMask);
        int hi = leaf->TailHi, lo = leaf->TailLo;
        return tail < lo || (hi != 0 && tail >= hi);
    }

    // ---- slow path (arena lock held) ---------------------------------------------------

    /// <summary>Marks (or unmarks) the arena at base. False if a node could not be allocated.</summary>
    internal static bool Mark(nuint arenaBase, bool used)
    {
        Leaf* leafLo = FindLeaf(arenaBase, create: used);
        if (leafLo == null)
            return false;
        int tail = (int)(arenaBase & Tunables.ArenaSizeMask);
        if (tail == 0)
        {
            // An aligned arena covers exactly one ideal arena.
            leafLo->TailHi = used ? -1 : 0;
            return true;
        }
        // The arena straddles two ideal arenas: its lower part ends the first, its upper
        // part starts the second.
        Leaf* leafHi = FindLeaf(arenaBase + Tunables.ArenaSize, create: used);
        if (leafHi == null)
        {
            leafLo->TailHi = 0;
            return false;
        }
        leafLo->TailHi = used ? tail : 0;
        leafHi->TailLo = used ? tail : 0;
        return true;
    }

    private static Leaf* FindLeaf(nuint a, bool create)
    {
        ref void** mid = ref s_root[a >> RootShift];
        if (mid == null)
        {
            if (!create)
                return null;
            mid = (void**)Libc.MapPages(MidBytes);
            if (mid == null)
                return null;
            MidCount++;
        }
        ref void* bot = ref mid[(a >> MidShift) & (MidLength - 1)];
        if (bot == null)
        {
            if (!create)
                return null;
            bot = Libc.MapPages(BotBytes);
            if (bot == null)
                return null;
            BotCount++;
        }
        return (Leaf*)bot + ((a >> BotShift) & (BotLength - 1));
    }
}
