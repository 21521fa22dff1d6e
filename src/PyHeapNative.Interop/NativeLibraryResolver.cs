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
/// <item><description><c>NativeLibrary.TryLoad(name, assembly, searchPath)</c> with <c>libpyheapnative.so.0</c>, then <c>libpyheapnative</c>;</description></item>
/// <item><description><c>runtimes/&lt;rid&gt;/native/</c> next to this assembly (the NuGet layout);</description></item>
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

    /// <summary>How the library was found ("hook", the path, or the name passed to TryLoad); null before loading or when the default probing found it.</summary>
    internal static string? LoadedFrom { get; private set; }

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

        // 3. by name, with the assembly's search paths
        foreach (string name in ProbingNames())
        {
            if (NativeLibrary.TryLoad(name, assembly, searchPath, out nint h))
            {
                LoadedFrom = name;
                return h;
            }
        }

        // 4. runtimes/<rid>/native next to the assembly
        string? dir = AssemblyDirectory(assembly);
        if (dir != null)
        {
            foreach (string rid in RuntimeIdentifiers())
            {
                foreach (string name in FileNames())
                {
                    string candidate = Path.Combine(dir, "runtimes", rid, "native", name);
                    if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out nint h))
                    {
                        LoadedFrom = candidate;
                        return h;
                    }
                }
            }
        }

        return 0;   // 5. default probing
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

    private static IEnumerable<string> RuntimeIdentifiers()
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
#pragma warning disable IL3000 // "" in a single-file app, handled below
        string location = assembly.Location;
#pragma warning restore IL3000
        string? dir = location.Length != 0 ? Path.GetDirectoryName(location) : AppContext.BaseDirectory;
        return string.IsNullOrEmpty(dir) ? null : dir;
    }
}
