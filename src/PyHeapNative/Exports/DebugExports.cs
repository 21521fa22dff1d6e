// Mirrors include/pyheapnative/phn_debug.h.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Debug;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static class DebugExports
{
    [UnmanagedCallersOnly(EntryPoint = "phn_setup_debug_hooks", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetupDebugHooks()
    {
        try
        {
            Startup.Ensure();
            return DebugHooks.Setup() ? Status.Ok : Errors.Report(Status.NoMemory, "phn_setup_debug_hooks: out of memory");
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_setup_debug_hooks"); }
    }
}
