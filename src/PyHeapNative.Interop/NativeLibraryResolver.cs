// NativeLibraryResolver.cs - maps the "pyheapnative" import of Native to a file
// (ClangSharp's clang.cs resolver, docs/style-and-ecosystem.md 1.7 #14 and 2.5).
using System.Reflection;
using System.Runtime.InteropServices;

namespace PyHeapNative.Interop;

/// <summary>
/// Locates <c>libpyheapnative</c> for <see cref="Native"/>. Registered automatically before the
/// first native call. Resolution order:
/// <list type="number">
/// <item><description>the <see cref="ResolvingLibrary"/> handlers, in subscription order (first non-zero handle wins);</description></item>
/// <item><description>the path in the <c>PYHEAPNATIVE_LIBRARY</c> environment variable (a load failure is an error, not a fallback);</description></item>
/// <item><description>the application folder (<see cref="AppContext.BaseDirectory"/>), then the folder of this assembly:
/// <c>libpyheapnative.so.0</c>, <c>libpyheapnative.so</c> (<c>pyheapnative.dll</c> on Windows, <c>libpyheapnative.0.dylib</c>/<c>libpyheapnative.dylib</c> on macOS);</description></item>
/// <item><description><c>runtimes/&lt;rid&gt;/native/</c> under those two folders (the NuGet layout, as <c>dotnet build</c> copies it),
/// for the runtime's RID and the portable one (<c>linux-x64</c>, ...);</description></item>
/// <item><description><c>NativeLibrary.TryLoad</c> by name with the assembly's search paths (the system's library path, <c>LD_LIBRARY_PATH</c>);</description></item>
/// <item><description>the runtime's default probing.</description></item>
/// </list>
/// </summary>
/// <remarks>
/// Set the AppContext switch <see cref="DisableSwitchName"/> to keep the resolver from being
/// registered (for hosts that install their own with <see cref="NativeLibrary.SetDllImportResolver"/>).
/// The library can never be unloaded, so the handle is never freed.
/// </remarks>
public static class NativeLibraryResolver
{
    /// <summary>The AppContext switch that disables the resolver.</summary>
    public const string DisableSwitchName = "PyHeapNative.Interop.DisableNativeLibraryResolver";

    /// <summary>The environment variable naming the library file to load.</summary>
    public const string EnvironmentVariable = "PYHEAPNATIVE_LIBRARY";

    private static readonly object s_lock = new();
    private static bool s_registered;

    /// <summary>
    /// Raised when the runtime resolves the native library, before any other location is tried.
    /// Return a handle from <see cref="NativeLibrary.Load(string)"/>, or zero to continue with the
    /// next location. Subscribe before the first call into <see cref="Native"/> or <see cref="PyHeap"/>.
    /// </summary>
    public static event Func<string, Assembly, DllImportSearchPath?, nint>? ResolvingLibrary;

    /// <summary>
    /// Where the library was loaded from: "hook" (a <see cref="ResolvingLibrary"/> handler), a
    /// file path, or the name given to <c>NativeLibrary.TryLoad</c>; null before the first
    /// call into the library, or when the runtime's default probing found it.
    /// </summary>
    public static string? LoadedFrom { get; private set; }

    /// <summary>Registers the resolver for the Interop assembly, once.</summary>
    internal static void Register()
    {
        if (AppContext.TryGetSwitch(DisableSwitchName, out bool disabled) && disabled)
            return;
        lock (s_lock)
        {
            if (s_registered)
                return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
            s_registered = true;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != Native.LibraryName)
            return 0;

        // 1. user hook
        if (ResolvingLibrary is { } hooks)
        {
            foreach (Func<string, Assembly, DllImportSearchPath?, nint> hook in hooks.GetInvocationList())
            {
                nint h = hook(libraryName, assembly, searchPath);
                if (h != 0)
                {
                    LoadedFrom = "hook";
                    return h;
                }
            }
        }

        // 2. explicit path
        string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(path))
        {
            try
            {
                nint h = NativeLibrary.Load(path);
                LoadedFrom = path;
                return h;
            }
            catch (DllNotFoundException e)
            {
                throw new DllNotFoundException($"{EnvironmentVariable}={path} could not be loaded: {e.Message}", e);
            }
        }

        // 3. the application folder and 4. runtimes/<rid>/native (this assembly's folder too)
        if (TryLoadFirst(CandidatePaths(AppContext.BaseDirectory, AssemblyDirectory(assembly)), out nint handle, out string? loaded))
        {
            LoadedFrom = loaded;
            return handle;
        }

        // 5. by name, with the assembly's search paths
        foreach (string name in ProbingNames())
        {
            if (NativeLibrary.TryLoad(name, assembly, searchPath, out nint h))
            {
                LoadedFrom = name;
                return h;
            }
        }

        return 0;   // 6. default probing
    }

    /// <summary>
    /// The files tried in steps 3 and 4, in order: the library's file names in each folder,
    /// then in <c>runtimes/&lt;rid&gt;/native</c> of each folder (duplicate folders once).
    /// </summary>
    internal static IEnumerable<string> CandidatePaths(string? applicationDirectory, string? assemblyDirectory)
    {
        var dirs = new List<string>();
        foreach (string? d in new[] { applicationDirectory, assemblyDirectory })
        {
            if (string.IsNullOrEmpty(d))
                continue;
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(d));
            if (!dirs.Contains(full))
                dirs.Add(full);
        }
        foreach (string dir in dirs)
        {
            foreach (string name in FileNames())
                yield return Path.Combine(dir, name);
        }
        foreach (string dir in dirs)
        {
            foreach (string rid in RuntimeIdentifiers())
            {
                foreach (string name in FileNames())
                    yield return Path.Combine(dir, "runtimes", rid, "native", name);
            }
        }
    }

    /// <summary>Loads the first candidate that exists and loads.</summary>
    internal static bool TryLoadFirst(IEnumerable<string> candidates, out nint handle, out string? loadedFrom)
    {
        foreach (string candidate in candidates)
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out handle))
            {
                loadedFrom = candidate;
                return true;
            }
        }
        handle = 0;
        loadedFrom = null;
        return false;
    }

    private static string[] ProbingNames()
    {
        if (OperatingSystem.IsWindows())
            return ["pyheapnative"];
        if (OperatingSystem.IsMacOS())
            return ["libpyheapnative.0.dylib", "libpyheapnative"];
        return ["libpyheapnative.so.0", "libpyheapnative"];
    }

    private static string[] FileNames()
    {
        if (OperatingSystem.IsWindows())
            return ["pyheapnative.dll", "libpyheapnative.dll"];
        if (OperatingSystem.IsMacOS())
            return ["libpyheapnative.0.dylib", "libpyheapnative.dylib"];
        return ["libpyheapnative.so.0", "libpyheapnative.so"];
    }

    /// <summary>The runtime's RID, then the portable one (<c>linux-x64</c>, <c>win-x64</c>, <c>osx-arm64</c>, ...) if different.</summary>
    internal static IEnumerable<string> RuntimeIdentifiers()
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        yield return rid;
        string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        string portable = $"{os}-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        if (portable != rid)
            yield return portable;
    }

    private static string? AssemblyDirectory(Assembly assembly)
    {
#pragma warning disable IL3000 // "" in a single-file app: the application folder covers it
        string location = assembly.Location;
#pragma warning restore IL3000
        return location.Length != 0 ? Path.GetDirectoryName(location) : null;
    }
}
