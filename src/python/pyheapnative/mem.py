"""Pythonic access to libpyheapnative's allocator domains, statistics and hooks.

The three domains mirror CPython's ``PyMem_Raw*`` (RAW), ``PyMem_*`` (MEM) and
``PyObject_*`` (OBJ) families. Allocation functions return the block's address as an
``int`` and raise :class:`MemoryError` when the library returns NULL; free functions accept
an address, ``0`` or ``None``. Every size is checked *before* the call: a non-integer raises
:class:`TypeError`, a negative size or one above ``2**63 - 1`` (PY_SSIZE_T_MAX) raises
:class:`ValueError` - ctypes would otherwise wrap it silently modulo ``2**64`` (``-1``
would become ``SIZE_MAX``, ``2**64`` would become ``0`` and *succeed*).

A block must be released by the free function of the domain that allocated it, exactly
once; the addresses are raw memory, so :func:`ctypes.string_at` / :func:`ctypes.memmove`
(or :class:`Block`) are the ways to read and write it.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import sys
from dataclasses import dataclass
from typing import List, Optional, Union

from . import _native
from ._native import (
    ARENA_ALLOC_FUNC,
    ARENA_FREE_FUNC,
    CALLOC_FUNC,
    FREE_FUNC,
    MALLOC_FUNC,
    REALLOC_FUNC,
    lib as _lib,
    phn_allocator,
    phn_arena_allocator,
)

__all__ = [
    "DOMAIN_RAW", "DOMAIN_MEM", "DOMAIN_OBJ", "DOMAINS",
    "ALIGNMENT", "SMALL_REQUEST_THRESHOLD", "NB_SMALL_SIZE_CLASSES", "POOL_SIZE",
    "POOL_OVERHEAD", "ARENA_SIZE", "MAX_POOLS_IN_ARENA", "STATS_VERSION", "MAX_SIZE",
    "Allocator", "ArenaAllocator", "MALLOC_FUNC", "CALLOC_FUNC", "REALLOC_FUNC", "FREE_FUNC",
    "ARENA_ALLOC_FUNC", "ARENA_FREE_FUNC",
    "raw_malloc", "raw_calloc", "raw_realloc", "raw_free",
    "mem_malloc", "mem_calloc", "mem_realloc", "mem_free",
    "obj_malloc", "obj_calloc", "obj_realloc", "obj_free",
    "malloc", "calloc", "realloc", "free",
    "Block", "SizeClassStats", "Stats", "get_stats", "allocated_blocks",
    "format_malloc_stats", "allocator_name", "validate",
    "get_allocator", "set_allocator", "get_arena_allocator", "set_arena_allocator",
    "check_size",
]

# --------------------------------------------------------------------------------------
# Constants

DOMAIN_RAW = _native.PHN_DOMAIN_RAW
DOMAIN_MEM = _native.PHN_DOMAIN_MEM
DOMAIN_OBJ = _native.PHN_DOMAIN_OBJ
#: The three domains, in order.
DOMAINS = (DOMAIN_RAW, DOMAIN_MEM, DOMAIN_OBJ)
_DOMAIN_PREFIX = {DOMAIN_RAW: "raw", DOMAIN_MEM: "mem", DOMAIN_OBJ: "obj"}

ALIGNMENT = _native.PHN_ALIGNMENT
SMALL_REQUEST_THRESHOLD = _native.PHN_SMALL_REQUEST_THRESHOLD
NB_SMALL_SIZE_CLASSES = _native.PHN_NB_SMALL_SIZE_CLASSES
POOL_SIZE = _native.PHN_POOL_SIZE
POOL_OVERHEAD = _native.PHN_POOL_OVERHEAD
ARENA_SIZE = _native.PHN_ARENA_SIZE
MAX_POOLS_IN_ARENA = _native.PHN_MAX_POOLS_IN_ARENA
STATS_VERSION = _native.PHN_STATS_VERSION
#: The largest size accepted (PY_SSIZE_T_MAX, 2**63 - 1).
MAX_SIZE = _native.SIZE_LIMIT

#: ``phn_allocator`` (CPython's PyMemAllocatorEx).
Allocator = phn_allocator
#: ``phn_arena_allocator`` (CPython's PyObjectArenaAllocator).
ArenaAllocator = phn_arena_allocator

# --------------------------------------------------------------------------------------
# Argument checks (before any call: ctypes wraps out-of-range ints silently)


def check_size(value, name: str = "size") -> int:
    """Return *value* as an int in ``[0, 2**63 - 1]``.

    Raises :class:`TypeError` if it is not an integer (``bool`` included) and
    :class:`ValueError` if it is negative or above PY_SSIZE_T_MAX.
    """
    value = _native.as_int(value, name)
    if value < 0:
        raise ValueError("%s must not be negative, got %d" % (name, value))
    if value > MAX_SIZE:
        raise ValueError("%s must be at most 2**63 - 1 (PY_SSIZE_T_MAX), got %d" % (name, value))
    return value


def _check_ptr(value, name: str = "ptr") -> Optional[int]:
    """Return *value* as a pointer for ctypes (``None`` for NULL)."""
    if value is None:
        return None
    value = _native.as_int(value, name, "an int address or None")
    if not 0 <= value < _native.POINTER_LIMIT:
        raise ValueError("%s must be an address in [0, 2**64), got %d" % (name, value))
    return value or None


def _check_domain(domain) -> int:
    return _native.check_int32(domain, "domain")


def _null_result(function: str, args: str) -> MemoryError:
    err = ctypes.get_errno()
    detail = " (errno %s)" % _errno.errorcode.get(err, err) if err else ""
    return MemoryError("%s(%s) returned NULL%s" % (function, args, detail))


# --------------------------------------------------------------------------------------
# The twelve domain functions


def _make_domain_functions(prefix: str, family: str, domain_doc: str):
    c_malloc = getattr(_lib, "phn_%s_malloc" % prefix)
    c_calloc = getattr(_lib, "phn_%s_calloc" % prefix)
    c_realloc = getattr(_lib, "phn_%s_realloc" % prefix)
    c_free = getattr(_lib, "phn_%s_free" % prefix)

    def malloc(size: int) -> int:
        size = check_size(size, "size")
        p = c_malloc(size)
        if not p:
            raise _null_result(c_malloc.__name__, str(size))
        return p

    def calloc(nelem: int, elsize: int) -> int:
        nelem = check_size(nelem, "nelem")
        elsize = check_size(elsize, "elsize")
        p = c_calloc(nelem, elsize)
        if not p:
            raise _null_result(c_calloc.__name__, "%d, %d" % (nelem, elsize))
        return p

    def realloc(ptr: Optional[int], new_size: int) -> int:
        ptr = _check_ptr(ptr, "ptr")
        new_size = check_size(new_size, "new_size")
        p = c_realloc(ptr, new_size)
        if not p:
            raise _null_result(c_realloc.__name__, "%s, %d" % (hex(ptr) if ptr else "NULL", new_size))
        return p

    def free(ptr: Optional[int]) -> None:
        ptr = _check_ptr(ptr, "ptr")
        c_free(ptr)

    malloc.__doc__ = """Allocate *size* bytes in the %(d)s domain (%(f)sMalloc) and return the address.

        ``size == 0`` gives a distinct non-NULL block. Raises :class:`TypeError` or
        :class:`ValueError` for a bad size (nothing is called) and :class:`MemoryError` when
        the library returns NULL. The block is 16-byte aligned and uninitialised; release it
        with ``%(p)s_free``.
        """ % {"d": domain_doc, "f": family, "p": prefix}
    calloc.__doc__ = """Allocate *nelem* x *elsize* zeroed bytes in the %(d)s domain (%(f)sCalloc).

        Each argument must be in ``[0, 2**63 - 1]`` (checked before the call); a product above
        PY_SSIZE_T_MAX makes the library return NULL, raised as :class:`MemoryError`.
        ``calloc(0, n)`` and ``calloc(n, 0)`` give distinct non-NULL blocks.
        """ % {"d": domain_doc, "f": family}
    realloc.__doc__ = """Resize the %(d)s block at *ptr* to *new_size* bytes (%(f)sRealloc) and return the
        (possibly moved) address.

        ``ptr`` of ``None``/``0`` is ``%(p)s_malloc(new_size)``; ``new_size == 0`` returns a
        live block and never frees. On :class:`MemoryError` (or a rejected size) *ptr* is
        still valid and unchanged. The first ``min(old, new)`` bytes are preserved.
        """ % {"d": domain_doc, "f": family, "p": prefix}
    free.__doc__ = """Release a block of the %(d)s domain (%(f)sFree). ``None``/``0`` does nothing.

        The address must come from this domain and must not have been freed already
        (undefined behaviour otherwise, as in CPython).
        """ % {"d": domain_doc, "f": family}
    for func, suffix in ((malloc, "malloc"), (calloc, "calloc"), (realloc, "realloc"), (free, "free")):
        func.__name__ = func.__qualname__ = "%s_%s" % (prefix, suffix)
        func.__module__ = __name__
    return malloc, calloc, realloc, free


raw_malloc, raw_calloc, raw_realloc, raw_free = _make_domain_functions("raw", "PyMem_Raw", "RAW")
mem_malloc, mem_calloc, mem_realloc, mem_free = _make_domain_functions("mem", "PyMem_", "MEM")
obj_malloc, obj_calloc, obj_realloc, obj_free = _make_domain_functions("obj", "PyObject_", "OBJ")

_BY_DOMAIN = {
    DOMAIN_RAW: (raw_malloc, raw_calloc, raw_realloc, raw_free),
    DOMAIN_MEM: (mem_malloc, mem_calloc, mem_realloc, mem_free),
    DOMAIN_OBJ: (obj_malloc, obj_calloc, obj_realloc, obj_free),
}


def _domain_functions(domain):
    try:
        return _BY_DOMAIN[domain]
    except (KeyError, TypeError):
        raise ValueError("unknown domain %r (expected DOMAIN_RAW, DOMAIN_MEM or DOMAIN_OBJ)" % (domain,)) from None


def malloc(domain: int, size: int) -> int:
    """``<domain>_malloc(size)`` for ``domain`` in :data:`DOMAINS`."""
    return _domain_functions(domain)[0](size)


def calloc(domain: int, nelem: int, elsize: int) -> int:
    """``<domain>_calloc(nelem, elsize)`` for ``domain`` in :data:`DOMAINS`."""
    return _domain_functions(domain)[1](nelem, elsize)


def realloc(domain: int, ptr: Optional[int], new_size: int) -> int:
    """``<domain>_realloc(ptr, new_size)`` for ``domain`` in :data:`DOMAINS`."""
    return _domain_functions(domain)[2](ptr, new_size)


def free(domain: int, ptr: Optional[int]) -> None:
    """``<domain>_free(ptr)`` for ``domain`` in :data:`DOMAINS`."""
    _domain_functions(domain)[3](ptr)


# --------------------------------------------------------------------------------------
# Block: an owned allocation


class Block:
    """An owned block of one domain, freed by :meth:`free`, by ``with`` or (as a last
    resort) when garbage-collected.

    >>> with Block(100) as b:
    ...     b.write(b"hello")
    ...     b.read(5)
    b'hello'
    """

    __slots__ = ("_domain", "_address", "_size", "__weakref__")

    def __init__(self, size: int, domain: int = DOMAIN_MEM, *, zeroed: bool = False):
        """Allocate *size* bytes in *domain* (zero-filled with ``zeroed=True``)."""
        self._address = None
        funcs = _domain_functions(domain)
        self._domain = domain
        self._size = check_size(size)
        self._address = funcs[1](1, size) if zeroed else funcs[0](size)

    @property
    def address(self) -> int:
        """The block's address (raises :class:`ValueError` once freed)."""
        if self._address is None:
            raise ValueError("the block has been freed")
        return self._address

    @property
    def size(self) -> int:
        """The requested size in bytes."""
        return self._size

    @property
    def domain(self) -> int:
        """The domain the block belongs to."""
        return self._domain

    @property
    def closed(self) -> bool:
        """True once the block has been freed."""
        return self._address is None

    def _range(self, offset: int, length: int) -> None:
        offset = check_size(offset, "offset")
        length = check_size(length, "length")
        if offset + length > self._size:
            raise ValueError("range [%d, %d) is outside the %d-byte block" % (offset, offset + length, self._size))

    def read(self, length: Optional[int] = None, offset: int = 0) -> bytes:
        """Return *length* bytes (default: up to the end) starting at *offset*."""
        if length is None:
            length = self._size - check_size(offset, "offset")
        self._range(offset, length)
        return ctypes.string_at(self.address + offset, length)

    def write(self, data: Union[bytes, bytearray, memoryview], offset: int = 0) -> None:
        """Copy *data* into the block at *offset* (bounds-checked)."""
        data = bytes(data)
        self._range(offset, len(data))
        ctypes.memmove(self.address + offset, data, len(data))

    def fill(self, byte: int, length: Optional[int] = None, offset: int = 0) -> None:
        """Set *length* bytes (default: up to the end) from *offset* to *byte*."""
        if length is None:
            length = self._size - check_size(offset, "offset")
        self._range(offset, length)
        ctypes.memset(self.address + offset, byte, length)

    def resize(self, new_size: int) -> None:
        """Realloc the block to *new_size* bytes; on failure the block is unchanged."""
        new_size = check_size(new_size, "new_size")
        self._address = _domain_functions(self._domain)[2](self.address, new_size)
        self._size = new_size

    def free(self) -> None:
        """Release the block (idempotent)."""
        address, self._address = self._address, None
        if address is not None:
            _domain_functions(self._domain)[3](address)

    close = free

    def __enter__(self) -> "Block":
        return self

    def __exit__(self, *exc_info) -> None:
        self.free()

    def __del__(self):
        # Never call into the library while the interpreter shuts down (the runtime may be
        # tearing down threads); leaking the block then is harmless.
        if getattr(self, "_address", None) is not None and not sys.is_finalizing():
            try:
                self.free()
            except Exception:
                pass

    def __repr__(self):
        state = "freed" if self._address is None else hex(self._address)
        return "<Block %s %s %d bytes>" % (_DOMAIN_PREFIX.get(self._domain, self._domain), state, self._size)


