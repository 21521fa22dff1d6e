"""Shared helpers of the pyheapnative tests: header parsing, a counting allocator hook, and
running Python in a subprocess against the same library."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pyheapnative
from pyheapnative import _native, mem

# <repo>/tests/python/phn_testutil.py -> <repo>
REPO_ROOT = Path(os.environ.get("PHN_REPO_ROOT") or Path(__file__).resolve().parents[2])
INCLUDE_DIR = REPO_ROOT / "include" / "pyheapnative"
PACKAGE_PARENT = str(Path(pyheapnative.__file__).resolve().parents[1])

# --------------------------------------------------------------------------------------
# Header parsing


def header_files() -> List[Path]:
    return sorted(INCLUDE_DIR.glob("*.h"))


def strip_comments(text: str) -> str:
    """Comments out, and backslash-continued lines joined (a multi-line macro is one line)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r"\\\r?\n", " ", text)


STATIC_INLINE = re.compile(r"\bstatic\s+inline\b")
INLINE_SIGNATURE = re.compile(r"^static inline (.+?)\b(phn_[a-z0-9_]+)\s*\((.*)\)$")


def _cut_inline_functions(code: str, path: Path, found: Optional[list] = None) -> str:
    """Remove every ``static inline`` definition (header-only code such as phn_new_ref) from
    *code*, appending a HeaderFunction for each to *found*. A definition that cannot be read
    (no body, an odd signature, unbalanced braces) is an AssertionError: the parser stays
    strict."""
    out, pos = [], 0
    while True:
        m = STATIC_INLINE.search(code, pos)
        if not m:
            break
        brace = code.find("{", m.start())
        semicolon = code.find(";", m.start())
        assert brace >= 0 and not (0 <= semicolon < brace), "%s: static inline without a body at %r" % (path.name, code[m.start():m.start() + 80])
        sig = INLINE_SIGNATURE.match(" ".join(code[m.start():brace].split()))
        assert sig, "%s: cannot read the static inline signature %r" % (path.name, code[m.start():brace])
        depth, end = 0, -1
        for i in range(brace, len(code)):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
        assert end > 0, "%s: unbalanced braces in static inline %s" % (path.name, sig.group(2))
        if found is not None:
            found.append(HeaderFunction(sig.group(2), normalize_type(sig.group(1)), split_params(sig.group(3)), path.name))
        out.append(code[pos:m.start()])
        out.append("\n" * code.count("\n", m.start(), end))
        pos = end
    out.append(code[pos:])
    return "".join(out)


def _code_without_preprocessor(path: Path) -> str:
    """The C declarations of a header: no comments, no preprocessor lines (multi-line macros
    included), no static inline definitions."""
    text = strip_comments(path.read_text())
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return _cut_inline_functions(code, path)


