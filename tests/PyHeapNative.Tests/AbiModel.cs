// AbiModel.cs - what the ABI check compares: function signatures and struct layouts reduced
// to what the x86-64 calling convention sees (sizes and register classes), read from each
// side of the library:
//
//   the header      ClangHeader.Parse: a libclang walk of include/pyheapnative.h (LibClang.cs)
//   the C shims     ClangHeader.ParseCSources: a libclang walk of src/PyHeapNative/Native/*.c
//                   (the exported C functions and their managed callees, and every managed
//                   phnimpl_* function that any C function calls)
//   the .so         DynamicSymbols: `nm -D --defined-only` of the built library
//   the C# exports  LibraryAssembly: reflection over the IL of the Native AOT project (the
//                   libpyheapnative.dll that was compiled into the .so), loaded into its own
//                   AssemblyLoadContext: [UnmanagedCallersOnly(EntryPoint = ...)] methods and
//                   the internal structs the exports take
//   .NET bindings   InteropBindings: reflection over PyHeapNative.Interop ([LibraryImport] and
//                   hand-written [DllImport] methods for "pyheapnative", by entry point)
//   Python          PythonBindings: python3 imports pyheapnative._native and dumps FUNCTIONS
//                   and STRUCT_TYPES (ctypes sizes, field offsets) as JSON
//   gcc             GccLayouts: a C program generated from the libclang walk prints sizeof and
//                   offsetof of every struct
// AbiChecker.cs compares them.
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;

namespace PyHeapNative.Tests;

/// <summary>How a value travels in the x86-64 System V (and Windows x64) convention: in
/// integer registers (integers, pointers, function pointers, handles, small wrapper
/// structs), in SSE registers (float, double), or as an aggregate.</summary>
internal enum AbiClass { Void, Integer, Float, Struct }

/// <summary>A parameter, return or field type reduced to its ABI: size in bytes (0 for void),
/// class, and for pointers the pointee's size (-1 when unknown: void, incomplete, or a
/// binding that does not say) or, for function pointers, the callback's signature.</summary>
internal sealed record AbiType(string Spelling, long Size, AbiClass Class, AbiSignature? Callback = null, long PointeeSize = -1, string? Pointee = null)
{
    public static readonly AbiType Void = new("void", 0, AbiClass.Void);

    public override string ToString() => $"{Spelling} ({(Class == AbiClass.Void ? "void" : $"{Size} bytes")}{(Class == AbiClass.Float ? ", floating" : "")})";
}

internal sealed record AbiSignature(AbiType Return, IReadOnlyList<AbiType> Params, bool Variadic = false)
{
    public override string ToString() => $"{Return.Spelling}({string.Join(", ", Params.Select(p => p.Spelling))}{(Variadic ? ", ..." : "")})";
}

internal sealed record AbiFunction(string Name, AbiSignature Signature, IReadOnlyList<string> ParamNames, string File, int Line)
{
    public string Where => $"{Path.GetFileName(File)}:{Line}";
}

/// <summary>A struct field: offset and size in bytes; ArrayLength for a fixed-size array (-1 otherwise).</summary>
internal sealed record AbiField(string Name, long Offset, long Size, AbiClass Class, long ArrayLength = -1, long ElementSize = -1, string Spelling = "");

internal sealed record AbiStruct(string Name, long Size, long Align, IReadOnlyList<AbiField> Fields, string File = "", int Line = 0)
{
    /// <summary>How C code names the type: the typedef when there is one, else "struct tag".</summary>
    public string CName { get; init; } = Name;
}

/// <summary>A function the library exports from C (src/PyHeapNative/Native/*.c), such as the
/// allocation entry points of phn_entry.c, phn_x(args) { return phnimpl_x(args, caller); }:
/// the managed phnimpl_* function it calls (null when it is C only) and its C declaration.</summary>
internal sealed record AbiShim(AbiFunction Shim, string? Callee, AbiFunction? CalleeDeclaration);

/// <summary>A managed phnimpl_* function that C code calls (from any function of Native/*.c,
/// static or not, or of a header they include from there): its C declaration as the calls see
/// it (null when that is not a prototype of the sources' directory) and the callers, as
/// "name (file:line)".</summary>
internal sealed record AbiManagedCall(string Callee, AbiFunction? Declaration, IReadOnlyList<string> Callers)
{
    public string Where => Declaration?.Where ?? "no declaration";
}

internal sealed class AbiHeader
{
    public required string Path { get; init; }
    public List<AbiFunction> Functions { get; } = [];
    public List<AbiStruct> Structs { get; } = [];
    /// <summary>Structs declared and never defined (handles such as phn_snapshot).</summary>
    public List<string> OpaqueStructs { get; } = [];
    /// <summary>static (inline) functions: header-only, never exported.</summary>
    public List<string> HeaderOnlyFunctions { get; } = [];
    /// <summary>Constructs the check does not handle (bit-fields, unions, variables,
    /// unprototyped functions ...) and libclang errors; a test fails on any.</summary>
    public List<string> Problems { get; } = [];
    public List<string> Warnings { get; } = [];
    public List<string> Files { get; } = [];

    public AbiFunction? Function(string name) => Functions.FirstOrDefault(f => f.Name == name);

