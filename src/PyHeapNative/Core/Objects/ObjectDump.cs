// Diagnostics about objects: "<Node 0x7f...>" for the collector's debug output, and
// CPython's object dump (_PyObject_Dump) before a fatal error. Reads nothing through a type
// pointer that phn_type_new did not return, so a freed object is described, not followed.
using System.Text;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Objects;

internal static unsafe class ObjectDump
{
    internal static string Hex(void* p) => "0x" + ((ulong)p).ToString("x");

    /// <summary>"<Node 0x...>", as the collector's debug lines print an object.</summary>
    internal static string Describe(PhnObject* op) => $"<{Types.NameOf(op->Type)} {Hex(op)}>";

    /// <summary>True when the OBJ domain has the debug hooks (freed memory is 0xDD-filled):
    /// the collector and phn_gc_track then check that every referent is a live object.</summary>
    internal static bool DebugChecksEnabled
    {
        get
        {
            DomainEntry obj = Domains.Domains.Obj;
            return obj.Kind == Backend.Wrapper && obj.Table->Kind == WrapperKind.Debug;
        }
    }

    /// <summary>_PyObject_IsFreed: the type pointer is a debug pattern or not a type.</summary>
    internal static bool LooksFreed(PhnObject* op)
    {
        ulong t = (ulong)op->Type;
        if (t == 0 || t == 0xDDDDDDDDDDDDDDDDul || t == 0xCDCDCDCDCDCDCDCDul || t == 0xFDFDFDFDFDFDFDFDul)
            return true;
        return !Types.IsKnown(op->Type);
    }

    /// <summary>Prints the assertion and CPython's object dump on stderr, then raises the
    /// fatal error with the assertion as its message. Returns if the fatal handler returns.</summary>
    internal static void FatalAssertion(string assertion, PhnObject* op)
    {
        var o = new StringBuilder();
        o.Append(assertion).Append('\n');
        if (op != null)
        {
            o.Append("Enable tracemalloc to get the memory block allocation traceback\n\n");
            o.Append("object address  : ").Append(Hex(op)).Append('\n');
            if (LooksFreed(op))
            {
                o.Append("<object at ").Append(Hex(op)).Append(" is freed>\n");
            }
            else
            {
                o.Append("object refcount : ").Append((long)op->RefCnt).Append('\n');
                o.Append("object type     : ").Append(Hex(op->Type)).Append('\n');
                o.Append("object type name: ").Append(Types.NameOf(op->Type)).Append('\n');
            }
        }
        byte[] bytes = Encoding.UTF8.GetBytes(o.ToString());
        fixed (byte* b = bytes)
            Libc.WriteStderr(b, (nuint)bytes.Length);
        Fatal.Error(assertion);
    }
}
