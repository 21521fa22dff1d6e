// PyHeap.cs - the idiomatic API over Native: the three domains (raw pointers or owned
// PyHeapBlock handles), statistics, the heap checker, the GIL and errors as exceptions.
// PyHeap.Gc (PyHeap.Gc.cs), PyHeap.Tracemalloc (PyHeap.Tracemalloc.cs) and the object model
// (Objects.cs) complete it.
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

/// <summary>
/// A failed PyHeapNative call whose status has no closer .NET exception
/// (<see cref="PyHeapStatus.Internal"/>, <see cref="PyHeapStatus.Corrupt"/>): its status and
/// <c>phn_last_error_message()</c>.
/// </summary>
/// <remarks>
/// The other statuses map to the usual types, each carrying the library's message and the
/// status in <c>Exception.Data["PyHeapStatus"]</c>: <see cref="PyHeapStatus.InvalidArgument"/>
/// to <see cref="ArgumentException"/>, <see cref="PyHeapStatus.OutOfMemory"/> to
/// <see cref="OutOfMemoryException"/>, <see cref="PyHeapStatus.InvalidState"/> to
/// <see cref="InvalidOperationException"/> and <see cref="PyHeapStatus.NotSupported"/> to
/// <see cref="NotSupportedException"/>.
/// </remarks>
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

    /// <summary>
    /// Allocates <paramref name="size"/> bytes as an owned <see cref="PyHeapBlock"/>, freed by
    /// this domain when the block is disposed (or finalized).
    /// </summary>
    /// <param name="size">The size in bytes (0 gives a distinct, non-null block).</param>
    /// <param name="zeroed">Whether the bytes are zeroed (<c>calloc</c>) rather than uninitialised.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is above <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="OutOfMemoryException">The allocator returned null.</exception>
    public PyHeapBlock Allocate(nuint size, bool zeroed = false)
    {
        if (size > long.MaxValue)
            ThrowHelper.ThrowSizeOutOfRange(nameof(size));
        // The handle object exists before the native block, so no failure can leak the block.
        var block = new PyHeapBlock(Kind);
        nint p = zeroed ? Calloc(1, size) : Malloc(size);
        block.Attach(p, size);
        return block;
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
/// <c>libpyheapnative</c>, its cyclic garbage collector (<see cref="Gc"/>) and tracemalloc
/// (<see cref="Tracemalloc"/>); objects are made with <see cref="PyType"/>. Every member is
/// thread-safe. Failures throw <see cref="ArgumentException"/>, <see cref="OutOfMemoryException"/>,
/// <see cref="InvalidOperationException"/> or <see cref="PyHeapException"/> with the library's message.
/// </summary>
/// <example>
/// <code>
/// nint p = PyHeap.Obj.Malloc(64);
/// try { /* use p */ } finally { PyHeap.Obj.Free(p); }
/// using (PyHeapBlock block = PyHeap.Mem.Allocate(100)) { block.AsSpan().Clear(); }
/// Console.WriteLine(PyHeap.FormatMallocStats());
/// </code>
/// </example>
public static unsafe partial class PyHeap
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
    /// <exception cref="PyHeapException">The library could not start.</exception>
    public static void Initialize() => Check(Native.Init());

    /// <summary>
    /// Takes the library's global lock (CPython's GIL, <c>phn_gil_ensure</c>) for the calling
    /// thread until the returned scope is disposed; recursive. Every object and collector call
    /// takes it by itself, so hold it only to make several calls atomic.
    /// </summary>
    /// <remarks>
    /// Do not wait for other threads (or for .NET finalizers, which may release objects) while
    /// holding it: they may need it.
    /// </remarks>
    /// <example><code>
    /// using (PyHeap.AcquireGil())
    /// {
    ///     a[0] = b;
    ///     b[0] = a;
    /// }
    /// </code></example>
    public static GilScope AcquireGil() => new(Native.GilEnsure());

    /// <summary>Whether the calling thread holds the library's global lock (<c>phn_gil_held</c>).</summary>
    public static bool IsGilHeld => Native.GilHeld() == 1;

    /// <summary>
    /// Raised when a managed callback called by the library (a <see cref="Gc.Callbacks"/>
    /// handler, a weak-reference callback, <see cref="Gc.DebugOutput"/>) throws. The exception
    /// never crosses into the library; without a handler it is written to standard error, as
    /// CPython's "Exception ignored in" report.
    /// </summary>
    public static event Action<Exception>? CallbackException;

    internal static void ReportCallbackException(Exception e)
    {
        try
        {
            if (CallbackException is { } handlers)
                handlers(e);
            else
                Console.Error.WriteLine($"Exception ignored in a PyHeapNative callback: {e}");
        }
        catch
        {
            // never let anything escape into native code
        }
    }

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

    internal static void Check(int status)
    {
        if (status != Native.PHN_OK)
            ThrowHelper.ThrowForStatus(status);
    }
}

/// <summary>
/// The library's global lock held by this thread, from <see cref="PyHeap.AcquireGil"/>;
/// <see cref="Dispose"/> gives it back (<c>phn_gil_release</c>) on the same thread.
/// </summary>
/// <remarks>Use it in a <c>using</c> statement; do not copy it (each copy would release).</remarks>
public struct GilScope : IDisposable
{
    private int _state;   // PHN_GIL_LOCKED / PHN_GIL_UNLOCKED + 1; 0 once released

    internal GilScope(int state)
    {
        if (state < 0)
            ThrowHelper.ThrowForStatus(state);
        _state = state + 1;
    }

    /// <summary>Releases the lock if this scope took it; a second call does nothing.</summary>
    public void Dispose()
    {
        int s = _state;
        _state = 0;
        if (s != 0)
            Native.GilRelease(s - 1);
    }
}

internal static class ThrowHelper
{
    /// <summary>The exception for a status, with phn_last_error_message() (read now, on this thread).</summary>
    internal static Exception ForStatus(int status)
    {
        string message = PyHeap.LastErrorMessage;
        if (message.Length == 0)
            message = $"PyHeapNative call failed with status {status}";
        Exception e = status switch
        {
            Native.PHN_EINVAL => new ArgumentException(message),
            Native.PHN_ENOMEM => new OutOfMemoryException(message),
            Native.PHN_ESTATE => new InvalidOperationException(message),
            Native.PHN_ENOTSUP => new NotSupportedException(message),
            _ => new PyHeapException((PyHeapStatus)status, message),
        };
        e.Data["PyHeapStatus"] = (PyHeapStatus)status;
        return e;
    }

    [DoesNotReturn]
    internal static void ThrowForStatus(int status) => throw ForStatus(status);

    /// <summary>A call returned null (or another failure value): throws for phn_last_error_code().</summary>
    [DoesNotReturn]
    internal static void ThrowLastError()
    {
        int code = Native.LastErrorCode();
        ThrowForStatus(code != Native.PHN_OK ? code : Native.PHN_EINTERNAL);
    }

    /// <summary>Throws for a negative 64-bit result (a status) and returns the others.</summary>
    internal static long CheckCount(long result)
    {
        if (result < 0)
            ThrowForStatus(result < int.MinValue ? Native.PHN_EINTERNAL : (int)result);
        return result;
    }

    [DoesNotReturn]
    internal static void ThrowSizeOutOfRange(string paramName) =>
        throw new ArgumentOutOfRangeException(paramName, "The size is larger than PY_SSIZE_T_MAX (long.MaxValue).");

    [DoesNotReturn]
    internal static void ThrowOutOfMemory(nuint size) =>
        throw new OutOfMemoryException($"PyHeapNative could not allocate {size} bytes.");
}
