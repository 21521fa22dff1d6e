// Tracebacks: how frames are captured for a trace, and how native ones get names.
//
// A frame is either native (Pc: a return address, named when a snapshot is taken) or given
// by a frame provider (Filename, interned, and Lineno). A traceback is stored interned as
// [TracebackHeader][frames], most recent frame first.
using System.Runtime.InteropServices;
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Raw;

namespace PyHeapNative.Core.Tracing;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TraceFrame
{
    public nuint Pc;          // native return address, or 0
    public byte* Filename;    // provider frame: interned name; native frame: null
    public uint Lineno;
    public uint Reserved;
}

[StructLayout(LayoutKind.Sequential)]
internal struct TracebackHeader
{
    public ushort NFrame;
    public ushort TotalNFrame;   // depth at capture, saturating at 65535
    public uint Reserved;
    // NFrame TraceFrame follow.
}

/// <summary>The C struct phn_frame.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PhnFrame
{
    public byte* Filename;
    public uint Lineno;
    public uint Reserved;
}

internal static unsafe class Frames
{
    internal const int MaxFrames = 65535;

    private static delegate* unmanaged[Cdecl]<void*, PhnFrame*, int, int*, int> s_provider;
    private static void* s_providerContext;

    [ThreadStatic] private static byte* t_buffer;   // a TracebackHeader, then the frames
    [ThreadStatic] private static int t_capacity;
    [ThreadStatic] private static PhnFrame* t_providerBuffer;
    [ThreadStatic] private static void** t_pcBuffer;
    [ThreadStatic] private static byte* t_names;      // copies of a provider's file names
    [ThreadStatic] private static nuint t_namesCapacity;

    /// <summary>The library's own code range, skipped when walking native frames.</summary>
    private static void* s_libraryBase;

    /// <summary>Only through Tracer.SetFrameProvider, which keeps the tracer's gate in step.</summary>
    internal static void SetProvider(delegate* unmanaged[Cdecl]<void*, PhnFrame*, int, int*, int> provider, void* context)
    {
        s_providerContext = context;
        s_provider = provider;
    }

    internal static bool HasProvider => s_provider != null;

    internal static void RememberLibrary(void* anyFunctionOfTheLibrary)
    {
        Libc.DlInfo info;
        if (Libc.DlAddr(anyFunctionOfTheLibrary, &info) != 0)
            s_libraryBase = info.FileBase;
    }

    /// <summary>
    /// Captures up to limit frames of the current call into a per-thread buffer, most recent
    /// first, with room for a TracebackHeader just before them. Provider frames keep the
    /// provider's (uninterned) file names until the trace is stored. Returns the frames
    /// (null when out of memory), their count (0: no frame) and the total depth.
    /// </summary>
    internal static TraceFrame* Capture(int limit, void* knownCaller, out int count, out int total)
    {
        if (t_capacity < limit)
        {
            Libc.Free(t_buffer);
            Libc.Free(t_providerBuffer);
            Libc.Free(t_pcBuffer);
            t_capacity = 0;
            t_buffer = (byte*)Libc.Malloc((nuint)sizeof(TracebackHeader) + (nuint)limit * (nuint)sizeof(TraceFrame));
            t_providerBuffer = (PhnFrame*)Libc.Malloc((nuint)limit * (nuint)sizeof(PhnFrame));
            t_pcBuffer = (void**)Libc.Malloc((nuint)(limit + 64) * (nuint)sizeof(void*));
            if (t_buffer == null || t_providerBuffer == null || t_pcBuffer == null)
            {
                count = total = 0;
                return null;
            }
            t_capacity = limit;
        }
        var frames = (TraceFrame*)(t_buffer + sizeof(TracebackHeader));
        var provider = s_provider;
        if (provider != null)
        {
            int depth = 0;
            int n = provider(s_providerContext, t_providerBuffer, limit, &depth);
            n = Math.Clamp(n, 0, limit);
            // The names need only live until the provider returns: copy them now.
            if (!CopyProviderNames(n))
            {
                count = total = 0;
                return null;
            }
            byte* name = t_names;
            for (int i = 0; i < n; i++)
            {
                bool known = t_providerBuffer[i].Filename != null;
                frames[i] = new TraceFrame { Filename = known ? name : null, Lineno = t_providerBuffer[i].Lineno };
                if (known)
                    name += MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name).Length + 1;
            }
            count = n;
            total = Math.Max(depth, n);
            return frames;
        }

