"""pyheapnative.tracemalloc: selected cases of CPython's Lib/test/test_tracemalloc.py replayed
against the library's tracer. ``allocate_bytes`` allocates a block of the MEM domain (a
mem.Block) instead of a bytes object, and the fake traces of ``create_snapshots`` are
recorded with PyTraceMalloc_Track (``_trace.track``) under a scripted frame provider, so
that the library computes the statistics the test expects."""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
import unittest

from pyheapnative import _trace, mem, objects, tracemalloc

import phn_testutil as tu

EMPTY_STRING_SIZE = 0


def get_frames(nframe, lineno_delta):
    """The expected frames (oldest first) of the caller, as Traceback lists them."""
    frames = []
    frame = sys._getframe(1)
    for _ in range(nframe):
        code = frame.f_code
        lineno = frame.f_lineno + lineno_delta
        frames.append((code.co_filename, lineno))
        lineno_delta = 0
        frame = frame.f_back
        if frame is None:
            break
    return tuple(frames)


def allocate_bytes(size):
    nframe = tracemalloc.get_traceback_limit()
    bytes_len = size - EMPTY_STRING_SIZE
    frames = get_frames(nframe, 1)
    data = mem.Block(bytes_len)
    return data, tracemalloc.Traceback(frames, min(len(frames), nframe))


def traceback_of(snapshot, size):
    """The traceback of the only trace of *size* bytes."""
    found = [t.traceback for t in snapshot.traces if t.size == size]
    assert len(found) == 1, found
    return found[0]


class FrameScript:
    """A frame provider returning scripted frames (most recent first) and depth."""

    def __init__(self):
        self.frames = []
        self.total = 0

    def __call__(self):
        return self.frames, self.total


