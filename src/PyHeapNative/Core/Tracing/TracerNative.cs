// The tracer's common case in C (Native/phn_fast_trace.h): at start-up the C side gets the
// addresses of the statics it reads and writes under the tracer's lock. Statics of
// unmanaged types never move.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Tracing;

internal static unsafe partial class Tracer
{
    /// <summary>trace_state of Native/phn_fast_trace.h.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct NativeState
    {
        public HeapLock* Lock;
        public bool* Tracing;
        public int* Gate;
        public AddressTable* Traces;
        public nuint* Traced;
        public nuint* Peak;
        public ulong* SinglePcs;
        public ulong* SingleTracebacks;
        public uint* Generation;
        public nuint* HeaderTraces;
    }

#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_trace_configure")]
    [SuppressGCTransition]
    private static extern void NativeConfigure(NativeState* state);
#endif

    internal static void ConfigureNative()
    {
#if !PHN_WINDOWS
#pragma warning disable CS0420   // the C side reads it with a plain (x86: ordered) load, as Volatile.Read
        fixed (HeapLock* lockWord = &s_lock)
        fixed (bool* tracing = &s_tracing)
#pragma warning restore CS0420
        fixed (int* gate = &s_gate)
        fixed (AddressTable* traces = &s_traces)
        fixed (nuint* traced = &s_traced)
        fixed (nuint* peak = &s_peak)
        fixed (SingleFrameCache* cache = &s_singleFrames)
        fixed (uint* generation = &s_generation)
        fixed (nuint* headerTraces = &s_headerTraces)
        {
            var state = new NativeState
            {
                Lock = lockWord, Tracing = tracing, Gate = gate, Traces = traces, Traced = traced, Peak = peak,
                SinglePcs = cache->Pcs, SingleTracebacks = cache->Blocks, Generation = generation,
                HeaderTraces = headerTraces,
            };
            NativeConfigure(&state);
        }
#endif
    }
}
