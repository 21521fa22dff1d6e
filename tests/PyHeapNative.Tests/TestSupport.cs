// Helpers shared by the fixtures: locating the repository and the library, running child
// processes, errno, stats, and per-domain access to the raw bindings.
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace PyHeapNative.Tests;

/// <summary>Runs once for the assembly: points the resolver at the repository's build when
/// PYHEAPNATIVE_LIBRARY is not set (build.sh sets it).</summary>
[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public void PointResolverAtRepoBuild()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable)))
            return;
        NativeLibraryResolver.ResolvingLibrary += static (name, assembly, searchPath) =>
            File.Exists(Repo.LibraryPath) ? NativeLibrary.Load(Repo.LibraryPath) : 0;
    }
}

internal static class Repo
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>PHN_REPO_ROOT, or the first ancestor of the test assembly holding PyHeapNative.sln.</summary>
    public static string Root => s_root.Value;

    public static string IncludeDir => Path.Combine(Root, "include");

    public static string LibDir => Path.Combine(Root, "artifacts", "lib");

    /// <summary>PYHEAPNATIVE_LIBRARY if set (as build.sh does), else artifacts/lib/libpyheapnative.so.</summary>
    public static string LibraryPath
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable);
            return string.IsNullOrEmpty(env) ? Path.Combine(LibDir, "libpyheapnative.so") : env;
        }
    }

    private static string FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("PHN_REPO_ROOT");
        if (!string.IsNullOrEmpty(env))
            return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PyHeapNative.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("repository root not found: set PHN_REPO_ROOT");
    }

    /// <summary>A fresh scratch directory for this test run (under the system temp folder).</summary>
    public static string NewScratchDir(string purpose)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"phn-tests-{Environment.ProcessId}-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}

internal sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}

internal static class ProcessRunner
{
    /// <summary>Runs a program to completion (killing it after the timeout) and captures its output.</summary>
    public static ProcessResult Run(string fileName, IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment = null, int timeoutMs = 60_000, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        if (environment != null)
        {
            foreach (var (key, value) in environment)
            {
                if (value == null)
                    psi.Environment.Remove(key);
                else
                    psi.Environment[key] = value;
            }
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Assert.Fail($"{fileName} {string.Join(' ', args)} timed out after {timeoutMs} ms");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a tool that must succeed and returns its stdout.</summary>
    public static string RunChecked(string fileName, params string[] args)
    {
        ProcessResult r = Run(fileName, args);
        Assert.That(r.ExitCode, Is.Zero, $"{fileName} {string.Join(' ', args)} failed:\n{r}");
        return r.StdOut;
    }

    /// <summary>Compiles a C or C++ source string with gcc/g++; args follow the source path (libraries last).</summary>
    public static ProcessResult Compile(string compiler, string sourcePath, string source, params string[] args)
    {
        File.WriteAllText(sourcePath, source, new UTF8Encoding(false));
        return Run(compiler, [sourcePath, .. args]);
    }

    /// <summary>Compiles a C program against the built library (rpath set) into scratch/name and
    /// asserts that it built; returns the executable's path.</summary>
    public static string CompileProgram(string scratch, string name, string source, string std)
    {
        Assert.That(File.Exists(Repo.LibraryPath), Is.True, $"{Repo.LibraryPath} not built");
        string exe = Path.Combine(scratch, name);
        string libDir = Path.GetDirectoryName(Path.GetFullPath(Repo.LibraryPath))!;
        ProcessResult cc = Compile("gcc", exe + ".c", source,
            $"-std={std}", "-O2", "-Wall", "-Wextra", "-Werror", "-I", Repo.IncludeDir, "-o", exe,
            "-L", libDir, $"-Wl,-rpath,{libDir}", "-lpyheapnative");
        Assert.That(cc.ExitCode, Is.Zero, "gcc:\n" + cc);
        return exe;
    }
}

internal static class Errno
{
    public const int EBADF = 9;
    public const int ENOMEM = 12;

    /// <summary>errno of this thread, read right after the native call (no SetLastError marshalling).</summary>
    public static int Value => Marshal.GetLastSystemError();

    public static void Set(int value) => Marshal.SetLastSystemError(value);
}

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);
}

