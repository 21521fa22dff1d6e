// The idiomatic API (PyHeap) and the library resolver.
using System.Text.RegularExpressions;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class PyHeapApiTests
{
    private static readonly PyHeapDomainKind[] s_kinds = [PyHeapDomainKind.Raw, PyHeapDomainKind.Mem, PyHeapDomainKind.Obj];

    [Test]
    public void LibraryComesFromTheConfiguredPlace()
    {
        PyHeap.Initialize();
        string? env = Environment.GetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable);
        Assert.That(NativeLibraryResolver.LoadedFrom, Is.EqualTo(string.IsNullOrEmpty(env) ? "hook" : env));
        Assert.That(PyHeap.NativeVersion, Is.EqualTo(Native.PHN_VERSION));
    }

    [TestCaseSource(nameof(s_kinds))]
    public void DomainsAllocateAndFree(PyHeapDomainKind kind)
    {
        PyHeapDomain d = PyHeap.Domain(kind);
        Assert.That(d.Kind, Is.EqualTo(kind));
        nint p = d.Malloc(100);
        Assert.That((long)p % 16, Is.Zero);
        new Span<byte>((void*)p, 100).Fill(7);
        p = d.Realloc(p, 1000);
        Assert.That(new Span<byte>((void*)p, 100).IndexOfAnyExcept((byte)7), Is.EqualTo(-1));
        d.Free(p);
        nint c = d.Calloc(10, 10);
        Assert.That(Heap.IsZero((void*)c, 100), Is.True);
        d.Free(c);
        nint z = d.Malloc(0);
        Assert.That((long)z, Is.Not.Zero);
        d.Free(z);
        d.Free(0);
        nint r = d.Realloc(0, 24);
        Assert.That((long)r, Is.Not.Zero);
        d.Free(r);
    }

    [TestCaseSource(nameof(s_kinds))]
    public void SizesAbovePtrdiffMaxThrowArgumentOutOfRange(PyHeapDomainKind kind)
    {
        PyHeapDomain d = PyHeap.Domain(kind);
        nuint tooBig = Heap.PtrdiffMax + 1;
        Assert.That(() => d.Malloc(tooBig), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("size"));
        Assert.That(() => d.Calloc(2, Heap.PtrdiffMax / 2 + 1), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => d.Calloc((nuint)1 << 33, (nuint)1 << 33), Throws.TypeOf<ArgumentOutOfRangeException>());
        nint p = d.Malloc(8);
        Assert.That(() => d.Realloc(p, tooBig), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("newSize"));
        d.Free(p);
    }

    [TestCaseSource(nameof(s_kinds))]
    public void NativeFailureThrowsOutOfMemoryAndKeepsTheBlock(PyHeapDomainKind kind)
    {
        PyHeapDomain d = PyHeap.Domain(kind);
        Assert.That(() => d.Malloc(Heap.PtrdiffMax), Throws.TypeOf<OutOfMemoryException>());
        nint p = d.Malloc(32);
        new Span<byte>((void*)p, 32).Fill(9);
        Assert.That(() => d.Realloc(p, Heap.PtrdiffMax), Throws.TypeOf<OutOfMemoryException>());
        Assert.That(new Span<byte>((void*)p, 32).IndexOfAnyExcept((byte)9), Is.EqualTo(-1));
        d.Free(p);
    }

    [Test]
    public void StatsAreConsistent()
    {
        PyHeapStats s = PyHeap.GetStats();
        Assert.That(s.Version, Is.EqualTo((uint)Native.PHN_STATS_VERSION));
        Assert.That(s.ArenaSize, Is.EqualTo((ulong)Native.PHN_ARENA_SIZE));
        Assert.That(s.PoolSize, Is.EqualTo((ulong)Native.PHN_POOL_SIZE));
        Assert.That(s.SizeClasses, Has.Count.EqualTo(Native.PHN_NB_SMALL_SIZE_CLASSES));
        for (int i = 0; i < s.SizeClasses.Count; i++)
        {
            PyHeapSizeClassStats c = s.SizeClasses[i];
            Assert.That(c.BlockSize, Is.EqualTo((uint)((i + 1) * 16)), $"class {i}");
            Assert.That(c.BlocksPerPool, Is.EqualTo((uint)((Native.PHN_POOL_SIZE - Native.PHN_POOL_OVERHEAD) / ((i + 1) * 16))), $"class {i}");
            Assert.That(c.FullPools, Is.LessThanOrEqualTo(c.Pools));
            Assert.That(c.BlocksInUse + c.BlocksAvailable, Is.EqualTo(c.Pools * c.BlocksPerPool), $"class {i}: blocks in used/full pools");
        }
        Assert.That(s.SizeClasses[0].BlocksPerPool, Is.EqualTo(1021u));
        Assert.That(s.SizeClasses[31].BlocksPerPool, Is.EqualTo(31u));
        ulong sum = s.BytesInAllocatedBlocks + s.BytesInAvailableBlocks + s.BytesInUnusedPools
            + s.BytesLostToPoolHeaders + s.BytesLostToQuantization + s.BytesLostToArenaAlignment;
        Assert.That(sum, Is.EqualTo(s.ArenasAllocatedCurrent * s.ArenaSize), "the six byte counts add up to the arenas");
        Assert.That(s.ArenasHighwater, Is.GreaterThanOrEqualTo(s.ArenasAllocatedCurrent));
        Assert.That(s.ArenasAllocatedTotal, Is.EqualTo(s.ArenasAllocatedCurrent + s.ArenasReclaimed));
        Assert.That(s.AllocatedBlocks, Is.GreaterThanOrEqualTo(s.RawAllocatedBlocks));
        ulong inUse = s.SizeClasses.Aggregate(0UL, (a, c) => a + c.BlocksInUse);
        Assert.That(s.AllocatedBlocks - s.RawAllocatedBlocks, Is.EqualTo(inUse), "pymalloc blocks = sum of blocks in use");
        ulong bytesInUse = s.SizeClasses.Aggregate(0UL, (a, c) => a + c.BlocksInUse * c.BlockSize);
        Assert.That(s.BytesInAllocatedBlocks, Is.EqualTo(bytesInUse));
    }

    // phn_stats.h: the 64-bit sizes quoted in the header, and a larger struct_size is accepted
    // with the bytes past this version's struct left alone.
    [Test]
    public void StatsStructIsSizePrefixed()
    {
        Assert.That(sizeof(PhnStats), Is.EqualTo(1456));
        Assert.That((long)System.Runtime.InteropServices.Marshal.OffsetOf<PhnStats>(nameof(PhnStats.SizeClasses)), Is.EqualTo(176));
        Assert.That(sizeof(PhnSizeClassStats), Is.EqualTo(40));

        const int Extra = 64;
        byte* buf = stackalloc byte[sizeof(PhnStats) + Extra];
        new Span<byte>(buf, sizeof(PhnStats) + Extra).Fill(0xCC);
        var s = (PhnStats*)buf;
        s->StructSize = (uint)(sizeof(PhnStats) + Extra);
        Assert.That(Native.GetStats(s), Is.EqualTo(Native.PHN_OK), Heap.LastError);
        Assert.That(s->Version, Is.EqualTo((uint)Native.PHN_STATS_VERSION));
        Assert.That(s->NumSizeClasses, Is.EqualTo((uint)Native.PHN_NB_SMALL_SIZE_CLASSES));
        Assert.That(new Span<byte>(buf + sizeof(PhnStats), Extra).IndexOfAnyExcept((byte)0xCC), Is.EqualTo(-1),
            "bytes past sizeof(phn_stats) must be left alone");

        PhnStats exact = default;
        exact.StructSize = (uint)sizeof(PhnStats) - 1;
        Assert.That(Native.GetStats(&exact), Is.EqualTo(Native.PHN_EINVAL), "struct_size smaller than version 1");
    }

    [Test]
    public void StatsFollowAllocations()
    {
        PyHeapStats s0 = PyHeap.GetStats();
        var blocks = Enumerable.Range(0, 100).Select(_ => PyHeap.Obj.Malloc(40)).ToList();
        PyHeapStats s1 = PyHeap.GetStats();
        Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks + 100));
        Assert.That(s1.SizeClasses[2].BlocksInUse, Is.EqualTo(s0.SizeClasses[2].BlocksInUse + 100));
        blocks.ForEach(PyHeap.Obj.Free);
        Assert.That(PyHeap.GetStats().AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
    }

    // Spec 2.9 / 7.27: the text of sys._debugmallocstats().
    [Test]
    public void FormatMallocStatsLooksLikeCPython()
    {
        nint keep = PyHeap.Obj.Malloc(40);
        try
        {
            string text = PyHeap.FormatMallocStats();
            Assert.That(text, Does.StartWith("Small block threshold = 512, in 32 size classes."));
            Assert.That(text, Does.Contain("# arenas allocated current"));
            Assert.That(text, Does.Match(@"(?m)^# bytes in allocated blocks\s+=\s+[\d,]+$"));
            Assert.That(text, Does.Match(@"(?m)^\s+2\s+48\s+\d+\s+\d+\s+\d+$"), "a row for class 2 (the live 40-byte block)");
            Assert.That(text, Does.Not.Contain("\0"));

            long needed = Native.FormatMallocStats(null, 0);
            Assert.That(needed, Is.EqualTo(System.Text.Encoding.UTF8.GetByteCount(text)));
            byte[] small = new byte[11];
            fixed (byte* p = small)
                Assert.That(Native.FormatMallocStats(p, 11), Is.EqualTo(needed), "truncated call still returns the full length");
            Assert.That(small[10], Is.Zero, "NUL-terminated within cap");
            Assert.That(System.Text.Encoding.UTF8.GetString(small, 0, 10), Is.EqualTo(text[..10]));
        }
        finally
        {
            PyHeap.Obj.Free(keep);
        }
    }

    [Test]
    public void NameValidateAndErrors()
    {
        Assert.That(PyHeap.AllocatorName, Is.EqualTo("pymalloc"));
        Assert.DoesNotThrow(PyHeap.Validate);
        Native.ClearError();
        Assert.That(PyHeap.LastErrorMessage, Is.Empty);
        Assert.That(Native.GetAllocator(9, null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(PyHeap.LastErrorMessage, Is.Not.Empty);
        var e = new PyHeapException(PyHeapStatus.Corrupt, "x");
        Assert.That(e.Status, Is.EqualTo(PyHeapStatus.Corrupt));
        Assert.That(Regex.IsMatch(e.Message, "^x$"), Is.True);
    }
}
