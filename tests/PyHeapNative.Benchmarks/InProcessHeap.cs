// InProcessHeap.cs - the library's Core compiled into this assembly (see the .csproj) and
// started the way Exports/Startup.cs starts it, minus what only the C boundary needs. Its
// state (pools, arenas, generations) is separate from the libpyheapnative.so loaded in the
// same process: two heaps side by side, one called directly, one through its exports.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;

namespace PyHeapNative.Benchmarks;

internal static unsafe class InProcessHeap
{
    private static readonly object s_lock = new();
    private static bool s_started;

    /// <summary>Startup.Start without the environment: RAW on malloc, MEM and OBJ on pymalloc.</summary>
    internal static void Ensure()
    {
        lock (s_lock)
        {
            if (s_started)
                return;
            // Startup.RegisterBuiltins: the built-in C tables (phn_get_allocator's answers;
            // the fast paths call the backends directly) and the arena allocator.
            RawDomain.Entry.Kind = Backend.Malloc;
            AllocatorRegistry.RegisterBuiltins(
                new AllocatorTable { Malloc = &RawMalloc, Calloc = &RawCalloc, Realloc = &RawRealloc, Free = &RawFree },
                new AllocatorTable { Malloc = &PymallocMalloc, Calloc = &PymallocCalloc, Realloc = &PymallocRealloc, Free = &PymallocFree });
            var arena = (ArenaAllocatorTable*)NativeMemory.Alloc((nuint)sizeof(ArenaAllocatorTable));
            *arena = new ArenaAllocatorTable { Alloc = &ArenaAlloc, Free = &ArenaFree };
            ArenaAllocator.RegisterBuiltin(arena);
            // Startup.StartObjects, with the object layer's shared words its own (ObjectState:
            // no C to share them with). Not here: GcVisitors.Register (the C-callable visitors
            // live in Exports) and NativeVisitors.Register (Native/phn_gc_visit.c is linked
            // into the .so only): both serve callback-described types, and the benchmarks
            // use layout-described ones. The debug hooks' and tracer's C tables are not
            // registered either: the environment is not read, so neither is installed.
            Collector.Initialize();
            if (!ObjectState.InitializeUnshared() || !Generations.Initialize() || !Weakrefs.Initialize() || !Pymalloc.Initialize())
                throw new OutOfMemoryException("in-process heap: no memory for its tables");
            s_started = true;
        }
    }

    /// <summary>A type as phn_type_new makes it; the spec's arrays are copied.</summary>
    internal static TypeObject* NewType(string name, uint flags, long basicSize, ReadOnlySpan<uint> refOffsets)
    {
        Ensure();
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* n = utf8)
        fixed (uint* offsets = refOffsets)
        {
            var spec = new TypeSpec
            {
                StructSize = (uint)sizeof(TypeSpec),
                Flags = flags,
                Name = n,
                BasicSize = basicSize,
                RefOffsets = offsets,
                RefCount = (uint)refOffsets.Length,
            };
            TypeObject* t = Types.Create(&spec, out string? error);
            return t != null ? t : throw new InvalidOperationException(error);
        }
    }

    // The C-callable twins of Exports/Callbacks.cs (without its exception guards).

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* RawMalloc(void* ctx, nuint size) => RawDomain.BuiltinMalloc(size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* RawCalloc(void* ctx, nuint nelem, nuint elsize) => RawDomain.BuiltinCalloc(nelem, elsize);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* RawRealloc(void* ctx, void* ptr, nuint size) => RawDomain.BuiltinRealloc(ptr, size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void RawFree(void* ctx, void* ptr) => RawDomain.BuiltinFree(ptr);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* PymallocMalloc(void* ctx, nuint size) => Pymalloc.Malloc(size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* PymallocCalloc(void* ctx, nuint nelem, nuint elsize) => Pymalloc.Calloc(nelem, elsize);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* PymallocRealloc(void* ctx, void* ptr, nuint size) => Pymalloc.Realloc(ptr, size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void PymallocFree(void* ctx, void* ptr) => Pymalloc.Free(ptr);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* ArenaAlloc(void* ctx, nuint size) => ArenaAllocator.BuiltinAlloc(size);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void ArenaFree(void* ctx, void* ptr, nuint size) => ArenaAllocator.BuiltinFree(ptr, size);
}
