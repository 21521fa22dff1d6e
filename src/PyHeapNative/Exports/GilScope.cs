// What every object, gc and weakref export does first: take the GIL for the call unless
// the calling thread holds it (DESIGN.md §3), and give it back on the way out.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Objects;

namespace PyHeapNative.Exports;

internal ref struct GilScope
{
    private bool _took;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static GilScope Enter()
    {
        Startup.Ensure();
        return new GilScope { _took = Gil.EnterIfNeeded() };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        if (_took)
            Gil.Exit();
    }
}
