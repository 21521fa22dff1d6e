// PyHeap.cs - a small idiomatic API over Native: the three domains, statistics, the heap
// checker and errors as exceptions.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace PyHeapNative.Interop;

/// <summary>The three allocator domains (CPython's <c>PyMemAllocatorDomain</c>).</summary>
public enum PyHeapDomainKind
{
    /// <summary><c>PHN_DOMAIN_RAW</c>: thread-safe; the C allocator by default.</summary>
    Raw = Native.PHN_DOMAIN_RAW,
    /// <summary><c>PHN_DOMAIN_MEM</c>: pymalloc by default.</summary>
    Mem = Native.PHN_DOMAIN_MEM,
    /// <summary><c>PHN_DOMAIN_OBJ</c>: pymalloc by default.</summary>
    Obj = Native.PHN_DOMAIN_OBJ,
}

/// <summary>The <c>PHN_E*</c> status codes.</summary>
public enum PyHeapStatus
{
    /// <summary><c>PHN_OK</c>.</summary>
    Ok = Native.PHN_OK,
    /// <summary><c>PHN_EINVAL</c>: an argument is invalid.</summary>
    InvalidArgument = Native.PHN_EINVAL,
    /// <summary><c>PHN_ENOMEM</c>: memory could not be obtained.</summary>
    OutOfMemory = Native.PHN_ENOMEM,
    /// <summary><c>PHN_ESTATE</c>: the call is not valid in the current state.</summary>
    InvalidState = Native.PHN_ESTATE,
    /// <summary><c>PHN_EINTERNAL</c>: an internal error was caught at the C boundary.</summary>
    Internal = Native.PHN_EINTERNAL,
    /// <summary><c>PHN_ENOTSUP</c>: not available in this build or configuration.</summary>
    NotSupported = Native.PHN_ENOTSUP,
    /// <summary><c>PHN_ECORRUPT</c>: a heap invariant does not hold.</summary>
    Corrupt = Native.PHN_ECORRUPT,
}

/// <summary>A failed PyHeapNative call: its status and <c>phn_last_error_message()</c>.</summary>
public sealed class PyHeapException : Exception
{
    /// <summary>Creates the exception for a status code and message.</summary>
    public PyHeapException(PyHeapStatus status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>The status the native call returned.</summary>
    public PyHeapStatus Status { get; }
}

/// <summary>
/// One allocator domain. Sizes are <see cref="nuint"/>; a request larger than
/// <see cref="long.MaxValue"/> (PY_SSIZE_T_MAX) throws <see cref="ArgumentOutOfRangeException"/>
/// and a native failure throws <see cref="OutOfMemoryException"/>.
/// </summary>
/// <remarks>
/// A block must be freed by the domain that allocated it. Size 0 gives a distinct, non-null
/// block; every block is 16-byte aligned. Use <see cref="Native"/> for the C semantics
/// (null instead of exceptions).
/// </remarks>
public sealed unsafe class PyHeapDomain
{
    internal PyHeapDomain(PyHeapDomainKind kind) => Kind = kind;

    /// <summary>Which domain this is.</summary>
    public PyHeapDomainKind Kind { get; }

    /// <summary>Allocates <paramref name="size"/> uninitialised bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is above <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="OutOfMemoryException">The allocator returned null.</exception>
    public nint Malloc(nuint size)
    {
        if (size > long.MaxValue)
            ThrowHelper.ThrowSizeOutOfRange(nameof(size));
        void* p = Kind switch
        {
            PyHeapDomainKind.Raw => Native.RawMalloc(size),
            PyHeapDomainKind.Mem => Native.MemMalloc(size),
            _ => Native.ObjMalloc(size),
        };
        if (p == null)
            ThrowHelper.ThrowOutOfMemory(size);
        return (nint)p;
    }

