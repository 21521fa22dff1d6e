// AbiTests.cs - the ABI check (issue 6, item 9): include/pyheapnative.h, parsed with libclang,
// against the built library's exports, the C# export methods, the PyHeapNative.Interop
// bindings, the Python package's ctypes declarations, and gcc's and the C# structs' layouts.
// How each side is read: AbiModel.cs; what is compared: AbiChecker.cs; libclang: LibClang.cs.
//
// The whole fixture is skipped (with the reason) only when libclang.so.1 cannot be loaded
// (Debian's libclang1-14, which ./build.sh net-test installs as root). Everything else that
// is missing (the built .so, the IL of src/PyHeapNative, python3) is a failure.
//
// The test of Fixtures/abi_mismatch.h runs the same checker against a header that is wrong
// on purpose (and, with the library's C sources, Fixtures/abi_mismatch_calls.c: C code calling
// managed functions through wrong declarations), and asserts that it reports every
// difference: the check is shown to fail.
using System.Reflection;

namespace PyHeapNative.Tests;

[TestFixture]
[NonParallelizable]
public sealed class AbiTests
{
    /// <summary>The library's internal C# struct behind each public C struct (the exports take
    /// pointers to these). The names differ from the C names, hence the table; a struct added
    /// to the header and not to this table is reported ("no C# struct of the library is mapped
    /// to it"). The Interop structs follow Native.cs's naming convention instead (phn_gc_stats
    /// -> PyHeapNative.Interop.PhnGcStats); exceptions would go to <see cref="InteropStructOverrides"/>.</summary>
    internal static readonly IReadOnlyDictionary<string, string> LibraryStructs = new Dictionary<string, string>
    {
        ["phn_allocator"] = "PyHeapNative.Core.Raw.AllocatorTable",
        ["phn_arena_allocator"] = "PyHeapNative.Core.Pymalloc.ArenaAllocatorTable",
        ["phn_frame"] = "PyHeapNative.Core.Tracing.PhnFrame",
        ["phn_trace"] = "PyHeapNative.Core.Tracing.PhnTrace",
        ["phn_filter"] = "PyHeapNative.Core.Tracing.PhnFilter",
        ["phn_statistic"] = "PyHeapNative.Core.Tracing.PhnStatistic",
        ["phn_size_class_stats"] = "PyHeapNative.Core.Pymalloc.SizeClassStatistics",
        ["phn_stats"] = "PyHeapNative.Core.Pymalloc.PymallocStatistics",
        ["phn_object"] = "PyHeapNative.Core.Objects.PhnObject",
        ["phn_varobject"] = "PyHeapNative.Core.Objects.PhnVarObject",
        ["phn_type_spec"] = "PyHeapNative.Core.Objects.TypeSpec",
        ["phn_gc_stats"] = "PyHeapNative.Exports.GcExports+GcStatsOut",
        ["phn_gc_info"] = "PyHeapNative.Core.Gc.GcInfo",
    };

    /// <summary>C struct -> Interop struct name, where Native.cs's convention does not apply (none).</summary>
    internal static readonly IReadOnlyDictionary<string, string> InteropStructOverrides = new Dictionary<string, string>();

    private string _scratch = null!;
    private AbiHeader _header = null!;
    private AbiInputs _sides = null!;
    private List<AbiMismatch> _mismatches = null!;

    private static string UmbrellaHeader => Path.Combine(Repo.IncludeDir, "pyheapnative.h");
    private static string FixtureHeader => Path.Combine(Repo.Root, "tests", "PyHeapNative.Tests", "Fixtures", "abi_mismatch.h");
    /// <summary>C code calling managed functions with wrong declarations, read with the library's own C sources.</summary>
    private static string FixtureCSource => Path.Combine(Repo.Root, "tests", "PyHeapNative.Tests", "Fixtures", "abi_mismatch_calls.c");
    /// <summary>The C sources of the library (Native/phn_entry.c, phn_gc_track.c ...).</summary>
    private static string[] CSources => Directory.GetFiles(Path.Combine(Repo.Root, "src", "PyHeapNative", "Native"), "*.c").Order().ToArray();

