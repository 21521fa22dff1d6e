"""The debug hooks seen from Python (spec-allocator.md section 3; section 7 items 30, 31, 34,
35, 37). Installing them is process-wide and cannot be undone while blocks are live, so
every case runs in a Python subprocess (PYHEAPNATIVE_ALLOCATOR=debug / pymalloc_debug /
malloc_debug, or mem.setup_debug_hooks() there); this process stays un-hooked."""

from __future__ import annotations

import json
import re
import signal
import textwrap
import unittest

from pyheapnative import mem

import phn_testutil as tu

# CPython 3.13 Lib/test/test_capi/test_mem.py, with "Fatal Python error" relaxed.
PTR_REGEX = r"(?:0x)?[0-9a-fA-F]+"
BUFFER_OVERFLOW = re.compile(
    (
        r"Debug memory block at address p={ptr}: API 'm'\n"
        r"    16 bytes originally requested\n"
        r"    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n"
        r"    The [0-9] pad bytes at tail={ptr} are not all FORBIDDENBYTE \(0x[0-9a-f]{{2}}\):\n"
        r"        at tail\+0: 0x78 \*\*\* OUCH\n"
        r"        at tail\+1: 0xfd\n"
        r"        at tail\+2: 0xfd\n"
        r"        .*\n"
        r"(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?"
        r"    Data at p: cd cd cd .*\n"
        r"\n"
        r"Enable tracemalloc to get the memory block allocation traceback\n"
        r"\n"
        r"Fatal (Python )?error: _PyMem_DebugRawFree: bad trailing pad byte"
    ).format(ptr=PTR_REGEX),
    re.DOTALL,
)
API_MISUSE = re.compile(
    (
        r"Debug memory block at address p={ptr}: API 'm'\n"
        r"    16 bytes originally requested\n"
        r"    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n"
        r"    The [0-9] pad bytes at tail={ptr} are FORBIDDENBYTE, as expected.\n"
        r"(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?"
        r"    Data at p: cd cd cd .*\n"
        r"\n"
        r"Enable tracemalloc to get the memory block allocation traceback\n"
        r"\n"
        r"Fatal (Python )?error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'r'\n"
    ).format(ptr=PTR_REGEX)
)

MEM5 = bytes.fromhex("00000000000000056d" "fdfdfdfdfdfdfd" "cdcdcdcdcd" "fdfdfdfdfdfdfdfd")

# Prints a JSON object describing blocks as seen from p-16.
LAYOUT_CODE = textwrap.dedent(
    """
    import ctypes, json
    from pyheapnative import mem
    if SETUP:
        before = mem.allocator_name()
        mem.setup_debug_hooks()
        first = [bytes(mem.get_allocator(d)) for d in mem.DOMAINS]
        mem.setup_debug_hooks()
        second = [bytes(mem.get_allocator(d)) for d in mem.DOMAINS]
    else:
        before, first, second = None, [], []
    out = {"before": before, "name": mem.allocator_name(), "same": first == second}
    def view(key, p, n):
        out[key] = ctypes.string_at(p - 16, n + 24).hex()
    p = mem.mem_malloc(5); view("mem5", p, 5); mem.mem_free(p)
    p = mem.raw_malloc(0); view("raw0", p, 0); mem.raw_free(p)
    p = mem.obj_malloc(5); view("obj5", p, 5); mem.obj_free(p)
    p = mem.obj_calloc(3, 7); view("obj_calloc21", p, 21); mem.obj_free(p)
    p = mem.mem_malloc(5)
    ctypes.memmove(p, b"abcde", 5)
    p = mem.mem_realloc(p, 12); view("realloc12", p, 12)
    p = mem.mem_realloc(p, 2); view("realloc2", p, 2)
    mem.mem_free(p)
    p = mem.mem_malloc(100)
    ctypes.memmove(p, bytes(range(100)), 100)
    p = mem.mem_realloc(p, 2000)
    out["grown_kept"] = ctypes.string_at(p, 100) == bytes(range(100))
    out["grown_tail_cd"] = ctypes.string_at(p + 100, 1900) == b"\\xcd" * 1900
    p = mem.mem_realloc(p, 3)
    out["shrunk"] = ctypes.string_at(p - 16, 27).hex()
    mem.mem_free(p)
    mem.validate()
    print("JSON=" + json.dumps(out))
    """
)


def layout(allocator, setup=False):
    r = tu.run_python("SETUP = %r\n" % setup + LAYOUT_CODE, PYHEAPNATIVE_ALLOCATOR=allocator)
    return r


