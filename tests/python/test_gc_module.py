"""pyheapnative.gc and pyheapnative.objects: selected cases of CPython's Lib/test/test_gc.py
replayed with library objects (Python classes become objects.Type layouts or callback
types, ``__del__`` a finalize callback, ``_testcapi.with_tp_del`` a legacy_del callback,
``weakref.ref`` objects.weakref), plus the module-level semantics of spec-gc §11/§16.8.

Automatic collection is off in every test unless the test turns it on (counts are then
deterministic); the enabled state, thresholds, debug flags, callbacks and garbage are
restored afterwards."""

from __future__ import annotations

import contextlib
import io
import sys
import textwrap
import threading
import types
import unittest

import pyheapnative
from pyheapnative import _native, gc, objects

import phn_testutil as tu

lib = _native.lib

# The types of the tests (types live as long as the process).
Node = objects.Type("GcNode", slots=("a", "b", "c"), weakrefable=True)
Leaf = objects.Type("GcLeaf", gc=False)
List = objects.Type("GcList", items=True)
Tuple = objects.Type("GcTuple", items=True, untrack_atomic=True)
C1055820 = objects.Type("C1055820", slots=("loop", "keep_d0_alive"), weakrefable=True)


def _tp_del(self):
    pass


Uncollectable = objects.Type("Uncollectable", slots=("partner",), weakrefable=True, legacy_del=_tp_del)


def make_uncollectable():
    """CPython's Uncollectable(): a pair of objects with tp_del in a cycle."""
    a = Uncollectable()
    a.partner = Uncollectable(partner=a)


def self_loop(t=C1055820):
    c = t()
    c.loop = c
    return c


class UnraisableCatcher:
    """test.support.catch_unraisable_exception, keeping a summary of every report (not
    the traceback, whose frames would keep - resurrect - the objects they reference)."""

    def __init__(self):
        self.reports = []

    def _hook(self, unraisable):
        self.reports.append(types.SimpleNamespace(exc_type=unraisable.exc_type, message=str(unraisable.exc_value),
                                                  object=unraisable.object, err_msg=unraisable.err_msg))

    def __enter__(self):
        self._old = sys.unraisablehook
        sys.unraisablehook = self._hook
        return self

    def __exit__(self, *exc_info):
        sys.unraisablehook = self._old


def drain_garbage():
    """Collect, break every cycle left in gc.garbage (uncollectable ones included) and
    release it, as test_gc's tearDown methods do."""
    gc.collect()
    for obj in gc.garbage:
        for slot in obj.type.slots:
            setattr(obj, slot, None)
        if obj.type.items:
            for i in range(len(obj)):
                obj[i] = None
    del gc.garbage[:]
    gc.collect()


