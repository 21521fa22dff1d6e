// Diagnosing a block handed to the debug free/realloc, and CPython's dump of it
// (_PyObject_DebugDumpAddress). The diagnosis decides first how much of the memory around
// p may be read at all, so the dump never touches unmapped memory: a pymalloc block is read
// within its pool's block, a registered block within its registered extent, anything else
// not at all.
using System.Runtime.CompilerServices;
using System.Text;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Runtime;
using PyHeapNative.Core.Tracing;
using static PyHeapNative.Core.Debug.DebugHooks;

namespace PyHeapNative.Core.Debug;

internal enum BlockProblem
{
    None,
    BadId,              // CPython: bad ID: Allocated using API 'x', verified using API 'y'
    BadLeadingPad,      // CPython: bad leading pad byte
    BadSize,            // the size field does not fit the block (beyond CPython)
    BadTrailingPad,     // CPython: bad trailing pad byte
    AlreadyFreed,       // double free (beyond CPython, whose dumper crashes on it)
    InteriorPointer,    // p is inside a block, not at its start
    ForeignPointer,     // p is not a block of the debug allocator
}

internal unsafe struct BlockDiagnosis
{
    public BlockProblem Problem;
    public nuint Nbytes;           // the size field (trusted only when Problem is None)
    public bool ForeignBacked;     // the block lives outside pymalloc (registered in LiveBlocks)
    public nuint Extent;           // readable bytes from p - 16; 0 when nothing may be read
    public byte ExpectedId;
    public byte* Container;        // InteriorPointer: the data pointer of the enclosing block
}

internal static unsafe class BlockDump
{
    /// <summary>Classifies the block at p. wrapsPymalloc: the hooks wrap pymalloc itself, so a
    /// pymalloc-owned header must be a block start. pymalloc memory is always safe to read;
    /// other memory only when it is a registered live block.</summary>
    /// <summary>distance % block size without a division (a 64-bit div costs tens of cycles
    /// on every debug free): distance < POOL_SIZE = 2^14 and size <= 512, so multiplying by
    /// ceil(2^32 / size) and keeping the high half gives the exact quotient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint OffsetInBlock(uint distance, uint sizeIndex)
    {
        uint size = Tunables.IndexToSize(sizeIndex);
        uint quotient = (uint)(((ulong)distance * CeilReciprocals[(int)sizeIndex]) >> 32);
        return distance - quotient * size;
    }

    /// <summary>ceil(2^32 / (16 * (i + 1))) for the 32 size classes.</summary>
    private static ReadOnlySpan<uint> CeilReciprocals => [268435456, 134217728, 89478486, 67108864, 53687092, 44739243, 38347923, 33554432, 29826162, 26843546, 24403224, 22369622, 20648882, 19173962, 17895698, 16777216, 15790321, 14913081, 14128182, 13421773, 12782641, 12201612, 11671107, 11184811, 10737419, 10324441, 9942054, 9586981, 9256396, 8947849, 8659209, 8388608];

