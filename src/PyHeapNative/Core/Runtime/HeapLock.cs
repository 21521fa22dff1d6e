// A test-and-test-and-set spin lock for pymalloc's shared state.
//
// Uncontended it costs one locked compare-exchange to enter and one plain store to leave.
// Critical sections are short on the allocation paths (a few dozen instructions; the heap
// walks of statistics and phn_validate are the exception) and never call user code (arena
// allocators, hooks and handlers run outside), so spinning briefly, then yielding the CPU,
// is enough. Not recursive.
using System.Runtime.CompilerServices;

namespace PyHeapNative.Core.Runtime;

internal struct HeapLock
{
    private int _taken;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        if (Interlocked.CompareExchange(ref _taken, 1, 0) != 0)
            EnterContended();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref _taken, 0);

    public readonly bool IsHeld => Volatile.Read(in _taken) != 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        int spins = 0;
        while (true)
        {
            if (Volatile.Read(ref _taken) == 0 && Interlocked.CompareExchange(ref _taken, 1, 0) == 0)
                return;
            if (++spins < 64)
                Thread.SpinWait(8);
            else
                Thread.Yield();
        }
    }
}