class GcTestCase(unittest.TestCase):
    def setUp(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.thresholds = gc.get_threshold()
        self.debug = gc.get_debug()
        gc.set_debug(0)
        drain_garbage()
        self.saved_callbacks = gc.callbacks[:]
        del gc.callbacks[:]

    def tearDown(self):
        gc.callbacks[:] = self.saved_callbacks
        gc.set_debug(self.debug)
        gc.set_threshold(*self.thresholds)
        drain_garbage()
        if self.was_enabled:
            gc.enable()
        self.assertEqual(lib.phn_gil_held(), 0)


class GCTests(GcTestCase):
    """Lib/test/test_gc.py, class GCTests."""

    def test_list(self):
        l = List(size=1)
        l[0] = l
        gc.collect()
        del l
        self.assertEqual(gc.collect(), 1)

    def test_dict(self):
        d = Node()
        d.a = d
        gc.collect()
        del d
        self.assertEqual(gc.collect(), 1)

    def test_tuple(self):
        # since tuples are immutable we close the loop with a list
        l = List(size=1)
        t = Tuple(items=[l])
        l[0] = t
        gc.collect()
        del t
        del l
        self.assertEqual(gc.collect(), 2)

    def test_function(self):
        # f -> globals d -> f
        d = Node()
        f = Node(a=d)
        d.b = f
        gc.collect()
        del d, f
        self.assertEqual(gc.collect(), 2)

    def test_legacy_finalizer(self):
        # A() is uncollectable if it is part of a cycle, make sure it shows up in
        # gc.garbage.
        A = objects.Type("LegacyA", slots=("a",), legacy_del=_tp_del)
        a = A()
        a.a = a
        id_a = a.address
        b = Node()
        b.b = b
        gc.collect()
        del a
        del b
        self.assertNotEqual(gc.collect(), 0)
        for obj in gc.garbage:
            if obj.address == id_a:
                del obj.a
                break
        else:
            self.fail("didn't find obj in garbage (finalizer)")
        gc.garbage.remove(obj)

    def test_finalizer_pep442(self):
        # Since PEP 442, __del__ does not make a cycle uncollectable.
        ran = []
        A = objects.Type("Pep442A", slots=("a",), finalize=lambda self: ran.append(self.address))
        a = A()
        a.a = a
        addr = a.address
        del a
        self.assertEqual(gc.collect(), 1)
        self.assertEqual(ran, [addr])
        self.assertEqual(gc.garbage, [])

    def test_del(self):
        # __del__ methods can trigger collection, make this to happen
        made = []

        def finalize(self):
            for _ in range(3):
                made.append(self_loop())

        A = objects.Type("DelA", finalize=finalize)
        gc.set_threshold(1, 1, 1)
        gc.enable()
        a = A()
        del a
        gc.disable()
        self.assertEqual(len(made), 3)
        del made[:]
        gc.collect()

    def test_saveall(self):
        # Verify that cyclic garbage like lists show up in gc.garbage if the SAVEALL
        # option is enabled.
        gc.collect()
        self.assertEqual(gc.garbage, [])
        L = List(size=1)
        L[0] = L
        id_L = L.address
        debug = gc.get_debug()
        gc.set_debug(debug | gc.DEBUG_SAVEALL)
        del L
        gc.collect()
        gc.set_debug(debug)
        self.assertEqual(len(gc.garbage), 1)
        obj = gc.garbage.pop()
        self.assertEqual(obj.address, id_L)

    def test_get_count(self):
        gc.collect()
        a, b, c = gc.get_count()
        x = Node()
        d, e, f = gc.get_count()
        self.assertEqual((b, c), (0, 0))
        self.assertEqual((e, f), (0, 0))
        self.assertLess(a, 5)
        self.assertGreater(d, a)
        del x

    def test_collect_generations(self):
        gc.collect()
        # This object will "trickle" into generation N + 1 after each call to collect(N)
        x = Node()
        gc.collect(0)
        a, b, c = gc.get_count()
        gc.collect(1)
        d, e, f = gc.get_count()
        gc.collect(2)
        g, h, i = gc.get_count()
        self.assertEqual((b, c), (1, 0))
        self.assertEqual((e, f), (0, 1))
        self.assertEqual((h, i), (0, 0))
        self.assertEqual((a, d, g), (0, 0, 0))
        del x

    def test_bug1055820b(self):
        ouch = []

        def callback(ignored):
            ouch[:] = [wr() for wr in WRs]

        Cs = [self_loop() for i in range(2)]
        WRs = [objects.weakref(c, callback) for c in Cs]
        c = None
        gc.collect()
        self.assertEqual(len(ouch), 0)
        # Make the two instances trash, and collect again. The bug was that the callback
        # materialized a strong reference to an instance, but gc cleared it anyway.
        Cs = None
        gc.collect()
        self.assertEqual(len(ouch), 2)  # else the callbacks didn't run
        for x in ouch:
            self.assertIsNone(x)

    def test_bug1055820d(self):
        # A __del__ method sneaks in a resurrection of cyclic trash through a weakref
        # without a callback; the collection must happen "naturally".
        ouch = []
        c2wr = None

        def finalize(self):
            ouch[:] = [c2wr()]

        D = objects.Type("D1055820", slots=("loop",), weakrefable=True, finalize=finalize)
        d0 = D()
        d0.loop = d0
        gc.collect()                    # d0 into generation 2
        c1 = self_loop()
        c1.keep_d0_alive = d0
        del d0.loop                     # now only c1 keeps d0 alive
        c2 = self_loop()
        c2wr = objects.weakref(c2)      # no callback!
        d0 = c1 = c2 = None

        collections = []
        gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "stop" else None)
        gc.set_threshold(10, 10, 10)
        gc.enable()
        junk = []
        i = 0
        while not collections:
            i += 1
            if i > 10000:
                self.fail("gc didn't happen after 10000 iterations")
            self.assertEqual(len(ouch), 0)
            junk.append(Node())         # this will eventually trigger gc
        gc.disable()
        self.assertEqual(collections, [0])
        self.assertEqual(len(ouch), 1)  # else __del__ wasn't invoked
        self.assertIsNone(ouch[0])
        del junk

    def test_get_stats(self):
        stats = gc.get_stats()
        self.assertEqual(len(stats), 3)
        for st in stats:
            self.assertIsInstance(st, dict)
            self.assertEqual(set(st), {"collected", "collections", "uncollectable"})
            self.assertGreaterEqual(st["collected"], 0)
            self.assertGreaterEqual(st["collections"], 0)
            self.assertGreaterEqual(st["uncollectable"], 0)
        old = gc.get_stats()
        gc.collect(0)
        new = gc.get_stats()
        self.assertEqual(new[0]["collections"], old[0]["collections"] + 1)
        self.assertEqual(new[1]["collections"], old[1]["collections"])
        self.assertEqual(new[2]["collections"], old[2]["collections"])
        gc.collect(2)
        new = gc.get_stats()
        self.assertEqual(new[0]["collections"], old[0]["collections"] + 1)
        self.assertEqual(new[1]["collections"], old[1]["collections"])
        self.assertEqual(new[2]["collections"], old[2]["collections"] + 1)

    def test_freeze(self):
        keep = Node()
        gc.freeze()
        self.assertGreater(gc.get_freeze_count(), 0)
        gc.unfreeze()
        self.assertEqual(gc.get_freeze_count(), 0)
        del keep

    def test_freeze_scenario(self):
        # spec-gc §16.8 item 66
        a, b = Node(), Node()
        a.a, b.a = b, a
        wa = objects.weakref(a)
        del a, b
        tracked = len(gc.get_objects())
        gc.freeze()
        try:
            self.assertEqual(gc.get_freeze_count(), tracked)
            self.assertEqual(gc.get_count(), (0, 0, 0))
            self.assertEqual(gc.collect(), 0)
            a = wa()
            self.assertFalse(any(o is a for o in gc.get_objects()))
            self.assertTrue(gc.is_tracked(a))
            # a new cycle referencing a frozen object is collected normally
            before = a.refcnt
            c, d = Node(), Node()
            c.a, d.a, c.b = d, c, a
            del c, d
            self.assertEqual(gc.collect(), 2)
            self.assertEqual(a.refcnt, before)
            del a
        finally:
            gc.unfreeze()
        self.assertEqual(gc.get_freeze_count(), 0)
        self.assertTrue(any(o is wa() for o in gc.get_objects(2)))
        self.assertEqual(gc.collect(), 2)
        self.assertIsNone(wa())

    def test_get_objects(self):
        gc.collect()
        l = List(size=1)
        l[0] = l
        self.assertTrue(any(l is e for e in gc.get_objects(generation=0)))
        self.assertFalse(any(l is e for e in gc.get_objects(generation=1)))
        self.assertFalse(any(l is e for e in gc.get_objects(generation=2)))
        gc.collect(generation=0)
        self.assertFalse(any(l is e for e in gc.get_objects(generation=0)))
        self.assertTrue(any(l is e for e in gc.get_objects(generation=1)))
        self.assertFalse(any(l is e for e in gc.get_objects(generation=2)))
        gc.collect(generation=1)
        self.assertFalse(any(l is e for e in gc.get_objects(generation=0)))
        self.assertFalse(any(l is e for e in gc.get_objects(generation=1)))
        self.assertTrue(any(l is e for e in gc.get_objects(generation=2)))
        gc.collect(generation=2)
        self.assertTrue(any(l is e for e in gc.get_objects(generation=2)))
        del l
        self.assertEqual(gc.collect(), 1)

    def test_get_objects_arguments(self):
        gc.collect()
        self.assertEqual(len(gc.get_objects()), len(gc.get_objects(generation=None)))
        self.assertEqual(len(gc.get_objects()), len(gc.get_objects(-1)))
        with self.assertRaises(ValueError) as cm:
            gc.get_objects(1000)
        self.assertEqual(str(cm.exception), "generation parameter must be less than the number of available generations (3)")
        self.assertRaises(ValueError, gc.get_objects, 3)
        with self.assertRaises(ValueError) as cm:
            gc.get_objects(-1000)
        self.assertEqual(str(cm.exception), "generation parameter cannot be negative")
        self.assertRaises(ValueError, gc.get_objects, -2)
        self.assertRaises(TypeError, gc.get_objects, "1")
        self.assertRaises(TypeError, gc.get_objects, 1.234)

    def test_get_referents(self):
        leaves = [Leaf(), Leaf(), Leaf()]
        alist = List(items=leaves)
        self.assertEqual(gc.get_referents(alist), leaves)
        atuple = Tuple(items=leaves)
        self.assertEqual(gc.get_referents(atuple), leaves)
        adict = Node(leaves[0], None, leaves[1])
        self.assertEqual(gc.get_referents(adict), [leaves[0], leaves[1]])
        self.assertEqual(gc.get_referents(alist, adict), leaves + [leaves[0], leaves[1]])
        self.assertEqual(gc.get_referents(), [])
        self.assertEqual(gc.get_referents(1, "a", 4j), [])
        self.assertEqual(gc.get_referents(leaves[0]), [])   # not a GC object

    def test_get_referrers(self):
        # spec-gc §16.8 item 64
        x = Leaf()
        frozen = Node(a=x)
        gc.freeze()
        try:
            r1 = Node(a=x, b=x)
            r2 = Node(c=x)
            u = Node(a=x, track=False)
            got = gc.get_referrers(x)
            self.assertEqual(sum(1 for o in got if o is r1), 1)
            self.assertTrue(any(o is r2 for o in got))
            self.assertFalse(any(o is u or o is frozen for o in got))
            self.assertEqual(gc.get_referrers(r1), [])
            self.assertEqual(gc.get_referrers(42), [])
        finally:
            gc.unfreeze()

    def test_is_tracked(self):
        self.assertFalse(gc.is_tracked(None))
        self.assertFalse(gc.is_tracked(1))
        self.assertFalse(gc.is_tracked(Leaf()))
        self.assertTrue(gc.is_tracked(Node()))
        self.assertTrue(gc.is_tracked(List()))
        n = Node(track=False)
        self.assertFalse(gc.is_tracked(n))
        n.track()
        self.assertTrue(gc.is_tracked(n))
        n.untrack()
        self.assertFalse(gc.is_tracked(n))
        # the untracking optimisation: a tuple of untrackables is untracked by a collection
        t = Tuple(items=[Leaf(), Leaf()])
        self.assertTrue(gc.is_tracked(t))
        gc.collect(0)
        self.assertFalse(gc.is_tracked(t))
        t2 = Tuple(items=[Node()])
        gc.collect(0)
        self.assertTrue(gc.is_tracked(t2))

    def test_is_finalized(self):
        # Objects not tracked by the always gc return false
        self.assertFalse(gc.is_finalized(3))
        storage = []
        Lazarus = objects.Type("Lazarus", finalize=lambda self: storage.append(self))
        lazarus = Lazarus()
        self.assertFalse(gc.is_finalized(lazarus))
        addr = lazarus.address
        del lazarus
        gc.collect()
        lazarus = storage.pop()
        self.assertEqual(lazarus.address, addr)   # resurrected by its finalizer
        self.assertTrue(gc.is_finalized(lazarus))
        self.assertEqual(lazarus.refcnt, 1)

    def test_collect_arguments(self):
        for bad in (3, -1, 2**40):
            with self.subTest(generation=bad):
                with self.assertRaises(ValueError) as cm:
                    gc.collect(bad)
                self.assertEqual(str(cm.exception), "invalid generation")
                self.assertIsInstance(cm.exception, pyheapnative.InvalidArgumentError)
        self.assertRaises(TypeError, gc.collect, "2")
        self.assertEqual(gc.collect(generation=1), 0)

    def test_enable_disable(self):
        self.assertFalse(gc.isenabled())
        self.assertIsNone(gc.enable())
        self.assertTrue(gc.isenabled())
        self.assertIsNone(gc.disable())
        self.assertFalse(gc.isenabled())

    def test_thresholds(self):
        gc.set_threshold(700)
        self.assertEqual(gc.get_threshold(), (700,) + self.thresholds[1:])
        gc.set_threshold(701, 5)
        self.assertEqual(gc.get_threshold(), (701, 5, self.thresholds[2]))
        gc.set_threshold(100, 6, 7)
        self.assertEqual(gc.get_threshold(), (100, 6, 7))
        self.assertRaises(TypeError, gc.set_threshold)
        self.assertRaises(TypeError, gc.set_threshold, 1, 2, 3, 4)
        self.assertRaises(TypeError, gc.set_threshold, 1.5)
        self.assertRaises(OverflowError, gc.set_threshold, 2**40)
        self.assertEqual(gc.get_threshold(), (100, 6, 7))

    def test_debug_flags(self):
        self.assertEqual((gc.DEBUG_STATS, gc.DEBUG_COLLECTABLE, gc.DEBUG_UNCOLLECTABLE, gc.DEBUG_SAVEALL, gc.DEBUG_LEAK),
                         (1, 2, 4, 32, 38))
        gc.set_debug(gc.DEBUG_LEAK)
        self.assertEqual(gc.get_debug(), gc.DEBUG_LEAK)
        gc.set_debug(0)

    def test_debug_output_goes_to_sys_stderr(self):
        c = self_loop()
        addr = c.address
        del c
        err = io.StringIO()
        gc.set_debug(gc.DEBUG_STATS | gc.DEBUG_COLLECTABLE)
        with contextlib.redirect_stderr(err):
            gc.collect()
        gc.set_debug(0)
        lines = err.getvalue().splitlines()
        self.assertEqual(lines[0], "gc: collecting generation 2...")
        self.assertTrue(lines[1].startswith("gc: objects in each generation: "), lines)
        self.assertIn("gc: collectable <C1055820 %#x>" % addr, lines)
        self.assertRegex(lines[-1], r"^gc: done, 1 unreachable, 0 uncollectable, \d+\.\d{4}s elapsed$")

    def test_garbage_is_mirrored_and_clearing_releases(self):
        a = Uncollectable()
        a.partner = Uncollectable(partner=a)
        wr = objects.weakref(a)
        del a
        self.assertEqual(gc.collect(), 2)
        self.assertEqual(lib.phn_gc_garbage_count(), 2)
        self.assertEqual(len(gc.garbage), 2)
        self.assertIs(gc.garbage[0], wr())
        for e in gc.garbage:
            e.partner = None
        self.assertIsNotNone(wr())          # still in gc.garbage
        del gc.garbage[:]                    # releases the library's references too
        self.assertEqual(lib.phn_gc_garbage_count(), 0)
        self.assertIsNone(wr())

    def test_garbage_rebinding_does_not_change_the_collectors_list(self):
        real = gc.garbage
        try:
            gc.garbage = []
            make_uncollectable()
            gc.collect()
            self.assertEqual(gc.garbage, [])
            self.assertEqual(len(real), 2)
        finally:
            gc.garbage = real
        for e in real:
            e.partner = None
        del real[:]

    def test_garbage_at_shutdown(self):
        code = textwrap.dedent(
            """
            import warnings
            warnings.simplefilter("default")
            from pyheapnative import gc, objects
            X = objects.Type("X", slots=("x", "y"), legacy_del=lambda self: None)
            x = X()
            x.x = x
            x.y = X()
            del x
            gc.set_debug(%s)
            print(gc.shutdown(), end="")
            """
        )

        def run(flags):
            r = tu.run_python(code % flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout, r.stderr

        out, err = run("0")
        self.assertEqual(out, "2")
        self.assertIn("ResourceWarning: gc: 2 uncollectable objects at shutdown; use "
                      "gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them", err)
        self.assertNotIn("gc: uncollectable <X", err)
        # With DEBUG_UNCOLLECTABLE, the garbage list gets printed
        out, err = run("gc.DEBUG_UNCOLLECTABLE")
        self.assertIn("ResourceWarning: gc: 2 uncollectable objects at shutdown\n", err)
        # (the final collection lists them too, as CPython's does with this flag)
        self.assertGreaterEqual(err.count("gc: uncollectable <X 0x"), 2, err)
        self.assertIn("<string>:11: ResourceWarning", err)   # the line calling shutdown()
        # With DEBUG_SAVEALL, no additional message should be reported
        out, err = run("gc.DEBUG_SAVEALL")
        self.assertNotIn("uncollectable objects at shutdown", err)


class GCCallbackTests(GcTestCase):
    """Lib/test/test_gc.py, class GCCallbackTests."""

    def setUp(self):
        super().setUp()
        self.visit = []
        self.cleanup = False
        gc.callbacks.append(self.cb1)
        gc.callbacks.append(self.cb2)
        self.othergarbage = []

    def preclean(self):
        # Remove all fluff from the system. Invoke this function manually rather than
        # through self.setUp() for maximum safety.
        self.visit = []
        gc.collect()
        garbage, gc.garbage[:] = gc.garbage[:], []
        self.othergarbage.append(garbage)
        self.visit = []

    def tearDown(self):
        del self.othergarbage
        super().tearDown()

    def cb1(self, phase, info):
        self.visit.append((1, phase, dict(info)))

    def cb2(self, phase, info):
        self.visit.append((2, phase, dict(info)))
        if phase == "stop" and self.cleanup:
            # Clean Uncollectable from garbage
            uc = [e for e in gc.garbage if isinstance(e, Uncollectable)]
            gc.garbage[:] = [e for e in gc.garbage if not isinstance(e, Uncollectable)]
            for e in uc:
                e.partner = None

    def test_collect(self):
        self.preclean()
        gc.collect()
        n = [v[0] for v in self.visit]
        self.assertEqual([i for i in n if i == 1], [1] * 2)
        self.assertEqual([i for i in n if i == 2], [2] * 2)
        n = [v[1] for v in self.visit]
        self.assertEqual([i for i in n if i == "start"], ["start"] * 2)
        self.assertEqual([i for i in n if i == "stop"], ["stop"] * 2)
        for v in self.visit:
            info = v[2]
            self.assertTrue("generation" in info)
            self.assertTrue("collected" in info)
            self.assertTrue("uncollectable" in info)
        # spec-gc §16.8 item 67: the order and the start info
        self.assertEqual([(v[0], v[1]) for v in self.visit], [(1, "start"), (2, "start"), (1, "stop"), (2, "stop")])
        self.assertEqual(self.visit[0][2], {"generation": 2, "collected": 0, "uncollectable": 0})

    def test_collect_generation(self):
        self.preclean()
        gc.collect(2)
        for v in self.visit:
            self.assertEqual(v[2]["generation"], 2)
        self.visit = []
        gc.collect(0)
        self.assertEqual({v[2]["generation"] for v in self.visit}, {0})

    def test_collect_garbage(self):
        self.preclean()
        # Each of these cause two objects to be garbage:
        make_uncollectable()
        make_uncollectable()
        c = self_loop()
        del c
        gc.collect()
        for v in self.visit:
            if v[1] != "stop":
                continue
            info = v[2]
            self.assertEqual(info["collected"], 1)
            self.assertEqual(info["uncollectable"], 4)

        # We should now have the Uncollectables in gc.garbage
        self.assertEqual(len(gc.garbage), 4)
        for e in gc.garbage:
            self.assertIsInstance(e, Uncollectable)

        # Now, let our callback handle the Uncollectable instances
        self.cleanup = True
        self.visit = []
        gc.garbage[:] = []
        gc.collect()
        for v in self.visit:
            if v[1] != "stop":
                continue
            info = v[2]
            self.assertEqual(info["collected"], 0)
            self.assertEqual(info["uncollectable"], 2)

        # Uncollectables should be gone
        self.assertEqual(len(gc.garbage), 0)

    def test_stop_sees_updated_stats_and_nested_collect_returns_0(self):
        self.preclean()
        seen = []

        def cb(phase, info):
            if phase == "stop":
                seen.append((gc.get_stats()[2]["collections"], gc.collect()))

        gc.callbacks.append(cb)
        before = gc.get_stats()[2]["collections"]
        gc.collect()
        self.assertEqual(seen, [(before + 1, 0)])

    def test_failing_callback_is_reported_and_others_still_run(self):
        self.preclean()

        def bad(phase, info):
            raise ZeroDivisionError(phase)

        gc.callbacks.insert(0, bad)
        with UnraisableCatcher() as caught:
            c = self_loop()
            del c
            self.assertEqual(gc.collect(), 1)
        self.assertEqual([r.exc_type for r in caught.reports], [ZeroDivisionError] * 2)
        self.assertIs(caught.reports[0].object, bad)
        self.assertEqual([r.message for r in caught.reports], ["start", "stop"])
        self.assertEqual(len(self.visit), 4)

    def test_callbacks_may_modify_the_list(self):
        self.preclean()
        calls = []

        def once(phase, info):
            calls.append(phase)
            gc.callbacks.remove(once)

        gc.callbacks.append(once)
        gc.collect()
        gc.collect()
        self.assertEqual(calls, ["start"])

    def test_automatic_collections_call_back(self):
        self.preclean()
        gc.set_threshold(5)
        gc.enable()
        junk = [Node() for _ in range(20)]
        gc.disable()
        self.assertGreater(len([v for v in self.visit if v[1] == "stop"]), 0)
        self.assertEqual({v[2]["generation"] for v in self.visit}, {0})
        del junk


class ObjectsTest(GcTestCase):
    """pyheapnative.objects: wrappers, slots, refcounting, weak references, callback types."""

    def test_one_wrapper_per_object(self):
        a = Node()
        b = Node(a=a)
        self.assertIs(b.a, a)
        self.assertEqual(a.refcnt, 2)      # the wrapper and b's slot
        self.assertIn(a, gc.get_referents(b))
        self.assertTrue(isinstance(a, Node))
        self.assertFalse(isinstance(a, List))
        self.assertFalse(isinstance(3, Node))
        self.assertEqual(repr(a), "<GcNode object at %#x>" % a.address)

    def test_slot_assignment_refcounting(self):
        leaf = Leaf()
        n = Node()
        self.assertEqual(leaf.refcnt, 1)
        n.a = leaf
        n.b = leaf
        self.assertEqual(leaf.refcnt, 3)
        n.a = None
        self.assertEqual(leaf.refcnt, 2)
        del n.b
        self.assertEqual(leaf.refcnt, 1)
        self.assertIsNone(n.b)
        n.c = leaf
        del n                               # the layout releases its references
        self.assertEqual(leaf.refcnt, 1)
        with self.assertRaises(TypeError):
            Node().a = 3
        with self.assertRaises(AttributeError):
            Node().nope = None

    def test_items(self):
        l = List(size=3)
        self.assertEqual(len(l), 3)
        self.assertEqual(list(l), [None, None, None])
        leaf = Leaf()
        l[-1] = leaf
        self.assertIs(l[2], leaf)
        self.assertEqual(l[1:], [None, leaf])
        with self.assertRaises(IndexError):
            l[3] = leaf
        del l[2]
        self.assertEqual(leaf.refcnt, 1)
        with self.assertRaises(TypeError):
            Node(items=[leaf])

    def test_type_errors(self):
        with self.assertRaises(ValueError):
            objects.Type("Bad", slots=("a", "a"))
        with self.assertRaises(ValueError):
            objects.Type("Bad", slots=("address",))
        with self.assertRaises(TypeError):
            objects.Type("Bad", finalize=3)
        with self.assertRaises(TypeError):
            Node(1)
        with self.assertRaises(ValueError) as cm:
            Leaf(track=False)   # phn_gc_new of a non-GC type
        self.assertIsInstance(cm.exception, pyheapnative.PyHeapNativeError)
        self.assertTrue(str(cm.exception))

    def test_weakref(self):
        n = Node()
        self.assertEqual(objects.getweakrefcount(n), 0)
        w1 = objects.weakref(n)
        w2 = objects.weakref(n)
        self.assertIs(w1, w2)               # callback-less weak references are shared
        self.assertIs(w1(), n)
        self.assertEqual(objects.getweakrefcount(n), 1)
        seen = []
        w3 = objects.weakref(n, seen.append)
        self.assertIsNot(w3, w1)
        self.assertEqual(objects.getweakrefcount(n), 2)
        del n                               # death by reference count
        self.assertEqual(seen, [w3])
        self.assertIsNone(w1())
        self.assertIsNone(w3.__callback__)
        self.assertIn("dead", repr(w1))

    def test_dropped_weakref_forgets_its_callback(self):
        n = Node()
        before = len(objects._weakref_callbacks)
        w = objects.weakref(n, lambda wr: None)
        self.assertEqual(len(objects._weakref_callbacks), before + 1)
        del w                               # the weak reference dies: no callback ever
        self.assertEqual(len(objects._weakref_callbacks), before)
        self.assertEqual(objects.getweakrefcount(n), 0)

    def test_weakref_to_non_weakrefable_is_type_error(self):
        with self.assertRaises(TypeError) as cm:
            objects.weakref(Leaf())
        self.assertEqual(str(cm.exception), "cannot create weak reference to 'GcLeaf' object")
        self.assertIsInstance(cm.exception, pyheapnative.PyHeapNativeError)
        with self.assertRaises(TypeError) as cm:
            objects.weakref(3)
        self.assertEqual(str(cm.exception), "cannot create weak reference to 'int' object")

    def test_weakref_callback_exception_is_unraisable(self):
        def boom(wr):
            raise KeyError("boom")

        n = Node()
        w = objects.weakref(n, boom)
        with UnraisableCatcher() as caught:
            del n
        self.assertEqual(len(caught.reports), 1)
        self.assertIs(caught.reports[0].object, boom)
        self.assertIsNone(w())

    def test_python_traverse_and_clear(self):
        hidden = []

        def traverse(self, visit):
            # every owned reference exactly once (visiting one more often than it is
            # referenced is the fatal "refcount is too small")
            visit(self.a)
            visit(self.b)

        def clear(self):
            hidden.append("clear")
            self.a = None

        T = objects.Type("PyTraverse", slots=("a", "b"), traverse=traverse, clear=clear)
        leaf = Leaf()
        t = T(b=leaf)
        t.a = t
        self.assertEqual(gc.get_referents(t), [t, leaf])
        del t
        self.assertEqual(gc.collect(), 1)
        self.assertEqual(hidden, ["clear"])
        self.assertEqual(leaf.refcnt, 1)

    def test_decref_in_a_traverse_waits(self):
        # A traverse may call nothing but visit: a wrapper dying inside one (here on
        # purpose; in general when Python's own collector runs) releases its reference
        # only after the traversal.
        WLeaf = objects.Type("WLeaf", gc=False, weakrefable=True)
        holder = [WLeaf()]
        wr = objects.weakref(holder[0])
        during = []

        def traverse(self, visit):
            if holder:
                holder.pop()
                during.append(len(objects._deferred))
            visit(self.a)

        T = objects.Type("PyTraverseDrop", slots=("a",), traverse=traverse)
        t = T()
        t.a = t
        del t
        self.assertEqual(gc.collect(), 1)
        self.assertEqual(during, [1])                 # deferred, not called
        self.assertEqual(objects._deferred, [])
        self.assertIsNone(wr())

    def test_view_of_a_var_object(self):
        seen = []

        def traverse(self, visit):
            seen.append((len(self), self[0], list(self.refs()), self.head, repr(self)))
            for r in self.refs():
                visit(r)

        V = objects.Type("PyTraverseVar", slots=("head",), items=True, traverse=traverse)
        leaf = Leaf()
        v = V(leaf, items=[None, leaf])
        self.assertEqual(gc.get_referents(v), [leaf, leaf])
        n, first, refs, head, text = seen[0]
        self.assertEqual((n, first), (2, None))
        self.assertEqual(refs, [leaf, leaf])          # a View equals the object it views
        self.assertEqual(head.address, leaf.address)
        self.assertIsInstance(head, objects.View)
        self.assertTrue(text.startswith("<view of PyTraverseVar object at 0x"))

    def test_a_library_call_inside_a_traverse_is_fatal(self):
        # The contract the binding works around (phn_object.h: a traverse calls nothing
        # but visit): the collector calls it without a runtime transition, and a call into
        # the library from there aborts the process.
        code = textwrap.dedent(
            """
            from pyheapnative import _native, gc, objects
            def traverse(self, visit):
                _native.lib.phn_refcnt(self.address)
                visit(self.a)
            T = objects.Type("BadTraverse", slots=("a",), traverse=traverse)
            t = T()
            t.a = t
            del t
            gc.collect()
            print("survived")
            """
        )
        r = tu.run_python(code)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("survived", r.stdout)
        self.assertIn("UnmanagedCallersOnly", r.stderr)

    def test_python_traverse_that_stops(self):
        def traverse(self, visit):
            for r in self.refs():
                if visit(r):
                    return 1        # Py_VISIT's early return; later visits would be ignored
            return 0

        T = objects.Type("PyTraverseStop", slots=("a", "b"), traverse=traverse)
        x = Node()
        t = T(a=x, b=x)
        self.assertEqual(gc.get_referrers(x), [t])
        del t

    def test_failing_finalizer_is_reported(self):
        def finalize(self):
            raise ValueError("in finalize")

        F = objects.Type("FailingFinalize", slots=("a",), finalize=finalize)
        f = F()
        f.a = f
        del f
        with UnraisableCatcher() as caught:
            self.assertEqual(gc.collect(), 1)
        self.assertEqual([r.exc_type for r in caught.reports], [ValueError])
        self.assertIs(caught.reports[0].object, finalize)
        self.assertEqual(caught.reports[0].err_msg, "Exception ignored in tp_finalize of FailingFinalize object")
        pyheapnative.clear_error()

    def test_deep_chain(self):
        # the trashcan: a long chain freed by one decref
        head = None
        for _ in range(20000):
            head = Node(a=head)
        del head
        self.assertEqual(gc.collect(), 0)

    def test_threads(self):
        errors = []

        def work():
            try:
                for _ in range(200):
                    a, b = Node(), Node()
                    a.a, b.a = b, a
                    del a, b
                    gc.collect(0)
            except BaseException as exc:  # noqa: B902
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        gc.collect()
        self.assertEqual(lib.phn_gil_held(), 0)


if __name__ == "__main__":
    unittest.main()