/// <summary>The raw bindings indexed by domain number, and stats/checks shared by fixtures.</summary>
internal static unsafe class Heap
{
    public static readonly nuint PtrdiffMax = unchecked((nuint)long.MaxValue);

    public static readonly int[] AllDomains = [Native.PHN_DOMAIN_RAW, Native.PHN_DOMAIN_MEM, Native.PHN_DOMAIN_OBJ];
    public static readonly int[] PymallocDomains = [Native.PHN_DOMAIN_MEM, Native.PHN_DOMAIN_OBJ];

    public static string Name(int domain) => domain switch { 0 => "RAW", 1 => "MEM", 2 => "OBJ", _ => $"domain {domain}" };

    public static void* Malloc(int domain, nuint size) => domain switch
    {
        Native.PHN_DOMAIN_RAW => Native.RawMalloc(size),
        Native.PHN_DOMAIN_MEM => Native.MemMalloc(size),
        Native.PHN_DOMAIN_OBJ => Native.ObjMalloc(size),
        _ => throw new ArgumentOutOfRangeException(nameof(domain)),
    };

    public static void* Calloc(int domain, nuint nelem, nuint elsize) => domain switch
    {
        Native.PHN_DOMAIN_RAW => Native.RawCalloc(nelem, elsize),
        Native.PHN_DOMAIN_MEM => Native.MemCalloc(nelem, elsize),
        Native.PHN_DOMAIN_OBJ => Native.ObjCalloc(nelem, elsize),
        _ => throw new ArgumentOutOfRangeException(nameof(domain)),
    };

    public static void* Realloc(int domain, void* ptr, nuint size) => domain switch
    {
        Native.PHN_DOMAIN_RAW => Native.RawRealloc(ptr, size),
        Native.PHN_DOMAIN_MEM => Native.MemRealloc(ptr, size),
        Native.PHN_DOMAIN_OBJ => Native.ObjRealloc(ptr, size),
        _ => throw new ArgumentOutOfRangeException(nameof(domain)),
    };

    public static void Free(int domain, void* ptr)
    {
        switch (domain)
        {
            case Native.PHN_DOMAIN_RAW: Native.RawFree(ptr); break;
            case Native.PHN_DOMAIN_MEM: Native.MemFree(ptr); break;
            case Native.PHN_DOMAIN_OBJ: Native.ObjFree(ptr); break;
            default: throw new ArgumentOutOfRangeException(nameof(domain));
        }
    }

    public static PhnStats Stats()
    {
        PhnStats s = default;
        s.StructSize = (uint)sizeof(PhnStats);
        int rc = Native.GetStats(&s);
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), $"phn_get_stats: {LastError}");
        return s;
    }

    /// <summary>Live pymalloc-served blocks (allocated_blocks minus the RAW fallbacks).</summary>
    public static ulong PymallocBlocks(in PhnStats s) => s.AllocatedBlocks - s.RawAllocatedBlocks;

    public static string LastError => Marshal.PtrToStringUTF8((nint)Native.LastErrorMessage()) ?? "(null)";

    public static string? AllocatorName => Marshal.PtrToStringUTF8((nint)Native.AllocatorName());

    public static void AssertValid()
    {
        int rc = Native.Validate();
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), $"phn_validate: {LastError}");
    }

    public static void Fill(void* p, nuint size, byte seed)
    {
        byte* b = (byte*)p;
        for (nuint i = 0; i < size; i++)
            b[i] = (byte)(seed + i * 7);
    }

    public static bool HasPattern(void* p, nuint size, byte seed)
    {
        byte* b = (byte*)p;
        for (nuint i = 0; i < size; i++)
        {
            if (b[i] != (byte)(seed + i * 7))
                return false;
        }
        return true;
    }

    public static bool IsZero(void* p, nuint size) => new ReadOnlySpan<byte>(p, checked((int)size)).IndexOfAnyExcept((byte)0) < 0;

    public static void AssertAligned(void* p, string what) =>
        Assert.That((ulong)p % Native.PHN_ALIGNMENT, Is.Zero, $"{what} = 0x{(nuint)p:x} is not {Native.PHN_ALIGNMENT}-byte aligned");

    public static byte[] Bytes<T>(in T value) where T : unmanaged
    {
        fixed (T* p = &value)
            return new ReadOnlySpan<byte>(p, sizeof(T)).ToArray();
    }

    public static PhnAllocator GetAllocator(int domain)
    {
        PhnAllocator a;
        int rc = Native.GetAllocator(domain, &a);
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), $"phn_get_allocator({domain}): {LastError}");
        return a;
    }

    public static void SetAllocator(int domain, PhnAllocator a)
    {
        int rc = Native.SetAllocator(domain, &a);
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), $"phn_set_allocator({domain}): {LastError}");
    }
}

