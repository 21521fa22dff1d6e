// The traced heap: where tracemalloc keeps the blocks it traces over pymalloc itself, each
// with its trace in a header just before the caller's data.
//
//     pool of the traced heap (PoolHeader.Heap == TracedHeap), class of n + 16 bytes
//     +--------+---------------------+------------------+---------------------+-- ...
//     | header |  size  | traceback  |  caller's data   |  size  | traceback  |
//     +--------+---------------------+------------------+---------------------+-- ...
//              ^ block                ^ what malloc returned (block + 16)
//
// A trace in a table keyed by address costs two random accesses of a table as large as the
// heap's block count (insert at malloc, remove at free): when the blocks do not fit in the
// cache, both miss, and tracing costs three times the work it watches. In the header, the
// trace is on the line of the block that malloc and free touch anyway.
//
// Which blocks have headers is told by their pool: a pool belongs to one heap, and every
// block of this heap has one. Its pools are taken for traced requests of 1..496 bytes
// (496 + 16 fills the largest class), by tracemalloc's wrapper while it traces
// (Tracer.Malloc; Native/phn_fast_trace.h); their free blocks may serve untraced requests
// too (below), as blocks with an empty header. Every other path that gets such a block back translates: pymalloc's free and realloc take
// the caller's pointer and find the block 16 bytes below it. No thread is given this heap,
// so it is never biased: its class lines are always entered with their locks.
//
// The invariant: the traceback word of a block of the traced heap is not 0 exactly when the
// block holds a trace; so a free block's is 0 (its first word, the size, is pymalloc's
// free-list link once it is free). The tracer's lock guards the header words. The tracer
// clears the word (current -= size) before it frees a block, and clears every word when
// tracing stops or its traces are cleared (ForEachTracedBlock). A free that does not go
// through the tracer's removal (a call the tracer passes through untraced: from a frame
// provider, below the debug hooks; pymalloc's own functions called directly) finds the word
// set and has the tracer forget the trace first (TraceForgetter, before the class lock), as
// the tracer would have; the C free paths leave such a block to the managed path. They look
// under the block's class lock, which a track of the block (the only other writer of a word
// of a block it does not own) also holds, and look again after the forgetting. A block
// joins the heap with the word 0: a virgin block when it is threaded (both the C and managed
// pool extensions clear the word of every virgin block, whatever its heap: one store), the
// blocks of a pool that joins the heap here.
//
// The traced heap and the others share their free blocks before either takes a new pool
// (CPython's tracemalloc never moves a block, so tracing must not strand memory): an
// untraced request whose heap has no used pool of its class takes a free block of the traced
// heap's next class up, and returns it as the data 16 bytes in (TakeTracedHeapBlock; the block
// is untraced, its word 0); a traced request whose class has no used pool in the traced heap
// while the thread's heap has one is served there, its trace in the table (MallocTraced).
// Without that, a tracing window would leave pools that only traced requests could reuse.
//
// Lock order: the tracer's lock, then a class lock of the traced heap, then the arena lock.
// A class lock of another heap comes before one of the traced heap (TakeTracedHeapBlock).
// Nothing here is called with the tracer's lock held that could call user code (a pool that
// needs an arena is taken by MallocTraced, before the tracer takes its lock).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Runtime;
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>trace_header of Native/phn_fast.h: the 16 bytes before a traced-heap block's data.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TraceHeader
{
    public nuint Size;        // the requested size
    public nuint Traceback;   // the interned traceback (Tracer's InternTable block); 0: no trace
}

/// <summary>What ForEachTracedBlock calls for each block with a trace.</summary>
internal unsafe interface ITracedBlockVisitor
{
    void Visit(TraceHeader* header, void* data);
}

internal static unsafe partial class Pymalloc
{
    internal const uint TracedHeap = HeapCount;
    internal const int TraceHeaderSize = 16;
    /// <summary>The largest request the traced heap serves.</summary>
    internal const nuint TracedMaxRequest = SmallRequestThreshold - TraceHeaderSize;

