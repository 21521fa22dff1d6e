"""The standard :mod:`gc` module's API, for libpyheapnative's collector (``phn_gc.h``).

Same functions, arguments, results and errors as CPython's ``gc`` (spec-gc §11), acting on
the library's objects (:mod:`pyheapnative.objects`) instead of Python's::

    from pyheapnative import gc, objects

    Node = objects.Type("Node", slots=("next",))
    a, b = Node(), Node()
    a.next, b.next = b, a
    del a, b
    gc.collect()          # 2
    gc.get_stats()[2]     # {'collections': 1, 'collected': 2, 'uncollectable': 0}

Objects come and go as :class:`pyheapnative.objects.Object` wrappers (the same wrapper
for the same live object); arguments that are not library objects are never tracked,
referenced or referring, as Python's ints are for CPython's gc.

:data:`callbacks` is a plain list: the module registers one C callback with the library and
calls the list's current contents with ``(phase, info)`` for every collection (manual
or automatic; not the final one of :func:`shutdown`); an exception is reported through
``sys.unraisablehook`` and the other callbacks still run.

:data:`garbage` is a real ``list`` (a subclass) mirroring the collector's list
(``phn_gc_garbage_*``): what a collection appends is added at its end, before the
``"stop"`` callbacks run. Until the Python list is first modified the library keeps its
own references too (so :func:`shutdown` counts them); any modification (``del
gc.garbage[:]``, ``gc.garbage.clear()``, ``remove``, slice assignment, ...) first empties
the library's list, so from then on the Python list's wrappers are the only references:
removing an object from it releases the object. Rebinding ``gc.garbage`` does not change
what the collector uses, as in CPython.

Debug output (``DEBUG_STATS``, ``DEBUG_COLLECTABLE``, ``DEBUG_UNCOLLECTABLE``) goes to
``sys.stderr``, as CPython's ``PySys_WriteStderr`` does.
"""

from __future__ import annotations

import ctypes
import operator
import sys
import warnings
from ctypes import c_int32, c_void_p
from typing import Any, Dict, List, Optional, Tuple

from . import _native
from ._native import lib as _lib
from .objects import Object, _Locked, _flush_deferred, _deferred, _wrap, report_unraisable

__all__ = [
    "collect", "enable", "disable", "isenabled", "get_count", "get_threshold", "set_threshold",
    "get_stats", "freeze", "unfreeze", "get_freeze_count", "get_debug", "set_debug",
    "get_objects", "get_referrers", "get_referents", "is_tracked", "is_finalized",
    "callbacks", "garbage", "shutdown",
    "DEBUG_STATS", "DEBUG_COLLECTABLE", "DEBUG_UNCOLLECTABLE", "DEBUG_SAVEALL", "DEBUG_LEAK",
]

DEBUG_STATS = _native.PHN_GC_DEBUG_STATS
DEBUG_COLLECTABLE = _native.PHN_GC_DEBUG_COLLECTABLE
DEBUG_UNCOLLECTABLE = _native.PHN_GC_DEBUG_UNCOLLECTABLE
DEBUG_SAVEALL = _native.PHN_GC_DEBUG_SAVEALL
DEBUG_LEAK = _native.PHN_GC_DEBUG_LEAK

_NUM_GENERATIONS = _native.PHN_GC_NUM_GENERATIONS


def _after_call() -> None:
    if _deferred:
        _flush_deferred()


# --------------------------------------------------------------------------------------
# Switches, counts, thresholds, statistics


def enable() -> None:
    """Enable automatic garbage collection."""
    _lib.phn_gc_enable()


def disable() -> None:
    """Disable automatic garbage collection (:func:`collect` still works)."""
    _lib.phn_gc_disable()


def isenabled() -> bool:
    """True if automatic collection is enabled."""
    return bool(_lib.phn_gc_is_enabled())


def _generation_arg(generation) -> int:
    g = operator.index(generation)
    # out of the int32 range: let the library reject a representative value
    return max(min(g, 1 << 20), -(1 << 20))


def collect(generation: int = 2) -> int:
    """Run a collection of generations 0..*generation* (0, 1 or 2; else
    ``ValueError("invalid generation")``), even when automatic collection is disabled.

    Returns the number of unreachable objects found (collected + uncollectable), or 0 if a
    collection is already running (from a finalizer or a callback).
    """
    g = _generation_arg(generation)
    if _deferred:
        _flush_deferred()
    n = int(_lib.phn_gc_collect(g))
    _after_call()
    return n


def get_count() -> Tuple[int, int, int]:
    """The current collection counts ``(count0, count1, count2)``."""
    c = (c_int32 * 3)()
    _lib.phn_gc_get_count(c)
    return (c[0], c[1], c[2])


