// What an export does with an exception that reached it: nothing may cross the C boundary.
// The failure becomes the export's error value and a PHN_EINTERNAL last error.
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static unsafe class ExportGuard
{
    /// <summary>Records the exception and returns PHN_EINTERNAL.</summary>
    internal static int Failed(Exception e, string export)
    {
        try
        {
            return Errors.Report(Status.Internal, $"{export}: internal error: {e.GetType().Name}: {e.Message}");
        }
        catch
        {
            return Status.Internal;
        }
    }

    /// <summary>Records the exception; NULL with errno = ENOMEM, as an allocation failure.</summary>
    internal static void* AllocationFailed(Exception e, string export)
    {
        Failed(e, export);
        Libc.SetErrno(Libc.ENOMEM);
        return null;
    }
}
