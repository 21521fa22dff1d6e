// The three exports of libemptyexport.so. bench_empty_malloc returns the block handed to
// bench_empty_init (a static buffer of the C program) and bench_empty_free does nothing:
// all that is left is the reverse P/Invoke transition every Native AOT export pays.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Bench;

public static unsafe class EmptyExport
{
    private static void* s_block;

    [UnmanagedCallersOnly(EntryPoint = "bench_empty_init", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static void Init(void* block) => s_block = block;

    [UnmanagedCallersOnly(EntryPoint = "bench_empty_malloc", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static void* Malloc(nuint size) => s_block;

    [UnmanagedCallersOnly(EntryPoint = "bench_empty_free", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static void Free(void* p) { }
}
