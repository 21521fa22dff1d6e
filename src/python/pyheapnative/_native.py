"""Loading libpyheapnative and declaring its C API.

This is the only module that talks to the shared library directly. It

* finds the library (``PYHEAPNATIVE_LIBRARY``, then ``pyheapnative/_lib/``, then
  ``<repo>/artifacts/lib/`` of a source checkout, then the system search path),
* mirrors every numeric ``#define`` of ``include/pyheapnative/*.h`` as a ``PHN_*`` constant,
* declares the structs (:class:`phn_allocator`, :class:`phn_arena_allocator`,
  :class:`phn_size_class_stats`, :class:`phn_stats`, :class:`phn_frame`,
  :class:`phn_trace`, :class:`phn_filter`, :class:`phn_statistic`, :class:`phn_object`,
  :class:`phn_varobject`, :class:`phn_type_spec`, :class:`phn_gc_stats`,
  :class:`phn_gc_info`) and the callback types with the header's exact field order and
  types; the opaque ``phn_snapshot*``, ``phn_statistics*`` and ``phn_type*`` handles are
  ``c_void_p``, and so are object pointers (``phn_object*``) in the function table, so that
  objects are plain ints on the Python side,
* declares ``argtypes``/``restype`` for every exported function in one table
  (:data:`FUNCTIONS`), attaching an ``errcheck`` to the status-returning ones so that a
  negative ``PHN_E*`` status raises :class:`PyHeapNativeError` (a ``ValueError`` for
  ``PHN_EINVAL``, a ``MemoryError`` for ``PHN_ENOMEM``, a ``RuntimeError`` otherwise)
  carrying ``phn_last_error_message()``,
* checks ``phn_version()`` against :data:`EXPECTED_VERSION` and calls ``phn_init()``.

The library is never unloaded (Native AOT libraries cannot be ``dlclose``\\ d).

Note on sizes: ctypes converts Python ints to ``size_t`` *modulo 2**64* without any error
(``-1`` becomes ``SIZE_MAX`` and ``2**64`` becomes ``0``). Callers of the raw functions in
this module must range-check sizes themselves; :mod:`pyheapnative.mem` does.
"""

from __future__ import annotations

import ctypes
import operator
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_ssize_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# --------------------------------------------------------------------------------------
# Versions

#: Version of this Python package.
PACKAGE_VERSION = "0.1.0"

# phn_config.h
PHN_VERSION_MAJOR = 0
PHN_VERSION_MINOR = 1
PHN_VERSION_PATCH = 0
PHN_VERSION = PHN_VERSION_MAJOR * 10000 + PHN_VERSION_MINOR * 100 + PHN_VERSION_PATCH
PHN_ABI_VERSION = 0

#: The PHN_VERSION of the library this package was written against; ``phn_version()`` of the
#: loaded binary must equal it.
EXPECTED_VERSION = PHN_VERSION

# --------------------------------------------------------------------------------------
# Constants (every numeric #define of the headers, same names)

# Status codes (phn_config.h)
PHN_OK = 0
PHN_EINVAL = -1
PHN_ENOMEM = -2
PHN_ESTATE = -3
PHN_EINTERNAL = -4
PHN_ENOTSUP = -5
PHN_ECORRUPT = -6
PHN_ECALLBACK = -7  # given to the error handler only, never returned

STATUS_NAMES: Dict[int, str] = {
    PHN_OK: "PHN_OK",
    PHN_EINVAL: "PHN_EINVAL",
    PHN_ENOMEM: "PHN_ENOMEM",
    PHN_ESTATE: "PHN_ESTATE",
    PHN_EINTERNAL: "PHN_EINTERNAL",
    PHN_ENOTSUP: "PHN_ENOTSUP",
    PHN_ECORRUPT: "PHN_ECORRUPT",
    PHN_ECALLBACK: "PHN_ECALLBACK",
}

# Domains (phn_alloc.h)
PHN_DOMAIN_RAW = 0
PHN_DOMAIN_MEM = 1
PHN_DOMAIN_OBJ = 2

# pymalloc geometry (phn_stats.h)
PHN_ALIGNMENT = 16
PHN_SMALL_REQUEST_THRESHOLD = 512
PHN_NB_SMALL_SIZE_CLASSES = 32
PHN_POOL_SIZE = 16384
PHN_POOL_OVERHEAD = 48
PHN_ARENA_SIZE = 1048576
PHN_MAX_POOLS_IN_ARENA = 64
PHN_STATS_VERSION = 1

# tracemalloc (phn_trace.h)
PHN_TRACEMALLOC_MAX_NFRAME = 65535
PHN_TRACE_DOMAIN_DEFAULT = 0
PHN_FILTER_ANY_LINE = -1
PHN_FILTER_ANY_DOMAIN = -1
PHN_KEY_FILENAME = 0
PHN_KEY_LINENO = 1
PHN_KEY_TRACEBACK = 2

