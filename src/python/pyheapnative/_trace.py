"""Thin access to libpyheapnative's tracemalloc (``include/pyheapnative/phn_trace.h``).

This is the layer :mod:`pyheapnative.tracemalloc` (the standard module's API) is built
on: the functions mirror the C API one for one, with the argument checks ctypes does
not do (ctypes wraps out-of-range integers silently) and with the opaque snapshot and
statistics handles wrapped in objects that free them.

    from pyheapnative import _trace, mem
    _trace.start(5)
    try:
        p = mem.mem_malloc(100)
        print(_trace.get_traced_memory())        # (100, 100)
        with _trace.take_snapshot() as snap:
            for st in snap.statistics("lineno"):
                print(st.frames, st.size, st.count)
        mem.mem_free(p)
    finally:
        _trace.stop()

Frames are ``(filename, lineno)`` tuples, **most recent first** as in the C API (Python's
``tracemalloc.Traceback`` lists them oldest first). Failed calls raise the package's
:class:`~pyheapnative.PyHeapNativeError` subclasses (``ValueError`` for ``PHN_EINVAL``,
``RuntimeError`` for ``PHN_ESTATE``) with the library's message, except :func:`track` and
:func:`untrack`, which return CPython's ``0`` / ``-1`` / ``-2`` codes.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _native
from ._native import lib as _lib, phn_filter, phn_frame, phn_frame_provider, phn_statistic, phn_trace

__all__ = [
    "MAX_NFRAME", "DOMAIN_DEFAULT", "ANY_LINE", "ANY_DOMAIN",
    "KEY_FILENAME", "KEY_LINENO", "KEY_TRACEBACK",
    "start", "stop", "is_tracing", "get_traced_memory", "reset_peak", "clear_traces",
    "get_traceback_limit", "get_tracemalloc_memory", "track", "untrack", "set_frame_provider",
    "frame_provider",
    "take_snapshot", "Snapshot", "Trace", "Statistic", "Filter", "DomainFilter",
]

MAX_NFRAME = _native.PHN_TRACEMALLOC_MAX_NFRAME
DOMAIN_DEFAULT = _native.PHN_TRACE_DOMAIN_DEFAULT
ANY_LINE = _native.PHN_FILTER_ANY_LINE
ANY_DOMAIN = _native.PHN_FILTER_ANY_DOMAIN
KEY_FILENAME = _native.PHN_KEY_FILENAME
KEY_LINENO = _native.PHN_KEY_LINENO
KEY_TRACEBACK = _native.PHN_KEY_TRACEBACK
_KEY_NAMES = {"filename": KEY_FILENAME, "lineno": KEY_LINENO, "traceback": KEY_TRACEBACK}

Frame = Tuple[str, int]


def _uint(value, name: str, bits: int) -> int:
    value = _native.as_int(value, name)
    if not 0 <= value < 2**bits:
        raise ValueError("%s must be in [0, 2**%d), got %d" % (name, bits, value))
    return value


def _decode(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "surrogateescape") if raw is not None else "<unknown>"


def _frames(ptr, n: int) -> Tuple[Frame, ...]:
    return tuple((_decode(ptr[i].filename), int(ptr[i].lineno)) for i in range(n))


# --------------------------------------------------------------------------------------
# Module functions


def start(nframe: int = 1) -> None:
    """Start tracing with a traceback limit of *nframe* frames (1..65535, else
    ``ValueError``). Already tracing: nothing changes, the limit included."""
    _lib.phn_tracemalloc_start(_native.check_int32(nframe, "nframe"))


def stop() -> None:
    """Stop tracing: restore the allocators and forget every trace."""
    _lib.phn_tracemalloc_stop()


def is_tracing() -> bool:
    """True while tracing."""
    return bool(_lib.phn_tracemalloc_is_tracing())


def get_traced_memory() -> Tuple[int, int]:
    """``(current, peak)`` size of the traced blocks; ``(0, 0)`` when not tracing."""
    current, peak = ctypes.c_size_t(), ctypes.c_size_t()
    _lib.phn_tracemalloc_get_traced_memory(ctypes.byref(current), ctypes.byref(peak))
    return current.value, peak.value


def reset_peak() -> None:
    """Set the peak to the current traced size."""
    _lib.phn_tracemalloc_reset_peak()


def clear_traces() -> None:
    """Forget every trace; current and peak become 0."""
    _lib.phn_tracemalloc_clear_traces()


def get_traceback_limit() -> int:
    """The traceback limit of the current or last start (1 before any)."""
    return int(_lib.phn_tracemalloc_get_traceback_limit())


def get_tracemalloc_memory() -> int:
    """Bytes used by the tracer's own tables."""
    return int(_lib.phn_tracemalloc_get_tracemalloc_memory())


