// LibClang.cs - a minimal binding of libclang's C API (clang-c/Index.h), enough for the ABI
// check (AbiTests.cs): parse a header, walk its declarations, read types, sizes and offsets.
// ClangSharp is not available, so the library is loaded with NativeLibrary and called through
// unmanaged function pointers (the CX* structs are passed and returned by value, as the C API
// does; they are blittable). The visitor of clang_visitChildren is an [UnmanagedCallersOnly]
// method that collects the cursors into a list.
//
// Where libclang is looked for (first that loads): $PHN_LIBCLANG ("none": nowhere), Debian's libclang1-14
// (/usr/lib/llvm-14/lib/libclang.so.1, /usr/lib/x86_64-linux-gnu/libclang-14.so.1), any
// /usr/lib/llvm-*/lib/libclang.so.1, then "libclang.so.1" on the loader's search path.
// Builtin headers (stddef.h ...): <llvm>/lib/clang/<version>/include when present
// (libclang-common-*-dev), else gcc's (`gcc -print-file-name=include`).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* Data;
    public uint PrivateFlags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public int Kind;
    public int XData;
    public void* Data0;
    public void* Data1;
    public void* Data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public int Kind;
    public void* Data0;
    public void* Data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* Ptr0;
    public void* Ptr1;
    public uint IntData;
}

/// <summary>The enum values of clang-c/Index.h that the walk needs.</summary>
internal static class CX
{
    // enum CXCursorKind
    public const int StructDecl = 2;
    public const int UnionDecl = 3;
    public const int EnumDecl = 5;
    public const int FieldDecl = 6;
    public const int FunctionDecl = 8;
    public const int VarDecl = 9;
    public const int ParmDecl = 10;
    public const int TypedefDecl = 20;
    public const int CallExpr = 103;

    // enum CXTypeKind
    public const int TypeInvalid = 0;
    public const int TypeVoid = 2;
    public const int TypeBool = 3;
    public const int TypeInt128 = 20;
    public const int TypeFloat = 21;
    public const int TypeDouble = 22;
    public const int TypeLongDouble = 23;
    public const int TypeFloat128 = 30;
    public const int TypeHalf = 31;
    public const int TypeFloat16 = 32;
    public const int TypePointer = 101;
    public const int TypeRecord = 105;
    public const int TypeEnum = 106;
    public const int TypeTypedef = 107;
    public const int TypeFunctionNoProto = 110;
    public const int TypeFunctionProto = 111;
    public const int TypeConstantArray = 112;
    public const int TypeIncompleteArray = 114;
    public const int TypeVariableArray = 115;
    public const int TypeElaborated = 119;

    // enum CXLinkageKind
    public const int LinkageExternal = 4;

    // enum CX_StorageClass
    public const int StorageStatic = 3;

    // enum CXChildVisitResult
    public const int VisitContinue = 1;
    public const int VisitRecurse = 2;

    // enum CXVisibilityKind
    public const int VisibilityHidden = 1;
    public const int VisibilityDefault = 3;

    // enum CXDiagnosticSeverity
    public const int DiagnosticWarning = 2;
    public const int DiagnosticError = 3;
}

internal static unsafe class LibClang
{
    private static readonly object s_lock = new();
    private static bool s_tried;
    private static string? s_path;
    private static string s_error = "";

    /// <summary>The loaded library, or null (then <see cref="LoadError"/> says why).</summary>
    public static string? LoadedPath
    {
        get
        {
            EnsureLoaded();
            return s_path;
        }
    }

    public static string LoadError
    {
        get
        {
            EnsureLoaded();
            return s_error;
        }
    }

    public static IEnumerable<string> Candidates()
    {
        string? env = Environment.GetEnvironmentVariable("PHN_LIBCLANG");
        if (env == "none")
            yield break;   // behave as on a machine without libclang (to see the tests skip)
        if (!string.IsNullOrEmpty(env))
            yield return env;
        yield return "/usr/lib/llvm-14/lib/libclang.so.1";
        yield return "/usr/lib/x86_64-linux-gnu/libclang-14.so.1";
        if (Directory.Exists("/usr/lib"))
        {
            foreach (string dir in Directory.GetDirectories("/usr/lib", "llvm-*").OrderDescending())
                yield return Path.Combine(dir, "lib", "libclang.so.1");
        }
        yield return "libclang.so.1";
    }

