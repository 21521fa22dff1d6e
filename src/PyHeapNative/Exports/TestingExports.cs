// Mirrors include/pyheapnative/phn_testing.h.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static class TestingExports
{
    [UnmanagedCallersOnly(EntryPoint = "phn_testing_inject_fault", CallConvs = [typeof(CallConvCdecl)])]
    public static int InjectFault(int fault, int countdown)
    {
        try
        {
            Startup.Ensure();
            if (fault < (int)Fault.None || fault > (int)Fault.ThrowInStats)
                return Errors.Report(Status.InvalidArgument, $"phn_testing_inject_fault: unknown fault {fault}");
            if (fault != (int)Fault.None && countdown < 1)
                return Errors.Report(Status.InvalidArgument, $"phn_testing_inject_fault: countdown {countdown} must be at least 1");
            FaultInjection.Arm((Fault)fault, countdown);
            return Status.Ok;
        }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_testing_inject_fault"); }
    }
}