# Objects (phn_object.h)
PHN_TPFLAGS_HAVE_GC = 1 << 0
PHN_TPFLAGS_WEAKREFABLE = 1 << 1
PHN_TPFLAGS_ITEMS_ARE_REFS = 1 << 2
PHN_TPFLAGS_UNTRACK_ATOMIC = 1 << 3
PHN_IMMORTAL_REFCNT = 3 << 30
PHN_TRASHCAN_DEPTH = 50

# Collector (phn_gc.h)
PHN_GC_NUM_GENERATIONS = 3
PHN_GC_DEBUG_STATS = 1
PHN_GC_DEBUG_COLLECTABLE = 2
PHN_GC_DEBUG_UNCOLLECTABLE = 4
PHN_GC_DEBUG_SAVEALL = 32
PHN_GC_DEBUG_LEAK = PHN_GC_DEBUG_COLLECTABLE | PHN_GC_DEBUG_UNCOLLECTABLE | PHN_GC_DEBUG_SAVEALL
PHN_GC_PHASE_START = 0
PHN_GC_PHASE_STOP = 1

# The object heap's lock (phn_gil.h)
PHN_GIL_LOCKED = 0
PHN_GIL_UNLOCKED = 1

# Fault injection (phn_testing.h)
PHN_FAULT_NONE = 0
PHN_FAULT_THROW_IN_NEW_ARENA = 1
PHN_FAULT_THROW_IN_STATS = 2

#: PY_SSIZE_T_MAX / PTRDIFF_MAX on 64-bit: the largest size the binding passes on.
SIZE_LIMIT = 2**63 - 1
#: SIZE_MAX + 1 on 64-bit: pointers are ints in [0, POINTER_LIMIT).
POINTER_LIMIT = 2**64
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# --------------------------------------------------------------------------------------
# Errors


class PyHeapNativeError(Exception):
    """A call into libpyheapnative returned a negative ``PHN_E*`` status.

    ``str(error)`` is the library's ``phn_last_error_message()``; :attr:`code` is the
    status and :attr:`function` the name of the C function that failed. Concrete errors
    also derive from the matching built-in exception (see :func:`error_from_status`).
    """

    def __init__(self, message: str, code: Optional[int] = None, function: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.function = function

    @property
    def code_name(self) -> str:
        """The ``PHN_E*`` name of :attr:`code`."""
        return STATUS_NAMES.get(self.code, str(self.code))


class InvalidArgumentError(PyHeapNativeError, ValueError):
    """``PHN_EINVAL``: an argument is invalid (NULL, unknown domain, bad size)."""


class NativeMemoryError(PyHeapNativeError, MemoryError):
    """``PHN_ENOMEM``: memory could not be obtained."""


class NativeRuntimeError(PyHeapNativeError, RuntimeError):
    """Any other negative status (``PHN_ESTATE``, ``PHN_EINTERNAL``, ``PHN_ENOTSUP``)."""


class HeapCorruptionError(NativeRuntimeError):
    """``PHN_ECORRUPT``: a heap invariant does not hold (``phn_validate``)."""


class NativeTypeError(PyHeapNativeError, TypeError):
    """A ``PHN_EINVAL`` that Python reports as a ``TypeError``: the library refused an
    object of the wrong type (``cannot create weak reference to 'Node' object``)."""


def error_from_status(status: int, function: str, message: Optional[str] = None) -> PyHeapNativeError:
    """Build the exception for a negative *status* returned by the C function *function*.

    *message* defaults to ``phn_last_error_message()`` of the calling thread, which must
    therefore be read right after the failing call (the error-check hook does so).
    """
    if message is None:
        message = last_error_message()
    if not message:
        message = "%s failed with %s (%d)" % (function, STATUS_NAMES.get(status, "status"), status)
    if status == PHN_EINVAL:
        cls = InvalidArgumentError
    elif status == PHN_ENOMEM:
        cls = NativeMemoryError
    elif status == PHN_ECORRUPT:
        cls = HeapCorruptionError
    else:
        cls = NativeRuntimeError
    return cls(message, status, function)


def _check_status(result, func, args):
    """errcheck of the status-returning functions: raise on a negative result."""
    if result is not None and result < 0:
        raise error_from_status(int(result), getattr(func, "__name__", "phn_?"))
    return result


# --------------------------------------------------------------------------------------
# Callback types and structs (phn_alloc.h, phn_runtime.h, phn_stats.h)

#: ``void* (*)(void* ctx, size_t size)`` - phn_allocator.malloc
MALLOC_FUNC = CFUNCTYPE(c_void_p, c_void_p, c_size_t)
#: ``void* (*)(void* ctx, size_t nelem, size_t elsize)`` - phn_allocator.calloc
CALLOC_FUNC = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_size_t)
#: ``void* (*)(void* ctx, void* ptr, size_t new_size)`` - phn_allocator.realloc
REALLOC_FUNC = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t)
#: ``void (*)(void* ctx, void* ptr)`` - phn_allocator.free
FREE_FUNC = CFUNCTYPE(None, c_void_p, c_void_p)
#: ``void* (*)(void* ctx, size_t size)`` - phn_arena_allocator.alloc
ARENA_ALLOC_FUNC = CFUNCTYPE(c_void_p, c_void_p, c_size_t)
#: ``void (*)(void* ctx, void* ptr, size_t size)`` - phn_arena_allocator.free
ARENA_FREE_FUNC = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)
#: ``phn_error_handler``: ``void (*)(void* ctx, int32_t code, const char* message)``
phn_error_handler = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)
#: ``phn_fatal_handler``: ``void (*)(void* ctx, const char* message)``
phn_fatal_handler = CFUNCTYPE(None, c_void_p, c_char_p)


