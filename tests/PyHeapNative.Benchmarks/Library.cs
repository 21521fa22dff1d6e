// Library.cs - the libpyheapnative.so that the P/Invoke benchmarks call, located the way
// PyHeapNative.Interop does it (NativeLibraryResolver): PYHEAPNATIVE_LIBRARY when it is set
// (./build.sh bench-net sets it to a private copy of artifacts/lib), else
// <repo>/artifacts/lib/libpyheapnative.so (pyheapnative.dll on Windows), found from the
// benchmark's own directory.
using System.Runtime.InteropServices;
using PyHeapNative.Interop;

namespace PyHeapNative.Benchmarks;

internal static class Library
{
    private static readonly object s_lock = new();
    private static string? s_path;

    /// <summary>The library's path; loads and starts it (phn_init) once per process.</summary>
    internal static string Ensure()
    {
        lock (s_lock)
        {
            if (s_path != null)
                return s_path;
            string? path = Environment.GetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable);
            if (string.IsNullOrEmpty(path))
            {
                path = FindInArtifacts() ?? throw new DllNotFoundException(
                    $"libpyheapnative.so not found: set {NativeLibraryResolver.EnvironmentVariable} or run ./build.sh build");
                Environment.SetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable, path);
            }
            int rc = Native.Init();
            if (rc != Native.PHN_OK)
                throw new InvalidOperationException($"phn_init returned {rc}: {LastError()}");
            if (Native.Version() != Native.PHN_VERSION)
                throw new InvalidOperationException($"{path} is version {Native.Version()}, the bindings are {Native.PHN_VERSION}");
            s_path = path;
            return path;
        }
    }

    internal static unsafe string LastError() => Marshal.PtrToStringUTF8((nint)Native.LastErrorMessage()) ?? "";

    /// <summary>The repository root: the first directory above ours holding PyHeapNative.sln.</summary>
    internal static string? RepoRoot()
    {
        string? env = Environment.GetEnvironmentVariable("PHN_REPO_ROOT");
        if (!string.IsNullOrEmpty(env))
            return env;
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "PyHeapNative.sln")))
                return d.FullName;
        return null;
    }

    private static string? FindInArtifacts()
    {
        string? root = RepoRoot();
        string name = OperatingSystem.IsWindows() ? "pyheapnative.dll" : "libpyheapnative.so";
        string? file = root == null ? null : Path.Combine(root, "artifacts", "lib", name);
        return file != null && File.Exists(file) ? file : null;
    }
}
