"""Reference-counted objects of libpyheapnative, from Python (``phn_object.h``,
``phn_weakref.h``): enough to write the collector's scenarios the way CPython's
``test_gc`` writes them with Python classes.

A :class:`Type` describes its references as named **slots** (the library then traverses,
clears and deallocates instances itself, without calling Python) and may add Python
callbacks with the contracts of CPython's slots: ``traverse``, ``clear``, ``finalize``
(PEP 442, ``__del__``) and ``legacy_del`` (``tp_del``, which makes cyclic garbage
uncollectable)::

    from pyheapnative import gc, objects

    Node = objects.Type("Node", slots=("left", "right"), weakrefable=True)
    a = Node()
    a.left = a                # a new reference in a's slot (the old value is released)
    wr = objects.weakref(a)
    del a                     # the Python wrapper's reference goes: only the cycle is left
    assert gc.collect() == 1 and wr() is None

**Wrappers.** A Python :class:`Object` stands for one library object and owns one strong
reference to it (``phn_incref`` when made, ``phn_decref`` when the wrapper dies), so
Python variables behave like CPython's: ``del a`` drops a reference. There is at most one
wrapper per live object: the same address always gives the same wrapper (``is`` works),
and a wrapper exists only while its object lives. Slot values, ``gc.get_objects()`` and
the other listings return wrappers.

**Callbacks.** ``clear``, ``finalize`` and ``legacy_del`` receive the object's wrapper and
may call anything (storing the wrapper somewhere resurrects the object, as storing
``self`` in ``__del__`` does). ``traverse(view, visit)`` is different: the collector calls
it without a runtime transition, so it must call nothing but ``visit`` - it receives a
:class:`View` (a borrowed, read-only view whose slots read as views) and calls
``visit(ref)`` for every reference it owns (``None`` is skipped, as ``Py_VISIT`` does).
An exception in a callback is reported like CPython's "Exception ignored in ..."
(``sys.unraisablehook``) and the library sees a failure.

Threads: reading or writing a slot holds the object heap's lock (``phn_gil_ensure``)
for the duration, as CPython's GIL would.
"""

from __future__ import annotations

import ctypes
import gc as _pygc
import itertools
import keyword
import sys
import threading
import weakref as _pyweakref
from ctypes import c_void_p
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence, Tuple

from . import _native
from ._native import lib as _lib

__all__ = [
    "Type", "Object", "VarObject", "WeakRef", "View",
    "weakref", "getweakrefcount", "refcount", "address_of",
    "TPFLAGS_HAVE_GC", "TPFLAGS_WEAKREFABLE", "TPFLAGS_ITEMS_ARE_REFS", "TPFLAGS_UNTRACK_ATOMIC",
]

TPFLAGS_HAVE_GC = _native.PHN_TPFLAGS_HAVE_GC
TPFLAGS_WEAKREFABLE = _native.PHN_TPFLAGS_WEAKREFABLE
TPFLAGS_ITEMS_ARE_REFS = _native.PHN_TPFLAGS_ITEMS_ARE_REFS
TPFLAGS_UNTRACK_ATOMIC = _native.PHN_TPFLAGS_UNTRACK_ATOMIC

_PTR = ctypes.sizeof(c_void_p)
_HEADER = ctypes.sizeof(_native.phn_object)          # ob_refcnt, ob_type
_VAR_HEADER = ctypes.sizeof(_native.phn_varobject)   # + ob_size
_TYPE_OFFSET = _native.phn_object.ob_type.offset
_SIZE_OFFSET = _native.phn_varobject.ob_size.offset


def _read_ptr(address: int) -> int:
    return c_void_p.from_address(address).value or 0


def _write_ptr(address: int, value: int) -> None:
    c_void_p.from_address(address).value = value or None


# --------------------------------------------------------------------------------------
# Reporting exceptions raised in callbacks (CPython's PyErr_WriteUnraisable)