def get_threshold() -> Tuple[int, int, int]:
    """The collection thresholds ``(threshold0, threshold1, threshold2)``."""
    t = (c_int32 * 3)()
    _lib.phn_gc_get_threshold(t)
    return (t[0], t[1], t[2])


def _c_int(value, name: str) -> int:
    value = operator.index(value)
    if value > _native.INT32_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if value < _native.INT32_MIN:
        raise OverflowError("signed integer is less than minimum")
    return value


def set_threshold(threshold0, *thresholds) -> None:
    """``set_threshold(threshold0[, threshold1[, threshold2]])``: set the collection
    thresholds; omitted ones are unchanged. ``threshold0 == 0`` disables automatic
    collection (without changing :func:`isenabled`)."""
    if len(thresholds) > 2:
        raise TypeError("set_threshold expected at most 3 arguments, got %d" % (1 + len(thresholds)))
    new = list(get_threshold())
    for i, value in enumerate((threshold0,) + thresholds):
        new[i] = _c_int(value, "threshold%d" % i)
    _lib.phn_gc_set_threshold(*new)


def get_stats() -> List[Dict[str, int]]:
    """A list of three dicts, one per generation, with the running totals
    ``collections``, ``collected`` and ``uncollectable`` (each collection is credited to
    the oldest generation it collected)."""
    out = []
    st = _native.phn_gc_stats()
    for g in range(_NUM_GENERATIONS):
        st.struct_size = ctypes.sizeof(st)
        _lib.phn_gc_get_stats(g, ctypes.byref(st))
        out.append({"collections": int(st.collections), "collected": int(st.collected),
                    "uncollectable": int(st.uncollectable)})
    return out


def freeze() -> None:
    """Move every tracked object into the permanent generation, which no collection
    examines (the objects stay tracked)."""
    _lib.phn_gc_freeze()


def unfreeze() -> None:
    """Move the permanent generation back into the oldest generation."""
    _lib.phn_gc_unfreeze()


def get_freeze_count() -> int:
    """The number of objects in the permanent generation."""
    return int(_lib.phn_gc_get_freeze_count())


def set_debug(flags: int) -> None:
    """Set the debugging flags (``DEBUG_*``; output goes to ``sys.stderr``)."""
    _lib.phn_gc_set_debug(_c_int(flags, "flags"))


def get_debug() -> int:
    """The debugging flags."""
    return int(_lib.phn_gc_get_debug())


# --------------------------------------------------------------------------------------
# Listings


def _addresses(objs) -> List[int]:
    return [o._address for o in objs if isinstance(o, Object) and o._address]


def _listing(function, *args) -> List[Object]:
    """Call a listing function (output convention of phn_gc_get_objects) and wrap what it
    returns, holding the heap's lock so that the borrowed pointers stay valid."""
    with _Locked(borrowing=True):
        n = function(*args, None, 0)
        while True:
            capacity = n + 16
            out = (c_void_p * capacity)()
            n = function(*args, out, capacity)
            if n <= capacity:
                break
        return [_wrap(out[i]) for i in range(n)]


def get_objects(generation: Optional[int] = None) -> List[Object]:
    """The tracked objects of *generation* (0, 1 or 2), or of all generations for
    ``None`` or -1; never the permanent generation. ``ValueError`` for a generation
    >= 3 or < -1, ``TypeError`` for a non-integer."""
    g = -1 if generation is None else _generation_arg(generation)
    if _deferred:
        _flush_deferred()
    return _listing(_lib.phn_gc_get_objects, g)


def get_referrers(*objs) -> List[Object]:
    """The tracked objects (generations 0-2) that refer to any of *objs*, each once."""
    addresses = _addresses(objs)
    if not addresses:
        return []
    array = (c_void_p * len(addresses))(*addresses)
    return _listing(_lib.phn_gc_get_referrers, array, len(addresses))


def get_referents(*objs) -> List[Object]:
    """Everything the traversal of each of *objs* visits, in order, duplicates kept;
    objects that are not GC objects contribute nothing."""
    addresses = _addresses(objs)
    if not addresses:
        return []
    array = (c_void_p * len(addresses))(*addresses)
    return _listing(_lib.phn_gc_get_referents, array, len(addresses))


def is_tracked(obj: Any) -> bool:
    """True if *obj* is currently tracked by the collector (False for anything that is
    not a GC object of the library)."""
    if not isinstance(obj, Object):
        return False
    return bool(_lib.phn_gc_is_tracked(obj._address))


def is_finalized(obj: Any) -> bool:
    """True once *obj*'s finalizer has run (by the collector or on deallocation)."""
    if not isinstance(obj, Object):
        return False
    return bool(_lib.phn_gc_is_finalized(obj._address))


# --------------------------------------------------------------------------------------
# gc.garbage


