"""The standard :mod:`tracemalloc` module's API, for the blocks of libpyheapnative's three
domains (``phn_trace.h``).

Same functions and classes as CPython's ``tracemalloc``; the traces, statistics,
comparisons, filters and dump/load of a :class:`Snapshot` are computed by the library.
:class:`Frame`, :class:`Traceback`, :class:`Trace`, :class:`Statistic` and
:class:`StatisticDiff` *are* the standard module's classes (plain value objects), and
:class:`Filter` and :class:`DomainFilter` subclass them (only to document them; filters of
the standard module are accepted too), so they compare, sort and format exactly as in
CPython::

    from pyheapnative import mem, tracemalloc

    tracemalloc.start(5)
    p = mem.obj_malloc(100)
    snapshot = tracemalloc.take_snapshot()
    for stat in snapshot.statistics("lineno")[:3]:
        print(stat)                      # /path/app.py:3: size=100 B, count=1, average=100 B
    mem.obj_free(p)
    tracemalloc.stop()

**Frames.** While started through this module, a trace's traceback holds the *Python*
frames of the allocating thread (most recent first inside the library, oldest first in
:class:`Traceback`, as CPython), the binding's own frames (``pyheapnative/*.py``) left
out; an allocation with no Python frame gets ``<unknown>:0``. A frame provider installed
with ``pyheapnative._trace.set_frame_provider`` before :func:`start` is kept instead;
without any, the library records native return addresses.

``get_object_traceback`` takes an object of :mod:`pyheapnative.objects` (its block starts
at its headers, before it), a :class:`pyheapnative.mem.Block`, or a block's address.
"""

from __future__ import annotations

import operator
import os
import sys
import tracemalloc as _std
from collections.abc import Iterable, Sequence
from typing import List, Optional, Tuple, Union

from . import _native, _trace

__all__ = [
    "start", "stop", "is_tracing", "get_traced_memory", "reset_peak", "clear_traces",
    "get_traceback_limit", "get_tracemalloc_memory", "take_snapshot", "get_object_traceback",
    "Snapshot", "Statistic", "StatisticDiff", "Trace", "Traceback", "Frame", "Filter",
    "DomainFilter",
]

# The standard module's value classes (pure Python, independent of CPython's tracer).
Frame = _std.Frame
Traceback = _std.Traceback
Trace = _std.Trace
Statistic = _std.Statistic
StatisticDiff = _std.StatisticDiff
BaseFilter = _std.BaseFilter


class Filter(_std.Filter):
    """``Filter(inclusive, filename_pattern, lineno=None, all_frames=False, domain=None)``:
    keep (*inclusive*) or drop the traces whose most recent frame (any frame with
    *all_frames*) matches the fnmatch *filename_pattern* and *lineno* (None: any line), in
    *domain* (None: any). The standard class; matching is done by the library."""

    __slots__ = ()


class DomainFilter(_std.DomainFilter):
    """``DomainFilter(inclusive, domain)``: keep (*inclusive*) or drop the traces of a
    trace domain. The standard class; matching is done by the library."""

    __slots__ = ()

_KEY_TYPES = ("traceback", "filename", "lineno")

# --------------------------------------------------------------------------------------
# Python frames as the traceback of every trace

_OWN_DIRS = tuple({os.path.dirname(__file__) + os.sep, os.path.dirname(os.path.abspath(__file__)) + os.sep})
_limit = 1


def _python_frames():
    """The frame provider: (filename, lineno) of the calling thread's Python frames, most
    recent first, the binding's own frames skipped; and the total depth."""
    frames = []
    total = 0
    limit = _limit
    f = sys._getframe(1)
    while f is not None:
        filename = f.f_code.co_filename
        if not filename.startswith(_OWN_DIRS):
            total += 1
            if len(frames) < limit:
                frames.append((filename, f.f_lineno or 0))
        f = f.f_back
    return frames, total