class _UnraisableHookArgs:
    """What ``sys.unraisablehook`` receives (the attributes of ``sys.UnraisableHookArgs``)."""

    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")

    def __init__(self, exc: BaseException, err_msg: Optional[str], obj: Any):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = err_msg
        self.object = obj


def report_unraisable(exc: BaseException, obj: Any = None, err_msg: Optional[str] = None) -> None:
    """Report *exc*, raised by a callback the library called, as CPython reports an
    exception it cannot propagate: to a custom ``sys.unraisablehook`` if one is installed
    (``test.support.catch_unraisable_exception`` works), else to ``sys.stderr`` in the
    default hook's format ("Exception ignored in: <obj>" and the traceback). Never raises."""
    try:
        hook = getattr(sys, "unraisablehook", None)
        if hook is not None and hook is not getattr(sys, "__unraisablehook__", None):
            hook(_UnraisableHookArgs(exc, err_msg, obj))
            return
        import traceback

        stream = sys.stderr
        if stream is None:
            return
        if err_msg is None:
            err_msg = "Exception ignored in"
        try:
            what = repr(obj)
        except BaseException:  # noqa: B902 - the repr may fail too
            what = "<object repr() failed>"
        stream.write("%s: %s\n" % (err_msg, what) if obj is not None else "%s\n" % err_msg)
        stream.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        stream.flush()
    except BaseException:  # noqa: B902 - nothing may unwind through C
        pass


# --------------------------------------------------------------------------------------
# The heap's lock, and decrefs that must wait

_tls = threading.local()
_deferred = []   # addresses whose decref waits for the end of a no-library section


def _release(address: int) -> None:
    """phn_decref(address), or later if this thread may not call the library now (inside
    a traverse callback, or while it holds borrowed pointers)."""
    if getattr(_tls, "no_library", 0):
        _deferred.append(address)
    else:
        _decref_now(address)


def _decref_now(address: int) -> None:
    if address in _weakref_keys and _lib.phn_refcnt(address) == 1:
        _forget_weakref_callback(address)   # a weak reference dying: its callback never runs
    _lib.phn_decref(address)


def _flush_deferred() -> None:
    while _deferred and not getattr(_tls, "no_library", 0):
        try:
            address = _deferred.pop()
        except IndexError:
            break
        _decref_now(address)


class _Locked:
    """``with _Locked():`` holds the object heap's lock (``phn_gil_ensure``/``release``);
    ``_Locked(borrowing=True)`` also delays the decrefs of wrappers dying meanwhile on
    this thread (Python's own collector may run at any allocation), so that borrowed
    pointers read inside stay valid."""

    __slots__ = ("state", "borrowing")

    def __init__(self, borrowing: bool = False):
        self.borrowing = borrowing
        self.state = None

    def __enter__(self) -> "_Locked":
        self.state = _lib.phn_gil_ensure()
        if self.borrowing:
            _tls.no_library = getattr(_tls, "no_library", 0) + 1
        return self

    def __exit__(self, *exc_info) -> None:
        if self.borrowing:
            _tls.no_library -= 1
        _lib.phn_gil_release(self.state)
        if _deferred:
            _flush_deferred()


# --------------------------------------------------------------------------------------
# Wrappers: one per live object

_wrappers: Dict[int, "_pyweakref.ReferenceType"] = {}
_types_by_address: Dict[int, "Type"] = {}


def _null_error(function: str) -> BaseException:
    """The exception for a NULL returned by *function*: the library's last error (its
    code and message), or a MemoryError when it recorded none."""
    code = int(_lib.phn_last_error_code())
    if code >= 0:
        code = _native.PHN_ENOMEM
    return _native.error_from_status(code, function, _native.last_error_message() or None)


def _class_of(address: int) -> type:
    tp = _read_ptr(address + _TYPE_OFFSET)
    t = _types_by_address.get(tp)
    if t is None:
        t = Type._foreign(tp, bool(_lib.phn_weakref_check(address)))
    return t.cls