    /// <summary>Allocates <paramref name="count"/> × <paramref name="size"/> zeroed bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The product is above <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="OutOfMemoryException">The allocator returned null.</exception>
    public nint Calloc(nuint count, nuint size)
    {
        if (size != 0 && (ulong)count > (ulong)long.MaxValue / size)
            ThrowHelper.ThrowSizeOutOfRange(nameof(count));
        void* p = Kind switch
        {
            PyHeapDomainKind.Raw => Native.RawCalloc(count, size),
            PyHeapDomainKind.Mem => Native.MemCalloc(count, size),
            _ => Native.ObjCalloc(count, size),
        };
        if (p == null)
            ThrowHelper.ThrowOutOfMemory(count * size);
        return (nint)p;
    }

    /// <summary>
    /// Resizes <paramref name="ptr"/> (0 allocates), preserving min(old, new) bytes.
    /// <c>Realloc(p, 0)</c> returns a live block and never frees. On failure
    /// <paramref name="ptr"/> is still valid and unchanged.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newSize"/> is above <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="OutOfMemoryException">The allocator returned null.</exception>
    public nint Realloc(nint ptr, nuint newSize)
    {
        if (newSize > long.MaxValue)
            ThrowHelper.ThrowSizeOutOfRange(nameof(newSize));
        void* p = Kind switch
        {
            PyHeapDomainKind.Raw => Native.RawRealloc((void*)ptr, newSize),
            PyHeapDomainKind.Mem => Native.MemRealloc((void*)ptr, newSize),
            _ => Native.ObjRealloc((void*)ptr, newSize),
        };
        if (p == null)
            ThrowHelper.ThrowOutOfMemory(newSize);
        return (nint)p;
    }

