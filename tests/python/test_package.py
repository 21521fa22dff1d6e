"""The pyheapnative package as a user gets it: ``pip install ./src/python`` into a fresh
virtual environment bundles the built library, the loader's search order
(PYHEAPNATIVE_LIBRARY, then pyheapnative/_lib/, then <repo>/artifacts/lib/), and the
public API (the standard modules' names, a docstring on everything public)."""

from __future__ import annotations

import gc as std_gc
import inspect
import os
import shutil
import subprocess
import tempfile
import textwrap
import tracemalloc as std_tracemalloc
import unittest
from pathlib import Path

import pyheapnative
from pyheapnative import _native, gc, mem, objects, tracemalloc

import phn_testutil as tu

SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGE_SRC = tu.REPO_ROOT / "src" / "python"
BUILT_LIBRARY = tu.REPO_ROOT / "artifacts" / "lib" / "libpyheapnative.so.0"


def readme_python_quick_start() -> str:
    """The Python code block of README.md's "Quick start: Python" section."""
    text = (tu.REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Quick start: Python"):]
    section = section[:section.index("\n## ", 1)]
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]


def _clean_env(**overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYHEAPNATIVE_LIBRARY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    env["DOTNET_DbgEnableMiniDump"] = "0"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(overrides)
    return env


def _system_python_can_build() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import setuptools, wheel, pip"], capture_output=True)
    return r.returncode == 0


class InstallTest(unittest.TestCase):
    """README's Python quick start: ``pip install --no-index --no-build-isolation
    ./src/python`` in a venv made by Debian's python3 with --system-site-packages, then
    README's Python example, run from elsewhere with neither PYHEAPNATIVE_LIBRARY nor the
    repository's artifacts reachable."""

    @unittest.skipUnless(_system_python_can_build(), "needs /usr/bin/python3 with setuptools, wheel and pip")
    @unittest.skipUnless(BUILT_LIBRARY.exists(), "needs artifacts/lib/libpyheapnative.so.0 (./build.sh build)")
    def test_pip_install_bundles_the_library(self):
        with tempfile.TemporaryDirectory(prefix="phn-pip-") as tmp:
            tmp = Path(tmp)
            # A copy of the checkout's relevant part: src/python and artifacts/lib (so that
            # the build finds the library the way it does in a checkout, and nothing of the
            # real repository is written to or reachable afterwards).
            checkout = tmp / "checkout"
            shutil.copytree(PACKAGE_SRC, checkout / "src" / "python",
                            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.so", "*.so.*"))
            (checkout / "artifacts" / "lib").mkdir(parents=True)
            shutil.copy2(BUILT_LIBRARY, checkout / "artifacts" / "lib" / BUILT_LIBRARY.name)
            venv = tmp / "venv"
            # --without-pip: Debian's pip comes from the system site packages (fast)
            subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                           check=True, capture_output=True)
            python = str(venv / "bin" / "python")
            r = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet",
                                str(checkout / "src" / "python")],
                               cwd=str(tmp), env=_clean_env(), capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            shutil.rmtree(checkout)   # the artifacts are gone: only the bundled copy remains

            elsewhere = tmp / "elsewhere"
            elsewhere.mkdir()
            code = textwrap.dedent(
                """
                import pyheapnative
                print(pyheapnative.library_path())
                print(pyheapnative.__file__)
                """
            ) + readme_python_quick_start()
            r = subprocess.run([python, "-c", code], cwd=str(elsewhere), env=_clean_env(),
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            library, package, collected, traced = r.stdout.splitlines()
            site = Path(package).parent
            self.assertTrue(Path(package).is_relative_to(venv), package)
            self.assertEqual(Path(library), site / "_lib" / "libpyheapnative.so")
            self.assertEqual(Path(library).read_bytes(), BUILT_LIBRARY.read_bytes())
            self.assertEqual(collected, "2 None")
            self.assertRegex(traced, r"^<string>:\d+: size=1000 B, count=1, average=1000 B$")


class SearchOrderTest(unittest.TestCase):
    """_native.candidate_paths: the environment variable, then _lib/, then the checkout."""

    def test_environment_variable_is_the_only_candidate(self):
        r = tu.run_python("from pyheapnative import _native; print(_native.candidate_paths())",
                          PYHEAPNATIVE_LIBRARY=_native.LIBRARY_PATH)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(eval(r.stdout), [_native.LIBRARY_PATH])

    def test_lib_dir_then_artifacts_in_a_checkout(self):
        paths = tu.run_python("from pyheapnative import _native; print(_native.candidate_paths())",
                              PYHEAPNATIVE_LIBRARY=None)
        self.assertEqual(paths.returncode, 0, paths.stderr)
        paths = eval(paths.stdout)
        lib_dir = Path(pyheapnative.__file__).resolve().parent / "_lib"
        self.assertEqual(paths[0], str(lib_dir / "libpyheapnative.so"))
        self.assertEqual(paths.index(str(tu.REPO_ROOT.resolve() / "artifacts" / "lib" / "libpyheapnative.so")),
                         len(_native.LIBRARY_FILE_NAMES))

    def _copy_package(self, tmp: Path, with_library: bool) -> Path:
        dest = tmp / "site" / "pyheapnative"
        shutil.copytree(Path(pyheapnative.__file__).parent, dest,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.so.*"))
        if with_library:
            shutil.copy2(_native.LIBRARY_PATH, dest / "_lib" / "libpyheapnative.so")
        return dest.parent

    def test_bundled_library_is_used_outside_a_checkout(self):
        with tempfile.TemporaryDirectory() as tmp:
            site = self._copy_package(Path(tmp), True)
            r = tu.run_python("import pyheapnative; print(pyheapnative.library_path())",
                              PYHEAPNATIVE_LIBRARY=None, PYTHONPATH=str(site))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), str(site.resolve() / "pyheapnative" / "_lib" / "libpyheapnative.so"))

    def test_no_library_outside_a_checkout_is_an_import_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            site = self._copy_package(Path(tmp), False)
            r = tu.run_python("import pyheapnative", PYHEAPNATIVE_LIBRARY=None, PYTHONPATH=str(site),
                              LD_LIBRARY_PATH=None)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ImportError: pyheapnative: cannot load libpyheapnative.so", r.stderr)
            self.assertNotIn("artifacts", r.stderr)   # an installed package never looks there


