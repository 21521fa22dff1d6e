// pymalloc's fast path in C (Native/phn_entry.c): the MEM/OBJ entry points do the common
// malloc and free themselves, on pymalloc's structures and under its class locks, while the
// domain is served by plain pymalloc; they read the domain's Kind byte on every call, so
// installing hooks, tracing or a custom allocator sends every call here again at once.
// Configure hands over the addresses once the library is started.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Domains;

internal static unsafe class NativeFastPath
{
#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_fast_configure")]
    [SuppressGCTransition]
    private static extern void NativeConfigure(byte* memKind, byte* objKind, byte* classLines, void*** arenaRoot);
#endif

    internal static void Configure()
    {
#if !PHN_WINDOWS
        if (Pymalloc.Pymalloc.ClassLines == null || Pymalloc.ArenaMap.Root == null)
            return;
        // DomainEntry.Kind is its first field; statics of unmanaged types never move.
        NativeConfigure((byte*)Unsafe.AsPointer(ref Domains.Mem), (byte*)Unsafe.AsPointer(ref Domains.Obj),
            Pymalloc.Pymalloc.ClassLines, Pymalloc.ArenaMap.Root);
#endif
    }
}