_ATTRS = re.compile(r"\b(PHN_API|PHN_CALL|PHN_NODISCARD|PHN_MALLOC_ATTR)\b|\bPHN_ALLOC_SIZE2?\s*\([^()]*\)")
SIMPLE_DECL = re.compile(r"\b(phn_[a-z0-9_]+)\s*\(")
FULL_DECL = re.compile(r"\bPHN_API\b([^;{}]*?)\b(phn_[a-z0-9_]+)\s*\(([^()]*)\)\s*;")
TYPEDEF_FN = re.compile(r"typedef\s+([^;(]+?)\s*\(\s*(?:PHN_CALL\s*)?\*\s*(phn_[a-z0-9_]+)\s*\)\s*\(([^()]*)\)\s*;")
STRUCT = re.compile(r"typedef\s+struct\s+(phn_[a-z0-9_]+)\s*\{(.*?)\}\s*(phn_[a-z0-9_]+)\s*;", re.S)
OPAQUE = re.compile(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;")
#: an object-like macro (the name is followed by white space, not "(")
DEFINE = re.compile(r"^\s*#\s*define\s+(PHN_[A-Z0-9_]+)[ \t]+(.+?)\s*$", re.M)
FUNCTION_LIKE_DEFINE = re.compile(r"^\s*#\s*define\s+(PHN_[A-Z0-9_]+)\(", re.M)
_INT_CAST = re.compile(r"\(\s*(?:u?int(?:8|16|32|64|ptr)_t|size_t|ptrdiff_t)\s*\)")
_INT_TOKEN = re.compile(r"\s+|(?P<num>(?:0[xX][0-9A-Fa-f]+|\d+))[uUlL]*\b|(?P<name>[A-Za-z_]\w*)|<<|>>|[-+*/%|&^~()]")


def normalize_type(t: str) -> str:
    """'const char *' -> 'char*', ' size_t ' -> 'size_t'."""
    t = _ATTRS.sub(" ", t)
    t = re.sub(r"\bconst\b", " ", t)
    t = re.sub(r"\s*\*\s*", "*", t)
    return " ".join(t.split())


def split_params(params: str) -> List[Tuple[str, str]]:
    """'int32_t domain, phn_allocator* out' -> [('int32_t', 'domain'), ('phn_allocator*', 'out')].
    An array parameter is the pointer it is in C: 'int32_t count[3]' -> ('int32_t*', 'count')."""
    params = " ".join(params.split())
    if params in ("", "void"):
        return []
    out = []
    for p in params.split(","):
        a = re.match(r"^(.+?[\s*])([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*(?:\d+|PHN_[A-Z0-9_]+)\s*\]$", p.strip())
        if a:
            out.append((normalize_type(a.group(1)) + "*", a.group(2)))
            continue
        m = re.match(r"^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*$", p.strip())
        assert m, "cannot parse parameter %r" % p
        ptype, name = normalize_type(m.group(1)), m.group(2)
        if not ptype:  # unnamed parameter
            ptype, name = normalize_type(p), ""
        out.append((ptype, name))
    return out


class HeaderFunction(collections.namedtuple("HeaderFunction", "name restype params header")):
    """One ``PHN_API`` declaration: C return type, [(type, name)], header file name."""


def header_functions() -> Dict[str, HeaderFunction]:
    """Every function declared in include/pyheapnative/*.h, in header order."""
    found: Dict[str, HeaderFunction] = {}
    for path in header_files():
        code = _code_without_preprocessor(path)
        for m in FULL_DECL.finditer(code):
            found[m.group(2)] = HeaderFunction(m.group(2), normalize_type(m.group(1)), split_params(m.group(3)), path.name)
    return found


def simple_declared_names() -> List[str]:
    """Names matched by the plain ``phn_[a-z0-9_]+\\s*\\(`` regex in the comment-free headers."""
    names = []
    for path in header_files():
        names += SIMPLE_DECL.findall(_code_without_preprocessor(path))
    return names


def header_inline_functions() -> Dict[str, HeaderFunction]:
    """The ``static inline`` functions of the headers (phn_new_ref, ...): header-only code,
    neither exported nor bound."""
    found: List[HeaderFunction] = []
    for path in header_files():
        text = strip_comments(path.read_text())
        _cut_inline_functions("\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")), path, found)
    names = [f.name for f in found]
    assert len(names) == len(set(names)), "a static inline function is defined twice: %r" % names
    return {f.name: f for f in found}


def header_function_like_macros() -> List[str]:
    """The function-like PHN_* macros (PHN_INCREF(op), PHN_VISIT(op), ...): header-only."""
    out: List[str] = []
    for path in header_files():
        for m in FUNCTION_LIKE_DEFINE.finditer(strip_comments(path.read_text())):
            if m.group(1) not in out:
                out.append(m.group(1))
    return out


def header_callback_typedefs() -> Dict[str, Tuple[str, List[Tuple[str, str]]]]:
    out = {}
    for path in header_files():
        for m in TYPEDEF_FN.finditer(strip_comments(path.read_text())):
            out[m.group(2)] = (normalize_type(m.group(1)), split_params(m.group(3)))
    return out


def integer_expression_value(expr: str, known: Dict[str, int]) -> Optional[int]:
    """The value of a C integer constant expression made of literals (u/l suffixes allowed),
    the names in *known*, the operators + - * / % << >> | & ^ ~, parentheses and casts to a
    fixed-width integer type; None for anything else (PHN_API's __declspec(...), ...)."""
    expr = _INT_CAST.sub(" ", expr)
    parts, pos, operands = [], 0, 0
    while pos < len(expr):
        t = _INT_TOKEN.match(expr, pos)
        if not t:
            return None
        if t.group("num"):
            parts.append(str(int(t.group("num"), 0)))
            operands += 1
        elif t.group("name"):
            if t.group("name") not in known:
                return None
            parts.append("(%d)" % known[t.group("name")])
            operands += 1
        elif t.group(0).strip():
            parts.append({"/": "//"}.get(t.group(0), t.group(0)))
        pos = t.end()
    if not operands:
        return None
    return int(eval(" ".join(parts), {"__builtins__": {}}, {}))  # only digits, operators, parentheses


