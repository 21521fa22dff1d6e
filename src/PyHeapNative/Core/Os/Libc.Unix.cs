// The C library and the kernel's page allocator on POSIX systems.
//
// Calls are bound directly at link time (DirectPInvoke in the project file) and skip the
// GC transition: they are short, never call back into managed code, and sit on hot paths.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Core.Os;

internal static unsafe partial class Libc
{
    private const string C = "libc";

    [DllImport(C, EntryPoint = "malloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Malloc(nuint size);

    [DllImport(C, EntryPoint = "calloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Calloc(nuint nelem, nuint elsize);

    [DllImport(C, EntryPoint = "realloc", ExactSpelling = true), SuppressGCTransition]
    internal static extern void* Realloc(void* ptr, nuint size);

    [DllImport(C, EntryPoint = "free", ExactSpelling = true), SuppressGCTransition]
    internal static extern void Free(void* ptr);

    /// <summary>The calling thread's identity (pthread_self: one load from the thread
    /// pointer, no TLS lookup), for the GIL's owner.</summary>
    [DllImport(C, EntryPoint = "pthread_self", ExactSpelling = true), SuppressGCTransition]
    internal static extern nuint CurrentThread();

    [DllImport(C, EntryPoint = "__errno_location", ExactSpelling = true), SuppressGCTransition]
    private static extern int* ErrnoLocation();

    [DllImport(C, EntryPoint = "getenv", ExactSpelling = true), SuppressGCTransition]
    private static extern byte* GetEnv(byte* name);

    [DllImport(C, EntryPoint = "write", ExactSpelling = true)]
    private static extern nint Write(int fd, byte* buf, nuint count);

    [DllImport(C, EntryPoint = "abort", ExactSpelling = true)]
    internal static extern void Abort();

    [DllImport(C, EntryPoint = "atexit", ExactSpelling = true)]
    internal static extern int AtExit(delegate* unmanaged[Cdecl]<void> function);

    // mmap and munmap keep the GC transition: they are slow paths and may take a while.
    [DllImport(C, EntryPoint = "mmap", ExactSpelling = true)]
    private static extern void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport(C, EntryPoint = "munmap", ExactSpelling = true)]
    private static extern int Munmap(void* addr, nuint length);

    [DllImport(C, EntryPoint = "backtrace", ExactSpelling = true)]
    internal static extern int Backtrace(void** buffer, int size);

    [StructLayout(LayoutKind.Sequential)]
    internal struct DlInfo
    {
        public byte* FileName;
        public void* FileBase;
        public byte* SymbolName;
        public void* SymbolAddress;
    }

    [DllImport(C, EntryPoint = "dladdr", ExactSpelling = true)]
    internal static extern int DlAddr(void* address, DlInfo* info);

    internal const int ENOMEM = 12;
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SetErrno(int value) => *ErrnoLocation() = value;

    internal static int GetErrno() => *ErrnoLocation();

    /// <summary>Anonymous zero-filled read-write pages, or null.</summary>
    internal static void* MapPages(nuint size)
    {
        void* p = Mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == (void*)-1 ? null : p;
    }

    internal static void UnmapPages(void* p, nuint size)
    {
        if (p != null)
            Munmap(p, size);
    }

    internal const nuint PageSize = 4096;

    /// <summary>Part of a mapping can be unmapped (munmap can; VirtualFree cannot).</summary>
    internal const bool CanUnmapPart = true;

    [DllImport(C, EntryPoint = "madvise", ExactSpelling = true)]
    private static extern int Madvise(void* addr, nuint length, int advice);

    private const int MADV_HUGEPAGE = 14;

    /// <summary>size bytes of zero-filled pages aligned to alignment (a power of two, at
    /// least a page), or null: a larger mapping, its ends cut off.</summary>
    internal static void* MapAlignedPages(nuint size, nuint alignment)
    {
        nuint span = size + alignment - PageSize;   // holds an aligned range wherever it lands
        var start = (byte*)MapPages(span);
        if (start == null)
            return null;
        var aligned = (byte*)(((nuint)start + alignment - 1) & ~(alignment - 1));
        if (aligned > start)
            UnmapPages(start, (nuint)(aligned - start));
        byte* end = start + span;
        if (end > aligned + size)
            UnmapPages(aligned + size, (nuint)(end - (aligned + size)));
        return aligned;
    }

    /// <summary>Asks for transparent huge pages on a range (a hint: ignored when the system
    /// has them off).</summary>
    internal static void AdviseHugePages(void* p, nuint size) => Madvise(p, size, MADV_HUGEPAGE);

    /// <summary>The value of an environment variable at the time of the call, or null.</summary>
    internal static string? GetEnvironmentVariable(string name)
    {
        byte* n = stackalloc byte[name.Length + 1];
        for (int i = 0; i < name.Length; i++)
            n[i] = (byte)name[i];
        n[name.Length] = 0;
        byte* v = GetEnv(n);
        return v == null ? null : Marshal.PtrToStringUTF8((nint)v);
    }

    /// <summary>Writes all of the bytes to standard error, retrying short writes.</summary>
    internal static void WriteStderr(byte* text, nuint length)
    {
        while (length > 0)
        {
            nint n = Write(2, text, length);
            if (n <= 0)
                return;
            text += n;
            length -= (nuint)n;
        }
    }
}