# --------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class SizeClassStats:
    """One pymalloc size class (``phn_size_class_stats``); its index is its position in
    :attr:`Stats.size_classes` and ``block_size == (index + 1) * 16``."""

    block_size: int
    blocks_per_pool: int
    pools: int
    full_pools: int
    blocks_in_use: int
    blocks_available: int


@dataclass(frozen=True)
class Stats:
    """pymalloc statistics (``phn_stats`` without its ``reserved`` field)."""

    struct_size: int
    version: int
    arenas_allocated_total: int
    arenas_reclaimed: int
    arenas_highwater: int
    arenas_allocated_current: int
    arena_size: int
    pool_size: int
    unused_pools: int
    bytes_in_allocated_blocks: int
    bytes_in_available_blocks: int
    bytes_in_unused_pools: int
    bytes_lost_to_pool_headers: int
    bytes_lost_to_quantization: int
    bytes_lost_to_arena_alignment: int
    allocated_blocks: int
    raw_allocated_blocks: int
    arena_map_mid_nodes: int
    arena_map_bot_nodes: int
    bytes_lost_to_arena_map_root: int
    bytes_lost_to_arena_map_mid: int
    bytes_lost_to_arena_map_bot: int
    num_size_classes: int
    size_classes: List[SizeClassStats]