    public string ToJson()
    {
        var doc = new
        {
            path = Path,
            functions = Functions.Select(f => new
            {
                name = f.Name,
                where = f.Where,
                signature = f.Signature.ToString(),
                ret = new { f.Signature.Return.Spelling, f.Signature.Return.Size, cls = f.Signature.Return.Class.ToString() },
                @params = f.Signature.Params.Select((p, i) => new { name = f.ParamNames[i], p.Spelling, p.Size, cls = p.Class.ToString(), pointee = p.PointeeSize }),
            }),
            structs = Structs.Select(s => new { s.Name, s.Size, s.Align, fields = s.Fields.Select(fl => new { fl.Name, fl.Offset, fl.Size, fl.ArrayLength }) }),
            opaque = OpaqueStructs,
            headerOnly = HeaderOnlyFunctions,
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }
}

// ====================================================================== the header (libclang)

internal static class ClangHeader
{
    /// <summary>Arguments for libclang: C (the header promises C99; the library's own C sources
    /// are built with cc's default, GNU C), the given include directories, and the compiler's
    /// builtin headers as a system directory.</summary>
    public static List<string> Arguments(IEnumerable<string> includeDirs, string std = "c99")
    {
        var args = new List<string> { "-x", "c", "-std=" + std, "-ferror-limit=0" };
        foreach (string dir in includeDirs)
            args.Add("-I" + dir);
        string? builtin = LibClang.BuiltinIncludes;
        if (builtin != null)
            args.AddRange(["-isystem", builtin]);
        return args;
    }

    private static bool IsUnder(string file, string dir)
    {
        if (file.Length == 0)
            return false;
        string f = System.IO.Path.GetFullPath(file);
        string d = System.IO.Path.GetFullPath(dir).TrimEnd('/') + "/";
        return f.StartsWith(d, StringComparison.Ordinal);
    }

    /// <summary>Parses a header and returns the declarations made in files under the header's
    /// own directory (so that stdint.h and friends are left out).</summary>
    public static AbiHeader Parse(string header, IEnumerable<string> includeDirs)
    {
        string ownDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(header))!;
        var model = new AbiHeader { Path = System.IO.Path.GetFullPath(header) };
        nint index = LibClang.CreateIndex();
        try
        {
            int rc = LibClang.Parse(index, model.Path, Arguments(includeDirs), out nint tu);
            if (rc != 0 || tu == 0)
            {
                model.Problems.Add($"libclang could not parse {header} (CXErrorCode {rc})");
                return model;
            }
            try
            {
                foreach (var (severity, text) in LibClang.Diagnostics(tu))
                {
                    if (severity >= CX.DiagnosticError)
                        model.Problems.Add("libclang: " + text);
                    else if (severity >= CX.DiagnosticWarning)
                        model.Warnings.Add("libclang: " + text);
                }
                model.Files.AddRange(LibClang.Inclusions(tu).Where(f => IsUnder(f, ownDir)).Select(System.IO.Path.GetFullPath).Distinct());
                Walk(model, LibClang.TranslationUnitCursor(tu), f => IsUnder(f, ownDir));
            }
            finally
            {
                LibClang.DisposeTranslationUnit(tu);
            }
        }
        finally
        {
            LibClang.DisposeIndex(index);
        }
        return model;
    }

    private static void Walk(AbiHeader model, CXCursor root, Func<string, bool> own)
    {
        var declaredStructs = new List<string>();
        var definedStructs = new HashSet<string>();
        foreach (CXCursor c in LibClang.Children(root))
        {
            var (file, line) = LibClang.Location(c);
            if (!own(file))
                continue;
            string name = LibClang.Spelling(c);
            switch (LibClang.Kind(c))
            {
                case CX.FunctionDecl:
                    if (LibClang.StorageClass(c) == CX.StorageStatic || LibClang.Linkage(c) != CX.LinkageExternal)
                    {
                        if (!model.HeaderOnlyFunctions.Contains(name))
                            model.HeaderOnlyFunctions.Add(name);
                        break;
                    }
                    if (LibClang.IsDefinition(c))
                        model.Problems.Add($"{name} ({System.IO.Path.GetFileName(file)}:{line}): an external function defined in a header");
                    AbiFunction? fn = Function(c, name, file, line, model.Problems);
                    if (fn == null)
                        break;
                    AbiFunction? previous = model.Function(name);
                    if (previous == null)
                        model.Functions.Add(fn);
                    else if (previous.Signature.ToString() != fn.Signature.ToString())
                        model.Problems.Add($"{name} declared twice with different signatures: {previous.Where} and {fn.Where}");
                    break;
                case CX.StructDecl:
                    if (name.Length == 0 || LibClang.IsAnonymous(c))
                        break;   // named by its typedef (below)
                    if (!declaredStructs.Contains(name))
                        declaredStructs.Add(name);
                    if (LibClang.IsDefinition(c) && definedStructs.Add(name))
                        model.Structs.Add(Struct(c, name, "struct " + name, file, line, model.Problems));
                    break;
                case CX.TypedefDecl:
                {
                    CXType under = LibClang.Canonical(LibClang.TypedefUnderlying(c));
                    if (under.Kind != CX.TypeRecord)
                        break;
                    CXCursor decl = LibClang.Declaration(under);
                    string tag = LibClang.Spelling(decl);
                    bool anonymous = tag.Length == 0 || LibClang.IsAnonymous(decl);
                    if (LibClang.Kind(decl) == CX.UnionDecl)
                    {
                        model.Problems.Add($"{name}: unions are not handled by the ABI check");
                        break;
                    }
                    if (!anonymous)
                    {
                        // typedef struct tag name; the header's convention is tag == name
                        if (tag != name)
                            model.Problems.Add($"{name} ({System.IO.Path.GetFileName(file)}:{line}): typedef of struct {tag} under another name");
                        int at = model.Structs.FindIndex(s => s.Name == tag);
                        if (at >= 0)
                            model.Structs[at] = model.Structs[at] with { CName = name };
                        break;
                    }
                    if (LibClang.SizeOf(under) >= 0 && definedStructs.Add(name))
                        model.Structs.Add(Struct(decl, name, name, file, line, model.Problems));
                    break;
                }
                case CX.UnionDecl:
                    if (name.Length > 0)
                        model.Problems.Add($"union {name}: unions are not handled by the ABI check");
                    break;
                case CX.VarDecl:
                    model.Problems.Add($"{name} ({System.IO.Path.GetFileName(file)}:{line}): a variable in the header (data exports are not handled)");
                    break;
            }
        }
        model.OpaqueStructs.AddRange(declaredStructs.Where(s => !definedStructs.Contains(s)));
    }

