// AbiChecker.cs - compares the header's functions and structs (the libclang walk, AbiModel.cs)
// with every other side and lists each disagreement. The same code checks the real header
// (AbiTests: no mismatch expected) and the deliberately wrong Fixtures/abi_mismatch.h
// (AbiTests.MismatchFixtureIsReported: the mismatches must be found).
//
// What "agree" means, per function declared with external linkage:
//   export     the .so's dynamic symbol table has it, as a function (nm type T);
//   C shim     for the functions the library defines in C (src/PyHeapNative/Native/*.c: the
//              allocation entry points of phn_entry.c, phn_gc_untrack ...): the C definition's
//              signature equals the header's, and the hidden phnimpl_* function it calls
//              takes the same parameters, or those plus one trailing pointer (the caller's
//              return address, for tracemalloc);
//   C# export  the [UnmanagedCallersOnly(EntryPoint = name)] method (for a C definition, the
//              one named after its phnimpl_* callee, compared with the callee's C declaration);
//              the callee is the one phnimpl_* the C definition calls, itself or through the
//              static (inline) functions of its file (phn_entry.c's noinline slow paths);
//   Interop    the [LibraryImport]/[DllImport] binding of PyHeapNative.Interop;
//   Python     the FUNCTIONS entry of pyheapnative._native (restype, argtypes);
// each with the same parameter count, the same size (and integer/floating class) for the
// return and every parameter, the same pointee size where both sides name a sized pointee,
// and, for function-pointer parameters whose type both sides spell out, the same callback
// signature (recursively). Per struct: the same sizeof, field count, and per field (in
// declaration order) offset and size (and array length), for gcc, libclang's own
// clang_Type_getOffsetOf, the library's internal C# struct, the Interop struct and the ctypes
// Structure.
//
// Per managed function that C calls (every phnimpl_* called by a C function of Native/*.c,
// static or not, shim or not: phn_fast_debug.c's and phn_fast_trace.c's calls of
// phnimpl_pymalloc_free, phnimpl_trace_add ...): an [UnmanagedCallersOnly(EntryPoint = name)]
// method exists and matches the C declaration the calls bind to, compared as a shim's callee
// is. And the other way round (reverse): every [UnmanagedCallersOnly] entry point is declared
// in the header, or is a shim's callee, or is called from C.
using System.Reflection;

namespace PyHeapNative.Tests;

internal sealed record AbiMismatch(string Side, string Item, string Problem)
{
    public override string ToString() => $"[{Side}] {Item}: {Problem}";
}

internal static class AbiSide
{
    public const string Header = "header";
    public const string Export = "export";
    public const string Shim = "C shim";
    public const string CSharp = "C# export";
    public const string Interop = "Interop";
    public const string Python = "Python";
    public const string LayoutGcc = "layout gcc";
    public const string LayoutCSharp = "layout C# library";
    public const string LayoutInterop = "layout Interop";
    public const string LayoutPython = "layout Python";
}

/// <summary>Everything read from the sides other than the header. A side that could not be
/// read is null, with the reason in <see cref="Errors"/> (reported once, as a mismatch of that
/// side), so that one broken side does not hide the others.</summary>
internal sealed class AbiInputs
{
    public required string LibraryPath { get; init; }
    public Dictionary<string, string>? Symbols { get; init; }
    public Dictionary<string, MethodInfo>? LibraryExports { get; init; }
    public List<AbiShim> Shims { get; init; } = [];
    /// <summary>Every managed phnimpl_* function that C code calls, per C declaration.</summary>
    public List<AbiManagedCall> ManagedCalls { get; init; } = [];
    public Dictionary<string, MethodInfo>? Interop { get; init; }
    public PythonAbi? Python { get; init; }
    public Dictionary<string, ManagedLessLayout>? Gcc { get; init; }
    /// <summary>Side (AbiSide.*) -> why it could not be read.</summary>
    public Dictionary<string, string> Errors { get; init; } = [];
    /// <summary>C struct name -> full name of the library's internal C# struct.</summary>
    public required IReadOnlyDictionary<string, string> LibraryStructs { get; init; }
    /// <summary>C struct name -> Interop struct name, where Native.cs's convention does not apply.</summary>
    public required IReadOnlyDictionary<string, string> InteropStructOverrides { get; init; }
    /// <summary>Problems found while reading the sides (duplicate exports, unparsable shims).</summary>
    public List<string> ReadProblems { get; } = [];
}