class phn_allocator(Structure):
    """``phn_allocator`` (CPython's PyMemAllocatorEx), 40 bytes on 64-bit.

    A NULL function pointer reads back as a false function object (``bool(a.malloc)`` is
    ``False``). Keep the callback objects of a struct you install alive for the rest of the
    process: the library may call them long after (``pyheapnative.mem.set_allocator`` does
    this for you).
    """

    _fields_ = [
        ("ctx", c_void_p),
        ("malloc", MALLOC_FUNC),
        ("calloc", CALLOC_FUNC),
        ("realloc", REALLOC_FUNC),
        ("free", FREE_FUNC),
    ]

    def _addresses(self) -> Tuple[int, ...]:
        return (self.ctx or 0,) + tuple(
            ctypes.cast(getattr(self, name), c_void_p).value or 0 for name in ("malloc", "calloc", "realloc", "free")
        )

    def __eq__(self, other):
        if not isinstance(other, phn_allocator):
            return NotImplemented
        return self._addresses() == other._addresses()

    __hash__ = None  # mutable

    def __repr__(self):
        return "phn_allocator(ctx=%s, malloc=%s, calloc=%s, realloc=%s, free=%s)" % tuple(
            hex(a) for a in self._addresses()
        )


class phn_arena_allocator(Structure):
    """``phn_arena_allocator`` (CPython's PyObjectArenaAllocator), 24 bytes on 64-bit."""

    _fields_ = [
        ("ctx", c_void_p),
        ("alloc", ARENA_ALLOC_FUNC),
        ("free", ARENA_FREE_FUNC),
    ]

    def _addresses(self) -> Tuple[int, ...]:
        return (self.ctx or 0,) + tuple(ctypes.cast(getattr(self, name), c_void_p).value or 0 for name in ("alloc", "free"))

    def __eq__(self, other):
        if not isinstance(other, phn_arena_allocator):
            return NotImplemented
        return self._addresses() == other._addresses()

    __hash__ = None

    def __repr__(self):
        return "phn_arena_allocator(ctx=%s, alloc=%s, free=%s)" % tuple(hex(a) for a in self._addresses())


class phn_size_class_stats(Structure):
    """``phn_size_class_stats``: one pymalloc size class (40 bytes)."""

    _fields_ = [
        ("block_size", c_uint32),
        ("blocks_per_pool", c_uint32),
        ("pools", c_uint64),
        ("full_pools", c_uint64),
        ("blocks_in_use", c_uint64),
        ("blocks_available", c_uint64),
    ]