    private static void EnsureLoaded()
    {
        lock (s_lock)
        {
            if (s_tried)
                return;
            s_tried = true;
            var tried = new List<string>();
            foreach (string candidate in Candidates())
            {
                if (candidate.Contains('/') && !File.Exists(candidate))
                {
                    tried.Add($"{candidate} (absent)");
                    continue;
                }
                if (!NativeLibrary.TryLoad(candidate, out nint handle))
                {
                    tried.Add($"{candidate} (does not load)");
                    continue;
                }
                try
                {
                    Bind(handle);
                }
                catch (EntryPointNotFoundException e)
                {
                    tried.Add($"{candidate} ({e.Message})");
                    continue;
                }
                s_path = candidate;
                return;
            }
            s_error = "libclang.so.1 not found (install Debian's libclang1-14; ./build.sh net-test does as root, or set PHN_LIBCLANG); tried: "
                + (tried.Count == 0 ? "nothing (PHN_LIBCLANG=none)" : string.Join("; ", tried));
        }
    }

    /// <summary>clang_getClangVersion(), e.g. "Debian clang version 14.0.6".</summary>
    public static string Version => LoadedPath == null ? "(no libclang)" : Str(s_getClangVersion());

    private static readonly Lazy<string?> s_builtinIncludes = new(BuiltinIncludeDir);

    /// <summary>The directory holding the compiler's builtin headers (stddef.h, stdint.h ...):
    /// clang's resource directory next to the loaded libclang when it exists
    /// (libclang-common-*-dev), else gcc's; null when neither is found.</summary>
    public static string? BuiltinIncludes => s_builtinIncludes.Value;

    private static string? BuiltinIncludeDir()
    {
        var roots = new List<string>();
        if (s_path != null && s_path.Contains('/'))
        {
            string real = Path.GetFullPath(s_path);
            roots.Add(Path.GetDirectoryName(real)!);
            FileSystemInfo? target = new FileInfo(real).ResolveLinkTarget(returnFinalTarget: true);
            if (target != null)
                roots.Add(Path.GetDirectoryName(target.FullName)!);
        }
        roots.AddRange(Directory.Exists("/usr/lib") ? Directory.GetDirectories("/usr/lib", "llvm-*").OrderDescending().Select(d => Path.Combine(d, "lib")) : []);
        foreach (string root in roots)
        {
            string clangDir = Path.Combine(root, "clang");
            if (!Directory.Exists(clangDir))
                continue;
            string? best = Directory.GetDirectories(clangDir).Select(d => Path.Combine(d, "include"))
                .Where(d => File.Exists(Path.Combine(d, "stddef.h"))).OrderDescending().FirstOrDefault();
            if (best != null)
                return best;
        }
        ProcessResult gcc = ProcessRunner.Run("gcc", ["-print-file-name=include"]);
        string dir = gcc.StdOut.Trim();
        return gcc.ExitCode == 0 && File.Exists(Path.Combine(dir, "stddef.h")) ? dir : null;
    }

    // ------------------------------------------------------------------ the C API

