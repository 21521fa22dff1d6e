// CPython's debug hooks on the memory allocators (PyMem_SetupDebugHooks, Objects/obmalloc.c
// 3.8+). Each domain's allocator is wrapped; every block gets a header and a trailer:
//
//    p-16      p-8  p-7        p            p+N          p+N+8
//    | size N  | id | 7 x 0xFD | N data     | 8 x 0xFD   |
//    | (big-   |'r' |  leading | bytes      |  trailing  |
//    |  endian)|'m' |  pad     | 0xCD when  |  pad       |
//    |         |'o' |          | new        |            |
//
// 24 extra bytes (3 * sizeof(size_t)), so 16-byte alignment is kept; under pymalloc, user
// sizes 1..488 stay small. Freed blocks are filled with 0xDD. Free and realloc check, in
// order, the API id (the domain that allocated the block), the leading pad and the trailing
// pad, and on a mismatch print the block's dump and raise a fatal error with CPython's text.
// Beyond CPython, a double free, an interior pointer and a foreign pointer are recognised
// before the block is read (LiveBlocks, the radix tree) and reported as such.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Debug;

/// <summary>The context of one installed debug wrapper (CPython's debug_alloc_api_t).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DebugApi
{
    public DomainEntry Underlying;   // the allocator the hooks wrap
    public byte ApiId;               // 'r', 'm' or 'o'
}

internal static unsafe class DebugHooks
{
    internal const int S = 8;                  // sizeof(size_t)
    internal const nuint Overhead = 3 * S;     // PYMEM_DEBUG_EXTRA_BYTES
    internal const byte CleanByte = 0xCD;      // PYMEM_CLEANBYTE
    internal const byte DeadByte = 0xDD;       // PYMEM_DEADBYTE
    internal const byte ForbiddenByte = 0xFD;  // PYMEM_FORBIDDENBYTE
    internal const ulong ForbiddenWord = 0xFDFD_FDFD_FDFD_FDFDul;    // 8 pad bytes
    internal const ulong LeadingPadWord = 0xFDFD_FDFD_FDFD_FD00ul;   // 7 pad bytes after the id byte
    private const int ErasedSize = 64;

    private static AllocatorTable s_cFunctions;   // C-callable debug functions (context set per wrapper)

    internal static void RegisterCFunctions(in AllocatorTable functions) => s_cFunctions = functions;

    internal static byte ApiIdOf(int domain) => domain switch
    {
        AllocatorRegistry.Raw => (byte)'r',
        AllocatorRegistry.Mem => (byte)'m',
        _ => (byte)'o',
    };

    /// <summary>
    /// PyMem_SetupDebugHooks: wraps each domain whose allocator is not already the debug
    /// hooks. A new context per wrap, so an old debug table still forwarded to by a hook
    /// keeps its own underlying allocator. False when out of memory (domains done so far stay).
    /// </summary>
    internal static bool Setup()
    {
        for (int domain = AllocatorRegistry.Raw; domain <= AllocatorRegistry.Obj; domain++)
        {
            DomainEntry current = AllocatorRegistry.EntryOf(domain);
            if (current.Kind == Backend.Wrapper && current.Table->Kind == WrapperKind.Debug)
                continue;
            var api = (DebugApi*)Libc.Calloc(1, (nuint)sizeof(DebugApi));
            WrapperTable* table = api == null ? null : WrapperTable.Create(s_cFunctions, api, WrapperKind.Debug, &api->Underlying,
                &Malloc, &Calloc, &Realloc, &Free);
            if (table == null)
            {
                Libc.Free(api);
                return false;
            }
            api->Underlying = current;
            api->ApiId = ApiIdOf(domain);
            AllocatorRegistry.RegisterWrapper(table);
            AllocatorRegistry.Install(domain, Backend.Wrapper, table);
        }
        return true;
    }

    // ---- the wrapper's entry points (CPython's _PyMem_DebugRawMalloc ...) ------------------

    internal static void* Malloc(void* ctx, nuint nbytes, void* caller) => Allocate((DebugApi*)ctx, zero: false, nbytes, caller);

    internal static void* Calloc(void* ctx, nuint nelem, nuint elsize, void* caller)
    {
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return RawDomain.OutOfMemory();
        return Allocate((DebugApi*)ctx, zero: true, nelem * elsize, caller);
    }

    internal static void Free(void* ctx, void* p, void* caller)
    {
        if (p == null)
            return;
        var api = (DebugApi*)ctx;
        byte* head = (byte*)p - 2 * S;
        if (!CheckAddress("_PyMem_DebugRawFree", api, (byte*)p, out nuint nbytes, out bool foreignBacked))
            return;   // reported; the fatal handler returned: leave the block alone
        if (foreignBacked)
            LiveBlocks.Remove(head);
        NativeMemory.Fill(head, nbytes + Overhead, DeadByte);
        Domains.Domains.EntryFree(ref api->Underlying, head, caller);
    }