    private static AbiFunction? Function(CXCursor c, string name, string file, int line, List<string> problems)
    {
        CXType type = LibClang.Canonical(LibClang.Type(c));
        if (type.Kind == CX.TypeFunctionNoProto)
        {
            problems.Add($"{name} ({System.IO.Path.GetFileName(file)}:{line}): declared without a prototype (write (void))");
            return null;
        }
        AbiSignature sig = Signature(type);
        var names = new List<string>();
        int n = LibClang.NumArguments(c);
        for (int i = 0; i < sig.Params.Count; i++)
            names.Add(i < n ? LibClang.Spelling(LibClang.Argument(c, i)) : "");
        // the spellings as written (typedef names), not the canonical ones
        CXType written = LibClang.Type(c);
        var ps = sig.Params.Select((p, i) => p with { Spelling = LibClang.Spelling(LibClang.ArgType(written, i)) }).ToList();
        sig = new AbiSignature(sig.Return with { Spelling = LibClang.Spelling(LibClang.ResultType(written)) }, ps, sig.Variadic);
        if (sig.Variadic)
            problems.Add($"{name}: variadic functions are not handled by the ABI check");
        return new AbiFunction(name, sig, names, file, line);
    }

    private static AbiSignature Signature(CXType functionType)
    {
        var ps = new List<AbiType>();
        int n = LibClang.NumArgTypes(functionType);
        for (int i = 0; i < n; i++)
            ps.Add(Shape(LibClang.ArgType(functionType, i)));
        return new AbiSignature(Shape(LibClang.ResultType(functionType)), ps, LibClang.IsVariadic(functionType));
    }

    /// <summary>A C type reduced to its ABI (parameter context: arrays and functions decay).</summary>
    public static AbiType Shape(CXType type)
    {
        string spelling = LibClang.Spelling(type);
        CXType c = LibClang.Canonical(type);
        switch (c.Kind)
        {
            case CX.TypeVoid:
                return AbiType.Void with { Spelling = spelling };
            case CX.TypePointer:
            case CX.TypeConstantArray:
            case CX.TypeIncompleteArray:
            case CX.TypeVariableArray:
            {
                CXType pointee = LibClang.Canonical(c.Kind == CX.TypePointer ? LibClang.Pointee(c) : LibClang.ArrayElement(c));
                if (pointee.Kind is CX.TypeFunctionProto or CX.TypeFunctionNoProto)
                    return new AbiType(spelling, 8, AbiClass.Integer, Callback: Signature(pointee));
                long size = pointee.Kind == CX.TypeVoid ? -1 : LibClang.SizeOf(pointee);
                return new AbiType(spelling, 8, AbiClass.Integer, PointeeSize: size < 0 ? -1 : size, Pointee: LibClang.Spelling(pointee));
            }
            case CX.TypeFunctionProto:
            case CX.TypeFunctionNoProto:
                return new AbiType(spelling, 8, AbiClass.Integer, Callback: Signature(c));
            case CX.TypeRecord:
                return new AbiType(spelling, LibClang.SizeOf(c), AbiClass.Struct);
            case CX.TypeFloat or CX.TypeDouble or CX.TypeLongDouble or CX.TypeFloat128 or CX.TypeHalf or CX.TypeFloat16:
                return new AbiType(spelling, LibClang.SizeOf(c), AbiClass.Float);
            default:
                return new AbiType(spelling, LibClang.SizeOf(c), AbiClass.Integer);
        }
    }

    private static AbiStruct Struct(CXCursor decl, string name, string cname, string file, int line, List<string> problems)
    {
        CXType type = LibClang.Canonical(LibClang.Type(decl));
        var fields = new List<AbiField>();
        foreach (CXCursor f in LibClang.Children(decl))
        {
            int kind = LibClang.Kind(f);
            if (kind is CX.StructDecl or CX.UnionDecl)
            {
                if (LibClang.IsAnonymous(f))
                    problems.Add($"{name}: an anonymous struct or union member is not handled by the ABI check");
                continue;
            }
            if (kind != CX.FieldDecl)
                continue;
            string fname = LibClang.Spelling(f);
            if (LibClang.IsBitField(f))
                problems.Add($"{name}.{fname}: bit-fields are not handled by the ABI check");
            long bits = LibClang.OffsetOfField(f);
            long viaType = LibClang.OffsetOf(type, fname);
            if (bits != viaType)
                problems.Add($"{name}.{fname}: clang_Cursor_getOffsetOfField says {bits} bits, clang_Type_getOffsetOf {viaType}");
            CXType ft = LibClang.Type(f);
            CXType fc = LibClang.Canonical(ft);
            long length = -1, element = -1;
            AbiClass cls;
            if (fc.Kind == CX.TypeConstantArray)
            {
                length = LibClang.ArraySize(fc);
                CXType el = LibClang.Canonical(LibClang.ArrayElement(fc));
                element = LibClang.SizeOf(el);
                cls = AbiClass.Struct;
            }
            else
            {
                cls = Shape(ft).Class;
            }
            fields.Add(new AbiField(fname, bits / 8, LibClang.SizeOf(fc), cls, length, element, LibClang.Spelling(ft)));
        }
        return new AbiStruct(name, LibClang.SizeOf(type), LibClang.AlignOf(type), fields, file, line) { CName = cname };
    }