_SIZE_CLASS_FIELDS = [name for name, _ in _native.phn_size_class_stats._fields_]
_STATS_SCALARS = [name for name, _ in _native.phn_stats._fields_ if name not in ("reserved", "size_classes")]


def get_stats() -> Stats:
    """Return the current pymalloc statistics (``phn_get_stats``)."""
    raw = _native.phn_stats()
    raw.struct_size = ctypes.sizeof(raw)
    _lib.phn_get_stats(ctypes.byref(raw))
    count = min(raw.num_size_classes, NB_SMALL_SIZE_CLASSES)
    classes = [SizeClassStats(*(getattr(raw.size_classes[i], f) for f in _SIZE_CLASS_FIELDS)) for i in range(count)]
    return Stats(*(getattr(raw, f) for f in _STATS_SCALARS), size_classes=classes)


def allocated_blocks() -> int:
    """Live MEM/OBJ blocks of any size, like ``sys.getallocatedblocks()``."""
    return get_stats().allocated_blocks


def format_malloc_stats() -> str:
    """Return the pymalloc part of CPython's ``sys._debugmallocstats()`` text
    (``phn_format_malloc_stats``); ``""`` when OBJ is not served by pymalloc."""
    needed = _lib.phn_format_malloc_stats(None, 0)
    while True:
        buf = ctypes.create_string_buffer(needed + 1)
        length = _lib.phn_format_malloc_stats(buf, len(buf))
        if length <= needed:  # the heap may have changed between the two calls
            return buf.raw[:length].decode("utf-8", "replace")
        needed = length


