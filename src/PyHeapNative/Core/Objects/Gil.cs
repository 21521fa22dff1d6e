// The global lock of the object heap (CPython's GIL, DESIGN.md §3): recursive, owned by one
// thread. Every object/gc/weakref export takes it for the call when the calling thread does
// not hold it (EnterIfNeeded); phn_gil_ensure / phn_gil_release let C hold it across calls.
// Uncontended: one compare-exchange to take, one store to give back. Contended: spin
// briefly, then yield — a collection may hold it for long, so waiting threads must not burn
// the CPU.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Objects;

internal static unsafe class Gil
{
    // Libc.CurrentThread() of the holder, 0 when free: ObjectState's word, so that C
    // (Native/phn_dealloc.c) can tell, without a transition, that its caller holds the GIL.
    private static nuint* s_owner;

    internal static bool Initialize()
    {
        s_owner = &ObjectState.Words->GilOwner;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsHeld() => Volatile.Read(ref *s_owner) == Libc.CurrentThread();

    /// <summary>Takes the lock unless this thread holds it; true if this call took it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool EnterIfNeeded()
    {
        nuint me = Libc.CurrentThread();
        if (Volatile.Read(ref *s_owner) == me)
            return false;
        if (Interlocked.CompareExchange(ref *s_owner, me, (nuint)0) != 0)
            EnterContended(me);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Exit() => Volatile.Write(ref *s_owner, (nuint)0);

    /// <summary>phn_gil_release: gives the lock back if the matching ensure took it; false
    /// if this thread does not hold the lock.</summary>
    internal static bool Release(bool tookIt)
    {
        if (!IsHeld())
            return false;
        if (tookIt)
            Exit();
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void EnterContended(nuint me)
    {
        int spins = 0;
        while (true)
        {
            if (Volatile.Read(ref *s_owner) == 0 && Interlocked.CompareExchange(ref *s_owner, me, (nuint)0) == 0)
                return;
            if (++spins < 100)
                Thread.SpinWait(16);
            else
                Thread.Sleep(spins < 200 ? 0 : 1);
        }
    }
}