        // The first frame is free: the export's C shim passed its caller's address.
        void* caller = knownCaller == Call.UnknownCaller ? null : knownCaller;
        if (caller != null && limit == 1)
        {
            frames[0] = new TraceFrame { Pc = (nuint)caller };
            count = 1;
            total = 1;   // deeper frames were not walked
            return frames;
        }

        // Deeper frames: walk with the unwinder and skip the library's own frames (up to the
        // caller when it is known).
        int walked = Libc.Backtrace(t_pcBuffer, limit + 64);
        int start = 0;
        if (caller != null)
        {
            while (start < walked && t_pcBuffer[start] != caller)
                start++;
            if (start == walked)
                start = FirstOutsideLibrary(walked);
        }
        else
            start = FirstOutsideLibrary(walked);
        count = Math.Min(walked - start, limit);
        for (int i = 0; i < count; i++)
            frames[i] = new TraceFrame { Pc = (nuint)t_pcBuffer[start + i] };
        total = walked - start;
        return frames;
    }

    /// <summary>Copies the provider's n file names (each cut at 4096 bytes) into t_names.</summary>
    private static bool CopyProviderNames(int n)
    {
        nuint needed = 0;
        for (int i = 0; i < n; i++)
            if (t_providerBuffer[i].Filename != null)
                needed += (nuint)Math.Min(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(t_providerBuffer[i].Filename).Length, 4096) + 1;
        if (needed > t_namesCapacity)
        {
            Libc.Free(t_names);
            t_names = (byte*)Libc.Malloc(needed);
            t_namesCapacity = t_names == null ? 0 : needed;
            if (t_names == null)
                return false;
        }
        byte* dest = t_names;
        for (int i = 0; i < n; i++)
        {
            byte* src = t_providerBuffer[i].Filename;
            if (src == null)
                continue;
            int len = Math.Min(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(src).Length, 4096);
            Buffer.MemoryCopy(src, dest, len, len);
            dest[len] = 0;
            dest += len + 1;
        }
        return true;
    }

    private static int FirstOutsideLibrary(int walked)
    {
        for (int i = 0; i < walked; i++)
        {
            Libc.DlInfo info;
            if (Libc.DlAddr(t_pcBuffer[i], &info) == 0 || info.FileBase != s_libraryBase)
                return i;
        }
        return walked;
    }

    /// <summary>Names a native frame: "module:symbol" and the offset from the symbol (or
    /// "module" and the offset from its base; "&lt;unknown&gt;" and 0 when nothing is known).</summary>
    internal static string Name(nuint pc, out uint lineno)
    {
        Libc.DlInfo info;
        if (Libc.DlAddr((void*)pc, &info) == 0 || info.FileName == null)
        {
            lineno = 0;
            return "<unknown>";
        }
        string module = Marshal.PtrToStringUTF8((nint)info.FileName) ?? "<unknown>";
        if (module.Length == 0)
            module = "<unknown>";
        if (info.SymbolName != null && info.SymbolAddress != null)
        {
            lineno = (uint)Math.Min((ulong)(pc - (nuint)info.SymbolAddress), uint.MaxValue);
            return module + ":" + Marshal.PtrToStringUTF8((nint)info.SymbolName);
        }
        lineno = (uint)Math.Min((ulong)(pc - (nuint)info.FileBase), uint.MaxValue);
        return module;
    }
}