internal static class AbiChecker
{
    /// <param name="reverse">also report what the other sides have and the header does not
    /// declare (meaningful for the real header, not for a fixture declaring a few names)</param>
    public static List<AbiMismatch> Check(AbiHeader header, AbiInputs sides, bool reverse)
    {
        var list = new List<AbiMismatch>();
        list.AddRange(header.Problems.Select(p => new AbiMismatch(AbiSide.Header, Path.GetFileName(header.Path), p)));
        list.AddRange(sides.ReadProblems.Select(p => new AbiMismatch(AbiSide.Header, "reading the sides", p)));
        list.AddRange(sides.Errors.Select(e => new AbiMismatch(e.Key, "(every item)", "could not be read: " + e.Value)));
        foreach (AbiFunction f in header.Functions)
            CheckFunction(list, f, sides);
        foreach (AbiStruct s in header.Structs)
            CheckStruct(list, s, sides);
        CheckManagedCalls(list, header, sides);
        if (reverse)
            CheckReverse(list, header, sides);
        return list;
    }

    // ------------------------------------------------------------------ functions

    private static void CheckFunction(List<AbiMismatch> list, AbiFunction f, AbiInputs sides)
    {
        string item = $"{f.Name} ({f.Where})";
        string? kind = null;
        if (sides.Symbols != null && !sides.Symbols.TryGetValue(f.Name, out kind))
            list.Add(new(AbiSide.Export, item, $"not in the dynamic symbol table of {Path.GetFileName(sides.LibraryPath)}"));
        else if (kind != null && kind != "T")
            list.Add(new(AbiSide.Export, item, $"a dynamic symbol of type '{kind}', not a function (T)"));

        CheckCSharp(list, item, f, sides);

        if (sides.Interop == null) { }
        else if (!sides.Interop.TryGetValue(f.Name, out MethodInfo? binding))
            list.Add(new(AbiSide.Interop, item, "no binding in PyHeapNative.Interop (no [LibraryImport(EntryPoint = ...)] for it)"));
        else
            CompareSignature(list, AbiSide.Interop, item, f, ClrAbi.Signature(binding), $"{binding.DeclaringType!.Name}.{binding.Name}");

        if (sides.Python == null) { }
        else if (!sides.Python.Functions.TryGetValue(f.Name, out AbiSignature? py))
            list.Add(new(AbiSide.Python, item, "not in pyheapnative._native.FUNCTIONS"));
        else
            CompareSignature(list, AbiSide.Python, item, f, py, "FUNCTIONS entry (restype, argtypes)");
    }

    private static void CheckCSharp(List<AbiMismatch> list, string item, AbiFunction f, AbiInputs sides)
    {
        AbiShim? shim = sides.Shims.FirstOrDefault(s => s.Shim.Name == f.Name);
        Dictionary<string, MethodInfo>? exports = sides.LibraryExports;
        if (shim != null)
        {
            string file = Path.GetFileName(shim.Shim.File);
            CompareSignature(list, AbiSide.Shim, item, f, shim.Shim.Signature, $"its C definition ({shim.Shim.Where})");
            if (exports != null && exports.ContainsKey(f.Name))
                list.Add(new(AbiSide.CSharp, item, $"exported twice: defined in C ({shim.Shim.Where}) and by an [UnmanagedCallersOnly] method"));
            if (shim.Callee == null)
                return;   // implemented in C only: there is no managed side to compare
            if (shim.CalleeDeclaration == null)
            {
                list.Add(new(AbiSide.Shim, item, $"the C definition calls {shim.Callee}, which neither {file} nor a header of its directory declares (with a prototype)"));
                return;
            }
            AbiSignature callee = shim.CalleeDeclaration.Signature;
            AbiSignature own = shim.Shim.Signature;
            // phnimpl_x takes the C function's parameters, plus (for the allocation entry
            // points of phn_entry.c) a trailing void* caller: the C caller's return address.
            bool same = callee.Params.Count == own.Params.Count;
            bool withCaller = callee.Params.Count == own.Params.Count + 1
                && callee.Params[^1].Size == IntPtr.Size && callee.Params[^1].Class == AbiClass.Integer;
            if (!same && !withCaller)
                list.Add(new(AbiSide.Shim, item, $"{shim.Callee}{callee} should take the parameters of {f.Name}{own} (plus, at most, a trailing void* caller)"));
            else
                CompareSignature(list, AbiSide.Shim, item, f, callee with { Params = callee.Params.Take(own.Params.Count).ToList() },
                    $"{shim.Callee} declared in {file}:{shim.CalleeDeclaration.Line}{(withCaller ? ", caller parameter aside" : "")}");
            if (exports == null) { }
            else if (!exports.TryGetValue(shim.Callee, out MethodInfo? impl))
                list.Add(new(AbiSide.CSharp, item, $"no [UnmanagedCallersOnly(EntryPoint = \"{shim.Callee}\")] method for the C definition ({shim.Shim.Where}) to call"));
            else
                CompareSignature(list, AbiSide.CSharp, item, shim.CalleeDeclaration, ClrAbi.Signature(impl),
                    $"{impl.DeclaringType!.Name}.{impl.Name} (EntryPoint {shim.Callee}, called from {file})", $"its C declaration ({shim.CalleeDeclaration.Where})");
        }
        else if (exports == null) { }
        else if (!exports.TryGetValue(f.Name, out MethodInfo? m))
            list.Add(new(AbiSide.CSharp, item, $"no [UnmanagedCallersOnly(EntryPoint = \"{f.Name}\")] method in the library and no C definition in Native/*.c"));
        else
            CompareSignature(list, AbiSide.CSharp, item, f, ClrAbi.Signature(m), $"{m.DeclaringType!.Name}.{m.Name}");
    }

