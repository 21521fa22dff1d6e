// The gc module's state beyond the generations (spec-gc §6.1, §11): debug flags, per-
// generation statistics, gc.garbage, gc.callbacks and where the debug output goes. GIL held.
using System.Text;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Gc;

internal struct GenerationStats
{
    public long Collections;
    public long Collected;
    public long Uncollectable;
    public long Candidates;
    public double Duration;
}

internal static unsafe class GcState
{
    internal const int DebugStats = 1, DebugCollectable = 2, DebugUncollectable = 4, DebugSaveAll = 32;

    internal static int DebugFlags;
    internal static GenerationStats Stats0, Stats1, Stats2;

    internal static ref GenerationStats Stats(int generation)
    {
        if (generation == 0)
            return ref Stats0;
        if (generation == 1)
            return ref Stats1;
        return ref Stats2;
    }

    // ---- gc.garbage: strong references, in a native array ------------------------------

    private static PhnObject** s_garbage;
    private static long s_garbageCount, s_garbageCapacity;

    internal static long GarbageCount => s_garbageCount;

    internal static PhnObject* GarbageAt(long index) => s_garbage[index];

    /// <summary>Appends with a new reference; false if memory ran out (nothing changed).</summary>
    internal static bool GarbageAppend(PhnObject* op)
    {
        if (s_garbageCount == s_garbageCapacity)
        {
            long capacity = s_garbageCapacity == 0 ? 16 : s_garbageCapacity * 2;
            var grown = (PhnObject**)Libc.Realloc(s_garbage, (nuint)capacity * (nuint)sizeof(void*));
            if (grown == null)
                return false;
            s_garbage = grown;
            s_garbageCapacity = capacity;
        }
        Objects.Objects.IncRef(op);
        s_garbage[s_garbageCount++] = op;
        return true;
    }

    /// <summary>del gc.garbage[:]: the list is emptied before any reference is released, so
    /// a dealloc that looks at it sees a consistent list.</summary>
    internal static void GarbageClear()
    {
        while (s_garbageCount > 0)
        {
            PhnObject* op = s_garbage[--s_garbageCount];
            Objects.Objects.DecRef(op);
        }
    }

    // ---- gc.callbacks -------------------------------------------------------------------

    internal struct CallbackEntry
    {
        public delegate* unmanaged[Cdecl]<void*, int, GcInfo*, int> Function;
        public void* Context;
    }

    private static CallbackEntry* s_callbacks;
    private static int s_callbackCount, s_callbackCapacity;

    internal static int CallbackCount => s_callbackCount;
    internal static CallbackEntry CallbackAt(int i) => s_callbacks[i];

    internal static bool AddCallback(delegate* unmanaged[Cdecl]<void*, int, GcInfo*, int> fn, void* ctx)
    {
        if (s_callbackCount == s_callbackCapacity)
        {
            int capacity = s_callbackCapacity == 0 ? 8 : s_callbackCapacity * 2;
            var grown = (CallbackEntry*)Libc.Realloc(s_callbacks, (nuint)capacity * (nuint)sizeof(CallbackEntry));
            if (grown == null)
                return false;
            s_callbacks = grown;
            s_callbackCapacity = capacity;
        }
        s_callbacks[s_callbackCount++] = new CallbackEntry { Function = fn, Context = ctx };
        return true;
    }

    internal static bool RemoveCallback(delegate* unmanaged[Cdecl]<void*, int, GcInfo*, int> fn, void* ctx)
    {
        for (int i = 0; i < s_callbackCount; i++)
        {
            if (s_callbacks[i].Function == fn && s_callbacks[i].Context == ctx)
            {
                for (int j = i + 1; j < s_callbackCount; j++)
                    s_callbacks[j - 1] = s_callbacks[j];
                s_callbackCount--;
                return true;
            }
        }
        return false;
    }

    // ---- debug output -----------------------------------------------------------------

    private static delegate* unmanaged[Cdecl]<void*, byte*, void> s_output;
    private static void* s_outputContext;

    internal static void SetOutput(delegate* unmanaged[Cdecl]<void*, byte*, void> output, void* context)
    {
        s_outputContext = context;
        s_output = output;
    }

    /// <summary>One line of debug output, without its newline.</summary>
    internal static void Output(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line + "\n");
        fixed (byte* b = bytes)
        {
            if (s_output != null)
            {
                b[bytes.Length - 1] = 0;
                s_output(s_outputContext, b);
            }
            else
            {
                Libc.WriteStderr(b, (nuint)bytes.Length);
            }
        }
    }
}

/// <summary>phn_gc_info of the header.</summary>
internal struct GcInfo
{
    public uint StructSize;
    public int Generation;
    public long Collected;
    public long Uncollectable;
    public long Candidates;
    public double Duration;
}