class ApiTest(unittest.TestCase):
    GC_API = ("collect", "enable", "disable", "isenabled", "get_count", "get_threshold", "set_threshold",
              "get_stats", "freeze", "unfreeze", "get_freeze_count", "callbacks", "garbage", "set_debug",
              "get_debug", "get_objects", "get_referrers", "get_referents", "is_tracked", "is_finalized",
              "DEBUG_STATS", "DEBUG_COLLECTABLE", "DEBUG_UNCOLLECTABLE", "DEBUG_SAVEALL", "DEBUG_LEAK")
    TRACEMALLOC_API = ("start", "stop", "is_tracing", "get_traced_memory", "reset_peak", "clear_traces",
                       "get_traceback_limit", "get_tracemalloc_memory", "take_snapshot", "Snapshot",
                       "Statistic", "StatisticDiff", "Traceback", "Frame", "Filter", "DomainFilter")

    def test_gc_has_the_standard_api(self):
        for name in self.GC_API:
            with self.subTest(name=name):
                self.assertTrue(hasattr(gc, name))
                self.assertIn(name, gc.__all__)
                if name.startswith("DEBUG_"):
                    self.assertEqual(getattr(gc, name), getattr(std_gc, name))
        self.assertIsInstance(gc.callbacks, list)
        self.assertIsInstance(gc.garbage, list)

    def test_tracemalloc_has_the_standard_api(self):
        for name in self.TRACEMALLOC_API:
            with self.subTest(name=name):
                self.assertTrue(hasattr(tracemalloc, name))
                self.assertIn(name, tracemalloc.__all__)
                self.assertTrue(hasattr(std_tracemalloc, name))
        for name in ("statistics", "compare_to", "filter_traces", "dump", "load"):
            self.assertTrue(callable(getattr(tracemalloc.Snapshot, name)))

    def test_everything_public_has_a_docstring(self):
        missing = []
        for module in (pyheapnative, mem, gc, objects, tracemalloc):
            if not module.__doc__:
                missing.append(module.__name__)
            for name in module.__all__:
                value = getattr(module, name)
                if not (inspect.isfunction(value) or inspect.isclass(value)):
                    continue
                if not inspect.getdoc(value):
                    missing.append("%s.%s" % (module.__name__, name))
                if inspect.isclass(value) and value.__module__ == module.__name__:
                    for attr, member in vars(value).items():
                        if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, (property, staticmethod, classmethod))):
                            continue
                        if not inspect.getdoc(member):
                            missing.append("%s.%s.%s" % (module.__name__, name, attr))
        self.assertEqual(missing, [])

    def test_errors_are_builtin_exceptions_with_the_library_message(self):
        with self.assertRaises(ValueError) as cm:
            gc.collect(7)
        self.assertEqual(str(cm.exception), "invalid generation")
        self.assertEqual(cm.exception.code, _native.PHN_EINVAL)
        with self.assertRaises(TypeError) as cm:
            objects.weakref(objects.Type("PkgLeaf", gc=False)())
        self.assertIsInstance(cm.exception, pyheapnative.NativeTypeError)
        with self.assertRaises(MemoryError):
            mem.raw_malloc(2**62)
        if not tracemalloc.is_tracing():
            with self.assertRaises(RuntimeError):
                tracemalloc.take_snapshot()

    def test_pyproject_declares_the_bundled_library(self):
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            self.skipTest("tomllib is Python 3.11+")
        data = tomllib.loads((PACKAGE_SRC / "pyproject.toml").read_text())
        self.assertEqual(data["project"]["name"], "pyheapnative")
        self.assertEqual(data["project"]["version"], pyheapnative.__version__)
        self.assertIn("_lib/*.so", data["tool"]["setuptools"]["package-data"]["pyheapnative"])
        self.assertTrue((PACKAGE_SRC / "setup.py").exists())


if __name__ == "__main__":
    unittest.main()
