// Mirrors include/pyheapnative/phn_gil.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static class GilExports
{
    private const int Locked = 0, Unlocked = 1;   // PHN_GIL_LOCKED / PHN_GIL_UNLOCKED

    [UnmanagedCallersOnly(EntryPoint = "phn_gil_ensure", CallConvs = [typeof(CallConvCdecl)])]
    public static int Ensure()
    {
        Startup.Ensure();
        return Gil.EnterIfNeeded() ? Unlocked : Locked;
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gil_release", CallConvs = [typeof(CallConvCdecl)])]
    public static int Release(int state)
    {
        try
        {
            Startup.Ensure();
            if (state != Locked && state != Unlocked)
                return Errors.Report(Status.InvalidArgument, $"phn_gil_release: state {state} is neither PHN_GIL_LOCKED nor PHN_GIL_UNLOCKED");
            if (!Gil.Release(state == Unlocked))
                return Errors.Report(Status.InvalidState, "phn_gil_release: this thread does not hold the GIL");
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_gil_release"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "phn_gil_held", CallConvs = [typeof(CallConvCdecl)])]
    public static int Held()
    {
        Startup.Ensure();
        return Gil.IsHeld() ? 1 : 0;
    }
}