    [OneTimeSetUp]
    public void ReadEverySide()
    {
        if (LibClang.LoadedPath == null)
            Assert.Ignore("ABI check skipped: " + LibClang.LoadError);
        _scratch = Repo.NewScratchDir("abi");
        _header = ClangHeader.Parse(UmbrellaHeader, [Repo.IncludeDir]);
        _sides = ReadSides(_header, [Repo.IncludeDir], CSources);
        _mismatches = AbiChecker.Check(_header, _sides, reverse: true);
        TestContext.Progress.WriteLine($"ABI check: {LibClang.Version} ({LibClang.LoadedPath}), builtin headers {LibClang.BuiltinIncludes ?? "(none found)"}, " +
            $"C# exports read from {LibraryAssembly.Path}: {_mismatches.Count} mismatch(es)");
    }

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        if (_scratch != null && Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    /// <summary>Reads every side except the header; a side that fails is recorded, not thrown.</summary>
    private AbiInputs ReadSides(AbiHeader header, IReadOnlyList<string> includeDirs, IEnumerable<string> cSources)
    {
        var errors = new Dictionary<string, string>();
        var problems = new List<string>();
        T? Try<T>(string side, Func<T> read) where T : class
        {
            try
            {
                return read();
            }
            catch (Exception e)
            {
                errors[side] = e is TargetInvocationException { InnerException: { } inner } ? inner.Message : e.Message;
                return null;
            }
        }
        CSources c = ClangHeader.ParseCSources(cSources);
        problems.AddRange(c.Problems);
        var sides = new AbiInputs
        {
            LibraryPath = Repo.LibraryPath,
            Symbols = Try(AbiSide.Export, () => DynamicSymbols.Read(Repo.LibraryPath)),
            LibraryExports = Try(AbiSide.CSharp, () => LibraryAssembly.Exports(problems)),
            Shims = c.Shims,
            ManagedCalls = c.ManagedCalls,
            Interop = Try(AbiSide.Interop, () => InteropBindings.Functions(problems)),
            Python = Try(AbiSide.Python, () => PythonBindings.Read(_scratch)),
            Gcc = Try(AbiSide.LayoutGcc, () => GccLayouts.Read(header, _scratch, includeDirs)),
            LibraryStructs = LibraryStructs,
            InteropStructOverrides = InteropStructOverrides,
            Errors = errors,
        };
        sides.ReadProblems.AddRange(problems);
        return sides;
    }

    private void AssertNone(params string[] sides)
    {
        var mine = _mismatches.Where(m => sides.Contains(m.Side)).ToList();
        Assert.That(mine, Is.Empty, () => $"{mine.Count} ABI mismatch(es) of {string.Join(" / ", sides)}:\n  " + string.Join("\n  ", mine));
    }

    // ------------------------------------------------------------------ the real header

    [Test]
    public void LibClangReadsTheHeader()
    {
        string json = Path.Combine(TestContext.CurrentContext.WorkDirectory, "abi-header.json");
        File.WriteAllText(json, _header.ToJson());
        TestContext.Out.WriteLine($"{_header.Files.Count} files, {_header.Functions.Count} functions, {_header.Structs.Count} structs " +
            $"({_header.Structs.Sum(s => s.Fields.Count)} fields), opaque: {string.Join(", ", _header.OpaqueStructs)}; " +
            $"header-only: {string.Join(", ", _header.HeaderOnlyFunctions)}; model written to {json}");
        foreach (string w in _header.Warnings)
            TestContext.Out.WriteLine(w);
        AssertNone(AbiSide.Header);
        Assert.That(_header.Files.Select(Path.GetFullPath).Order(),
            Is.EqualTo(Directory.GetFiles(Repo.IncludeDir, "*.h", SearchOption.AllDirectories).Select(Path.GetFullPath).Order()),
            "the walk saw every header file (the umbrella includes them all)");
        Assert.That(_header.Functions.Select(f => f.Name), Is.Unique);
        Assert.That(_header.Functions.Select(f => f.Name), Does.Contain("phn_mem_malloc").And.Contain("phn_validate").And.Contain("phn_gc_collect"));
        Assert.That(_header.Structs.Select(s => s.Name), Does.Contain("phn_stats").And.Contain("phn_allocator"));
        Assert.That(_header.OpaqueStructs, Does.Contain("phn_snapshot").And.Contain("phn_type"));
        Assert.That(_header.HeaderOnlyFunctions, Does.Contain("phn_new_ref"), "static inline functions are set apart");
        Assert.That(_sides.Shims.Select(s => s.Shim.Name), Does.Contain("phn_mem_malloc").And.Contain("phn_obj_free_many"), "the C entry points of Native/*.c");
        // phn_mem_malloc's fast path tail-calls the static mem_malloc_slow, which calls the managed side
        foreach (string d in new[] { "mem", "obj" })
        {
            foreach (string op in new[] { "malloc", "calloc", "realloc", "free" })
            {
                AbiShim shim = _sides.Shims.Single(s => s.Shim.Name == $"phn_{d}_{op}");
                Assert.That(shim.Callee, Is.EqualTo($"phnimpl_{d}_{op}"), $"the managed callee of phn_{d}_{op}, through the static functions of its file");
                Assert.That(shim.CalleeDeclaration, Is.Not.Null);
            }
        }
        TestContext.Out.WriteLine("managed functions called from C: " + string.Join(", ", _sides.ManagedCalls.Select(m => $"{m.Callee} ({m.Where})")));
        Assert.That(_sides.ManagedCalls.Select(m => m.Callee),
            Does.Contain("phnimpl_pymalloc_free").And.Contain("phnimpl_pymalloc_realloc").And.Contain("phnimpl_trace_add").And.Contain("phnimpl_trace_restore")
                .And.Contain("phnimpl_mem_malloc").And.Contain("phnimpl_gc_untrack").And.Contain("phnimpl_dealloc")
                .And.Contain("phnimpl_object_free").And.Contain("phnimpl_object_new").And.Contain("phnimpl_object_new_var")
                .And.Contain("phnimpl_gc_new").And.Contain("phnimpl_gc_new_var"),
            "the phnimpl_* functions that C calls, from shims or not");
        Assert.That(_sides.ManagedCalls.Select(m => m.Callee), Does.Not.Contain("phnimpl_fast_configure"), "a phnimpl_* defined in C is not managed");
        AbiStruct stats = _header.Structs.Single(s => s.Name == "phn_stats");
        Assert.That(stats.Size, Is.EqualTo(1456), "phn_stats.h documents sizeof(phn_stats) == 1456 on 64-bit");
    }

    /// <summary>(a) every declared function is a function symbol of libpyheapnative.so, and
    /// every phn* dynamic symbol is declared.</summary>
    [Test]
    public void EveryDeclaredFunctionIsExported() => AssertNone(AbiSide.Export);

    /// <summary>(b) the C# [UnmanagedCallersOnly] methods (through the C definitions of
    /// Native/*.c for the allocation entry points, phn_dealloc, phn_object_free and
    /// phn_gc_untrack) have the header's signatures.</summary>
    [Test]
    public void CSharpExportsMatchTheHeader() => AssertNone(AbiSide.CSharp, AbiSide.Shim);

    /// <summary>(c) PyHeapNative.Interop binds every function with the header's signature.</summary>
    [Test]
    public void InteropBindingsMatchTheHeader() => AssertNone(AbiSide.Interop);

    /// <summary>The Python package declares every function with the header's signature.</summary>
    [Test]
    public void PythonBindingsMatchTheHeader() => AssertNone(AbiSide.Python);

    /// <summary>gcc lays every struct out as libclang does (sizeof, offsetof, field sizes).</summary>
    [Test]
    public void StructLayoutsOfGccMatchLibClang() => AssertNone(AbiSide.LayoutGcc);

    [Test]
    public void StructLayoutsOfTheLibraryMatchTheHeader() => AssertNone(AbiSide.LayoutCSharp);

    [Test]
    public void StructLayoutsOfInteropMatchTheHeader() => AssertNone(AbiSide.LayoutInterop);

    [Test]
    public void StructLayoutsOfPythonMatchTheHeader() => AssertNone(AbiSide.LayoutPython);

    /// <summary>The library's own C reads objects, types and the words it shares with the
    /// managed side through private headers: each struct they declare for that is laid out as
    /// the C# struct it stands for (phn_gc_layout.h: all of its structs; phn_fast_trace.h: the
    /// tracer's state it is handed).</summary>
    [TestCase("phn_gc_layout.h", "gc_head=PyHeapNative.Core.Objects.GcHead", "object=PyHeapNative.Core.Objects.PhnObject",
        "type_object=PyHeapNative.Core.Objects.TypeObject", "object_state=PyHeapNative.Core.Objects.ObjectStateWords")]
    [TestCase("phn_fast_trace.h", "trace_state=PyHeapNative.Core.Tracing.Tracer+NativeState")]
    public void PrivateLayoutsOfTheLibrarysCMatchItsStructs(string header, params string[] pairs)
    {
        var privateStructs = pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        AbiHeader layouts = ClangHeader.Parse(Path.Combine(Repo.Root, "src", "PyHeapNative", "Native", header), []);
        // the public header's rules (no variables ...) are not theirs: only what libclang reports
        Assert.That(layouts.Problems.Where(p => p.StartsWith("libclang", StringComparison.Ordinal)), Is.Empty);
        if (header == "phn_gc_layout.h")
            Assert.That(layouts.Structs.Select(x => x.Name), Is.EquivalentTo(privateStructs.Keys), "every struct of phn_gc_layout.h is compared");
        var found = new List<AbiMismatch>();
        foreach (var (cName, clrName) in privateStructs)
        {
            AbiStruct? c = layouts.Structs.SingleOrDefault(x => x.Name == cName);
            Assert.That(c, Is.Not.Null, $"struct {cName} in {header}");
            Type? t = LibraryAssembly.Type(clrName);
            Assert.That(t, Is.Not.Null, clrName);
            ManagedLayout l = ClrAbi.Layout(t!);
            AbiChecker.CompareLayout(found, AbiSide.LayoutCSharp, cName, c!, l.Size, l.Fields, t!.FullName!, byName: false);
            // same-size fields swapped: the names must agree too (gil_owner ~ GilOwner)
            static string Plain(string n) => n.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();
            for (int i = 0; i < Math.Min(c!.Fields.Count, l.Fields.Count); i++)
                if (Plain(c.Fields[i].Name) != Plain(l.Fields[i].Name))
                    found.Add(new(AbiSide.LayoutCSharp, cName, $"field {i + 1} is {c.Fields[i].Name} in {header}, {l.Fields[i].Name} in {t.FullName}"));
        }
        Assert.That(found, Is.Empty, string.Join("\n", found));
    }

    // ------------------------------------------------------------------ the checker fails on a mismatch

    [Test]
    public void MismatchFixtureIsReported()
    {
        AbiHeader fixture = ClangHeader.Parse(FixtureHeader, []);
        Assert.That(fixture.Problems, Is.Empty, "the fixture itself parses cleanly");
        Assert.That(fixture.HeaderOnlyFunctions, Is.EqualTo(new[] { "phn_abi_fixture_inline" }));
        AbiInputs sides = ReadSides(fixture, [], CSources.Append(FixtureCSource));
        List<AbiMismatch> found = AbiChecker.Check(fixture, sides, reverse: false);
        TestContext.Out.WriteLine($"{found.Count} mismatches reported for {Path.GetFileName(FixtureHeader)}:\n  " + string.Join("\n  ", found));

        var missing = new List<string>();
        void Expect(string side, string function, string fragment)
        {
            if (!found.Any(m => m.Side == side && m.Item.StartsWith(function + " ", StringComparison.Ordinal) && m.Problem.Contains(fragment, StringComparison.Ordinal)))
                missing.Add($"[{side}] {function}: ...{fragment}...");
        }
        foreach (string side in new[] { AbiSide.CSharp, AbiSide.Interop, AbiSide.Python })
        {
            Expect(side, "phn_tracemalloc_start", "2 parameters in the header");
            Expect(side, "phn_gc_enable", "return: int64_t (8 bytes) in the header");
            Expect(side, "phn_gc_collect", "return: double (8 bytes, floating) in the header");
            Expect(side, "phn_gc_set_debug_output", "parameter 1 (output) (abi_fixture_gc_output) callback 3 parameters in the header");
            Expect(side, "phn_gc_get_stats", "parameter 2 (stats): phn_gc_stats * points to 40 bytes");
        }
        Expect(AbiSide.Shim, "phn_mem_malloc", "parameter 1 (size): uint32_t (4 bytes) in the header");
        Expect(AbiSide.Shim, "phn_mem_malloc", "in phnimpl_mem_malloc declared in phn_entry.c");   // found through mem_malloc_slow
        Expect(AbiSide.Interop, "phn_mem_malloc", "parameter 1 (size): uint32_t (4 bytes) in the header");
        Expect(AbiSide.Python, "phn_mem_malloc", "parameter 1 (size): uint32_t (4 bytes) in the header");
        Expect(AbiSide.Export, "phn_abi_fixture_not_exported", "not in the dynamic symbol table");
        Expect(AbiSide.CSharp, "phn_abi_fixture_not_exported", "no [UnmanagedCallersOnly");
        Expect(AbiSide.Interop, "phn_abi_fixture_not_exported", "no binding");
        Expect(AbiSide.Python, "phn_abi_fixture_not_exported", "not in pyheapnative._native.FUNCTIONS");
        foreach (string side in new[] { AbiSide.LayoutCSharp, AbiSide.LayoutInterop, AbiSide.LayoutPython })
        {
            Expect(side, "phn_gc_stats", "sizeof is 40 in the header");
            Expect(side, "phn_gc_stats", "field 4 (collected): 4 bytes");
            Expect(side, "phn_gc_stats", "field 6 (candidates): offset 24 in the header");
        }
        Expect(AbiSide.LayoutCSharp, "phn_abi_fixture_only", "no C# struct of the library is mapped");
        Expect(AbiSide.LayoutInterop, "phn_abi_fixture_only", "no struct PyHeapNative.Interop.PhnAbiFixtureOnly");
        Expect(AbiSide.LayoutPython, "phn_abi_fixture_only", "not in pyheapnative._native.STRUCT_TYPES");
        // Fixtures/abi_mismatch_calls.c: managed functions C calls outside the shims
        Expect(AbiSide.CSharp, "phnimpl_trace_restore", "parameter 2 (size): uint32_t (4 bytes) in its C declaration (abi_mismatch_calls.c:");
        Expect(AbiSide.CSharp, "phnimpl_abi_fixture_missing", "no [UnmanagedCallersOnly(EntryPoint = \"phnimpl_abi_fixture_missing\")] method for the C code");
        Assert.That(missing, Is.Empty, "mismatches of the fixture the checker did not report");

        // ... and nothing about what the fixture gets right
        Assert.That(found.Where(m => m.Item.StartsWith("phn_validate ", StringComparison.Ordinal)), Is.Empty, "phn_validate is declared correctly");
        Assert.That(found.Where(m => m.Item.Contains("phn_abi_fixture_inline", StringComparison.Ordinal)), Is.Empty, "static inline functions are not looked for");
        Assert.That(found.Where(m => m.Side is AbiSide.LayoutGcc or AbiSide.Header), Is.Empty, "gcc and libclang agree on the fixture's layouts");
        Assert.That(found.Where(m => m.Item.StartsWith("phnimpl_pymalloc_free ", StringComparison.Ordinal)), Is.Empty, "abi_mismatch_calls.c declares phnimpl_pymalloc_free correctly");
        Assert.That(found.Where(m => m.Item.StartsWith("phnimpl_", StringComparison.Ordinal) && !m.Item.Contains("abi_mismatch_calls.c", StringComparison.Ordinal)), Is.Empty,
            "the library's own C declarations of managed functions are right");
        Assert.That(found.Count(m => m.Item.StartsWith("phnimpl_trace_restore ", StringComparison.Ordinal)), Is.EqualTo(1), "phnimpl_trace_restore differs only by parameter 2");
        Assert.That(found.Where(m => m.Item.StartsWith("phn_gc_get_stats ", StringComparison.Ordinal) && !m.Problem.Contains("points to", StringComparison.Ordinal)), Is.Empty,
            "phn_gc_get_stats differs only by its pointee");
    }
}