    /// <summary>The library's exported C functions (src/PyHeapNative/Native/*.c): every
    /// definition with external linkage and default visibility, with the managed function
    /// (a hidden phnimpl_*) it calls, if any, and that function's declaration there. The
    /// managed callee is looked for in the definition's body and, transitively, in the static
    /// (and static inline) functions of the same translation unit that it calls, such as the
    /// noinline slow paths of phn_entry.c's PHN_PYMALLOC_SHIMS; calls to the external functions
    /// of other files (phn_debug_nested_malloc, phn_trace_add_slow, phn_pymalloc_free_slow ...)
    /// are not followed. Besides the shims: every phnimpl_* that any C function calls (static
    /// or not, the static inline functions of the headers included from the sources' directory
    /// too), with its C declaration, so that the managed exports C calls outside the shims are
    /// checked as well.
    /// A phnimpl_* that C itself defines (phnimpl_fast_configure ...) is C, not managed.</summary>
    public static CSources ParseCSources(IEnumerable<string> sources)
    {
        var result = new CSources();
        var shims = new List<(AbiFunction Fn, List<ManagedCallSite> Calls)>();
        var calls = new List<ManagedCallSite>();
        var definedInC = new HashSet<string>(StringComparer.Ordinal);
        foreach (string source in sources)
            ParseCSource(source, shims, calls, definedInC, result.Problems);

        // phnimpl_* callees that some translation unit defines in C are not managed
        foreach (var (fn, sites) in shims)
        {
            var managed = sites.Where(c => !definedInC.Contains(c.Callee)).ToList();
            var names = managed.Select(c => c.Callee).Distinct().ToList();
            if (names.Count > 1)
                result.Problems.Add($"{fn.Name} ({fn.Where}): calls more than one managed function: {string.Join(", ", names)}"
                    + $" (through {string.Join("; ", managed.Select(c => c.Callee + " in " + c.Caller).Distinct())})");
            ManagedCallSite? first = managed.FirstOrDefault();
            result.Shims.Add(new AbiShim(fn, first?.Callee, first?.Declaration));
        }
        foreach (var group in calls.Where(c => !definedInC.Contains(c.Callee))
                     .GroupBy(c => (c.Callee, Declaration: c.Declaration == null ? "" : $"{System.IO.Path.GetFullPath(c.Declaration.File)}:{c.Declaration.Line}")))
        {
            ManagedCallSite one = group.First();
            result.ManagedCalls.Add(new AbiManagedCall(one.Callee, one.Declaration, group.Select(c => c.Caller).Distinct().Order(StringComparer.Ordinal).ToList()));
        }
        // a declaration of the source file itself is read twice (the file's walk, the calls)
        var problems = result.Problems.Distinct().ToList();
        result.Problems.Clear();
        result.Problems.AddRange(problems);
        result.ManagedCalls.Sort((a, b) => string.CompareOrdinal(a.Callee + " " + a.Where, b.Callee + " " + b.Where));
        return result;
    }

    /// <summary>A call of a phnimpl_* function: the declaration the call binds to (null when it
    /// is not a prototype declared under the sources' directory) and the calling C function.</summary>
    private sealed record ManagedCallSite(string Callee, AbiFunction? Declaration, string Caller);

    private static void ParseCSource(string source, List<(AbiFunction Fn, List<ManagedCallSite> Calls)> shims, List<ManagedCallSite> allCalls,
        HashSet<string> definedInC, List<string> problems)
    {
        string full = System.IO.Path.GetFullPath(source);
        string ownDir = System.IO.Path.GetDirectoryName(full)!;
        nint index = LibClang.CreateIndex();
        try
        {
            int rc = LibClang.Parse(index, full, Arguments([], "gnu11"), out nint tu);
            if (rc != 0 || tu == 0)
            {
                problems.Add($"libclang could not parse {source} (CXErrorCode {rc})");
                return;
            }
            try
            {
                problems.AddRange(LibClang.Diagnostics(tu).Where(d => d.Severity >= CX.DiagnosticError).Select(d => "libclang: " + d.Text));
                var definitions = new List<(AbiFunction Fn, CXCursor Cursor)>();
                // every function defined in the sources' directory (this file and the headers it
                // includes from there: phn_fast.h's static inline functions), for the calls of phnimpl_*
                var ownDefinitions = new List<(string Name, string Where, CXCursor Cursor)>();
                foreach (CXCursor c in LibClang.Children(LibClang.TranslationUnitCursor(tu)))
                {
                    var (file, line) = LibClang.Location(c);
                    if (LibClang.Kind(c) != CX.FunctionDecl || file.Length == 0)
                        continue;
                    string name = LibClang.Spelling(c);
                    if (LibClang.IsDefinition(c) && IsUnder(file, ownDir))
                    {
                        ownDefinitions.Add((name, $"{System.IO.Path.GetFileName(file)}:{line}", c));
                        if (name.StartsWith("phnimpl_", StringComparison.Ordinal))
                            definedInC.Add(name);
                    }
                    if (System.IO.Path.GetFullPath(file) != full)
                        continue;
                    AbiFunction? fn = Function(c, name, file, line, problems);
                    if (fn != null && LibClang.IsDefinition(c) && LibClang.Linkage(c) == CX.LinkageExternal
                        && LibClang.StorageClass(c) != CX.StorageStatic && LibClang.Visibility(c) == CX.VisibilityDefault)
                        definitions.Add((fn, c));
                }
                var declarations = new Dictionary<string, AbiFunction?>();
                AbiFunction? DeclarationOf(CXCursor declaration)
                {
                    string name = LibClang.Spelling(declaration);
                    var (file, line) = LibClang.Location(declaration);
                    string key = $"{name}@{file}:{line}";
                    if (!declarations.TryGetValue(key, out AbiFunction? fn))
                    {
                        // a prototype of the sources' directory, not an implicit declaration
                        fn = file.Length > 0 && IsUnder(file, ownDir) && !LibClang.IsDefinition(declaration)
                            ? Function(declaration, name, file, line, problems)
                            : null;
                        declarations[key] = fn;
                    }
                    return fn;
                }

                foreach (var (fn, cursor) in definitions)
                {
                    var sites = new List<ManagedCallSite>();
                    var visited = new HashSet<string>(StringComparer.Ordinal) { fn.Name };
                    CollectManagedCalls(cursor, fn.Name, fn.Where, follow: true, visited, sites, DeclarationOf);
                    shims.Add((fn, sites));
                }
                foreach (var (name, where, cursor) in ownDefinitions)
                    CollectManagedCalls(cursor, name, where, follow: false, [], allCalls, DeclarationOf);
            }
            finally
            {
                LibClang.DisposeTranslationUnit(tu);
            }
        }
        finally
        {
            LibClang.DisposeIndex(index);
        }
    }