def create_snapshots():
    """CPython's create_snapshots(), recorded by the library: (domain, size, frames most
    recent first, total_nframe) for each trace."""
    traceback_limit = 2
    raw_traces = [
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (1, 2, (("a.py", 5), ("b.py", 4)), 3),
        (2, 66, (("b.py", 1),), 1),
        (3, 7, (("<unknown>", 0),), 1),
    ]
    raw_traces2 = [
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (0, 10, (("a.py", 2), ("b.py", 4)), 3),
        (2, 2, (("a.py", 5), ("b.py", 4)), 3),
        (2, 5000, (("a.py", 5), ("b.py", 4)), 3),
        (4, 400, (("c.py", 578),), 1),
    ]
    script = FrameScript()
    tracemalloc.stop()
    _trace.set_frame_provider(script)
    try:
        tracemalloc.start(traceback_limit)
        snapshots = []
        for raw in (raw_traces, raw_traces2):
            tracemalloc.clear_traces()
            for i, (domain, size, frames, total) in enumerate(raw):
                script.frames = [] if frames == (("<unknown>", 0),) else list(frames)
                script.total = total if script.frames else 0
                # fake addresses, distinct per domain (a real block is never this low)
                assert _trace.track(domain, 0x100 + 0x10 * i, size) == 0
            snapshots.append(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
        _trace.set_frame_provider(None)
    return snapshots[0], snapshots[1], raw_traces, raw_traces2


def traceback_lineno(filename, lineno):
    return tracemalloc.Traceback(((filename, lineno),))


def traceback_filename(filename):
    return traceback_lineno(filename, 0)


def raw(snapshot):
    return sorted(snapshot.traces._traces)


class TestTraceback(unittest.TestCase):
    def test_classes_are_the_standard_ones(self):
        import tracemalloc as std

        for name in ("Frame", "Traceback", "Trace", "Statistic", "StatisticDiff"):
            self.assertIs(getattr(tracemalloc, name), getattr(std, name))
        for name in ("Filter", "DomainFilter"):
            self.assertTrue(issubclass(getattr(tracemalloc, name), getattr(std, name)))

    def test_standard_filters_are_accepted(self):
        import tracemalloc as std

        snapshot = create_snapshots()[0]
        ours = snapshot.filter_traces([tracemalloc.Filter(False, "b.py"), tracemalloc.DomainFilter(False, 3)])
        theirs = snapshot.filter_traces([std.Filter(False, "b.py"), std.DomainFilter(False, 3)])
        self.assertEqual(raw(ours), raw(theirs))
        self.assertEqual(len(ours.traces), 4)
        self.assertEqual(tracemalloc.Filter(True, "x.pyc").filename_pattern, "x.py")


class TestTracemallocEnabled(unittest.TestCase):
    """Lib/test/test_tracemalloc.py, class TestTracemallocEnabled."""

    def setUp(self):
        _trace.set_frame_provider(None)
        if tracemalloc.is_tracing():
            self.skipTest("tracemalloc must be stopped before the test")
        tracemalloc.start(1)

    def tearDown(self):
        tracemalloc.stop()
        self.assertIsNone(_trace.frame_provider())

    def test_set_traceback_limit(self):
        obj_size = 10
        tracemalloc.stop()
        self.assertRaises(ValueError, tracemalloc.start, -1)
        self.assertRaises(ValueError, tracemalloc.start, 0)
        with self.assertRaises(ValueError) as cm:
            tracemalloc.start(65536)
        self.assertEqual(str(cm.exception), "the number of frames must be in range [1; 65535]")
        self.assertRaises(TypeError, tracemalloc.start, "1")

        tracemalloc.start(10)
        obj2, obj2_traceback = allocate_bytes(obj_size)
        traceback = traceback_of(tracemalloc.take_snapshot(), obj_size)
        self.assertEqual(len(traceback), 10)
        self.assertEqual(traceback, obj2_traceback)

        tracemalloc.stop()
        tracemalloc.start(1)
        obj, obj_traceback = allocate_bytes(obj_size)
        traceback = traceback_of(tracemalloc.take_snapshot(), obj_size)
        self.assertEqual(len(traceback), 1)
        self.assertEqual(traceback, obj_traceback)

    def test_python_frames(self):
        # get_object_traceback-like: the trace's traceback is the Python stack of the call
        tracemalloc.stop()
        tracemalloc.start(3)

        def allocate():
            return mem.Block(1234)

        block = allocate(); line = sys._getframe().f_lineno  # noqa: E702
        tb = traceback_of(tracemalloc.take_snapshot(), 1234)
        here = __file__
        self.assertEqual(tb[-1], tracemalloc.Frame((here, line - 2)))   # in allocate()
        self.assertEqual(tb[-2], tracemalloc.Frame((here, line)))
        self.assertEqual(len(tb), 3)
        self.assertGreater(tb.total_nframe, 3)
        self.assertEqual(str(tb), str(tb[0]))
        # objects are traced too (OBJ domain)
        node = objects.Type("TracedNode", slots=("a",))(); line = sys._getframe().f_lineno  # noqa: E702
        snapshot = tracemalloc.take_snapshot()
        stats = [s for s in snapshot.statistics("lineno") if s.traceback[0].lineno == line and s.traceback[0].filename == here]
        self.assertEqual(len(stats), 1)
        self.assertEqual(stats[0].count, 1)
        del block, node

    def test_get_object_traceback(self):
        # CPython's test, with a mem.Block for the bytes object
        tracemalloc.clear_traces()
        obj_size = 12345
        obj, obj_traceback = allocate_bytes(obj_size)
        traceback = tracemalloc.get_object_traceback(obj)
        self.assertEqual(traceback, obj_traceback)
        self.assertEqual(tracemalloc.get_object_traceback(obj.address), obj_traceback)
        # a small block (its trace in its header), an object of the library (its block
        # starts at its GC header), and what has no trace
        small = mem.Block(48); line = sys._getframe().f_lineno  # noqa: E702
        node = objects.Type("TracebackNode", slots=("a",))(); node_line = sys._getframe().f_lineno  # noqa: E702
        self.assertEqual(tracemalloc.get_object_traceback(small)[-1], tracemalloc.Frame((__file__, line)))
        self.assertEqual(tracemalloc.get_object_traceback(node)[-1], tracemalloc.Frame((__file__, node_line)))
        self.assertIsNone(tracemalloc.get_object_traceback(objects.address_of(node)))
        self.assertIsNone(tracemalloc.get_object_traceback(small.address + 16))
        plain = objects.Type("TracebackPlain", slots=("a",), gc=False)(); plain_line = sys._getframe().f_lineno  # noqa: E702
        self.assertEqual(tracemalloc.get_object_traceback(plain)[-1], tracemalloc.Frame((__file__, plain_line)))
        self.assertIsNone(tracemalloc.get_object_traceback(small).total_nframe, "as CPython's")
        with self.assertRaises(TypeError):
            tracemalloc.get_object_traceback("not a block")
        with self.assertRaises(ValueError):
            tracemalloc.get_object_traceback(-1)
        tracemalloc.stop()
        self.assertIsNone(tracemalloc.get_object_traceback(obj))
        self.assertIsNone(tracemalloc.get_object_traceback(node))
        del obj, small, node, plain

    def test_get_traced_memory(self):
        # The library traces exactly: no tolerance needed
        obj_size = 1024 * 1024
        tracemalloc.clear_traces()
        obj, obj_traceback = allocate_bytes(obj_size)
        size, peak_size = tracemalloc.get_traced_memory()
        self.assertEqual(size, obj_size)
        self.assertEqual(peak_size, size)

        # destroy the object
        obj = None
        size2, peak_size2 = tracemalloc.get_traced_memory()
        self.assertEqual(size2, 0)
        self.assertEqual(peak_size2, peak_size)

        # clear_traces() must reset traced memory counters
        tracemalloc.clear_traces()
        self.assertEqual(tracemalloc.get_traced_memory(), (0, 0))

        # allocate another object
        obj, obj_traceback = allocate_bytes(obj_size)
        size, peak_size = tracemalloc.get_traced_memory()
        self.assertGreaterEqual(size, obj_size)

        # stop() also resets traced memory counters
        tracemalloc.stop()
        self.assertEqual(tracemalloc.get_traced_memory(), (0, 0))

    def test_clear_traces(self):
        obj, obj_traceback = allocate_bytes(123)
        self.assertEqual(len(tracemalloc.take_snapshot().traces), 1)
        tracemalloc.clear_traces()
        self.assertEqual(len(tracemalloc.take_snapshot().traces), 0)

    def test_reset_peak(self):
        tracemalloc.clear_traces()
        # Example: allocate a large piece of memory, temporarily
        big = [mem.Block(1000) for _ in range(100)]
        del big
        size1, peak1 = tracemalloc.get_traced_memory()

        # reset_peak() resets peak to traced memory: peak2 < peak1
        tracemalloc.reset_peak()
        size2, peak2 = tracemalloc.get_traced_memory()
        self.assertGreaterEqual(peak2, size2)
        self.assertLess(peak2, peak1)

        # check that peak continue to be updated if new memory is allocated: peak3 > peak2
        obj_size = 1024 * 1024
        obj, obj_traceback = allocate_bytes(obj_size)
        size3, peak3 = tracemalloc.get_traced_memory()
        self.assertGreaterEqual(peak3, size3)
        self.assertGreater(peak3, peak2)
        self.assertGreaterEqual(peak3 - peak2, obj_size)

    def test_is_tracing(self):
        tracemalloc.stop()
        self.assertFalse(tracemalloc.is_tracing())
        tracemalloc.start()
        self.assertTrue(tracemalloc.is_tracing())

    def test_snapshot(self):
        obj, source = allocate_bytes(123)

        # create a snapshot
        snapshot = tracemalloc.take_snapshot()

        # This can vary
        self.assertGreater(snapshot.traces[0].size, 0)

        # write on disk
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "snapshot")
            snapshot.dump(path)

            # load from disk
            snapshot2 = tracemalloc.Snapshot.load(path)
            self.assertEqual(snapshot2.traces, snapshot.traces)

        # tracemalloc must be tracing memory allocations to take a snapshot
        tracemalloc.stop()
        with self.assertRaises(RuntimeError) as cm:
            tracemalloc.take_snapshot()
        self.assertEqual(str(cm.exception),
                         "the tracemalloc module must be tracing memory allocations to take a snapshot")

    def test_get_tracemalloc_memory(self):
        data = [allocate_bytes(123) for count in range(1000)]
        size = tracemalloc.get_tracemalloc_memory()
        self.assertGreaterEqual(size, 0)

        tracemalloc.clear_traces()
        size2 = tracemalloc.get_tracemalloc_memory()
        self.assertGreaterEqual(size2, 0)
        self.assertLessEqual(size2, size)
        del data

    def test_traceback_limit_kept_by_a_second_start(self):
        tracemalloc.start(5)
        self.assertEqual(tracemalloc.get_traceback_limit(), 1)

    def test_a_custom_provider_is_kept(self):
        tracemalloc.stop()
        script = FrameScript()
        script.frames, script.total = [("x.py", 7)], 1
        _trace.set_frame_provider(script)
        try:
            tracemalloc.start(1)
            b = mem.Block(77)
            self.assertEqual(traceback_of(tracemalloc.take_snapshot(), 77), traceback_lineno("x.py", 7))
            tracemalloc.stop()
            self.assertIs(_trace.frame_provider(), script)
            del b
        finally:
            _trace.set_frame_provider(None)


