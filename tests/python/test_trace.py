"""tracemalloc through the ctypes binding (phn_trace.h via pyheapnative._native and the thin
pyheapnative._trace layer): spec-allocator.md §4, §7 items 40-48, reliability goal 8.
native-tests/test_trace.c has the exhaustive cases; these show the binding carries them.

The whole test process shares one library instance: every test stops tracing and removes
its frame provider in tearDown."""

from __future__ import annotations

import ctypes
import os
import random
import signal
import tempfile
import textwrap
import unittest

import pyheapnative
from pyheapnative import _native, _trace, mem

import phn_testutil as tu

lib = _native.lib

RANGE_MSG = "the number of frames must be in range [1; 65535]"
SNAPSHOT_MSG = "the tracemalloc module must be tracing memory allocations to take a snapshot"
CUMULATIVE_MSG = "cumulative mode cannot by used with key type 'traceback'"


class FrameSource:
    """A frame provider whose frames the test sets before each allocation."""

    def __init__(self):
        self.frames = [("<test>", 0)]
        self.total = None
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return (self.frames, self.total) if self.total is not None else self.frames


class TraceTestCase(unittest.TestCase):
    def setUp(self):
        _trace.set_frame_provider(None)
        _trace.stop()
        self.blocks = []  # (free function, address)

    def tearDown(self):
        try:
            for free, p in reversed(self.blocks):
                free(p)
        finally:
            _trace.set_frame_provider(None)
            _trace.stop()
        self.assertFalse(_trace.is_tracing())
        self.assertEqual(mem.allocator_name(), "pymalloc")

    def alloc(self, fn, free, *args):
        p = fn(*args)
        self.blocks.append((free, p))
        return p

    def release(self, free, p):
        self.blocks.remove((free, p))
        free(p)


class StartStopTest(TraceTestCase):
    def test_start_out_of_range_raises_value_error_with_cpythons_message(self):
        # item 40
        for n in (0, 65536, -1, 2**31 - 1):
            with self.subTest(nframe=n):
                with self.assertRaises(ValueError) as cm:
                    _trace.start(n)
                self.assertEqual(str(cm.exception), RANGE_MSG)
                self.assertEqual(cm.exception.code, _native.PHN_EINVAL)
                self.assertFalse(_trace.is_tracing())
        with self.assertRaises(ValueError):
            _trace.start(2**32 + 1)  # checked in Python: ctypes would wrap it to 1
        self.assertFalse(_trace.is_tracing())

    def test_raw_binding_returns_the_status(self):
        with self.assertRaises(pyheapnative.InvalidArgumentError):
            lib.phn_tracemalloc_start(0)
        self.assertEqual(lib.phn_tracemalloc_start(_native.PHN_TRACEMALLOC_MAX_NFRAME), 0)
        self.assertEqual(lib.phn_tracemalloc_get_traceback_limit(), 65535)
        self.assertEqual(lib.phn_tracemalloc_is_tracing(), 1)

    def test_second_start_keeps_the_limit(self):
        # item 41
        _trace.start(3)
        _trace.start(10)
        self.assertTrue(_trace.is_tracing())
        self.assertEqual(_trace.get_traceback_limit(), 3)
        _trace.stop()
        self.assertEqual(_trace.get_traceback_limit(), 3)

    def test_stop_restores_the_allocators(self):
        before = [mem.get_allocator(d) for d in mem.DOMAINS]
        _trace.start(1)
        self.assertIsNone(mem.allocator_name())
        self.assertNotEqual([mem.get_allocator(d) for d in mem.DOMAINS], before)
        _trace.stop()
        self.assertEqual([mem.get_allocator(d) for d in mem.DOMAINS], before)
        self.assertEqual(mem.allocator_name(), "pymalloc")
        _trace.stop()  # no-op