    /// <summary>The phnimpl_* calls in a function's body; with follow, also those of the static
    /// functions of the translation unit it calls, transitively (each function once).</summary>
    private static void CollectManagedCalls(CXCursor function, string name, string where, bool follow, HashSet<string> visited,
        List<ManagedCallSite> sites, Func<CXCursor, AbiFunction?> declarationOf)
    {
        foreach (CXCursor call in LibClang.Children(function, recurse: true))
        {
            if (LibClang.Kind(call) != CX.CallExpr)
                continue;
            CXCursor callee = LibClang.Referenced(call);
            bool direct = LibClang.Kind(callee) == CX.FunctionDecl;
            string calleeName = direct ? LibClang.Spelling(callee) : LibClang.Spelling(call);
            CXCursor definition = direct ? LibClang.Definition(callee) : default;
            bool definedHere = direct && LibClang.Kind(definition) == CX.FunctionDecl && LibClang.IsDefinition(definition);
            if (calleeName.StartsWith("phnimpl_", StringComparison.Ordinal) && !definedHere)
            {
                sites.Add(new ManagedCallSite(calleeName, direct ? declarationOf(callee) : null, $"{name} ({where})"));
                continue;
            }
            // a static (or static inline) function of this translation unit: its calls count as the caller's
            if (!follow || !definedHere || LibClang.Linkage(definition) == CX.LinkageExternal || !visited.Add(calleeName))
                continue;
            var (file, line) = LibClang.Location(definition);
            CollectManagedCalls(definition, calleeName, $"{System.IO.Path.GetFileName(file)}:{line}", follow, visited, sites, declarationOf);
        }
    }
}

/// <summary>What the libclang walk of the library's C sources found.</summary>
internal sealed class CSources
{
    /// <summary>The exported C functions and their managed callees.</summary>
    public List<AbiShim> Shims { get; } = [];
    /// <summary>Every managed phnimpl_* function some C function calls, once per C declaration.</summary>
    public List<AbiManagedCall> ManagedCalls { get; } = [];
    public List<string> Problems { get; } = [];
}

// ====================================================================== C# (reflection)

/// <summary>A C# struct's layout: size, and fields in declaration order with their real
/// (managed = native, for these blittable structs) offsets.</summary>
internal sealed record ManagedLayout(Type Type, long Size, IReadOnlyList<AbiField> Fields);

internal static unsafe class ClrAbi
{
    private static readonly MethodInfo s_sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;

