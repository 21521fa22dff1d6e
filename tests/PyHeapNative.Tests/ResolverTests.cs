// NativeLibraryResolver's search order (environment variable, application folder, assembly
// folder, runtimes/<rid>/native) and its loading step, in process: the candidates are symbolic
// links to the library already loaded, so dlopen returns the same handle (same file) and no
// second copy of the runtime is started. NuGetPackageTests runs the whole resolver in a
// consumer process.
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed class ResolverTests
{
    [Test]
    public void CandidatesAreTheFoldersThenTheirRuntimesFolders()
    {
        string app = Path.Combine(Path.GetTempPath(), "phn-app");
        string asm = Path.Combine(Path.GetTempPath(), "phn-asm");
        List<string> c = [.. NativeLibraryResolver.CandidatePaths(app + "/", asm)];
        string rid = NativeLibraryResolver.RuntimeIdentifiers().First();
        Assert.That(c.Take(4), Is.EqualTo(new[]
        {
            Path.Combine(app, "libpyheapnative.so.0"), Path.Combine(app, "libpyheapnative.so"),
            Path.Combine(asm, "libpyheapnative.so.0"), Path.Combine(asm, "libpyheapnative.so"),
        }), "the application folder, then the assembly's");
        Assert.That(c[4], Is.EqualTo(Path.Combine(app, "runtimes", rid, "native", "libpyheapnative.so.0")));
        Assert.That(c, Does.Contain(Path.Combine(app, "runtimes", "linux-x64", "native", "libpyheapnative.so")),
            "the portable RID, the NuGet package's folder");
        Assert.That(c.FindIndex(p => p.StartsWith(Path.Combine(asm, "runtimes"))), Is.GreaterThan(c.FindLastIndex(p => p.StartsWith(Path.Combine(app, "runtimes")))));

        List<string> same = [.. NativeLibraryResolver.CandidatePaths(app, app + "/")];
        Assert.That(same, Is.Unique, "one folder given twice is searched once");
        Assert.That(NativeLibraryResolver.CandidatePaths(null, ""), Is.Empty);
    }

    [Test]
    public void TheFirstExistingCandidateIsLoaded()
    {
        string target = Path.GetFullPath(Repo.LibraryPath);
        nint loaded = NativeLibrary.Load(target);   // already loaded by the tests: the same handle
        string dir = Repo.NewScratchDir("resolver");
        try
        {
            LoadFrom(dir, target, loaded);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void LoadFrom(string dir, string target, nint loaded)
    {
        string nuget = Path.Combine(dir, "runtimes", "linux-x64", "native");
        Directory.CreateDirectory(nuget);
        File.CreateSymbolicLink(Path.Combine(nuget, "libpyheapnative.so"), target);

        Assert.That(NativeLibraryResolver.TryLoadFirst(NativeLibraryResolver.CandidatePaths(dir, null), out nint h, out string? from), Is.True);
        Assert.That(from, Is.EqualTo(Path.Combine(nuget, "libpyheapnative.so")));
        Assert.That(h, Is.EqualTo(loaded));

        File.CreateSymbolicLink(Path.Combine(dir, "libpyheapnative.so"), target);
        Assert.That(NativeLibraryResolver.TryLoadFirst(NativeLibraryResolver.CandidatePaths(dir, null), out h, out from), Is.True);
        Assert.That(from, Is.EqualTo(Path.Combine(dir, "libpyheapnative.so")), "the application folder comes first");
        Assert.That(h, Is.EqualTo(loaded));

        Assert.That(NativeLibraryResolver.TryLoadFirst([Path.Combine(dir, "missing.so")], out h, out from), Is.False);
        Assert.That((h, from), Is.EqualTo(((nint)0, (string?)null)));
    }
}