def track(domain: int, ptr: int, size: int) -> int:
    """``PyTraceMalloc_Track``: 0, -1 if the trace could not be stored, -2 when not tracing."""
    return int(_lib.phn_tracemalloc_track(_uint(domain, "domain", 32), _uint(ptr, "ptr", 64), _uint(size, "size", 64)))


def untrack(domain: int, ptr: int) -> int:
    """``PyTraceMalloc_Untrack``: 0 (also when unknown), -2 when not tracing."""
    return int(_lib.phn_tracemalloc_untrack(_uint(domain, "domain", 32), _uint(ptr, "ptr", 64)))


_provider_lock = threading.Lock()
_provider_installed: Optional[object] = None
#: The Python callable behind the installed provider (None: native return addresses).
_provider_python: Optional[Callable] = None


def set_frame_provider(provider: Optional[Callable[[], Sequence[Frame]]]) -> None:
    """Use ``provider()`` for the frames of every new trace: it returns ``(filename,
    lineno)`` pairs, most recent first (or ``(frames, total_depth)``). ``None`` restores the
    native return addresses.

    The provider runs inside the allocation that is being traced, on the allocating thread;
    allocations it makes through the library are not traced. An exception in it is printed
    and counts as "no frame" (the trace gets the single frame ``("<unknown>", 0)``).
    Installed providers are kept alive for the rest of the process.
    """
    global _provider_installed, _provider_python
    if provider is None:
        with _provider_lock:
            _lib.phn_tracemalloc_set_frame_provider(phn_frame_provider(), None)  # NULL
            _provider_installed = None
            _provider_python = None
        return
    if not callable(provider):
        raise TypeError("provider must be callable or None")
    names = {}   # filename -> bytes, alive as long as the provider (the library reads them)

    def c_provider(ctx, frames, max_frames, total):
        try:
            result = provider()
            depth = None
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int) and not isinstance(result[0], str):
                result, depth = result
            result = list(result)
            n = min(len(result), int(max_frames))
            for i in range(n):
                filename, lineno = result[i]
                raw = names.get(filename)
                if raw is None:
                    raw = names[filename] = str(filename).encode("utf-8", "surrogateescape")
                frames[i].filename = raw
                frames[i].lineno = int(lineno) & 0xFFFFFFFF
                frames[i].reserved = 0
            total[0] = max(int(depth if depth is not None else len(result)), n)
            return n
        except BaseException:  # noqa: B902 - nothing may unwind through C
            import traceback

            traceback.print_exc()
            total[0] = 0
            return 0

    cfunc = _native.keep_alive(phn_frame_provider(c_provider))
    _native.keep_alive(names)
    with _provider_lock:
        _lib.phn_tracemalloc_set_frame_provider(cfunc, None)
        _provider_installed = cfunc
        _provider_python = provider


def frame_provider() -> Optional[Callable]:
    """The Python callable installed by :func:`set_frame_provider` (None: native frames)."""
    return _provider_python


# --------------------------------------------------------------------------------------
# Snapshots


class Trace(NamedTuple):
    domain: int
    size: int
    frames: Tuple[Frame, ...]   # most recent first
    total_nframe: int


class Statistic(NamedTuple):
    frames: Tuple[Frame, ...]   # the group's key
    size: int
    count: int
    size_diff: int = 0
    count_diff: int = 0
    total_nframe: int = 0


class Filter(NamedTuple):
    """``tracemalloc.Filter``: *filename_pattern* is an fnmatch pattern."""

    inclusive: bool
    filename_pattern: str
    lineno: Optional[int] = None
    all_frames: bool = False
    domain: Optional[int] = None


class DomainFilter(NamedTuple):
    """``tracemalloc.DomainFilter``: matches on the trace domain only."""

    inclusive: bool
    domain: int


def _key_type(key_type: Union[int, str]) -> int:
    if isinstance(key_type, str):
        if key_type not in _KEY_NAMES:
            raise ValueError("unknown key_type: %r" % (key_type,))
        return _KEY_NAMES[key_type]
    return _native.check_int32(key_type, "key_type")


def _read_statistics(handle: ctypes.c_void_p) -> List[Statistic]:
    try:
        n = _lib.phn_statistics_count(handle)
        out = []
        item = phn_statistic()
        for i in range(n):
            _lib.phn_statistics_get(handle, i, ctypes.byref(item))
            out.append(Statistic(_frames(item.frames, item.nframe), int(item.size), int(item.count),
                                 int(item.size_diff), int(item.count_diff), int(item.total_nframe)))
        return out
    finally:
        _lib.phn_statistics_free(handle)


