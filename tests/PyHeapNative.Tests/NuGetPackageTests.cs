// The NuGet package (issue 6, item 7) and README's .NET quick start: `dotnet pack` of
// PyHeapNative.Interop into a temporary folder feed (and its clear error without the native
// library), the package's layout, then a net10.0 console app whose Program.cs is README's
// quick start, restored from that feed alone (with its own package folder), built and run
// with PYHEAPNATIVE_LIBRARY unset: from bin/ (the library under runtimes/linux-x64/native/)
// and published for linux-x64 (the library in the application folder).
// About 40 s; filter it out with --filter "TestCategory!=Package".
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace PyHeapNative.Tests;

[TestFixture]
[Category("Package")]
[NonParallelizable]
public sealed partial class NuGetPackageTests
{
    private const int StepTimeoutMs = 240_000;

    private string _scratch = "";
    private Dictionary<string, string?> _env = [];

    private static string InteropProject => Path.Combine(Repo.Root, "src", "PyHeapNative.Interop", "PyHeapNative.Interop.csproj");

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p && File.Exists(p) ? p : "dotnet";

    [OneTimeSetUp]
    public void Scratch()
    {
        _scratch = Repo.NewScratchDir("nuget");
        // The child builds must not see the test host's MSBuild settings nor find the library
        // any other way than the package.
        _env = new Dictionary<string, string?>
        {
            [NativeLibraryResolver.EnvironmentVariable] = null,
            ["LD_LIBRARY_PATH"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
        };
        foreach (string key in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase))
                _env[key] = null;
        }
    }

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private ProcessResult Run(string fileName, string workingDirectory, IReadOnlyDictionary<string, string?>? extraEnv, params string[] args)
    {
        var env = new Dictionary<string, string?>(_env);
        foreach (var (k, v) in extraEnv ?? new Dictionary<string, string?>())
            env[k] = v;
        return ProcessRunner.Run(fileName, args, env, StepTimeoutMs, workingDirectory);
    }

    private static string HeaderVersion()
    {
        string h = File.ReadAllText(Path.Combine(Repo.IncludeDir, "pyheapnative", "phn_config.h"));
        string Part(string name) => Regex.Match(h, $@"#define PHN_VERSION_{name} (\d+)").Groups[1].Value;
        return $"{Part("MAJOR")}.{Part("MINOR")}.{Part("PATCH")}";
    }

    /// <summary>The first csharp block under README's "## Quick start: .NET".</summary>
    private static string ReadmeQuickStart()
    {
        string readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        int section = readme.IndexOf("## Quick start: .NET", StringComparison.Ordinal);
        Assert.That(section, Is.GreaterThanOrEqualTo(0), "README has a .NET quick start");
        Match m = CSharpBlock().Match(readme, section);
        Assert.That(m.Success, Is.True, "the .NET quick start has a ```csharp block");
        return m.Groups[1].Value;
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [Test]
    public void PackageCarriesTheLibraryAndAConsoleAppRunsFromIt()
    {
        string libDir = Path.GetDirectoryName(Path.GetFullPath(Repo.LibraryPath))!;
        string so0 = Path.Combine(libDir, "libpyheapnative.so.0");
        Assert.That(File.Exists(so0), Is.True, $"{so0} not built (./build.sh build)");
        string version = HeaderVersion();
        string artifacts = Path.Combine(_scratch, "pack");   // the Interop's bin/obj: the source tree is left alone
        string feed = Path.Combine(_scratch, "feed");

        // 1. Without the native library, pack fails and says what to do.
        string empty = Path.Combine(_scratch, "empty");
        Directory.CreateDirectory(empty);
        ProcessResult bad = Run(Dotnet, _scratch, null, "pack", InteropProject, "-c", "Release", "-nologo",
            "--disable-build-servers", "--artifacts-path", artifacts, "-o", Path.Combine(_scratch, "feed-bad"),
            $"-p:PhnNativeLibDir={empty}/");
        Assert.That(bad.ExitCode, Is.Not.Zero, "pack without the native library must fail:\n" + bad);
        Assert.That(bad.StdOut, Does.Contain($"the native library {empty}/libpyheapnative.so.0 is missing").And.Contain("./build.sh build"));
        Assert.That(Directory.Exists(Path.Combine(_scratch, "feed-bad")) && Directory.EnumerateFiles(Path.Combine(_scratch, "feed-bad"), "*.nupkg").Any(), Is.False);

        // 2. With it, the package has the NuGet layout.
        ProcessResult pack = Run(Dotnet, _scratch, null, "pack", InteropProject, "-c", "Release", "-nologo",
            "--disable-build-servers", "--artifacts-path", artifacts, "-o", feed, $"-p:PhnNativeLibDir={libDir}/");
        Assert.That(pack.ExitCode, Is.Zero, "dotnet pack:\n" + pack);
        string nupkg = Path.Combine(feed, $"PyHeapNative.Interop.{version}.nupkg");
        Assert.That(File.Exists(nupkg), Is.True, $"{nupkg}; the feed has: {string.Join(", ", Directory.GetFiles(feed))}");
        using (ZipArchive zip = ZipFile.OpenRead(nupkg))
        {
            var entries = zip.Entries.ToDictionary(e => e.FullName, e => e.Length);
            Assert.That(entries.Keys, Does.Contain("lib/net10.0/PyHeapNative.Interop.dll")
                .And.Contain("lib/net10.0/PyHeapNative.Interop.xml")
                .And.Contain("runtimes/linux-x64/native/libpyheapnative.so")
                .And.Contain("build/native/include/pyheapnative.h")
                .And.Contain("build/native/include/pyheapnative/phn_gc.h")
                .And.Contain("README.md"));
            Assert.That(entries["runtimes/linux-x64/native/libpyheapnative.so"], Is.EqualTo(new FileInfo(so0).Length),
                "the package carries libpyheapnative.so.0 under the name libpyheapnative.so");
            Assert.That(entries.Keys.Where(k => k.StartsWith("runtimes/", StringComparison.Ordinal) && k.Contains(".so.")), Is.Empty);
        }

        // 3. A console app whose Program.cs is README's quick start, restored from the feed alone.
        string app = Path.Combine(_scratch, "app");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="PyHeapNative.Interop" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"),
            ReadmeQuickStart() + "\nConsole.WriteLine($\"loaded from {NativeLibraryResolver.LoadedFrom}\");\n");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="phn-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />");   // nothing from above /tmp
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />");
        var packages = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = Path.Combine(_scratch, "packages") };

        ProcessResult build = Run(Dotnet, app, packages, "build", "-c", "Release", "-nologo", "--disable-build-servers");
        Assert.That(build.ExitCode, Is.Zero, "dotnet build of the consumer:\n" + build);
        string bin = Path.Combine(app, "bin", "Release", "net10.0");
        string nativeInBin = Path.Combine(bin, "runtimes", "linux-x64", "native", "libpyheapnative.so");
        Assert.That(File.Exists(nativeInBin), Is.True, "the build copies the package's native asset");

        ProcessResult run = Run(Dotnet, _scratch, null, Path.Combine(bin, "App.dll"));
        Assert.That(run.ExitCode, Is.Zero, "the consumer:\n" + run);
        string[] lines = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Is.EqualTo(new[] { "2", $"loaded from {nativeInBin}" }), run.ToString());

        // 4. Published for linux-x64, the library sits in the application folder.
        string pub = Path.Combine(_scratch, "pub");
        ProcessResult publish = Run(Dotnet, app, packages, "publish", "-c", "Release", "-r", "linux-x64", "--self-contained", "false",
            "-nologo", "--disable-build-servers", "-o", pub);
        Assert.That(publish.ExitCode, Is.Zero, "dotnet publish of the consumer:\n" + publish);
        ProcessResult runPublished = Run(Path.Combine(pub, "App"), _scratch, null);
        Assert.That(runPublished.ExitCode, Is.Zero, "the published consumer:\n" + runPublished);
        Assert.That(runPublished.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Is.EqualTo(new[] { "2", $"loaded from {Path.Combine(pub, "libpyheapnative.so")}" }), runPublished.ToString());
    }
}
