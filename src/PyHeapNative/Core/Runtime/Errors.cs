// The thread-local last error and the user's error handler (phn_last_error_message,
// phn_set_error_handler). Only error paths come here, so managed strings are fine.
using System.Text;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Runtime;

internal static unsafe class Errors
{
    private const int MessageCapacity = 1024;

    [ThreadStatic] private static int t_code;
    [ThreadStatic] private static byte* t_message;   // malloc'ed, MessageCapacity bytes

    private static delegate* unmanaged[Cdecl]<void*, int, byte*, void> s_handler;
    private static void* s_handlerContext;

    private static readonly byte s_empty = 0;

    internal static int LastCode => t_code;

    internal static byte* LastMessage
    {
        get
        {
            byte* m = t_message;
            if (m != null)
                return m;
            fixed (byte* e = &s_empty)
                return e;   // static data: never moves
        }
    }

    internal static void Clear()
    {
        t_code = 0;
        if (t_message != null)
            t_message[0] = 0;
    }

    internal static void SetHandler(delegate* unmanaged[Cdecl]<void*, int, byte*, void> handler, void* context)
    {
        // Context first, so a racing error sees a complete pair or the old handler.
        s_handlerContext = context;
        s_handler = handler;
    }

    /// <summary>Records the error for this thread and reports it to the handler. Returns code.</summary>
    internal static int Report(int code, string message)
    {
        byte* m = t_message;
        if (m == null)
        {
            m = (byte*)Libc.Malloc(MessageCapacity);
            if (m == null)
            {
                t_code = code;
                return code;
            }
            t_message = m;
        }
        int n = Utf8Truncated(message, new Span<byte>(m, MessageCapacity - 1));
        m[n] = 0;
        t_code = code;

        var handler = s_handler;
        if (handler != null)
            handler(s_handlerContext, code, m);
        return code;
    }

    /// <summary>The UTF-8 bytes of text that fit in dest, never splitting a character.</summary>
    internal static int Utf8Truncated(string text, Span<byte> dest)
    {
        if (Encoding.UTF8.TryGetBytes(text, dest, out int written))
            return written;
        int chars = text.Length;
        while (chars > 0)
        {
            chars = Math.Min(chars - 1, dest.Length);
            if (chars > 0 && char.IsLowSurrogate(text[chars]))
                chars--;
            if (Encoding.UTF8.TryGetBytes(text.AsSpan(0, chars), dest, out written))
                return written;
        }
        return 0;
    }
}