/// <summary>
/// A hook that wraps a domain's current allocator and records every call, installed with
/// phn_set_allocator and removed (the saved struct restored) by Dispose. The callbacks are
/// [UnmanagedCallersOnly] statics; ctx carries the domain number.
/// </summary>
internal sealed unsafe class CountingHook : IDisposable
{
    private static readonly CountingHook?[] s_active = new CountingHook?[3];

    private readonly int _domain;
    private readonly PhnAllocator _previous;
    private readonly object _lock = new();
    private readonly List<(string Op, nuint A, nuint B)> _calls = [];
    private bool _disposed;

    private CountingHook(int domain, PhnAllocator previous)
    {
        _domain = domain;
        _previous = previous;
    }

    public PhnAllocator Previous => _previous;

    /// <summary>The struct this hook installs.</summary>
    public PhnAllocator Installed => new()
    {
        Ctx = (void*)(nint)(_domain + 1),
        Malloc = &HookMalloc,
        Calloc = &HookCalloc,
        Realloc = &HookRealloc,
        Free = &HookFree,
    };

    public static CountingHook Install(int domain)
    {
        Assert.That(s_active[domain], Is.Null, "a counting hook is already installed on this domain");
        var hook = new CountingHook(domain, Heap.GetAllocator(domain));
        s_active[domain] = hook;
        try
        {
            Heap.SetAllocator(domain, hook.Installed);
        }
        catch
        {
            s_active[domain] = null;
            throw;
        }
        return hook;
    }

    public List<(string Op, nuint A, nuint B)> Calls
    {
        get { lock (_lock) return [.. _calls]; }
    }

    public int Count(string op)
    {
        lock (_lock)
            return _calls.Count(c => c.Op == op);
    }

    public int Total
    {
        get { lock (_lock) return _calls.Count; }
    }

    public void Reset()
    {
        lock (_lock)
            _calls.Clear();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        PhnAllocator prev = _previous;
        int rc = Native.SetAllocator(_domain, &prev);
        s_active[_domain] = null;
        Assert.That(rc, Is.EqualTo(Native.PHN_OK), $"restoring the allocator of {Heap.Name(_domain)}: {Heap.LastError}");
    }

    private void Record(string op, nuint a, nuint b)
    {
        lock (_lock)
            _calls.Add((op, a, b));
    }

    private static CountingHook Self(void* ctx) =>
        s_active[(int)(nint)ctx - 1] ?? throw new InvalidOperationException("hook called after removal");

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void* HookMalloc(void* ctx, nuint size)
    {
        CountingHook h = Self(ctx);
        h.Record("malloc", size, 0);
        return h._previous.Malloc(h._previous.Ctx, size);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void* HookCalloc(void* ctx, nuint nelem, nuint elsize)
    {
        CountingHook h = Self(ctx);
        h.Record("calloc", nelem, elsize);
        return h._previous.Calloc(h._previous.Ctx, nelem, elsize);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void* HookRealloc(void* ctx, void* ptr, nuint newSize)
    {
        CountingHook h = Self(ctx);
        h.Record("realloc", (nuint)ptr, newSize);
        return h._previous.Realloc(h._previous.Ctx, ptr, newSize);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void HookFree(void* ctx, void* ptr)
    {
        CountingHook h = Self(ctx);
        h.Record("free", (nuint)ptr, 0);
        h._previous.Free(h._previous.Ctx, ptr);
    }
}

internal static class ReflectionExtensions
{
    public static IEnumerable<MethodInfo> AllStaticMethods(this Type type)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (MethodInfo m in type.GetMethods(flags))
            yield return m;
        foreach (Type nested in type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
        {
            foreach (MethodInfo m in nested.AllStaticMethods())
                yield return m;
        }
    }
}
