// The debug hooks' nested blocks in C (Native/phn_fast_debug.c): at start-up the C side gets
// the addresses of the live blocks' statics, which it reads and writes under s_lock, and of
// what decides whether a block is nested (the RAW domain's entry) and counts it (pymalloc's
// RAW blocks). Statics of unmanaged types never move.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Debug;

internal static unsafe partial class LiveBlocks
{
    /// <summary>live_blocks_state of Native/phn_fast_debug.c.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct NativeState
    {
        public HeapLock* Lock;
        public AddressTable* Blocks;
        public nuint** Freed;
        public int* FreedNext;
        public DomainEntry** Raw;
        public long* RawAllocatedBlocks;
    }

#if !PHN_WINDOWS
    private static DomainEntry* s_rawEntry;   // RawDomain.Entry, read by the C side through its address

    [DllImport("phn_native", EntryPoint = "phnimpl_debug_configure")]
    [SuppressGCTransition]
    private static extern void NativeConfigure(NativeState* state);
#endif

    internal static void ConfigureNative()
    {
#if !PHN_WINDOWS
        s_rawEntry = (DomainEntry*)Unsafe.AsPointer(ref RawDomain.Entry);
        fixed (HeapLock* lockWord = &s_lock)
        fixed (AddressTable* blocks = &s_blocks)
        fixed (nuint** freed = &s_freed)
        fixed (int* freedNext = &s_freedNext)
        fixed (DomainEntry** raw = &s_rawEntry)
        fixed (long* rawBlocks = &Pymalloc.Pymalloc.RawAllocatedBlocks)
        {
            var state = new NativeState
            {
                Lock = lockWord, Blocks = blocks, Freed = freed, FreedNext = freedNext, Raw = raw,
                RawAllocatedBlocks = rawBlocks,
            };
            NativeConfigure(&state);
        }
#endif
    }
}
