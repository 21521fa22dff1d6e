// PyHeap.Gc.cs - the cyclic garbage collector (phn_gc.h) with the API of CPython's gc module:
// collect, enable/disable, counts, thresholds, stats, freeze, debug flags and output,
// callbacks, garbage and the listings.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Interop;

/// <summary>The collector's debug flags (CPython's <c>gc.DEBUG_*</c>).</summary>
[Flags]
public enum GcDebugFlags
{
    /// <summary>No debugging output.</summary>
    None = 0,
    /// <summary><c>DEBUG_STATS</c>: statistics of each collection.</summary>
    Stats = Native.PHN_GC_DEBUG_STATS,
    /// <summary><c>DEBUG_COLLECTABLE</c>: each collectable object found.</summary>
    Collectable = Native.PHN_GC_DEBUG_COLLECTABLE,
    /// <summary><c>DEBUG_UNCOLLECTABLE</c>: each uncollectable object found.</summary>
    Uncollectable = Native.PHN_GC_DEBUG_UNCOLLECTABLE,
    /// <summary><c>DEBUG_SAVEALL</c>: every unreachable object goes to the garbage list instead of being freed.</summary>
    SaveAll = Native.PHN_GC_DEBUG_SAVEALL,
    /// <summary><c>DEBUG_LEAK</c>: <see cref="Collectable"/> | <see cref="Uncollectable"/> | <see cref="SaveAll"/>.</summary>
    Leak = Native.PHN_GC_DEBUG_LEAK,
}

/// <summary>When a <see cref="PyHeap.Gc.Callbacks"/> handler is called.</summary>
public enum GcPhase
{
    /// <summary>The collection is starting.</summary>
    Start = Native.PHN_GC_PHASE_START,
    /// <summary>The collection has finished.</summary>
    Stop = Native.PHN_GC_PHASE_STOP,
}

/// <summary>What a <see cref="PyHeap.Gc.Callbacks"/> handler receives (CPython's <c>info</c> dict).</summary>
/// <param name="Generation">The oldest generation collected.</param>
/// <param name="Collected">Objects freed (0 at <see cref="GcPhase.Start"/>).</param>
/// <param name="Uncollectable">Objects put into the garbage list (0 at start).</param>
/// <param name="Candidates">Objects examined (0 at start).</param>
/// <param name="Duration">The collection's duration (zero at start).</param>
public readonly record struct GcCallbackInfo(int Generation, long Collected, long Uncollectable, long Candidates, TimeSpan Duration);

/// <summary>A collector callback (CPython's <c>gc.callbacks</c> entries).</summary>
/// <param name="phase">Start or stop of the collection.</param>
/// <param name="info">The collection's generation and, at stop, its results.</param>
public delegate void GcCallback(GcPhase phase, GcCallbackInfo info);

/// <summary>One generation's running totals (CPython's <c>gc.get_stats()</c> entries).</summary>
/// <param name="Generation">The generation, 0 to 2.</param>
/// <param name="Collections">Collections whose oldest generation was this one.</param>
/// <param name="Collected">Objects they freed.</param>
/// <param name="Uncollectable">Objects they found uncollectable.</param>
/// <param name="Candidates">Objects they examined.</param>
/// <param name="Duration">Their total duration.</param>
public sealed record GcGenerationStats(int Generation, long Collections, long Collected, long Uncollectable, long Candidates, TimeSpan Duration);

/// <summary>The collector's counts (CPython's <c>gc.get_count()</c>).</summary>
/// <param name="Generation0">Objects tracked minus GC objects freed since the last collection of generation 0.</param>
/// <param name="Generation1">Collections of generation 0 since generation 1 was collected.</param>
/// <param name="Generation2">Collections of generation 1 since generation 2 was collected.</param>
public readonly record struct GcCounts(int Generation0, int Generation1, int Generation2);

/// <summary>The collection thresholds (CPython's <c>gc.get_threshold()</c>).</summary>
/// <param name="Threshold0">Allocations minus deallocations that start a collection of generation 0; 0 disables automatic collection.</param>
/// <param name="Threshold1">Collections of generation 0 that make generation 1 due.</param>
/// <param name="Threshold2">Collections of generation 1 that make generation 2 due.</param>
public readonly record struct GcThresholds(int Threshold0, int Threshold1, int Threshold2);