    /// <summary>Size in bytes of a value of type t as it crosses the boundary (-1 for void).</summary>
    public static long SizeOf(Type t)
    {
        if (t == typeof(void))
            return -1;
        if (t.IsPointer || t.IsFunctionPointer || t.IsByRef || !t.IsValueType)
            return IntPtr.Size;
        return Convert.ToInt64(s_sizeOf.MakeGenericMethod(t).Invoke(null, null), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string Name(Type t)
    {
        if (t.IsFunctionPointer)
            return $"delegate* unmanaged<{string.Join(", ", t.GetFunctionPointerParameterTypes().Append(t.GetFunctionPointerReturnType()).Select(Name))}>";
        if (t.IsPointer)
            return Name(t.GetElementType()!) + "*";
        return t.IsNested ? $"{t.DeclaringType!.Name}.{t.Name}" : t.Name;
    }

    /// <summary>A CLR type (as a parameter, return or field of an unmanaged signature) reduced to its ABI.</summary>
    public static AbiType Shape(Type t)
    {
        string name = Name(t);
        if (t == typeof(void))
            return AbiType.Void with { Spelling = name };
        if (t.IsFunctionPointer)
        {
            var sig = new AbiSignature(Shape(t.GetFunctionPointerReturnType()), t.GetFunctionPointerParameterTypes().Select(Shape).ToList());
            return new AbiType(name, IntPtr.Size, AbiClass.Integer, Callback: sig);
        }
        if (t.IsPointer || t.IsByRef)
        {
            Type e = t.GetElementType()!;
            if (e.IsFunctionPointer)
                return new AbiType(name, IntPtr.Size, AbiClass.Integer, PointeeSize: IntPtr.Size, Pointee: Name(e));
            return new AbiType(name, IntPtr.Size, AbiClass.Integer, PointeeSize: e == typeof(void) ? -1 : SizeOf(e), Pointee: Name(e));
        }
        if (!t.IsValueType)
            return new AbiType(name, IntPtr.Size, AbiClass.Integer);   // marshalled as a pointer (string, SafeHandle, array)
        if (t.IsEnum)
            return Shape(Enum.GetUnderlyingType(t)) with { Spelling = name };
        if (t == typeof(float) || t == typeof(double) || t == typeof(Half))
            return new AbiType(name, SizeOf(t), AbiClass.Float);
        if (t.IsPrimitive)
            return new AbiType(name, SizeOf(t), AbiClass.Integer);
        // A struct by value: a one-field wrapper (a handle) travels as its field.
        FieldInfo[] fields = t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
        if (fields.Length == 1 && t.GetCustomAttribute<InlineArrayAttribute>() == null)
            return Shape(fields[0].FieldType) with { Spelling = name };
        return new AbiType(name, SizeOf(t), AbiClass.Struct);
    }

    public static AbiSignature Signature(MethodInfo m) =>
        new(Shape(m.ReturnType), m.GetParameters().Select(p => Shape(p.ParameterType)).ToList());

    /// <summary>The managed offset of an instance field, measured (ldflda minus the struct's
    /// address) rather than asked of the marshaller.</summary>
    public static long OffsetOf(FieldInfo f)
    {
        try
        {
            Type owner = f.DeclaringType!;
            var dm = new DynamicMethod("offsetof_" + f.Name, typeof(long), Type.EmptyTypes, owner.Module, skipVisibility: true);
            ILGenerator il = dm.GetILGenerator();
            LocalBuilder local = il.DeclareLocal(owner);
            il.Emit(OpCodes.Ldloca, local);
            il.Emit(OpCodes.Ldflda, f);
            il.Emit(OpCodes.Ldloca, local);
            il.Emit(OpCodes.Sub);
            il.Emit(OpCodes.Conv_I8);
            il.Emit(OpCodes.Ret);
            return (long)dm.Invoke(null, null)!;
        }
        catch (Exception e) when (e is InvalidProgramException or TargetInvocationException or NotSupportedException)
        {
            return Marshal.OffsetOf(f.DeclaringType!, f.Name).ToInt64();
        }
    }

    public static ManagedLayout Layout(Type t)
    {
        var fields = new List<AbiField>();
        foreach (FieldInfo f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).OrderBy(f => f.MetadataToken))
        {
            Type ft = f.FieldType;
            InlineArrayAttribute? inline = ft.IsValueType ? ft.GetCustomAttribute<InlineArrayAttribute>() : null;
            long length = -1, element = -1;
            if (inline != null)
            {
                length = inline.Length;
                FieldInfo? single = ft.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).SingleOrDefault();
                element = single == null ? -1 : SizeOf(single.FieldType);
            }
            AbiClass cls = inline != null ? AbiClass.Struct : Shape(ft).Class;
            fields.Add(new AbiField(f.Name, OffsetOf(f), SizeOf(ft), cls, length, element, Name(ft)));
        }
        return new ManagedLayout(t, SizeOf(t), fields);
    }
}

/// <summary>The Native AOT project's IL (PyHeapNative.csproj builds an ordinary assembly that
/// ILC compiles into the .so; the test project does not reference it, since it is not meant
/// to run on CoreCLR). Loaded for reflection only into its own AssemblyLoadContext: no code
/// of it runs (no type initializer, no module initializer).</summary>
internal static class LibraryAssembly
{
    private static readonly Lazy<(Assembly? Assembly, string Message)> s_assembly = new(Load);

    /// <summary>Where the IL is looked for: $PHN_LIBRARY_IL; the IL build.sh compiled into
    /// artifacts/lib/libpyheapnative.so (artifacts/obj/shared/libpyheapnative.dll); the newest
    /// src/PyHeapNative/bin/*/net10.0/*/libpyheapnative.dll.</summary>
    public static IEnumerable<string> Candidates()
    {
        string? env = Environment.GetEnvironmentVariable("PHN_LIBRARY_IL");
        if (!string.IsNullOrEmpty(env))
            yield return env;
        yield return System.IO.Path.Combine(Repo.Root, "artifacts", "obj", "shared", "libpyheapnative.dll");
        string bin = System.IO.Path.Combine(Repo.Root, "src", "PyHeapNative", "bin");
        if (Directory.Exists(bin))
        {
            foreach (string f in Directory.GetFiles(bin, "libpyheapnative.dll", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc))
                yield return f;
        }
    }

    public static Assembly Assembly
    {
        get
        {
            var (a, message) = s_assembly.Value;
            return a ?? throw new InvalidOperationException(message);
        }
    }

    public static string Path => s_assembly.Value.Message;

    private static (Assembly?, string) Load()
    {
        foreach (string path in Candidates())
        {
            if (!File.Exists(path))
                continue;
            var alc = new AssemblyLoadContext("phn-abi-check-il", isCollectible: false);
            return (alc.LoadFromAssemblyPath(System.IO.Path.GetFullPath(path)), System.IO.Path.GetFullPath(path));
        }
        return (null, "the IL of src/PyHeapNative (libpyheapnative.dll) was not found; run ./build.sh build; looked at: " + string.Join(", ", Candidates()));
    }

    public static IEnumerable<Type> Types()
    {
        try
        {
            return Assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.Where(t => t != null)!;
        }
    }

    /// <summary>Every [UnmanagedCallersOnly] method with an EntryPoint, by entry point.
    /// Duplicates go to problems.</summary>
    public static Dictionary<string, MethodInfo> Exports(List<string> problems)
    {
        var map = new Dictionary<string, MethodInfo>();
        foreach (Type t in Types())
        {
            foreach (MethodInfo m in t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                CustomAttributeData? uco = m.CustomAttributes.FirstOrDefault(a => a.AttributeType.FullName == typeof(UnmanagedCallersOnlyAttribute).FullName);
                string? entry = uco?.NamedArguments.FirstOrDefault(n => n.MemberName == nameof(UnmanagedCallersOnlyAttribute.EntryPoint)).TypedValue.Value as string;
                if (entry == null)
                    continue;
                if (!map.TryAdd(entry, m))
                    problems.Add($"{entry}: exported twice ({map[entry].DeclaringType!.Name}.{map[entry].Name} and {t.Name}.{m.Name})");
            }
        }
        return map;
    }

