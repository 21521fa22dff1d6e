// PairBenchmarks.cs - malloc(32) + free, one pair per operation (the `pair` workload of the
// C harness, native-tests/bench/): .NET's own ways to get native memory, the library through
// its exports (P/Invoke), two calls of an export that does nothing (the boundary alone), and
// the library's fast paths called in-process.
//
// As in the C harness, one other 32 B block stays live in each heap: without it pymalloc's
// only 32 B pool empties at every free and is taken again at every malloc.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Interop;

namespace PyHeapNative.Benchmarks;

[MemoryDiagnoser]
public unsafe class PairBenchmarks
{
    private const nuint Size = 32;
    private void* _keepLibrary, _keepInProcess;

    [GlobalSetup]
    public void Setup()
    {
        Library.Ensure();
        InProcessHeap.Ensure();
        _keepLibrary = Native.ObjMalloc(Size);
        _keepInProcess = Pymalloc.Malloc(Size);
        if (_keepLibrary == null || _keepInProcess == null)
            throw new OutOfMemoryException();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Native.ObjFree(_keepLibrary);
        Pymalloc.Free(_keepInProcess);
    }

    [Benchmark(Baseline = true, Description = "NativeMemory.Alloc+Free")]
    public void NativeMemoryAlloc()
    {
        void* p = NativeMemory.Alloc(Size);
        *(byte*)p = 1;
        NativeMemory.Free(p);
    }

    [Benchmark(Description = "Marshal.AllocHGlobal+FreeHGlobal")]
    public void MarshalAllocHGlobal()
    {
        nint p = Marshal.AllocHGlobal((nint)Size);
        *(byte*)p = 1;
        Marshal.FreeHGlobal(p);
    }

    [Benchmark(Description = "P/Invoke phn_obj_malloc+phn_obj_free")]
    public void PInvokeObj()
    {
        void* p = Native.ObjMalloc(Size);
        *(byte*)p = 1;
        Native.ObjFree(p);
    }

    [Benchmark(Description = "P/Invoke phn_mem_malloc+phn_mem_free")]
    public void PInvokeMem()
    {
        void* p = Native.MemMalloc(Size);
        *(byte*)p = 1;
        Native.MemFree(p);
    }

    /// <summary>glibc's malloc behind the export: against NativeMemory.Alloc, the boundary alone.</summary>
    [Benchmark(Description = "P/Invoke phn_raw_malloc+phn_raw_free")]
    public void PInvokeRaw()
    {
        void* p = Native.RawMalloc(Size);
        *(byte*)p = 1;
        Native.RawFree(p);
    }

    /// <summary>Two calls of an export that returns a constant: the boundary alone, for a pair
    /// of calls (CoreCLR's P/Invoke transition + the Native AOT library's reverse one).</summary>
    [Benchmark(Description = "P/Invoke phn_version x2 (the calls alone)")]
    public uint PInvokeEmptyPair() => Native.Version() + Native.Version();

    [Benchmark(Description = "in-process Pymalloc.Malloc+Free")]
    public void InProcessPymalloc()
    {
        void* p = Pymalloc.Malloc(Size);
        *(byte*)p = 1;
        Pymalloc.Free(p);
    }

    [Benchmark(Description = "in-process Domains.Malloc+Free (OBJ)")]
    public void InProcessDomainObj()
    {
        void* p = Domains.Malloc(ref Domains.Obj, Size, Call.UnknownCaller);
        *(byte*)p = 1;
        Domains.Free(ref Domains.Obj, p, Call.UnknownCaller);
    }
}