class _Garbage(list):
    """``gc.garbage``: a list mirroring the collector's garbage list (module docstring).
    Any modification first empties the library's list (``phn_gc_garbage_clear``), so the
    wrappers in this list become the only references."""

    __slots__ = ("_mirrored",)

    def __init__(self):
        super().__init__()
        self._mirrored = 0   # how many of the library's entries are in this list

    def _sync(self) -> None:
        """Append what the collector added to its list since the last call (the lock is
        held: called from the collection's stop callback)."""
        n = int(_lib.phn_gc_garbage_count())
        if n < self._mirrored:   # emptied behind our back (phn_gc_garbage_clear)
            self._mirrored = 0
        out = c_void_p()
        new = []
        for i in range(self._mirrored, n):
            _lib.phn_gc_garbage_get(i, ctypes.byref(out))
            new.append(_wrap(out.value))
        self._mirrored = n
        list.extend(self, new)

    def _detach(self) -> None:
        if self._mirrored:
            self._mirrored = 0
            _lib.phn_gc_garbage_clear()


def _mutator(name):
    method = getattr(list, name)

    def mutate(self, *args, **kwargs):
        with _Locked():   # no collection may mirror into the list meanwhile
            self._detach()
            return method(self, *args, **kwargs)

    mutate.__name__ = name
    mutate.__doc__ = method.__doc__
    return mutate


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert",
              "remove", "pop", "clear"):
    setattr(_Garbage, _name, _mutator(_name))
del _name

#: The uncollectable objects (legacy finalizers) and, with ``DEBUG_SAVEALL``, every
#: unreachable object (a list; see the module docstring).
garbage: List[Object] = _Garbage()
_garbage = garbage

# --------------------------------------------------------------------------------------
# gc.callbacks

#: Callables invoked as ``cb(phase, info)`` at the ``"start"`` and ``"stop"`` of every
#: collection; ``info`` has ``generation``, ``collected`` and ``uncollectable``.
callbacks: List[Any] = []
_callbacks = callbacks


def _c_gc_callback(ctx, phase, info_ptr):
    try:
        info = info_ptr.contents
        phase_name = "start" if phase == _native.PHN_GC_PHASE_START else "stop"
        if phase_name == "stop":
            try:
                _garbage._sync()
            except BaseException as exc:  # noqa: B902
                report_unraisable(exc, _garbage)
        if _deferred:
            _flush_deferred()
        if not _callbacks:
            return 0
        d = {"generation": int(info.generation), "collected": int(info.collected),
             "uncollectable": int(info.uncollectable)}
        i = 0
        while i < len(_callbacks):   # the list may change under us, as in CPython
            cb = _callbacks[i]
            try:
                cb(phase_name, d)
            except BaseException as exc:  # noqa: B902
                report_unraisable(exc, cb)
            i += 1
    except BaseException as exc:  # noqa: B902 - nothing may unwind through C
        report_unraisable(exc, None, "Exception ignored in garbage collection")
    return 0


_C_GC_CALLBACK = _native.keep_alive(_native.phn_gc_callback(_c_gc_callback))
_lib.phn_gc_add_callback(_C_GC_CALLBACK, None)

# --------------------------------------------------------------------------------------
# Debug output and the shutdown report

_shutting_down = False


def _c_output(ctx, line):
    try:
        text = line.decode("utf-8", "replace") if line else ""
        if _shutting_down and text.startswith("gc: ") and "uncollectable objects at shutdown" in text:
            warnings.warn(text, ResourceWarning, stacklevel=3)   # at the call of shutdown()
            return
        stream = sys.stderr
        if stream is not None:
            stream.write(text + "\n")
            stream.flush()
    except BaseException as exc:  # noqa: B902
        report_unraisable(exc, None, "Exception ignored in gc debug output")


_C_OUTPUT = _native.keep_alive(_native.phn_gc_output(_c_output))
_lib.phn_gc_set_debug_output(_C_OUTPUT, None)


def shutdown() -> int:
    """Not in CPython's gc: what CPython does at interpreter exit (``phn_gc_shutdown``).

    A last full collection without callbacks; then, if the collector's garbage list is not
    empty and ``DEBUG_SAVEALL`` is not set, ``ResourceWarning("gc: N uncollectable objects
    at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them")`` (with
    ``DEBUG_UNCOLLECTABLE``: without the hint, and one ``gc: uncollectable <Type 0x...>``
    line per object on ``sys.stderr``). Returns N. The collector stays usable.
    Once :data:`garbage` has been modified, N counts only what collections added since.
    """
    global _shutting_down
    if _deferred:
        _flush_deferred()
    _shutting_down = True
    try:
        n = int(_lib.phn_gc_shutdown())
    finally:
        _shutting_down = False
    _after_call()
    return n