    public static Type? Type(string fullName) => Assembly.GetType(fullName, throwOnError: false);
}

/// <summary>PyHeapNative.Interop's bindings of the library, by entry point.</summary>
internal static class InteropBindings
{
    public static Dictionary<string, MethodInfo> Functions(List<string> problems)
    {
        var map = new Dictionary<string, MethodInfo>();
        foreach (Type t in typeof(Native).Assembly.GetTypes())
        {
            foreach (MethodInfo m in t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                string? entry = null;
                if (m.GetCustomAttribute<LibraryImportAttribute>() is { } li && li.LibraryName == Native.LibraryName)
                    entry = li.EntryPoint ?? m.Name;
                // a hand-written [DllImport] (the LibraryImport generator's own inner
                // __PInvoke methods have compiler names with '<')
                else if (!m.Name.Contains('<') && m.GetCustomAttribute<DllImportAttribute>() is { } di && di.Value == Native.LibraryName)
                    entry = di.EntryPoint ?? m.Name;
                if (entry == null)
                    continue;
                if (!map.TryAdd(entry, m))
                    problems.Add($"{entry}: bound twice ({map[entry].DeclaringType!.Name}.{map[entry].Name} and {t.Name}.{m.Name})");
            }
        }
        return map;
    }

    /// <summary>The Interop mirror of a C struct, by Native.cs's convention: the C name in
    /// PascalCase, in namespace PyHeapNative.Interop (phn_gc_stats -> PhnGcStats; compared
    /// without regard to case, since word breaks are not always underscores: phn_varobject ->
    /// PhnVarObject), unless overridden.</summary>
    public static Type? Struct(string cname, IReadOnlyDictionary<string, string> overrides)
    {
        if (overrides.TryGetValue(cname, out string? o))
            return typeof(Native).Assembly.GetType("PyHeapNative.Interop." + o, throwOnError: false);
        string name = Pascal(cname);
        var matches = typeof(Native).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.Namespace == "PyHeapNative.Interop" && !t.IsNested && string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
            .ToList();
        return matches.Count == 1 ? matches[0] : matches.FirstOrDefault(t => t.Name == name);
    }

    public static string Pascal(string snake) =>
        string.Concat(snake.Split('_', StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
}

// ====================================================================== the .so, gcc, Python

internal static class DynamicSymbols
{
    /// <summary>The defined dynamic symbols of a shared object and their nm type letter.</summary>
    public static Dictionary<string, string> Read(string library)
    {
        if (!File.Exists(library))
            throw new InvalidOperationException($"{library} not built (./build.sh build)");
        ProcessResult nm = ProcessRunner.Run("nm", ["-D", "--defined-only", library]);
        if (nm.ExitCode != 0)
            throw new InvalidOperationException("nm -D failed:\n" + nm);
        string output = nm.StdOut;
        var map = new Dictionary<string, string>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2)
                continue;
            string name = parts[^1];
            int at = name.IndexOf('@');
            if (at >= 0)
                name = name[..at];
            map.TryAdd(name, parts[^2]);
        }
        return map;
    }
}

internal static class GccLayouts
{
    /// <summary>Compiles and runs a C program, generated from the libclang walk, that prints
    /// sizeof and offsetof of every struct of the header as gcc lays it out.</summary>
    public static Dictionary<string, ManagedLessLayout> Read(AbiHeader header, string scratch, IEnumerable<string> includeDirs)
    {
        var src = new StringBuilder("#include <stddef.h>\n#include <stdio.h>\n");
        src.Append($"#include \"{header.Path}\"\n\nint main(void) {{\n");
        foreach (AbiStruct s in header.Structs)
        {
            src.Append($"    printf(\"size %s %lld\\n\", \"{s.Name}\", (long long)sizeof({s.CName}));\n");
            foreach (AbiField f in s.Fields)
                src.Append($"    printf(\"field %s %s %lld %lld\\n\", \"{s.Name}\", \"{f.Name}\", (long long)offsetof({s.CName}, {f.Name}), (long long)sizeof((({s.CName}*)0)->{f.Name}));\n");
        }
        src.Append("    return 0;\n}\n");
        string name = "abi_layout_" + Guid.NewGuid().ToString("N")[..8];
        string exe = System.IO.Path.Combine(scratch, name);
        var args = new List<string> { "-std=c11", "-Wall", "-Wextra", "-Werror" };
        foreach (string dir in includeDirs)
            args.AddRange(["-I", dir]);
        args.AddRange(["-o", exe]);
        ProcessResult cc = ProcessRunner.Compile("gcc", exe + ".c", src.ToString(), [.. args]);
        if (cc.ExitCode != 0)
            throw new InvalidOperationException("gcc (struct layout program):\n" + cc);
        ProcessResult run = ProcessRunner.Run(exe, []);
        if (run.ExitCode != 0)
            throw new InvalidOperationException("the struct layout program failed:\n" + run);
        string output = run.StdOut;
        var map = new Dictionary<string, ManagedLessLayout>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] p = line.Split(' ');
            if (p[0] == "size")
                map[p[1]] = new ManagedLessLayout(long.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture), []);
            else
                map[p[1]].Fields.Add(new AbiField(p[2], long.Parse(p[3], System.Globalization.CultureInfo.InvariantCulture), long.Parse(p[4], System.Globalization.CultureInfo.InvariantCulture), AbiClass.Integer));
        }
        return map;
    }
}

/// <summary>A layout read from outside .NET (gcc, ctypes).</summary>
internal sealed record ManagedLessLayout(long Size, List<AbiField> Fields);