def _wrap(address: int, new_reference: bool = False) -> "Object":
    """The wrapper of the live object at *address*. A borrowed pointer must be wrapped
    with the heap's lock held (a _Locked section or a library callback); with
    ``new_reference`` the caller's reference is handed to the wrapper."""
    r = _wrappers.get(address)
    if r is not None:
        o = r()
        if o is not None and o._address == address:
            if new_reference:
                _release(address)
            return o
    if not new_reference:
        _lib.phn_incref(address)
    o = object.__new__(_class_of(address))
    o._address = address
    _wrappers[address] = _pyweakref.ref(o)
    return o


def _wrap_or_none(address: Optional[int]) -> Optional["Object"]:
    return _wrap(address) if address else None


def address_of(obj: Any) -> int:
    """The address of a wrapper's object (:class:`Object` or :class:`View`); ``TypeError``
    for anything else."""
    if isinstance(obj, (Object, View)):
        a = obj._address
        if not a:
            raise ValueError("the wrapper has been released")
        return a
    raise TypeError("expected a pyheapnative object, not %s" % type(obj).__name__)


def _ref_address(value: Any, what: str) -> int:
    """0 for None, the address of an Object, else TypeError."""
    if value is None:
        return 0
    if isinstance(value, Object):
        return value._address
    raise TypeError("%s must be a pyheapnative object or None, not %s" % (what, type(value).__name__))


class Object:
    """A library object (``phn_object*``) seen from Python; owns one strong reference.

    Instances are made by calling a :class:`Type`, or returned by slot reads,
    :func:`weakref` and the :mod:`pyheapnative.gc` listings; never construct one directly.
    Each :class:`Type` has its own subclass (``Type.cls``) whose slot attributes read and
    write the references.
    """

    __slots__ = ("_address", "__weakref__")
    _phn_type: "Type"

    def __init__(self, *args, **kwargs):
        raise TypeError("create objects by calling their pyheapnative.objects.Type")

    @property
    def address(self) -> int:
        """The object's address (``phn_object*``), stable for its lifetime."""
        return self._address

    @property
    def type(self) -> "Type":
        """The object's :class:`Type`."""
        return self._phn_type

    @property
    def refcnt(self) -> int:
        """``phn_refcnt``: the reference count, this wrapper's own reference included."""
        return int(_lib.phn_refcnt(self._address))

    def track(self) -> None:
        """``PyObject_GC_Track`` for an object created with ``track=False`` (a fatal error
        if it is already tracked, as in CPython)."""
        _lib.phn_gc_track(self._address)

    def untrack(self) -> None:
        """``PyObject_GC_UnTrack`` (no-op if not tracked)."""
        _lib.phn_gc_untrack(self._address)

    def call_finalizer(self) -> None:
        """``PyObject_CallFinalizer``: run the type's finalizer once."""
        _lib.phn_object_call_finalizer(self._address)

    def __repr__(self) -> str:
        return "<%s object at %#x>" % (self._phn_type.name, self._address)

    def __reduce__(self):
        raise TypeError("cannot pickle %r object" % self._phn_type.name)

    def __del__(self):
        address = getattr(self, "_address", 0)
        if not address:
            return
        self._address = 0
        try:
            # Forget the wrapper first: the decref below may run callbacks that wrap this
            # address again (they must get a new wrapper, not this dying one).
            r = _wrappers.get(address)
            if r is not None:
                o = r()
                if o is None or o is self:
                    _wrappers.pop(address, None)
            if sys.is_finalizing():
                return  # never call the library while the interpreter shuts down: leak
            _release(address)
        except Exception:
            pass