    internal static void* Realloc(void* ctx, void* p, nuint nbytes, void* caller)
    {
        if (p == null)
            return Allocate((DebugApi*)ctx, zero: false, nbytes, caller);
        var api = (DebugApi*)ctx;
        if (!CheckAddress("_PyMem_DebugRawRealloc", api, (byte*)p, out nuint originalNbytes, out bool foreignBacked))
            return null;
        if (nbytes > Status.MaxRequest - Overhead)
            return RawDomain.OutOfMemory();
        if (!LiveBlocks.EnsureRoom())
            return RawDomain.OutOfMemory();   // so the moved block can always be registered

        byte* head = (byte*)p - 2 * S;
        byte* data = (byte*)p;
        byte* tail = data + originalNbytes;

        // Mark the header, the trailer and up to 64 bytes at each end dead, keeping a copy,
        // so that if the block moves the old copy reads as freed memory.
        byte* save = stackalloc byte[2 * ErasedSize];
        if (originalNbytes <= 2 * ErasedSize)
        {
            Buffer.MemoryCopy(data, save, 2 * ErasedSize, originalNbytes);
            NativeMemory.Fill(head, originalNbytes + Overhead, DeadByte);
        }
        else
        {
            Buffer.MemoryCopy(data, save, ErasedSize, ErasedSize);
            NativeMemory.Fill(head, ErasedSize + 2 * S, DeadByte);
            Buffer.MemoryCopy(tail - ErasedSize, save + ErasedSize, ErasedSize, ErasedSize);
            NativeMemory.Fill(tail - ErasedSize, ErasedSize + Overhead - 2 * S, DeadByte);
        }

        if (foreignBacked)
            LiveBlocks.Remove(head);
        byte* r = (byte*)Domains.Domains.EntryRealloc(ref api->Underlying, head, nbytes + Overhead, caller);
        if (r == null)
            nbytes = originalNbytes;   // failed: rebuild the original block
        else
            head = r;
        data = head + 2 * S;
        if (!InPymallocBlock(api, head))
            LiveBlocks.Add(head, nbytes);   // room was reserved above

        WriteHeader(head, nbytes, api->ApiId);
        Unsafe.WriteUnaligned(data + nbytes, ForbiddenWord);

        // Restore the saved bytes.
        if (originalNbytes <= 2 * ErasedSize)
        {
            Buffer.MemoryCopy(save, data, nbytes, Math.Min(nbytes, originalNbytes));
        }
        else
        {
            nuint i = originalNbytes - ErasedSize;
            Buffer.MemoryCopy(save, data, nbytes, Math.Min(nbytes, (nuint)ErasedSize));
            if (nbytes > i)
                Buffer.MemoryCopy(save + ErasedSize, data + i, nbytes - i, Math.Min(nbytes - i, (nuint)ErasedSize));
        }
        if (r == null)
            return null;
        if (nbytes > originalNbytes)
            NativeMemory.Fill(data + originalNbytes, nbytes - originalNbytes, CleanByte);   // growing: clean
        return data;
    }

    // ---- helpers ---------------------------------------------------------------------------

    private static void* Allocate(DebugApi* api, bool zero, nuint nbytes, void* caller)
    {
        if (nbytes > Status.MaxRequest - Overhead)
            return RawDomain.OutOfMemory();
        nuint total = nbytes + Overhead;
        // calloc is always (1, total): the product was checked by the public wrapper.
        byte* head = zero
            ? (byte*)Domains.Domains.EntryCalloc(ref api->Underlying, 1, total, caller)
            : (byte*)Domains.Domains.EntryMalloc(ref api->Underlying, total, caller);
        if (head == null)
            return null;
        if (!InPymallocBlock(api, head) && !LiveBlocks.Add(head, nbytes))
        {
            Domains.Domains.EntryFree(ref api->Underlying, head, Call.NestedCaller);
            return RawDomain.OutOfMemory();
        }
        WriteHeader(head, nbytes, api->ApiId);
        byte* data = head + 2 * S;
        if (nbytes > 0 && !zero)
            NativeMemory.Fill(data, nbytes, CleanByte);
        Unsafe.WriteUnaligned(data + nbytes, ForbiddenWord);
        return data;
    }

    /// <summary>True when head is the start of a pymalloc block: the hooks wrap pymalloc
    /// itself (not an allocator that might hand out pymalloc memory at an offset) and
    /// pymalloc owns the address. Such blocks are checked by pool geometry, others are
    /// registered in LiveBlocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InPymallocBlock(DebugApi* api, byte* head) =>
        api->Underlying.Kind == Backend.Pymalloc && Pymalloc.Pymalloc.Owns(head);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteHeader(byte* head, nuint nbytes, byte apiId)
    {
        BinaryPrimitives.WriteUInt64BigEndian(new Span<byte>(head, S), nbytes);
        // The id byte and the 7 leading pad bytes in one little-endian word.
        Unsafe.WriteUnaligned(head + S, LeadingPadWord | apiId);
    }

    internal static nuint ReadSize(byte* head) => (nuint)BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(head, S));

    /// <summary>
    /// _PyMem_DebugCheckAddress: true if p is a sound block of this API; otherwise prints the
    /// diagnosis and raises the fatal error "func: message", and returns false if the fatal
    /// handler returns.
    /// </summary>
    private static bool CheckAddress(string func, DebugApi* api, byte* p, out nuint nbytes, out bool foreignBacked)
    {
        BlockDiagnosis d = BlockDump.Diagnose(p, api->ApiId, api->Underlying.Kind == Backend.Pymalloc);
        nbytes = d.Nbytes;
        foreignBacked = d.ForeignBacked;
        if (d.Problem == BlockProblem.None)
            return true;
        BlockDump.Report(p, d, func);
        return false;
    }
}