    /// <summary>The managed functions C calls, apart from the callees of the header's C
    /// definitions (compared in <see cref="CheckCSharp"/>): each C declaration those calls bind
    /// to against the [UnmanagedCallersOnly] method, as a shim's callee is compared.</summary>
    private static void CheckManagedCalls(List<AbiMismatch> list, AbiHeader header, AbiInputs sides)
    {
        var declared = header.Functions.Select(f => f.Name).ToHashSet();
        var compared = sides.Shims.Where(s => declared.Contains(s.Shim.Name) && s.Callee != null && s.CalleeDeclaration != null)
            .Select(s => (s.Callee!, s.CalleeDeclaration!.Where)).ToHashSet();
        foreach (AbiManagedCall call in sides.ManagedCalls)
        {
            string item = $"{call.Callee} ({call.Where})";
            string callers = string.Join(", ", call.Callers);
            if (call.Declaration == null)
            {
                list.Add(new(AbiSide.Shim, item, $"called from C ({callers}) without a prototype declared in Native/ (the .c file or a header of its directory)"));
                continue;
            }
            if (compared.Contains((call.Callee, call.Declaration.Where)))
                continue;   // a shim's callee, compared with the header's function already
            if (sides.LibraryExports == null) { }
            else if (!sides.LibraryExports.TryGetValue(call.Callee, out MethodInfo? impl))
                list.Add(new(AbiSide.CSharp, item, $"no [UnmanagedCallersOnly(EntryPoint = \"{call.Callee}\")] method for the C code that calls it ({callers})"));
            else
                CompareSignature(list, AbiSide.CSharp, item, call.Declaration, ClrAbi.Signature(impl),
                    $"{impl.DeclaringType!.Name}.{impl.Name} (EntryPoint {call.Callee}, called from {callers})", $"its C declaration ({call.Declaration.Where})");
        }
    }

    /// <param name="reference">what the expected signature is ("the header", or the C
    /// declaration of a phnimpl_* function)</param>
    private static void CompareSignature(List<AbiMismatch> list, string side, string item, AbiFunction expected, AbiSignature other, string otherName,
        string reference = "the header") =>
        CompareSignature(list, side, item, expected.Signature, expected.ParamNames, other, otherName, "", reference);

    private static void CompareSignature(List<AbiMismatch> list, string side, string item, AbiSignature c, IReadOnlyList<string>? names,
        AbiSignature other, string otherName, string path, string reference)
    {
        if (c.Params.Count != other.Params.Count)
            list.Add(new(side, item, $"{path}{c.Params.Count} parameters in {reference} {c}, {other.Params.Count} in {otherName} {other}"));
        CompareType(list, side, item, $"{path}return", c.Return, other.Return, otherName, reference);
        for (int i = 0; i < Math.Min(c.Params.Count, other.Params.Count); i++)
        {
            string name = names != null && i < names.Count && names[i].Length > 0 ? $" ({names[i]})" : "";
            CompareType(list, side, item, $"{path}parameter {i + 1}{name}", c.Params[i], other.Params[i], otherName, reference);
        }
    }

