"""pyheapnative - a ctypes binding of libpyheapnative, CPython's memory manager (the
RAW/MEM/OBJ domains, pymalloc, the debug hooks, tracemalloc, reference counting and the
generational cyclic garbage collector) reimplemented in C# and compiled with Native AOT.

Importing the package loads the library (``$PYHEAPNATIVE_LIBRARY``, then
``pyheapnative/_lib/`` - where ``pip install`` bundles it -, then ``<repo>/artifacts/lib/``
of a source checkout), checks its version and calls ``phn_init()``. The submodules:

* :mod:`pyheapnative.mem` - the allocator domains, statistics and hooks::

      from pyheapnative import mem
      p = mem.obj_malloc(40)
      mem.obj_free(p)

* :mod:`pyheapnative.objects` - types (reference slots and/or Python callbacks), objects,
  weak references;
* :mod:`pyheapnative.gc` - the standard ``gc`` module's API for those objects;
* :mod:`pyheapnative.tracemalloc` - the standard ``tracemalloc`` module's API for the
  library's blocks.

Failed calls raise :class:`PyHeapNativeError` subclasses that are also the matching
built-in exceptions: :class:`InvalidArgumentError` is a ``ValueError``
(``PHN_EINVAL``), :class:`NativeMemoryError` a ``MemoryError`` (``PHN_ENOMEM``),
:class:`NativeRuntimeError` a ``RuntimeError`` (any other status) and
:class:`NativeTypeError` a ``TypeError`` (an object of the wrong type, e.g. a weak
reference to a type that does not allow them), with the library's message as text.
"""

from __future__ import annotations

from typing import Callable, Optional

from . import _native
from ._native import (
    HeapCorruptionError,
    InvalidArgumentError,
    NativeMemoryError,
    NativeRuntimeError,
    NativeTypeError,
    PyHeapNativeError,
)

__version__ = _native.PACKAGE_VERSION

__all__ = [
    "__version__", "version", "version_number", "expected_version", "library_path",
    "init", "last_error_message", "last_error_code", "clear_error",
    "set_error_handler", "set_fatal_handler",
    "PyHeapNativeError", "InvalidArgumentError", "NativeMemoryError", "NativeRuntimeError",
    "NativeTypeError", "HeapCorruptionError", "mem",
]


def version() -> str:
    """The loaded library's version as ``"MAJOR.MINOR.PATCH"`` (from ``phn_version()``)."""
    return _native.format_version(version_number())


def version_number() -> int:
    """``phn_version()``: ``MAJOR*10000 + MINOR*100 + PATCH`` of the loaded binary."""
    return int(_native.lib.phn_version())


def expected_version() -> str:
    """The library version this package was written for (the header's ``PHN_VERSION``)."""
    return _native.format_version(_native.EXPECTED_VERSION)


def library_path() -> str:
    """Path of the loaded ``libpyheapnative`` shared library."""
    return _native.LIBRARY_PATH


def init() -> None:
    """``phn_init()``: start the library (idempotent; already done at import).

    Raises :class:`InvalidArgumentError` if an unknown ``PYHEAPNATIVE_ALLOCATOR`` was
    reported to a fatal handler that returned.
    """
    _native.lib.phn_init()


def last_error_message() -> str:
    """Message of the last failed call on this thread (``""`` if none)."""
    return _native.last_error_message()


def last_error_code() -> int:
    """Status code (``PHN_E*``) of the last failed call on this thread, ``0`` if none."""
    return int(_native.lib.phn_last_error_code())


def clear_error() -> None:
    """Forget the last error of this thread (``phn_clear_error``)."""
    _native.lib.phn_clear_error()


def _callback_guard(func: Callable, kind: str):
    # An exception must never propagate into the library; ctypes would print and ignore it
    # anyway, but be explicit.
    def call(*args):
        try:
            func(*args)
        except BaseException:  # noqa: B902 - nothing may unwind through C
            import traceback

            traceback.print_exc()

    call.__name__ = "%s_%s" % (kind, getattr(func, "__name__", "callback"))
    return call


def set_error_handler(handler: Optional[Callable[[int, str], None]]) -> None:
    """Call ``handler(code, message)`` on the failing thread for every error the library
    reports; ``None`` removes it (``phn_set_error_handler``).

    The handler runs inside the failing call: it must not call back into the allocator
    domains. Installed handlers are kept alive for the rest of the process.
    """
    if handler is None:
        _native.lib.phn_set_error_handler(_native.phn_error_handler(), None)  # NULL
        return
    guarded = _callback_guard(handler, "error")

    def c_handler(ctx, code, message):
        guarded(int(code), message.decode("utf-8", "replace") if message else "")

    cfunc = _native.keep_alive(_native.phn_error_handler(c_handler))
    _native.lib.phn_set_error_handler(cfunc, None)


def set_fatal_handler(handler: Optional[Callable[[str], None]]) -> None:
    """Call ``handler(message)`` instead of printing ``Fatal error: <message>`` and
    aborting; ``None`` restores the default (``phn_set_fatal_handler``).

    If the handler returns, the failing call is abandoned as safely as possible. The
    handler may run with the heap in a corrupted state: do not allocate through the
    library from it. Installed handlers are kept alive for the rest of the process.
    """
    if handler is None:
        _native.lib.phn_set_fatal_handler(_native.phn_fatal_handler(), None)  # NULL
        return
    guarded = _callback_guard(handler, "fatal")

    def c_handler(ctx, message):
        guarded(message.decode("utf-8", "replace") if message else "")

    cfunc = _native.keep_alive(_native.phn_fatal_handler(c_handler))
    _native.lib.phn_set_fatal_handler(cfunc, None)


from . import mem  # noqa: E402  (after the library is loaded and initialised)