class VarObject(Object):
    """An object of a :class:`Type` made with ``items=True``: a fixed number of reference
    items after the slots (``PHN_TPFLAGS_ITEMS_ARE_REFS``), read and written with
    ``obj[i]``; ``len(obj)`` is ``ob_size``."""

    __slots__ = ()

    def __len__(self) -> int:
        return int(ctypes.c_ssize_t.from_address(self._address + _SIZE_OFFSET).value)

    def _item_address(self, index: int) -> int:
        n = len(self)
        i = index.__index__()
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("%s index out of range" % self._phn_type.name)
        return self._address + self._phn_type.basicsize + i * _PTR

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        with _Locked():
            return _wrap_or_none(_read_ptr(self._item_address(index)))

    def __setitem__(self, index, value) -> None:
        _store(self, self._item_address(index), _ref_address(value, "an item"))

    def __delitem__(self, index) -> None:
        _store(self, self._item_address(index), 0)

    def __iter__(self) -> Iterator[Optional[Object]]:
        for i in range(len(self)):
            yield self[i]


def _store(owner: Object, field: int, new: int) -> None:
    """PHN_XSETREF(field, new reference to new): the field is written with the heap's lock
    held; the old value is released after."""
    with _Locked():
        if new:
            _lib.phn_incref(new)
        old = _read_ptr(field)
        _write_ptr(field, new)
    if old:
        _lib.phn_decref(old)


class _Slot:
    """A reference slot of a Type's class: reads give the referent's wrapper (or None),
    writes store a new reference and release the old one, ``del`` clears it."""

    __slots__ = ("name", "offset")

    def __init__(self, name: str, offset: int):
        self.name = name
        self.offset = offset

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        with _Locked():
            return _wrap_or_none(_read_ptr(obj._address + self.offset))

    def __set__(self, obj, value) -> None:
        _store(obj, obj._address + self.offset, _ref_address(value, "slot %r" % self.name))

    def __delete__(self, obj) -> None:
        _store(obj, obj._address + self.offset, 0)

    def __repr__(self):
        return "<slot %r at offset %d>" % (self.name, self.offset)


# --------------------------------------------------------------------------------------
# Views (what a Python traverse callback sees)


class View:
    """A borrowed, read-only view of an object, given to Python ``traverse`` callbacks:
    making or dropping one calls nothing in the library (no reference count changes).
    Slots read as views (or None); :meth:`refs` yields every reference the object's
    layout holds. Valid only during the callback."""

    __slots__ = ("_address", "_phn_type")

    def __init__(self, address: int):
        self._address = address
        tp = _read_ptr(address + _TYPE_OFFSET)
        self._phn_type = _types_by_address.get(tp)

    @property
    def address(self) -> int:
        """The object's address."""
        return self._address

    @property
    def type(self) -> Optional["Type"]:
        """The object's :class:`Type` (None for a type this module has not seen)."""
        return self._phn_type

    def _ref(self, offset: int) -> Optional["View"]:
        a = _read_ptr(self._address + offset)
        return View(a) if a else None

    def __getattr__(self, name: str):
        t = self._phn_type
        if t is not None and name in t.slots:
            return self._ref(_HEADER_FOR[t.items] + t.slots.index(name) * _PTR)
        raise AttributeError("%r view has no slot %r" % (t.name if t else "?", name))

    def __len__(self) -> int:
        t = self._phn_type
        if t is None or not t.items:
            return 0
        return int(ctypes.c_ssize_t.from_address(self._address + _SIZE_OFFSET).value)

    def __getitem__(self, index: int) -> Optional["View"]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("view index out of range")
        return self._ref(self._phn_type.basicsize + index * _PTR)

    def refs(self) -> Iterator["View"]:
        """Every non-NULL reference of the layout: slots in order, then items."""
        t = self._phn_type
        if t is None:
            return
        base = _HEADER_FOR[t.items]
        for i in range(len(t.slots)):
            r = self._ref(base + i * _PTR)
            if r is not None:
                yield r
        for i in range(len(self)):
            r = self._ref(t.basicsize + i * _PTR)
            if r is not None:
                yield r

    def __eq__(self, other):
        if isinstance(other, (View, Object)):
            return self._address == other._address
        return NotImplemented

    def __hash__(self):
        return hash(self._address)

    def __repr__(self):
        return "<view of %s object at %#x>" % (self._phn_type.name if self._phn_type else "?", self._address)


