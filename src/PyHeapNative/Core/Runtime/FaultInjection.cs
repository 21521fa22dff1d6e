// Faults armed by phn_testing_inject_fault, so tests can prove that an exception deep in
// the library becomes an error at the C boundary. Checked only on slow paths.
using System.Runtime.CompilerServices;

namespace PyHeapNative.Core.Runtime;

internal enum Fault
{
    None = 0,
    ThrowInNewArena = 1,   // PHN_FAULT_THROW_IN_NEW_ARENA
    ThrowInStats = 2,      // PHN_FAULT_THROW_IN_STATS
}

internal static class FaultInjection
{
    private static int s_fault;
    private static int s_countdown;

    internal static void Arm(Fault fault, int countdown)
    {
        s_countdown = countdown;
        Volatile.Write(ref s_fault, (int)fault);
    }

    /// <summary>Throws if this fault is armed and its countdown reaches zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(Fault fault)
    {
        if (Volatile.Read(ref s_fault) == (int)fault)
            Hit(fault);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Hit(Fault fault)
    {
        if (Interlocked.Decrement(ref s_countdown) != 0)
            return;
        Volatile.Write(ref s_fault, (int)Fault.None);
        throw new InvalidOperationException($"injected fault {fault}");
    }
}