internal sealed record PythonAbi(Dictionary<string, AbiSignature> Functions, Dictionary<string, ManagedLessLayout> Structs);

internal static class PythonBindings
{
    /// <summary>The dump script: FUNCTIONS and STRUCT_TYPES of pyheapnative._native, with
    /// ctypes sizes (pointers, CFUNCTYPE and c_char_p/c_void_p count as pointers), the
    /// callbacks' own argtypes/restype, pointee sizes and struct field offsets.</summary>
    public const string Script = """
        import ctypes, json, sys
        from pyheapnative import _native as n

        FLOATS = (ctypes.c_float, ctypes.c_double, ctypes.c_longdouble)

        def shape(t, depth=0):
            if t is None:
                return {"spelling": "None", "size": 0, "cls": "Void"}
            name = getattr(t, "__name__", repr(t))
            if isinstance(t, type) and issubclass(t, ctypes._CFuncPtr):
                cb = None
                if depth < 4:
                    cb = {"ret": shape(t._restype_, depth + 1), "params": [shape(a, depth + 1) for a in (t._argtypes_ or ())]}
                return {"spelling": name, "size": ctypes.sizeof(t), "cls": "Integer", "callback": cb}
            if isinstance(t, type) and issubclass(t, ctypes._Pointer):
                p = t._type_
                return {"spelling": name, "size": ctypes.sizeof(t), "cls": "Integer", "pointee": ctypes.sizeof(p), "pointee_name": getattr(p, "__name__", repr(p))}
            if isinstance(t, type) and issubclass(t, ctypes.Array):
                return {"spelling": name, "size": ctypes.sizeof(ctypes.c_void_p), "cls": "Integer", "pointee": ctypes.sizeof(t._type_)}
            if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
                return {"spelling": name, "size": ctypes.sizeof(t), "cls": "Struct"}
            if t in FLOATS:
                return {"spelling": name, "size": ctypes.sizeof(t), "cls": "Float"}
            return {"spelling": name, "size": ctypes.sizeof(t), "cls": "Integer"}

        out = {"functions": {}, "structs": {}}
        for name, entry in n.FUNCTIONS.items():
            restype, argtypes = entry[0], entry[1]
            out["functions"][name] = {"ret": shape(restype), "params": [shape(a) for a in argtypes]}
        for name, cls in getattr(n, "STRUCT_TYPES", {}).items():
            fields = []
            for f in cls._fields_:
                fname, ftype = f[0], f[1]
                d = getattr(cls, fname)
                entry = {"name": fname, "offset": d.offset, "size": d.size, "cls": shape(ftype)["cls"]}
                if isinstance(ftype, type) and issubclass(ftype, ctypes.Array):
                    entry["length"] = ftype._length_
                    entry["element"] = ctypes.sizeof(ftype._type_)
                    entry["cls"] = "Struct"
                fields.append(entry)
            out["structs"][name] = {"size": ctypes.sizeof(cls), "fields": fields}
        json.dump(out, sys.stdout)
        """;

    public static PythonAbi Read(string scratch)
    {
        string script = System.IO.Path.Combine(scratch, "dump_python_abi.py");
        File.WriteAllText(script, Script.Replace("\r\n", "\n"));
        string pythonPath = System.IO.Path.Combine(Repo.Root, "src", "python");
        string? existing = Environment.GetEnvironmentVariable("PYTHONPATH");
        ProcessResult r = ProcessRunner.Run("python3", [script], new Dictionary<string, string?>
        {
            ["PYTHONPATH"] = string.IsNullOrEmpty(existing) ? pythonPath : pythonPath + ":" + existing,
            [NativeLibraryResolver.EnvironmentVariable] = System.IO.Path.GetFullPath(Repo.LibraryPath),
        });
        if (r.ExitCode != 0)
            throw new InvalidOperationException("python3 dump of pyheapnative._native failed:\n" + r);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        var functions = new Dictionary<string, AbiSignature>();
        foreach (JsonProperty f in doc.RootElement.GetProperty("functions").EnumerateObject())
            functions[f.Name] = Signature(f.Value);
        var structs = new Dictionary<string, ManagedLessLayout>();
        foreach (JsonProperty s in doc.RootElement.GetProperty("structs").EnumerateObject())
        {
            var fields = s.Value.GetProperty("fields").EnumerateArray().Select(e => new AbiField(
                e.GetProperty("name").GetString()!, e.GetProperty("offset").GetInt64(), e.GetProperty("size").GetInt64(),
                Enum.Parse<AbiClass>(e.GetProperty("cls").GetString()!),
                e.TryGetProperty("length", out JsonElement l) ? l.GetInt64() : -1,
                e.TryGetProperty("element", out JsonElement el) ? el.GetInt64() : -1)).ToList();
            structs[s.Name] = new ManagedLessLayout(s.Value.GetProperty("size").GetInt64(), fields);
        }
        return new PythonAbi(functions, structs);
    }

    private static AbiSignature Signature(JsonElement e) =>
        new(Type(e.GetProperty("ret")), e.GetProperty("params").EnumerateArray().Select(Type).ToList());

    private static AbiType Type(JsonElement e)
    {
        AbiSignature? cb = e.TryGetProperty("callback", out JsonElement c) && c.ValueKind == JsonValueKind.Object ? Signature(c) : null;
        return new AbiType(e.GetProperty("spelling").GetString()!, e.GetProperty("size").GetInt64(), Enum.Parse<AbiClass>(e.GetProperty("cls").GetString()!),
            cb, e.TryGetProperty("pointee", out JsonElement p) ? p.GetInt64() : -1,
            e.TryGetProperty("pointee_name", out JsonElement pn) ? pn.GetString() : null);
    }
}