def header_defines() -> Dict[str, int]:
    """Every object-like ``#define PHN_X <integer constant expression>`` (see
    integer_expression_value; names must be defined earlier in the same header)."""
    out: Dict[str, int] = {}
    for path in header_files():
        for m in DEFINE.finditer(strip_comments(path.read_text())):
            value = integer_expression_value(m.group(2), out)
            if value is not None:
                out[m.group(1)] = value
    return out


def header_opaque_structs() -> Dict[str, str]:
    """Incomplete struct typedefs (``typedef struct tag name;``): name -> tag. They are only
    ever used behind a pointer (handles)."""
    out = {}
    for path in header_files():
        for m in OPAQUE.finditer(strip_comments(path.read_text())):
            out[m.group(2)] = m.group(1)
    return out


class StructField(collections.namedtuple("StructField", "name ctype array_len fnptr")):
    """A struct member: name, C type, array length (or None), (restype, params) of a
    function-pointer member (or None)."""


def header_structs() -> Dict[str, List[StructField]]:
    defines = header_defines()
    out = {}
    for path in header_files():
        for m in STRUCT.finditer(strip_comments(path.read_text())):
            fields = []
            for decl in m.group(2).split(";"):
                decl = " ".join(decl.split())
                if not decl:
                    continue
                fm = re.match(r"^(.*?)\(\s*(?:PHN_CALL\s*)?\*\s*(\w+)\s*\)\s*\((.*)\)$", decl)
                if fm:
                    fields.append(StructField(fm.group(2), None, None, (normalize_type(fm.group(1)), split_params(fm.group(3)))))
                    continue
                am = re.match(r"^(.*?)(\w+)\s*\[\s*(\w+)\s*\]$", decl)
                if am:
                    dim = am.group(3)
                    fields.append(StructField(am.group(2), normalize_type(am.group(1)), int(defines.get(dim, dim)), None))
                    continue
                vm = re.match(r"^(.*?)(\w+)$", decl)
                assert vm, "cannot parse struct member %r" % decl
                fields.append(StructField(vm.group(2), normalize_type(vm.group(1)), None, None))
            out[m.group(3)] = fields
    return out


# --------------------------------------------------------------------------------------
# C type -> ctypes type


def scalar_ctype(ctype: str):
    import ctypes

    return {
        "size_t": ctypes.c_size_t,
        "int32_t": ctypes.c_int32,
        "uint32_t": ctypes.c_uint32,
        "int64_t": ctypes.c_int64,
        "uint64_t": ctypes.c_uint64,
        "uintptr_t": ctypes.c_size_t,  # ctypes has no c_uintptr_t; same width as size_t
        "intptr_t": ctypes.c_ssize_t,  # likewise
        "double": ctypes.c_double,
    }.get(ctype)


def check_ctype(ctype: str, actual, *, callback: bool = False) -> Optional[str]:
    """Return None if the ctypes type *actual* fits the C type *ctype*, else a reason.

    Any pointer may be c_void_p; otherwise char* must be c_char_p/POINTER(c_char), a
    struct pointer POINTER(struct), a pointer to a scalar or to a pointer POINTER(T) with T
    fitting the pointee (so phn_snapshot** may be POINTER(c_void_p)); an opaque struct
    pointer must be c_void_p. A function-pointer typedef must be the CFUNCTYPE of the same
    signature.
    """
    import ctypes

    if ctype == "void":
        return None if actual is None else "expected None (void), got %r" % (actual,)
    if ctype.endswith("*"):
        base = ctype[:-1]
        if base != "void" and base != "char" and base not in _native.STRUCT_TYPES and not base.endswith("*") \
                and scalar_ctype(base) is None and base not in header_opaque_structs():
            return "pointer to unknown C type %r" % base
        if actual is ctypes.c_void_p:
            ok = True
        elif base == "char":
            ok = actual in (ctypes.c_char_p, ctypes.POINTER(ctypes.c_char))
        elif base in _native.STRUCT_TYPES:
            ok = actual is ctypes.POINTER(_native.STRUCT_TYPES[base])
        elif base.endswith("*") or scalar_ctype(base) is not None:
            ok = isinstance(actual, type) and issubclass(actual, ctypes._Pointer) and check_ctype(base, actual._type_) is None
        else:  # void, opaque struct
            ok = False
        return None if ok else "pointer %s bound as %r" % (ctype, actual)
    scalar = scalar_ctype(ctype)
    if scalar is not None:
        return None if actual is scalar else "%s bound as %r, expected %r" % (ctype, actual, scalar)
    if ctype in _native.STRUCT_TYPES:  # a struct by value (phn_varobject.ob_base)
        return None if actual is _native.STRUCT_TYPES[ctype] else "%s bound as %r" % (ctype, actual)
    typedefs = header_callback_typedefs()
    if ctype in typedefs:
        return check_callback_type(typedefs[ctype], actual, ctype)
    return "unknown C type %r" % ctype


