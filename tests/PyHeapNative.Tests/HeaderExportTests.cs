// The header check (docs/style-and-ecosystem.md 2.6, check 1, regex version): the functions
// declared in include/**/*.h, the dynamic symbols of libpyheapnative.so and the bindings in
// Native must agree; struct layouts and integer macros must match gcc's view of the header;
// the header compiles as strict C99 and C++11; the .so carries its soname.
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed partial class HeaderExportTests
{
    private CHeader _header = null!;
    private string _scratch = null!;

    [OneTimeSetUp]
    public void ParseHeaders()
    {
        _header = CHeader.Load(Repo.IncludeDir);
        _scratch = Repo.NewScratchDir("header");
    }

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        if (Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    private List<string> Declared => _header.Functions.Select(f => f.Name).ToList();

    [Test]
    public void HeaderParsesCompletely()
    {
        TestContext.Out.WriteLine($"{_header.Files.Count} headers: {_header.Functions.Count} functions, {_header.FunctionPointerTypedefs.Count} callback typedefs, " +
            $"{_header.Structs.Count} structs ({_header.Structs.Sum(s => s.Fields.Count)} fields), {_header.OpaqueStructs.Count} opaque structs, {_header.IntegerMacros.Count} integer macros; " +
            $"header-only: {_header.InlineFunctions.Count} static inline functions, {_header.FunctionLikeMacros.Count} function-like macros");
        Assert.That(_header.Unparsed, Is.Empty, "declarations the parser could not classify");
        Assert.That(_header.Functions, Has.Count.EqualTo(_header.RawCallSites), "every phn_xxx( in the headers is a parsed declaration");
        Assert.That(Declared, Is.Unique);
        Assert.That(Declared, Has.Count.GreaterThanOrEqualTo(20), "sanity: the parser found the API");
        Assert.That(Declared, Does.Contain("phn_mem_malloc").And.Contain("phn_validate").And.Contain("phn_testing_inject_fault"));
    }

    // static inline functions and function-like macros are the header's own code (CPython's
    // Py_INCREF): never exported, never bound, and distinct from the exported names.
    [Test]
    public void InlineFunctionsAndFunctionLikeMacrosAreHeaderOnly()
    {
        var inline = _header.InlineFunctions.Select(f => f.Name).ToList();
        Assert.That(inline, Does.Contain("phn_new_ref").And.Contain("phn_inline_decref_"), "sanity: static inline functions found");
        Assert.That(_header.FunctionLikeMacros, Does.Contain("PHN_INCREF").And.Contain("PHN_VISIT").And.Contain("PHN_TYPE"), "sanity: function-like macros found");
        Assert.That(inline, Is.Unique);
        Assert.That(inline.Intersect(Declared), Is.Empty, "a name both declared and defined inline");
        Assert.That(_header.FunctionLikeMacros.Intersect(_header.IntegerMacros), Is.Empty);
        var bound = LibraryImports().Select(i => i.Entry).ToHashSet();
        Assert.That(inline.Where(bound.Contains), Is.Empty, "static inline functions have no P/Invoke");
        var constants = typeof(Native).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => f.Name).ToHashSet();
        Assert.That(_header.FunctionLikeMacros.Where(constants.Contains), Is.Empty, "function-like macros have no constant");
        var exported = DynamicSymbols().ToHashSet();
        Assert.That(inline.Where(exported.Contains), Is.Empty, "static inline functions are not exported");
    }

    [Test]
    public void UmbrellaHeaderIncludesEveryHeader()
    {
        var onDisk = Directory.GetFiles(Repo.IncludeDir, "*.h", SearchOption.AllDirectories).Select(Path.GetFullPath).Order();
        Assert.That(_header.Files.Select(Path.GetFullPath).Order(), Is.EqualTo(onDisk));
    }

    // ------------------------------------------------------------------ exports

    private static List<string> DynamicSymbols()
    {
        Assert.That(File.Exists(Repo.LibraryPath), Is.True, $"{Repo.LibraryPath} not built");
        string output = ProcessRunner.RunChecked("nm", "-D", "--defined-only", Repo.LibraryPath);
        var names = new List<string>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string name = parts[^1];
            int at = name.IndexOf('@');
            if (at >= 0)
                name = name[..at];
            if (name == "DotNetRuntimeDebugHeader" || parts[^2] == "A")   // version nodes (V1.0) are absolute symbols
                continue;
            names.Add(name);
        }
        return names;
    }

    [Test]
    public void EveryDeclaredFunctionIsExported()
    {
        var exported = DynamicSymbols().ToHashSet();
        Assert.That(Declared.Where(n => !exported.Contains(n)), Is.Empty, "declared in the header but not exported");
    }

    [Test]
    public void EveryExportIsDeclared()
    {
        var declared = Declared.ToHashSet();
        var phnExports = DynamicSymbols().Where(n => n.StartsWith("phn_", StringComparison.Ordinal)).ToList();
        Assert.That(phnExports, Is.Not.Empty);
        Assert.That(phnExports.Where(n => !declared.Contains(n)), Is.Empty, "exported but not declared in the header");
    }

    [Test]
    public void ExportsAreFunctionsWithTheLibraryVersionNode()
    {
        string output = ProcessRunner.RunChecked("nm", "-D", "--defined-only", Repo.LibraryPath);
        foreach (string name in Declared)
        {
            Match m = Regex.Match(output, $@"^\S+ (\w) {name}(@@?\S+)?$", RegexOptions.Multiline);
            Assert.That(m.Success, Is.True, $"{name} not in nm -D output");
            Assert.That(m.Groups[1].Value, Is.EqualTo("T"), $"{name} is not a text symbol");
        }
    }

    [Test]
    public void SharedObjectHasSoname()
    {
        string output = ProcessRunner.RunChecked("readelf", "-d", Repo.LibraryPath);
        Match m = Regex.Match(output, @"\(SONAME\)\s+Library soname: \[([^\]]+)\]");
        Assert.That(m.Success, Is.True, "no SONAME entry:\n" + output);
        Assert.That(m.Groups[1].Value, Is.EqualTo($"libpyheapnative.so.{Native.PHN_ABI_VERSION}"));
    }

    // ------------------------------------------------------------------ bindings

    /// <summary>The P/Invokes the LibraryImport generator emitted (the inner __PInvoke methods), by entry point.</summary>
    private static Dictionary<string, MethodInfo> GeneratedPInvokes()
    {
        var map = new Dictionary<string, MethodInfo>();
        foreach (MethodInfo m in typeof(Native).AllStaticMethods())
        {
            if ((m.Attributes & MethodAttributes.PinvokeImpl) == 0)
                continue;
            DllImportAttribute? dll = m.GetCustomAttribute<DllImportAttribute>();
            Assert.That(dll, Is.Not.Null, $"{m.Name} is a P/Invoke without DllImportAttribute");
            Assert.That(dll!.Value, Is.EqualTo(Native.LibraryName));
            string entry = dll.EntryPoint ?? m.Name;
            Assert.That(map.TryAdd(entry, m), Is.True, $"two P/Invokes for {entry}");
        }
        return map;
    }

    /// <summary>The public partial methods with [LibraryImport], in declaration (metadata) order.</summary>
    private static List<(string Entry, MethodInfo Method)> LibraryImports() =>
        typeof(Native).GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Select(m => (Attr: m.GetCustomAttribute<LibraryImportAttribute>(), Method: m))
            .Where(x => x.Attr != null)
            .OrderBy(x => x.Method.MetadataToken)
            .Select(x => (x.Attr!.EntryPoint ?? x.Method.Name, x.Method))
            .ToList();

    [Test]
    public void EveryDeclaredFunctionHasAPInvokeWithTheSameParameterCount()
    {
        Dictionary<string, MethodInfo> pinvokes = GeneratedPInvokes();
        var problems = new List<string>();
        foreach (CFunction f in _header.Functions)
        {
            if (!pinvokes.TryGetValue(f.Name, out MethodInfo? m))
                problems.Add($"{f.Name}: no P/Invoke in Native");
            else if (m.GetParameters().Length != f.Params.Count)
                problems.Add($"{f.Name}: {f.Params.Count} parameters in {f.Header}, {m.GetParameters().Length} in {m.Name}");
        }
        var declared = Declared.ToHashSet();
        problems.AddRange(pinvokes.Keys.Where(e => !declared.Contains(e)).Select(e => $"{e}: bound in Native but not declared"));
        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void BindingsAreCdeclLibraryImportsInHeaderOrder()
    {
        var imports = LibraryImports();
        Assert.That(imports.Select(i => i.Entry), Is.EqualTo(Declared), "Native declares every function once, in header order");
        foreach (var (entry, method) in imports)
        {
            var conv = method.GetCustomAttribute<UnmanagedCallConvAttribute>();
            Assert.That(conv?.CallConvs, Is.EqualTo(new[] { typeof(CallConvCdecl) }), $"{entry}: [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]");
            Assert.That(method.GetCustomAttribute<LibraryImportAttribute>()!.LibraryName, Is.EqualTo(Native.LibraryName));
            foreach (ParameterInfo p in method.GetParameters())
                Assert.That(AllCdecl(p.GetModifiedParameterType()), Is.True, $"{entry}: parameter {p.Name} is not delegate* unmanaged[Cdecl] (nested ones included)");
        }
        Assert.That(typeof(Native).Assembly.GetCustomAttribute<DisableRuntimeMarshallingAttribute>(), Is.Not.Null);
    }

    [Test]
    public void BindingTypesMatchTheHeader()
    {
        Dictionary<string, MethodInfo> pinvokes = GeneratedPInvokes();
        var problems = new List<string>();
        foreach (CFunction f in _header.Functions)
        {
            if (!pinvokes.TryGetValue(f.Name, out MethodInfo? m))
                continue;   // reported by the parameter-count test
            if (!TypeMatches(m.ReturnType, f.ReturnType, out string why))
                problems.Add($"{f.Name} returns {f.ReturnType}, binding returns {m.ReturnType}: {why}");
            ParameterInfo[] ps = m.GetParameters();
            for (int i = 0; i < Math.Min(ps.Length, f.Params.Count); i++)
            {
                if (!TypeMatches(ps[i].ParameterType, f.Params[i].Type, out why))
                    problems.Add($"{f.Name} parameter {i} ({f.Params[i].Type} {f.Params[i].Name}) bound as {ps[i].ParameterType}: {why}");
            }
        }
        Assert.That(problems, Is.Empty);
    }

    private static readonly Dictionary<string, Type> s_scalars = new()
    {
        ["void"] = typeof(void),
        ["char"] = typeof(byte),
        ["size_t"] = typeof(nuint),
        ["int32_t"] = typeof(int),
        ["uint32_t"] = typeof(uint),
        ["int64_t"] = typeof(long),
        ["uint64_t"] = typeof(ulong),
        ["uintptr_t"] = typeof(nuint),
        ["intptr_t"] = typeof(nint),
        ["double"] = typeof(double),
        ["phn_allocator"] = typeof(PhnAllocator),
        ["phn_arena_allocator"] = typeof(PhnArenaAllocator),
        ["phn_stats"] = typeof(PhnStats),
        ["phn_size_class_stats"] = typeof(PhnSizeClassStats),
        ["phn_frame"] = typeof(PhnFrame),
        ["phn_trace"] = typeof(PhnTrace),
        ["phn_filter"] = typeof(PhnFilter),
        ["phn_statistic"] = typeof(PhnStatistic),
        ["phn_object"] = typeof(PhnObject),
        ["phn_varobject"] = typeof(PhnVarObject),
        ["phn_type_spec"] = typeof(PhnTypeSpec),
        ["phn_gc_stats"] = typeof(PhnGcStats),
        ["phn_gc_info"] = typeof(PhnGcInfo),
        // opaque: only ever behind a pointer (see OpaqueStructsHaveFieldlessMirrors)
        ["phn_snapshot"] = typeof(PhnSnapshot),
        ["phn_statistics"] = typeof(PhnStatistics),
        ["phn_type"] = typeof(PhnType),
    };

    private bool TypeMatches(Type actual, string ctype, out string why) =>
        _header.FunctionPointerTypedefs.TryGetValue(ctype, out CFunctionPointer? sig)
            ? FunctionPointerMatches(actual, sig, out why)
            : ScalarMatches(actual, ctype, out why);

    private static bool ScalarMatches(Type actual, string ctype, out string why)
    {
        why = "";
        if (ctype.EndsWith('*'))
        {
            if (!actual.IsPointer)
            {
                why = "not a pointer";
                return false;
            }
            return ScalarMatches(actual.GetElementType()!, ctype[..^1], out why);
        }
        if (!s_scalars.TryGetValue(ctype, out Type? expected))
        {
            why = $"no C# mapping for C type '{ctype}' in the test";
            return false;
        }
        if (actual != expected)
        {
            why = $"expected {expected}";
            return false;
        }
        return true;
    }

    private bool FunctionPointerMatches(Type actual, CFunctionPointer sig, out string why)
    {
        why = "";
        if (!actual.IsFunctionPointer || !actual.IsUnmanagedFunctionPointer)
        {
            why = "not an unmanaged function pointer";
            return false;
        }
        Type[] ps = actual.GetFunctionPointerParameterTypes();
        if (ps.Length != sig.Params.Count)
        {
            why = $"{ps.Length} parameters, header has {sig.Params.Count}";
            return false;
        }
        if (!TypeMatches(actual.GetFunctionPointerReturnType(), sig.ReturnType, out why))
        {
            why = "return type: " + why;
            return false;
        }
        for (int i = 0; i < ps.Length; i++)
        {
            // a parameter may itself be a callback typedef (phn_traverseproc's phn_visitproc)
            if (!TypeMatches(ps[i], sig.Params[i].Type, out why))
            {
                why = $"parameter {i}: {why}";
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ structs and macros vs gcc

    private static readonly Dictionary<string, Type> s_structs = new()
    {
        ["phn_allocator"] = typeof(PhnAllocator),
        ["phn_arena_allocator"] = typeof(PhnArenaAllocator),
        ["phn_size_class_stats"] = typeof(PhnSizeClassStats),
        ["phn_stats"] = typeof(PhnStats),
        ["phn_frame"] = typeof(PhnFrame),
        ["phn_trace"] = typeof(PhnTrace),
        ["phn_filter"] = typeof(PhnFilter),
        ["phn_statistic"] = typeof(PhnStatistic),
        ["phn_object"] = typeof(PhnObject),
        ["phn_varobject"] = typeof(PhnVarObject),
        ["phn_type_spec"] = typeof(PhnTypeSpec),
        ["phn_gc_stats"] = typeof(PhnGcStats),
        ["phn_gc_info"] = typeof(PhnGcInfo),
    };

    private static readonly Dictionary<string, Type> s_opaqueStructs = new()
    {
        ["phn_snapshot"] = typeof(PhnSnapshot),
        ["phn_statistics"] = typeof(PhnStatistics),
        ["phn_type"] = typeof(PhnType),
    };

    /// <summary>Every function pointer in a (modified) type, nested ones included, is
    /// <c>delegate* unmanaged[Cdecl]</c>.</summary>
    private static bool AllCdecl(Type modified)
    {
        if (!modified.IsFunctionPointer)
            return true;
        return modified.GetFunctionPointerCallingConventions().Contains(typeof(CallConvCdecl))
            && AllCdecl(modified.GetFunctionPointerReturnType())
            && modified.GetFunctionPointerParameterTypes().All(AllCdecl);
    }

    /// <summary>An opaque C type (<c>typedef struct x x;</c>) is mirrored by a distinct C# struct
    /// without fields, so that handles of different kinds cannot be mixed up and nobody can
    /// read through them; the header never uses such a type other than behind a pointer.</summary>
    [Test]
    public void OpaqueStructsHaveFieldlessMirrors()
    {
        Assert.That(_header.OpaqueStructs, Is.EquivalentTo(s_opaqueStructs.Keys), "every opaque struct has a C# mirror");
        foreach (string name in _header.OpaqueStructs)
        {
            Type t = s_opaqueStructs[name];
            Assert.That(t.IsValueType, Is.True, $"{t.Name} is a struct");
            Assert.That(t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance), Is.Empty, $"{t.Name} has no fields");
            Assert.That(s_scalars[name], Is.EqualTo(t), $"{name} maps to {t.Name} in signatures");
        }
        var byValue = new List<string>();
        foreach (CFunction f in _header.Functions)
        {
            byValue.AddRange(new[] { f.ReturnType }.Concat(f.Params.Select(p => p.Type))
                .Where(_header.OpaqueStructs.Contains).Select(t => $"{f.Name}: {t} by value"));
        }
        foreach (CStruct s in _header.Structs)
            byValue.AddRange(s.Fields.Where(fl => _header.OpaqueStructs.Contains(fl.Type)).Select(fl => $"{s.Name}.{fl.Name}: {fl.Type} by value"));
        Assert.That(byValue, Is.Empty);
    }

    private static string SnakeCase(string pascal) => PascalBoundary().Replace(pascal, "$1_$2").ToLowerInvariant();

    /// <summary>Compiles and runs a program printing "key value" lines for every struct size,
    /// field offset and integer macro of the header.</summary>
    private Dictionary<string, long> GccFacts()
    {
        var src = new StringBuilder("#include <stddef.h>\n#include <stdio.h>\n#include <pyheapnative.h>\nint main(void) {\n");
        foreach (CStruct s in _header.Structs)
        {
            src.Append($"    printf(\"sizeof.{s.Name} %lld\\n\", (long long)sizeof({s.Name}));\n");
            foreach (CField f in s.Fields)
                src.Append($"    printf(\"offsetof.{s.Name}.{f.Name} %lld\\n\", (long long)offsetof({s.Name}, {f.Name}));\n");
        }
        foreach (string macro in _header.IntegerMacros)
            src.Append($"    printf(\"macro.{macro} %lld\\n\", (long long)({macro}));\n");
        src.Append("    return 0;\n}\n");
        string exe = Path.Combine(_scratch, "facts");
        ProcessResult cc = ProcessRunner.Compile("gcc", Path.Combine(_scratch, "facts.c"), src.ToString(),
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", Repo.IncludeDir, "-o", exe);
        Assert.That(cc.ExitCode, Is.Zero, "gcc:\n" + cc);
        string output = ProcessRunner.RunChecked(exe);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Test]
    public void StructLayoutsMatchTheHeader()
    {
        Dictionary<string, long> facts = GccFacts();
        Assert.That(_header.Structs.Select(s => s.Name), Is.EquivalentTo(s_structs.Keys), "every public struct has a C# mirror");
        var problems = new List<string>();
        foreach (CStruct s in _header.Structs)
        {
            Type t = s_structs[s.Name];
            Assert.That(t.StructLayoutAttribute?.Value, Is.EqualTo(LayoutKind.Sequential), $"{t.Name} layout");
            long size = Convert.ToInt64(typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null), System.Globalization.CultureInfo.InvariantCulture);
            if (size != facts[$"sizeof.{s.Name}"])
                problems.Add($"sizeof({s.Name}) = {facts[$"sizeof.{s.Name}"]}, sizeof({t.Name}) = {size}");
            FieldInfo[] fields = t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance).OrderBy(f => f.MetadataToken).ToArray();
            if (fields.Length != s.Fields.Count)
                problems.Add($"{s.Name} has {s.Fields.Count} fields, {t.Name} has {fields.Length}");
            for (int i = 0; i < Math.Min(fields.Length, s.Fields.Count); i++)
            {
                CField cf = s.Fields[i];
                FieldInfo mf = fields[i];
                if (SnakeCase(mf.Name) != cf.Name)
                    problems.Add($"{s.Name} field {i}: {cf.Name} vs {t.Name}.{mf.Name}");
                long offset = Marshal.OffsetOf(t, mf.Name).ToInt64();
                if (offset != facts[$"offsetof.{s.Name}.{cf.Name}"])
                    problems.Add($"offsetof({s.Name}, {cf.Name}) = {facts[$"offsetof.{s.Name}.{cf.Name}"]}, {t.Name}.{mf.Name} at {offset}");
                string why;
                // a function-pointer member, spelt out or through a callback typedef
                CFunctionPointer? fnptr = cf.FunctionPointer
                    ?? (cf.ArrayLength == null ? _header.FunctionPointerTypedefs.GetValueOrDefault(cf.Type) : null);
                if (fnptr != null)
                {
                    if (!FunctionPointerMatches(mf.FieldType, fnptr, out why))
                        problems.Add($"{s.Name}.{cf.Name}: {why}");
                    else if (!AllCdecl(mf.GetModifiedFieldType()))
                        problems.Add($"{s.Name}.{cf.Name}: not delegate* unmanaged[Cdecl] (nested ones included)");
                }
                else if (cf.ArrayLength != null)
                {
                    int? length = mf.FieldType.GetCustomAttribute<InlineArrayAttribute>()?.Length;
                    FieldInfo? element = mf.FieldType.GetFields(BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance).SingleOrDefault();
                    if (length != facts[$"macro.{cf.ArrayLength}"])
                        problems.Add($"{s.Name}.{cf.Name}[{cf.ArrayLength}]: InlineArray length {length?.ToString() ?? "missing"}");
                    if (element == null || !ScalarMatches(element.FieldType, cf.Type, out why))
                        problems.Add($"{s.Name}.{cf.Name}: element type {element?.FieldType} vs {cf.Type}");
                }
                else if (!ScalarMatches(mf.FieldType, cf.Type, out why))
                {
                    problems.Add($"{s.Name}.{cf.Name} ({cf.Type}) is {mf.FieldType}: {why}");
                }
            }
        }
        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void IntegerMacrosMatchNativeConstants()
    {
        Dictionary<string, long> facts = GccFacts();
        var constants = typeof(Native).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name.StartsWith("PHN_", StringComparison.Ordinal))
            .ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(_header.IntegerMacros, Does.Contain("PHN_ARENA_SIZE").And.Contain("PHN_EINVAL"), "sanity: macros found");
        var problems = new List<string>();
        foreach (string macro in _header.IntegerMacros)
        {
            if (!constants.TryGetValue(macro, out long value))
                problems.Add($"{macro} = {facts[$"macro.{macro}"]} has no constant in Native");
            else if (value != facts[$"macro.{macro}"])
                problems.Add($"{macro} = {facts[$"macro.{macro}"]}, Native.{macro} = {value}");
        }
        problems.AddRange(constants.Keys.Where(c => !_header.IntegerMacros.Contains(c)).Select(c => $"Native.{c} is not a macro of the header"));
        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void LoadedLibraryVersionMatchesTheHeader() =>
        Assert.That(Native.Version(), Is.EqualTo(Native.PHN_VERSION));

    // ------------------------------------------------------------------ the header compiles

    private static IEnumerable<string> Headers() =>
        Directory.GetFiles(Repo.IncludeDir, "*.h", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Repo.IncludeDir, p).Replace('\\', '/'))
            .Order();

    [TestCaseSource(nameof(Headers))]
    public void HeaderCompilesAsStrictC99(string header)
    {
        string tu = $"#include <{header}>\n#include <{header}>\nint phn_header_check(void);\nint phn_header_check(void) {{ return 0; }}\n";
        ProcessResult r = ProcessRunner.Compile("gcc", Path.Combine(_scratch, $"c99_{Guid.NewGuid():N}.c"), tu,
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", Repo.IncludeDir);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    [TestCaseSource(nameof(Headers))]
    public void HeaderCompilesAsCxx11(string header)
    {
        string tu = $"#include <{header}>\n#include <{header}>\nint phn_header_check();\nint phn_header_check() {{ return 0; }}\n";
        ProcessResult r = ProcessRunner.Compile("g++", Path.Combine(_scratch, $"cxx11_{Guid.NewGuid():N}.cpp"), tu,
            "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", Repo.IncludeDir);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    // The functions have C linkage in C++ (no mangled names would be looked up).
    [Test]
    public void FunctionsHaveCLinkageInCxx()
    {
        var src = new StringBuilder("#include <pyheapnative.h>\n");
        foreach (string name in Declared)
            src.Append($"void* ref_{name} = (void*)&{name};\n");
        string obj = Path.Combine(_scratch, "linkage.o");
        ProcessResult r = ProcessRunner.Compile("g++", Path.Combine(_scratch, "linkage.cpp"), src.ToString(),
            "-std=c++11", "-c", "-I", Repo.IncludeDir, "-o", obj);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        string undefined = ProcessRunner.RunChecked("nm", "-u", obj);
        foreach (string name in Declared)
            Assert.That(undefined, Does.Match($@"(?m)^\s*U {name}$"), $"{name} is referenced with a mangled name");
    }

    [GeneratedRegex("([a-z0-9])([A-Z])")]
    private static partial Regex PascalBoundary();
}