class TracedMemoryTest(TraceTestCase):
    def test_track_and_untrack_codes(self):
        # item 42: -2 when stopped, replace on re-track, 0 for unknown
        addr = ctypes.addressof(ctypes.c_int())
        self.assertEqual(_trace.track(7, addr, 10), -2)
        self.assertEqual(_trace.untrack(7, addr), -2)
        self.assertEqual(lib.phn_tracemalloc_track(7, addr, 10), -2)  # not a status: no exception
        _trace.start(1)
        self.assertEqual(_trace.track(7, addr, 100), 0)
        self.assertEqual(_trace.get_traced_memory(), (100, 100))
        self.assertEqual(_trace.track(7, addr, 300), 0)
        self.assertEqual(_trace.get_traced_memory(), (300, 300))
        with _trace.take_snapshot() as snap:
            traces = [t for t in snap.traces() if t.domain == 7]
            self.assertEqual([t.size for t in traces], [300])
            # item 43: a domain filter selects it
            with snap.filter_traces([_trace.DomainFilter(True, 7)]) as only:
                self.assertEqual([(t.domain, t.size) for t in only.traces()], [(7, 300)])
        self.assertEqual(_trace.untrack(7, addr), 0)
        self.assertEqual(_trace.untrack(7, addr), 0)
        self.assertEqual(_trace.untrack(12345, addr + 8), 0)
        self.assertEqual(_trace.get_traced_memory(), (0, 300))
        with self.assertRaises(ValueError):
            _trace.track(-1, addr, 1)
        with self.assertRaises(ValueError):
            _trace.track(2**32, addr, 1)

    def test_counters(self):
        # item 45
        self.assertEqual(_trace.get_traced_memory(), (0, 0))
        _trace.start(1)
        a = self.alloc(mem.mem_malloc, mem.mem_free, 1000)
        b = mem.raw_malloc(2000)
        self.assertEqual(_trace.get_traced_memory(), (3000, 3000))
        mem.raw_free(b)
        self.assertEqual(_trace.get_traced_memory(), (1000, 3000))
        _trace.reset_peak()
        self.assertEqual(_trace.get_traced_memory(), (1000, 1000))
        _trace.clear_traces()
        self.assertEqual(_trace.get_traced_memory(), (0, 0))
        self.release(mem.mem_free, a)
        self.assertEqual(_trace.get_traced_memory(), (0, 0))
        _trace.stop()
        self.assertEqual(_trace.get_traced_memory(), (0, 0))

    def test_large_object_is_traced_once(self):
        # item 44
        _trace.start(1)
        p = self.alloc(mem.obj_malloc, mem.obj_free, 100000)
        self.assertEqual(_trace.get_traced_memory()[0], 100000)
        with _trace.take_snapshot() as snap:
            self.assertEqual([t.size for t in snap.traces()], [100000])

    def test_random_operations_are_traced_exactly(self):
        # reliability goal 8: after every operation current == the model, peak == its peak
        rng = random.Random(1234)
        families = [
            (mem.raw_malloc, mem.raw_calloc, mem.raw_realloc, mem.raw_free),
            (mem.mem_malloc, mem.mem_calloc, mem.mem_realloc, mem.mem_free),
            (mem.obj_malloc, mem.obj_calloc, mem.obj_realloc, mem.obj_free),
        ]
        live = {}  # slot -> (domain, ptr, size)
        model = peak = 0
        _trace.start(1)
        memory0 = _trace.get_tracemalloc_memory()
        try:
            for step in range(4000):
                slot = rng.randrange(150)
                op = rng.randrange(4)
                size = rng.choice([0, rng.randrange(1, 513), rng.randrange(513, 5000), 100000])
                if slot in live and op != 2:
                    d, p, n = live.pop(slot)
                    families[d][3](p)
                    model -= n
                elif op == 2:
                    d = live[slot][0] if slot in live else rng.randrange(3)
                    old = live.get(slot, (d, None, 0))
                    p = families[d][2](old[1], size)
                    live[slot] = (d, p, size)
                    model += size - old[2]
                elif op == 3:
                    d = rng.randrange(3)
                    a, b = rng.randrange(40), rng.randrange(40)
                    live[slot] = (d, families[d][1](a, b), a * b)
                    model += a * b
                else:
                    d = rng.randrange(3)
                    live[slot] = (d, families[d][0](size), size)
                    model += size
                peak = max(peak, model)
                if step % 500 == 499:
                    _trace.reset_peak()
                    peak = model
                self.assertEqual(_trace.get_traced_memory(), (model, peak), "after step %d" % step)
            with _trace.take_snapshot() as snap:
                traces = snap.traces()
                self.assertEqual(len(traces), len(live))
                self.assertEqual(sum(t.size for t in traces), model)
            # the tracer's own tables are not traced
            self.assertGreater(_trace.get_tracemalloc_memory(), memory0)
            self.assertEqual(_trace.get_traced_memory()[0], model)
        finally:
            for d, p, _ in live.values():
                families[d][3](p)
        self.assertEqual(_trace.get_traced_memory()[0], 0)