class phn_stats(Structure):
    """``phn_stats``: size-prefixed pymalloc statistics (set ``struct_size`` first)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("version", c_uint32),
        ("arenas_allocated_total", c_uint64),
        ("arenas_reclaimed", c_uint64),
        ("arenas_highwater", c_uint64),
        ("arenas_allocated_current", c_uint64),
        ("arena_size", c_uint64),
        ("pool_size", c_uint64),
        ("unused_pools", c_uint64),
        ("bytes_in_allocated_blocks", c_uint64),
        ("bytes_in_available_blocks", c_uint64),
        ("bytes_in_unused_pools", c_uint64),
        ("bytes_lost_to_pool_headers", c_uint64),
        ("bytes_lost_to_quantization", c_uint64),
        ("bytes_lost_to_arena_alignment", c_uint64),
        ("allocated_blocks", c_uint64),
        ("raw_allocated_blocks", c_uint64),
        ("arena_map_mid_nodes", c_uint64),
        ("arena_map_bot_nodes", c_uint64),
        ("bytes_lost_to_arena_map_root", c_uint64),
        ("bytes_lost_to_arena_map_mid", c_uint64),
        ("bytes_lost_to_arena_map_bot", c_uint64),
        ("num_size_classes", c_uint32),
        ("reserved", c_uint32),
        ("size_classes", phn_size_class_stats * PHN_NB_SMALL_SIZE_CLASSES),
    ]


class phn_frame(Structure):
    """``phn_frame``: a file name (NUL-terminated UTF-8) and a line (16 bytes)."""

    _fields_ = [
        ("filename", c_char_p),
        ("lineno", c_uint32),
        ("reserved", c_uint32),
    ]


class phn_trace(Structure):
    """``phn_trace``: one trace of a snapshot; ``frames`` belong to the snapshot (32 bytes)."""

    _fields_ = [
        ("domain", c_uint32),
        ("nframe", c_uint32),
        ("total_nframe", c_uint32),
        ("reserved", c_uint32),
        ("size", c_uint64),
        ("frames", POINTER(phn_frame)),
    ]


class phn_filter(Structure):
    """``phn_filter`` (tracemalloc.Filter / DomainFilter, 32 bytes). Keep the bytes object
    assigned to ``filename_pattern`` alive until the call that reads the filter returns."""

    _fields_ = [
        ("inclusive", c_int32),
        ("all_frames", c_int32),
        ("filename_pattern", c_char_p),
        ("lineno", c_int32),
        ("domain", c_int64),
    ]


class phn_statistic(Structure):
    """``phn_statistic``: one statistic or difference; ``frames`` belong to the list (48 bytes)."""

    _fields_ = [
        ("frames", POINTER(phn_frame)),
        ("nframe", c_uint32),
        ("total_nframe", c_uint32),
        ("size", c_uint64),
        ("count", c_uint64),
        ("size_diff", c_int64),
        ("count_diff", c_int64),
    ]


#: ``phn_frame_provider``: ``int32_t (*)(void* ctx, phn_frame* frames, int32_t max, int32_t* total)``
phn_frame_provider = CFUNCTYPE(c_int32, c_void_p, POINTER(phn_frame), c_int32, POINTER(c_int32))

# --------------------------------------------------------------------------------------
# Objects, collector, weak references (phn_object.h, phn_gc.h, phn_weakref.h)
#
# Object pointers are c_void_p (ints) in callbacks as in the function table: cast one to
# POINTER(phn_object) to read its header. ctypes callbacks run with the object heap's lock
# held (phn_gil.h) and must not raise: an exception in one is printed and the C side sees 0.


class phn_object(Structure):
    """``phn_object`` (PyObject): the header every object starts with (16 bytes)."""

    _fields_ = [
        ("ob_refcnt", c_ssize_t),
        ("ob_type", c_void_p),
    ]


class phn_varobject(Structure):
    """``phn_varobject`` (PyVarObject): the header of a variable-size object (24 bytes)."""

    _fields_ = [
        ("ob_base", phn_object),
        ("ob_size", c_ssize_t),
    ]


#: ``phn_visitproc``: ``int32_t (*)(phn_object* referent, void* arg)``
phn_visitproc = CFUNCTYPE(c_int32, c_void_p, c_void_p)
#: ``phn_traverseproc``: ``int32_t (*)(phn_object* self, phn_visitproc visit, void* arg)``
phn_traverseproc = CFUNCTYPE(c_int32, c_void_p, phn_visitproc, c_void_p)
#: ``phn_inquiry`` (tp_clear): ``int32_t (*)(phn_object* self)``
phn_inquiry = CFUNCTYPE(c_int32, c_void_p)
#: ``phn_finalizer`` (tp_finalize, tp_del): ``int32_t (*)(phn_object* self)``
phn_finalizer = CFUNCTYPE(c_int32, c_void_p)
#: ``phn_destructor`` (tp_dealloc): ``void (*)(phn_object* self)``
phn_destructor = CFUNCTYPE(None, c_void_p)


class phn_type_spec(Structure):
    """``phn_type_spec``: what ``phn_type_new`` makes a type of (88 bytes). Set
    ``struct_size`` to ``ctypes.sizeof(phn_type_spec)``; NULL callbacks (the default) fall
    back to the reference layout. Keep the callbacks of a type alive for the rest of the
    process (:func:`keep_alive`): types are never freed."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("flags", c_uint32),
        ("name", c_char_p),
        ("basicsize", c_int64),
        ("itemsize", c_int64),
        ("ref_offsets", POINTER(c_uint32)),
        ("ref_count", c_uint32),
        ("reserved", c_uint32),
        ("traverse", phn_traverseproc),
        ("clear", phn_inquiry),
        ("finalize", phn_finalizer),
        ("del", phn_finalizer),
        ("dealloc", phn_destructor),
    ]


