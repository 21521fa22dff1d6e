"""pyheapnative.mem: the three domains, pymalloc behaviour observable from Python, stats,
hooks and threads (spec-allocator.md section 7)."""

from __future__ import annotations

import ctypes
import inspect
import random
import re
import threading
import unittest

import pyheapnative
from pyheapnative import _native, mem

import phn_testutil as tu

lib = _native.lib

DOMAINS = {"raw": mem.DOMAIN_RAW, "mem": mem.DOMAIN_MEM, "obj": mem.DOMAIN_OBJ}
PYMALLOC_DOMAINS = {"mem": mem.DOMAIN_MEM, "obj": mem.DOMAIN_OBJ}


def funcs(prefix):
    return tuple(getattr(mem, "%s_%s" % (prefix, f)) for f in ("malloc", "calloc", "realloc", "free"))


def pattern(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def write(p, data):
    ctypes.memmove(p, data, len(data))


def read(p, n):
    return ctypes.string_at(p, n)


def pymalloc_active():
    return mem.allocator_name() == "pymalloc"


class BadSizeTest(unittest.TestCase):
    """Sizes ctypes would wrap silently are rejected before any call."""

    BAD_VALUES = (-1, -(2**63), 2**63, 2**64, 2**64 + 16, 2**100)

    def assert_nothing_reaches_the_library(self, action):
        before = mem.get_stats().allocated_blocks
        hooks = [tu.CountingHook(d) for d in mem.DOMAINS]
        for h in hooks:
            h.__enter__()
        try:
            with self.assertRaises(ValueError):
                action()
        finally:
            for h in reversed(hooks):
                h.__exit__(None, None, None)
        self.assertEqual([h.total() for h in hooks], [0, 0, 0])
        self.assertEqual(mem.get_stats().allocated_blocks, before)

    def test_malloc_calloc_realloc_of_every_domain(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for bad in self.BAD_VALUES:
                with self.subTest(domain=prefix, size=bad):
                    self.assert_nothing_reaches_the_library(lambda: malloc(bad))
                    self.assert_nothing_reaches_the_library(lambda: calloc(bad, 1))
                    self.assert_nothing_reaches_the_library(lambda: calloc(1, bad))
                    self.assert_nothing_reaches_the_library(lambda: realloc(None, bad))

    def test_rejected_realloc_leaves_the_block_intact(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for size in (40, 600):
                with self.subTest(domain=prefix, size=size):
                    p = malloc(size)
                    write(p, pattern(size))
                    for bad in (-1, 2**63, 2**64):
                        self.assert_nothing_reaches_the_library(lambda: realloc(p, bad))
                    self.assertEqual(read(p, size), pattern(size))
                    free(p)

    def test_exact_limits(self):
        self.assertEqual(mem.check_size(0), 0)
        self.assertEqual(mem.check_size(2**63 - 1), 2**63 - 1)
        with self.assertRaises(ValueError):
            mem.check_size(2**63)
        with self.assertRaises(ValueError):
            mem.check_size(-1)

    def test_non_integers_are_type_errors(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for bad in (1.0, "16", b"16", None, True, [16]):
                with self.subTest(domain=prefix, value=bad):
                    with self.assertRaises(TypeError):
                        malloc(bad)
                    with self.assertRaises(TypeError):
                        calloc(bad, 1)
                    with self.assertRaises(TypeError):
                        calloc(1, bad)
                    with self.assertRaises(TypeError):
                        realloc(None, bad)

    def test_bad_pointers(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                for bad in (-1, 2**64):
                    with self.assertRaises(ValueError):
                        free(bad)
                    with self.assertRaises(ValueError):
                        realloc(bad, 10)
                for bad in ("0", 1.5, True):
                    with self.assertRaises(TypeError):
                        free(bad)

    def test_oversized_products_and_huge_requests_are_memory_errors(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                before = mem.get_stats().allocated_blocks
                with tu.CountingHook(DOMAINS[prefix]) as hook:
                    with self.assertRaises(MemoryError):
                        calloc(2, 2**62)  # product above PTRDIFF_MAX: rejected by the library
                    with self.assertRaises(MemoryError):
                        calloc(2**33, 2**33)
                self.assertEqual(hook.total(), 0, hook.requests)
                with self.assertRaises(MemoryError):
                    malloc(2**62)  # in range but impossible
                self.assertEqual(mem.get_stats().allocated_blocks, before)

    def test_failed_realloc_keeps_the_block(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                p = malloc(100)
                write(p, pattern(100))
                with self.assertRaises(MemoryError):
                    realloc(p, 2**62)
                self.assertEqual(read(p, 100), pattern(100))
                free(p)


class SemanticsTest(unittest.TestCase):
    def test_malloc_zero_is_distinct_and_non_null(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                ps = [malloc(0) for _ in range(8)]
                ps += [calloc(0, 5), calloc(5, 0), calloc(0, 0), realloc(None, 0)]
                self.assertTrue(all(ps))
                self.assertEqual(len(set(ps)), len(ps))
                for p in ps:
                    free(p)

    def test_calloc_zeroes(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for nelem, elsize in ((1, 1), (1, 16), (5, 7), (32, 16), (1, 512), (1, 513), (64, 64), (1000, 100)):
                n = nelem * elsize
                with self.subTest(domain=prefix, nelem=nelem, elsize=elsize):
                    dirty = malloc(n)
                    ctypes.memset(dirty, 0xAB, n)
                    free(dirty)  # pymalloc hands the same block back (LIFO)
                    p = calloc(nelem, elsize)
                    self.assertEqual(read(p, n), bytes(n))
                    free(p)

    def test_realloc_keeps_content(self):
        steps = (10, 100, 512, 600, 4000, 300, 16, 1, 0, 50)
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                size = 24
                p = malloc(size)
                data = pattern(size, 3)
                write(p, data)
                for new in steps:
                    p = realloc(p, new)
                    keep = min(size, new)
                    self.assertEqual(read(p, keep), data[:keep], "%d -> %d" % (size, new))
                    data = data[:keep] + pattern(new - keep, new)
                    write(p, data)
                    size = new
                free(p)

    def test_alignment(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                ps = [malloc(n) for n in list(range(0, 530)) + [1000, 4096, 65536, 300000]]
                ps += [calloc(3, n) for n in range(0, 200, 7)]
                bad = [hex(p) for p in ps if p % 16]
                self.assertEqual(bad, [])
                for p in ps:
                    free(p)

    def test_free_null_is_a_no_op(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            before = mem.get_stats().allocated_blocks
            free(None)
            free(0)
            self.assertEqual(mem.get_stats().allocated_blocks, before)

    def test_blocks_do_not_overlap(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                rng = random.Random(7)
                blocks = []
                for i in range(400):
                    n = rng.choice((1, 8, 16, 17, 100, 256, 511, 512, 513, 2000))
                    p = malloc(n)
                    ctypes.memset(p, i & 0xFF, n)
                    blocks.append((p, n, i & 0xFF))
                for p, n, b in blocks:
                    self.assertEqual(read(p, n), bytes([b]) * n)
                    free(p)


@unittest.skipUnless(pymalloc_active(), "pymalloc is not the MEM/OBJ allocator in this run")
class PymallocTest(unittest.TestCase):
    def test_realloc_null_is_malloc(self):
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                p = malloc(40)
                free(p)
                q = realloc(None, 33)
                self.assertEqual(q, p)  # same as malloc(33): LIFO reuse
                free(q)

    def test_lifo_reuse(self):
        for prefix, domain in PYMALLOC_DOMAINS.items():
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                p = malloc(40)
                free(p)
                q = malloc(33)  # 40 and 33 are both class 2 (48 bytes)
                self.assertEqual(q, p)
                free(q)

    def test_realloc_shrink_rule(self):
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                p = malloc(512)
                write(p, pattern(512))
                q = realloc(p, 385)  # 4 * 385 > 3 * 512: stays
                self.assertEqual(q, p)
                self.assertEqual(read(q, 385), pattern(385))
                free(q)

                p = malloc(512)
                write(p, pattern(512, 1))
                q = realloc(p, 384)  # 4 * 384 == 3 * 512: moves
                self.assertNotEqual(q, p)
                self.assertEqual(read(q, 384), pattern(384, 1))
                free(q)

    def test_realloc_within_the_same_class_stays(self):
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            p = malloc(20)
            self.assertEqual(realloc(p, 32), p)
            free(p)

    def test_block_positions_in_pools(self):
        # spec 2.3 / 7.13: pools are POOL_SIZE-aligned, the first block sits at pool base + 48
        # and blocks follow each other at the class's block size.
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for size in (1, 16, 17, 100, 385, 512):
                block_size = (size + 15) // 16 * 16
                with self.subTest(domain=prefix, size=size):
                    ps = [malloc(size) for _ in range(100)]
                    for p in ps:
                        offset = p % mem.POOL_SIZE
                        self.assertGreaterEqual(offset, mem.POOL_OVERHEAD, hex(p))
                        self.assertEqual((offset - mem.POOL_OVERHEAD) % block_size, 0, hex(p))
                        self.assertLessEqual(offset + block_size, mem.POOL_SIZE, hex(p))
                    for p in ps:
                        free(p)

    def test_allocated_blocks_accounting(self):
        for prefix in DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            for size in (0, 16, 1000):
                with self.subTest(domain=prefix, size=size):
                    before = mem.get_stats()
                    ps = [malloc(size) for _ in range(10)]
                    after = mem.get_stats()
                    expected = 0 if prefix == "raw" else 10
                    self.assertEqual(after.allocated_blocks - before.allocated_blocks, expected)
                    if prefix != "raw":
                        routed = 10 if size in (0, 1000) else 0
                        self.assertEqual(after.raw_allocated_blocks - before.raw_allocated_blocks, routed)
                    for p in ps:
                        free(p)
                    self.assertEqual(mem.get_stats().allocated_blocks, before.allocated_blocks)
                    self.assertEqual(mem.allocated_blocks(), before.allocated_blocks)

    def test_small_and_large_routing_uses_the_raw_domain(self):
        # spec 7.11: 512 bytes stay in pymalloc; 0 and 513 bytes go to the RAW allocator.
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                free(malloc(512))  # warm up: a pool of class 31 and its arena exist
                with tu.CountingHook(mem.DOMAIN_RAW) as raw:
                    p512 = malloc(512)
                    small = raw.total()
                    p513 = malloc(513)
                    p0 = malloc(0)
                    free(p512)
                    free(p513)
                    free(p0)
                self.assertEqual(small, 0, raw.requests)
                self.assertEqual(raw.calls["malloc"], 2, raw.requests)
                self.assertEqual(raw.calls["free"], 2, raw.requests)
                self.assertEqual([r[1] for r in raw.requests if r[0] == "malloc"], [513, 0])
                self.assertEqual([r[1] for r in raw.requests if r[0] == "free"], [p513, p0])

    def test_raw_block_never_migrates_into_pymalloc(self):
        for prefix in PYMALLOC_DOMAINS:
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                p = malloc(1000)
                before = mem.get_stats()
                with tu.CountingHook(mem.DOMAIN_RAW) as raw:
                    q = realloc(p, 10)
                self.assertEqual(raw.calls["realloc"], 1, raw.requests)
                after = mem.get_stats()
                self.assertEqual(after.raw_allocated_blocks, before.raw_allocated_blocks)
                self.assertEqual(sum(c.blocks_in_use for c in after.size_classes), sum(c.blocks_in_use for c in before.size_classes))
                free(q)

    def test_stats_structure(self):
        s = mem.get_stats()
        self.assertEqual(s.struct_size, ctypes.sizeof(_native.phn_stats))
        self.assertEqual(s.version, mem.STATS_VERSION)
        self.assertEqual(s.arena_size, mem.ARENA_SIZE)
        self.assertEqual(s.pool_size, mem.POOL_SIZE)
        self.assertEqual(s.num_size_classes, 32)
        self.assertEqual(len(s.size_classes), 32)
        for i, c in enumerate(s.size_classes):
            self.assertEqual(c.block_size, (i + 1) * 16)
            self.assertEqual(c.blocks_per_pool, (mem.POOL_SIZE - mem.POOL_OVERHEAD) // c.block_size)
            self.assertLessEqual(c.full_pools, c.pools)
            self.assertEqual(c.blocks_in_use + c.blocks_available, c.pools * c.blocks_per_pool)
        self.assertEqual(s.size_classes[0].blocks_per_pool, 1021)
        self.assertEqual(s.size_classes[31].blocks_per_pool, 31)
        six = (
            s.bytes_in_allocated_blocks + s.bytes_in_available_blocks + s.bytes_in_unused_pools
            + s.bytes_lost_to_pool_headers + s.bytes_lost_to_quantization + s.bytes_lost_to_arena_alignment
        )
        self.assertEqual(six, s.arenas_allocated_current * s.arena_size)
        self.assertEqual(s.arenas_reclaimed, s.arenas_allocated_total - s.arenas_allocated_current)
        self.assertGreaterEqual(s.arenas_highwater, s.arenas_allocated_current)
        self.assertEqual(s.bytes_in_unused_pools, s.unused_pools * s.pool_size)
        self.assertGreaterEqual(s.allocated_blocks, s.raw_allocated_blocks)

    def test_stats_text(self):
        keep = [mem.obj_malloc(n) for n in (16, 100, 512)]
        try:
            stats = mem.get_stats()
            text = mem.format_malloc_stats()
        finally:
            for p in keep:
                mem.obj_free(p)
        self.assertTrue(text.startswith("Small block threshold = 512, in 32 size classes.\n"), text[:200])
        self.assertIn("class   size   num pools   blocks in use  avail blocks\n", text)
        rows = {}
        for line in text.splitlines():
            m = re.match(r"^ {0,4}(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$", line)
            if m:
                rows[int(m.group(1))] = tuple(int(g) for g in m.groups()[1:])
        expected = {
            i: (c.block_size, c.pools, c.blocks_in_use, c.blocks_available)
            for i, c in enumerate(stats.size_classes)
            if c.pools
        }
        self.assertEqual(rows, expected)
        value = re.search(r"^# arenas allocated current {9}=\s*([\d,]+)$", text, re.M)
        self.assertIsNotNone(value, text)
        self.assertEqual(int(value.group(1).replace(",", "")), stats.arenas_allocated_current)
        self.assertIn("%d arenas * %d bytes/arena" % (stats.arenas_allocated_current, mem.ARENA_SIZE), text)
        for line in text.splitlines():
            if "=" in line and not line.startswith("Small"):
                self.assertEqual(line.index("="), 35, line)
                self.assertEqual(len(line), 35 + 1 + 21, line)

    def test_stats_text_truncates_like_snprintf(self):
        needed = lib.phn_format_malloc_stats(None, 0)
        self.assertGreater(needed, 50)
        buf = ctypes.create_string_buffer(b"\xff" * 20)
        self.assertEqual(lib.phn_format_malloc_stats(buf, 11), needed)
        self.assertEqual(buf.raw[:11], b"Small bloc\0")  # cap - 1 bytes and a NUL
        self.assertEqual(buf.raw[11:12], b"\xff")
        self.assertEqual(len(mem.format_malloc_stats()), needed)

    def test_validate_passes(self):
        mem.validate()


class AllocatorHookTest(unittest.TestCase):
    def test_builtin_allocators(self):
        name = mem.allocator_name()
        self.assertIn(name, ("pymalloc", "malloc"))
        for domain in mem.DOMAINS:
            a = mem.get_allocator(domain)
            self.assertTrue(a.malloc and a.calloc and a.realloc and a.free, a)
            mem.set_allocator(domain, a)  # the same struct: the built-in allocator again
            self.assertEqual(mem.get_allocator(domain), a)
        self.assertEqual(mem.allocator_name(), name)

    def test_counting_hook_sees_every_mem_call(self):
        name = mem.allocator_name()
        self.assertIn(name, ("pymalloc", "malloc"))
        before_blocks = mem.get_stats().allocated_blocks
        with tu.CountingHook(mem.DOMAIN_MEM) as hook:
            self.assertIsNone(mem.allocator_name())
            self.assertNotEqual(mem.get_allocator(mem.DOMAIN_MEM), hook.prev)
            n = 25
            ptrs = [mem.mem_malloc(i * 37) for i in range(n)]  # 0 .. 888 bytes
            ptrs += [mem.mem_calloc(i, 24) for i in range(n)]
            for i in range(n):
                write(ptrs[i], pattern(i * 37))
            ptrs[:n] = [mem.mem_realloc(p, i * 37 + 100) for i, p in enumerate(ptrs[:n])]
            for i in range(n):
                self.assertEqual(read(ptrs[i], i * 37), pattern(i * 37))
            extra = mem.mem_realloc(None, 64)
            # The library's own checks run before the hook: these never reach it.
            self.assertIsNone(lib.phn_mem_malloc(2**63))
            self.assertIsNone(lib.phn_mem_calloc(2, 2**62))
            self.assertIsNone(lib.phn_mem_realloc(extra, 2**63))
            # Other domains do not go through the MEM hook.
            mem.obj_free(mem.obj_malloc(10))
            mem.raw_free(mem.raw_malloc(10))
            for p in ptrs + [extra]:
                mem.mem_free(p)
            during = mem.get_stats().allocated_blocks
        self.assertEqual(mem.allocator_name(), name)
        self.assertEqual(mem.get_allocator(mem.DOMAIN_MEM), hook.prev)
        self.assertEqual(
            dict(hook.calls),
            {"malloc": n, "calloc": n, "realloc": n + 1, "free": 2 * n + 1},
            hook.requests[:20],
        )
        self.assertEqual([r[1] for r in hook.requests if r[0] == "malloc"], [i * 37 for i in range(n)])
        self.assertEqual(during, before_blocks)

    def test_hook_on_obj_and_raw(self):
        name = mem.allocator_name()
        for domain in (mem.DOMAIN_OBJ, mem.DOMAIN_RAW):
            prefix = {mem.DOMAIN_OBJ: "obj", mem.DOMAIN_RAW: "raw"}[domain]
            malloc, calloc, realloc, free = funcs(prefix)
            with self.subTest(domain=prefix):
                with tu.CountingHook(domain) as hook:
                    self.assertIsNone(mem.allocator_name())
                    p = malloc(10)
                    p = realloc(p, 20)
                    q = calloc(2, 3)
                    free(p)
                    free(q)
                self.assertEqual(dict(hook.calls), {"malloc": 1, "realloc": 1, "calloc": 1, "free": 2})
                self.assertEqual(mem.allocator_name(), name)

    def test_blocks_allocated_under_a_hook_survive_its_removal(self):
        with tu.CountingHook(mem.DOMAIN_OBJ):
            ps = [mem.obj_malloc(n) for n in (0, 8, 300, 700)]
            for p in ps:
                write(p, b"x" * 8)
        for p in ps:
            self.assertEqual(read(p, 8), b"x" * 8)
            mem.obj_free(p)
        mem.validate()

    @unittest.skipUnless(pymalloc_active(), "pymalloc is not the OBJ allocator in this run")
    def test_arena_allocator_hook(self):
        prev = mem.get_arena_allocator()
        calls = []
        owned = set()
        p_alloc, p_free, ctx = prev.alloc, prev.free, prev.ctx

        def a_alloc(_ctx, size):
            p = p_alloc(ctx, size)
            calls.append(("alloc", size, p))
            if p:
                owned.add(p)
            return p

        def a_free(_ctx, ptr, size):
            calls.append(("free", size, ptr))
            p_free(ctx, ptr, size)

        hook = mem.ArenaAllocator(None, mem.ARENA_ALLOC_FUNC(a_alloc), mem.ARENA_FREE_FUNC(a_free))
        _native.keep_alive((hook, a_alloc, a_free, calls, owned))  # arenas outlive the test
        blocks = []
        mem.set_arena_allocator(hook)
        try:
            self.assertEqual(mem.get_arena_allocator(), hook)
            while not any(c[0] == "alloc" for c in calls) and len(blocks) < 40000:
                blocks.append(mem.obj_malloc(512))
            # and a second arena, so that the first one can be released
            target = mem.get_stats().arenas_allocated_total + 1
            for _ in range(8):
                if mem.get_stats().arenas_allocated_total >= target:
                    break
                blocks.extend(mem.obj_malloc(512) for _ in range(31 * 64))
        finally:
            mem.set_arena_allocator(prev)
        self.assertEqual(mem.get_arena_allocator(), prev)
        allocs = [c for c in calls if c[0] == "alloc"]
        self.assertTrue(allocs, "the arena allocator was never called")
        self.assertTrue(all(c[1] == mem.ARENA_SIZE and c[2] for c in allocs), allocs)
        for p in blocks:
            mem.obj_free(p)
        mem.validate()
        frees = [c for c in calls if c[0] == "free"]
        self.assertTrue(all(c[1] == mem.ARENA_SIZE and c[2] in owned for c in frees), frees)
        self.assertGreaterEqual(len(frees), 1, "no arena was released although two became empty")


class ThreadTest(unittest.TestCase):
    def test_four_threads(self):
        before = mem.get_stats().allocated_blocks
        barrier = threading.Barrier(4)
        errors = []
        sizes = list(range(0, 520, 3)) + [600, 1000, 5000]
        domains = [funcs(p) for p in DOMAINS]

        def worker(seed):
            try:
                rng = random.Random(seed)
                live = []
                barrier.wait()
                for i in range(3000):
                    if live and (rng.random() < 0.45 or len(live) > 300):
                        p, n, b, f = live.pop(rng.randrange(len(live)))
                        if read(p, min(n, 32)) != bytes([b]) * min(n, 32):
                            errors.append("block %#x of %d bytes was overwritten" % (p, n))
                        f[3](p)
                    else:
                        f = rng.choice(domains)
                        n = rng.choice(sizes)
                        p = f[0](n) if rng.random() < 0.8 else f[1](1, n)
                        b = (seed * 31 + i) & 0xFF
                        ctypes.memset(p, b, min(n, 32))
                        live.append((p, n, b, f))
                for p, n, b, f in live:
                    if read(p, min(n, 32)) != bytes([b]) * min(n, 32):
                        errors.append("block %#x of %d bytes was overwritten" % (p, n))
                    f[3](p)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertFalse(any(t.is_alive() for t in threads), "a worker hung")
        self.assertEqual(errors, [])
        mem.validate()
        self.assertEqual(mem.get_stats().allocated_blocks, before)


class BlockTest(unittest.TestCase):
    def test_block(self):
        for domain in mem.DOMAINS:
            with self.subTest(domain=domain):
                before = mem.get_stats().allocated_blocks
                with mem.Block(100, domain) as b:
                    self.assertEqual(b.size, 100)
                    self.assertEqual(b.address % 16, 0)
                    b.write(b"hello", 10)
                    self.assertEqual(b.read(5, 10), b"hello")
                    b.resize(1000)
                    self.assertEqual(b.read(5, 10), b"hello")
                    b.fill(0, 10, 990)
                    self.assertEqual(b.read(10, 990), bytes(10))
                    with self.assertRaises(ValueError):
                        b.read(10, 995)
                    with self.assertRaises(ValueError):
                        b.write(b"x", -1)
                self.assertTrue(b.closed)
                with self.assertRaises(ValueError):
                    b.address
                b.free()  # idempotent
                self.assertEqual(mem.get_stats().allocated_blocks, before)
                z = mem.Block(64, domain, zeroed=True)
                self.assertEqual(z.read(), bytes(64))
                del z
                self.assertEqual(mem.get_stats().allocated_blocks, before)
        with self.assertRaises(ValueError):
            mem.Block(-1)
        with self.assertRaises(ValueError):
            mem.Block(10, 7)

    def test_generic_domain_functions(self):
        for domain in mem.DOMAINS:
            p = mem.malloc(domain, 10)
            p = mem.realloc(domain, p, 20)
            q = mem.calloc(domain, 2, 2)
            mem.free(domain, p)
            mem.free(domain, q)
        with self.assertRaises(ValueError):
            mem.malloc(5, 10)


class PublicApiTest(unittest.TestCase):
    def test_docstrings(self):
        for module in (pyheapnative, mem):
            for name in module.__all__:
                obj = getattr(module, name)
                ours = inspect.isfunction(obj) or (
                    inspect.isclass(obj) and obj.__module__.startswith("pyheapnative") and not issubclass(obj, ctypes._CFuncPtr)
                )
                if ours:
                    with self.subTest(name="%s.%s" % (module.__name__, name)):
                        self.assertTrue((obj.__doc__ or "").strip(), "%s has no docstring" % name)

    def test_constants(self):
        self.assertEqual((mem.DOMAIN_RAW, mem.DOMAIN_MEM, mem.DOMAIN_OBJ), (0, 1, 2))
        self.assertEqual(mem.ARENA_SIZE, 1 << 20)
        self.assertEqual(mem.POOL_SIZE, 1 << 14)
        self.assertEqual(mem.ALIGNMENT, 16)
        self.assertEqual(mem.SMALL_REQUEST_THRESHOLD, 512)
        self.assertEqual(mem.NB_SMALL_SIZE_CLASSES, 32)
        self.assertEqual(mem.MAX_SIZE, 2**63 - 1)

    def test_mem_is_imported(self):
        self.assertIs(pyheapnative.mem, mem)


if __name__ == "__main__":
    unittest.main()