class SnapshotTest(TraceTestCase):
    def test_take_snapshot_while_stopped(self):
        # item 46
        with self.assertRaises(RuntimeError) as cm:
            _trace.take_snapshot()
        self.assertEqual(str(cm.exception), SNAPSHOT_MSG)
        self.assertEqual(cm.exception.code, _native.PHN_ESTATE)

    def test_statistics_errors(self):
        # item 47
        _trace.start(1)
        with _trace.take_snapshot() as snap:
            with self.assertRaises(ValueError) as cm:
                snap.statistics("traceback", cumulative=True)
            self.assertEqual(str(cm.exception), CUMULATIVE_MSG)
            with self.assertRaises(ValueError) as cm:
                snap.statistics(7)
            self.assertTrue(str(cm.exception).startswith("unknown key_type"), str(cm.exception))
            self.assertEqual(cm.exception.code, _native.PHN_EINVAL)

    def test_statistics_and_compare_to_with_a_frame_provider(self):
        # items 48, 49
        src = FrameSource()
        _trace.set_frame_provider(src)
        _trace.start(4)

        def at(frames, size):
            src.frames = frames
            return self.alloc(mem.mem_malloc, mem.mem_free, size)

        at([("a.py", 1)], 100)
        at([("a.py", 1)], 100)
        a2 = at([("a.py", 2)], 300)
        at([("b.py", 1)], 200)
        at([("c.py", 5)], 200)
        old = _trace.take_snapshot()
        self.addCleanup(old.close)
        key = lambda stats: [(s.frames, s.size, s.count, s.size_diff, s.count_diff) for s in stats]
        self.assertEqual(key(old.statistics("lineno")), [
            ((("a.py", 2),), 300, 1, 0, 0),
            ((("a.py", 1),), 200, 2, 0, 0),
            ((("c.py", 5),), 200, 1, 0, 0),
            ((("b.py", 1),), 200, 1, 0, 0),
        ])
        self.assertEqual(key(old.statistics(_trace.KEY_FILENAME)), [
            ((("a.py", 0),), 500, 3, 0, 0),
            ((("c.py", 0),), 200, 1, 0, 0),
            ((("b.py", 0),), 200, 1, 0, 0),
        ])
        self.release(mem.mem_free, a2)
        at([("d.py", 1)], 50)
        at([("a.py", 1)], 100)
        with _trace.take_snapshot() as new:
            self.assertEqual(key(new.compare_to(old, "lineno")), [
                ((("a.py", 2),), 0, 0, -300, -1),
                ((("a.py", 1),), 300, 3, 100, 1),
                ((("d.py", 1),), 50, 1, 50, 1),
                ((("c.py", 5),), 200, 1, 0, 0),
                ((("b.py", 1),), 200, 1, 0, 0),
            ])
        # frames most recent first, total_nframe, no frame at all
        _trace.clear_traces()
        src.total = 9
        at([("inner.py", 3), ("middle.py", 2), ("outer.py", 1)], 11)
        src.total = None
        at([], 12)
        with _trace.take_snapshot() as snap:
            traces = {t.size: t for t in snap.traces()}
            self.assertEqual(traces[11].frames, (("inner.py", 3), ("middle.py", 2), ("outer.py", 1)))
            self.assertEqual(traces[11].total_nframe, 9)
            self.assertEqual(traces[12].frames, (("<unknown>", 0),))
            self.assertEqual(snap.traceback_limit, 4)

    def test_provider_allocations_are_not_traced(self):
        made = []

        def provider():
            made.append(mem.mem_malloc(777))
            return [("alloc.py", 1)]

        _trace.set_frame_provider(provider)
        _trace.start(1)
        try:
            p = self.alloc(mem.obj_malloc, mem.obj_free, 33)
            self.assertEqual(len(made), 1)
            self.assertEqual(_trace.get_traced_memory()[0], 33)
            with _trace.take_snapshot() as snap:
                self.assertEqual([(t.size, t.frames) for t in snap.traces()], [(33, (("alloc.py", 1),))])
            self.assertTrue(p)
        finally:
            _trace.set_frame_provider(None)
            for q in made:
                mem.mem_free(q)

    def test_filters_dump_and_load(self):
        src = FrameSource()
        _trace.set_frame_provider(src)
        _trace.start(2)
        for frames, size in ([("app.py", 10)], 1), ([("app.py", 20)], 2), ([("lib/util.py", 5), ("app.py", 30)], 4), \
                ([("lib/uti1.py", 7)], 8), ([("mod.pyc", 1)], 16):
            src.frames = frames
            self.alloc(mem.mem_malloc, mem.mem_free, size)
        with _trace.take_snapshot() as snap:
            def kept(*filters):
                with snap.filter_traces(filters) as f:
                    return sum(t.size for t in f.traces())

            self.assertEqual(kept(), 31)
            self.assertEqual(kept(_trace.Filter(True, "app.py")), 3)
            self.assertEqual(kept(_trace.Filter(True, "app.py", all_frames=True)), 7)
            self.assertEqual(kept(_trace.Filter(True, "app.py", lineno=20)), 2)
            self.assertEqual(kept(_trace.Filter(True, "*.py")), 31)
            self.assertEqual(kept(_trace.Filter(True, "lib/uti?.py")), 12)
            self.assertEqual(kept(_trace.Filter(True, "lib/uti[0-9].py")), 8)
            self.assertEqual(kept(_trace.Filter(False, "lib/*")), 19)
            self.assertEqual(kept(_trace.DomainFilter(False, 0)), 0)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "snap.bin")
                snap.dump(path)
                with _trace.Snapshot.load(path) as loaded:
                    self.assertEqual(sorted(loaded.traces()), sorted(snap.traces()))
                    self.assertEqual(loaded.traceback_limit, 2)
                    for k in ("filename", "lineno", "traceback"):
                        self.assertEqual(loaded.statistics(k), snap.statistics(k))
                with open(path, "wb") as f:
                    f.write(b"not a snapshot")
                with self.assertRaises(RuntimeError):
                    _trace.Snapshot.load(path)

    def test_bad_handles_raise_value_error(self):
        with self.assertRaises(ValueError):
            lib.phn_snapshot_trace_count(None)
        with self.assertRaises(ValueError):
            lib.phn_statistics_count(None)
        local = ctypes.c_int64(0)
        with self.assertRaises(ValueError):
            lib.phn_snapshot_trace_count(ctypes.addressof(local))
        _trace.start(1)
        snap = _trace.take_snapshot()
        handle = snap.handle
        snap.close()
        with self.assertRaises(ValueError):
            lib.phn_snapshot_trace_count(handle)
        with self.assertRaises(ValueError):
            len(snap)  # closed: checked in Python
        pyheapnative.clear_error()
        lib.phn_snapshot_free(handle)  # void: the error is only recorded
        self.assertEqual(pyheapnative.last_error_code(), _native.PHN_EINVAL)


class EnvironmentTest(unittest.TestCase):
    CODE = textwrap.dedent(
        """
        from pyheapnative import _trace, mem
        print(int(_trace.is_tracing()), _trace.get_traceback_limit())
        p = mem.mem_malloc(123)
        print(_trace.get_traced_memory()[0])
        mem.mem_free(p)
        """
    )

    def test_tracemalloc_variable_starts_tracing(self):
        r = tu.run_python(self.CODE, PYHEAPNATIVE_TRACEMALLOC="3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["1", "3", "123"])
        r = tu.run_python(self.CODE, PYHEAPNATIVE_TRACEMALLOC="0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["0", "1", "0"])

    def test_bad_value_is_fatal(self):
        for value in ("x", "70000"):
            with self.subTest(value=value):
                r = tu.run_python(self.CODE, PYHEAPNATIVE_TRACEMALLOC=value)
                self.assertEqual(r.returncode, -signal.SIGABRT, r.stderr)
                self.assertIn("PYHEAPNATIVE_TRACEMALLOC", r.stderr)
                self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
