// The words the object layer shares with C (Native/phn_dealloc.c, object_state in
// phn_gc_layout.h): the GIL's owner, the trashcan, generation 0's list, count and threshold,
// whether automatic collection is on. C's common paths (phn_object_new and the like,
// phn_dealloc, phn_object_free, phn_gc_untrack) read and write them without a transition;
// Gil, Objects and Generations reach them through Words. On Windows, where the library has
// no C, and in a Core hosted without the library's C (the in-process benchmarks), they are
// memory of their own (InitializeUnshared).
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Objects;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ObjectStateWords
{
    public nuint GilOwner;             // Libc.CurrentThread() of the GIL's holder, 0 when free
    public PhnObject* DeleteLater;     // the trashcan's deposited objects
    public int DeleteNesting;          // deallocs running, one inside the other
    public int Count0;                 // generation 0's count
    public GcHead* Generation0;        // generation 0's list head
    public int Threshold0;             // a track collects when count0 is already at it (Generations.Track)
    public int Enabled;                // automatic collection on (1) or off (0)
}

internal static unsafe class ObjectState
{
    internal static ObjectStateWords* Words;

    internal static bool Initialize()
    {
#if PHN_WINDOWS
        return InitializeUnshared();
#else
        Words = StateAddress();
        return Words != null;
#endif
    }

    internal static bool InitializeUnshared()
    {
        Words = (ObjectStateWords*)Libc.Calloc(1, (nuint)sizeof(ObjectStateWords));
        return Words != null;
    }

#if !PHN_WINDOWS
    [DllImport("phn_native", EntryPoint = "phnimpl_object_state_address")]
    [SuppressGCTransition]
    private static extern ObjectStateWords* StateAddress();
#endif
}