_HEADER_FOR = {False: _HEADER, True: _VAR_HEADER}

# --------------------------------------------------------------------------------------
# Types


class _Traversal:
    """The visit function given to a Python traverse: skips None, calls the C visitor
    with the address, and remembers the first non-zero result (after which the traversal
    is over and further visits do nothing)."""

    __slots__ = ("visit", "arg", "result")

    def __init__(self, visit, arg):
        self.visit = visit
        self.arg = arg
        self.result = 0

    def __call__(self, ref) -> int:
        if self.result:
            return self.result
        if ref is None:
            return 0
        if isinstance(ref, (Object, View)):
            address = ref._address
        elif isinstance(ref, int) and not isinstance(ref, bool):
            address = ref
        else:
            raise TypeError("visit() takes a pyheapnative object, a View, an address or None, not %s"
                            % type(ref).__name__)
        if not address:
            return 0
        rc = self.visit(address, self.arg)
        if rc:
            self.result = rc
        return rc


def _check_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError("%s must be callable or None, not %s" % (name, type(value).__name__))
    return value


class Type:
    """A type of library objects (``phn_type_new``), described by named reference slots
    and optional Python callbacks.

    ``Type(name, slots=(), *, gc=True, weakrefable=False, items=False,
    untrack_atomic=False, traverse=None, clear=None, finalize=None, legacy_del=None)``

    * *slots*: names of the ``phn_object*`` fields (after the header, 8 bytes each); the
      library traverses, clears and releases them unless callbacks say otherwise;
    * *gc*: ``PHN_TPFLAGS_HAVE_GC`` - instances have a GC header and are tracked;
    * *weakrefable*: ``PHN_TPFLAGS_WEAKREFABLE`` - :func:`weakref` accepts instances;
    * *items*: a variable-size type whose items are references
      (``PHN_TPFLAGS_ITEMS_ARE_REFS``): ``T(items=[...])`` or ``T(size=n)``;
    * *untrack_atomic*: ``PHN_TPFLAGS_UNTRACK_ATOMIC`` (CPython's tuple optimisation; for
      immutable containers);
    * *traverse(view, visit)*, *clear(obj)*, *finalize(obj)*, *legacy_del(obj)*: Python
      callbacks with the contracts of ``tp_traverse``, ``tp_clear``, ``tp_finalize`` and
      ``tp_del`` (see the module docstring). Their return value is ignored (``clear`` may
      return a non-zero int to report a failure); an exception is reported as
      unraisable and counts as a failure.

    Calling the type creates an instance: positional and keyword arguments fill the
    slots; ``track=False`` creates a GC object untracked (``PyObject_GC_New``). Types live
    until the process ends (the library never frees them), and so do their callbacks.
    ``isinstance(obj, T)`` works; ``T.cls`` is the Python class of the instances.
    """

    def __init__(self, name: str, slots: Sequence[str] = (), *, gc: bool = True, weakrefable: bool = False,
                 items: bool = False, untrack_atomic: bool = False,
                 traverse: Optional[Callable] = None, clear: Optional[Callable] = None,
                 finalize: Optional[Callable] = None, legacy_del: Optional[Callable] = None):
        if not isinstance(name, str) or not name:
            raise TypeError("name must be a non-empty str")
        if isinstance(slots, str):
            slots = (slots,)
        slots = tuple(slots)
        reserved = set(dir(VarObject)) | {"cls"}
        for s in slots:
            if not isinstance(s, str) or not s.isidentifier() or keyword.iskeyword(s):
                raise ValueError("slot names must be identifiers, got %r" % (s,))
            if s.startswith("_") or s in reserved:
                raise ValueError("slot name %r is reserved" % s)
        if len(set(slots)) != len(slots):
            raise ValueError("duplicate slot names in %r" % (slots,))
        for cb_name, cb in (("traverse", traverse), ("clear", clear), ("finalize", finalize),
                            ("legacy_del", legacy_del)):
            _check_callable(cb, cb_name)
        flags = 0
        if gc:
            flags |= TPFLAGS_HAVE_GC
        if weakrefable:
            flags |= TPFLAGS_WEAKREFABLE
        if items:
            flags |= TPFLAGS_ITEMS_ARE_REFS
        if untrack_atomic:
            flags |= TPFLAGS_UNTRACK_ATOMIC
        header = _HEADER_FOR[bool(items)]
        self.name = name
        self.slots: Tuple[str, ...] = slots
        self.items = bool(items)
        self.basicsize = header + _PTR * len(slots)
        self._callbacks = {"traverse": traverse, "clear": clear, "finalize": finalize, "legacy_del": legacy_del}

        spec = _native.phn_type_spec()
        spec.struct_size = ctypes.sizeof(spec)
        spec.flags = flags
        self._name_bytes = name.encode("utf-8")
        spec.name = self._name_bytes
        spec.basicsize = self.basicsize
        spec.itemsize = _PTR if items else 0
        self._offsets = (ctypes.c_uint32 * max(len(slots), 1))(*(header + _PTR * i for i in range(len(slots))))
        spec.ref_offsets = self._offsets if slots else None
        spec.ref_count = len(slots)
        # The C callbacks live as long as this object, which the registry keeps forever.
        self._cfuncs = []
        if traverse is not None:
            spec.traverse = self._keep(_native.phn_traverseproc(self._make_traverse(traverse)))
        if clear is not None:
            spec.clear = self._keep(_native.phn_inquiry(self._make_slot(clear, "tp_clear", allow_int=True)))
        if finalize is not None:
            spec.finalize = self._keep(_native.phn_finalizer(self._make_slot(finalize, "tp_finalize")))
        if legacy_del is not None:
            setattr(spec, "del", self._keep(_native.phn_finalizer(self._make_slot(legacy_del, "tp_del"))))
        address = _lib.phn_type_new(ctypes.byref(spec))
        if not address:
            raise _null_error("phn_type_new")
        self.address: int = address
        self.flags: int = int(_lib.phn_type_flags(address))
        self.cls = self._make_class(VarObject if items else Object)
        _types_by_address[address] = self

    def _keep(self, cfunc):
        self._cfuncs.append(cfunc)
        return cfunc

    def _make_class(self, base: type) -> type:
        ns = {"__slots__": (), "_phn_type": self, "__module__": __name__, "__doc__": "Instances of the %s type." % self.name}
        header = _HEADER_FOR[self.items]
        for i, s in enumerate(self.slots):
            ns[s] = _Slot(s, header + _PTR * i)
        return type(self.name, (base,), ns)

    @classmethod
    def _foreign(cls, address: int, is_weakref: bool) -> "Type":
        """A Type for a phn_type* this module did not create (the library's weakref type,
        a type made through the raw bindings): no slots, no callbacks."""
        t = object.__new__(cls)
        raw = _lib.phn_type_name(address)
        t.name = raw.decode("utf-8", "replace") if raw else "?"
        t.slots = ()
        t.items = False
        t.basicsize = 0
        t._callbacks = {}
        t._cfuncs = []
        t.address = address
        t.flags = int(_lib.phn_type_flags(address))
        t.cls = t._make_class(WeakRef if is_weakref else Object)
        _types_by_address[address] = t
        return t

    # -- the trampolines ---------------------------------------------------------------

    def _make_traverse(self, func):
        def c_traverse(address, visit, arg):
            # Nothing may call the library from here: wrappers dying meanwhile defer their
            # decrefs, and Python's own collector (whose finalizers could free blocks) is
            # off for the duration (only the thread holding the heap's lock traverses).
            _tls.no_library = getattr(_tls, "no_library", 0) + 1
            pygc_was_enabled = _pygc.isenabled()
            if pygc_was_enabled:
                _pygc.disable()
            try:
                traversal = _Traversal(visit, arg)
                rv = func(View(address), traversal)
                if traversal.result:
                    return traversal.result
                return int(rv) if isinstance(rv, int) and not isinstance(rv, bool) else 0
            except BaseException as exc:  # noqa: B902 - nothing may unwind through C
                report_unraisable(exc, func, "Exception ignored in tp_traverse of %s" % self.name)
                return 0
            finally:
                if pygc_was_enabled:
                    _pygc.enable()
                _tls.no_library -= 1

        return c_traverse

    def _make_slot(self, func, what, allow_int=False):
        def c_slot(address):
            obj = None
            try:
                obj = _wrap(address)   # the library holds the lock during the call
                rv = func(obj)
                obj = None
                if allow_int and isinstance(rv, int) and not isinstance(rv, bool):
                    return rv
                return 0
            except BaseException as exc:  # noqa: B902
                # (a hook that keeps the traceback keeps the callback's frame, hence the
                # object, alive: a resurrection, as with CPython's __del__)
                obj = None
                report_unraisable(exc, func, "Exception ignored in %s of %s object" % (what, self.name))
                return -1

        return c_slot

    # -- instances ---------------------------------------------------------------------

    @property
    def gc(self) -> bool:
        """True for a GC type (``PHN_TPFLAGS_HAVE_GC``)."""
        return bool(self.flags & TPFLAGS_HAVE_GC)

    @property
    def weakrefable(self) -> bool:
        """True if instances can be weakly referenced."""
        return bool(self.flags & TPFLAGS_WEAKREFABLE)

    def __call__(self, *args, items: Optional[Iterable] = None, size: Optional[int] = None,
                 track: bool = True, **kwargs) -> Object:
        """Create an instance (``phn_object_new``/``_new_var``, or ``phn_gc_new``/
        ``_new_var`` with ``track=False``): positional then keyword arguments fill the
        slots, *items* (or *size* NULL items) the items of a variable-size type."""
        if len(args) > len(self.slots):
            raise TypeError("%s() takes at most %d slot values (%d given)" % (self.name, len(self.slots), len(args)))
        values = dict(zip(self.slots, args))
        for k, v in kwargs.items():
            if k not in self.slots:
                raise TypeError("%s() has no slot %r" % (self.name, k))
            if k in values:
                raise TypeError("%s() got multiple values for slot %r" % (self.name, k))
            values[k] = v
        for k, v in values.items():
            _ref_address(v, "slot %r" % k)
        item_list = None
        if self.items:
            if items is not None:
                item_list = list(items)
                for v in item_list:
                    _ref_address(v, "an item")
                n = len(item_list)
                if size is not None and size != n:
                    raise ValueError("size and items disagree")
            else:
                n = 0 if size is None else _native.as_int(size, "size")
                if n < 0:
                    raise ValueError("size must not be negative")
        elif items is not None or size is not None:
            raise TypeError("%s is not a variable-size type" % self.name)
        if _deferred:
            _flush_deferred()
        if self.items:
            fn = _lib.phn_object_new_var if track else _lib.phn_gc_new_var
            address = fn(self.address, n)
        else:
            fn = _lib.phn_object_new if track else _lib.phn_gc_new
            address = fn(self.address)
        if not address:
            raise _null_error(fn.__name__)
        obj = _wrap(address, new_reference=True)
        for k, v in values.items():
            if v is not None:
                setattr(obj, k, v)
        if item_list:
            for i, v in enumerate(item_list):
                if v is not None:
                    obj[i] = v
        return obj

    def __instancecheck__(self, obj) -> bool:
        return isinstance(obj, Object) and obj._phn_type is self

    def __repr__(self) -> str:
        return "<pyheapnative type %r slots=%r flags=%#x>" % (self.name, self.slots, self.flags)