class phn_gc_stats(Structure):
    """``phn_gc_stats`` (gc.get_stats()[generation]); set ``struct_size`` first (48 bytes)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved", c_uint32),
        ("collections", c_int64),
        ("collected", c_int64),
        ("uncollectable", c_int64),
        ("candidates", c_int64),
        ("duration", c_double),
    ]


class phn_gc_info(Structure):
    """``phn_gc_info``: the ``info`` of a gc callback (40 bytes)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("generation", c_int32),
        ("collected", c_int64),
        ("uncollectable", c_int64),
        ("candidates", c_int64),
        ("duration", c_double),
    ]


#: ``phn_gc_output``: ``void (*)(void* ctx, const char* line)``
phn_gc_output = CFUNCTYPE(None, c_void_p, c_char_p)
#: ``phn_gc_callback``: ``int32_t (*)(void* ctx, int32_t phase, const phn_gc_info* info)``
phn_gc_callback = CFUNCTYPE(c_int32, c_void_p, c_int32, POINTER(phn_gc_info))
#: ``phn_gc_visit_objects_fn``: ``int32_t (*)(phn_object* op, void* arg)``
phn_gc_visit_objects_fn = CFUNCTYPE(c_int32, c_void_p, c_void_p)
#: ``phn_weakref_callback``: ``int32_t (*)(void* ctx, phn_object* weakref)``
phn_weakref_callback = CFUNCTYPE(c_int32, c_void_p, c_void_p)

#: Function-pointer typedefs of the headers, by name.
CALLBACK_TYPES = {
    "phn_error_handler": phn_error_handler,
    "phn_fatal_handler": phn_fatal_handler,
    "phn_frame_provider": phn_frame_provider,
    "phn_visitproc": phn_visitproc,
    "phn_traverseproc": phn_traverseproc,
    "phn_inquiry": phn_inquiry,
    "phn_finalizer": phn_finalizer,
    "phn_destructor": phn_destructor,
    "phn_gc_output": phn_gc_output,
    "phn_gc_callback": phn_gc_callback,
    "phn_gc_visit_objects_fn": phn_gc_visit_objects_fn,
    "phn_weakref_callback": phn_weakref_callback,
}

#: Structs of the headers, by name.
STRUCT_TYPES = {
    "phn_allocator": phn_allocator,
    "phn_arena_allocator": phn_arena_allocator,
    "phn_size_class_stats": phn_size_class_stats,
    "phn_stats": phn_stats,
    "phn_frame": phn_frame,
    "phn_trace": phn_trace,
    "phn_filter": phn_filter,
    "phn_statistic": phn_statistic,
    "phn_object": phn_object,
    "phn_varobject": phn_varobject,
    "phn_type_spec": phn_type_spec,
    "phn_gc_stats": phn_gc_stats,
    "phn_gc_info": phn_gc_info,
}

#: Opaque struct typedefs of the headers (``typedef struct x x;``): handles, bound as c_void_p.
OPAQUE_TYPES = ("phn_snapshot", "phn_statistics", "phn_type")

# --------------------------------------------------------------------------------------
# The declaration table: name -> (restype, argtypes, errcheck). Same order as the headers.

_STATUS = _check_status

