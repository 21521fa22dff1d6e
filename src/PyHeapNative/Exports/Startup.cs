// Lazy start-up: the first call of any export installs the built-in allocators, prepares
// pymalloc and reads the environment (PYHEAPNATIVE_ALLOCATOR, PYHEAPNATIVE_TRACEMALLOC,
// PYHEAPNATIVE_MALLOCSTATS, PYHEAPNATIVE_PYMALLOC_HUGEPAGES), like CPython's
// pre-initialization.
// phn_init() does the same explicitly. Thread-safe and idempotent.
using System.Runtime.CompilerServices;
using System.Text;
using PyHeapNative.Core.Debug;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Gc;
using PyHeapNative.Core.Objects;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;
using PyHeapNative.Core.Tracing;

namespace PyHeapNative.Exports;

internal static unsafe class Startup
{
    private const int NotStarted = 0, Starting = 1, Started = 2;
    private static int s_state;
    private static int s_status;

    internal const string AllocatorVariable = "PYHEAPNATIVE_ALLOCATOR";
    internal const string MallocStatsVariable = "PYHEAPNATIVE_MALLOCSTATS";
    internal const string TracemallocVariable = "PYHEAPNATIVE_TRACEMALLOC";
    internal const string HugePagesVariable = "PYHEAPNATIVE_PYMALLOC_HUGEPAGES";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Ensure()
    {
        if (Volatile.Read(ref s_state) != Started)
            Start();
    }

    /// <summary>Starts the library once; returns the start-up status (0 or PHN_EINVAL).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int Start()
    {
        if (Interlocked.CompareExchange(ref s_state, Starting, NotStarted) != NotStarted)
        {
            while (Volatile.Read(ref s_state) != Started)
                Thread.Yield();
            return s_status;
        }

        string? fatal = null;
        try
        {
            RegisterBuiltins();
            if (!StartObjects())
                fatal = "phn_init: out of memory for the object heap's tables";
            else if (!Pymalloc.Initialize())
            {
                fatal = "phn_init: out of memory for pymalloc's tables; MEM and OBJ use malloc";
                Domains.Mem.Kind = Domains.Obj.Kind = Backend.Malloc;
            }
            else
            {
                fatal = ConfigureFromEnvironment();
            }
        }
        catch (Exception e)
        {
            // Whatever did not start, MEM and OBJ must not reach a pymalloc without tables.
            fatal = $"phn_init: {e.GetType().Name}: {e.Message}; MEM and OBJ use malloc";
            Domains.Mem.Kind = Domains.Obj.Kind = Backend.Malloc;
        }

        s_status = fatal == null ? Status.Ok : Status.InvalidArgument;
        try
        {
            Core.Tracing.Tracer.ConfigureNative();
            LiveBlocks.ConfigureNative();
            NativeFastPath.Configure();
        }
        catch (Exception)
        {
            // Without it every call takes the managed path: slower, never wrong.
        }
        Volatile.Write(ref s_state, Started);
        if (fatal != null)
        {
            // After start-up completes, so that a fatal handler may call the library.
            Errors.Report(Status.InvalidArgument, fatal);
            Fatal.Error(fatal);
        }
        return s_status;
    }

    /// <summary>The collector's lists, the weakref type and the C-callable visitors.</summary>
    private static bool StartObjects()
    {
        GcVisitors.Register();
        NativeVisitors.Register();
        Collector.Initialize();
        return ObjectState.Initialize() && Gil.Initialize() && Generations.Initialize() && Weakrefs.Initialize();
    }

