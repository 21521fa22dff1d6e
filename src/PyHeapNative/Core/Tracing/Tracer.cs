// tracemalloc (CPython's Python/tracemalloc.c): while tracing, a wrapper over each domain
// records every block as a trace (trace domain 0, address) -> (requested size, traceback).
//
//   phn_obj_malloc(n)                       the shim passes the C caller's address
//     -> OBJ wrapper: Tracer.Malloc         t_reentrant set: nested calls are not traced
//          -> the wrapped allocator          (pymalloc; its RAW fallback passes through)
//          -> capture frames, then under the tracer's lock: intern the traceback, add the
//             trace, current += n, peak = max(peak, current)
//
// Exactness: a trace is added after its block exists and removed before its block is freed,
// so no other thread can be handed the same address in between; a realloc that moves drops
// the old trace and adds the new one. The tracer's tables live in C memory, never traced.
// Stopping restores the wrapped allocators; a wrapper left in place (a hook forwarding to
// it) passes calls straight through, so wrappers are never freed.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Tracing;

[StructLayout(LayoutKind.Sequential)]
internal struct TracingApi
{
    public DomainEntry Underlying;
}

internal static unsafe class Tracer
{
    internal const uint DefaultDomain = 0;

    private static HeapLock s_control;   // start / stop
    private static HeapLock s_lock;      // the tables
    private static volatile bool s_tracing;
    private static int s_limit = 1;
    private static AddressTable s_traces;      // (domain, address) -> (size, traceback block)
    private static InternTable s_tracebacks;
    private static InternTable s_filenames;
    private static nuint s_traced;
    private static nuint s_peak;
    private static readonly nint[] s_wrappers = new nint[3];   // WrapperTable* per domain while tracing
    private static AllocatorTable s_cFunctions;

    [ThreadStatic] private static bool t_reentrant;

    // The trace of the block this thread is freeing: removed from the table before the free
    // (so no other thread can be handed the address while its old trace is still there), yet
    // still known to the debug hooks' dump during the free.
    [ThreadStatic] private static nuint t_freeingAddress;
    [ThreadStatic] private static nuint t_freeingTraceback;

    internal static void RegisterCFunctions(in AllocatorTable functions) => s_cFunctions = functions;

    internal static bool IsTracing => s_tracing;

    internal static int TracebackLimit => s_limit;

    // ---- start / stop ----------------------------------------------------------------------

    /// <summary>Starts tracing; false when out of memory (then nothing changed).</summary>
    internal static bool Start(int nframe)
    {
        s_control.Enter();
        try
        {
            if (s_tracing)
                return true;
            var tables = stackalloc WrapperTable*[3];
            for (int domain = 0; domain < 3; domain++)
            {
                var api = (TracingApi*)Libc.Calloc(1, (nuint)sizeof(TracingApi));
                tables[domain] = api == null ? null : WrapperTable.Create(s_cFunctions, api, WrapperKind.Tracing, &api->Underlying,
                    &Malloc, &Calloc, &Realloc, &Free);
                if (tables[domain] == null)
                {
                    Libc.Free(api);
                    for (int d = 0; d < domain; d++)
                    {
                        Libc.Free(tables[d]->C.Context);
                        Libc.Free(tables[d]);
                    }
                    return false;
                }
            }
            s_limit = nframe;
            s_tracing = true;
            for (int domain = 0; domain < 3; domain++)
            {
                var api = (TracingApi*)tables[domain]->C.Context;
                api->Underlying = AllocatorRegistry.EntryOf(domain);
                AllocatorRegistry.RegisterWrapper(tables[domain]);
                AllocatorRegistry.Install(domain, Backend.Wrapper, tables[domain]);
                s_wrappers[domain] = (nint)tables[domain];
            }
            return true;
        }
        finally
        {
            s_control.Exit();
        }
    }

    internal static void Stop()
    {
        s_control.Enter();
        try
        {
            if (!s_tracing)
                return;
            s_tracing = false;
            for (int domain = 0; domain < 3; domain++)
            {
                var table = (WrapperTable*)s_wrappers[domain];
                DomainEntry current = AllocatorRegistry.EntryOf(domain);
                // Put back what we wrapped, unless something was installed over us since.
                if (current.Kind == Backend.Wrapper && current.Table == table)
                    AllocatorRegistry.Install(domain, table->Wrapped->Kind, table->Wrapped->Table);
                s_wrappers[domain] = 0;
            }
            s_lock.Enter();
            try
            {
                ClearTables();
            }
            finally
            {
                s_lock.Exit();
            }
        }
        finally
        {
            s_control.Exit();
        }
    }

