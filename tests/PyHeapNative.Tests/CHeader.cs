// CHeader.cs - a small regex parser for include/pyheapnative*.h, enough for the header check
// (docs/style-and-ecosystem.md 2.6, check 1). It reads the headers in the order the umbrella
// header includes them, strips comments and preprocessor lines, and returns the function
// declarations, function-pointer typedefs, structs, opaque struct typedefs and integer
// macros. Anything it cannot classify is reported in Unparsed so that a test can fail on it.
//
// Header-only constructs are recognised and set apart, never taken for exports:
//   - `static inline` function definitions (phn_new_ref, ...) are cut out of the text before
//     anything else is parsed and listed in InlineFunctions;
//   - function-like macros (PHN_INCREF(op), PHN_VISIT(op), ...) are preprocessor lines like
//     any other: only their names are listed, in FunctionLikeMacros;
//   - object-like PHN_* macros are integer macros when their value is an integer constant
//     expression: literals (with u/l suffixes), integer macros defined before, the operators
//     + - * / % << >> | & ^ ~, parentheses and casts to a fixed-width integer type.
using System.Text.RegularExpressions;

namespace PyHeapNative.Tests;

internal sealed record CParam(string Type, string Name);

internal sealed record CFunction(string Name, string ReturnType, IReadOnlyList<CParam> Params, string Header, string Declaration);

internal sealed record CFunctionPointer(string ReturnType, IReadOnlyList<CParam> Params);

internal sealed record CField(string Name, string Type, CFunctionPointer? FunctionPointer, string? ArrayLength);

internal sealed record CStruct(string Name, IReadOnlyList<CField> Fields);

internal sealed partial class CHeader
{
    public List<string> Files { get; } = [];
    public List<CFunction> Functions { get; } = [];
    public Dictionary<string, CFunctionPointer> FunctionPointerTypedefs { get; } = [];
    public List<CStruct> Structs { get; } = [];
    /// <summary>Incomplete types declared as <c>typedef struct x x;</c>, used only through pointers.</summary>
    public List<string> OpaqueStructs { get; } = [];
    /// <summary>Object-like macros named PHN_* whose value is an integer expression.</summary>
    public List<string> IntegerMacros { get; } = [];
    /// <summary><c>static inline</c> functions defined in the headers: header-only, never exported.</summary>
    public List<CFunction> InlineFunctions { get; } = [];
    /// <summary>Function-like macros named PHN_* (header-only).</summary>
    public List<string> FunctionLikeMacros { get; } = [];
    public List<string> Unparsed { get; } = [];
    /// <summary>Count of "phn_xxx(" occurrences in the comment-free text (a cross-check of Functions).</summary>
    public int RawCallSites { get; private set; }

    public static CHeader Load(string includeDir)
    {
        var h = new CHeader();
        string umbrella = Path.Combine(includeDir, "pyheapnative.h");
        h.Files.Add(umbrella);
        foreach (Match m in IncludeRegex().Matches(StripComments(File.ReadAllText(umbrella))))
            h.Files.Add(Path.GetFullPath(Path.Combine(includeDir, m.Groups[1].Value)));
        foreach (string file in h.Files)
            h.Parse(file);
        return h;
    }

    public static string StripComments(string text)
    {
        text = BlockComment().Replace(text, m => new string('\n', m.Value.Count(c => c == '\n')));
        return LineComment().Replace(text, "");
    }