# --------------------------------------------------------------------------------------
# Module functions


def start(nframe: int = 1) -> None:
    """Start tracing the library's allocations, storing up to *nframe* frames per trace
    (1..65535, else ``ValueError("the number of frames must be in range [1; 65535]")``).
    Already tracing: the limit does not change (as CPython)."""
    global _limit
    n = operator.index(nframe)
    if not _native.INT32_MIN <= n <= _native.INT32_MAX:
        raise ValueError("the number of frames must be in range [1; %d]" % _native.PHN_TRACEMALLOC_MAX_NFRAME)
    _trace.start(n)
    _limit = _trace.get_traceback_limit()
    if _trace.frame_provider() is None:
        _trace.set_frame_provider(_python_frames)


def stop() -> None:
    """Stop tracing and forget every trace (also clears the traces' memory)."""
    _trace.stop()
    if _trace.frame_provider() is _python_frames:
        _trace.set_frame_provider(None)


def is_tracing() -> bool:
    """True if the library's allocations are being traced."""
    return _trace.is_tracing()


def get_traced_memory() -> Tuple[int, int]:
    """``(current, peak)`` size in bytes of the traced blocks; ``(0, 0)`` when stopped."""
    return _trace.get_traced_memory()


def reset_peak() -> None:
    """Set the peak size of the traced blocks to the current size."""
    _trace.reset_peak()


def clear_traces() -> None:
    """Forget the traces of the blocks allocated so far (current and peak become 0)."""
    _trace.clear_traces()


def get_traceback_limit() -> int:
    """The maximum number of frames stored in a trace's traceback."""
    return _trace.get_traceback_limit()


def get_tracemalloc_memory() -> int:
    """Memory in bytes used by the tracer's own tables."""
    return _trace.get_tracemalloc_memory()


def take_snapshot() -> "Snapshot":
    """A :class:`Snapshot` of the traces (``RuntimeError("the tracemalloc module must be
    tracing memory allocations to take a snapshot")`` when stopped)."""
    return Snapshot(_trace.take_snapshot())


def get_object_traceback(obj) -> Optional[Traceback]:
    """Where *obj* was allocated, as a :class:`Traceback`, or None when it is not traced or
    tracing is off (as CPython). *obj*: an object of :mod:`pyheapnative.objects`, a
    :class:`pyheapnative.mem.Block`, or the address (an ``int``) of a block of the library."""
    from . import mem
    if isinstance(obj, mem.Block):
        trace = _trace.get_traceback(0, obj.address)
    elif isinstance(obj, int) and not isinstance(obj, bool):
        trace = _trace.get_traceback(0, obj)
    else:
        from . import objects
        try:
            address = objects.address_of(obj)
        except TypeError:
            raise TypeError("get_object_traceback() takes an object of pyheapnative.objects, a "
                            "mem.Block or a block address, not %s" % type(obj).__name__) from None
        trace = _trace.get_object_traceback(address)
    return None if trace is None else Traceback(trace.frames)   # as CPython: no total_nframe


# --------------------------------------------------------------------------------------
# Snapshots


class _Traces(Sequence):
    """``Snapshot.traces``: a sequence of :class:`Trace`; ``_traces`` holds the raw
    ``(domain, size, frames, total_nframe)`` tuples, frames most recent first."""

    __slots__ = ("_traces",)

    def __init__(self, traces):
        Sequence.__init__(self)
        self._traces = traces

    def __len__(self):
        return len(self._traces)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(Trace(trace) for trace in self._traces[index])
        return Trace(self._traces[index])

    def __contains__(self, trace):
        return trace._trace in self._traces

    def __eq__(self, other):
        if not isinstance(other, _Traces):
            return NotImplemented
        return self._traces == other._traces

    __hash__ = None

    def __repr__(self):
        return "<Traces len=%s>" % len(self)


