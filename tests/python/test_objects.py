"""Objects and the cyclic collector through the raw ctypes bindings of _native
(phn_object.h, phn_gc.h, phn_weakref.h): a type described by its reference layout, a
collected two-object cycle, counts, thresholds, a weak reference dying with its referent,
and a bad generation. pyheapnative.objects and pyheapnative.gc wrap these (test_gc_module.py)."""

from __future__ import annotations

import ctypes
import unittest

import pyheapnative
from pyheapnative import _native

lib = _native.lib

SLOTS = 4


class Node(ctypes.Structure):
    """A phn_object header, four owned references, an id (as native-tests/gc_fixture.h)."""

    _fields_ = [
        ("ob", _native.phn_object),
        ("slot", ctypes.c_void_p * SLOTS),
        ("id", ctypes.c_int64),
    ]


# The offsets array and the names must outlive phn_type_new (types are never freed).
_OFFSETS = (ctypes.c_uint32 * SLOTS)(*(Node.slot.offset + i * ctypes.sizeof(ctypes.c_void_p) for i in range(SLOTS)))
_TYPES = {}


def layout_type(name: str, flags: int) -> int:
    """A Node-sized type described by its reference layout only (no callbacks)."""
    if name not in _TYPES:
        spec = _native.phn_type_spec()
        spec.struct_size = ctypes.sizeof(spec)
        spec.flags = flags
        spec.name = name.encode()
        spec.basicsize = ctypes.sizeof(Node)
        spec.ref_offsets = _OFFSETS
        spec.ref_count = SLOTS
        t = lib.phn_type_new(ctypes.byref(spec))
        if not t:
            raise AssertionError("phn_type_new(%s): %s" % (name, _native.last_error_message()))
        _TYPES[name] = t
    return _TYPES[name]


def new(t: int) -> int:
    op = lib.phn_object_new(t)
    if not op:
        raise AssertionError("phn_object_new: %s" % _native.last_error_message())
    return op


def node(op: int) -> Node:
    return Node.from_address(op)


def link(a: int, slot: int, b: int) -> None:
    """a.slot[slot] = new reference to b."""
    lib.phn_incref(b)
    node(a).slot[slot] = b


def garbage_cycle(a: int, b: int) -> None:
    link(a, 0, b)
    link(b, 0, a)
    lib.phn_decref(a)
    lib.phn_decref(b)


def get_count():
    c = (ctypes.c_int32 * 3)()
    lib.phn_gc_get_count(c)
    return tuple(c)


def get_threshold():
    t = (ctypes.c_int32 * 3)()
    lib.phn_gc_get_threshold(t)
    return tuple(t)


def weakref_alive(wr: int) -> bool:
    out = ctypes.c_void_p(1)
    alive = lib.phn_weakref_get_ref(wr, ctypes.byref(out))
    if alive:
        lib.phn_decref(out.value)
    else:
        assert out.value is None, "a dead weak reference sets *out to NULL"
    return bool(alive)