    private static bool IsFloat(AbiType t) => t.Class == AbiClass.Float;

    private static void CompareType(List<AbiMismatch> list, string side, string item, string where, AbiType c, AbiType o, string otherName, string reference)
    {
        bool cVoid = c.Class == AbiClass.Void, oVoid = o.Class == AbiClass.Void;
        if (cVoid || oVoid)
        {
            if (cVoid != oVoid)
                list.Add(new(side, item, $"{where}: {c} in {reference}, {o} in {otherName}"));
            return;
        }
        if (c.Size != o.Size || IsFloat(c) != IsFloat(o))
        {
            list.Add(new(side, item, $"{where}: {c} in {reference}, {o} in {otherName}"));
            return;
        }
        if (c.Callback != null && o.Callback != null)
            CompareSignature(list, side, item, c.Callback, null, o.Callback, otherName, $"{where} ({c.Spelling}) callback ", reference);
        else if (c.PointeeSize > 0 && o.PointeeSize > 0 && c.PointeeSize != o.PointeeSize)
            list.Add(new(side, item, $"{where}: {c.Spelling} points to {c.PointeeSize} bytes ({c.Pointee}) in {reference}, {o.Spelling} in {otherName} to {o.PointeeSize} bytes ({o.Pointee})"));
    }

    // ------------------------------------------------------------------ structs

    private static void CheckStruct(List<AbiMismatch> list, AbiStruct s, AbiInputs sides)
    {
        string item = $"{s.Name} ({Path.GetFileName(s.File)}:{s.Line})";
        if (sides.Gcc == null) { }
        else if (!sides.Gcc.TryGetValue(s.Name, out ManagedLessLayout? gcc))
            list.Add(new(AbiSide.LayoutGcc, item, "not printed by the layout program"));
        else
            CompareLayout(list, AbiSide.LayoutGcc, item, s, gcc.Size, gcc.Fields, "gcc", byName: true);

        if (sides.LibraryExports == null) { }   // the IL could not be loaded (reported once)
        else if (!sides.LibraryStructs.TryGetValue(s.Name, out string? clrName))
            list.Add(new(AbiSide.LayoutCSharp, item, "no C# struct of the library is mapped to it (add it to the table in AbiTests.cs)"));
        else if (LibraryAssembly.Type(clrName) is not { } t)
            list.Add(new(AbiSide.LayoutCSharp, item, $"{clrName} (mapped in AbiTests.cs) is not a type of {Path.GetFileName(LibraryAssembly.Path)}"));
        else
        {
            ManagedLayout l = ClrAbi.Layout(t);
            CompareLayout(list, AbiSide.LayoutCSharp, item, s, l.Size, l.Fields, clrName, byName: false);
        }

        if (InteropBindings.Struct(s.Name, sides.InteropStructOverrides) is not { } it)
            list.Add(new(AbiSide.LayoutInterop, item, $"no struct PyHeapNative.Interop.{InteropBindings.Pascal(s.Name)}"));
        else
        {
            ManagedLayout l = ClrAbi.Layout(it);
            CompareLayout(list, AbiSide.LayoutInterop, item, s, l.Size, l.Fields, it.FullName!, byName: false);
        }

        if (sides.Python == null) { }
        else if (!sides.Python.Structs.TryGetValue(s.Name, out ManagedLessLayout? py))
            list.Add(new(AbiSide.LayoutPython, item, "not in pyheapnative._native.STRUCT_TYPES"));
        else
            CompareLayout(list, AbiSide.LayoutPython, item, s, py.Size, py.Fields, $"ctypes {s.Name}", byName: true);
    }