def _key_type(key_type) -> str:
    if key_type not in _KEY_TYPES:
        raise ValueError("unknown key_type: %r" % (key_type,))
    return key_type


def _filters(filters) -> List[Union[_trace.Filter, _trace.DomainFilter]]:
    out = []
    for f in filters:
        if isinstance(f, _std.DomainFilter):
            out.append(_trace.DomainFilter(f.inclusive, f.domain))
        elif isinstance(f, _std.Filter):
            out.append(_trace.Filter(f.inclusive, f.filename_pattern, f.lineno, f.all_frames, f.domain))
        elif isinstance(f, (_trace.Filter, _trace.DomainFilter)):
            out.append(f)
        else:
            raise TypeError("filters must be Filter or DomainFilter objects, not %s" % type(f).__name__)
    return out


class Snapshot:
    """Snapshot of the traces of the library's memory blocks (a ``phn_snapshot``).

    ``traces`` is a sequence of :class:`Trace`; ``traceback_limit`` the traceback limit
    at the time it was taken. The native snapshot is freed with the object, or earlier
    with :meth:`close` / a ``with`` block.
    """

    def __init__(self, native: _trace.Snapshot):
        if not isinstance(native, _trace.Snapshot):
            raise TypeError("Snapshot objects are made by take_snapshot(), Snapshot.load() and filter_traces()")
        self._native = native
        self.traceback_limit: int = native.traceback_limit
        self._traces: Optional[_Traces] = None

    @property
    def traces(self) -> _Traces:
        """The traces, as a sequence of :class:`Trace` (read once, then cached)."""
        if self._traces is None:
            self._traces = _Traces([(t.domain, t.size, t.frames, t.total_nframe) for t in self._native.traces()])
        return self._traces

    def close(self) -> None:
        """Free the native snapshot now (:attr:`traces` stays readable if already read)."""
        self._native.close()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def dump(self, filename) -> None:
        """Write the snapshot to a file (the library's binary format)."""
        self._native.dump(filename)

    @staticmethod
    def load(filename) -> "Snapshot":
        """Read a snapshot written by :meth:`dump`."""
        return Snapshot(_trace.Snapshot.load(filename))

    def filter_traces(self, filters) -> "Snapshot":
        """A new snapshot with the traces that pass *filters*, an iterable of
        :class:`Filter` and :class:`DomainFilter` (empty: a copy). A trace passes if no
        inclusive filter is given or one matches it, and no exclusive filter matches it."""
        if not isinstance(filters, Iterable):
            raise TypeError("filters must be a list of filters, not %s" % type(filters).__name__)
        return Snapshot(self._native.filter_traces(_filters(filters)))

    def statistics(self, key_type: str, cumulative: bool = False) -> List[Statistic]:
        """:class:`Statistic` objects grouped by *key_type* (``'filename'``,
        ``'lineno'`` or ``'traceback'``), biggest first; *cumulative* counts a trace once
        for each frame of its traceback (not with ``'traceback'``)."""
        stats = self._native.statistics(_key_type(key_type), bool(cumulative))
        return [Statistic(Traceback(s.frames), s.size, s.count) for s in stats]

    def compare_to(self, old_snapshot: "Snapshot", key_type: str, cumulative: bool = False) -> List[StatisticDiff]:
        """:class:`StatisticDiff` objects: the differences from *old_snapshot*, grouped by
        *key_type*, biggest absolute difference first."""
        if not isinstance(old_snapshot, Snapshot):
            raise TypeError("old_snapshot must be a Snapshot, not %s" % type(old_snapshot).__name__)
        stats = self._native.compare_to(old_snapshot._native, _key_type(key_type), bool(cumulative))
        return [StatisticDiff(Traceback(s.frames), s.size, s.size_diff, s.count, s.count_diff) for s in stats]

    def __repr__(self):
        return "<pyheapnative.tracemalloc.Snapshot traceback_limit=%d>" % self.traceback_limit
