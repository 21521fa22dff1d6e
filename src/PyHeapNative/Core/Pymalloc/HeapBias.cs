// Biased heaps (the protocol is described in Native/phn_fast.h): a heap used by one thread
// only is biased to it, and its C fast path enters the heap's class lines without their
// locks. Every managed entry into a class line goes through Pymalloc.EnterClass, which
// takes the line's lock and then, when the heap is biased to another thread, revokes the
// bias (for good) before going on. The states live in C (Native/phn_heap_bias.c); until
// the C fast path is configured no heap is biased and nothing here does anything.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Pymalloc;

/// <summary>heap_bias of Native/phn_fast.h: one cache line per heap.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct HeapBiasState
{
    internal const int Biased = 0, Revoking = 1, Revoked = 2;   // BIAS_* of phn_fast.h

    public ulong Owner;   // pthread_self of the owner; 0: nobody
    public int State;     // Biased, Revoking, Revoked (for good)
    public int Busy;      // 1: the owner is inside one of the heap's lines
}

internal static unsafe class HeapBias
{
    private static HeapBiasState* s_states;

#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_heap_bias_states")]
    [SuppressGCTransition]
    private static extern HeapBiasState* NativeStates();

    /// <summary>Revokes a heap's bias (or waits for the revocation under way) and for its
    /// owner to leave (microseconds: a membarrier, then a wait of a few dozen instructions,
    /// longer if the owner was preempted inside its line). Rare, so a normal P/Invoke: a
    /// collection of the runtime need not wait for it.</summary>
    [DllImport("phn_native", EntryPoint = "phnimpl_heap_revoke")]
    internal static extern void Revoke(uint heap);

    /// <summary>The calling thread's heap as the C fast paths see it (Native/phn_heap_bias.c
    /// picks it on the thread's first call and keeps it in a thread-local variable).</summary>
    [DllImport("phn_native", EntryPoint = "phnimpl_own_heap")]
    [SuppressGCTransition]
    private static extern uint NativeOwnHeap();
#else
    private static HeapBiasState* NativeStates() => null;
    internal static void Revoke(uint heap) { }
#endif

    /// <summary>The calling thread's heap: the C side's choice once the C fast path is
    /// configured; before that (start-up), and where there is no C side (Windows, the Core
    /// compiled into a JIT-hosted assembly such as the benchmarks' in-process heap, which
    /// has no phn_native to call), a hash of the thread's identity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
#if !PHN_WINDOWS
    internal static uint OwnHeap() => s_states != null ? ConfiguredOwnHeap() : HashedHeap();

    // Not inlined: the JIT resolves an inlined P/Invoke's library when it compiles the caller,
    // and a JIT-hosted Core has no phn_native.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint ConfiguredOwnHeap() => NativeOwnHeap();
#else
    internal static uint OwnHeap() => HashedHeap();
#endif

    private static uint HashedHeap() => (uint)(((ulong)Libc.CurrentThread() * 0x9E3779B97F4A7C15ul) >> 62);

    /// <summary>Before the C fast path is configured (Domains/NativeFastPath.cs).</summary>
    internal static void Configure() => s_states = NativeStates();

    /// <summary>Whether the calling thread, holding a class lock of heap, must revoke its
    /// bias (or wait for a revocation under way) before touching the line: the heap is
    /// biased to another thread and not yet revoked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool MustRevoke(uint heap)
    {
        HeapBiasState* states = s_states;
        if (states == null)
            return false;
        ulong owner = Volatile.Read(ref states[heap].Owner);
        return owner != 0 && Volatile.Read(ref states[heap].State) != HeapBiasState.Revoked
            && owner != (ulong)Libc.CurrentThread();
    }

    /// <summary>For the invariant checker: the owner and the state of a heap.</summary>
    internal static HeapBiasState StateOf(uint heap) => s_states == null ? default : s_states[heap];
}