    private static delegate* unmanaged[Cdecl]<int, int, nint> s_createIndex;
    private static delegate* unmanaged[Cdecl]<nint, void> s_disposeIndex;
    private static delegate* unmanaged[Cdecl]<nint, byte*, byte**, int, void*, uint, uint, nint*, int> s_parseTranslationUnit2;
    private static delegate* unmanaged[Cdecl]<nint, void> s_disposeTranslationUnit;
    private static delegate* unmanaged[Cdecl]<nint, CXCursor> s_getTranslationUnitCursor;
    private static delegate* unmanaged[Cdecl]<nint, uint> s_getNumDiagnostics;
    private static delegate* unmanaged[Cdecl]<nint, uint, nint> s_getDiagnostic;
    private static delegate* unmanaged[Cdecl]<nint, int> s_getDiagnosticSeverity;
    private static delegate* unmanaged[Cdecl]<nint, uint, CXString> s_formatDiagnostic;
    private static delegate* unmanaged[Cdecl]<uint> s_defaultDiagnosticDisplayOptions;
    private static delegate* unmanaged[Cdecl]<nint, void> s_disposeDiagnostic;
    private static delegate* unmanaged[Cdecl]<CXCursor, delegate* unmanaged[Cdecl]<CXCursor, CXCursor, void*, int>, void*, uint> s_visitChildren;
    private static delegate* unmanaged[Cdecl]<CXCursor, int> s_getCursorKind;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXString> s_getCursorSpelling;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXType> s_getCursorType;
    private static delegate* unmanaged[Cdecl]<CXCursor, int> s_cursorGetNumArguments;
    private static delegate* unmanaged[Cdecl]<CXCursor, uint, CXCursor> s_cursorGetArgument;
    private static delegate* unmanaged[Cdecl]<CXType, int> s_getNumArgTypes;
    private static delegate* unmanaged[Cdecl]<CXType, uint, CXType> s_getArgType;
    private static delegate* unmanaged[Cdecl]<CXType, CXType> s_getResultType;
    private static delegate* unmanaged[Cdecl]<CXType, uint> s_isFunctionTypeVariadic;
    private static delegate* unmanaged[Cdecl]<CXType, long> s_typeGetSizeOf;
    private static delegate* unmanaged[Cdecl]<CXType, long> s_typeGetAlignOf;
    private static delegate* unmanaged[Cdecl]<CXType, byte*, long> s_typeGetOffsetOf;
    private static delegate* unmanaged[Cdecl]<CXCursor, long> s_cursorGetOffsetOfField;
    private static delegate* unmanaged[Cdecl]<CXCursor, uint> s_cursorIsBitField;
    private static delegate* unmanaged[Cdecl]<CXCursor, uint> s_cursorIsAnonymous;
    private static delegate* unmanaged[Cdecl]<CXCursor, int> s_getCursorLinkage;
    private static delegate* unmanaged[Cdecl]<CXCursor, int> s_cursorGetStorageClass;
    private static delegate* unmanaged[Cdecl]<CXCursor, uint> s_isCursorDefinition;
    private static delegate* unmanaged[Cdecl]<CXType, CXString> s_getTypeSpelling;
    private static delegate* unmanaged[Cdecl]<CXType, CXType> s_getCanonicalType;
    private static delegate* unmanaged[Cdecl]<CXType, CXType> s_getPointeeType;
    private static delegate* unmanaged[Cdecl]<CXType, CXCursor> s_getTypeDeclaration;
    private static delegate* unmanaged[Cdecl]<CXType, long> s_getArraySize;
    private static delegate* unmanaged[Cdecl]<CXType, CXType> s_getArrayElementType;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXType> s_getTypedefDeclUnderlyingType;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXSourceLocation> s_getCursorLocation;
    private static delegate* unmanaged[Cdecl]<CXSourceLocation, nint*, uint*, uint*, uint*, void> s_getExpansionLocation;
    private static delegate* unmanaged[Cdecl]<nint, CXString> s_getFileName;
    private static delegate* unmanaged[Cdecl]<CXString, byte*> s_getCString;
    private static delegate* unmanaged[Cdecl]<CXString, void> s_disposeString;
    private static delegate* unmanaged[Cdecl]<CXString> s_getClangVersion;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXCursor, uint> s_equalCursors;
    private static delegate* unmanaged[Cdecl]<CXCursor, int> s_getCursorVisibility;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXCursor> s_getCursorReferenced;
    private static delegate* unmanaged[Cdecl]<CXCursor, CXCursor> s_getCursorDefinition;
    private static delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, CXSourceLocation*, uint, void*, void>, void*, void> s_getInclusions;