    private static void ClearTables()
    {
        s_traces.Clear();
        s_tracebacks.Clear();
        s_filenames.Clear();
        s_traced = 0;
        s_peak = 0;
    }

    // ---- the wrapper's entry points (CPython's tracemalloc_alloc ...) ----------------------

    internal static void* Malloc(void* ctx, nuint size)
    {
        var api = (TracingApi*)ctx;
        if (t_reentrant || !s_tracing)
            return Domains.Domains.EntryMalloc(ref api->Underlying, size);
        t_reentrant = true;
        try
        {
            void* p = Domains.Domains.EntryMalloc(ref api->Underlying, size);
            if (p != null && !AddTrace(DefaultDomain, (nuint)p, size))
            {
                Domains.Domains.EntryFree(ref api->Underlying, p);
                return RawDomain.OutOfMemory();
            }
            return p;
        }
        finally
        {
            t_reentrant = false;
        }
    }

    internal static void* Calloc(void* ctx, nuint nelem, nuint elsize)
    {
        var api = (TracingApi*)ctx;
        if (t_reentrant || !s_tracing)
            return Domains.Domains.EntryCalloc(ref api->Underlying, nelem, elsize);
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return RawDomain.OutOfMemory();
        t_reentrant = true;
        try
        {
            void* p = Domains.Domains.EntryCalloc(ref api->Underlying, nelem, elsize);
            if (p != null && !AddTrace(DefaultDomain, (nuint)p, nelem * elsize))
            {
                Domains.Domains.EntryFree(ref api->Underlying, p);
                return RawDomain.OutOfMemory();
            }
            return p;
        }
        finally
        {
            t_reentrant = false;
        }
    }

    internal static void* Realloc(void* ctx, void* ptr, nuint size)
    {
        var api = (TracingApi*)ctx;
        if (t_reentrant || !s_tracing)
            return Domains.Domains.EntryRealloc(ref api->Underlying, ptr, size);
        t_reentrant = true;
        try
        {
            if (ptr == null)
            {
                void* fresh = Domains.Domains.EntryRealloc(ref api->Underlying, null, size);
                if (fresh != null && !AddTrace(DefaultDomain, (nuint)fresh, size))
                {
                    Domains.Domains.EntryFree(ref api->Underlying, fresh);
                    return RawDomain.OutOfMemory();
                }
                return fresh;
            }
            // The old trace goes before the block may move: once the old address is freed,
            // another thread may be handed it and record a trace of its own. It comes back if
            // the realloc fails (ptr is then untouched).
            AddressTable.Entry old = RemoveTraceEntry(DefaultDomain, (nuint)ptr);
            t_freeingTraceback = old.Extra;
            t_freeingAddress = (nuint)ptr;
            void* p2;
            try
            {
                p2 = Domains.Domains.EntryRealloc(ref api->Underlying, ptr, size);
            }
            finally
            {
                t_freeingAddress = 0;
                t_freeingTraceback = 0;
            }
            if (p2 == null)
            {
                if (old.Address != 0)
                    RestoreTrace(old);
                return null;
            }
            if (!AddTrace(DefaultDomain, (nuint)p2, size))
                Fatal.Error("tracemalloc_realloc() failed to allocate a trace");
            return p2;
        }
        finally
        {
            t_reentrant = false;
        }
    }

    internal static void Free(void* ctx, void* ptr)
    {
        var api = (TracingApi*)ctx;
        if (ptr == null || t_reentrant || !s_tracing)
        {
            Domains.Domains.EntryFree(ref api->Underlying, ptr);
            return;
        }
        // Before the address can be handed out again.
        t_freeingTraceback = RemoveTrace(DefaultDomain, (nuint)ptr);
        t_freeingAddress = (nuint)ptr;
        try
        {
            Domains.Domains.EntryFree(ref api->Underlying, ptr);
        }
        finally
        {
            t_freeingAddress = 0;
            t_freeingTraceback = 0;
        }
    }

    // ---- traces ----------------------------------------------------------------------------

