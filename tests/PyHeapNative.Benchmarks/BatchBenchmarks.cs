// BatchBenchmarks.cs - 1024 blocks of 32 B allocated, then freed in the same order; the
// times are per block. One call per block (P/Invoke or in-process) against the batch API
// (phn_obj_malloc_many / phn_obj_free_many: one export transition per batch), in batches of
// 1024 and of 16.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Raw;
using PyHeapNative.Interop;

namespace PyHeapNative.Benchmarks;

[MemoryDiagnoser]
public unsafe class BatchBenchmarks
{
    private const int N = 1024;          // blocks per operation group (OperationsPerInvoke)
    private const int Small = 16;        // blocks per call in the small-batch case
    private const nuint Size = 32;
    private void** _ptrs;
    private void* _keepLibrary, _keepInProcess;

    [GlobalSetup]
    public void Setup()
    {
        Library.Ensure();
        InProcessHeap.Ensure();
        _ptrs = (void**)NativeMemory.AllocZeroed(N, (nuint)sizeof(void*));
        _keepLibrary = Native.ObjMalloc(Size);
        _keepInProcess = Domains.Malloc(ref Domains.Obj, Size, Call.UnknownCaller);
        if (Native.ObjMallocMany(Size, N, _ptrs) != N)
            throw new InvalidOperationException($"phn_obj_malloc_many: {Library.LastError()}");
        Native.ObjFreeMany(_ptrs, N);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Native.ObjFree(_keepLibrary);
        Domains.Free(ref Domains.Obj, _keepInProcess, Call.UnknownCaller);
        NativeMemory.Free(_ptrs);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "NativeMemory.Alloc / Free, per block")]
    public void NativeMemoryLoop()
    {
        void** p = _ptrs;
        for (int i = 0; i < N; i++)
            p[i] = NativeMemory.Alloc(Size);
        for (int i = 0; i < N; i++)
            NativeMemory.Free(p[i]);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "P/Invoke phn_obj_malloc / phn_obj_free, per block")]
    public void PInvokeLoop()
    {
        void** p = _ptrs;
        for (int i = 0; i < N; i++)
            p[i] = Native.ObjMalloc(Size);
        for (int i = 0; i < N; i++)
            Native.ObjFree(p[i]);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "P/Invoke phn_obj_malloc_many / free_many (1024), per block")]
    public void PInvokeMany()
    {
        Native.ObjMallocMany(Size, N, _ptrs);
        Native.ObjFreeMany(_ptrs, N);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "P/Invoke phn_obj_malloc_many / free_many (16), per block")]
    public void PInvokeManySmall()
    {
        void** p = _ptrs;
        for (int i = 0; i < N; i += Small)
            Native.ObjMallocMany(Size, Small, p + i);
        for (int i = 0; i < N; i += Small)
            Native.ObjFreeMany(p + i, Small);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "in-process Domains.Malloc / Free (OBJ), per block")]
    public void InProcessLoop()
    {
        void** p = _ptrs;
        for (int i = 0; i < N; i++)
            p[i] = Domains.Malloc(ref Domains.Obj, Size, Call.UnknownCaller);
        for (int i = 0; i < N; i++)
            Domains.Free(ref Domains.Obj, p[i], Call.UnknownCaller);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "in-process Domains.MallocMany / FreeMany (OBJ, 1024), per block")]
    public void InProcessMany()
    {
        Domains.MallocMany(ref Domains.Obj, Size, N, _ptrs, Call.UnknownCaller);
        Domains.FreeMany(ref Domains.Obj, _ptrs, N, Call.UnknownCaller);
    }
}
