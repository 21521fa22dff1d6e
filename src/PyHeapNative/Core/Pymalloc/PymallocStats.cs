// pymalloc's statistics: a walk over every pool of every arena (CPython's
// _PyObject_DebugMallocStats and _Py_GetAllocatedBlocks), with every pymalloc lock held.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>One size class; the C struct phn_size_class_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SizeClassStatistics
{
    public uint BlockSize;
    public uint BlocksPerPool;
    public ulong Pools;
    public ulong FullPools;
    public ulong BlocksInUse;
    public ulong BlocksAvailable;
}

[InlineArray(NumSizeClasses)]
internal struct SizeClassArray
{
    private SizeClassStatistics _first;
}

/// <summary>The C struct phn_stats (version 1).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PymallocStatistics
{
    internal const uint CurrentVersion = 1;

    public uint StructSize;
    public uint Version;
    public ulong ArenasAllocatedTotal;
    public ulong ArenasReclaimed;
    public ulong ArenasHighwater;
    public ulong ArenasAllocatedCurrent;
    public ulong ArenaSize;
    public ulong PoolSize;
    public ulong UnusedPools;
    public ulong BytesInAllocatedBlocks;
    public ulong BytesInAvailableBlocks;
    public ulong BytesInUnusedPools;
    public ulong BytesLostToPoolHeaders;
    public ulong BytesLostToQuantization;
    public ulong BytesLostToArenaAlignment;
    public ulong AllocatedBlocks;
    public ulong RawAllocatedBlocks;
    public ulong ArenaMapMidNodes;
    public ulong ArenaMapBotNodes;
    public ulong BytesLostToArenaMapRoot;
    public ulong BytesLostToArenaMapMid;
    public ulong BytesLostToArenaMapBot;
    public uint NumSizeClasses;
    public uint Reserved;
    public SizeClassArray SizeClasses;
}

internal static unsafe partial class Pymalloc
{
    /// <summary>Fills s from a walk of every arena.</summary>
    internal static void CollectStatistics(out PymallocStatistics s)
    {
        s = default;
        s.StructSize = (uint)sizeof(PymallocStatistics);
        s.Version = PymallocStatistics.CurrentVersion;
        s.ArenaSize = ArenaSize;
        s.PoolSize = PoolSize;
        s.NumSizeClasses = NumSizeClasses;
        for (uint i = 0; i < NumSizeClasses; i++)
        {
            s.SizeClasses[(int)i].BlockSize = IndexToSize(i);
            s.SizeClasses[(int)i].BlocksPerPool = BlocksPerPool(i);
        }

        ulong blocksInPools = 0;
        LockAll();
        try
        {
            ulong narenas = 0;
            for (uint i = 0; i < s_maxArenas; i++)
            {
                ArenaObject* arena = &s_arenas[i];
                nuint pool = arena->Address;
                if (pool == 0)
                    continue;
                narenas++;
                s.UnusedPools += arena->NFreePools;
                if ((pool & PoolSizeMask) != 0)
                {
                    s.BytesLostToArenaAlignment += PoolSize;
                    pool = (pool & ~PoolSizeMask) + PoolSize;
                }
                for (; pool < (nuint)arena->PoolAddress; pool += PoolSize)
                {
                    var p = (PoolHeader*)pool;
                    if (p->Count == 0)
                        continue;   // empty: counted among the unused pools
                    ref SizeClassStatistics c = ref s.SizeClasses[(int)p->SizeIndex];
                    c.Pools++;
                    c.BlocksInUse += p->Count;
                    c.BlocksAvailable += c.BlocksPerPool - p->Count;
                    if (p->Count == c.BlocksPerPool)
                        c.FullPools++;
                    blocksInPools += p->Count;
                }
            }
            s.ArenasAllocatedTotal = ArenasAllocatedTotal;
            s.ArenasReclaimed = ArenasAllocatedTotal - narenas;
            s.ArenasHighwater = ArenasHighwater;
            s.ArenasAllocatedCurrent = narenas;
            s.ArenaMapMidNodes = (ulong)ArenaMap.MidCount;
            s.ArenaMapBotNodes = (ulong)ArenaMap.BotCount;
        }
        finally
        {
            UnlockAll();
        }

        for (int i = 0; i < NumSizeClasses; i++)
        {
            ref SizeClassStatistics c = ref s.SizeClasses[i];
            s.BytesInAllocatedBlocks += c.BlocksInUse * c.BlockSize;
            s.BytesInAvailableBlocks += c.BlocksAvailable * c.BlockSize;
            s.BytesLostToPoolHeaders += c.Pools * PoolOverhead;
            s.BytesLostToQuantization += c.Pools * ((PoolSize - PoolOverhead) % c.BlockSize);
        }
        s.BytesInUnusedPools = s.UnusedPools * PoolSize;
        long raw = Volatile.Read(ref RawAllocatedBlocks);
        s.RawAllocatedBlocks = raw > 0 ? (ulong)raw : 0;
        s.AllocatedBlocks = blocksInPools + s.RawAllocatedBlocks;
        s.BytesLostToArenaMapRoot = ArenaMap.RootBytes;
        s.BytesLostToArenaMapMid = s.ArenaMapMidNodes * ArenaMap.MidBytes;
        s.BytesLostToArenaMapBot = s.ArenaMapBotNodes * ArenaMap.BotBytes;
    }
}