public static unsafe partial class PyHeap
{
    /// <summary>
    /// The generational cyclic garbage collector of the library's objects, with the API of
    /// CPython's <c>gc</c> module. Thread-safe: each call takes the library's lock.
    /// </summary>
    /// <example><code>
    /// PyType node = PyType.Define("Node", slots: 1);
    /// using (PyObjectRef a = node.New(), b = node.New())
    /// {
    ///     a[0] = b;
    ///     b[0] = a;
    /// }
    /// long found = PyHeap.Gc.Collect();   // 2
    /// </code></example>
    public static class Gc
    {
        /// <summary>The number of generations (3).</summary>
        public const int Generations = Native.PHN_GC_NUM_GENERATIONS;

        /// <summary>
        /// Collects generations 0 to <paramref name="generation"/> (<c>gc.collect</c>), even when
        /// automatic collection is disabled.
        /// </summary>
        /// <param name="generation">0, 1 or 2 (a full collection).</param>
        /// <returns>The number of unreachable objects found (freed or uncollectable); 0 when called from inside a collection.</returns>
        /// <exception cref="ArgumentException"><paramref name="generation"/> is not 0, 1 or 2.</exception>
        public static long Collect(int generation = 2) => ThrowHelper.CheckCount(Native.GcCollect(generation));

        /// <summary>Turns automatic collection on (<c>gc.enable</c>).</summary>
        public static void Enable() => Native.GcEnable();

        /// <summary>Turns automatic collection off (<c>gc.disable</c>); <see cref="Collect"/> still works.</summary>
        public static void Disable() => Native.GcDisable();

        /// <summary>Whether automatic collection is on (<c>gc.isenabled</c>).</summary>
        public static bool IsEnabled => Native.GcIsEnabled() == 1;

        /// <summary>The current counts (<c>gc.get_count</c>).</summary>
        public static GcCounts GetCount()
        {
            int* c = stackalloc int[3];
            Check(Native.GcGetCount(c));
            return new GcCounts(c[0], c[1], c[2]);
        }

        /// <summary>The collection thresholds (<c>gc.get_threshold</c> / <c>gc.set_threshold</c>); default (2000, 10, 10).</summary>
        /// <exception cref="ArgumentException">A threshold is refused by the library.</exception>
        public static GcThresholds Threshold
        {
            get
            {
                int* t = stackalloc int[3];
                Check(Native.GcGetThreshold(t));
                return new GcThresholds(t[0], t[1], t[2]);
            }
            set => Check(Native.GcSetThreshold(value.Threshold0, value.Threshold1, value.Threshold2));
        }

        /// <summary>
        /// Sets the thresholds (<c>gc.set_threshold</c>); an omitted one keeps its value.
        /// <paramref name="threshold0"/> = 0 disables automatic collection.
        /// </summary>
        /// <exception cref="ArgumentException">A threshold is refused by the library.</exception>
        public static void SetThreshold(int threshold0, int? threshold1 = null, int? threshold2 = null)
        {
            using GilScope gil = AcquireGil();
            GcThresholds t = Threshold;
            Threshold = new GcThresholds(threshold0, threshold1 ?? t.Threshold1, threshold2 ?? t.Threshold2);
        }

        /// <summary>The running totals of each generation (<c>gc.get_stats</c>), generation 0 first.</summary>
        public static IReadOnlyList<GcGenerationStats> GetStats()
        {
            var list = new GcGenerationStats[Generations];
            for (int g = 0; g < Generations; g++)
            {
                PhnGcStats s = default;
                s.StructSize = (uint)sizeof(PhnGcStats);
                Check(Native.GcGetStats(g, &s));
                list[g] = new GcGenerationStats(g, s.Collections, s.Collected, s.Uncollectable, s.Candidates, Seconds(s.Duration));
            }
            return list;
        }

        /// <summary>
        /// Moves every tracked object into the permanent generation, which no collection
        /// examines (<c>gc.freeze</c>); the counts become 0.
        /// </summary>
        public static void Freeze() => Check(Native.GcFreeze());

        /// <summary>Moves the permanent generation back into the oldest generation (<c>gc.unfreeze</c>).</summary>
        public static void Unfreeze() => Check(Native.GcUnfreeze());

        /// <summary>The number of objects in the permanent generation (<c>gc.get_freeze_count</c>).</summary>
        public static long FreezeCount => ThrowHelper.CheckCount(Native.GcGetFreezeCount());

        /// <summary>The debug flags (<c>gc.get_debug</c> / <c>gc.set_debug</c>); unknown bits are kept.</summary>
        public static GcDebugFlags Debug
        {
            get => (GcDebugFlags)Native.GcGetDebug();
            set => Check(Native.GcSetDebug((int)value));
        }

