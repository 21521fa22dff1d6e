// ObjectBenchmarks.cs - one object of a layout-described GC type (24 B: the header and one
// reference, plus the 16 B GC header) created and released: phn_object_new + phn_decref
// through the exports, Objects.Allocate + Objects.DecRef in-process, and a zeroed 40 B
// NativeMemory block as the baseline (the memory alone, no header, no tracking).
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using PyHeapNative.Core.Objects;
using PyHeapNative.Interop;
using CoreObjects = PyHeapNative.Core.Objects.Objects;

namespace PyHeapNative.Benchmarks;

[MemoryDiagnoser]
public unsafe class ObjectBenchmarks
{
    private PhnType* _libType;
    private TypeObject* _coreType;
    private void* _keepLibrary, _keepInProcess;

    [GlobalSetup]
    public void Setup()
    {
        _libType = Rings.LibraryNodeType();
        _coreType = Rings.CoreNodeType();
        // One other live object of the size class in each heap (see PairBenchmarks).
        _keepLibrary = Native.ObjectNew(_libType);
        _keepInProcess = CoreObjects.Allocate(_coreType, 0, track: true);
        if (_keepLibrary == null || _keepInProcess == null)
            throw new OutOfMemoryException();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Native.Decref((Interop.PhnObject*)_keepLibrary);
        CoreObjects.DecRef((Core.Objects.PhnObject*)_keepInProcess);
    }

    [Benchmark(Baseline = true, Description = "NativeMemory.AllocZeroed(40)+Free")]
    public void NativeMemoryZeroed()
    {
        void* p = NativeMemory.AllocZeroed(16 + Rings.NodeSize);
        *(long*)p = 1;
        NativeMemory.Free(p);
    }

    [Benchmark(Description = "P/Invoke phn_object_new+phn_decref (GC layout type)")]
    public void PInvokeObject() => Native.Decref(Native.ObjectNew(_libType));

    [Benchmark(Description = "in-process Objects.Allocate+DecRef (GC layout type)")]
    public void InProcessObject() => CoreObjects.DecRef(CoreObjects.Allocate(_coreType, 0, track: true));
}
