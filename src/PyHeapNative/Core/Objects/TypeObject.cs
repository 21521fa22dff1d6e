// A type (phn_type): what phn_type_new copied out of a phn_type_spec, in native memory
// that is never freed, so that objects can point at it from C.
using System.Runtime.InteropServices;
using System.Text;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Objects;

internal static class TypeFlags
{
    internal const uint HaveGc = 1u << 0;
    internal const uint WeakRefable = 1u << 1;
    internal const uint ItemsAreRefs = 1u << 2;
    internal const uint UntrackAtomic = 1u << 3;
    internal const uint Public = HaveGc | WeakRefable | ItemsAreRefs | UntrackAtomic;

    // Library-internal bits (never set by a spec).
    internal const uint IsWeakref = 1u << 16;     // the weak-reference type
    internal const uint HasLayoutRefs = 1u << 17; // ref_count > 0 or ItemsAreRefs
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TypeObject
{
    internal const uint MagicValue = 0x544e4850;   // "PHNT"

    public uint Magic;
    public uint Flags;
    public nint BasicSize;
    public nint ItemSize;
    public nint PreSize;            // bytes of headers before the object
    public uint* RefOffsets;        // the layout's reference fields
    public int RefCount;
    public byte* Name;              // UTF-8, NUL-terminated
    public delegate* unmanaged[Cdecl]<PhnObject*, delegate* unmanaged[Cdecl]<PhnObject*, void*, int>, void*, int> Traverse;
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Clear;
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Finalize;
    public delegate* unmanaged[Cdecl]<PhnObject*, int> Del;
    public delegate* unmanaged[Cdecl]<PhnObject*, void> Dealloc;
}

/// <summary>The phn_type_spec of the header (phn_object.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TypeSpec
{
    public uint StructSize;
    public uint Flags;
    public byte* Name;
    public long BasicSize;
    public long ItemSize;
    public uint* RefOffsets;
    public uint RefCount;
    public uint Reserved;
    public void* Traverse;
    public void* Clear;
    public void* Finalize;
    public void* Del;
    public void* Dealloc;
}

internal static unsafe class Types
{
    private const int MaxTypes = 1 << 16;
    private static TypeObject** s_all;    // every type created, for the debug checks
    private static int s_count;
    private static HeapLock s_lock;

    /// <summary>How many types have PHN_TPFLAGS_UNTRACK_ATOMIC (the collector skips the
    /// untracking pass while there are none).</summary>
    internal static int UntrackAtomicTypes;

    internal static string NameOf(TypeObject* t) =>
        t == null ? "NULL" : Marshal.PtrToStringUTF8((nint)t->Name) ?? "?";

    /// <summary>phn_type_new. Returns null with the reason in error.</summary>
    internal static TypeObject* Create(TypeSpec* spec, out string? error)
    {
        error = Check(spec);
        if (error != null)
            return null;

        bool gc = (spec->Flags & TypeFlags.HaveGc) != 0;
        bool weak = (spec->Flags & TypeFlags.WeakRefable) != 0;
        int nameLength = 0;
        while (spec->Name[nameLength] != 0)
            nameLength++;

        nuint size = (nuint)sizeof(TypeObject) + (nuint)spec->RefCount * 4 + (nuint)nameLength + 1;
        byte* block = (byte*)Libc.Calloc(1, size);
        if (block == null)
        {
            error = "phn_type_new: out of memory";
            return null;
        }
        var t = (TypeObject*)block;
        t->RefOffsets = (uint*)(block + sizeof(TypeObject));
        for (uint i = 0; i < spec->RefCount; i++)
            t->RefOffsets[i] = spec->RefOffsets[i];
        t->RefCount = (int)spec->RefCount;
        t->Name = (byte*)(t->RefOffsets + spec->RefCount);
        Buffer.MemoryCopy(spec->Name, t->Name, nameLength + 1, nameLength + 1);
        t->Flags = spec->Flags;
        if (spec->RefCount > 0 || (spec->Flags & TypeFlags.ItemsAreRefs) != 0)
            t->Flags |= TypeFlags.HasLayoutRefs;
        t->BasicSize = (nint)spec->BasicSize;
        t->ItemSize = (nint)spec->ItemSize;
        t->PreSize = (gc ? ObjectLayout.GcHeadSize : 0) + (weak ? ObjectLayout.WeakSlotSize : 0);
        t->Traverse = (delegate* unmanaged[Cdecl]<PhnObject*, delegate* unmanaged[Cdecl]<PhnObject*, void*, int>, void*, int>)spec->Traverse;
        t->Clear = (delegate* unmanaged[Cdecl]<PhnObject*, int>)spec->Clear;
        t->Finalize = (delegate* unmanaged[Cdecl]<PhnObject*, int>)spec->Finalize;
        t->Del = (delegate* unmanaged[Cdecl]<PhnObject*, int>)spec->Del;
        t->Dealloc = (delegate* unmanaged[Cdecl]<PhnObject*, void>)spec->Dealloc;
        t->Magic = TypeObject.MagicValue;
        if ((t->Flags & TypeFlags.UntrackAtomic) != 0)
            Interlocked.Increment(ref UntrackAtomicTypes);
        Register(t);
        return t;
    }

