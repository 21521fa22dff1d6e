// Rings.cs - a layout-described GC type (one phn_object* field at offset 16, as a node of the
// C harness's gcbench ring) and rings of its objects, built either through the bindings
// (the .so) or in-process (the Core compiled into this assembly).
using System.Runtime.InteropServices;
using PyHeapNative.Core.Objects;
using PyHeapNative.Interop;
using CoreObject = PyHeapNative.Core.Objects.PhnObject;
using CoreObjects = PyHeapNative.Core.Objects.Objects;
using LibObject = PyHeapNative.Interop.PhnObject;

namespace PyHeapNative.Benchmarks;

internal static unsafe class Rings
{
    internal const int NodeSize = 24;      // phn_object + one reference
    internal const uint NextOffset = 16;

    private static PhnType* s_libNode;
    private static TypeObject* s_coreNode;

    /// <summary>The node type in the .so, made with phn_type_new.</summary>
    internal static PhnType* LibraryNodeType()
    {
        if (s_libNode != null)
            return s_libNode;
        Library.Ensure();
        byte* name = (byte*)Marshal.StringToCoTaskMemUTF8("bench.node");
        uint offset = NextOffset;
        var spec = new PhnTypeSpec
        {
            StructSize = (uint)sizeof(PhnTypeSpec),
            Flags = Native.PHN_TPFLAGS_HAVE_GC,
            Name = name,
            Basicsize = NodeSize,
            RefOffsets = &offset,
            RefCount = 1,
        };
        PhnType* t = Native.TypeNew(&spec);
        Marshal.FreeCoTaskMem((nint)name);   // phn_type_new copies the name and the offsets
        return s_libNode = t != null ? t : throw new InvalidOperationException($"phn_type_new: {Library.LastError()}");
    }

    /// <summary>The same type in the in-process heap.</summary>
    internal static TypeObject* CoreNodeType() =>
        s_coreNode != null ? s_coreNode : s_coreNode = InProcessHeap.NewType("bench.node", TypeFlags.HaveGc, NodeSize, [NextOffset]);

    private static ref LibObject* Next(LibObject* op) => ref *(LibObject**)((byte*)op + NextOffset);
    private static ref CoreObject* Next(CoreObject* op) => ref *(CoreObject**)((byte*)op + NextOffset);

    /// <summary>n nodes, node i referring to node i+1 and the last to node 0, through the
    /// bindings (phn_object_new, phn_incref, phn_decref); the result is the only reference
    /// from outside the ring, to node 0.</summary>
    internal static LibObject* BuildInLibrary(int n)
    {
        PhnType* t = LibraryNodeType();
        var nodes = new LibObject*[n];
        for (int i = 0; i < n; i++)
            if ((nodes[i] = Native.ObjectNew(t)) == null)
                throw new OutOfMemoryException($"phn_object_new: {Library.LastError()}");
        for (int i = 0; i < n; i++)
            Next(nodes[i]) = Native.NewRef(nodes[(i + 1) % n]);
        for (int i = 1; i < n; i++)
            Native.Decref(nodes[i]);
        return nodes[0];
    }

    /// <summary>The same ring in the in-process heap (Objects.Allocate, IncRef, DecRef).</summary>
    internal static CoreObject* BuildInProcess(int n)
    {
        TypeObject* t = CoreNodeType();
        var nodes = new CoreObject*[n];
        for (int i = 0; i < n; i++)
            if ((nodes[i] = CoreObjects.Allocate(t, 0, track: true)) == null)
                throw new OutOfMemoryException("Objects.Allocate");
        for (int i = 0; i < n; i++)
        {
            CoreObject* next = nodes[(i + 1) % n];
            CoreObjects.IncRef(next);
            Next(nodes[i]) = next;
        }
        for (int i = 1; i < n; i++)
            CoreObjects.DecRef(nodes[i]);
        return nodes[0];
    }
}