class ObjectsAndCollectorTest(unittest.TestCase):
    """Automatic collection is off in every test (counts are deterministic); the enabled
    state and the thresholds are restored afterwards."""

    def setUp(self):
        self.layout = layout_type("PyLNode", _native.PHN_TPFLAGS_HAVE_GC)
        self.weak_layout = layout_type("PyLWNode", _native.PHN_TPFLAGS_HAVE_GC | _native.PHN_TPFLAGS_WEAKREFABLE)
        self.was_enabled = lib.phn_gc_disable()
        self.thresholds = get_threshold()
        lib.phn_gc_collect(2)
        lib.phn_gc_garbage_clear()
        pyheapnative.clear_error()

    def tearDown(self):
        lib.phn_gc_set_threshold(*self.thresholds)
        lib.phn_gc_collect(2)
        if self.was_enabled:
            lib.phn_gc_enable()
        self.assertEqual(lib.phn_gil_held(), 0)

    def test_layout_type_and_object(self):
        self.assertEqual(lib.phn_type_name(self.layout), b"PyLNode")
        self.assertEqual(lib.phn_type_flags(self.layout), _native.PHN_TPFLAGS_HAVE_GC)
        op = new(self.layout)
        n = node(op)
        self.assertEqual(n.ob.ob_refcnt, 1)
        self.assertEqual(lib.phn_refcnt(op), 1)
        self.assertEqual(n.ob.ob_type, self.layout)
        self.assertEqual(list(n.slot), [None] * SLOTS)
        self.assertEqual(lib.phn_object_is_gc(op), 1)
        self.assertEqual(lib.phn_gc_is_tracked(op), 1)
        lib.phn_incref(op)
        self.assertEqual(lib.phn_refcnt(op), 2)
        lib.phn_decref(op)
        lib.phn_decref(op)

    def test_two_object_cycle_is_collected(self):
        garbage_cycle(new(self.layout), new(self.layout))
        self.assertEqual(lib.phn_gc_collect(2), 2)
        self.assertEqual(lib.phn_gc_collect(2), 0)

    def test_externally_held_cycle_is_not_collected(self):
        a, b = new(self.layout), new(self.layout)
        link(a, 0, b)
        link(b, 0, a)
        lib.phn_decref(b)
        self.assertEqual(lib.phn_gc_collect(2), 0)
        lib.phn_decref(a)
        self.assertEqual(lib.phn_gc_collect(2), 2)

    def test_get_count(self):
        self.assertEqual(get_count(), (0, 0, 0))
        a = new(self.layout)
        self.assertEqual(get_count(), (1, 0, 0))
        lib.phn_decref(a)
        self.assertEqual(get_count(), (0, 0, 0))
        lib.phn_gc_collect(0)
        self.assertEqual(get_count(), (0, 1, 0))
        lib.phn_gc_collect(1)
        self.assertEqual(get_count(), (0, 0, 1))
        lib.phn_gc_collect(2)
        self.assertEqual(get_count(), (0, 0, 0))

    def test_thresholds(self):
        self.assertEqual(get_threshold(), (2000, 10, 10))
        lib.phn_gc_set_threshold(700, 5, 3)
        self.assertEqual(get_threshold(), (700, 5, 3))

    def test_enable_disable_return_the_previous_state(self):
        self.assertEqual(lib.phn_gc_is_enabled(), 0)
        self.assertEqual(lib.phn_gc_enable(), 0)
        self.assertEqual(lib.phn_gc_enable(), 1)
        self.assertEqual(lib.phn_gc_disable(), 1)
        self.assertEqual(lib.phn_gc_is_enabled(), 0)

    def test_weakref_dies_with_a_collected_cycle(self):
        a, b = new(self.weak_layout), new(self.weak_layout)
        wr = lib.phn_weakref_new(a, _native.phn_weakref_callback(), None)
        self.assertTrue(wr, _native.last_error_message())
        self.assertEqual(lib.phn_weakref_check(wr), 1)
        self.assertEqual(lib.phn_weakref_count(a), 1)
        garbage_cycle(a, b)
        self.assertTrue(weakref_alive(wr))
        self.assertEqual(lib.phn_gc_collect(2), 2)
        self.assertFalse(weakref_alive(wr))
        lib.phn_decref(wr)

    def test_weakref_callback_on_death_by_reference_count(self):
        seen = []
        callback = _native.phn_weakref_callback(lambda ctx, weakref: seen.append((ctx, weakref)) or 0)
        op = new(self.weak_layout)
        wr = lib.phn_weakref_new(op, callback, 0x51)
        lib.phn_decref(op)
        self.assertEqual(seen, [(0x51, wr)])
        self.assertFalse(weakref_alive(wr))
        lib.phn_decref(wr)

    def test_weakref_to_a_non_weak_referenceable_object(self):
        op = new(self.layout)
        self.assertIsNone(lib.phn_weakref_new(op, _native.phn_weakref_callback(), None))
        self.assertIn("cannot create weak reference to 'PyLNode' object", _native.last_error_message())
        lib.phn_decref(op)

    def test_invalid_generation(self):
        for generation in (3, -1):
            with self.subTest(generation=generation):
                with self.assertRaises(ValueError) as cm:
                    lib.phn_gc_collect(generation)
                self.assertIsInstance(cm.exception, pyheapnative.InvalidArgumentError)
                self.assertEqual(cm.exception.code, _native.PHN_EINVAL)
                self.assertEqual(cm.exception.function, "phn_gc_collect")
                self.assertIn("invalid generation", str(cm.exception))

    def test_gil_states(self):
        self.assertEqual(lib.phn_gil_held(), 0)
        state = lib.phn_gil_ensure()
        self.assertEqual(state, _native.PHN_GIL_UNLOCKED)
        self.assertEqual(lib.phn_gil_ensure(), _native.PHN_GIL_LOCKED)
        lib.phn_gil_release(_native.PHN_GIL_LOCKED)
        self.assertEqual(lib.phn_gil_held(), 1)
        lib.phn_gil_release(state)
        self.assertEqual(lib.phn_gil_held(), 0)
        with self.assertRaises(RuntimeError):  # PHN_ESTATE: not held
            lib.phn_gil_release(_native.PHN_GIL_UNLOCKED)


if __name__ == "__main__":
    unittest.main()