# --------------------------------------------------------------------------------------
# Weak references

_weakref_callbacks: Dict[int, Callable] = {}   # ctx key -> Python callback
_weakref_keys: Dict[int, int] = {}             # weakref address -> ctx key
_keys = itertools.count(1)


def _forget_weakref_callback(address: int) -> None:
    key = _weakref_keys.pop(address, None)
    if key is not None:
        _weakref_callbacks.pop(key, None)


def _c_weakref_callback(ctx, weakref_address):
    key = ctx or 0
    callback = _weakref_callbacks.pop(key, None)
    if _weakref_keys.get(weakref_address) == key:
        del _weakref_keys[weakref_address]
    if callback is None:
        return 0
    try:
        wr = _wrap(weakref_address)   # borrowed; the library holds a reference and the lock
        callback(wr)
        del wr
        return 0
    except BaseException as exc:  # noqa: B902
        report_unraisable(exc, callback)
        return -1


_C_WEAKREF_CALLBACK = _native.keep_alive(_native.phn_weakref_callback(_c_weakref_callback))


class WeakRef(Object):
    """A weak reference (the library's ``weakref`` type), made by :func:`weakref`. Calling
    it returns the referent's wrapper, or None once the referent is dead."""

    __slots__ = ()

    def __call__(self) -> Optional[Object]:
        out = c_void_p()
        with _Locked():
            alive = _lib.phn_weakref_get_ref(self._address, ctypes.byref(out))
            if alive and out.value:
                return _wrap(out.value, new_reference=True)
        return None

    @property
    def __callback__(self) -> Optional[Callable]:
        """The callback given to :func:`weakref` (None once it has been called)."""
        key = _weakref_keys.get(self._address)
        return _weakref_callbacks.get(key) if key is not None else None

    def __repr__(self):
        target = self()
        if target is None:
            return "<weakref at %#x; dead>" % self._address
        return "<weakref at %#x; to %r at %#x>" % (self._address, target.type.name, target.address)