    /// <summary>Set by the tracer: forgets the trace in the header of p, a block of the
    /// traced heap about to be freed (Tracer.ForgetHeaderTraceOf). Called without a pymalloc
    /// lock.</summary>
    internal static delegate*<void*, void> TraceForgetter;

    /// <summary>Whether p, a block of pool about to be freed, still has a trace in its header
    /// (the tracer did not remove it: see above). Its class lock is held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HasStrayTrace(PoolHeader* pool, void* p) =>
        pool->Heap == TracedHeap && Volatile.Read(ref ((TraceHeader*)p - 1)->Traceback) != 0 && TraceForgetter != null;

    /// <summary>A block of 1..TracedMaxRequest bytes from the traced heap, its header's
    /// traceback 0; null when the size does not fit or no arena could be had (then the
    /// caller uses the ordinary path).</summary>
    internal static void* MallocTraced(nuint nbytes)
    {
        if (nbytes - 1 >= TracedMaxRequest)
            return null;
        uint sizeIndex = (uint)((nbytes + TraceHeaderSize - 1) >> AlignmentShift);
        uint list = TracedHeap * NumSizeClasses + sizeIndex;
        HeapLock* l = EnterClass(list);
        PoolHeader* head = UsedPools(list);
        byte* bp = null;
        // A new pool only when the thread's heap has no free block of the request's class
        // either (a glance without its lock: a hint).
        PoolHeader* own = UsedPools(ListOf(sizeIndex - 1));
        if (head->NextPool != head || own->NextPool == own)
            bp = AllocateBlock(list);
        l->Exit();
        return bp == null ? null : bp + TraceHeaderSize;
    }

    /// <summary>For an untraced request of a class of list (a heap not the traced one) whose
    /// used pools ran out: a free block of the traced heap's class one up, as the data 16
    /// bytes in, or null (no used pool there). list's class lock is held.</summary>
    private static byte* TakeTracedHeapBlock(uint list)
    {
        uint sizeIndex = SizeIndexOfList(list) + 1;
        if (list / NumSizeClasses == TracedHeap || sizeIndex >= NumSizeClasses)
            return null;
        uint tracedList = TracedHeap * NumSizeClasses + sizeIndex;
        PoolHeader* head = UsedPools(tracedList);
        if (head->NextPool == head)
            return null;   // (a glance without its lock, to keep the common case cheap)
        HeapLock* l = EnterClass(tracedList);
        byte* bp = head->NextPool != head ? AllocateBlock(tracedList) : null;   // a used pool: no new pool
        l->Exit();
        return bp == null ? null : bp + TraceHeaderSize;
    }

    /// <summary>Where a block pymalloc handed out starts: its pointer, or 16 bytes below it in
    /// the traced heap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* BlockOf(PoolHeader* pool, void* p) =>
        pool->Heap == TracedHeap ? (byte*)p - TraceHeaderSize : (byte*)p;

    /// <summary>The header of p, a block the caller holds (not one named by a user), or null
    /// when p is not in the traced heap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TraceHeader* TraceHeaderOf(void* p) =>
        ArenaMap.Owns(p) && PoolOf(p)->Heap == TracedHeap ? (TraceHeader*)((byte*)p - TraceHeaderSize) : null;