def check_callback_type(signature, actual, what) -> Optional[str]:
    """Does the CFUNCTYPE class *actual* match (restype, params)?"""
    import ctypes

    restype, params = signature
    if not (isinstance(actual, type) and issubclass(actual, ctypes._CFuncPtr)):
        return "%s bound as %r, not a CFUNCTYPE" % (what, actual)
    problems = []
    r = check_ctype(restype, actual._restype_)
    if r:
        problems.append("return: " + r)
    if len(actual._argtypes_) != len(params):
        problems.append("%d parameters in the header, %d in the CFUNCTYPE" % (len(params), len(actual._argtypes_)))
    else:
        for (ptype, pname), a in zip(params, actual._argtypes_):
            r = check_ctype(ptype, a)
            if r:
                problems.append("%s: %s" % (pname, r))
    return "; ".join("%s %s" % (what, p) for p in problems) or None


# --------------------------------------------------------------------------------------
# A counting hook that wraps the previous allocator of a domain

_HOOK_KEEPALIVE: List[object] = []


class CountingHook:
    """Install with ``with CountingHook(domain) as hook:``; ``hook.calls`` counts the calls
    per function and ``hook.requests`` records (function, args). Every call is forwarded
    to the allocator that was installed before; leaving the block restores it."""

    def __init__(self, domain: int):
        self.domain = domain
        self.calls = collections.Counter()
        self.requests: List[Tuple] = []
        self.prev = prev = mem.get_allocator(domain)
        ctx, p_malloc, p_calloc, p_realloc, p_free = prev.ctx, prev.malloc, prev.calloc, prev.realloc, prev.free

        def h_malloc(_ctx, size):
            self.calls["malloc"] += 1
            self.requests.append(("malloc", size))
            return p_malloc(ctx, size)

        def h_calloc(_ctx, nelem, elsize):
            self.calls["calloc"] += 1
            self.requests.append(("calloc", nelem, elsize))
            return p_calloc(ctx, nelem, elsize)

        def h_realloc(_ctx, ptr, new_size):
            self.calls["realloc"] += 1
            self.requests.append(("realloc", ptr, new_size))
            return p_realloc(ctx, ptr, new_size)

        def h_free(_ctx, ptr):
            self.calls["free"] += 1
            self.requests.append(("free", ptr))
            p_free(ctx, ptr)

        self.funcs = (
            mem.MALLOC_FUNC(h_malloc),
            mem.CALLOC_FUNC(h_calloc),
            mem.REALLOC_FUNC(h_realloc),
            mem.FREE_FUNC(h_free),
        )
        self.struct = mem.Allocator(None, *self.funcs)
        # The library may still call these after the hook is removed only if a later hook
        # wrapped it; keep them alive anyway (a freed thunk called from C is a crash).
        _HOOK_KEEPALIVE.append((self.struct, self.funcs, prev))

    def total(self) -> int:
        return sum(self.calls.values())

    def __enter__(self) -> "CountingHook":
        mem.set_allocator(self.domain, self.struct)
        return self

    def __exit__(self, *exc_info) -> None:
        mem.set_allocator(self.domain, self.prev)


# --------------------------------------------------------------------------------------
# Subprocesses


def _no_core_dumps():  # preexec_fn: the fatal-error tests abort on purpose
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except Exception:
        pass


def run_python(code: str, timeout: float = 120, **env_overrides: Optional[str]) -> subprocess.CompletedProcess:
    """Run ``python -c code`` with this package and library; ``NAME=None`` removes a variable.
    PYHEAPNATIVE_ALLOCATOR and PYHEAPNATIVE_MALLOCSTATS are removed unless given."""
    env = dict(os.environ)
    env.pop("PYHEAPNATIVE_ALLOCATOR", None)
    env.pop("PYHEAPNATIVE_MALLOCSTATS", None)
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYHEAPNATIVE_LIBRARY"] = _native.LIBRARY_PATH
    env["DOTNET_DbgEnableMiniDump"] = "0"
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_no_core_dumps if os.name == "posix" else None,
    )