def weakref(obj: Object, callback: Optional[Callable[[WeakRef], Any]] = None) -> WeakRef:
    """``weakref.ref(obj, callback)``: a weak reference to *obj*, whose type must be
    weakrefable (else ``TypeError("cannot create weak reference to 'Node' object")``).

    *callback(wr)* is called once with the weak reference when the referent dies (if the
    weak reference itself is still alive then); an exception in it is reported as
    unraisable. Without a callback the weak reference is shared: asking twice gives the
    same object.
    """
    if not isinstance(obj, Object):
        raise TypeError("cannot create weak reference to %r object" % type(obj).__name__)
    _check_callable(callback, "callback")
    if _deferred:
        _flush_deferred()
    if callback is None:
        address = _lib.phn_weakref_new(obj._address, _native.phn_weakref_callback(), None)
    else:
        key = next(_keys)
        _weakref_callbacks[key] = callback
        address = _lib.phn_weakref_new(obj._address, _C_WEAKREF_CALLBACK, key)
        if address:
            _weakref_keys[address] = key
        else:
            _weakref_callbacks.pop(key, None)
    if not address:
        message = _native.last_error_message()
        if message.startswith("cannot create weak reference"):
            raise _native.NativeTypeError(message, int(_lib.phn_last_error_code()), "phn_weakref_new")
        raise _null_error("phn_weakref_new")
    return _wrap(address, new_reference=True)


def getweakrefcount(obj: Object) -> int:
    """``weakref.getweakrefcount``: the number of live weak references to *obj*."""
    if not isinstance(obj, Object):
        return 0
    return int(_lib.phn_weakref_count(obj._address))


def refcount(obj: Object) -> int:
    """``sys.getrefcount``-like: the object's reference count (its wrapper's included)."""
    return int(_lib.phn_refcnt(address_of(obj)))
