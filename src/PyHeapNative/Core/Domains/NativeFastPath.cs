// The common cases in C (Native/phn_entry.c, phn_fast.h): the MEM/OBJ entry points do the
// common malloc and free themselves, on pymalloc's structures and under its class locks,
// while the domain is served by pymalloc, by the debug hooks over pymalloc or by the tracer
// over pymalloc; they read the domain's entry on every call, so installing hooks, tracing or
// a custom allocator takes effect at once. Configure hands over the addresses once the
// library is started (the tracer's: Tracer.ConfigureNative).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

using PyHeapNative.Core.Raw;

namespace PyHeapNative.Core.Domains;

internal static unsafe class NativeFastPath
{
#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_fast_configure")]
    [SuppressGCTransition]
    private static extern void NativeConfigure(DomainEntry* mem, DomainEntry* obj, byte* classLines, void*** arenaRoot,
        Runtime.HeapLock* arenaLock);
#endif

    internal static void Configure()
    {
#if !PHN_WINDOWS
        if (Pymalloc.Pymalloc.ClassLines == null || Pymalloc.ArenaMap.Root == null)
            return;
        Pymalloc.HeapBias.Configure();   // before any heap can be claimed
        // Statics of unmanaged types never move. The arena lock is for fork (Native/phn_fork.c).
        NativeConfigure((DomainEntry*)Unsafe.AsPointer(ref Domains.Mem), (DomainEntry*)Unsafe.AsPointer(ref Domains.Obj),
            Pymalloc.Pymalloc.ClassLines, Pymalloc.ArenaMap.Root,
            (Runtime.HeapLock*)Unsafe.AsPointer(ref Pymalloc.Pymalloc.ArenaLock));
#endif
    }
}