        private static Action<string>? s_debugOutput;

        /// <summary>
        /// Receives the debug output (<see cref="Debug"/>), one line at a time without the
        /// newline; null (the default) sends it to standard error.
        /// </summary>
        public static Action<string>? DebugOutput
        {
            get => s_debugOutput;
            set
            {
                using GilScope gil = AcquireGil();
                s_debugOutput = value;
                Check(value is null ? Native.GcSetDebugOutput(null, null) : Native.GcSetDebugOutput(&OnDebugLine, null));
            }
        }

        [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
        private static void OnDebugLine(void* ctx, byte* line)
        {
            try
            {
                s_debugOutput?.Invoke(Marshal.PtrToStringUTF8((nint)line) ?? "");
            }
            catch (Exception e)
            {
                ReportCallbackException(e);
            }
        }

        private static readonly object s_callbackLock = new();
        private static GcCallback? s_callbacks;
        private static bool s_callbackRegistered;

        /// <summary>
        /// Handlers called at the start and the stop of every collection (<c>gc.callbacks</c>),
        /// in the order added, on the collecting thread with the library's lock held. A handler
        /// that throws is reported to <see cref="CallbackException"/> and the others still run;
        /// <see cref="Collect"/> from a handler returns 0.
        /// </summary>
        public static event GcCallback? Callbacks
        {
            add
            {
                // Lock order: the library's lock, then ours (a handler may subscribe from a collection).
                using GilScope gil = AcquireGil();
                lock (s_callbackLock)
                {
                    if (!s_callbackRegistered)
                    {
                        Check(Native.GcAddCallback(&OnCollection, null));
                        s_callbackRegistered = true;
                    }
                    s_callbacks += value;
                }
            }
            remove
            {
                using GilScope gil = AcquireGil();
                lock (s_callbackLock)
                {
                    s_callbacks -= value;
                    if (s_callbacks is null && s_callbackRegistered)
                    {
                        Check(Native.GcRemoveCallback(&OnCollection, null));
                        s_callbackRegistered = false;
                    }
                }
            }
        }

        [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
        private static int OnCollection(void* ctx, int phase, PhnGcInfo* info)
        {
            bool failed = false;
            try
            {
                GcCallback? handlers = Volatile.Read(ref s_callbacks);
                if (handlers is null)
                    return 0;
                // candidates and duration are read only from a library whose phn_gc_info has them.
                bool full = info->StructSize >= (uint)sizeof(PhnGcInfo);
                var args = new GcCallbackInfo(info->Generation, info->Collected, info->Uncollectable,
                    full ? info->Candidates : 0, full ? Seconds(info->Duration) : TimeSpan.Zero);
                foreach (GcCallback handler in handlers.GetInvocationList().Cast<GcCallback>())
                {
                    try
                    {
                        handler((GcPhase)phase, args);
                    }
                    catch (Exception e)
                    {
                        failed = true;
                        ReportCallbackException(e);
                    }
                }
            }
            catch (Exception e)
            {
                failed = true;
                ReportCallbackException(e);
            }
            return failed ? -1 : 0;
        }

        /// <summary>The number of objects in the garbage list (<c>len(gc.garbage)</c>).</summary>
        public static long GarbageCount => ThrowHelper.CheckCount(Native.GcGarbageCount());

        /// <summary>
        /// The garbage list (<c>gc.garbage</c>): uncollectable objects (legacy finalizers) and,
        /// with <see cref="GcDebugFlags.SaveAll"/>, every unreachable object. Each is a new
        /// reference: dispose them, then <see cref="ClearGarbage"/> to let them go.
        /// </summary>
        public static IReadOnlyList<PyObjectRef> GetGarbage()
        {
            using GilScope gil = AcquireGil();
            long n = ThrowHelper.CheckCount(Native.GcGarbageCount());
            var list = new List<PyObjectRef>((int)Math.Min(n, 1 << 20));
            for (long i = 0; i < n; i++)
            {
                PhnObject* o = null;
                Check(Native.GcGarbageGet(i, &o));
                list.Add(PyObjectRef.Wrap(o, incref: true));
            }
            return list;
        }

        /// <summary>Empties the garbage list, releasing its references (<c>del gc.garbage[:]</c>).</summary>
        public static void ClearGarbage() => Check(Native.GcGarbageClear());

        /// <summary>The tracked objects of a generation, or of all of them (<c>gc.get_objects</c>), as new references.</summary>
        /// <param name="generation">0, 1 or 2; null for every generation (not the permanent one).</param>
        /// <exception cref="ArgumentException"><paramref name="generation"/> is out of range.</exception>
        public static IReadOnlyList<PyObjectRef> GetObjects(int? generation = null)
        {
            int g = generation ?? -1;
            if (generation is < 0)
                throw new ArgumentOutOfRangeException(nameof(generation), generation, "generation parameter cannot be negative");
            using GilScope gil = AcquireGil();
            return Listing((o, cap) => Native.GcGetObjects(g, o, cap));
        }

        /// <summary>The tracked objects that refer to any of <paramref name="objects"/> (<c>gc.get_referrers</c>), as new references.</summary>
        /// <exception cref="ObjectDisposedException">One of the references was disposed.</exception>
        public static IReadOnlyList<PyObjectRef> GetReferrers(params PyObjectRef[] objects) =>
            WithObjects(objects, static (objs, n, o, cap) => Native.GcGetReferrers(objs, n, o, cap));

        /// <summary>What the traversal of each of <paramref name="objects"/> visits, in order, duplicates kept (<c>gc.get_referents</c>), as new references.</summary>
        /// <exception cref="ObjectDisposedException">One of the references was disposed.</exception>
        public static IReadOnlyList<PyObjectRef> GetReferents(params PyObjectRef[] objects) =>
            WithObjects(objects, static (objs, n, o, cap) => Native.GcGetReferents(objs, n, o, cap));

        /// <summary>Whether the collector tracks the object (<c>gc.is_tracked</c>).</summary>
        /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
        public static bool IsTracked(PyObjectRef obj)
        {
            ArgumentNullException.ThrowIfNull(obj);
            using var o = new HandleLease(obj);
            int r = Native.GcIsTracked((PhnObject*)o.Value);
            if (r < 0)
                ThrowHelper.ThrowForStatus(r);
            return r == 1;
        }

        /// <summary>Whether the object's finalizer has run (<c>gc.is_finalized</c>).</summary>
        /// <exception cref="ObjectDisposedException">The reference was disposed.</exception>
        public static bool IsFinalized(PyObjectRef obj)
        {
            ArgumentNullException.ThrowIfNull(obj);
            using var o = new HandleLease(obj);
            int r = Native.GcIsFinalized((PhnObject*)o.Value);
            if (r < 0)
                ThrowHelper.ThrowForStatus(r);
            return r == 1;
        }

        private delegate long ListFunction(PhnObject** output, long capacity);

        private delegate long ListOfFunction(PhnObject** objects, long count, PhnObject** output, long capacity);

        // With the lock held: ask for the count, then fill (the lock keeps it stable).
        private static List<PyObjectRef> Listing(ListFunction list)
        {
            long n = ThrowHelper.CheckCount(list(null, 0));
            var buffer = new nint[n];
            fixed (nint* p = buffer)
                n = Math.Min(ThrowHelper.CheckCount(list((PhnObject**)p, buffer.Length)), buffer.Length);
            var result = new List<PyObjectRef>((int)n);
            for (long i = 0; i < n; i++)
                result.Add(PyObjectRef.Wrap((PhnObject*)buffer[i], incref: true));
            return result;
        }

        private static List<PyObjectRef> WithObjects(PyObjectRef[] objects, ListOfFunction list)
        {
            ArgumentNullException.ThrowIfNull(objects);
            var leased = new bool[objects.Length];
            var ptrs = new nint[objects.Length];
            try
            {
                for (int i = 0; i < objects.Length; i++)
                {
                    ArgumentNullException.ThrowIfNull(objects[i], nameof(objects));
                    objects[i].DangerousAddRef(ref leased[i]);
                    ptrs[i] = objects[i].DangerousGetHandle();
                }
                using GilScope gil = AcquireGil();
                fixed (nint* objs = ptrs)
                {
                    PhnObject** o = (PhnObject**)objs;
                    long n = objects.Length;
                    return Listing((output, cap) => list(o, n, output, cap));
                }
            }
            finally
            {
                for (int i = 0; i < objects.Length; i++)
                {
                    if (leased[i])
                        objects[i].DangerousRelease();
                }
            }
        }

        private static TimeSpan Seconds(double seconds) =>
            double.IsFinite(seconds) && seconds >= 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;
    }
}
