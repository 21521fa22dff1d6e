// The C runtime and the kernel's page allocator on Windows (build.ps1 builds this variant).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Os;

internal static unsafe partial class Libc
{
    private const string C = "ucrtbase";
    private const string Kernel32 = "kernel32";

    [DllImport(C, EntryPoint = "malloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Malloc(nuint size);

    [DllImport(C, EntryPoint = "calloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Calloc(nuint nelem, nuint elsize);

    [DllImport(C, EntryPoint = "realloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Realloc(void* ptr, nuint size);

    [DllImport(C, EntryPoint = "free", ExactSpelling = true), SuppressGCTransition]
    internal static extern void Free(void* ptr);

    /// <summary>The calling thread's identity, for the GIL's owner.</summary>
    [DllImport(Kernel32, EntryPoint = "GetCurrentThreadId", ExactSpelling = true), SuppressGCTransition]
    private static extern uint GetCurrentThreadId();

    internal static nuint CurrentThread() => GetCurrentThreadId();

    [DllImport(C, EntryPoint = "_errno", ExactSpelling = true), SuppressGCTransition]
    private static extern int* ErrnoLocation();

    [DllImport(C, EntryPoint = "abort", ExactSpelling = true)]
    internal static extern void Abort();

    [DllImport(C, EntryPoint = "atexit", ExactSpelling = true)]
    internal static extern int AtExit(delegate* unmanaged[Cdecl]<void> function);

    [DllImport(C, EntryPoint = "_write", ExactSpelling = true)]
    private static extern int Write(int fd, byte* buf, uint count);

    [DllImport(Kernel32, EntryPoint = "VirtualAlloc", ExactSpelling = true)]
    private static extern void* VirtualAlloc(void* address, nuint size, uint allocationType, uint protect);

    [DllImport(Kernel32, EntryPoint = "VirtualFree", ExactSpelling = true)]
    private static extern int VirtualFree(void* address, nuint size, uint freeType);

    [DllImport(Kernel32, EntryPoint = "RtlCaptureStackBackTrace", ExactSpelling = true)]
    private static extern ushort CaptureStackBackTrace(uint framesToSkip, uint framesToCapture, void** backTrace, uint* hash);

    internal static int Backtrace(void** buffer, int size) => CaptureStackBackTrace(0, (uint)Math.Min(size, 62), buffer, null);

    [StructLayout(LayoutKind.Sequential)]
    internal struct DlInfo
    {
        public byte* FileName;
        public void* FileBase;
        public byte* SymbolName;
        public void* SymbolAddress;
    }

    /// <summary>No symbolization on Windows yet: frames are shown by address.</summary>
    internal static int DlAddr(void* address, DlInfo* info) => 0;

    internal const int ENOMEM = 12;
    private const uint MEM_COMMIT = 0x1000, MEM_RESERVE = 0x2000, MEM_RELEASE = 0x8000, PAGE_READWRITE = 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SetErrno(int value) => *ErrnoLocation() = value;

    internal static int GetErrno() => *ErrnoLocation();

    internal static void* MapPages(nuint size) => VirtualAlloc(null, size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);

    internal static void UnmapPages(void* p, nuint size)
    {
        if (p != null)
            VirtualFree(p, 0, MEM_RELEASE);
    }

    internal const nuint PageSize = 4096;

    /// <summary>A VirtualAlloc'ed region is released whole: arenas are mapped one by one.</summary>
    internal const bool CanUnmapPart = false;

    internal static void AdviseHugePages(void* p, nuint size) { }

    /// <summary>Not called: arenas are mapped one by one here (CanUnmapPart), and nothing else
    /// asks for more than VirtualAlloc's 64 KiB alignment.</summary>
    internal static void* MapAlignedPages(nuint size, nuint alignment) => MapPages(size);

    internal static string? GetEnvironmentVariable(string name) => System.Environment.GetEnvironmentVariable(name);

    internal static void WriteStderr(byte* text, nuint length)
    {
        while (length > 0)
        {
            int n = Write(2, text, (uint)System.Math.Min(length, (nuint)int.MaxValue));
            if (n <= 0)
                return;
            text += n;
            length -= (nuint)n;
        }
    }
}