    private static void RegisterBuiltins()
    {
        RawDomain.Entry.Kind = Backend.Malloc;   // the zero value also means malloc on RAW's fast path
        AllocatorRegistry.RegisterBuiltins(
            new AllocatorTable
            {
                Malloc = &Callbacks.RawMalloc,
                Calloc = &Callbacks.RawCalloc,
                Realloc = &Callbacks.RawRealloc,
                Free = &Callbacks.RawFree,
            },
            new AllocatorTable
            {
                Malloc = &Callbacks.PymallocMalloc,
                Calloc = &Callbacks.PymallocCalloc,
                Realloc = &Callbacks.PymallocRealloc,
                Free = &Callbacks.PymallocFree,
            });
        DebugHooks.RegisterCFunctions(new AllocatorTable
        {
            Malloc = &Callbacks.DebugMalloc,
            Calloc = &Callbacks.DebugCalloc,
            Realloc = &Callbacks.DebugRealloc,
            Free = &Callbacks.DebugFree,
        });
        Tracer.RegisterCFunctions(new AllocatorTable
        {
            Malloc = &Callbacks.TracingMalloc,
            Calloc = &Callbacks.TracingCalloc,
            Realloc = &Callbacks.TracingRealloc,
            Free = &Callbacks.TracingFree,
        });
        Frames.RememberLibrary((delegate* unmanaged[Cdecl]<void*, nuint, void*>)&Callbacks.RawMalloc);
        var arena = (ArenaAllocatorTable*)Libc.Malloc((nuint)sizeof(ArenaAllocatorTable));
        if (arena == null)
            throw new OutOfMemoryException("no memory for the arena allocator table");
        *arena = new ArenaAllocatorTable { Alloc = &Callbacks.ArenaAlloc, Free = &Callbacks.ArenaFree };
        ArenaAllocator.RegisterBuiltin(arena);
    }

    /// <summary>Applies the environment; returns a fatal message for a value it rejects.</summary>
    private static string? ConfigureFromEnvironment()
    {
        string? fatal = null;
        string? name = Libc.GetEnvironmentVariable(AllocatorVariable);
        switch (name)
        {
            case null or "" or "default" or "pymalloc":
                break;
            case "malloc":
                Domains.Mem.Kind = Domains.Obj.Kind = Backend.Malloc;
                break;
            case "debug" or "pymalloc_debug":
                if (!DebugHooks.Setup())
                    fatal = $"phn_init: {AllocatorVariable}: out of memory installing the debug hooks";
                break;
            case "malloc_debug":
                Domains.Mem.Kind = Domains.Obj.Kind = Backend.Malloc;
                if (!DebugHooks.Setup())
                    fatal = $"phn_init: {AllocatorVariable}: out of memory installing the debug hooks";
                break;
            default:
                fatal = $"phn_init: {AllocatorVariable}: unknown allocator '{name}' " +
                        "(accepted values: default, debug, pymalloc, pymalloc_debug, malloc, malloc_debug)";
                break;
        }

        string? trace = Libc.GetEnvironmentVariable(TracemallocVariable);
        if (!string.IsNullOrEmpty(trace) && fatal == null)
        {
            // As PYTHONTRACEMALLOC: a number of frames; 0 leaves tracing off.
            if (!int.TryParse(trace, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int nframe) ||
                nframe > Frames.MaxFrames)
                fatal = $"phn_init: {TracemallocVariable}: can't start tracemalloc: '{trace}' is not a number of frames in [1; {Frames.MaxFrames}]";
            else if (nframe > 0 && !Tracer.Start(nframe))
                fatal = $"phn_init: {TracemallocVariable}: can't start tracemalloc: out of memory";
        }

        switch (Libc.GetEnvironmentVariable(HugePagesVariable))
        {
            case null or "" or "0":
                break;
            case "1":
                ArenaAllocator.HugePages = true;
                break;
            case string other:
                fatal ??= $"phn_init: {HugePagesVariable}: '{other}' is not 0 or 1";
                break;
        }

        if (!string.IsNullOrEmpty(Libc.GetEnvironmentVariable(MallocStatsVariable)))
        {
            Pymalloc.StatsPrinter = &PrintMallocStats;
            Pymalloc.DumpStatsBeforeNewArena = true;
            Libc.AtExit(&Callbacks.PrintMallocStatsAtExit);
        }
        return fatal;
    }

    /// <summary>Writes the sys._debugmallocstats() text to stderr (PYHEAPNATIVE_MALLOCSTATS).</summary>
    internal static void PrintMallocStats()
    {
        if (!AllocatorRegistry.PymallocServesObj)
            return;
        Pymalloc.CollectStatistics(out PymallocStatistics stats);
        byte[] text = Encoding.UTF8.GetBytes(MallocStatsText.Format(stats));
        fixed (byte* p = text)
            Libc.WriteStderr(p, (nuint)text.Length);
    }
}