class TestSnapshot(unittest.TestCase):
    """Lib/test/test_tracemalloc.py, class TestSnapshot (statistics computed by the library)."""

    @classmethod
    def setUpClass(cls):
        if tracemalloc.is_tracing():
            raise unittest.SkipTest("tracemalloc must be stopped before the test")
        cls.snapshot, cls.snapshot2, cls.raw1, cls.raw2 = create_snapshots()

    def test_create_snapshot(self):
        self.assertEqual(raw(self.snapshot), sorted(self.raw1))
        self.assertEqual(raw(self.snapshot2), sorted(self.raw2))
        self.assertEqual(self.snapshot.traceback_limit, 2)
        trace = [t for t in self.snapshot.traces if t.domain == 1][0]
        self.assertEqual(trace.size, 2)
        self.assertEqual(trace.traceback, tracemalloc.Traceback((("a.py", 5), ("b.py", 4)), 3))
        self.assertEqual(trace.traceback.total_nframe, 3)

    def test_filter_traces(self):
        snapshot = self.snapshot
        filter1 = tracemalloc.Filter(False, "b.py")
        filter2 = tracemalloc.Filter(True, "a.py", 2)
        filter3 = tracemalloc.Filter(True, "a.py", 5)

        original_traces = raw(snapshot)

        # exclude b.py
        snapshot3 = snapshot.filter_traces((filter1,))
        self.assertEqual(raw(snapshot3), sorted([
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (1, 2, (("a.py", 5), ("b.py", 4)), 3),
            (3, 7, (("<unknown>", 0),), 1),
        ]))

        # filter_traces() must not touch the original snapshot
        self.assertEqual(raw(snapshot), original_traces)

        # only include two lines of a.py
        snapshot4 = snapshot3.filter_traces((filter2, filter3))
        self.assertEqual(raw(snapshot4), sorted([
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (1, 2, (("a.py", 5), ("b.py", 4)), 3),
        ]))

        # No filter: just duplicate the snapshot
        snapshot5 = snapshot.filter_traces(())
        self.assertIsNot(snapshot5, snapshot)
        self.assertIsNot(snapshot5.traces, snapshot.traces)
        self.assertEqual(raw(snapshot5), raw(snapshot))

        self.assertRaises(TypeError, snapshot.filter_traces, filter1)

    def test_filter_traces_domain(self):
        snapshot = self.snapshot
        filter1 = tracemalloc.Filter(False, "a.py", domain=1)
        filter2 = tracemalloc.Filter(True, "a.py", domain=1)

        original_traces = raw(snapshot)

        # exclude a.py of domain 1
        snapshot3 = snapshot.filter_traces((filter1,))
        self.assertEqual(raw(snapshot3), sorted([
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (2, 66, (("b.py", 1),), 1),
            (3, 7, (("<unknown>", 0),), 1),
        ]))

        # include domain 1
        snapshot3 = snapshot.filter_traces((filter1,))
        snapshot4 = snapshot.filter_traces((filter2,))
        self.assertEqual(raw(snapshot4), [(1, 2, (("a.py", 5), ("b.py", 4)), 3)])
        self.assertEqual(raw(snapshot), original_traces)

    def test_filter_traces_domain_filter(self):
        snapshot = self.snapshot
        filter1 = tracemalloc.DomainFilter(False, domain=3)
        filter2 = tracemalloc.DomainFilter(True, domain=3)

        # exclude domain 2
        snapshot3 = snapshot.filter_traces((filter1,))
        self.assertEqual(raw(snapshot3), sorted([
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (0, 10, (("a.py", 2), ("b.py", 4)), 3),
            (1, 2, (("a.py", 5), ("b.py", 4)), 3),
            (2, 66, (("b.py", 1),), 1),
        ]))

        # include domain 2
        snapshot3 = snapshot.filter_traces((filter2,))
        self.assertEqual(raw(snapshot3), [(3, 7, (("<unknown>", 0),), 1)])

    def test_snapshot_group_by_line(self):
        snapshot, snapshot2 = self.snapshot, self.snapshot2
        tb_0 = traceback_lineno("<unknown>", 0)
        tb_a_2 = traceback_lineno("a.py", 2)
        tb_a_5 = traceback_lineno("a.py", 5)
        tb_b_1 = traceback_lineno("b.py", 1)
        tb_c_578 = traceback_lineno("c.py", 578)

        # stats per file and line
        stats1 = snapshot.statistics("lineno")
        self.assertEqual(stats1, [
            tracemalloc.Statistic(tb_b_1, 66, 1),
            tracemalloc.Statistic(tb_a_2, 30, 3),
            tracemalloc.Statistic(tb_0, 7, 1),
            tracemalloc.Statistic(tb_a_5, 2, 1),
        ])

        # stats per file and line (2)
        stats2 = snapshot2.statistics("lineno")
        self.assertEqual(stats2, [
            tracemalloc.Statistic(tb_a_5, 5002, 2),
            tracemalloc.Statistic(tb_c_578, 400, 1),
            tracemalloc.Statistic(tb_a_2, 30, 3),
        ])

        # stats diff per file and line
        statistics = snapshot2.compare_to(snapshot, "lineno")
        self.assertEqual(statistics, [
            tracemalloc.StatisticDiff(tb_a_5, 5002, 5000, 2, 1),
            tracemalloc.StatisticDiff(tb_c_578, 400, 400, 1, 1),
            tracemalloc.StatisticDiff(tb_b_1, 0, -66, 0, -1),
            tracemalloc.StatisticDiff(tb_0, 0, -7, 0, -1),
            tracemalloc.StatisticDiff(tb_a_2, 30, 0, 3, 0),
        ])

    def test_snapshot_group_by_file(self):
        snapshot, snapshot2 = self.snapshot, self.snapshot2
        tb_0 = traceback_filename("<unknown>")
        tb_a = traceback_filename("a.py")
        tb_b = traceback_filename("b.py")
        tb_c = traceback_filename("c.py")

        # stats per file
        stats1 = snapshot.statistics("filename")
        self.assertEqual(stats1, [
            tracemalloc.Statistic(tb_b, 66, 1),
            tracemalloc.Statistic(tb_a, 32, 4),
            tracemalloc.Statistic(tb_0, 7, 1),
        ])

        # stats per file (2)
        stats2 = snapshot2.statistics("filename")
        self.assertEqual(stats2, [
            tracemalloc.Statistic(tb_a, 5032, 5),
            tracemalloc.Statistic(tb_c, 400, 1),
        ])

        # stats diff per file
        diff = snapshot2.compare_to(snapshot, "filename")
        self.assertEqual(diff, [
            tracemalloc.StatisticDiff(tb_a, 5032, 5000, 5, 1),
            tracemalloc.StatisticDiff(tb_c, 400, 400, 1, 1),
            tracemalloc.StatisticDiff(tb_b, 0, -66, 0, -1),
            tracemalloc.StatisticDiff(tb_0, 0, -7, 0, -1),
        ])

    def test_snapshot_group_by_traceback(self):
        snapshot, snapshot2 = self.snapshot, self.snapshot2

        # stats per file
        tb1 = tracemalloc.Traceback((("a.py", 2), ("b.py", 4)))
        tb2 = tracemalloc.Traceback((("a.py", 5), ("b.py", 4)))
        tb3 = tracemalloc.Traceback((("b.py", 1),))
        tb4 = tracemalloc.Traceback((("<unknown>", 0),))
        stats1 = snapshot.statistics("traceback")
        self.assertEqual(stats1, [
            tracemalloc.Statistic(tb3, 66, 1),
            tracemalloc.Statistic(tb1, 30, 3),
            tracemalloc.Statistic(tb4, 7, 1),
            tracemalloc.Statistic(tb2, 2, 1),
        ])

        # stats per file (2)
        tb5 = tracemalloc.Traceback((("c.py", 578),))
        stats2 = snapshot2.statistics("traceback")
        self.assertEqual(stats2, [
            tracemalloc.Statistic(tb2, 5002, 2),
            tracemalloc.Statistic(tb5, 400, 1),
            tracemalloc.Statistic(tb1, 30, 3),
        ])

        # stats diff per file
        diff = snapshot2.compare_to(snapshot, "traceback")
        self.assertEqual(diff, [
            tracemalloc.StatisticDiff(tb2, 5002, 5000, 2, 1),
            tracemalloc.StatisticDiff(tb5, 400, 400, 1, 1),
            tracemalloc.StatisticDiff(tb3, 0, -66, 0, -1),
            tracemalloc.StatisticDiff(tb4, 0, -7, 0, -1),
            tracemalloc.StatisticDiff(tb1, 30, 0, 3, 0),
        ])

        self.assertRaises(ValueError, snapshot.statistics, "traceback", cumulative=True)

    def test_snapshot_group_by_cumulative(self):
        snapshot, snapshot2 = self.snapshot, self.snapshot2
        tb_0 = traceback_filename("<unknown>")
        tb_a = traceback_filename("a.py")
        tb_b = traceback_filename("b.py")
        tb_a_2 = traceback_lineno("a.py", 2)
        tb_a_5 = traceback_lineno("a.py", 5)
        tb_b_1 = traceback_lineno("b.py", 1)
        tb_b_4 = traceback_lineno("b.py", 4)

        # per file
        stats = snapshot.statistics("filename", True)
        self.assertEqual(stats, [
            tracemalloc.Statistic(tb_b, 98, 5),
            tracemalloc.Statistic(tb_a, 32, 4),
            tracemalloc.Statistic(tb_0, 7, 1),
        ])

        # per line
        stats = snapshot.statistics("lineno", True)
        self.assertEqual(stats, [
            tracemalloc.Statistic(tb_b_1, 66, 1),
            tracemalloc.Statistic(tb_b_4, 32, 4),
            tracemalloc.Statistic(tb_a_2, 30, 3),
            tracemalloc.Statistic(tb_0, 7, 1),
            tracemalloc.Statistic(tb_a_5, 2, 1),
        ])

    def test_statistics_errors(self):
        with self.assertRaises(ValueError) as cm:
            self.snapshot.statistics("traceback", cumulative=True)
        self.assertEqual(str(cm.exception), "cumulative mode cannot by used with key type 'traceback'")
        with self.assertRaises(ValueError) as cm:
            self.snapshot.statistics("bogus")
        self.assertEqual(str(cm.exception), "unknown key_type: 'bogus'")
        self.assertRaises(TypeError, self.snapshot.compare_to, None, "lineno")

    def test_statistic_format(self):
        stat = self.snapshot2.statistics("lineno")[0]
        self.assertEqual(str(stat), "a.py:5: size=5002 B, count=2, average=2501 B")
        diff = self.snapshot2.compare_to(self.snapshot, "lineno")[0]
        self.assertEqual(str(diff), "a.py:5: size=5002 B (+5000 B), count=2 (+1), average=2501 B")

    def test_dump_load(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "snapshot.phn")
            self.snapshot.dump(path)
            loaded = tracemalloc.Snapshot.load(path)
        self.assertEqual(raw(loaded), raw(self.snapshot))
        self.assertEqual(loaded.traceback_limit, 2)
        for key in ("filename", "lineno", "traceback"):
            self.assertEqual(loaded.statistics(key), self.snapshot.statistics(key))
        self.assertEqual(self.snapshot2.compare_to(loaded, "lineno"), self.snapshot2.compare_to(self.snapshot, "lineno"))

    def test_trace_objects(self):
        traces = self.snapshot.traces
        self.assertEqual(len(traces), 6)
        self.assertIn(traces[0], traces)
        self.assertEqual(len(traces[1:3]), 2)
        self.assertIn("<Traces len=6>", repr(traces))


class TestCommandLine(unittest.TestCase):
    """The PYTHONTRACEMALLOC analogue (PYHEAPNATIVE_TRACEMALLOC)."""

    def test_env_var_starts_tracing(self):
        code = textwrap.dedent(
            """
            from pyheapnative import tracemalloc
            print(tracemalloc.is_tracing(), tracemalloc.get_traceback_limit())
            """
        )
        r = tu.run_python(code, PYHEAPNATIVE_TRACEMALLOC="10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["True", "10"])


if __name__ == "__main__":
    unittest.main()
