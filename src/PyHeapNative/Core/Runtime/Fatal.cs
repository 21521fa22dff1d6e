// Fatal conditions (phn_set_fatal_handler). The default prints "Fatal error: <message>" on
// stderr and aborts, as CPython's Py_FatalError does. An installed handler may return; the
// caller then abandons its operation and leaves the heap as it was.
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Runtime;

internal static unsafe class Fatal
{
    private static delegate* unmanaged[Cdecl]<void*, byte*, void> s_handler;
    private static void* s_handlerContext;

    internal static void SetHandler(delegate* unmanaged[Cdecl]<void*, byte*, void> handler, void* context)
    {
        s_handlerContext = context;
        s_handler = handler;
    }

    /// <summary>Reports a fatal condition. Returns only if an installed handler returns.</summary>
    internal static void Error(string message)
    {
        int capacity = message.Length * 3 + 32;
        byte* buf = stackalloc byte[Math.Min(capacity, 4096)];
        var handler = s_handler;
        if (handler != null)
        {
            int n = Errors.Utf8Truncated(message, new Span<byte>(buf, Math.Min(capacity, 4096) - 1));
            buf[n] = 0;
            handler(s_handlerContext, buf);
            return;
        }
        int len = Errors.Utf8Truncated("Fatal error: " + message + "\n", new Span<byte>(buf, Math.Min(capacity, 4096)));
        Libc.WriteStderr(buf, (nuint)len);
        Libc.Abort();
    }
}
