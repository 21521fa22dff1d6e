// tracemalloc (CPython's Python/tracemalloc.c): while tracing, a wrapper over each domain
// records every block as a trace (trace domain 0, address) -> (requested size, traceback).
//
//   phn_obj_malloc(n)                       the shim passes the C caller's address
//     -> OBJ wrapper: Tracer.Malloc(caller)
//          -> the wrapped allocator          calls it makes inside are nested (Call.NestedCaller)
//                                            and not traced again (pymalloc's RAW fallback)
//          -> capture frames, then under the tracer's lock: intern the traceback, add the
//             trace, current += n, peak = max(peak, current)
//
// Exactness: a trace is added after its block exists and removed before its block is freed,
// so no other thread can be handed the same address in between; a realloc that moves drops
// the old trace and adds the new one. The tracer's tables live in C memory, never traced.
// Stopping restores the wrapped allocators; a wrapper left in place (a hook forwarding to
// it) passes calls straight through, so wrappers are never freed.
//
// Where a trace lives: traced blocks of 1..496 bytes over pymalloc itself come from
// pymalloc's traced heap and keep their trace in a header before the data
// (Core/Pymalloc/TracedHeap.cs); every other trace (RAW, larger blocks, other allocators,
// the debug hooks below, track of other addresses) is in the table. s_lock guards both.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Domains;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Tracing;

[StructLayout(LayoutKind.Sequential)]
internal struct TracingApi
{
    public DomainEntry Underlying;
    public bool CallsUserCode;   // the wrapped chain has a custom C allocator, which may call back
    public bool WrapsDebug;      // the debug hooks are below: their dump may ask for a traceback
}

internal static unsafe partial class Tracer
{
    internal const uint DefaultDomain = 0;

    private static HeapLock s_control;   // start / stop
    private static HeapLock s_lock;      // the tables
    private static volatile bool s_tracing;
    private static int s_limit;          // 0 before the first start: the limit is then 1
    private static AddressTable s_traces;      // (domain, address) -> (size, traceback block)
    private static InternTable s_tracebacks;
    private static InternTable s_filenames;
    private static nuint s_traced;
    private static nuint s_peak;
    private static uint s_generation;    // +1 at each clear: a traceback taken before is gone
    private static nuint s_headerTraces;  // traces in headers of the traced heap
    private static WrapperPerDomain s_wrappers;   // WrapperTable* per domain while tracing
    private static SingleFrameCache s_singleFrames;
    private static AllocatorTable s_cFunctions;

    // Calls that enter the library from user code running inside a traced call (a custom
    // allocator below the tracer, a frame provider) must not be traced again. Only then is the
    // thread-local flag set; the gate counts such regions (GateGuarded each), so the common
    // case reads no thread-local at all (each access is a __tls_get_addr call in a shared
    // library).
    [ThreadStatic] private static bool t_reentrant;

    // Why a traced call cannot be C's common case (Native/phn_fast_trace.h reads this one
    // word before anything else): a traceback limit above 1, a frame provider, a stray
    // trace (below), guarded regions running. 0 when none.
    private const int GateDeepLimit = 1, GateProvider = 2, GateStrays = 4, GateGuarded = 8;
    private static int s_gate;

    // Stray traces: tracked (track, domain 0) addresses of pymalloc that were not a live
    // block of the traced heap, so their traces went to the table. Such an address may later
    // become the data of a traced-heap block (its block allocated, or its pool recycled),
    // whose trace goes to its header: one address would then have two traces. So while there
    // are strays (until traces are cleared), every traced call takes the managed path, which
    // drops a table trace of an address whose header gets one.
    private static int s_strays;

    private static void SetGate(int bit, bool on)
    {
        if (on)
            Interlocked.Or(ref s_gate, bit);
        else
            Interlocked.And(ref s_gate, ~bit);
    }