    private static void Bind(nint h)
    {
        nint E(string name) => NativeLibrary.GetExport(h, name);
        s_createIndex = (delegate* unmanaged[Cdecl]<int, int, nint>)E("clang_createIndex");
        s_disposeIndex = (delegate* unmanaged[Cdecl]<nint, void>)E("clang_disposeIndex");
        s_parseTranslationUnit2 = (delegate* unmanaged[Cdecl]<nint, byte*, byte**, int, void*, uint, uint, nint*, int>)E("clang_parseTranslationUnit2");
        s_disposeTranslationUnit = (delegate* unmanaged[Cdecl]<nint, void>)E("clang_disposeTranslationUnit");
        s_getTranslationUnitCursor = (delegate* unmanaged[Cdecl]<nint, CXCursor>)E("clang_getTranslationUnitCursor");
        s_getNumDiagnostics = (delegate* unmanaged[Cdecl]<nint, uint>)E("clang_getNumDiagnostics");
        s_getDiagnostic = (delegate* unmanaged[Cdecl]<nint, uint, nint>)E("clang_getDiagnostic");
        s_getDiagnosticSeverity = (delegate* unmanaged[Cdecl]<nint, int>)E("clang_getDiagnosticSeverity");
        s_formatDiagnostic = (delegate* unmanaged[Cdecl]<nint, uint, CXString>)E("clang_formatDiagnostic");
        s_defaultDiagnosticDisplayOptions = (delegate* unmanaged[Cdecl]<uint>)E("clang_defaultDiagnosticDisplayOptions");
        s_disposeDiagnostic = (delegate* unmanaged[Cdecl]<nint, void>)E("clang_disposeDiagnostic");
        s_visitChildren = (delegate* unmanaged[Cdecl]<CXCursor, delegate* unmanaged[Cdecl]<CXCursor, CXCursor, void*, int>, void*, uint>)E("clang_visitChildren");
        s_getCursorKind = (delegate* unmanaged[Cdecl]<CXCursor, int>)E("clang_getCursorKind");
        s_getCursorSpelling = (delegate* unmanaged[Cdecl]<CXCursor, CXString>)E("clang_getCursorSpelling");
        s_getCursorType = (delegate* unmanaged[Cdecl]<CXCursor, CXType>)E("clang_getCursorType");
        s_cursorGetNumArguments = (delegate* unmanaged[Cdecl]<CXCursor, int>)E("clang_Cursor_getNumArguments");
        s_cursorGetArgument = (delegate* unmanaged[Cdecl]<CXCursor, uint, CXCursor>)E("clang_Cursor_getArgument");
        s_getNumArgTypes = (delegate* unmanaged[Cdecl]<CXType, int>)E("clang_getNumArgTypes");
        s_getArgType = (delegate* unmanaged[Cdecl]<CXType, uint, CXType>)E("clang_getArgType");
        s_getResultType = (delegate* unmanaged[Cdecl]<CXType, CXType>)E("clang_getResultType");
        s_isFunctionTypeVariadic = (delegate* unmanaged[Cdecl]<CXType, uint>)E("clang_isFunctionTypeVariadic");
        s_typeGetSizeOf = (delegate* unmanaged[Cdecl]<CXType, long>)E("clang_Type_getSizeOf");
        s_typeGetAlignOf = (delegate* unmanaged[Cdecl]<CXType, long>)E("clang_Type_getAlignOf");
        s_typeGetOffsetOf = (delegate* unmanaged[Cdecl]<CXType, byte*, long>)E("clang_Type_getOffsetOf");
        s_cursorGetOffsetOfField = (delegate* unmanaged[Cdecl]<CXCursor, long>)E("clang_Cursor_getOffsetOfField");
        s_cursorIsBitField = (delegate* unmanaged[Cdecl]<CXCursor, uint>)E("clang_Cursor_isBitField");
        s_cursorIsAnonymous = (delegate* unmanaged[Cdecl]<CXCursor, uint>)E("clang_Cursor_isAnonymous");
        s_getCursorLinkage = (delegate* unmanaged[Cdecl]<CXCursor, int>)E("clang_getCursorLinkage");
        s_cursorGetStorageClass = (delegate* unmanaged[Cdecl]<CXCursor, int>)E("clang_Cursor_getStorageClass");
        s_isCursorDefinition = (delegate* unmanaged[Cdecl]<CXCursor, uint>)E("clang_isCursorDefinition");
        s_getTypeSpelling = (delegate* unmanaged[Cdecl]<CXType, CXString>)E("clang_getTypeSpelling");
        s_getCanonicalType = (delegate* unmanaged[Cdecl]<CXType, CXType>)E("clang_getCanonicalType");
        s_getPointeeType = (delegate* unmanaged[Cdecl]<CXType, CXType>)E("clang_getPointeeType");
        s_getTypeDeclaration = (delegate* unmanaged[Cdecl]<CXType, CXCursor>)E("clang_getTypeDeclaration");
        s_getArraySize = (delegate* unmanaged[Cdecl]<CXType, long>)E("clang_getArraySize");
        s_getArrayElementType = (delegate* unmanaged[Cdecl]<CXType, CXType>)E("clang_getArrayElementType");
        s_getTypedefDeclUnderlyingType = (delegate* unmanaged[Cdecl]<CXCursor, CXType>)E("clang_getTypedefDeclUnderlyingType");
        s_getCursorLocation = (delegate* unmanaged[Cdecl]<CXCursor, CXSourceLocation>)E("clang_getCursorLocation");
        s_getExpansionLocation = (delegate* unmanaged[Cdecl]<CXSourceLocation, nint*, uint*, uint*, uint*, void>)E("clang_getExpansionLocation");
        s_getFileName = (delegate* unmanaged[Cdecl]<nint, CXString>)E("clang_getFileName");
        s_getCString = (delegate* unmanaged[Cdecl]<CXString, byte*>)E("clang_getCString");
        s_disposeString = (delegate* unmanaged[Cdecl]<CXString, void>)E("clang_disposeString");
        s_getClangVersion = (delegate* unmanaged[Cdecl]<CXString>)E("clang_getClangVersion");
        s_equalCursors = (delegate* unmanaged[Cdecl]<CXCursor, CXCursor, uint>)E("clang_equalCursors");
        s_getCursorVisibility = (delegate* unmanaged[Cdecl]<CXCursor, int>)E("clang_getCursorVisibility");
        s_getCursorReferenced = (delegate* unmanaged[Cdecl]<CXCursor, CXCursor>)E("clang_getCursorReferenced");
        s_getCursorDefinition = (delegate* unmanaged[Cdecl]<CXCursor, CXCursor>)E("clang_getCursorDefinition");
        s_getInclusions = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, CXSourceLocation*, uint, void*, void>, void*, void>)E("clang_getInclusions");
    }

    /// <summary>Copies a CXString and disposes it.</summary>
    private static string Str(CXString s)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)s_getCString(s)) ?? "";
        }
        finally
        {
            s_disposeString(s);
        }
    }

    /// <summary>clang_createIndex; loads libclang first (every other call starts from an index).</summary>
    public static nint CreateIndex()
    {
        EnsureLoaded();
        if (s_path == null)
            throw new InvalidOperationException(s_error);
        return s_createIndex(0, 0);
    }

    public static void DisposeIndex(nint index) => s_disposeIndex(index);

    /// <summary>clang_parseTranslationUnit2; returns the CXErrorCode (0 = success).</summary>
    public static int Parse(nint index, string file, IReadOnlyList<string> args, out nint tu)
    {
        var handles = new List<nint>();
        try
        {
            nint fileUtf8 = Marshal.StringToCoTaskMemUTF8(file);
            handles.Add(fileUtf8);
            byte** argv = stackalloc byte*[Math.Max(1, args.Count)];
            for (int i = 0; i < args.Count; i++)
            {
                nint a = Marshal.StringToCoTaskMemUTF8(args[i]);
                handles.Add(a);
                argv[i] = (byte*)a;
            }
            nint result = 0;
            int rc = s_parseTranslationUnit2(index, (byte*)fileUtf8, argv, args.Count, null, 0, 0, &result);
            tu = result;
            return rc;
        }
        finally
        {
            foreach (nint h in handles)
                Marshal.FreeCoTaskMem(h);
        }
    }

    public static void DisposeTranslationUnit(nint tu) => s_disposeTranslationUnit(tu);

    public static CXCursor TranslationUnitCursor(nint tu) => s_getTranslationUnitCursor(tu);

    /// <summary>The diagnostics of a translation unit, formatted, with their severity.</summary>
    public static List<(int Severity, string Text)> Diagnostics(nint tu)
    {
        var list = new List<(int, string)>();
        uint n = s_getNumDiagnostics(tu);
        for (uint i = 0; i < n; i++)
        {
            nint d = s_getDiagnostic(tu, i);
            try
            {
                list.Add((s_getDiagnosticSeverity(d), Str(s_formatDiagnostic(d, s_defaultDiagnosticDisplayOptions()))));
            }
            finally
            {
                s_disposeDiagnostic(d);
            }
        }
        return list;
    }

    private sealed class VisitState(bool recurse)
    {
        public readonly bool Recurse = recurse;
        public readonly List<CXCursor> Cursors = [];
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Visit(CXCursor cursor, CXCursor parent, void* data)
    {
        var state = (VisitState)GCHandle.FromIntPtr((nint)data).Target!;
        state.Cursors.Add(cursor);
        return state.Recurse ? CX.VisitRecurse : CX.VisitContinue;
    }

    /// <summary>The children of a cursor (all descendants, depth first, when recurse).
    /// Cursors stay valid while their translation unit lives.</summary>
    public static List<CXCursor> Children(CXCursor parent, bool recurse = false)
    {
        var state = new VisitState(recurse);
        GCHandle h = GCHandle.Alloc(state);
        try
        {
            s_visitChildren(parent, &Visit, (void*)GCHandle.ToIntPtr(h));
        }
        finally
        {
            h.Free();
        }
        return state.Cursors;
    }

    public static int Kind(CXCursor c) => s_getCursorKind(c);
    public static string Spelling(CXCursor c) => Str(s_getCursorSpelling(c));
    public static CXType Type(CXCursor c) => s_getCursorType(c);
    public static int NumArguments(CXCursor c) => s_cursorGetNumArguments(c);
    public static CXCursor Argument(CXCursor c, int i) => s_cursorGetArgument(c, (uint)i);
    public static int NumArgTypes(CXType t) => s_getNumArgTypes(t);
    public static CXType ArgType(CXType t, int i) => s_getArgType(t, (uint)i);
    public static CXType ResultType(CXType t) => s_getResultType(t);
    public static bool IsVariadic(CXType t) => s_isFunctionTypeVariadic(t) != 0;
    /// <summary>clang_Type_getSizeOf: bytes, or a negative CXTypeLayoutError (incomplete, void ...).</summary>
    public static long SizeOf(CXType t) => s_typeGetSizeOf(t);
    public static long AlignOf(CXType t) => s_typeGetAlignOf(t);

    /// <summary>clang_Type_getOffsetOf in bits (negative on error).</summary>
    public static long OffsetOf(CXType record, string field)
    {
        nint f = Marshal.StringToCoTaskMemUTF8(field);
        try
        {
            return s_typeGetOffsetOf(record, (byte*)f);
        }
        finally
        {
            Marshal.FreeCoTaskMem(f);
        }
    }

    /// <summary>clang_Cursor_getOffsetOfField in bits (negative on error).</summary>
    public static long OffsetOfField(CXCursor field) => s_cursorGetOffsetOfField(field);
    public static bool IsBitField(CXCursor c) => s_cursorIsBitField(c) != 0;
    public static bool IsAnonymous(CXCursor c) => s_cursorIsAnonymous(c) != 0;
    public static int Linkage(CXCursor c) => s_getCursorLinkage(c);
    public static int StorageClass(CXCursor c) => s_cursorGetStorageClass(c);
    public static bool IsDefinition(CXCursor c) => s_isCursorDefinition(c) != 0;
    public static string Spelling(CXType t) => Str(s_getTypeSpelling(t));
    public static CXType Canonical(CXType t) => s_getCanonicalType(t);
    public static CXType Pointee(CXType t) => s_getPointeeType(t);
    public static CXCursor Declaration(CXType t) => s_getTypeDeclaration(t);
    public static long ArraySize(CXType t) => s_getArraySize(t);
    public static CXType ArrayElement(CXType t) => s_getArrayElementType(t);
    public static CXType TypedefUnderlying(CXCursor c) => s_getTypedefDeclUnderlyingType(c);
    public static bool Equal(CXCursor a, CXCursor b) => s_equalCursors(a, b) != 0;

    /// <summary>clang_getCursorVisibility: CX.VisibilityHidden, Protected or Default (0: invalid).</summary>
    public static int Visibility(CXCursor c) => s_getCursorVisibility(c);

    /// <summary>clang_getCursorReferenced: what a reference or expression names (for a CallExpr
    /// to a function, the FunctionDecl the call binds to); a null cursor (kind 70) for none.</summary>
    public static CXCursor Referenced(CXCursor c) => s_getCursorReferenced(c);

    /// <summary>clang_getCursorDefinition: the definition of what a cursor declares, when the
    /// translation unit has it; else a null cursor (kind 70).</summary>
    public static CXCursor Definition(CXCursor c) => s_getCursorDefinition(c);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void VisitInclusion(nint file, CXSourceLocation* stack, uint depth, void* data)
    {
        var files = (List<string>)GCHandle.FromIntPtr((nint)data).Target!;
        files.Add(Str(s_getFileName(file)));
    }

    /// <summary>Every file of a translation unit: the main file and everything it includes.</summary>
    public static List<string> Inclusions(nint tu)
    {
        var files = new List<string>();
        GCHandle h = GCHandle.Alloc(files);
        try
        {
            s_getInclusions(tu, &VisitInclusion, (void*)GCHandle.ToIntPtr(h));
        }
        finally
        {
            h.Free();
        }
        return files;
    }

    /// <summary>File and line where a cursor is (after macro expansion); ("", 0) for none.</summary>
    public static (string File, int Line) Location(CXCursor c)
    {
        CXSourceLocation loc = s_getCursorLocation(c);
        nint file = 0;
        uint line = 0, column = 0, offset = 0;
        s_getExpansionLocation(loc, &file, &line, &column, &offset);
        return file == 0 ? ("", 0) : (Str(s_getFileName(file)), (int)line);
    }
}
