"""Build hooks of the pyheapnative package (metadata: pyproject.toml).

``pip install ./src/python`` bundles the native library into the package: the build copies
it to ``pyheapnative/_lib/libpyheapnative.so``, where ``pyheapnative._native`` looks right
after ``$PYHEAPNATIVE_LIBRARY``. The library copied is ``$PYHEAPNATIVE_LIBRARY`` if set when
building, else ``<repo>/artifacts/lib/libpyheapnative.so.0`` (made by ``./build.sh build``).
Without either, the package is built without it (and will look for the library at run
time). A wheel that carries the library is tagged ``py3-none-<platform>``: it contains
native code, but no CPython extension.
"""

import os
import shutil
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.platform == "win32":
    TARGET, CANDIDATES = "pyheapnative.dll", ("pyheapnative.dll",)
elif sys.platform == "darwin":
    TARGET, CANDIDATES = "libpyheapnative.dylib", ("libpyheapnative.dylib",)
else:
    TARGET, CANDIDATES = "libpyheapnative.so", ("libpyheapnative.so.0", "libpyheapnative.so")


def native_library():
    """The library to bundle, or None."""
    override = os.environ.get("PYHEAPNATIVE_LIBRARY")
    if override:
        if not os.path.isfile(override):
            raise SystemExit("PYHEAPNATIVE_LIBRARY=%s: no such file" % override)
        return os.path.realpath(override)
    for name in CANDIDATES:
        path = os.path.join(HERE, os.pardir, os.pardir, "artifacts", "lib", name)
        if os.path.isfile(path):
            return os.path.realpath(path)
    return None


class build_py(_build_py):
    """build_py, then a copy of the native library into pyheapnative/_lib/."""

    def run(self):
        super().run()
        lib = native_library()
        dest_dir = os.path.join(self.build_lib, "pyheapnative", "_lib")
        if lib is None:
            self.warn("libpyheapnative not found (run ./build.sh build or set PYHEAPNATIVE_LIBRARY): "
                      "the package will look for it at run time")
            return
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, TARGET)
        self.announce("bundling %s as %s" % (lib, dest), level=2)
        shutil.copyfile(lib, dest)
        os.chmod(dest, 0o755)


class BinaryDistribution(Distribution):
    """Installs into platlib (the wheel's root) when the library is bundled."""

    def has_ext_modules(self):
        return native_library() is not None


cmdclass = {"build_py": build_py}

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
    except ImportError:
        _bdist_wheel = None

if _bdist_wheel is not None:
    class bdist_wheel(_bdist_wheel):
        """A platform wheel (py3-none-<platform>) when the library is bundled."""

        def get_tag(self):
            python, abi, plat = super().get_tag()
            if not self.root_is_pure:
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = bdist_wheel

setup(cmdclass=cmdclass, distclass=BinaryDistribution)
