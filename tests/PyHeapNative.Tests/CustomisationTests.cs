// phn_get_allocator / phn_set_allocator / phn_get_arena_allocator / phn_set_arena_allocator /
// phn_allocator_name with hooks written in C# (spec section 1.6, section 7 items 8-10 and 20).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class CustomisationTests
{
    private static readonly int[] s_all = Heap.AllDomains;

    [SetUp]
    public void DefaultConfiguration() => Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"));

    [TearDown]
    public void BackToDefault()
    {
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "a test left a custom allocator installed");
        Heap.AssertValid();
    }

    // A counting hook wrapping the previous allocator sees exactly the calls made; restoring
    // the saved struct makes the name "pymalloc" again.
    [TestCaseSource(nameof(s_all))]
    public void WrappingHookSeesExactlyTheCallsMade(int domain)
    {
        List<(string Op, nuint A, nuint B)> calls;
        string? nameWhileHooked;
        using (var hook = CountingHook.Install(domain))
        {
            nameWhileHooked = Heap.AllocatorName;
            void* a = Heap.Malloc(domain, 10);
            void* b = Heap.Malloc(domain, 600);
            void* c = Heap.Malloc(domain, 0);
            void* d = Heap.Calloc(domain, 3, 7);
            void* e = Heap.Calloc(domain, 1, 1000);
            Heap.Fill(a, 10, 1);
            a = Heap.Realloc(domain, a, 300);
            Assert.That(Heap.HasPattern(a, 10, 1), Is.True);
            void* f = Heap.Realloc(domain, null, 24);
            foreach (nint p in new[] { (nint)a, (nint)b, (nint)c, (nint)d, (nint)e, (nint)f })
            {
                Assert.That((long)p, Is.Not.Zero);
                Heap.Free(domain, (void*)p);
            }
            calls = hook.Calls;
        }
        Assert.That(nameWhileHooked, Is.Null, "phn_allocator_name() with a custom allocator");
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "after restoring the saved struct");

        Assert.That(calls.Count(c => c.Op == "malloc"), Is.EqualTo(3), Describe(calls));
        Assert.That(calls.Count(c => c.Op == "calloc"), Is.EqualTo(2), Describe(calls));
        Assert.That(calls.Count(c => c.Op == "realloc"), Is.EqualTo(2), Describe(calls));
        Assert.That(calls.Count(c => c.Op == "free"), Is.EqualTo(6), Describe(calls));
        Assert.That(calls.Where(c => c.Op == "malloc").Select(c => c.A), Is.EqualTo(new nuint[] { 10, 600, 0 }));
        Assert.That(calls.Where(c => c.Op == "calloc").Select(c => (c.A, c.B)), Is.EqualTo(new (nuint, nuint)[] { (3, 7), (1, 1000) }));
        Assert.That(calls.Where(c => c.Op == "realloc").Select(c => c.B), Is.EqualTo(new nuint[] { 300, 24 }));
        Assert.That(calls.Where(c => c.Op == "realloc").Last().A, Is.EqualTo((nuint)0), "realloc(NULL, 24) passes NULL to the hook");
    }

    private static string Describe(List<(string Op, nuint A, nuint B)> calls) =>
        "calls: " + string.Join(", ", calls.Select(c => $"{c.Op}({c.A}, {c.B})"));

    // A hook on one domain sees nothing of the other domains' calls (except MEM/OBJ fallbacks to RAW).
    [Test]
    public void HookOnMemDoesNotSeeObjOrRawCalls()
    {
        using var hook = CountingHook.Install(Native.PHN_DOMAIN_MEM);
        Native.ObjFree(Native.ObjMalloc(32));
        Native.ObjFree(Native.ObjMalloc(2000));
        Native.RawFree(Native.RawMalloc(32));
        Assert.That(hook.Calls, Is.Empty);
        Native.MemFree(Native.MemMalloc(32));
        Assert.That(hook.Total, Is.EqualTo(2));
    }

    // Unknown domain: phn_get_allocator writes five NULLs and returns PHN_EINVAL;
    // phn_set_allocator returns PHN_EINVAL and changes nothing.
    [TestCase(3)]
    [TestCase(-1)]
    [TestCase(int.MaxValue)]
    public void UnknownDomainIsRejected(int domain)
    {
        PhnAllocator a;
        new Span<byte>(&a, sizeof(PhnAllocator)).Fill(0xA5);
        Native.ClearError();
        int rc = Native.GetAllocator(domain, &a);
        Assert.That(rc, Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Is.Not.Empty);
        Assert.That(Heap.Bytes(a), Is.All.EqualTo((byte)0), "five NULLs");

        byte[][] before = Heap.AllDomains.Select(d => Heap.Bytes(Heap.GetAllocator(d))).ToArray();
        PhnAllocator valid = Heap.GetAllocator(Native.PHN_DOMAIN_MEM);
        Native.ClearError();
        rc = Native.SetAllocator(domain, &valid);
        Assert.That(rc, Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.AllDomains.Select(d => Heap.Bytes(Heap.GetAllocator(d))), Is.EqualTo(before));
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"));
    }

    [Test]
    public void NullStructPointersAreRejected()
    {
        Assert.That(Native.GetAllocator(Native.PHN_DOMAIN_MEM, null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.SetAllocator(Native.PHN_DOMAIN_MEM, null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.GetArenaAllocator(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.SetArenaAllocator(null), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
    }

    // A NULL function pointer is rejected and nothing changes (ctx may be NULL).
    [TestCaseSource(nameof(s_all))]
    public void NullFunctionPointerIsRejected(int domain)
    {
        PhnAllocator current = Heap.GetAllocator(domain);
        byte[] before = Heap.Bytes(current);
        for (int field = 0; field < 4; field++)
        {
            PhnAllocator bad = current;
            switch (field)
            {
                case 0: bad.Malloc = null; break;
                case 1: bad.Calloc = null; break;
                case 2: bad.Realloc = null; break;
                default: bad.Free = null; break;
            }
            Assert.That(Native.SetAllocator(domain, &bad), Is.EqualTo(Native.PHN_EINVAL), $"function {field} NULL");
            Assert.That(Heap.Bytes(Heap.GetAllocator(domain)), Is.EqualTo(before), $"function {field} NULL changed the allocator");
        }

        PhnArenaAllocator arena;
        Assert.That(Native.GetArenaAllocator(&arena), Is.EqualTo(Native.PHN_OK));
        byte[] arenaBefore = Heap.Bytes(arena);
        PhnArenaAllocator badArena = arena;
        badArena.Alloc = null;
        Assert.That(Native.SetArenaAllocator(&badArena), Is.EqualTo(Native.PHN_EINVAL));
        badArena = arena;
        badArena.Free = null;
        Assert.That(Native.SetArenaAllocator(&badArena), Is.EqualTo(Native.PHN_EINVAL));
        PhnArenaAllocator after;
        Assert.That(Native.GetArenaAllocator(&after), Is.EqualTo(Native.PHN_OK));
        Assert.That(Heap.Bytes(after), Is.EqualTo(arenaBefore));
    }

    // Set/Get round-trips phn_allocator bit for bit: the built-in struct (name stays "pymalloc")
    // and a custom one (ctx included).
    [TestCaseSource(nameof(s_all))]
    public void AllocatorRoundTripsBitForBit(int domain)
    {
        PhnAllocator builtin = Heap.GetAllocator(domain);
        Assert.That((long)(nint)builtin.Malloc, Is.Not.Zero);
        Assert.That((long)(nint)builtin.Calloc, Is.Not.Zero);
        Assert.That((long)(nint)builtin.Realloc, Is.Not.Zero);
        Assert.That((long)(nint)builtin.Free, Is.Not.Zero);
        Heap.SetAllocator(domain, builtin);
        Assert.That(Heap.Bytes(Heap.GetAllocator(domain)), Is.EqualTo(Heap.Bytes(builtin)));
        Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "re-installing the built-in struct keeps the name");

        using (var hook = CountingHook.Install(domain))
        {
            PhnAllocator installed = hook.Installed;
            Assert.That(Heap.Bytes(Heap.GetAllocator(domain)), Is.EqualTo(Heap.Bytes(installed)));
            Assert.That(Heap.AllocatorName, Is.Null);
        }
        Assert.That(Heap.Bytes(Heap.GetAllocator(domain)), Is.EqualTo(Heap.Bytes(builtin)));
    }

    // ------------------------------------------------------------------ arena allocator

    private static PhnArenaAllocator s_previousArena;
    private static readonly object s_arenaLock = new();
    private static readonly List<(bool Alloc, nint Ptr, nuint Size)> s_arenaCalls = [];

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* ArenaAlloc(void* ctx, nuint size)
    {
        void* p = s_previousArena.Alloc(s_previousArena.Ctx, size);
        lock (s_arenaLock)
            s_arenaCalls.Add((true, (nint)p, size));
        return p;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void ArenaFree(void* ctx, void* ptr, nuint size)
    {
        lock (s_arenaLock)
            s_arenaCalls.Add((false, (nint)ptr, size));
        s_previousArena.Free(s_previousArena.Ctx, ptr, size);
    }

    [Test]
    public void ArenaAllocatorRoundTripsBitForBit()
    {
        PhnArenaAllocator builtin;
        Assert.That(Native.GetArenaAllocator(&builtin), Is.EqualTo(Native.PHN_OK));
        Assert.That((long)(nint)builtin.Alloc, Is.Not.Zero);
        Assert.That((long)(nint)builtin.Free, Is.Not.Zero);
        s_previousArena = builtin;
        var custom = new PhnArenaAllocator { Ctx = (void*)0x1234, Alloc = &ArenaAlloc, Free = &ArenaFree };
        try
        {
            Assert.That(Native.SetArenaAllocator(&custom), Is.EqualTo(Native.PHN_OK));
            PhnArenaAllocator got;
            Assert.That(Native.GetArenaAllocator(&got), Is.EqualTo(Native.PHN_OK));
            Assert.That(Heap.Bytes(got), Is.EqualTo(Heap.Bytes(custom)));
            Assert.That(Heap.AllocatorName, Is.EqualTo("pymalloc"), "the arena allocator is not part of the name");
        }
        finally
        {
            Assert.That(Native.SetArenaAllocator(&builtin), Is.EqualTo(Native.PHN_OK));
        }
        PhnArenaAllocator restored;
        Assert.That(Native.GetArenaAllocator(&restored), Is.EqualTo(Native.PHN_OK));
        Assert.That(Heap.Bytes(restored), Is.EqualTo(Heap.Bytes(builtin)));
    }

    // 10. A custom arena allocator is called with size == PHN_ARENA_SIZE for alloc and free.
    // 20. When every block of an arena that is not the last usable one is freed, the arena is
    //     released through the allocator that allocated it.
    [Test]
    public void ArenaAllocatorSeesArenaSizeAndGetsItsArenasBack()
    {
        PhnArenaAllocator builtin;
        Assert.That(Native.GetArenaAllocator(&builtin), Is.EqualTo(Native.PHN_OK));
        s_previousArena = builtin;
        lock (s_arenaLock)
            s_arenaCalls.Clear();
        var custom = new PhnArenaAllocator { Ctx = null, Alloc = &ArenaAlloc, Free = &ArenaFree };

        // Enough 512-byte blocks for several arenas (31 blocks per pool, 64 pools per arena).
        const int N = 4 * 64 * 31;
        var blocks = new nint[N];
        PhnStats s0 = Heap.Stats();
        Assert.That(Native.SetArenaAllocator(&custom), Is.EqualTo(Native.PHN_OK));
        try
        {
            for (int i = 0; i < N; i++)
            {
                blocks[i] = (nint)Native.ObjMalloc(512);
                Assert.That((long)blocks[i], Is.Not.Zero);
            }
        }
        finally
        {
            Assert.That(Native.SetArenaAllocator(&builtin), Is.EqualTo(Native.PHN_OK));
        }
        PhnStats s1 = Heap.Stats();
        Heap.AssertValid();
        foreach (nint b in blocks)
            Native.ObjFree((void*)b);
        PhnStats s2 = Heap.Stats();

        List<(bool Alloc, nint Ptr, nuint Size)> calls;
        lock (s_arenaLock)
            calls = [.. s_arenaCalls];
        var allocs = calls.Where(c => c.Alloc).ToList();
        var frees = calls.Where(c => !c.Alloc).ToList();

        TestContext.Out.WriteLine($"arena allocator: {allocs.Count} allocs, {frees.Count} frees; arenas current {s0.ArenasAllocatedCurrent} -> {s1.ArenasAllocatedCurrent} -> {s2.ArenasAllocatedCurrent}");
        Assert.That(allocs.Count, Is.GreaterThanOrEqualTo(3), $"arenas allocated through the custom allocator (stats: {s0.ArenasAllocatedTotal} -> {s1.ArenasAllocatedTotal})");
        Assert.That((ulong)allocs.Count, Is.EqualTo(s1.ArenasAllocatedTotal - s0.ArenasAllocatedTotal), "every new arena came from the installed allocator");
        Assert.That(allocs.Select(c => c.Size), Is.All.EqualTo((nuint)Native.PHN_ARENA_SIZE));
        Assert.That(allocs.Select(c => c.Ptr), Has.None.EqualTo((nint)0));
        Assert.That(frees, Is.Not.Empty, $"drained arenas must be released (arenas current {s1.ArenasAllocatedCurrent} -> {s2.ArenasAllocatedCurrent})");
        Assert.That(frees.Select(c => c.Size), Is.All.EqualTo((nuint)Native.PHN_ARENA_SIZE));
        Assert.That(frees.Select(c => c.Ptr), Is.SubsetOf(allocs.Select(c => c.Ptr)), "only arenas it allocated come back to it");
        Assert.That(frees.Select(c => c.Ptr), Is.Unique);
        Assert.That(s2.ArenasAllocatedCurrent, Is.LessThan(s1.ArenasAllocatedCurrent));
        Assert.That(s2.ArenasReclaimed - s1.ArenasReclaimed, Is.GreaterThanOrEqualTo((ulong)frees.Count));
        Assert.That(s2.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
    }
}