    private void Parse(string file)
    {
        string text = StripComments(File.ReadAllText(file)).Replace("\\\r\n", " ").Replace("\\\n", " ");
        text = CutInlineFunctions(text, file);
        var code = new System.Text.StringBuilder();
        foreach (string line in text.Split('\n'))
        {
            string t = line.Trim();
            if (t.StartsWith('#'))
            {
                Match d = DefineRegex().Match(t);
                if (d.Success && IsIntegerExpression(d.Groups[2].Value.Trim()) && !IntegerMacros.Contains(d.Groups[1].Value))
                    IntegerMacros.Add(d.Groups[1].Value);
                Match fm = FunctionLikeDefine().Match(t);
                if (fm.Success && !FunctionLikeMacros.Contains(fm.Groups[1].Value))
                    FunctionLikeMacros.Add(fm.Groups[1].Value);
                continue;
            }
            if (t == "extern \"C\" {" || t == "}")
                continue;   // the __cplusplus guard (its #ifdef lines are gone)
            code.Append(line).Append('\n');
        }
        string body = code.ToString();
        RawCallSites += CallSite().Matches(body).Count;

        body = StructRegex().Replace(body, m =>
        {
            if (m.Groups[1].Value != m.Groups[3].Value)
                Unparsed.Add($"{Path.GetFileName(file)}: struct tag {m.Groups[1].Value} differs from typedef {m.Groups[3].Value}");
            Structs.Add(new CStruct(m.Groups[3].Value, ParseFields(m.Groups[2].Value, file)));
            return "";
        });

        foreach (string raw in body.Split(';'))
        {
            string s = Collapse(raw);
            if (s.Length == 0)
                continue;
            Match fp = FunctionPointerTypedef().Match(s);
            if (fp.Success)
            {
                FunctionPointerTypedefs[fp.Groups[2].Value] = new CFunctionPointer(NormalizeType(fp.Groups[1].Value), ParseParams(fp.Groups[3].Value));
                continue;
            }
            Match opaque = OpaqueStructTypedef().Match(s);
            if (opaque.Success)
            {
                if (opaque.Groups[1].Value != opaque.Groups[2].Value)
                    Unparsed.Add($"{Path.GetFileName(file)}: struct tag {opaque.Groups[1].Value} differs from typedef {opaque.Groups[2].Value}");
                OpaqueStructs.Add(opaque.Groups[2].Value);
                continue;
            }
            Match fn = FunctionDeclaration().Match(s);
            if (fn.Success)
            {
                string prefix = fn.Groups[1].Value;
                if (!Regex.IsMatch(prefix, @"\bPHN_API\b") || !Regex.IsMatch(prefix, @"\bPHN_CALL\b"))
                    Unparsed.Add($"{Path.GetFileName(file)}: {fn.Groups[2].Value} lacks PHN_API or PHN_CALL: {s}");
                Functions.Add(new CFunction(fn.Groups[2].Value, NormalizeType(prefix), ParseParams(fn.Groups[3].Value), Path.GetFileName(file), s));
                continue;
            }
            Unparsed.Add($"{Path.GetFileName(file)}: {s}");
        }
    }

    /// <summary>Removes every <c>static inline</c> function definition (signature and braced
    /// body) from the text, recording it in InlineFunctions; the lines are kept as blank lines.
    /// A definition the parser cannot read (no body, an odd signature, unbalanced braces) is
    /// reported in Unparsed.</summary>
    private string CutInlineFunctions(string text, string file)
    {
        var sb = new System.Text.StringBuilder();
        int pos = 0;
        while (true)
        {
            Match m = StaticInline().Match(text, pos);
            if (!m.Success)
                break;
            int open = text.IndexOf('{', m.Index);
            int semicolon = text.IndexOf(';', m.Index);
            Match sig = open < 0 ? Match.Empty : InlineSignature().Match(Collapse(text[m.Index..open]));
            if (open < 0 || (semicolon >= 0 && semicolon < open) || !sig.Success)
            {
                Unparsed.Add($"{Path.GetFileName(file)}: static inline without a readable definition: {Collapse(text[m.Index..Math.Min(text.Length, m.Index + 120)])}");
                sb.Append(text, pos, m.Index + m.Length - pos);
                pos = m.Index + m.Length;
                continue;
            }
            int depth = 0, end = -1;
            for (int i = open; i < text.Length && end < 0; i++)
            {
                if (text[i] == '{')
                    depth++;
                else if (text[i] == '}' && --depth == 0)
                    end = i + 1;
            }
            if (end < 0)
            {
                Unparsed.Add($"{Path.GetFileName(file)}: unbalanced braces in static inline {sig.Groups[2].Value}");
                sb.Append(text, pos, text.Length - pos);
                return sb.ToString();
            }
            InlineFunctions.Add(new CFunction(sig.Groups[2].Value, NormalizeType(sig.Groups[1].Value), ParseParams(sig.Groups[3].Value),
                Path.GetFileName(file), Collapse(text[m.Index..end])));
            sb.Append(text, pos, m.Index - pos);
            sb.Append('\n', text[m.Index..end].Count(c => c == '\n'));
            pos = end;
        }
        sb.Append(text, pos, text.Length - pos);
        return sb.ToString();
    }

    /// <summary>An integer constant expression (see the file comment); names must be integer
    /// macros defined before.</summary>
    private bool IsIntegerExpression(string value)
    {
        string v = IntegerCast().Replace(value, " ");
        int pos = 0, operands = 0;
        while (pos < v.Length)
        {
            Match t = ExpressionToken().Match(v, pos);
            if (!t.Success || t.Index != pos)
                return false;
            if (t.Groups["num"].Success)
                operands++;
            else if (t.Groups["name"].Success)
            {
                if (!IntegerMacros.Contains(t.Groups["name"].Value))
                    return false;
                operands++;
            }
            pos += t.Length;
        }
        return operands > 0;
    }