FUNCTIONS: Dict[str, Tuple[object, Tuple[object, ...], Optional[Callable]]] = {
    # phn_runtime.h
    "phn_init": (c_int32, (), _STATUS),
    "phn_version": (c_uint32, (), None),
    "phn_last_error_message": (c_char_p, (), None),
    "phn_last_error_code": (c_int32, (), None),  # a code, not a status: never raises
    "phn_clear_error": (None, (), None),
    "phn_set_error_handler": (c_int32, (phn_error_handler, c_void_p), _STATUS),
    "phn_set_fatal_handler": (c_int32, (phn_fatal_handler, c_void_p), _STATUS),
    # phn_mem.h
    "phn_raw_malloc": (c_void_p, (c_size_t,), None),
    "phn_raw_calloc": (c_void_p, (c_size_t, c_size_t), None),
    "phn_raw_realloc": (c_void_p, (c_void_p, c_size_t), None),
    "phn_raw_free": (None, (c_void_p,), None),
    "phn_mem_malloc": (c_void_p, (c_size_t,), None),
    "phn_mem_calloc": (c_void_p, (c_size_t, c_size_t), None),
    "phn_mem_realloc": (c_void_p, (c_void_p, c_size_t), None),
    "phn_mem_free": (None, (c_void_p,), None),
    "phn_obj_malloc": (c_void_p, (c_size_t,), None),
    "phn_obj_calloc": (c_void_p, (c_size_t, c_size_t), None),
    "phn_obj_realloc": (c_void_p, (c_void_p, c_size_t), None),
    "phn_obj_free": (None, (c_void_p,), None),
    "phn_obj_malloc_many": (c_size_t, (c_size_t, c_size_t, POINTER(c_void_p)), None),
    "phn_obj_free_many": (None, (POINTER(c_void_p), c_size_t), None),
    # phn_alloc.h
    "phn_get_allocator": (c_int32, (c_int32, POINTER(phn_allocator)), _STATUS),
    "phn_set_allocator": (c_int32, (c_int32, POINTER(phn_allocator)), _STATUS),
    "phn_get_arena_allocator": (c_int32, (POINTER(phn_arena_allocator),), _STATUS),
    "phn_set_arena_allocator": (c_int32, (POINTER(phn_arena_allocator),), _STATUS),
    "phn_allocator_name": (c_char_p, (), None),
    # phn_debug.h
    "phn_setup_debug_hooks": (c_int32, (), _STATUS),
    # phn_trace.h
    "phn_tracemalloc_start": (c_int32, (c_int32,), _STATUS),
    "phn_tracemalloc_stop": (c_int32, (), _STATUS),
    "phn_tracemalloc_is_tracing": (c_int32, (), _STATUS),
    "phn_tracemalloc_get_traced_memory": (c_int32, (POINTER(c_size_t), POINTER(c_size_t)), _STATUS),
    "phn_tracemalloc_reset_peak": (c_int32, (), _STATUS),
    "phn_tracemalloc_clear_traces": (c_int32, (), _STATUS),
    "phn_tracemalloc_get_traceback_limit": (c_int32, (), _STATUS),
    "phn_tracemalloc_get_tracemalloc_memory": (c_size_t, (), None),
    # track/untrack return PyTraceMalloc_Track's 0/-1/-2, not a PHN_E* status: never raise
    "phn_tracemalloc_track": (c_int32, (c_uint32, c_size_t, c_size_t), None),
    "phn_tracemalloc_untrack": (c_int32, (c_uint32, c_size_t), None),
    "phn_tracemalloc_set_frame_provider": (c_int32, (phn_frame_provider, c_void_p), _STATUS),
    "phn_tracemalloc_take_snapshot": (c_int32, (POINTER(c_void_p),), _STATUS),
    "phn_snapshot_free": (None, (c_void_p,), None),
    "phn_snapshot_trace_count": (c_int64, (c_void_p,), _STATUS),
    "phn_snapshot_traceback_limit": (c_int32, (c_void_p,), _STATUS),
    "phn_snapshot_get_trace": (c_int32, (c_void_p, c_int64, POINTER(phn_trace)), _STATUS),
    "phn_tracemalloc_get_traceback": (c_int32, (c_uint32, c_size_t, POINTER(c_void_p)), _STATUS),
    "phn_tracemalloc_get_object_traceback": (c_int32, (c_void_p, POINTER(c_void_p)), _STATUS),
    "phn_snapshot_filter_traces": (c_int32, (c_void_p, POINTER(phn_filter), c_int32, POINTER(c_void_p)), _STATUS),
    "phn_snapshot_dump": (c_int32, (c_void_p, c_char_p), _STATUS),
    "phn_snapshot_load": (c_int32, (c_char_p, POINTER(c_void_p)), _STATUS),
    "phn_snapshot_statistics": (c_int32, (c_void_p, c_int32, c_int32, POINTER(c_void_p)), _STATUS),
    "phn_snapshot_compare_to": (c_int32, (c_void_p, c_void_p, c_int32, c_int32, POINTER(c_void_p)), _STATUS),
    "phn_statistics_count": (c_int64, (c_void_p,), _STATUS),
    "phn_statistics_get": (c_int32, (c_void_p, c_int64, POINTER(phn_statistic)), _STATUS),
    "phn_statistics_free": (None, (c_void_p,), None),
    # phn_stats.h
    "phn_get_stats": (c_int32, (POINTER(phn_stats),), _STATUS),
    "phn_format_malloc_stats": (c_int64, (POINTER(c_char), c_size_t), _STATUS),
    "phn_validate": (c_int32, (), _STATUS),
    # phn_object.h (phn_object* and phn_type* are c_void_p: objects and types are ints)
    "phn_type_new": (c_void_p, (POINTER(phn_type_spec),), None),
    "phn_type_name": (c_char_p, (c_void_p,), None),
    "phn_type_flags": (c_uint32, (c_void_p,), None),
    "phn_object_new": (c_void_p, (c_void_p,), None),
    "phn_object_new_var": (c_void_p, (c_void_p, c_int64), None),
    "phn_gc_new": (c_void_p, (c_void_p,), None),
    "phn_gc_new_var": (c_void_p, (c_void_p, c_int64), None),
    "phn_gc_resize": (c_void_p, (c_void_p, c_int64), None),
    "phn_object_free": (c_int32, (c_void_p,), _STATUS),
    "phn_dealloc": (None, (c_void_p,), None),
    "phn_negative_refcount": (None, (c_char_p, c_int32, c_void_p), None),
    "phn_incref": (None, (c_void_p,), None),
    "phn_decref": (None, (c_void_p,), None),
    "phn_refcnt": (c_ssize_t, (c_void_p,), None),
    "phn_set_refcnt": (c_int32, (c_void_p, c_ssize_t), _STATUS),
    "phn_object_set_immortal": (c_int32, (c_void_p,), _STATUS),
    "phn_object_call_finalizer": (c_int32, (c_void_p,), _STATUS),
    # 0 = destroy, -1 = resurrected: not a PHN_E* status, never raises
    "phn_object_call_finalizer_from_dealloc": (c_int32, (c_void_p,), None),
    # phn_gc.h
    "phn_gc_collect": (c_int64, (c_int32,), _STATUS),
    "phn_gc_collect_if_enabled": (c_int64, (), _STATUS),
    "phn_gc_enable": (c_int32, (), _STATUS),
    "phn_gc_disable": (c_int32, (), _STATUS),
    "phn_gc_is_enabled": (c_int32, (), _STATUS),
    "phn_gc_get_count": (c_int32, (POINTER(c_int32),), _STATUS),
    "phn_gc_set_threshold": (c_int32, (c_int32, c_int32, c_int32), _STATUS),
    "phn_gc_get_threshold": (c_int32, (POINTER(c_int32),), _STATUS),
    "phn_gc_get_stats": (c_int32, (c_int32, POINTER(phn_gc_stats)), _STATUS),
    "phn_gc_freeze": (c_int32, (), _STATUS),
    "phn_gc_unfreeze": (c_int32, (), _STATUS),
    "phn_gc_get_freeze_count": (c_int64, (), _STATUS),
    "phn_gc_set_debug": (c_int32, (c_int32,), _STATUS),
    # the flags word (unknown bits are kept, so it may be negative): not a status
    "phn_gc_get_debug": (c_int32, (), None),
    "phn_gc_set_debug_output": (c_int32, (phn_gc_output, c_void_p), _STATUS),
    "phn_gc_add_callback": (c_int32, (phn_gc_callback, c_void_p), _STATUS),
    "phn_gc_remove_callback": (c_int32, (phn_gc_callback, c_void_p), _STATUS),
    "phn_gc_garbage_count": (c_int64, (), _STATUS),
    "phn_gc_garbage_get": (c_int32, (c_int64, POINTER(c_void_p)), _STATUS),
    "phn_gc_garbage_clear": (c_int32, (), _STATUS),
    "phn_gc_get_objects": (c_int64, (c_int32, POINTER(c_void_p), c_int64), _STATUS),
    "phn_gc_get_referrers": (c_int64, (POINTER(c_void_p), c_int64, POINTER(c_void_p), c_int64), _STATUS),
    "phn_gc_get_referents": (c_int64, (POINTER(c_void_p), c_int64, POINTER(c_void_p), c_int64), _STATUS),
    "phn_gc_track": (c_int32, (c_void_p,), _STATUS),
    "phn_gc_untrack": (c_int32, (c_void_p,), _STATUS),
    "phn_gc_is_tracked": (c_int32, (c_void_p,), _STATUS),
    "phn_gc_is_finalized": (c_int32, (c_void_p,), _STATUS),
    "phn_object_is_gc": (c_int32, (c_void_p,), _STATUS),
    "phn_gc_visit_objects": (c_int32, (phn_gc_visit_objects_fn, c_void_p), _STATUS),
    "phn_gc_shutdown": (c_int64, (), _STATUS),
    # phn_weakref.h
    "phn_weakref_new": (c_void_p, (c_void_p, phn_weakref_callback, c_void_p), None),
    "phn_weakref_get_ref": (c_int32, (c_void_p, POINTER(c_void_p)), _STATUS),
    "phn_weakref_check": (c_int32, (c_void_p,), _STATUS),
    "phn_weakref_count": (c_int64, (c_void_p,), _STATUS),
    "phn_object_clear_weakrefs": (c_int32, (c_void_p,), _STATUS),
    "phn_object_clear_weakrefs_no_callbacks": (c_int32, (c_void_p,), _STATUS),
    # phn_gil.h
    "phn_gil_ensure": (c_int32, (), _STATUS),
    "phn_gil_release": (c_int32, (c_int32,), _STATUS),
    "phn_gil_held": (c_int32, (), _STATUS),
    # phn_testing.h
    "phn_testing_inject_fault": (c_int32, (c_int32, c_int32), _STATUS),
}