    /// <summary>Records a trace; false when it could not be stored. True (and nothing
    /// recorded) if tracing stopped meanwhile.</summary>
    internal static bool AddTrace(uint domain, nuint address, nuint size)
    {
        bool wasReentrant = t_reentrant;
        t_reentrant = true;   // a frame provider's allocations are not traced
        TraceFrame* frames;
        int count, total;
        try
        {
            frames = Frames.Capture(s_limit, out count, out total);
        }
        finally
        {
            t_reentrant = wasReentrant;
        }
        if (frames == null)
            return false;

        s_lock.Enter();
        try
        {
            if (!s_tracing)
                return true;
            InternTable.Block* traceback = InternTraceback(frames, count, total);
            if (traceback == null || !s_traces.Set(domain, address, size, (nuint)traceback, out bool replaced, out AddressTable.Entry previous))
                return false;
            if (replaced)
                s_traced -= previous.Value;
            s_traced += size;
            if (s_traced > s_peak)
                s_peak = s_traced;
            return true;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Removes a trace; returns its traceback block (0 if there was none).</summary>
    internal static nuint RemoveTrace(uint domain, nuint address) => RemoveTraceEntry(domain, address).Extra;

    /// <summary>Removes a trace and returns it (Address 0 if there was none).</summary>
    private static AddressTable.Entry RemoveTraceEntry(uint domain, nuint address)
    {
        s_lock.Enter();
        try
        {
            if (!s_tracing || !s_traces.Remove(domain, address, out AddressTable.Entry removed))
                return default;
            s_traced -= removed.Value;
            return removed;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Puts back a trace removed by a realloc that failed. The table had room for
    /// it a moment ago; if tracing was cleared meanwhile, the trace is simply gone.</summary>
    private static void RestoreTrace(in AddressTable.Entry trace)
    {
        s_lock.Enter();
        try
        {
            if (s_tracing && s_traces.Set(trace.Domain, trace.Address, trace.Value, trace.Extra, out bool replaced, out AddressTable.Entry previous))
            {
                if (replaced)
                    s_traced -= previous.Value;
                s_traced += trace.Value;
                if (s_traced > s_peak)
                    s_peak = s_traced;
            }
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Interns the captured frames (the header goes just before them). No frame at
    /// all becomes the single frame ("&lt;unknown&gt;", 0), as in CPython. Lock held.</summary>
    private static InternTable.Block* InternTraceback(TraceFrame* frames, int count, int total)
    {
        if (count == 0)
        {
            frames[0] = new TraceFrame { Filename = InternFilename("<unknown>"u8), Lineno = 0 };
            count = total = 1;
        }
        for (int i = 0; i < count; i++)
        {
            if (frames[i].Pc != 0)
                continue;
            byte* name = frames[i].Filename;
            frames[i].Filename = name == null
                ? InternFilename("<unknown>"u8)
                : InternFilename(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name));
            if (frames[i].Filename == null)
                return null;
        }
        var header = (TracebackHeader*)((byte*)frames - sizeof(TracebackHeader));
        *header = new TracebackHeader { NFrame = (ushort)count, TotalNFrame = (ushort)Math.Min(total, Frames.MaxFrames) };
        return s_tracebacks.Intern((byte*)header, (uint)(sizeof(TracebackHeader) + count * sizeof(TraceFrame)));
    }

    private static byte* InternFilename(ReadOnlySpan<byte> name)
    {
        fixed (byte* p = name)
        {
            InternTable.Block* b = s_filenames.Intern(p, (uint)name.Length);
            return b == null ? null : InternTable.Data(b);
        }
    }

    /// <summary>PyTraceMalloc_Track: 0, -1 (not stored) or -2 (not tracing).</summary>
    internal static int Track(uint domain, nuint address, nuint size)
    {
        if (!s_tracing)
            return -2;
        return AddTrace(domain, address, size) ? 0 : -1;
    }

    /// <summary>PyTraceMalloc_Untrack: 0 (also when unknown) or -2 (not tracing).</summary>
    internal static int Untrack(uint domain, nuint address)
    {
        if (!s_tracing)
            return -2;
        RemoveTrace(domain, address);
        return 0;
    }

    // ---- counters --------------------------------------------------------------------------

    internal static void GetTracedMemory(out nuint current, out nuint peak)
    {
        s_lock.Enter();
        current = s_tracing ? s_traced : 0;
        peak = s_tracing ? s_peak : 0;
        s_lock.Exit();
    }

    internal static void ResetPeak()
    {
        s_lock.Enter();
        if (s_tracing)
            s_peak = s_traced;
        s_lock.Exit();
    }

    internal static void ClearTraces()
    {
        s_lock.Enter();
        try
        {
            if (s_tracing)
                ClearTables();
        }
        finally
        {
            s_lock.Exit();
        }
    }

    internal static nuint TracerMemory()
    {
        s_lock.Enter();
        nuint bytes = s_traces.MemoryBytes + s_tracebacks.MemoryBytes + s_filenames.MemoryBytes;
        s_lock.Exit();
        return bytes;
    }

    /// <summary>The traceback of a traced block of domain 0 (for the debug hooks' dump), as
    /// (file, line) pairs most recent first; null when untraced or not tracing.</summary>
    internal static (string File, uint Line)[]? TracebackOf(nuint address)
    {
        s_lock.Enter();
        TracebackHeader* header;
        try
        {
            if (!s_tracing)
                return null;
            AddressTable.Entry* e = s_traces.Find(DefaultDomain, address);
            nuint traceback = e != null ? e->Extra : t_freeingAddress == address ? t_freeingTraceback : 0;
            if (traceback == 0)
                return null;
            header = (TracebackHeader*)InternTable.Data((InternTable.Block*)traceback);
            return Describe(header);
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>The frames of an interned traceback as names and lines (native frames named now).</summary>
    internal static (string File, uint Line)[] Describe(TracebackHeader* header)
    {
        var frames = (TraceFrame*)(header + 1);
        var result = new (string, uint)[header->NFrame];
        for (int i = 0; i < header->NFrame; i++)
        {
            if (frames[i].Pc != 0)
                result[i] = (Frames.Name(frames[i].Pc, out uint line), line);
            else
                result[i] = (Marshal.PtrToStringUTF8((nint)frames[i].Filename) ?? "<unknown>", frames[i].Lineno);
        }
        return result;
    }

    /// <summary>Copies every trace under the lock: (domain, size, traceback block) triples and
    /// each distinct traceback's frames, named after the lock is released.</summary>
    internal static List<(uint Domain, ulong Size, nint Traceback)> CopyTraces(Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)> tracebacks)
    {
        var traces = new List<(uint, ulong, nint)>();
        var raw = new Dictionary<nint, TraceFrame[]>();
        var totals = new Dictionary<nint, ushort>();
        s_lock.Enter();
        try
        {
            AddressTable.Entry* slots = s_traces.Slots;
            for (nuint i = 0; i < s_traces.Capacity; i++)
            {
                if (slots[i].Address == 0)
                    continue;
                nint tb = (nint)slots[i].Extra;
                traces.Add((slots[i].Domain, (ulong)slots[i].Value, tb));
                if (raw.ContainsKey(tb))
                    continue;
                var header = (TracebackHeader*)InternTable.Data((InternTable.Block*)tb);
                var copy = new TraceFrame[header->NFrame];
                var frames = (TraceFrame*)(header + 1);
                for (int f = 0; f < copy.Length; f++)
                {
                    copy[f] = frames[f];
                    if (copy[f].Pc == 0)   // keep the name as a managed string: the table may be cleared
                        copy[f].Filename = (byte*)Marshal.StringToCoTaskMemUTF8(Marshal.PtrToStringUTF8((nint)frames[f].Filename));
                }
                raw[tb] = copy;
                totals[tb] = header->TotalNFrame;
            }
        }
        finally
        {
            s_lock.Exit();
        }
        foreach (var (tb, frames) in raw)
        {
            var named = new (string, uint)[frames.Length];
            for (int f = 0; f < frames.Length; f++)
            {
                if (frames[f].Pc != 0)
                    named[f] = (Frames.Name(frames[f].Pc, out uint line), line);
                else
                {
                    named[f] = (Marshal.PtrToStringUTF8((nint)frames[f].Filename) ?? "<unknown>", frames[f].Lineno);
                    Marshal.FreeCoTaskMem((nint)frames[f].Filename);
                }
            }
            tracebacks[tb] = (named, totals[tb]);
        }
        return traces;
    }
}