def allocator_name() -> Optional[str]:
    """``"pymalloc"`` or ``"malloc"`` when the three domains hold that configuration's
    built-in allocators, ``"pymalloc_debug"`` / ``"malloc_debug"`` with the debug hooks
    over them, ``None`` when a domain holds a custom allocator."""
    name = _lib.phn_allocator_name()
    return name.decode("ascii", "replace") if name is not None else None


def setup_debug_hooks() -> None:
    """Install CPython's debug hooks on every domain not already wrapped
    (``phn_setup_debug_hooks``, like ``PyMem_SetupDebugHooks``)."""
    _lib.phn_setup_debug_hooks()


def validate() -> None:
    """Check every pymalloc invariant (``phn_validate``); raises
    :class:`pyheapnative.HeapCorruptionError` naming the first broken one."""
    _lib.phn_validate()


# --------------------------------------------------------------------------------------
# Allocator customisation


def get_allocator(domain: int) -> phn_allocator:
    """Return a copy of the current allocator of *domain* (``phn_get_allocator``).

    An unknown domain raises :class:`ValueError` with the library's message.
    """
    out = phn_allocator()
    _lib.phn_get_allocator(_check_domain(domain), ctypes.byref(out))
    return out


def set_allocator(domain: int, allocator: Optional[phn_allocator]) -> None:
    """Install *allocator* for *domain* (``phn_set_allocator``; copied by value).

    Once blocks are live the new allocator must wrap the previous one (get it first and
    forward to it). Installing a struct returned by :func:`get_allocator` for a built-in
    allocator restores the built-in fast path. The struct and its callbacks are kept alive
    for the rest of the process. ``None``, an unknown domain or a NULL function raise
    :class:`ValueError` and change nothing.
    """
    domain = _check_domain(domain)
    if allocator is not None and not isinstance(allocator, phn_allocator):
        raise TypeError("allocator must be a phn_allocator, not %s" % type(allocator).__name__)
    if allocator is not None:
        _native.keep_alive(allocator)
    _lib.phn_set_allocator(domain, ctypes.byref(allocator) if allocator is not None else None)


def get_arena_allocator() -> phn_arena_allocator:
    """Return a copy of the allocator pymalloc uses for its arenas."""
    out = phn_arena_allocator()
    _lib.phn_get_arena_allocator(ctypes.byref(out))
    return out


def set_arena_allocator(allocator: Optional[phn_arena_allocator]) -> None:
    """Install the arena allocator (``alloc``/``free`` receive ``ARENA_SIZE``).

    Arenas already allocated are still released by the allocator that allocated them, so
    the struct and its callbacks are kept alive for the rest of the process. ``None`` or a
    NULL function raise :class:`ValueError`.
    """
    if allocator is not None and not isinstance(allocator, phn_arena_allocator):
        raise TypeError("allocator must be a phn_arena_allocator, not %s" % type(allocator).__name__)
    if allocator is not None:
        _native.keep_alive(allocator)
    _lib.phn_set_arena_allocator(ctypes.byref(allocator) if allocator is not None else None)