    internal static void CompareLayout(List<AbiMismatch> list, string side, string item, AbiStruct c, long size, IReadOnlyList<AbiField> fields,
        string otherName, bool byName)
    {
        if (c.Size != size)
            list.Add(new(side, item, $"sizeof is {c.Size} in the header, {size} in {otherName}"));
        if (c.Fields.Count != fields.Count)
            list.Add(new(side, item, $"{c.Fields.Count} fields in the header, {fields.Count} in {otherName}"));
        for (int i = 0; i < Math.Min(c.Fields.Count, fields.Count); i++)
        {
            AbiField cf = c.Fields[i], of = fields[i];
            string at = $"field {i + 1} ({cf.Name})";
            if (byName && cf.Name != of.Name)
                list.Add(new(side, item, $"{at} is named {of.Name} in {otherName}"));
            if (cf.Offset != of.Offset)
                list.Add(new(side, item, $"{at}: offset {cf.Offset} in the header, {otherName}.{of.Name} at {of.Offset}"));
            if (cf.Size != of.Size)
                list.Add(new(side, item, $"{at}: {cf.Size} bytes ({cf.Spelling}) in the header, {otherName}.{of.Name} {of.Size} bytes{(of.Spelling.Length > 0 ? $" ({of.Spelling})" : "")}"));
            else if (side != AbiSide.LayoutGcc && (cf.Class == AbiClass.Float) != (of.Class == AbiClass.Float))
                list.Add(new(side, item, $"{at}: {cf.Spelling} in the header, {otherName}.{of.Name} is {(of.Class == AbiClass.Float ? "floating" : "not floating")}"));
            if (cf.ArrayLength >= 0 && of.ArrayLength >= 0 && (cf.ArrayLength != of.ArrayLength || cf.ElementSize != of.ElementSize))
                list.Add(new(side, item, $"{at}: {cf.ArrayLength} elements of {cf.ElementSize} bytes in the header, {of.ArrayLength} of {of.ElementSize} in {otherName}"));
        }
    }

    // ------------------------------------------------------------------ the other way round

    private static void CheckReverse(List<AbiMismatch> list, AbiHeader header, AbiInputs sides)
    {
        var declared = header.Functions.Select(f => f.Name).ToHashSet();
        var headerOnly = header.HeaderOnlyFunctions.ToHashSet();
        var shimCallees = sides.Shims.Where(s => s.Callee != null).Select(s => s.Callee!).ToHashSet();
        var calledFromC = sides.ManagedCalls.Select(c => c.Callee).ToHashSet();
        foreach (string name in (sides.Symbols?.Keys ?? Enumerable.Empty<string>()).Where(n => n.StartsWith("phn", StringComparison.Ordinal)).Order())
        {
            if (!declared.Contains(name))
                list.Add(new(AbiSide.Export, name, headerOnly.Contains(name) ? "a static inline function of the header is exported" : "exported but not declared in the header"));
        }
        foreach (string name in (sides.LibraryExports?.Keys ?? Enumerable.Empty<string>()).Order())
        {
            // called from C: checked against its C declaration (CheckManagedCalls)
            if (!declared.Contains(name) && !shimCallees.Contains(name) && !calledFromC.Contains(name))
                list.Add(new(AbiSide.CSharp, name, "an [UnmanagedCallersOnly] entry point that the header does not declare (and no shim, no C code calls)"));
        }
        foreach (AbiShim s in sides.Shims.Where(s => !declared.Contains(s.Shim.Name)))
            list.Add(new(AbiSide.Shim, s.Shim.Name, $"exported from C ({s.Shim.Where}) but not declared in the header"));
        foreach (string name in (sides.Interop?.Keys ?? Enumerable.Empty<string>()).Where(n => !declared.Contains(n)).Order())
            list.Add(new(AbiSide.Interop, name, headerOnly.Contains(name) ? "a static inline function of the header has a binding" : "bound but not declared in the header"));
        foreach (string name in (sides.Python?.Functions.Keys ?? Enumerable.Empty<string>()).Where(n => !declared.Contains(n)).Order())
            list.Add(new(AbiSide.Python, name, headerOnly.Contains(name) ? "a static inline function of the header is in FUNCTIONS" : "in FUNCTIONS but not declared in the header"));
        var structs = header.Structs.Select(s => s.Name).ToHashSet();
        foreach (string name in (sides.Python?.Structs.Keys ?? Enumerable.Empty<string>()).Where(n => !structs.Contains(n)).Order())
            list.Add(new(AbiSide.LayoutPython, name, "in STRUCT_TYPES but not a struct of the header"));
        foreach (string name in sides.LibraryStructs.Keys.Where(n => !structs.Contains(n)).Order())
            list.Add(new(AbiSide.LayoutCSharp, name, "mapped in AbiTests.cs but not a struct of the header"));
    }
}
