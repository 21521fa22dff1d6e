// Status codes, the thread-local last error, the error handler, and exceptions thrown inside
// the library turned into errors at the C boundary (phn_runtime.h, phn_testing.h).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class ErrorTests
{
    [SetUp]
    public void ClearThisThreadsError() => Native.ClearError();

    [TearDown]
    public void Reset()
    {
        Native.SetErrorHandler(null, null);
        Native.TestingInjectFault(Native.PHN_FAULT_NONE, 0);
        Heap.AssertValid();
    }

    private static int BadCall() => Native.GetAllocator(42, null);

    [Test]
    public void LastErrorDescribesTheLastFailedCall()
    {
        Assert.That(Heap.LastError, Is.Empty, "no error yet on this thread");
        Assert.That(Native.LastErrorCode(), Is.Zero);

        PhnAllocator a;
        Assert.That(Native.GetAllocator(42, &a), Is.EqualTo(Native.PHN_EINVAL));
        string first = Heap.LastError;
        Assert.That(first, Is.Not.Empty);
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));

        // A successful call does not clear it.
        Assert.That(Native.Validate(), Is.EqualTo(Native.PHN_OK));
        Native.MemFree(Native.MemMalloc(8));
        Assert.That(Heap.LastError, Is.EqualTo(first));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));

        // The next failing call replaces it.
        PhnArenaAllocator bad = default;
        Assert.That(Native.SetArenaAllocator(&bad), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Is.Not.Empty);

        Native.ClearError();
        Assert.That(Heap.LastError, Is.Empty);
        Assert.That(Native.LastErrorCode(), Is.Zero);
    }

    [Test]
    public void StatsWithATooSmallStructSizeIsInvalid()
    {
        PhnStats s = default;
        s.StructSize = 8;
        Assert.That(Native.GetStats(&s), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Is.Not.Empty);
        Assert.That(Native.GetStats(null), Is.EqualTo(Native.PHN_EINVAL));
    }

    [Test]
    public void LastErrorIsThreadLocal()
    {
        Assert.That(BadCall(), Is.EqualTo(Native.PHN_EINVAL));
        string mine = Heap.LastError;
        Assert.That(mine, Is.Not.Empty);

        string? otherBefore = null, otherAfter = null;
        int otherCodeBefore = -99, otherCodeAfter = -99;
        var t = new Thread(() =>
        {
            otherBefore = Heap.LastError;
            otherCodeBefore = Native.LastErrorCode();
            PhnStats s = default;   // struct_size 0
            Native.GetStats(&s);
            otherAfter = Heap.LastError;
            otherCodeAfter = Native.LastErrorCode();
        });
        t.Start();
        t.Join();

        Assert.That(otherBefore, Is.Empty, "a new thread starts without an error");
        Assert.That(otherCodeBefore, Is.Zero);
        Assert.That(otherAfter, Is.Not.Empty);
        Assert.That(otherCodeAfter, Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(Heap.LastError, Is.EqualTo(mine), "another thread's error must not replace this thread's");
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINVAL));
    }

    // ------------------------------------------------------------------ error handler

    private static readonly object s_lock = new();
    private static readonly List<(nint Ctx, int Code, string Message, int ThreadId)> s_reports = [];

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnError(void* ctx, int code, byte* message)
    {
        string text = Marshal.PtrToStringUTF8((nint)message) ?? "(null)";
        lock (s_lock)
            s_reports.Add(((nint)ctx, code, text, Environment.CurrentManagedThreadId));
    }

    private static List<(nint Ctx, int Code, string Message, int ThreadId)> TakeReports()
    {
        lock (s_lock)
        {
            var r = s_reports.ToList();
            s_reports.Clear();
            return r;
        }
    }

    [Test]
    public void ErrorHandlerReceivesCodeMessageAndContextOnTheFailingThread()
    {
        TakeReports();
        Assert.That(Native.SetErrorHandler(&OnError, (void*)0x5EED), Is.EqualTo(Native.PHN_OK));
        Assert.That(BadCall(), Is.EqualTo(Native.PHN_EINVAL));
        string expected = Heap.LastError;
        int otherThread = 0;
        var t = new Thread(() =>
        {
            otherThread = Environment.CurrentManagedThreadId;
            PhnStats s = default;
            Native.GetStats(&s);
        });
        t.Start();
        t.Join();
        Native.MemFree(Native.MemMalloc(16));   // successful calls report nothing

        var reports = TakeReports();
        Assert.That(reports, Has.Count.EqualTo(2), string.Join("; ", reports));
        Assert.That(reports[0].Ctx, Is.EqualTo((nint)0x5EED));
        Assert.That(reports[0].Code, Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(reports[0].Message, Is.EqualTo(expected), "the handler runs after phn_last_error_message is set");
        Assert.That(reports[0].ThreadId, Is.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(reports[1].ThreadId, Is.EqualTo(otherThread), "called on the failing thread");
        Assert.That(reports[1].Code, Is.EqualTo(Native.PHN_EINVAL));

        // NULL restores the default (none).
        Assert.That(Native.SetErrorHandler(null, null), Is.EqualTo(Native.PHN_OK));
        Assert.That(BadCall(), Is.EqualTo(Native.PHN_EINVAL));
        Assert.That(TakeReports(), Is.Empty);
    }

    // ------------------------------------------------------------------ fault injection

    [Test]
    public void ExceptionInStatsBecomesAnInternalError()
    {
        PhnStats before = Heap.Stats();
        TakeReports();
        Assert.That(Native.SetErrorHandler(&OnError, null), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.TestingInjectFault(Native.PHN_FAULT_THROW_IN_STATS, 1), Is.EqualTo(Native.PHN_OK));

        PhnStats s = default;
        s.StructSize = (uint)sizeof(PhnStats);
        int rc = Native.GetStats(&s);
        Assert.That(rc, Is.EqualTo(Native.PHN_EINTERNAL));
        Assert.That(Native.LastErrorCode(), Is.EqualTo(Native.PHN_EINTERNAL));
        Assert.That(Heap.LastError, Is.Not.Empty);
        TestContext.Out.WriteLine($"phn_get_stats with the fault: {rc}, \"{Heap.LastError}\"");
        var reports = TakeReports();
        Assert.That(reports.Select(r => r.Code), Is.EqualTo(new[] { Native.PHN_EINTERNAL }));

        // The process survived and the next call works.
        PhnStats after = Heap.Stats();
        Assert.That(after.AllocatedBlocks, Is.EqualTo(before.AllocatedBlocks));
        Heap.AssertValid();

        // The countdown: the second call fails, the first and third succeed.
        Assert.That(Native.TestingInjectFault(Native.PHN_FAULT_THROW_IN_STATS, 2), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GetStats(&s), Is.EqualTo(Native.PHN_OK));
        Assert.That(Native.GetStats(&s), Is.EqualTo(Native.PHN_EINTERNAL));
        Assert.That(Native.GetStats(&s), Is.EqualTo(Native.PHN_OK));

        // Through the managed API it is a PyHeapException.
        Assert.That(Native.TestingInjectFault(Native.PHN_FAULT_THROW_IN_STATS, 1), Is.EqualTo(Native.PHN_OK));
        var ex = Assert.Throws<PyHeapException>(() => PyHeap.GetStats());
        Assert.That(ex!.Status, Is.EqualTo(PyHeapStatus.Internal));
        Assert.That(ex.Message, Is.EqualTo(Heap.LastError));
        Assert.That(PyHeap.GetStats().AllocatedBlocks, Is.EqualTo(before.AllocatedBlocks));
    }

    // An exception in new_arena: the allocation that needed the arena fails (NULL, ENOMEM,
    // PHN_EINTERNAL) or falls back to RAW; either way exactly one allocation is affected,
    // later allocations get new arenas, and the heap stays valid.
    [Test]
    public void ExceptionInNewArenaFailsOrFallsBackCleanly()
    {
        PhnStats s0 = Heap.Stats();
        var blocks = new List<nint>();
        int nulls = 0, fallbacks = 0, faultAt = -1, nullErrno = 0, nullCode = 0;
        string nullMessage = "";
        ulong arenasAfterFault = 0;
        Assert.That(Native.TestingInjectFault(Native.PHN_FAULT_THROW_IN_NEW_ARENA, 1), Is.EqualTo(Native.PHN_OK));
        try
        {
            // 512-byte blocks: 31 per pool, 1984 per arena. Stop two arenas after the fault.
            PhnStats prev = s0;
            for (int i = 0; i < 40_000; i++)
            {
                Native.ClearError();
                Errno.Set(0);
                void* p = Native.ObjMalloc(512);
                int err = Errno.Value;
                PhnStats s = Heap.Stats();
                if (p == null)
                {
                    nulls++;
                    faultAt = i;
                    nullErrno = err;
                    nullCode = Native.LastErrorCode();
                    nullMessage = Heap.LastError;
                    arenasAfterFault = s.ArenasAllocatedTotal;
                }
                else
                {
                    blocks.Add((nint)p);
                    if (s.RawAllocatedBlocks != prev.RawAllocatedBlocks)
                    {
                        fallbacks++;
                        faultAt = i;
                        arenasAfterFault = s.ArenasAllocatedTotal;
                    }
                }
                prev = s;
                if (faultAt >= 0 && s.ArenasAllocatedTotal >= arenasAfterFault + 2)
                    break;
            }
        }
        finally
        {
            Native.TestingInjectFault(Native.PHN_FAULT_NONE, 0);
        }

        Heap.AssertValid();
        PhnStats s1 = Heap.Stats();
        foreach (nint b in blocks)
            Native.ObjFree((void*)b);
        Heap.AssertValid();
        PhnStats s2 = Heap.Stats();

        TestContext.Out.WriteLine($"fault at allocation {faultAt}: {(nulls == 1 ? $"NULL, errno {nullErrno}, code {nullCode}, \"{nullMessage}\"" : "RAW fallback")}; arenas {s0.ArenasAllocatedTotal} -> {s1.ArenasAllocatedTotal}");
        Assert.That(faultAt, Is.GreaterThanOrEqualTo(0), $"the fault never fired ({blocks.Count} allocations, arenas {s0.ArenasAllocatedTotal} -> {s1.ArenasAllocatedTotal})");
        Assert.That(nulls + fallbacks, Is.EqualTo(1), $"exactly one allocation is affected (NULL: {nulls}, RAW fallback: {fallbacks})");
        if (nulls == 1)
        {
            Assert.That(nullErrno, Is.EqualTo(Errno.ENOMEM), "errno of the failed allocation");
            Assert.That(nullCode, Is.EqualTo(Native.PHN_EINTERNAL), $"phn_last_error_code() of the failed allocation ({nullMessage})");
            Assert.That(nullMessage, Is.Not.Empty);
        }
        Assert.That(s1.ArenasAllocatedTotal, Is.GreaterThanOrEqualTo(arenasAfterFault + 2), "allocation goes on with new arenas after the fault");
        Assert.That(s1.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks + (ulong)blocks.Count));
        Assert.That(s2.AllocatedBlocks, Is.EqualTo(s0.AllocatedBlocks));
        Assert.That(s2.RawAllocatedBlocks, Is.EqualTo(s0.RawAllocatedBlocks));
    }
}