    private List<CField> ParseFields(string body, string file)
    {
        var fields = new List<CField>();
        foreach (string raw in body.Split(';'))
        {
            string s = Collapse(raw);
            if (s.Length == 0)
                continue;
            Match fp = FunctionPointerField().Match(s);
            if (fp.Success)
            {
                var sig = new CFunctionPointer(NormalizeType(fp.Groups[1].Value), ParseParams(fp.Groups[3].Value));
                fields.Add(new CField(fp.Groups[2].Value, "fnptr", sig, null));
                continue;
            }
            Match arr = ArrayField().Match(s);
            if (arr.Success)
            {
                fields.Add(new CField(arr.Groups[2].Value, NormalizeType(arr.Groups[1].Value), null, arr.Groups[3].Value.Trim()));
                continue;
            }
            Match plain = PlainField().Match(s);
            if (plain.Success)
            {
                fields.Add(new CField(plain.Groups[2].Value, NormalizeType(plain.Groups[1].Value), null, null));
                continue;
            }
            Unparsed.Add($"{Path.GetFileName(file)}: field {s}");
        }
        return fields;
    }

    private static List<CParam> ParseParams(string text)
    {
        string t = Collapse(text);
        if (t is "" or "void")
            return [];
        var list = new List<CParam>();
        foreach (string part in t.Split(','))
        {
            Match arr = ArrayParam().Match(part.Trim());
            if (arr.Success)
            {
                // an array parameter (int32_t count[3]) is a pointer (C11 6.7.6.3p7)
                list.Add(new CParam(NormalizeType(arr.Groups[1].Value) + "*", arr.Groups[2].Value));
                continue;
            }
            Match m = ParamRegex().Match(part.Trim());
            list.Add(m.Success
                ? new CParam(NormalizeType(m.Groups[1].Value), m.Groups[2].Value)
                : new CParam(NormalizeType(part), ""));
        }
        return list;
    }

    /// <summary>"PHN_API PHN_NODISCARD const char * PHN_CALL" -> "char*".</summary>
    public static string NormalizeType(string type)
    {
        string t = AttributeMacros().Replace(type, " ");
        t = Regex.Replace(t, @"\bconst\b", " ");
        t = Regex.Replace(t, @"\s*\*\s*", "*");
        return Collapse(t);
    }

    private static string Collapse(string s) => Regex.Replace(s, @"\s+", " ").Trim();

    [GeneratedRegex(@"^\s*#\s*include\s+""([^""]+)""", RegexOptions.Multiline)]
    private static partial Regex IncludeRegex();

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex LineComment();

    [GeneratedRegex(@"^#\s*define\s+(PHN_\w+)(?!\()\s+(.*)$")]
    private static partial Regex DefineRegex();

    [GeneratedRegex(@"^#\s*define\s+(PHN_\w+)\(")]
    private static partial Regex FunctionLikeDefine();

    [GeneratedRegex(@"\(\s*(?:u?int(?:8|16|32|64|ptr)_t|size_t|ptrdiff_t)\s*\)")]
    private static partial Regex IntegerCast();

    [GeneratedRegex(@"\s+|(?<num>(?:0[xX][0-9A-Fa-f]+|\d+)[uUlL]*)\b|(?<name>[A-Za-z_]\w*)|<<|>>|[-+*/%|&^~()]")]
    private static partial Regex ExpressionToken();

    [GeneratedRegex(@"\bstatic\s+inline\b")]
    private static partial Regex StaticInline();

    [GeneratedRegex(@"^static inline (.+?)\b(phn_[a-z0-9_]+)\s*\((.*)\)$")]
    private static partial Regex InlineSignature();

    [GeneratedRegex(@"^(.+?[\s*])(\w+)\s*\[\s*(\d+|PHN_\w+)\s*\]$")]
    private static partial Regex ArrayParam();

    [GeneratedRegex(@"\bphn_[a-z0-9_]+\s*\(")]
    private static partial Regex CallSite();

    [GeneratedRegex(@"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", RegexOptions.Singleline)]
    private static partial Regex StructRegex();

    [GeneratedRegex(@"^typedef\s+(.+?)\(\s*PHN_CALL\s*\*\s*(\w+)\s*\)\s*\((.*)\)$")]
    private static partial Regex FunctionPointerTypedef();

    [GeneratedRegex(@"^typedef\s+struct\s+(\w+)\s+(\w+)$")]
    private static partial Regex OpaqueStructTypedef();

    [GeneratedRegex(@"^(.*?)\b(phn_[a-z0-9_]+)\s*\((.*)\)$")]
    private static partial Regex FunctionDeclaration();

    [GeneratedRegex(@"^(.+?)\(\s*PHN_CALL\s*\*\s*(\w+)\s*\)\s*\((.*)\)$")]
    private static partial Regex FunctionPointerField();

    [GeneratedRegex(@"^(.+?)\b(\w+)\s*\[([^\]]+)\]$")]
    private static partial Regex ArrayField();

    [GeneratedRegex(@"^(.+?[\s*])(\w+)$")]
    private static partial Regex PlainField();

    [GeneratedRegex(@"^(.+?[\s*])(\w+)$")]
    private static partial Regex ParamRegex();

    [GeneratedRegex(@"\b(PHN_API|PHN_CALL|PHN_NODISCARD|PHN_MALLOC_ATTR|PHN_ALLOC_SIZE2?\s*\([^)]*\))")]
    private static partial Regex AttributeMacros();
}