    /// <summary>For an address a user names (track, untrack, a traceback's lookup): when p is
    /// the data of a block of the traced heap that is handed out, its header, with the
    /// pool's class lock held (returned: the caller exits it once done with the header);
    /// else null and no lock. The tracer's lock is held.</summary>
    internal static HeapLock* EnterLiveTracedBlock(void* p, out TraceHeader* header)
    {
        header = null;
        PoolHeader* pool = PoolOf(p);
        // Under the arena lock an arena in the map stays mapped (it leaves the map first), and
        // a pool's heap and class change only with it held: a first look at the pool.
        ArenaLock.Enter();
        bool ours = ArenaMap.Owns(p) && ArenaMap.Owns(pool) && IsCarvedPool(pool) && pool->Heap == TracedHeap
            && pool->SizeIndex < NumSizeClasses;   // (the header of a misaligned arena's head is not ours)
        uint sizeIndex = ours ? pool->SizeIndex : 0;
        ArenaLock.Exit();
        if (!ours)
            return null;
        // The class lock pins a pool of the class that has a live block; an empty pool may be
        // taken by any heap meanwhile, under the arena lock: look again under both.
        HeapLock* l = EnterClass(TracedHeap * NumSizeClasses + sizeIndex);
        ArenaLock.Enter();
        bool live = ArenaMap.Owns(pool) && IsCarvedPool(pool) && pool->Heap == TracedHeap && pool->SizeIndex == sizeIndex
            && pool->Count != 0;
        ArenaLock.Exit();
        byte* block = (byte*)p - TraceHeaderSize;
        nuint offset = (nuint)(block - (byte*)pool);
        uint size = IndexToSize(sizeIndex);
        live = live && offset >= PoolOverhead && offset < pool->NextOffset && (offset - PoolOverhead) % size == 0;
        uint free = 0, capacity = BlocksPerPool(sizeIndex);
        for (byte* b = pool->FreeBlock; live && b != null && free++ <= capacity; b = *(byte**)b)
            live = b != block;
        if (!live || free > capacity)   // free, or a free list that a double free made a cycle
        {
            l->Exit();
            return null;
        }
        header = (TraceHeader*)block;
        return l;
    }

    /// <summary>Whether pool is a pool carved from an arena in use (not a header of garbage a
    /// user's arena allocator left). The arena lock is held.</summary>
    private static bool IsCarvedPool(PoolHeader* pool)
    {
        uint index = pool->ArenaIndex;
        if (index >= s_maxArenas || s_arenas[index].Address == 0)
            return false;
        ArenaObject* arena = &s_arenas[index];
        nuint first = (arena->Address + PoolSizeMask) & ~PoolSizeMask;
        return (nuint)pool >= first && (nuint)pool < (nuint)arena->PoolAddress;
    }

    /// <summary>A pool joins the traced heap: the traceback words of its threaded blocks
    /// (none of them handed out) become 0. The class lock is held.</summary>
    private static void ForgetTraceWords(PoolHeader* pool)
    {
        uint size = IndexToSize(pool->SizeIndex);
        for (uint offset = PoolOverhead; offset < pool->NextOffset; offset += size)
            ((TraceHeader*)((byte*)pool + offset))->Traceback = 0;
    }

    /// <summary>Calls visitor.Visit for every block of the traced heap whose traceback word
    /// is not 0, free blocks included (see above), with the traced heap's class locks and
    /// the arena lock held; it may change the header. The tracer's lock is held.</summary>
    internal static void ForEachTracedBlock<TVisitor>(ref TVisitor visitor) where TVisitor : struct, ITracedBlockVisitor
    {
        uint first = TracedHeap * NumSizeClasses;
        for (uint c = 0; c < NumSizeClasses; c++)
            EnterClass(first + c);
        ArenaLock.Enter();
        try
        {
            for (uint i = 0; i < s_maxArenas; i++)
            {
                ArenaObject* arena = &s_arenas[i];
                if (arena->Address == 0)
                    continue;
                nuint pool = (arena->Address + PoolSizeMask) & ~PoolSizeMask;
                for (; pool < (nuint)arena->PoolAddress; pool += PoolSize)
                {
                    var p = (PoolHeader*)pool;
                    if (p->Heap != TracedHeap || p->SizeIndex >= NumSizeClasses)
                        continue;
                    uint size = IndexToSize(p->SizeIndex);
                    for (uint offset = PoolOverhead; offset < p->NextOffset; offset += size)
                    {
                        var header = (TraceHeader*)(pool + offset);
                        if (header->Traceback != 0)
                            visitor.Visit(header, header + 1);
                    }
                }
            }
        }
        finally
        {
            ArenaLock.Exit();
            for (uint c = NumSizeClasses; c-- > 0;)
                ClassLock(first + c)->Exit();
        }
    }
}