# --------------------------------------------------------------------------------------
# Locating and loading the library

if sys.platform == "win32":
    LIBRARY_FILE_NAME = "pyheapnative.dll"
elif sys.platform == "darwin":
    LIBRARY_FILE_NAME = "libpyheapnative.dylib"
else:
    LIBRARY_FILE_NAME = "libpyheapnative.so"

#: Names looked for in ``pyheapnative/_lib/`` (the build copies the first; the SONAME form
#: is accepted for a library copied there by hand).
LIBRARY_FILE_NAMES = (LIBRARY_FILE_NAME, LIBRARY_FILE_NAME + ".0") if sys.platform.startswith("linux") else (LIBRARY_FILE_NAME,)

ENV_LIBRARY = "PYHEAPNATIVE_LIBRARY"


def candidate_paths() -> List[str]:
    """The places the library is looked for, in order.

    1. ``$PYHEAPNATIVE_LIBRARY`` (if set and non-empty, it is the only candidate);
    2. ``pyheapnative/_lib/<name>`` next to this package (a packaged build);
    3. ``<repo>/artifacts/lib/<name>`` when the package runs from a source checkout
       (``<repo>/src/python/pyheapnative``; an installed package never looks there);
    4. whatever ``ctypes.util.find_library("pyheapnative")`` returns.

    ``pip install ./src/python`` copies the built library into ``_lib/`` (see
    ``src/python/setup.py``), so an installed package finds it at step 2.
    """
    override = os.environ.get(ENV_LIBRARY)
    if override:
        return [override]
    here = Path(__file__).resolve().parent
    paths = [str(here / "_lib" / name) for name in LIBRARY_FILE_NAMES]
    if here.parent.name == "python" and here.parent.parent.name == "src":
        repo = here.parents[2]  # pyheapnative -> python -> src -> <repo>
        paths.append(str(repo / "artifacts" / "lib" / LIBRARY_FILE_NAME))
    import ctypes.util

    found = ctypes.util.find_library("pyheapnative")
    if found:
        paths.append(found)
    return paths


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    override = bool(os.environ.get(ENV_LIBRARY))
    for path in candidate_paths():
        # find_library returns a bare soname; the others must exist as files.
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (not found)" % path)
            continue
        try:
            return ctypes.CDLL(path, use_errno=True), path
        except OSError as exc:
            tried.append("%s (%s)" % (path, exc))
            if override:
                break
    raise ImportError(
        "pyheapnative: cannot load %s; tried: %s. Build it with ./build.sh build or set %s."
        % (LIBRARY_FILE_NAME, "; ".join(tried) or "nothing", ENV_LIBRARY)
    )