class Snapshot:
    """A ``phn_snapshot*``: the traces at one moment. Free it with :meth:`close` (or a
    ``with`` block); it is also freed when garbage-collected."""

    __slots__ = ("_handle",)

    def __init__(self, handle: int):
        self._handle = ctypes.c_void_p(handle)

    @property
    def handle(self) -> int:
        """The raw ``phn_snapshot*`` (0 once closed)."""
        return self._handle.value or 0

    def _live(self) -> ctypes.c_void_p:
        if not self._handle.value:
            raise ValueError("the snapshot is closed")
        return self._handle

    def close(self) -> None:
        h, self._handle = self._handle, ctypes.c_void_p()
        if h.value:
            _lib.phn_snapshot_free(h)

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __len__(self) -> int:
        return int(_lib.phn_snapshot_trace_count(self._live()))

    @property
    def traceback_limit(self) -> int:
        return int(_lib.phn_snapshot_traceback_limit(self._live()))

    def traces(self) -> List[Trace]:
        h = self._live()
        t = phn_trace()
        out = []
        for i in range(_lib.phn_snapshot_trace_count(h)):
            _lib.phn_snapshot_get_trace(h, i, ctypes.byref(t))
            out.append(Trace(int(t.domain), int(t.size), _frames(t.frames, t.nframe), int(t.total_nframe)))
        return out

    def statistics(self, key_type: Union[int, str], cumulative: bool = False) -> List[Statistic]:
        """``Snapshot.statistics``: sorted by (size, count, traceback) descending."""
        out = ctypes.c_void_p()
        _lib.phn_snapshot_statistics(self._live(), _key_type(key_type), 1 if cumulative else 0, ctypes.byref(out))
        return _read_statistics(out)

    def compare_to(self, old: "Snapshot", key_type: Union[int, str], cumulative: bool = False) -> List[Statistic]:
        """``Snapshot.compare_to``: differences, sorted by (|size_diff|, size, |count_diff|,
        count, traceback) descending."""
        if not isinstance(old, Snapshot):
            raise TypeError("old must be a Snapshot, not %s" % type(old).__name__)
        out = ctypes.c_void_p()
        _lib.phn_snapshot_compare_to(self._live(), old._live(), _key_type(key_type), 1 if cumulative else 0, ctypes.byref(out))
        return _read_statistics(out)

    def filter_traces(self, filters: Iterable[Union[Filter, DomainFilter]]) -> "Snapshot":
        """A new snapshot with the traces that pass *filters* (empty: a copy)."""
        filters = list(filters)
        array = (phn_filter * max(len(filters), 1))()
        keep = []
        for i, f in enumerate(filters):
            c = array[i]
            c.inclusive = 1 if f.inclusive else 0
            if isinstance(f, DomainFilter):
                c.all_frames, c.filename_pattern, c.lineno = 0, None, ANY_LINE
                c.domain = _uint(f.domain, "domain", 32)
            elif isinstance(f, Filter):
                pattern = os.fsencode(f.filename_pattern) if not isinstance(f.filename_pattern, bytes) else f.filename_pattern
                keep.append(pattern)
                c.filename_pattern = pattern
                c.all_frames = 1 if f.all_frames else 0
                c.lineno = ANY_LINE if f.lineno is None else _native.check_int32(f.lineno, "lineno")
                c.domain = ANY_DOMAIN if f.domain is None else _uint(f.domain, "domain", 32)
            else:
                raise TypeError("filters must be Filter or DomainFilter, not %s" % type(f).__name__)
        out = ctypes.c_void_p()
        _lib.phn_snapshot_filter_traces(self._live(), array if filters else None, len(filters), ctypes.byref(out))
        del keep
        return Snapshot(out.value)

    def dump(self, path: Union[str, bytes, os.PathLike]) -> None:
        _lib.phn_snapshot_dump(self._live(), os.fsencode(path))

    @staticmethod
    def load(path: Union[str, bytes, os.PathLike]) -> "Snapshot":
        out = ctypes.c_void_p()
        _lib.phn_snapshot_load(os.fsencode(path), ctypes.byref(out))
        return Snapshot(out.value)


def take_snapshot() -> Snapshot:
    """Copy the traces (``RuntimeError`` when not tracing)."""
    out = ctypes.c_void_p()
    _lib.phn_tracemalloc_take_snapshot(ctypes.byref(out))
    return Snapshot(out.value)


def _only_trace(out: ctypes.c_void_p) -> Optional[Trace]:
    with Snapshot(out.value) as one:
        traces = one.traces()
    return traces[0] if traces else None


def get_traceback(domain: int, address: int) -> Optional[Trace]:
    """The trace of the block at *address* in a trace domain (``_PyTraceMalloc_GetTraceback``),
    or None when it is not traced or tracing is off."""
    out = ctypes.c_void_p()
    _lib.phn_tracemalloc_get_traceback(_uint(domain, "domain", 32), _uint(address, "address", 64), ctypes.byref(out))
    return _only_trace(out)


def get_object_traceback(address: int) -> Optional[Trace]:
    """The trace of the block of the library's object at *address* (its headers come before
    it), or None when it is not traced or tracing is off."""
    out = ctypes.c_void_p()
    _lib.phn_tracemalloc_get_object_traceback(_uint(address, "address", 64), ctypes.byref(out))
    return _only_trace(out)