    private static string? Check(TypeSpec* spec)
    {
        const string F = "phn_type_new: ";
        if (spec == null)
            return F + "spec is NULL";
        if (spec->StructSize < (uint)sizeof(TypeSpec))
            return F + $"struct_size {spec->StructSize} is smaller than sizeof(phn_type_spec) = {sizeof(TypeSpec)}";
        if (spec->Name == null)
            return F + "name is NULL";
        string name = Marshal.PtrToStringUTF8((nint)spec->Name) ?? "";
        string T = F + $"type '{name}': ";
        if ((spec->Flags & ~TypeFlags.Public) != 0)
            return T + $"unknown flags 0x{spec->Flags & ~TypeFlags.Public:x}";
        if (spec->Reserved != 0)
            return T + "reserved must be 0";
        if (spec->ItemSize < 0)
            return T + $"itemsize {spec->ItemSize} is negative";
        long minimum = spec->ItemSize != 0 ? ObjectLayout.VarHeaderSize : ObjectLayout.HeaderSize;
        if (spec->BasicSize < minimum)
            return T + $"basicsize {spec->BasicSize} is smaller than the header ({minimum} bytes{(spec->ItemSize != 0 ? ", phn_varobject" : ", phn_object")})";
        if (spec->BasicSize % 8 != 0)
            return T + $"basicsize {spec->BasicSize} is not a multiple of 8";
        if (spec->BasicSize > int.MaxValue || spec->ItemSize > int.MaxValue)
            return T + "basicsize or itemsize is too large";
        if ((spec->Flags & TypeFlags.ItemsAreRefs) != 0 && spec->ItemSize != 8)
            return T + $"PHN_TPFLAGS_ITEMS_ARE_REFS needs itemsize 8 (sizeof(phn_object*)), not {spec->ItemSize}";
        if (spec->RefCount > 0 && spec->RefOffsets == null)
            return T + $"ref_offsets is NULL with ref_count {spec->RefCount}";
        if (spec->RefCount > 4096)
            return T + $"ref_count {spec->RefCount} is larger than the 4096 supported";
        for (uint i = 0; i < spec->RefCount; i++)
        {
            uint off = spec->RefOffsets[i];
            if (off < minimum)
                return T + $"reference offset {off} (ref_offsets[{i}]) is inside the object header ({minimum} bytes)";
            if ((long)off + 8 > spec->BasicSize)
                return T + $"reference offset {off} (ref_offsets[{i}]) is outside the object (basicsize {spec->BasicSize})";
            if (off % 8 != 0)
                return T + $"reference offset {off} (ref_offsets[{i}]) is not 8-byte aligned";
            for (uint j = 0; j < i; j++)
                if (spec->RefOffsets[j] == off)
                    return T + $"reference offset {off} is repeated (ref_offsets[{j}] and [{i}])";
        }
        return null;
    }

    private static void Register(TypeObject* t)
    {
        s_lock.Enter();
        if (s_all == null)
            s_all = (TypeObject**)Libc.Calloc(MaxTypes, (nuint)sizeof(void*));
        if (s_all != null && s_count < MaxTypes)
            s_all[s_count++] = t;
        s_lock.Exit();
    }

    /// <summary>A type pointer that phn_type_new returned (debug checks; reads no memory
    /// through t before it is known).</summary>
    internal static bool IsKnown(TypeObject* t)
    {
        if (t == null)
            return false;
        s_lock.Enter();
        bool found = false;
        for (int i = 0; i < s_count && !found; i++)
            found = s_all[i] == t;
        s_lock.Exit();
        return found;
    }
}