    /// <summary>phn_tracemalloc_set_frame_provider: the provider and the gate's bit for it
    /// change together (two threads setting providers at once leave them agreeing).</summary>
    internal static void SetFrameProvider(delegate* unmanaged[Cdecl]<void*, PhnFrame*, int, int*, int> provider, void* context)
    {
        s_control.Enter();
        try
        {
            Frames.SetProvider(provider, context);
            SetGate(GateProvider, provider != null);
        }
        finally
        {
            s_control.Exit();
        }
    }

    // The trace of the block this thread is freeing: removed from the table before the free
    // (so no other thread can be handed the address while its old trace is still there), yet
    // still known to the debug hooks' dump during the free.

    internal static void RegisterCFunctions(in AllocatorTable functions) => s_cFunctions = functions;

    internal static bool IsTracing => s_tracing;

    internal static int TracebackLimit => s_limit == 0 ? 1 : s_limit;

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
            SetGate(GateDeepLimit, nframe > 1);
            Pymalloc.Pymalloc.TraceForgetter = &ForgetHeaderTraceOf;
            s_tracing = true;
            for (int domain = 0; domain < 3; domain++)
            {
                var api = (TracingApi*)tables[domain]->C.Context;
                api->Underlying = AllocatorRegistry.EntryOf(domain);
                api->CallsUserCode = ChainHas(api->Underlying, Backend.Custom, default);
                api->WrapsDebug = ChainHas(api->Underlying, Backend.Wrapper, WrapperKind.Debug);
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
            // Stopped and cleared in one step under the lock: from then on no block of the
            // traced heap has a trace (the wrappers still installed pass calls through).
            s_lock.Enter();
            try
            {
                s_tracing = false;
                ClearTables();
            }
            finally
            {
                s_lock.Exit();
            }
            for (int domain = 0; domain < 3; domain++)
            {
                var table = (WrapperTable*)s_wrappers[domain];
                DomainEntry current = AllocatorRegistry.EntryOf(domain);
                // Put back what we wrapped, unless something was installed over us since.
                if (current.Kind == Backend.Wrapper && current.Table == table)
                    AllocatorRegistry.Install(domain, table->Wrapped->Kind, table->Wrapped->Table);
                s_wrappers[domain] = 0;
            }
        }
        finally
        {
            s_control.Exit();
        }
    }

    /// <summary>Whether the chain of wrapped entries has an entry of this kind (and, for a
    /// wrapper, of this wrapper kind).</summary>
    private static bool ChainHas(DomainEntry e, Backend kind, WrapperKind wrapperKind)
    {
        for (int depth = 0; depth < 64; depth++)
        {
            if (e.Kind == kind && (kind != Backend.Wrapper || e.Table->Kind == wrapperKind))
                return true;
            if (e.Kind != Backend.Wrapper)
                return false;
            e = *e.Table->Wrapped;
        }
        return false;
    }

    /// <summary>Forgets every trace. Lock held.</summary>
    private static void ClearTables()
    {
        var forget = new ForgetHeaderTraces();
        Pymalloc.Pymalloc.ForEachTracedBlock(ref forget);
        s_traces.Clear();
        s_tracebacks.Clear();
        s_singleFrames.Clear();
        s_filenames.Clear();
        s_traced = 0;
        s_peak = 0;
        s_strays = 0;
        SetGate(GateStrays, false);
        s_generation++;
        s_headerTraces = 0;
    }

    /// <summary>Pymalloc.TraceForgetter: p, a block of the traced heap, is about to be freed
    /// by a path that did not remove its trace.</summary>
    private static void ForgetHeaderTraceOf(void* p)
    {
        s_lock.Enter();
        var header = (TraceHeader*)p - 1;
        if (header->Traceback != 0)
        {
            s_traced -= header->Size;
            s_headerTraces--;
            header->Traceback = 0;
        }
        s_lock.Exit();
    }

    private struct ForgetHeaderTraces : ITracedBlockVisitor
    {
        public void Visit(TraceHeader* header, void* data) => header->Traceback = 0;
    }

    // ---- the wrapper's entry points (CPython's tracemalloc_alloc ...) ----------------------

    /// <summary>True when this call must pass through untraced.</summary>
    private static bool Untraced(void* caller) =>
        !s_tracing || caller == Call.NestedCaller || (Volatile.Read(ref s_gate) >= GateGuarded && t_reentrant);

    /// <summary>Whether user code may run inside this traced call and call back.</summary>
    private static bool NeedsGuard(TracingApi* api) => api->CallsUserCode || Frames.HasProvider;

    private static void EnterGuard()
    {
        Interlocked.Add(ref s_gate, GateGuarded);
        t_reentrant = true;
    }

    private static void ExitGuard()
    {
        t_reentrant = false;
        Interlocked.Add(ref s_gate, -GateGuarded);
    }

    internal static void* Malloc(void* ctx, nuint size, void* caller)
    {
        var api = (TracingApi*)ctx;
        if (Untraced(caller))
            return Domains.Domains.EntryMalloc(ref api->Underlying, size, caller);
        bool guard = NeedsGuard(api);
        if (guard)
            EnterGuard();
        try
        {
            void* p = api->Underlying.Kind == Backend.Pymalloc ? Pymalloc.Pymalloc.MallocTraced(size) : null;
            if (p == null)
                p = Domains.Domains.EntryMalloc(ref api->Underlying, size, Call.NestedCaller);
            if (p != null && !AddTrace(DefaultDomain, (nuint)p, size, caller))
            {
                Domains.Domains.EntryFree(ref api->Underlying, p, Call.NestedCaller);
                return RawDomain.OutOfMemory();
            }
            return p;
        }
        finally
        {
            if (guard)
                ExitGuard();
        }
    }

    internal static void* Calloc(void* ctx, nuint nelem, nuint elsize, void* caller)
    {
        var api = (TracingApi*)ctx;
        if (Untraced(caller))
            return Domains.Domains.EntryCalloc(ref api->Underlying, nelem, elsize, caller);
        if (elsize != 0 && nelem > Status.MaxRequest / elsize)
            return RawDomain.OutOfMemory();
        bool guard = NeedsGuard(api);
        if (guard)
            EnterGuard();
        try
        {
            void* p = api->Underlying.Kind == Backend.Pymalloc ? Pymalloc.Pymalloc.MallocTraced(nelem * elsize) : null;
            if (p != null)
                NativeMemory.Clear(p, nelem * elsize);
            else
                p = Domains.Domains.EntryCalloc(ref api->Underlying, nelem, elsize, Call.NestedCaller);
            if (p != null && !AddTrace(DefaultDomain, (nuint)p, nelem * elsize, caller))
            {
                Domains.Domains.EntryFree(ref api->Underlying, p, Call.NestedCaller);
                return RawDomain.OutOfMemory();
            }
            return p;
        }
        finally
        {
            if (guard)
                ExitGuard();
        }
    }

    internal static void* Realloc(void* ctx, void* ptr, nuint size, void* caller)
    {
        var api = (TracingApi*)ctx;
        if (Untraced(caller))
            return Domains.Domains.EntryRealloc(ref api->Underlying, ptr, size, caller);
        bool guard = NeedsGuard(api);
        if (guard)
            EnterGuard();
        try
        {
            if (ptr == null)
            {
                void* fresh = Domains.Domains.EntryRealloc(ref api->Underlying, null, size, Call.NestedCaller);
                if (fresh != null && !AddTrace(DefaultDomain, (nuint)fresh, size, caller))
                {
                    Domains.Domains.EntryFree(ref api->Underlying, fresh, Call.NestedCaller);
                    return RawDomain.OutOfMemory();
                }
                return fresh;
            }
            // The old trace goes before the block may move: once the old address is freed,
            // another thread may be handed it and record a trace of its own. It comes back if
            // the realloc fails (ptr is then untouched).
            AddressTable.Entry old = RemoveTraceEntry(DefaultDomain, (nuint)ptr, out uint generation);
            if (api->WrapsDebug)
                FreeingSlot.Set((nuint)ptr, old.Extra, generation);
            void* p2;
            try
            {
                p2 = Domains.Domains.EntryRealloc(ref api->Underlying, ptr, size, Call.NestedCaller);
            }
            finally
            {
                if (api->WrapsDebug)
                    FreeingSlot.Clear();
            }
            if (p2 == null)
            {
                if (old.Address != 0)
                    RestoreTrace(old, generation);
                return null;
            }
            if (!AddTrace(DefaultDomain, (nuint)p2, size, caller))
                Fatal.Error("tracemalloc_realloc() failed to allocate a trace");
            return p2;
        }
        finally
        {
            if (guard)
                ExitGuard();
        }
    }

    internal static void Free(void* ctx, void* ptr, void* caller)
    {
        var api = (TracingApi*)ctx;
        if (ptr == null || Untraced(caller))
        {
            Domains.Domains.EntryFree(ref api->Underlying, ptr, caller);
            return;
        }
        bool guard = NeedsGuard(api);
        if (guard)
            EnterGuard();
        // Before the address can be handed out again.
        nuint traceback = RemoveTraceEntry(DefaultDomain, (nuint)ptr, out uint generation).Extra;
        if (api->WrapsDebug)
            FreeingSlot.Set((nuint)ptr, traceback, generation);
        try
        {
            Domains.Domains.EntryFree(ref api->Underlying, ptr, Call.NestedCaller);
        }
        finally
        {
            if (api->WrapsDebug)
                FreeingSlot.Clear();
            if (guard)
                ExitGuard();
        }
    }

    // ---- traces ----------------------------------------------------------------------------

    /// <summary>Records a trace; false when it could not be stored. True (and nothing
    /// recorded) if tracing stopped meanwhile. named: the address comes from a user (track),
    /// not from an allocation of this library, so it is checked before its header is used.</summary>
    internal static bool AddTrace(uint domain, nuint address, nuint size, void* caller, bool named = false)
    {
        TraceFrame* frames;
        int count, total;
        byte* single = stackalloc byte[sizeof(TracebackHeader) + sizeof(TraceFrame)];
        if (s_limit <= 1 && !Frames.HasProvider && caller != Call.NestedCaller && caller != Call.UnknownCaller)
        {
            // The common case: one frame, the export's caller. No buffer, no walk.
            frames = (TraceFrame*)(single + sizeof(TracebackHeader));
            frames[0] = new TraceFrame { Pc = (nuint)caller };
            count = total = 1;
        }
        else
        {
            frames = Frames.Capture(TracebackLimit, caller, out count, out total);
            if (frames == null)
                return false;
        }

        s_lock.Enter();
        try
        {
            if (!s_tracing)
                return true;
            InternTable.Block* traceback = InternTraceback(frames, count, total);
            return traceback != null && StoreTrace(new AddressTable.Entry { Domain = domain, Address = address, Value = size, Extra = (nuint)traceback }, named);
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Stores a trace, replacing the address's trace if it has one: in its block's
    /// header in the traced heap, else in the table. False when the table could not grow.
    /// Lock held.</summary>
    private static bool StoreTrace(in AddressTable.Entry trace, bool named)
    {
        TraceHeader* header = HeaderOf(trace.Domain, trace.Address, named, out HeapLock* held);
        if (header != null)
        {
            // A trace there to replace: the block is live (a free one has none: TracedHeap.cs),
            // named by a track, or tracked since this library took it from its pool.
            if (header->Traceback != 0)
                s_traced -= header->Size;
            else
                s_headerTraces++;
            header->Size = trace.Value;
            header->Traceback = trace.Extra;
            if (held != null)
                held->Exit();
            if (s_strays != 0 && s_traces.Remove(trace.Domain, trace.Address, out AddressTable.Entry stray))
                s_traced -= stray.Value;
        }
        else
        {
            if (!s_traces.Set(trace.Domain, trace.Address, trace.Value, trace.Extra, out bool replaced, out AddressTable.Entry previous))
                return false;
            if (replaced)
                s_traced -= previous.Value;
            else if (named && trace.Domain == DefaultDomain && Pymalloc.Pymalloc.Owns((void*)trace.Address) && s_strays++ == 0)
                SetGate(GateStrays, true);
        }
        s_traced += trace.Value;
        if (s_traced > s_peak)
            s_peak = s_traced;
        return true;
    }

    /// <summary>The header of the block at address in the traced heap, or null (the trace is
    /// then the table's). For a named address, the block's class lock comes with it (held:
    /// the caller exits it). Lock held.</summary>
    private static TraceHeader* HeaderOf(uint domain, nuint address, bool named, out HeapLock* held)
    {
        held = null;
        if (domain != DefaultDomain)
            return null;
        if (!named)
            return Pymalloc.Pymalloc.TraceHeaderOf((void*)address);
        held = Pymalloc.Pymalloc.EnterLiveTracedBlock((void*)address, out TraceHeader* header);
        return header;
    }

    /// <summary>Removes a trace and returns it (Address 0 if there was none). named: as for
    /// AddTrace.</summary>
    private static AddressTable.Entry RemoveTraceEntry(uint domain, nuint address, bool named = false) =>
        RemoveTraceEntry(domain, address, out _, named);

    /// <summary>The same, with the generation of the traces it was removed from.</summary>
    private static AddressTable.Entry RemoveTraceEntry(uint domain, nuint address, out uint generation, bool named = false)
    {
        s_lock.Enter();
        try
        {
            generation = s_generation;
            if (!s_tracing)
                return default;
            TraceHeader* header = HeaderOf(domain, address, named, out HeapLock* held);
            AddressTable.Entry removed = default;
            if (header != null)
            {
                if (header->Traceback != 0)
                {
                    removed = new AddressTable.Entry { Domain = domain, Address = address, Value = header->Size, Extra = header->Traceback };
                    s_headerTraces--;
                }
                header->Traceback = 0;
                if (held != null)
                    held->Exit();
            }
            else if (!s_traces.Remove(domain, address, out removed))
            {
                return default;
            }
            s_traced -= removed.Value;
            return removed;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>The C fast path's fallback (Native/phn_fast_trace.h) for a block pymalloc just
    /// handed out: records its trace; when that fails, frees the block and returns NULL
    /// (malloc, as Malloc) or raises the fatal error (realloc, as Realloc).</summary>
    internal static void* AddTraceOfPymallocBlock(void* p, nuint size, void* caller, bool realloc)
    {
        if (AddTrace(DefaultDomain, (nuint)p, size, caller))
            return p;
        if (realloc)
        {
            Fatal.Error("tracemalloc_realloc() failed to allocate a trace");
            return p;
        }
        Pymalloc.Pymalloc.Free(p);
        return RawDomain.OutOfMemory();
    }

    /// <summary>The C fast path's realloc failed: ptr's trace comes back.</summary>
    internal static void RestoreTrace(nuint address, nuint size, nuint traceback, uint generation) =>
        RestoreTrace(new AddressTable.Entry { Domain = DefaultDomain, Address = address, Value = size, Extra = traceback }, generation);

    /// <summary>Puts back a trace removed (in generation) by a realloc that failed. The table
    /// had room for it a moment ago; if the traces were cleared meanwhile (their tracebacks
    /// with them), it is simply gone.</summary>
    private static void RestoreTrace(in AddressTable.Entry trace, uint generation)
    {
        s_lock.Enter();
        try
        {
            if (s_tracing && s_generation == generation)
                StoreTrace(trace, named: false);
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
        bool single = count == 1 && total == 1 && frames[0].Pc != 0;
        if (single)
        {
            InternTable.Block* cached = s_singleFrames.Find(frames[0].Pc);
            if (cached != null)
                return cached;
        }
        InternTable.Block* block = InternTracebackSlow(frames, count, total);
        if (single && block != null)
            s_singleFrames.Remember(frames[0].Pc, block);
        return block;
    }

    private static InternTable.Block* InternTracebackSlow(TraceFrame* frames, int count, int total)
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
        bool guard = Frames.HasProvider;   // a provider's allocations are not traced
        if (guard)
            EnterGuard();
        try
        {
            return AddTrace(domain, address, size, Call.UnknownCaller, named: true) ? 0 : -1;
        }
        finally
        {
            if (guard)
                ExitGuard();
        }
    }

    /// <summary>PyTraceMalloc_Untrack: 0 (also when unknown) or -2 (not tracing).</summary>
    internal static int Untrack(uint domain, nuint address)
    {
        if (!s_tracing)
            return -2;
        RemoveTraceEntry(domain, address, named: true);
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
        nuint bytes = s_traces.MemoryBytes + s_tracebacks.MemoryBytes + s_filenames.MemoryBytes
            + s_headerTraces * Pymalloc.Pymalloc.TraceHeaderSize;
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
            nuint traceback = FindTrace(DefaultDomain, address, out _);
            if (traceback == 0)
                traceback = FreeingSlot.TracebackOf(address, s_generation);
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

    /// <summary>The traceback (0: none) and size of the trace of a user-named (domain, address):
    /// its block's header in the traced heap, else the table. Lock held; no pymalloc lock is
    /// left held (nothing may be allocated under one).</summary>
    private static nuint FindTrace(uint domain, nuint address, out nuint size)
    {
        size = 0;
        TraceHeader* header = HeaderOf(domain, address, named: true, out HeapLock* held);
        if (header != null)
        {
            size = header->Size;
            nuint traceback = header->Traceback;
            held->Exit();
            return traceback;
        }
        AddressTable.Entry* e = s_traces.Find(domain, address);
        if (e == null)
            return 0;
        size = e->Value;
        return e->Extra;
    }

    /// <summary>The trace of (domain, address), as CopyTraces gives traces: none or one.</summary>
    internal static List<(uint Domain, ulong Size, nint Traceback)> CopyTraceOf(uint domain, nuint address,
        Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)> tracebacks)
    {
        var copier = new TraceCopier { Traces = new(), Frames = new(), Totals = new() };
        s_lock.Enter();
        try
        {
            nuint size = 0;
            nuint traceback = s_tracing ? FindTrace(domain, address, out size) : 0;
            if (traceback != 0)
                copier.Copy(domain, size, traceback);
        }
        finally
        {
            s_lock.Exit();
        }
        NameFrames(copier, tracebacks);
        return copier.Traces;
    }

    /// <summary>Copies every trace under the lock: (domain, size, traceback block) triples and
    /// each distinct traceback's frames, named after the lock is released.</summary>
    internal static List<(uint Domain, ulong Size, nint Traceback)> CopyTraces(Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)> tracebacks)
    {
        var copier = new TraceCopier { Traces = new(), Frames = new(), Totals = new() };
        s_lock.Enter();
        try
        {
            AddressTable.Entry* slots = s_traces.Slots;
            for (nuint i = 0; i < s_traces.Capacity; i++)
                if (slots[i].Address != 0)
                    copier.Copy(slots[i].Domain, slots[i].Value, slots[i].Extra);
            if (s_tracing)
            {
                // The headers' traces, into an array made before the walk: nothing is
                // allocated while pymalloc's locks are held.
                var gatherer = new GatherHeaderTraces { Traces = new (nuint, nuint)[s_headerTraces] };
                Pymalloc.Pymalloc.ForEachTracedBlock(ref gatherer);
                for (int i = 0; i < gatherer.Count; i++)
                    copier.Copy(DefaultDomain, gatherer.Traces[i].Size, gatherer.Traces[i].Traceback);
            }
        }
        finally
        {
            s_lock.Exit();
        }
        NameFrames(copier, tracebacks);
        return copier.Traces;
    }

    /// <summary>Names the frames a copier took (native frames are symbolized now, without the
    /// lock) into tracebacks.</summary>
    private static void NameFrames(in TraceCopier copier, Dictionary<nint, ((string File, uint Line)[] Frames, ushort Total)> tracebacks)
    {
        Dictionary<nint, ushort> totals = copier.Totals;
        foreach (var (tb, frames) in copier.Frames)
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
    }

    /// <summary>(size, traceback) of every header trace (s_headerTraces of them: the tracer's
    /// lock is held).</summary>
    private struct GatherHeaderTraces : ITracedBlockVisitor
    {
        public (nuint Size, nuint Traceback)[] Traces;
        public int Count;

        public void Visit(TraceHeader* header, void* data)
        {
            if (Count < Traces.Length)   // (a stray word a bug left would not overrun it)
                Traces[Count++] = (header->Size, header->Traceback);
        }
    }

    /// <summary>Copies traces and their tracebacks' frames (names as managed strings: the
    /// tables may be cleared once the lock is released).</summary>
    private struct TraceCopier
    {
        public List<(uint Domain, ulong Size, nint Traceback)> Traces;
        public Dictionary<nint, TraceFrame[]> Frames;
        public Dictionary<nint, ushort> Totals;

        public void Copy(uint domain, nuint size, nuint traceback)
        {
            nint tb = (nint)traceback;
            Traces.Add((domain, (ulong)size, tb));
            if (Frames.ContainsKey(tb))
                return;
            var header = (TracebackHeader*)InternTable.Data((InternTable.Block*)tb);
            var copy = new TraceFrame[header->NFrame];
            var frames = (TraceFrame*)(header + 1);
            for (int f = 0; f < copy.Length; f++)
            {
                copy[f] = frames[f];
                if (copy[f].Pc == 0)
                    copy[f].Filename = (byte*)Marshal.StringToCoTaskMemUTF8(Marshal.PtrToStringUTF8((nint)frames[f].Filename));
            }
            Frames[tb] = copy;
            Totals[tb] = header->TotalNFrame;
        }
    }
}

/// <summary>The block a thread is freeing while tracing (see Tracer): a free touches it only
/// when tracing is on, and the dump reads it only on the failing thread.</summary>
internal static class FreeingSlot
{
    [ThreadStatic] private static nuint t_address;
    [ThreadStatic] private static nuint t_traceback;
    [ThreadStatic] private static uint t_generation;   // of the traces it was removed from

    public static void Set(nuint address, nuint traceback, uint generation)
    {
        t_address = address;
        t_traceback = traceback;
        t_generation = generation;
    }

    public static void Clear()
    {
        t_address = 0;
        t_traceback = 0;
    }

    /// <summary>The traceback, while the traces it came from were not cleared.</summary>
    public static nuint TracebackOf(nuint address, uint generation) =>
        t_address == address && t_generation == generation ? t_traceback : 0;
}

/// <summary>The three wrapper tables installed by a start (no static initializer: a class
/// with one pays an initialization check on its static accesses).</summary>
[System.Runtime.CompilerServices.InlineArray(3)]
internal struct WrapperPerDomain
{
    private nint _first;
}

/// <summary>Interned one-frame tracebacks by return address: most traces are one frame from a
/// handful of call sites, and this skips hashing and comparing them. Under the tracer's lock.</summary>
internal unsafe struct SingleFrameCache
{
    private const int Size = 256;
    internal fixed ulong Pcs[Size];      // read by Native/phn_fast_trace.h: 256 addresses,
    internal fixed ulong Blocks[Size];   // then their tracebacks

    private static int Slot(nuint pc) => (int)(((ulong)pc * 0x9E3779B97F4A7C15ul) >> 56);

    public InternTable.Block* Find(nuint pc)
    {
        int i = Slot(pc);
        return Pcs[i] == pc ? (InternTable.Block*)Blocks[i] : null;
    }

    public void Remember(nuint pc, InternTable.Block* block)
    {
        int i = Slot(pc);
        Pcs[i] = pc;
        Blocks[i] = (ulong)block;
    }

    public void Clear()
    {
        for (int i = 0; i < Size; i++)
            Pcs[i] = Blocks[i] = 0;
    }
}