    /// <summary>Frees a block of this domain; 0 does nothing.</summary>
    public void Free(nint ptr)
    {
        switch (Kind)
        {
            case PyHeapDomainKind.Raw: Native.RawFree((void*)ptr); break;
            case PyHeapDomainKind.Mem: Native.MemFree((void*)ptr); break;
            default: Native.ObjFree((void*)ptr); break;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Kind.ToString();
}

/// <summary>Statistics of one pymalloc size class.</summary>
/// <param name="BlockSize">Block size in bytes, (index + 1) × 16.</param>
/// <param name="BlocksPerPool">Blocks a pool of this class holds.</param>
/// <param name="Pools">Pools of this class with a block in use.</param>
/// <param name="FullPools">Of those, the pools with every block in use.</param>
/// <param name="BlocksInUse">Blocks in use.</param>
/// <param name="BlocksAvailable">Free blocks in those pools.</param>
public readonly record struct PyHeapSizeClassStats(
    uint BlockSize, uint BlocksPerPool, ulong Pools, ulong FullPools, ulong BlocksInUse, ulong BlocksAvailable);

/// <summary>A snapshot of <c>phn_stats</c> (CPython's <c>sys._debugmallocstats()</c> numbers).</summary>
public sealed record PyHeapStats
{
    /// <summary><c>PHN_STATS_VERSION</c> of the library.</summary>
    public uint Version { get; init; }
    /// <summary>Arenas ever allocated.</summary>
    public ulong ArenasAllocatedTotal { get; init; }
    /// <summary>Arenas returned to the arena allocator.</summary>
    public ulong ArenasReclaimed { get; init; }
    /// <summary>Most arenas allocated at once.</summary>
    public ulong ArenasHighwater { get; init; }
    /// <summary>Arenas allocated now.</summary>
    public ulong ArenasAllocatedCurrent { get; init; }
    /// <summary>Arena size in bytes.</summary>
    public ulong ArenaSize { get; init; }
    /// <summary>Pool size in bytes.</summary>
    public ulong PoolSize { get; init; }
    /// <summary>Empty and never-carved pools of live arenas.</summary>
    public ulong UnusedPools { get; init; }
    /// <summary>Bytes in allocated blocks.</summary>
    public ulong BytesInAllocatedBlocks { get; init; }
    /// <summary>Bytes in available blocks.</summary>
    public ulong BytesInAvailableBlocks { get; init; }
    /// <summary>Bytes in unused pools.</summary>
    public ulong BytesInUnusedPools { get; init; }
    /// <summary>Bytes lost to pool headers.</summary>
    public ulong BytesLostToPoolHeaders { get; init; }
    /// <summary>Bytes lost to quantization.</summary>
    public ulong BytesLostToQuantization { get; init; }
    /// <summary>Bytes lost to arena alignment.</summary>
    public ulong BytesLostToArenaAlignment { get; init; }
    /// <summary>Live MEM/OBJ blocks, as <c>sys.getallocatedblocks()</c>.</summary>
    public ulong AllocatedBlocks { get; init; }
    /// <summary>Of those, the blocks pymalloc sent to the RAW domain.</summary>
    public ulong RawAllocatedBlocks { get; init; }
    /// <summary>Radix-tree mid nodes.</summary>
    public ulong ArenaMapMidNodes { get; init; }
    /// <summary>Radix-tree bottom nodes.</summary>
    public ulong ArenaMapBotNodes { get; init; }
    /// <summary>Bytes lost to the radix-tree root.</summary>
    public ulong BytesLostToArenaMapRoot { get; init; }
    /// <summary>Bytes lost to radix-tree mid nodes.</summary>
    public ulong BytesLostToArenaMapMid { get; init; }
    /// <summary>Bytes lost to radix-tree bottom nodes.</summary>
    public ulong BytesLostToArenaMapBot { get; init; }
    /// <summary>The size classes, index 0 (16 bytes) first.</summary>
    public IReadOnlyList<PyHeapSizeClassStats> SizeClasses { get; init; } = [];

    internal static PyHeapStats FromNative(in PhnStats s)
    {
        int n = (int)Math.Min(s.NumSizeClasses, (uint)Native.PHN_NB_SMALL_SIZE_CLASSES);
        var classes = new PyHeapSizeClassStats[n];
        for (int i = 0; i < n; i++)
        {
            PhnSizeClassStats c = s.SizeClasses[i];
            classes[i] = new(c.BlockSize, c.BlocksPerPool, c.Pools, c.FullPools, c.BlocksInUse, c.BlocksAvailable);
        }
        return new PyHeapStats
        {
            Version = s.Version,
            ArenasAllocatedTotal = s.ArenasAllocatedTotal,
            ArenasReclaimed = s.ArenasReclaimed,
            ArenasHighwater = s.ArenasHighwater,
            ArenasAllocatedCurrent = s.ArenasAllocatedCurrent,
            ArenaSize = s.ArenaSize,
            PoolSize = s.PoolSize,
            UnusedPools = s.UnusedPools,
            BytesInAllocatedBlocks = s.BytesInAllocatedBlocks,
            BytesInAvailableBlocks = s.BytesInAvailableBlocks,
            BytesInUnusedPools = s.BytesInUnusedPools,
            BytesLostToPoolHeaders = s.BytesLostToPoolHeaders,
            BytesLostToQuantization = s.BytesLostToQuantization,
            BytesLostToArenaAlignment = s.BytesLostToArenaAlignment,
            AllocatedBlocks = s.AllocatedBlocks,
            RawAllocatedBlocks = s.RawAllocatedBlocks,
            ArenaMapMidNodes = s.ArenaMapMidNodes,
            ArenaMapBotNodes = s.ArenaMapBotNodes,
            BytesLostToArenaMapRoot = s.BytesLostToArenaMapRoot,
            BytesLostToArenaMapMid = s.BytesLostToArenaMapMid,
            BytesLostToArenaMapBot = s.BytesLostToArenaMapBot,
            SizeClasses = classes,
        };
    }
}

/// <summary>
/// The PyHeapNative heap: CPython's memory manager (RAW/MEM/OBJ domains and pymalloc) in
/// <c>libpyheapnative</c>. Every member is thread-safe.
/// </summary>
/// <example>
/// <code>
/// nint p = PyHeap.Obj.Malloc(64);
/// try { /* use p */ } finally { PyHeap.Obj.Free(p); }
/// Console.WriteLine(PyHeap.FormatMallocStats());
/// </code>
/// </example>
public static unsafe class PyHeap
{
    /// <summary>The RAW domain (<c>PyMem_Raw*</c>).</summary>
    public static PyHeapDomain Raw { get; } = new(PyHeapDomainKind.Raw);

    /// <summary>The MEM domain (<c>PyMem_*</c>).</summary>
    public static PyHeapDomain Mem { get; } = new(PyHeapDomainKind.Mem);

    /// <summary>The OBJ domain (<c>PyObject_*</c>).</summary>
    public static PyHeapDomain Obj { get; } = new(PyHeapDomainKind.Obj);

    /// <summary>The domain object for a kind.</summary>
    public static PyHeapDomain Domain(PyHeapDomainKind kind) => kind switch
    {
        PyHeapDomainKind.Raw => Raw,
        PyHeapDomainKind.Mem => Mem,
        PyHeapDomainKind.Obj => Obj,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown domain"),
    };

    /// <summary><c>PHN_VERSION</c> of the loaded library (MAJOR*10000 + MINOR*100 + PATCH).</summary>
    public static uint NativeVersion => Native.Version();

    /// <summary>
    /// "pymalloc" or "malloc" when the three domains hold the built-in allocators of that
    /// configuration; null when any domain holds a custom allocator.
    /// </summary>
    public static string? AllocatorName => Marshal.PtrToStringUTF8((nint)Native.AllocatorName());

    /// <summary>Starts the library explicitly (every call does it implicitly).</summary>
    /// <exception cref="PyHeapException">The configuration is invalid.</exception>
    public static void Initialize() => Check(Native.Init());

    /// <summary>A snapshot of pymalloc's statistics.</summary>
    /// <exception cref="PyHeapException">The library reported an error.</exception>
    public static PyHeapStats GetStats()
    {
        PhnStats s = default;
        s.StructSize = (uint)sizeof(PhnStats);
        Check(Native.GetStats(&s));
        return PyHeapStats.FromNative(in s);
    }

    /// <summary>
    /// The text of CPython's <c>sys._debugmallocstats()</c> (pymalloc part); "" when the OBJ
    /// domain is not served by pymalloc.
    /// </summary>
    /// <exception cref="PyHeapException">The library reported an error.</exception>
    public static string FormatMallocStats()
    {
        long needed = Native.FormatMallocStats(null, 0);
        while (true)
        {
            if (needed < 0)
                ThrowHelper.ThrowForStatus((int)needed);
            if (needed == 0)
                return "";
            byte[] buf = new byte[checked((int)needed + 1)];
            long written;
            fixed (byte* p = buf)
                written = Native.FormatMallocStats(p, (nuint)buf.Length);
            if (written >= 0 && written <= needed)
                return System.Text.Encoding.UTF8.GetString(buf, 0, (int)written);
            needed = written;   // the heap changed between the calls: try again with the new size
        }
    }

    /// <summary>Checks every pymalloc invariant.</summary>
    /// <exception cref="PyHeapException">With <see cref="PyHeapStatus.Corrupt"/> and the first broken invariant.</exception>
    public static void Validate() => Check(Native.Validate());

    /// <summary>This thread's last error message ("" if none).</summary>
    public static string LastErrorMessage => Marshal.PtrToStringUTF8((nint)Native.LastErrorMessage()) ?? "";

    private static void Check(int status)
    {
        if (status != Native.PHN_OK)
            ThrowHelper.ThrowForStatus(status);
    }
}

internal static class ThrowHelper
{
    [DoesNotReturn]
    internal static void ThrowForStatus(int status)
    {
        string message = PyHeap.LastErrorMessage;
        if (message.Length == 0)
            message = $"PyHeapNative call failed with status {status}";
        throw new PyHeapException((PyHeapStatus)status, message);
    }

    [DoesNotReturn]
    internal static void ThrowSizeOutOfRange(string paramName) =>
        throw new ArgumentOutOfRangeException(paramName, "The size is larger than PY_SSIZE_T_MAX (long.MaxValue).");

    [DoesNotReturn]
    internal static void ThrowOutOfMemory(nuint size) =>
        throw new OutOfMemoryException($"PyHeapNative could not allocate {size} bytes.");
}