def _bind(cdll: ctypes.CDLL) -> None:
    missing = []
    for name, (restype, argtypes, errcheck) in FUNCTIONS.items():
        try:
            func = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        func.restype = restype
        func.argtypes = list(argtypes)
        if errcheck is not None:
            func.errcheck = errcheck
    if missing:
        raise ImportError("pyheapnative: %s does not export %s" % (LIBRARY_PATH, ", ".join(missing)))


def format_version(number: int) -> str:
    """``MAJOR*10000 + MINOR*100 + PATCH`` -> ``"MAJOR.MINOR.PATCH"``."""
    return "%d.%d.%d" % (number // 10000, number // 100 % 100, number % 100)


lib, LIBRARY_PATH = _load()
_bind(lib)


def last_error_message() -> str:
    """``phn_last_error_message()``: the message of the last failed call on this thread
    (``""`` if none)."""
    raw = lib.phn_last_error_message()
    return raw.decode("utf-8", "replace") if raw else ""


def _check_version_and_init() -> None:
    binary = int(lib.phn_version())
    if binary != EXPECTED_VERSION:
        raise ImportError(
            "pyheapnative: %s is version %s (PHN_VERSION %d) but this package expects %s (PHN_VERSION %d)"
            % (LIBRARY_PATH, format_version(binary), binary, format_version(EXPECTED_VERSION), EXPECTED_VERSION)
        )
    try:
        lib.phn_init()
    except PyHeapNativeError as exc:
        raise ImportError("pyheapnative: phn_init() failed: %s (%s)" % (exc, exc.code_name)) from exc


_check_version_and_init()

# --------------------------------------------------------------------------------------
# Keeping callbacks alive

_KEEPALIVE: List[object] = []


def keep_alive(obj: object) -> object:
    """Keep *obj* (a struct holding callbacks, a CFUNCTYPE object) alive for the rest of the
    process. The library may call an installed callback long after it was replaced (an
    arena is freed by the allocator that allocated it; a hook may be wrapped by a later
    hook), so installed callbacks are never released."""
    _KEEPALIVE.append(obj)
    return obj


def as_int(value, name: str, what: str = "an int") -> int:
    """Return *value* as a Python int, or raise TypeError naming *name* (``bool`` is refused:
    ctypes would take it as 0 or 1). Range checks are the caller's."""
    if isinstance(value, bool):
        raise TypeError("%s must be %s, not bool" % (name, what))
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError("%s must be %s, not %s" % (name, what, type(value).__name__)) from None


def check_int32(value, name: str) -> int:
    """Return *value* as an int in the int32_t range, or raise TypeError/ValueError
    (ctypes would truncate it silently)."""
    value = as_int(value, name)
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError("%s must be in the int32_t range, got %d" % (name, value))
    return value