    internal static BlockDiagnosis Diagnose(byte* p, byte apiId, bool wrapsPymalloc)
    {
        var d = new BlockDiagnosis { ExpectedId = apiId };
        byte* head = p - 2 * S;
        bool owned = Pymalloc.Pymalloc.Owns(head);
        if ((!owned || !wrapsPymalloc) && LiveBlocks.TryGet(head, out nuint registered))
        {
            d.ForeignBacked = true;
            d.Extent = registered + Overhead;
        }
        else if (owned)
        {
            var pool = (PoolHeader*)((nuint)head & ~Tunables.PoolSizeMask);
            if (pool->Count == 0 || pool->SizeIndex >= Tunables.NumSizeClasses)
            {
                d.Problem = head[S] == DeadByte ? BlockProblem.AlreadyFreed : BlockProblem.ForeignPointer;
                return d;
            }
            nuint blockSize = Tunables.IndexToSize(pool->SizeIndex);
            byte* first = (byte*)pool + Tunables.PoolOverhead;
            if (head < first || head >= (byte*)pool + pool->NextOffset)
            {
                d.Problem = BlockProblem.ForeignPointer;   // the pool header or a block never handed out
                return d;
            }
            nuint offset = OffsetInBlock((uint)(head - first), pool->SizeIndex);
            if (offset != 0 && wrapsPymalloc)
            {
                d.Problem = BlockProblem.InteriorPointer;
                d.Container = head - offset + 2 * S;
                return d;
            }
            d.Extent = blockSize - offset;   // readable up to the end of the pymalloc block
            if (d.Extent < Overhead)
            {
                d.Problem = BlockProblem.ForeignPointer;   // too small to be a debug block
                return d;
            }
        }
        else
        {
            // A live block containing p first: a freed address is often reused at once.
            if (LiveBlocks.TryFindContaining(p, Overhead, out void* b, out _))
            {
                d.Problem = BlockProblem.InteriorPointer;
                d.Container = (byte*)b + 2 * S;
            }
            else if (LiveBlocks.WasFreedRecently(head))
                d.Problem = BlockProblem.AlreadyFreed;
            else
                d.Problem = BlockProblem.ForeignPointer;
            return d;
        }

        // The block may be read within its extent. Check as CPython does: id, leading pad,
        // then the trailing pad at the recorded size.
        d.Nbytes = ReadSize(head);
        byte id = head[S];
        if (id != apiId)
        {
            d.Problem = id == DeadByte && AllEqual(head + S + 1, S - 1, DeadByte) ? BlockProblem.AlreadyFreed : BlockProblem.BadId;
            return d;
        }
        // Word compares: the id byte was checked above, so the 8 bytes at p-8 must be the
        // leading-pad word with it; the trailer is one word.
        if (Unsafe.ReadUnaligned<ulong>(p - S) != (LeadingPadWord | id))
            d.Problem = BlockProblem.BadLeadingPad;
        else if (d.Nbytes > d.Extent - Overhead)
            d.Problem = BlockProblem.BadSize;
        else if (Unsafe.ReadUnaligned<ulong>(p + d.Nbytes) != ForbiddenWord)
            d.Problem = BlockProblem.BadTrailingPad;
        return d;
    }

    private static bool AllEqual(byte* q, nuint n, byte value)
    {
        for (nuint i = 0; i < n; i++)
            if (q[i] != value)
                return false;
        return true;
    }

    /// <summary>Prints the dump to stderr and raises "func: message" as a fatal error.</summary>
    internal static void Report(byte* p, in BlockDiagnosis d, string func)
    {
        var o = new StringBuilder(1024);
        string message;
        switch (d.Problem)
        {
            case BlockProblem.AlreadyFreed:
                o.Append($"Debug memory block at address p={Hex(p)}: already freed\n");
                o.Append("    Its memory holds DEADBYTE (0xdd) or it was freed recently: a double free, or a use after free.\n\n");
                message = $"{func}: block already freed (double free or use after free) at p={Hex(p)}";
                break;
            case BlockProblem.InteriorPointer:
                o.Append($"Debug memory block at address p={Hex(p)}: not the start of a block\n");
                o.Append($"    p is {(long)(p - d.Container)} bytes into the block at p={Hex(d.Container)}.\n\n");
                message = $"{func}: interior pointer p={Hex(p)}: {(long)(p - d.Container)} bytes into the block at p={Hex(d.Container)}";
                break;
            case BlockProblem.ForeignPointer:
                o.Append($"Debug memory block at address p={Hex(p)}: not allocated by the debug allocator\n");
                o.Append("    The pointer is not a live block of PyHeapNative (foreign pointer, or freed long ago); its memory was not read.\n\n");
                message = $"{func}: foreign pointer p={Hex(p)}: not allocated by this allocator";
                break;
            default:
                DumpBlock(o, p, d);
                message = d.Problem switch
                {
                    BlockProblem.BadId => $"{func}: bad ID: Allocated using API '{IdText(p[-S])}', verified using API '{IdText(d.ExpectedId)}'",
                    BlockProblem.BadLeadingPad => $"{func}: bad leading pad byte",
                    BlockProblem.BadSize => $"{func}: bad size field: {d.Nbytes} bytes do not fit in the block",
                    _ => $"{func}: bad trailing pad byte",
                };
                break;
        }
        AppendTraceback(o, p);
        WriteStderr(o.ToString());
        Fatal.Error(message);
    }

