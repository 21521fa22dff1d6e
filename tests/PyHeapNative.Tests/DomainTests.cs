// The three domains through the raw bindings: docs spec-allocator.md section 7, items 1-7,
// 11, 15, 17-19 and 26, plus errno as far as it is observable from .NET.
namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class DomainTests
{
    private static readonly int[] s_all = Heap.AllDomains;
    private static readonly int[] s_pymalloc = Heap.PymallocDomains;

    private static readonly nuint TooBig = Heap.PtrdiffMax + 1;

    [OneTimeSetUp]
    public void StartsWithPymalloc()
    {
        Assert.That(Native.Init(), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "these tests expect the default configuration");
    }

    [TearDown]
    public void HeapStaysValid() => Heap.AssertValid();

    // errno: LibraryImport without SetLastError leaves errno alone, so Marshal.GetLastSystemError()
    // right after the call reads what the library set. Prove the mechanism with libc first.
    [Test]
    public void ErrnoIsObservableRightAfterAPInvoke()
    {
        Errno.Set(0);
        Assert.That(Libc.Close(-1), Is.EqualTo(-1));
        Assert.That(Errno.Value, Is.EqualTo(Errno.EBADF));
        Errno.Set(4242);
        Assert.That(Errno.Value, Is.EqualTo(4242));
    }

    // 1. X_Malloc(0) returns non-NULL, and two calls return different pointers.
    [TestCaseSource(nameof(s_all))]
    public void MallocZeroReturnsDistinctBlocks(int domain)
    {
        void* a = Heap.Malloc(domain, 0);
        void* b = Heap.Malloc(domain, 0);
        try
        {
            Assert.That((long)(nint)a, Is.Not.Zero);
            Assert.That((long)(nint)b, Is.Not.Zero);
            Assert.That((nint)b, Is.Not.EqualTo((nint)a));
        }
        finally
        {
            Heap.Free(domain, a);
            Heap.Free(domain, b);
        }
    }

    // 2. X_Calloc(0, n) and X_Calloc(n, 0) return distinct non-NULL pointers.
    [TestCaseSource(nameof(s_all))]
    public void CallocWithAZeroArgumentReturnsDistinctBlocks(int domain)
    {
        nint[] p = [(nint)Heap.Calloc(domain, 0, 8), (nint)Heap.Calloc(domain, 8, 0), (nint)Heap.Calloc(domain, 0, 0), (nint)Heap.Calloc(domain, 0, 8)];
        try
        {
            Assert.That(p, Has.None.EqualTo((nint)0));
            Assert.That(p, Is.Unique);
        }
        finally
        {
            foreach (nint x in p)
                Heap.Free(domain, (void*)x);
        }
    }

    // 3. X_Malloc(PY_SSIZE_T_MAX + 1) and X_Realloc(p, PY_SSIZE_T_MAX + 1) return NULL with
    //    errno = ENOMEM, the installed hook is not invoked, and p stays valid.
    [TestCaseSource(nameof(s_all))]
    public void OversizedRequestsFailWithoutCallingTheHook(int domain)
    {
        void* p = Heap.Malloc(domain, 64);
        Assert.That((long)(nint)p, Is.Not.Zero);
        Heap.Fill(p, 64, 0x31);
        try
        {
            using (var hook = CountingHook.Install(domain))
            {
                Errno.Set(0);
                void* q = Heap.Malloc(domain, TooBig);
                int err = Errno.Value;
                Assert.That((long)(nint)q, Is.Zero, "malloc(PY_SSIZE_T_MAX + 1)");
                Assert.That(err, Is.EqualTo(Errno.ENOMEM), "errno after malloc(PY_SSIZE_T_MAX + 1)");

                Errno.Set(0);
                q = Heap.Malloc(domain, nuint.MaxValue);
                err = Errno.Value;
                Assert.That((long)(nint)q, Is.Zero, "malloc(SIZE_MAX)");
                Assert.That(err, Is.EqualTo(Errno.ENOMEM), "errno after malloc(SIZE_MAX)");

                Errno.Set(0);
                q = Heap.Realloc(domain, p, TooBig);
                err = Errno.Value;
                Assert.That((long)(nint)q, Is.Zero, "realloc(p, PY_SSIZE_T_MAX + 1)");
                Assert.That(err, Is.EqualTo(Errno.ENOMEM), "errno after realloc(p, PY_SSIZE_T_MAX + 1)");

                Errno.Set(0);
                q = Heap.Realloc(domain, null, TooBig);
                err = Errno.Value;
                Assert.That((long)(nint)q, Is.Zero, "realloc(NULL, PY_SSIZE_T_MAX + 1)");
                Assert.That(err, Is.EqualTo(Errno.ENOMEM), "errno after realloc(NULL, PY_SSIZE_T_MAX + 1)");

                Assert.That(hook.Calls, Is.Empty, "the domain's allocator must not be called");
            }
            Assert.That(Heap.HasPattern(p, 64, 0x31), Is.True, "p changed after a failed realloc");
        }
        finally
        {
            Heap.Free(domain, p);
        }
    }

    // A request of exactly PY_SSIZE_T_MAX passes the size check and reaches the allocator
    // (which then fails); the check is "> PY_SSIZE_T_MAX", not ">=".
    [TestCaseSource(nameof(s_all))]
    public void PtrdiffMaxItselfReachesTheAllocator(int domain)
    {
        using var hook = CountingHook.Install(domain);
        void* q = Heap.Malloc(domain, Heap.PtrdiffMax);
        Assert.That((long)(nint)q, Is.Zero);
        Assert.That(hook.Calls.Where(c => c.Op == "malloc").Select(c => c.A), Is.EqualTo(new[] { Heap.PtrdiffMax }));
    }

    // 4. X_Calloc(2, PY_SSIZE_T_MAX/2 + 1) and X_Calloc(2^33, 2^33) return NULL (overflow)
    //    without invoking the hook.
    [TestCaseSource(nameof(s_all))]
    public void OverflowingCallocFailsWithoutCallingTheHook(int domain)
    {
        using var hook = CountingHook.Install(domain);
        (nuint n, nuint e)[] cases = [(2, Heap.PtrdiffMax / 2 + 1), (Heap.PtrdiffMax / 2 + 1, 2), ((nuint)1 << 33, (nuint)1 << 33), (TooBig, 1), (1, TooBig)];
        foreach (var (n, e) in cases)
        {
            Errno.Set(0);
            void* q = Heap.Calloc(domain, n, e);
            int err = Errno.Value;
            Assert.That((long)(nint)q, Is.Zero, $"calloc({n}, {e})");
            Assert.That(err, Is.EqualTo(Errno.ENOMEM), $"errno after calloc({n}, {e})");
        }
        Assert.That(hook.Calls, Is.Empty, "the domain's allocator must not be called");
    }

    // 5a. X_Realloc(NULL, n) behaves exactly like X_Malloc(n).
    [TestCaseSource(nameof(s_all))]
    public void ReallocOfNullIsMalloc(int domain)
    {
        using var hook = CountingHook.Install(domain);
        foreach (nuint n in new nuint[] { 0, 40, 600 })
        {
            hook.Reset();
            void* p = Heap.Realloc(domain, null, n);
            Assert.That((long)(nint)p, Is.Not.Zero, $"realloc(NULL, {n})");
            Heap.AssertAligned(p, $"realloc(NULL, {n})");
            Heap.Fill(p, n, 3);
            Assert.That(Heap.HasPattern(p, n, 3), Is.True);
            Assert.That(hook.Total, Is.EqualTo(1), $"one allocator call for realloc(NULL, {n})");
            Heap.Free(domain, p);
        }
    }

    // 5b. For pymalloc the equivalence is observable: realloc(NULL, 40) takes the block that
    //     malloc(40) would take (the one just freed), and counts as one allocated block.
    [TestCaseSource(nameof(s_pymalloc))]
    public void ReallocOfNullReusesLikeMalloc(int domain)
    {
        void* p = Heap.Malloc(domain, 40);
        Heap.Free(domain, p);
        ulong before = Heap.Stats().AllocatedBlocks;
        void* q = Heap.Realloc(domain, null, 40);
        try
        {
            Assert.That((nint)q, Is.EqualTo((nint)p));
            Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(before + 1));
        }
        finally
        {
            Heap.Free(domain, q);
        }
    }

    // 5c. X_Realloc(p, 0) returns non-NULL and does not free: only the result is freed.
    [TestCaseSource(nameof(s_all))]
    public void ReallocToZeroReturnsALiveBlock(int domain)
    {
        foreach (nuint n in new nuint[] { 1, 100, 1000 })
        {
            ulong before = Heap.Stats().AllocatedBlocks;
            void* p = Heap.Malloc(domain, n);
            void* q = Heap.Realloc(domain, p, 0);
            Assert.That((long)(nint)q, Is.Not.Zero, $"realloc(malloc({n}), 0)");
            if (domain != Native.PHN_DOMAIN_RAW)
                Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(before + 1), "realloc(p, 0) must leave one live block");
            Heap.Free(domain, q);
            Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(before));
        }
    }

    // 6. X_Free(NULL) is a no-op and leaves errno unchanged.
    [TestCaseSource(nameof(s_all))]
    public void FreeOfNullDoesNothing(int domain)
    {
        Heap.Free(domain, null);   // warm this thread up in the library
        ulong before = Heap.Stats().AllocatedBlocks;
        Errno.Set(4242);
        Heap.Free(domain, null);
        int err = Errno.Value;
        Assert.That(err, Is.EqualTo(4242), "free(NULL) changed errno");
        Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(before));
    }

    // phn_mem.h: free leaves errno unchanged (after the first call into the library), for
    // pymalloc blocks and RAW-served ones alike.
    [TestCaseSource(nameof(s_all))]
    public void FreeLeavesErrnoUnchanged(int domain)
    {
        foreach (nuint n in new nuint[] { 0, 16, 512, 600, 100_000 })
        {
            void* p = Heap.Malloc(domain, n);
            Assert.That((long)(nint)p, Is.Not.Zero);
            Errno.Set(4242);
            Heap.Free(domain, p);
            int err = Errno.Value;
            Assert.That(err, Is.EqualTo(4242), $"free of a {n}-byte block changed errno");
        }
    }

    // 7. Every pointer is 16-byte aligned (malloc, calloc, realloc; small and large sizes).
    [TestCaseSource(nameof(s_all))]
    public void EveryBlockIs16ByteAligned(int domain)
    {
        nuint[] sizes = [0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 100, 255, 256, 257, 384, 385, 500, 511, 512, 513, 1000, 4096, 65536, 1 << 20];
        var live = new List<nint>();
        try
        {
            foreach (nuint n in sizes)
            {
                for (int i = 0; i < 3; i++)
                {
                    void* p = Heap.Malloc(domain, n);
                    Assert.That((long)(nint)p, Is.Not.Zero, $"malloc({n})");
                    live.Add((nint)p);
                    Heap.AssertAligned(p, $"{Heap.Name(domain)} malloc({n})");
                    void* c = Heap.Calloc(domain, 1, n);
                    Assert.That((long)(nint)c, Is.Not.Zero, $"calloc(1, {n})");
                    live.Add((nint)c);
                    Heap.AssertAligned(c, $"{Heap.Name(domain)} calloc(1, {n})");
                }
            }
            for (int i = 0; i < live.Count; i++)
            {
                nuint n = sizes[(i * 7) % sizes.Length];
                void* r = Heap.Realloc(domain, (void*)live[i], n);
                Assert.That((long)(nint)r, Is.Not.Zero, $"realloc(p, {n})");
                live[i] = (nint)r;
                Heap.AssertAligned(r, $"{Heap.Name(domain)} realloc(p, {n})");
            }
        }
        finally
        {
            foreach (nint p in live)
                Heap.Free(domain, (void*)p);
        }
    }

    // Calloc zeroes, even when it reuses a dirty block; realloc keeps min(old, new) bytes.
    [TestCaseSource(nameof(s_all))]
    public void CallocZeroesAndReallocPreservesContents(int domain)
    {
        foreach (nuint n in new nuint[] { 16, 200, 512, 513, 5000 })
        {
            void* dirty = Heap.Malloc(domain, n);
            new Span<byte>(dirty, (int)n).Fill(0xAB);
            Heap.Free(domain, dirty);
            void* c = Heap.Calloc(domain, n / 8 == 0 ? 1 : n / 8, 8);
            nuint total = (n / 8 == 0 ? 1 : n / 8) * 8;
            Assert.That(Heap.IsZero(c, total), Is.True, $"calloc for {total} bytes is not zeroed");
            Heap.Fill(c, total, 0x55);
            void* grown = Heap.Realloc(domain, c, total * 3);
            Assert.That((long)(nint)grown, Is.Not.Zero);
            Assert.That(Heap.HasPattern(grown, total, 0x55), Is.True, $"realloc({total} -> {total * 3}) lost data");
            void* shrunk = Heap.Realloc(domain, grown, total / 2);
            Assert.That((long)(nint)shrunk, Is.Not.Zero);
            Assert.That(Heap.HasPattern(shrunk, total / 2, 0x55), Is.True, $"realloc(-> {total / 2}) lost data");
            Heap.Free(domain, shrunk);
        }
    }

    // 11. MEM/OBJ malloc(512) is served by pymalloc; 513 and 0 bytes go to the RAW domain
    //     (its hook is called with the request).
    [TestCaseSource(nameof(s_pymalloc))]
    public void ThresholdRoutesAbove512AndZeroToRaw(int domain)
    {
        void* warm = Heap.Malloc(domain, 512);   // keep a 512-byte pool and its arena alive
        try
        {
            PhnStats s0 = Heap.Stats();
            void* p512, p513, p0, c513;
            List<(string Op, nuint A, nuint B)> calls;
            using (var raw = CountingHook.Install(Native.PHN_DOMAIN_RAW))
            {
                p512 = Heap.Malloc(domain, 512);
                p513 = Heap.Malloc(domain, 513);
                p0 = Heap.Malloc(domain, 0);
                c513 = Heap.Calloc(domain, 1, 513);
                calls = raw.Calls;
            }
            PhnStats s1 = Heap.Stats();
            try
            {
                Assert.That(calls.Where(c => c.Op is "malloc" or "calloc" && c.A * (c.Op == "calloc" ? c.B : 1) == 512), Is.Empty,
                    "malloc(512) must not reach the RAW domain");
                Assert.That(calls, Has.Exactly(1).EqualTo(("malloc", (nuint)513, (nuint)0)), "malloc(513) goes to RAW malloc");
                Assert.That(calls, Has.Exactly(1).EqualTo(("malloc", (nuint)0, (nuint)0)), "malloc(0) goes to RAW malloc");
                Assert.That(calls, Has.Exactly(1).EqualTo(("calloc", (nuint)1, (nuint)513)), "calloc(1, 513) goes to RAW calloc");
                Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks + 4));
                Assert.That(s1.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks + 3));
                Assert.That(Heap.PymallocBlocks(s1), Is.EqualTo(Heap.PymallocBlocks(s0) + 1));
            }
            finally
            {
                Heap.Free(domain, p512);
                Heap.Free(domain, p513);
                Heap.Free(domain, p0);
                Heap.Free(domain, c513);
            }
            PhnStats s2 = Heap.Stats();
            Assert.That(s2.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
            Assert.That(s2.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks));
        }
        finally
        {
            Heap.Free(domain, warm);
        }
    }

    // 15. After free(p) of a pymalloc block, the next allocation of the same size class
    //     returns p (40 then 33 bytes, both class 2).
    [TestCaseSource(nameof(s_pymalloc))]
    public void FreedBlockIsReusedFirst(int domain)
    {
        void* keep = Heap.Malloc(domain, 40);
        void* p = Heap.Malloc(domain, 40);
        Heap.Free(domain, p);
        void* q = Heap.Malloc(domain, 33);
        Assert.That((nint)q, Is.EqualTo((nint)p), "LIFO reuse in class 2");
        Heap.Free(domain, q);
        void* r = Heap.Calloc(domain, 1, 48);
        Assert.That((nint)r, Is.EqualTo((nint)p), "calloc(1, 48) is class 2 too");
        Heap.Free(domain, r);
        Heap.Free(domain, keep);
    }

    // 17. realloc(p512, 385) returns p; realloc(p512, 384) moves, keeping the first 384 bytes.
    //     (20 -> 32 stays in the same 32-byte block.)
    [TestCaseSource(nameof(s_pymalloc))]
    public void ReallocKeepsTheBlockWhenShrinkingByLessThanAQuarter(int domain)
    {
        void* p = Heap.Malloc(domain, 512);
        Heap.Fill(p, 512, 0x17);
        void* q = Heap.Realloc(domain, p, 385);
        Assert.That((nint)q, Is.EqualTo((nint)p), "realloc(p512, 385)");
        void* r = Heap.Realloc(domain, q, 384);
        Assert.That((long)(nint)r, Is.Not.Zero);
        Assert.That((nint)r, Is.Not.EqualTo((nint)q), "realloc(p512, 384) must move");
        Assert.That(Heap.HasPattern(r, 384, 0x17), Is.True, "the first 384 bytes must be preserved");
        Heap.Free(domain, r);

        void* s = Heap.Malloc(domain, 20);
        void* t = Heap.Realloc(domain, s, 32);
        Assert.That((nint)t, Is.EqualTo((nint)s), "realloc(p20, 32) stays in its 32-byte block");
        Heap.Free(domain, t);
    }

    // 18. realloc(p, 0) on a pymalloc block returns a new non-NULL block owned by RAW.
    [TestCaseSource(nameof(s_pymalloc))]
    public void ReallocToZeroMovesAPymallocBlockToRaw(int domain)
    {
        void* p = Heap.Malloc(domain, 100);
        PhnStats s0 = Heap.Stats();
        void* q = Heap.Realloc(domain, p, 0);
        PhnStats s1 = Heap.Stats();
        try
        {
            Assert.That((long)(nint)q, Is.Not.Zero);
            Assert.That((nint)q, Is.Not.EqualTo((nint)p));
            Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
            Assert.That(s1.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks + 1), "the new block is a RAW fallback");
        }
        finally
        {
            Heap.Free(domain, q);
        }
        Assert.That(Heap.Stats().RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks));
    }

    // 19. Growing a pymalloc block above 512 moves it to RAW; shrinking a RAW block (1000 -> 10)
    //     keeps it in RAW (RAW realloc is used, no pymalloc block is consumed).
    [TestCaseSource(nameof(s_pymalloc))]
    public void BlocksMigrateToRawButNeverBack(int domain)
    {
        void* p = Heap.Malloc(domain, 100);
        Heap.Fill(p, 100, 0x19);
        PhnStats s0 = Heap.Stats();
        void* q = Heap.Realloc(domain, p, 600);
        PhnStats s1 = Heap.Stats();
        Assert.That((nint)q, Is.Not.EqualTo((nint)p), "100 -> 600 must move");
        Assert.That(Heap.HasPattern(q, 100, 0x19), Is.True);
        Assert.That(s1.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks + 1));
        Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
        Heap.Free(domain, q);

        const int N = 100;
        var blocks = new nint[N];
        for (int i = 0; i < N; i++)
        {
            blocks[i] = (nint)Heap.Malloc(domain, 1000);
            Heap.Fill((void*)blocks[i], 1000, (byte)i);
        }
        PhnStats s2 = Heap.Stats();
        List<(string Op, nuint A, nuint B)> calls;
        using (var raw = CountingHook.Install(Native.PHN_DOMAIN_RAW))
        {
            for (int i = 0; i < N; i++)
            {
                void* r = Heap.Realloc(domain, (void*)blocks[i], 10);
                Assert.That((long)(nint)r, Is.Not.Zero);
                Assert.That(Heap.HasPattern(r, 10, (byte)i), Is.True);
                blocks[i] = (nint)r;
            }
            calls = raw.Calls;
        }
        PhnStats s3 = Heap.Stats();
        Assert.That(calls.Count(c => c.Op == "realloc" && c.B == 10), Is.EqualTo(N), "every shrink goes through RAW realloc");
        Assert.That(Heap.PymallocBlocks(s3), Is.EqualTo(Heap.PymallocBlocks(s2)), "no pymalloc block may be consumed");
        Assert.That(s3.RawAllocatedBlocks, Is.EqualTo(s2.RawAllocatedBlocks));
        foreach (nint b in blocks)
            Heap.Free(domain, (void*)b);
    }

    // 26. allocated_blocks grows by exactly 1 per live MEM/OBJ block of any size (0, 16, 1000)
    //     and by 0 for RAW blocks.
    [Test]
    public void AllocatedBlocksCountsMemAndObjBlocksOnly()
    {
        PhnStats s0 = Heap.Stats();
        var live = new List<(int Domain, nint P)>();
        foreach (int d in s_pymalloc)
        {
            foreach (nuint n in new nuint[] { 0, 16, 1000 })
                live.Add((d, (nint)Heap.Malloc(d, n)));
        }
        PhnStats s1 = Heap.Stats();
        var raw = new List<nint>();
        for (int i = 0; i < 100; i++)
            raw.Add((nint)Native.RawMalloc(16));
        PhnStats s2 = Heap.Stats();
        try
        {
            Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks + 6));
            Assert.That(s1.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks + 4), "sizes 0 and 1000 are RAW fallbacks");
            Assert.That(s2.AllocatedBlocks, Is.EqualTo(s1.AllocatedBlocks), "RAW blocks do not count");
            Assert.That(s2.RawAllocatedBlocks, Is.EqualTo(s1.RawAllocatedBlocks));
        }
        finally
        {
            foreach (var (d, p) in live)
                Heap.Free(d, (void*)p);
            foreach (nint p in raw)
                Native.RawFree((void*)p);
        }
        Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
    }
}
