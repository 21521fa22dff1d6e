// Mirrors include/pyheapnative/phn_runtime.h (same order).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Exports;

internal static unsafe class RuntimeExports
{
    private const string Prefix = "phn_";
    internal const uint Version = 0 * 10000 + 1 * 100 + 0;   // PHN_VERSION

    [UnmanagedCallersOnly(EntryPoint = Prefix + "init", CallConvs = [typeof(CallConvCdecl)])]
    public static int Init()
    {
        try { return Startup.Start(); }
        catch (Exception e) { return ExportGuard.Failed(e, "phn_init"); }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "version", CallConvs = [typeof(CallConvCdecl)])]
    public static uint GetVersion() => Version;

    [UnmanagedCallersOnly(EntryPoint = Prefix + "last_error_message", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* LastErrorMessage() => Errors.LastMessage;

    [UnmanagedCallersOnly(EntryPoint = Prefix + "last_error_code", CallConvs = [typeof(CallConvCdecl)])]
    public static int LastErrorCode() => Errors.LastCode;

    [UnmanagedCallersOnly(EntryPoint = Prefix + "clear_error", CallConvs = [typeof(CallConvCdecl)])]
    public static void ClearError() => Errors.Clear();

    [UnmanagedCallersOnly(EntryPoint = Prefix + "set_error_handler", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetErrorHandler(delegate* unmanaged[Cdecl]<void*, int, byte*, void> handler, void* ctx)
    {
        Errors.SetHandler(handler, ctx);
        return Status.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "set_fatal_handler", CallConvs = [typeof(CallConvCdecl)])]
    public static int SetFatalHandler(delegate* unmanaged[Cdecl]<void*, byte*, void> handler, void* ctx)
    {
        Fatal.SetHandler(handler, ctx);
        return Status.Ok;
    }
}