    /// <summary>_PyMem_DumpTraceback: where the block was allocated, if tracemalloc knows.</summary>
    private static void AppendTraceback(StringBuilder o, byte* p)
    {
        if (!Tracer.IsTracing)
        {
            o.Append("Enable tracemalloc to get the memory block allocation traceback\n\n");
            return;
        }
        var frames = Tracer.TracebackOf((nuint)p);
        if (frames == null)
            return;
        o.Append("Memory block allocated at (most recent call first):\n");
        foreach (var (file, line) in frames)
            o.Append($"  File \"{file}\", line {line}\n");
        o.Append('\n');
    }

    /// <summary>_PyObject_DebugDumpAddress, reading only within the block's extent.</summary>
    private static void DumpBlock(StringBuilder o, byte* q, in BlockDiagnosis d)
    {
        nuint nbytes = d.Nbytes;
        o.Append($"Debug memory block at address p={Hex(q)}: API '{IdText(q[-S])}'\n");
        o.Append($"    {nbytes} bytes originally requested\n");

        o.Append($"    The {S - 1} pad bytes at p-{S - 1} are ");
        bool ok = true;
        for (int i = 1; i <= S - 1; i++)
            ok &= q[-i] == ForbiddenByte;
        if (ok)
            o.Append("FORBIDDENBYTE, as expected.\n");
        else
        {
            o.Append($"not all FORBIDDENBYTE (0x{ForbiddenByte:x2}):\n");
            for (int i = S - 1; i >= 1; i--)
                o.Append($"        at p-{i}: 0x{q[-i]:x2}{(q[-i] != ForbiddenByte ? " *** OUCH" : "")}\n");
            o.Append("    Because memory is corrupted at the start, the count of bytes requested\n" +
                     "       may be bogus, and checking the trailing pad bytes may segfault.\n");
        }

        byte* tail = q + nbytes;
        if (nbytes > d.Extent - Overhead)
        {
            o.Append($"    The {S} pad bytes at tail={Hex(tail)} were not read: they lie beyond the {d.Extent - Overhead}-byte block.\n");
            nbytes = d.Extent - Overhead;
            tail = q + nbytes;
        }
        else
        {
            o.Append($"    The {S} pad bytes at tail={Hex(tail)} are ");
            ok = true;
            for (int i = 0; i < S; i++)
                ok &= tail[i] == ForbiddenByte;
            if (ok)
                o.Append("FORBIDDENBYTE, as expected.\n");
            else
            {
                o.Append($"not all FORBIDDENBYTE (0x{ForbiddenByte:x2}):\n");
                for (int i = 0; i < S; i++)
                    o.Append($"        at tail+{i}: 0x{tail[i]:x2}{(tail[i] != ForbiddenByte ? " *** OUCH" : "")}\n");
            }
        }

        if (nbytes > 0)
        {
            o.Append("    Data at p:");
            byte* r = q;
            for (int i = 0; r < tail && i < 8; i++, r++)
                o.Append($" {*r:x2}");
            if (r < tail)
            {
                if (tail - r > 8)
                {
                    o.Append(" ...");
                    r = tail - 8;
                }
                for (; r < tail; r++)
                    o.Append($" {*r:x2}");
            }
            o.Append('\n');
        }
        o.Append('\n');
    }

    private static string Hex(void* p) => "0x" + ((ulong)p).ToString("x");

    private static string IdText(byte id) => id is >= 0x20 and < 0x7f ? ((char)id).ToString() : $"\\x{id:x2}";

    private static void WriteStderr(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* b = bytes)
            Libc.WriteStderr(b, (nuint)bytes.Length);
    }
}
