"""The ctypes layer (pyheapnative._native) against the C header, loading, errors, and the
environment variables read by phn_init."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import types
import unittest
from pathlib import Path

import pyheapnative
from pyheapnative import _native, mem

import phn_testutil as tu

lib = _native.lib


@unittest.skipUnless(tu.INCLUDE_DIR.is_dir(), "include/pyheapnative not found (set PHN_REPO_ROOT)")
class HeaderTableTest(unittest.TestCase):
    """Every function, struct, callback type and constant of include/pyheapnative/*.h is
    declared in _native with the header's types."""

    @classmethod
    def setUpClass(cls):
        cls.functions = tu.header_functions()

    def test_headers_parsed(self):
        self.assertGreaterEqual(len(tu.header_files()), 6)
        for name in ("phn_init", "phn_raw_malloc", "phn_obj_free", "phn_get_allocator", "phn_get_stats"):
            self.assertIn(name, self.functions)

    def test_simple_regex_finds_the_same_declarations(self):
        names = tu.simple_declared_names()
        self.assertEqual(len(names), len(set(names)), "a function is declared twice")
        self.assertEqual(set(names), set(self.functions))

    def test_every_header_function_is_bound_with_argtypes_and_restype(self):
        for name, decl in self.functions.items():
            with self.subTest(function=name, header=decl.header):
                self.assertIn(name, _native.FUNCTIONS, "%s is missing from _native.FUNCTIONS" % name)
                func = getattr(lib, name)
                self.assertIsNotNone(func.argtypes, "%s has no argtypes" % name)
                self.assertEqual(len(func.argtypes), len(decl.params), "%s: argtypes vs header parameters" % name)
                restype, argtypes, _ = _native.FUNCTIONS[name]
                self.assertIs(func.restype, restype)
                self.assertEqual(list(func.argtypes), list(argtypes))
                self.assertIsNone(tu.check_ctype(decl.restype, func.restype), "%s return type" % name)
                for (ptype, pname), actual in zip(decl.params, func.argtypes):
                    problem = tu.check_ctype(ptype, actual)
                    self.assertIsNone(problem, "%s parameter %s: %s" % (name, pname, problem))

    def test_table_has_no_function_the_header_lacks(self):
        self.assertEqual(sorted(set(_native.FUNCTIONS) - set(self.functions)), [])

    def test_table_order_follows_the_headers(self):
        # the umbrella header's include order is the order of the areas
        umbrella = (tu.INCLUDE_DIR.parent / "pyheapnative.h").read_text()
        headers = re.findall(r'#include "pyheapnative/(phn_[a-z_]+\.h)"', umbrella)
        self.assertIn("phn_mem.h", headers)
        order = {h: i for i, h in enumerate(headers)}
        by_header = sorted(self.functions.values(), key=lambda d: order.get(d.header, 99))
        self.assertEqual(list(_native.FUNCTIONS), [d.name for d in by_header])

    #: int32_t results that are not PHN_E* statuses: an error code, PyTraceMalloc_Track's
    #: 0 / -1 / -2 (phn_trace.h), where -2 means "not tracing", not PHN_ENOMEM,
    #: PyObject_CallFinalizerFromDealloc's -1 "resurrected" (phn_object.h), and the gc debug
    #: flags word, which keeps unknown bits and so may be negative (phn_gc.h).
    NOT_STATUS = ("phn_last_error_code", "phn_tracemalloc_track", "phn_tracemalloc_untrack",
                  "phn_object_call_finalizer_from_dealloc", "phn_gc_get_debug")

    def test_status_functions_raise(self):
        for name in self.NOT_STATUS:
            self.assertIn(name, self.functions)
        for name, decl in self.functions.items():
            status = decl.restype in ("int32_t", "int64_t") and name not in self.NOT_STATUS
            with self.subTest(function=name):
                errcheck = getattr(getattr(lib, name), "errcheck", None)
                if status:
                    self.assertIs(errcheck, _native._check_status)
                else:
                    self.assertIsNot(errcheck, _native._check_status)

    def test_header_only_code_is_neither_bound_nor_exported(self):
        # static inline functions and function-like macros are the header's own code
        # (CPython's Py_INCREF / Py_NewRef): the parsers set them apart from the exports.
        inline = tu.header_inline_functions()
        macros = tu.header_function_like_macros()
        self.assertIn("phn_new_ref", inline)
        self.assertIn("phn_inline_decref_", inline)
        self.assertIn("PHN_INCREF", macros)
        self.assertIn("PHN_VISIT", macros)
        self.assertIn("PHN_TYPE", macros)
        for name in inline:
            with self.subTest(inline=name):
                self.assertNotIn(name, self.functions)
                self.assertNotIn(name, _native.FUNCTIONS)
                self.assertFalse(hasattr(lib, name), "%s is exported" % name)
        defines = tu.header_defines()
        for name in macros:
            with self.subTest(macro=name):
                self.assertNotIn(name, defines)
                self.assertFalse(hasattr(_native, name), "function-like macro %s has a constant" % name)

    def test_integer_expressions(self):
        value = tu.integer_expression_value
        self.assertEqual(value("(-1)", {}), -1)
        self.assertEqual(value("(1u << 3)", {}), 8)
        self.assertEqual(value("((intptr_t)(3u << 30))", {}), 3 << 30)
        self.assertEqual(value("(A | B)", {"A": 2, "B": 4}), 6)
        self.assertIsNone(value("(A | B)", {"A": 2}))
        self.assertIsNone(value("__declspec(dllimport)", {}))
        self.assertIsNone(value("", {}))
        self.assertIsNone(value("1.5", {}))
        self.assertIsNone(value("12abc", {}))

    def test_callback_typedefs(self):
        typedefs = tu.header_callback_typedefs()
        self.assertEqual(set(typedefs), set(_native.CALLBACK_TYPES))
        for name, signature in typedefs.items():
            with self.subTest(typedef=name):
                self.assertIsNone(tu.check_callback_type(signature, _native.CALLBACK_TYPES[name], name))

    def test_opaque_structs_are_handles(self):
        opaque = tu.header_opaque_structs()
        self.assertEqual(set(opaque), set(_native.OPAQUE_TYPES))
        for name, tag in opaque.items():
            with self.subTest(typedef=name):
                self.assertEqual(tag, name)
                self.assertNotIn(name, _native.STRUCT_TYPES)
                # never by value: only "name*" (or deeper) appears in a signature
                for decl in self.functions.values():
                    for ptype in [decl.restype] + [p for p, _ in decl.params]:
                        self.assertNotEqual(ptype, name, "%s takes %s by value" % (decl.name, name))

    def test_pointer_checks_are_strict(self):
        self.assertIsNone(tu.check_ctype("phn_snapshot**", ctypes.POINTER(ctypes.c_void_p)))
        self.assertIsNotNone(tu.check_ctype("phn_snapshot**", ctypes.POINTER(_native.phn_frame)))
        self.assertIsNotNone(tu.check_ctype("phn_snapshot*", ctypes.POINTER(_native.phn_frame)))
        self.assertIsNone(tu.check_ctype("int32_t*", ctypes.POINTER(ctypes.c_int32)))
        self.assertIsNotNone(tu.check_ctype("int32_t*", ctypes.POINTER(ctypes.c_int64)))
        self.assertIsNotNone(tu.check_ctype("phn_frame*", ctypes.POINTER(_native.phn_trace)))
        self.assertIsNotNone(tu.check_ctype("no_such_type*", ctypes.c_void_p))
        self.assertIsNone(tu.check_ctype("phn_object", _native.phn_object))
        self.assertIsNotNone(tu.check_ctype("phn_object", _native.phn_varobject))
        self.assertIsNotNone(tu.check_ctype("phn_type", ctypes.c_void_p))
        self.assertIsNotNone(tu.check_ctype("phn_visitproc", _native.phn_inquiry))
        self.assertIsNotNone(tu.check_ctype("intptr_t", ctypes.c_uint64))

    def test_structs_match_header_field_order_and_types(self):
        structs = tu.header_structs()
        self.assertEqual(set(structs), set(_native.STRUCT_TYPES))
        for sname, fields in structs.items():
            ctype = _native.STRUCT_TYPES[sname]
            with self.subTest(struct=sname):
                self.assertEqual([f.name for f in fields], [f[0] for f in ctype._fields_])
                for field, (fname, ftype) in zip(fields, ctype._fields_):
                    if field.fnptr is not None:
                        problem = tu.check_callback_type(field.fnptr, ftype, "%s.%s" % (sname, fname))
                    elif field.array_len is not None:
                        self.assertTrue(issubclass(ftype, ctypes.Array), fname)
                        self.assertEqual(ftype._length_, field.array_len, fname)
                        problem = None if ftype._type_ is _native.STRUCT_TYPES.get(field.ctype, tu.scalar_ctype(field.ctype)) \
                            else "%s.%s element type %r" % (sname, fname, ftype._type_)
                    else:
                        problem = tu.check_ctype(field.ctype, ftype)
                    self.assertIsNone(problem, "%s.%s: %s" % (sname, fname, problem))

    def test_struct_sizes(self):
        self.assertEqual(ctypes.sizeof(_native.phn_allocator), 40)
        self.assertEqual(ctypes.sizeof(_native.phn_arena_allocator), 24)
        self.assertEqual(ctypes.sizeof(_native.phn_size_class_stats), 40)
        self.assertEqual(ctypes.sizeof(_native.phn_stats), 8 + 20 * 8 + 8 + 32 * 40)
        self.assertEqual(ctypes.sizeof(_native.phn_frame), 16)
        self.assertEqual(ctypes.sizeof(_native.phn_trace), 32)
        self.assertEqual(ctypes.sizeof(_native.phn_filter), 32)
        self.assertEqual(ctypes.sizeof(_native.phn_statistic), 48)
        self.assertEqual(ctypes.sizeof(_native.phn_object), 16)
        self.assertEqual(ctypes.sizeof(_native.phn_varobject), 24)
        self.assertEqual(ctypes.sizeof(_native.phn_type_spec), 88)
        self.assertEqual(ctypes.sizeof(_native.phn_gc_stats), 48)
        self.assertEqual(ctypes.sizeof(_native.phn_gc_info), 40)

    def test_numeric_defines_are_mirrored(self):
        defines = tu.header_defines()
        self.assertIn("PHN_ARENA_SIZE", defines)
        for name, value in defines.items():
            with self.subTest(define=name):
                self.assertEqual(getattr(_native, name, None), value)
        self.assertEqual(
            _native.PHN_VERSION,
            defines["PHN_VERSION_MAJOR"] * 10000 + defines["PHN_VERSION_MINOR"] * 100 + defines["PHN_VERSION_PATCH"],
        )

    @unittest.skipUnless(shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc"), "no C compiler")
    def test_struct_layout_against_the_c_compiler(self):
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        lines = []
        expected = {}
        for sname, ctype in _native.STRUCT_TYPES.items():
            lines.append('printf("%s %%zu\\n", sizeof(%s));' % (sname, sname))
            expected[sname] = ctypes.sizeof(ctype)
            for fname, _ in ctype._fields_:
                key = "%s.%s" % (sname, fname)
                lines.append('printf("%s %%zu\\n", offsetof(%s, %s));' % (key, sname, fname))
                expected[key] = getattr(ctype, fname).offset
        source = "#include <pyheapnative.h>\n#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n%s\nreturn 0;\n}\n" % "\n".join(lines)
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
            Path(src).write_text(source)
            subprocess.run([cc, "-std=c99", "-I", str(tu.INCLUDE_DIR.parent), src, "-o", exe], check=True, capture_output=True)
            out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        actual = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
        self.assertEqual(actual, expected)


class LoadingTest(unittest.TestCase):
    def test_version(self):
        self.assertEqual(lib.phn_version(), _native.EXPECTED_VERSION)
        self.assertEqual(pyheapnative.version(), "0.1.0")
        self.assertEqual(pyheapnative.__version__, "0.1.0")
        self.assertEqual(pyheapnative.version_number(), _native.PHN_VERSION)
        self.assertEqual(pyheapnative.expected_version(), pyheapnative.version())

    def test_library_path(self):
        self.assertTrue(os.path.exists(pyheapnative.library_path()))
        if os.environ.get("PYHEAPNATIVE_LIBRARY"):
            self.assertEqual(pyheapnative.library_path(), os.environ["PYHEAPNATIVE_LIBRARY"])

    def test_init_is_idempotent(self):
        pyheapnative.init()
        pyheapnative.init()
        self.assertEqual(lib.phn_init(), 0)

    def test_version_mismatch_raises_import_error_with_both_versions(self):
        path = _native.__file__
        source = Path(path).read_text()
        self.assertIn("EXPECTED_VERSION = PHN_VERSION\n", source)
        source = source.replace("EXPECTED_VERSION = PHN_VERSION\n", "EXPECTED_VERSION = 99999\n")
        module = types.ModuleType("pyheapnative_fake_native")
        module.__file__ = path
        with self.assertRaises(ImportError) as cm:
            exec(compile(source, path, "exec"), module.__dict__)
        message = str(cm.exception)
        self.assertIn("9.99.99", message)
        self.assertIn(pyheapnative.version(), message)
        self.assertIn("99999", message)

    def test_missing_library_raises_import_error(self):
        r = tu.run_python("import pyheapnative", PYHEAPNATIVE_LIBRARY="/nonexistent/libpyheapnative.so")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("/nonexistent/libpyheapnative.so", r.stderr)

    def test_found_without_the_environment_variable_in_a_source_tree(self):
        expected = tu.REPO_ROOT / "artifacts" / "lib" / "libpyheapnative.so"
        if not expected.exists() or not Path(_native.__file__).resolve().is_relative_to(tu.REPO_ROOT):
            self.skipTest("not running from a built source tree")
        r = tu.run_python("import pyheapnative; print(pyheapnative.library_path())", PYHEAPNATIVE_LIBRARY=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(Path(r.stdout.strip()).resolve(), expected.resolve())


class ErrorTest(unittest.TestCase):
    def setUp(self):
        pyheapnative.clear_error()

    def test_unknown_domain_raises_value_error_with_the_library_message(self):
        with self.assertRaises(ValueError) as cm:
            mem.get_allocator(7)
        exc = cm.exception
        self.assertIsInstance(exc, pyheapnative.InvalidArgumentError)
        self.assertIsInstance(exc, pyheapnative.PyHeapNativeError)
        self.assertEqual(exc.code, _native.PHN_EINVAL)
        self.assertEqual(exc.function, "phn_get_allocator")
        message = pyheapnative.last_error_message()
        self.assertTrue(message, "phn_last_error_message() is empty after a failed call")
        self.assertEqual(str(exc), message)
        self.assertEqual(pyheapnative.last_error_code(), _native.PHN_EINVAL)

    def test_unknown_domain_yields_five_nulls(self):
        out = _native.phn_allocator()
        ctypes.memset(ctypes.byref(out), 0xAB, ctypes.sizeof(out))
        with self.assertRaises(ValueError):
            lib.phn_get_allocator(7, ctypes.byref(out))
        self.assertEqual(bytes(out), bytes(ctypes.sizeof(out)))
        with self.assertRaises(ValueError):
            lib.phn_get_allocator(-1, ctypes.byref(out))
        with self.assertRaises(ValueError):
            lib.phn_get_allocator(mem.DOMAIN_MEM, None)

    def test_errors_are_per_thread_and_survive_successful_calls(self):
        with self.assertRaises(ValueError):
            mem.get_allocator(3)
        message = pyheapnative.last_error_message()
        mem.validate()
        mem.obj_free(mem.obj_malloc(10))
        self.assertEqual(pyheapnative.last_error_message(), message)
        seen = []
        t = threading.Thread(target=lambda: seen.append((pyheapnative.last_error_message(), pyheapnative.last_error_code())))
        t.start()
        t.join()
        self.assertEqual(seen, [("", 0)])
        pyheapnative.clear_error()
        self.assertEqual(pyheapnative.last_error_message(), "")
        self.assertEqual(pyheapnative.last_error_code(), 0)

    def test_set_allocator_rejects_null_and_unknown_domain_and_changes_nothing(self):
        name = mem.allocator_name()
        before = [mem.get_allocator(d) for d in mem.DOMAINS]
        with self.assertRaises(ValueError):
            mem.set_allocator(mem.DOMAIN_MEM, None)
        with self.assertRaises(ValueError):
            mem.set_allocator(9, before[1])
        broken = mem.get_allocator(mem.DOMAIN_OBJ)
        broken.realloc = mem.REALLOC_FUNC()  # NULL
        with self.assertRaises(ValueError) as cm:
            mem.set_allocator(mem.DOMAIN_OBJ, broken)
        self.assertTrue(str(cm.exception))
        self.assertEqual([mem.get_allocator(d) for d in mem.DOMAINS], before)
        self.assertEqual(mem.allocator_name(), name)

    def test_python_side_argument_checks(self):
        with self.assertRaises(TypeError):
            mem.get_allocator("1")
        with self.assertRaises(ValueError):
            mem.get_allocator(2**32 + 1)  # would wrap to 1 in ctypes
        with self.assertRaises(TypeError):
            mem.set_allocator(mem.DOMAIN_MEM, mem.get_arena_allocator())
        with self.assertRaises(TypeError):
            mem.set_arena_allocator(mem.get_allocator(mem.DOMAIN_MEM))

    def test_arena_allocator_errors(self):
        before = mem.get_arena_allocator()
        self.assertTrue(before.alloc and before.free)
        with self.assertRaises(ValueError):
            mem.set_arena_allocator(None)
        broken = mem.get_arena_allocator()
        broken.free = mem.ARENA_FREE_FUNC()
        with self.assertRaises(ValueError):
            mem.set_arena_allocator(broken)
        self.assertEqual(mem.get_arena_allocator(), before)

    def test_get_stats_rejects_a_short_struct(self):
        raw = _native.phn_stats()
        raw.struct_size = 4
        with self.assertRaises(ValueError):
            lib.phn_get_stats(ctypes.byref(raw))
        with self.assertRaises(ValueError):
            lib.phn_get_stats(None)

    def test_error_handler_sees_every_error(self):
        seen = []
        pyheapnative.set_error_handler(lambda code, message: seen.append((code, message)))
        try:
            with self.assertRaises(ValueError) as cm:
                mem.get_allocator(5)
            with self.assertRaises(ValueError):
                mem.set_arena_allocator(None)
        finally:
            pyheapnative.set_error_handler(None)
        self.assertEqual(len(seen), 2, seen)
        self.assertEqual(seen[0], (_native.PHN_EINVAL, str(cm.exception)))
        self.assertEqual(seen[1][0], _native.PHN_EINVAL)
        with self.assertRaises(ValueError):
            mem.get_allocator(5)
        self.assertEqual(len(seen), 2)

    def test_fatal_handler_can_be_installed_and_removed(self):
        pyheapnative.set_fatal_handler(lambda message: None)
        pyheapnative.set_fatal_handler(None)
        mem.validate()

    def test_injected_stats_fault_becomes_an_error(self):
        lib.phn_testing_inject_fault(_native.PHN_FAULT_THROW_IN_STATS, 1)
        with self.assertRaises(RuntimeError) as cm:
            mem.get_stats()
        self.assertEqual(cm.exception.code, _native.PHN_EINTERNAL)
        self.assertTrue(str(cm.exception))
        mem.get_stats()  # the fault fired once
        mem.validate()

    def test_injected_new_arena_fault_is_survived(self):
        before = mem.get_stats()
        lib.phn_testing_inject_fault(_native.PHN_FAULT_THROW_IN_NEW_ARENA, 1)
        blocks, failures = [], 0
        try:
            # 512-byte blocks: 31 per pool, 64 pools per arena; 3 MiB needs a new arena.
            for _ in range(6 * 1024):
                try:
                    blocks.append(mem.obj_malloc(512))
                except MemoryError:
                    failures += 1
            mem.validate()
        finally:
            lib.phn_testing_inject_fault(_native.PHN_FAULT_NONE, 0)
            for p in blocks:
                mem.obj_free(p)
        mem.validate()
        self.assertLessEqual(failures, 1)
        self.assertEqual(mem.get_stats().allocated_blocks, before.allocated_blocks)

    def test_inject_unknown_fault_is_einval(self):
        with self.assertRaises(ValueError):
            lib.phn_testing_inject_fault(99, 1)


class ErrnoTest(unittest.TestCase):
    """phn_mem.h: NULL with errno = ENOMEM on failure; free(NULL) leaves errno unchanged."""

    def test_enomem_on_oversized_requests(self):
        for domain in ("raw", "mem", "obj"):
            for call in (
                lambda: getattr(lib, "phn_%s_malloc" % domain)(2**63),
                lambda: getattr(lib, "phn_%s_calloc" % domain)(2, 2**62),
                lambda: getattr(lib, "phn_%s_realloc" % domain)(None, 2**63),
            ):
                with self.subTest(domain=domain):
                    ctypes.set_errno(0)
                    self.assertIsNone(call())
                    self.assertEqual(ctypes.get_errno(), errno.ENOMEM)

    def test_free_null_keeps_errno(self):
        for domain in ("raw", "mem", "obj"):
            with self.subTest(domain=domain):
                ctypes.set_errno(errno.EBADF)
                getattr(lib, "phn_%s_free" % domain)(None)
                self.assertEqual(ctypes.get_errno(), errno.EBADF)


class EnvironmentTest(unittest.TestCase):
    """PYHEAPNATIVE_ALLOCATOR / PYHEAPNATIVE_MALLOCSTATS, read by phn_init (subprocesses)."""

    NAME = "import pyheapnative.mem as m; print(m.allocator_name())"

    def test_default_is_pymalloc(self):
        r = tu.run_python(self.NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "pymalloc")

    def test_in_process_default(self):
        if os.environ.get("PYHEAPNATIVE_ALLOCATOR", "pymalloc") not in ("", "pymalloc", "default"):
            self.skipTest("PYHEAPNATIVE_ALLOCATOR is set for this run")
        self.assertEqual(mem.allocator_name(), "pymalloc")

    def test_pymalloc_default_and_empty(self):
        for value in ("pymalloc", "default", ""):
            with self.subTest(PYHEAPNATIVE_ALLOCATOR=value):
                r = tu.run_python(self.NAME, PYHEAPNATIVE_ALLOCATOR=value)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), "pymalloc")

    def test_malloc(self):
        code = textwrap.dedent(
            """
            import ctypes
            import pyheapnative.mem as m
            print(m.allocator_name())
            blocks = [m.obj_malloc(n) for n in (0, 1, 16, 512, 513, 4000)]
            blocks += [m.mem_calloc(3, 7), m.raw_malloc(10)]
            assert ctypes.string_at(blocks[-2], 21) == bytes(21)
            assert all(p % 16 == 0 for p in blocks)
            for p in blocks[:-2]:
                m.obj_free(p)
            m.mem_free(blocks[-2]); m.raw_free(blocks[-1])
            print(repr(m.format_malloc_stats()))
            m.validate()
            print("ok")
            """
        )
        r = tu.run_python(code, PYHEAPNATIVE_ALLOCATOR="malloc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["malloc", "''", "ok"])

    def test_bogus_value_is_fatal(self):
        r = tu.run_python("import pyheapnative; print('survived')", PYHEAPNATIVE_ALLOCATOR="bogus")
        self.assertNotIn("survived", r.stdout)
        self.assertEqual(r.returncode, -signal.SIGABRT, "expected abort(); stderr:\n" + r.stderr)
        self.assertIn("PYHEAPNATIVE_ALLOCATOR", r.stderr)
        self.assertIn("Fatal error", r.stderr)

    def test_bogus_value_with_a_returning_fatal_handler(self):
        # phn_runtime.h: if the fatal handler returns, the default allocator is used and
        # phn_init returns PHN_EINVAL. The handler must be installable before phn_init.
        code = textwrap.dedent(
            """
            import ctypes, os
            lib = ctypes.CDLL(os.environ["PYHEAPNATIVE_LIBRARY"])
            FATAL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
            lib.phn_set_fatal_handler.argtypes = [FATAL, ctypes.c_void_p]
            lib.phn_set_fatal_handler.restype = ctypes.c_int32
            lib.phn_init.restype = ctypes.c_int32
            lib.phn_allocator_name.restype = ctypes.c_char_p
            messages = []
            handler = FATAL(lambda ctx, msg: messages.append(msg.decode()))
            print("set", lib.phn_set_fatal_handler(handler, None))
            print("init", lib.phn_init())
            print("name", lib.phn_allocator_name().decode())
            print("messages", len(messages))
            print("message", messages[0] if messages else "")
            """
        )
        r = tu.run_python(code, PYHEAPNATIVE_ALLOCATOR="bogus")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
        self.assertEqual(lines.get("set"), "0", r.stdout)
        self.assertEqual(lines.get("init"), str(_native.PHN_EINVAL), r.stdout)
        self.assertEqual(lines.get("name"), "pymalloc", r.stdout)
        self.assertEqual(lines.get("messages"), "1", r.stdout)
        self.assertIn("PYHEAPNATIVE_ALLOCATOR", lines.get("message", ""))

    def test_mallocstats_prints_before_new_arenas(self):
        code = textwrap.dedent(
            """
            import pyheapnative.mem as m
            blocks = [m.obj_malloc(512) for _ in range(6 * 1024)]  # 3 MiB: new arenas
            for p in blocks:
                m.obj_free(p)
            print("ok")
            """
        )
        r = tu.run_python(code, PYHEAPNATIVE_MALLOCSTATS="1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "ok")
        self.assertIn("Small block threshold = 512, in 32 size classes.", r.stderr)
        quiet = tu.run_python(code)
        self.assertNotIn("Small block threshold", quiet.stderr)


if __name__ == "__main__":
    unittest.main()