def parse(r):
    for line in r.stdout.splitlines():
        if line.startswith("JSON="):
            return json.loads(line[5:])
    raise AssertionError("no JSON line; exit %s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr))


class DebugLayoutTest(unittest.TestCase):
    """Items 30 and 31: the block layout, calloc, realloc, and the configuration's name."""

    def check_layout(self, v):
        self.assertEqual(bytes.fromhex(v["mem5"]), MEM5, "PyMem_Malloc(5) from p-16 (item 30)")
        self.assertEqual(v["raw0"], "0000000000000000" "72" + "fd" * 15, "PyMem_RawMalloc(0)")
        self.assertEqual(v["obj5"], "0000000000000005" "6f" + "fd" * 7 + "cd" * 5 + "fd" * 8, "PyObject_Malloc(5): id 'o'")
        self.assertEqual(v["obj_calloc21"], "0000000000000015" "6f" + "fd" * 7 + "00" * 21 + "fd" * 8, "calloc data is zero")
        self.assertEqual(v["realloc12"], "000000000000000c" "6d" + "fd" * 7 + b"abcde".hex() + "cd" * 7 + "fd" * 8,
                         "5 -> 12: old bytes, 7 x 0xCD, trailer after byte 12 (item 31)")
        self.assertEqual(v["realloc2"], "0000000000000002" "6d" + "fd" * 7 + b"ab".hex() + "fd" * 8,
                         "12 -> 2: size 2, trailer right after byte 2")
        self.assertTrue(v["grown_kept"], "100 -> 2000 keeps the contents (pymalloc -> RAW)")
        self.assertTrue(v["grown_tail_cd"], "the grown tail is 0xCD")
        self.assertEqual(v["shrunk"], "0000000000000003" "6d" + "fd" * 7 + "000102" + "fd" * 8, "2000 -> 3")

    def test_environment_values(self):
        for allocator, name in (("debug", "pymalloc_debug"), ("pymalloc_debug", "pymalloc_debug"), ("malloc_debug", "malloc_debug")):
            with self.subTest(PYHEAPNATIVE_ALLOCATOR=allocator):
                r = layout(allocator)
                self.assertEqual(r.returncode, 0, r.stderr)
                v = parse(r)
                self.assertEqual(v["name"], name)
                self.check_layout(v)

    def test_setup_debug_hooks_twice_wraps_once(self):
        """Item 37, and mem.setup_debug_hooks() at run time."""
        for allocator, before, after in ((None, "pymalloc", "pymalloc_debug"), ("malloc", "malloc", "malloc_debug")):
            with self.subTest(PYHEAPNATIVE_ALLOCATOR=allocator):
                r = layout(allocator, setup=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                v = parse(r)
                self.assertEqual(v["before"], before)
                self.assertEqual(v["name"], after)
                self.assertTrue(v["same"], "the second setup_debug_hooks() must change no domain")
                self.check_layout(v)

    def test_this_process_is_not_hooked(self):
        self.assertIn(mem.allocator_name(), ("pymalloc", "malloc", None))


class DebugFatalTest(unittest.TestCase):
    """Items 34 and 35: the subprocess dies with SIGABRT after CPython's dump."""

    BACKENDS = ("debug", "pymalloc_debug", "malloc_debug")

    def run_fatal(self, allocator, body):
        code = "import ctypes\nfrom pyheapnative import mem\n" + textwrap.dedent(body) + "\nprint('survived')\n"
        r = tu.run_python(code, PYHEAPNATIVE_ALLOCATOR=allocator)
        self.assertEqual(r.returncode, -signal.SIGABRT, "expected abort(); stderr:\n" + r.stderr)
        self.assertNotIn("survived", r.stdout)
        return r.stderr

    def test_buffer_overflow(self):
        for allocator in self.BACKENDS:
            with self.subTest(PYHEAPNATIVE_ALLOCATOR=allocator):
                err = self.run_fatal(allocator, """
                    p = mem.mem_malloc(16)
                    ctypes.memmove(p + 16, b"x", 1)
                    mem.mem_free(p)
                """)
                self.assertRegex(err, BUFFER_OVERFLOW)

    def test_api_misuse(self):
        for allocator in self.BACKENDS:
            with self.subTest(PYHEAPNATIVE_ALLOCATOR=allocator):
                err = self.run_fatal(allocator, """
                    p = mem.mem_malloc(16)
                    mem.raw_free(p)
                """)
                self.assertRegex(err, API_MISUSE)

    def test_object_block_freed_with_mem_free(self):
        err = self.run_fatal("debug", "mem.mem_free(mem.obj_malloc(16))")
        self.assertRegex(err, r"Debug memory block at address p=0x[0-9a-f]+: API 'o'\n")
        self.assertTrue(err.endswith("Fatal error: _PyMem_DebugRawFree: bad ID: Allocated using API 'o', verified using API 'm'\n"), err)

    def test_buffer_underflow(self):
        err = self.run_fatal("pymalloc_debug", """
            p = mem.mem_malloc(16)
            ctypes.memmove(p - 1, b"x", 1)
            mem.mem_free(p)
        """)
        self.assertIn("        at p-1: 0x78 *** OUCH\n"
                      "    Because memory is corrupted at the start, the count of bytes requested\n"
                      "       may be bogus, and checking the trailing pad bytes may segfault.\n", err)
        self.assertTrue(err.endswith("Fatal error: _PyMem_DebugRawFree: bad leading pad byte\n"), err)

    def test_double_free_is_diagnosed_without_crashing(self):
        """Beyond CPython (reliability.md section 4): CPython's dumper crashes here."""
        for allocator in ("pymalloc_debug", "malloc_debug"):
            for size in (100, 1000):
                with self.subTest(PYHEAPNATIVE_ALLOCATOR=allocator, size=size):
                    err = self.run_fatal(allocator, """
                        p = mem.mem_malloc(%d)
                        mem.mem_free(p)
                        mem.mem_free(p)
                    """ % size)
                    self.assertRegex(err, r"Fatal error: _PyMem_DebugRawFree: block already freed \(double free or use after free\) at p=0x[0-9a-f]+\n$")


if __name__ == "__main__":
    unittest.main()
