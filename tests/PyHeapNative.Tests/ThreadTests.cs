// MEM and OBJ are thread-safe from any thread without setup (phn_mem.h): random allocations
// with content checks and cross-thread frees, then the heap checker and the block count.
namespace PyHeapNative.Tests;

[TestFixture]
public sealed unsafe class ThreadTests
{
    private const int Threads = 4;
    private const int OpsPerThread = 60_000;
    private const int Slots = 2048;
    private const ulong Magic = 0x5048_4E00_0000_0000;   // "PHN" in the top bytes of the header word

    // Block layout: an 8-byte header (magic | domain << 32 | size), then a pattern derived
    // from the address and size. The header says how to check and free the block.
    private static void Stamp(void* p, int domain, uint size)
    {
        *(ulong*)p = Magic | ((ulong)domain << 32) | size;
        byte* b = (byte*)p;
        byte seed = (byte)(((nuint)p >> 4) ^ size);
        for (uint i = 8; i < size; i++)
            b[i] = (byte)(seed + i);
    }

    private static (int Domain, uint Size) Check(void* p)
    {
        ulong h = *(ulong*)p;
        Assert.That(h & 0xFFFF_FF00_0000_0000, Is.EqualTo(Magic), $"block 0x{(nuint)p:x}: header overwritten");
        int domain = (int)((h >> 32) & 0xFF);
        uint size = (uint)h;
        byte* b = (byte*)p;
        byte seed = (byte)(((nuint)p >> 4) ^ size);
        for (uint i = 8; i < size; i++)
        {
            if (b[i] != (byte)(seed + i))
                Assert.Fail($"block 0x{(nuint)p:x} ({Heap.Name(domain)}, {size} bytes): byte {i} is 0x{b[i]:x2}, expected 0x{(byte)(seed + i):x2}");
        }
        return (domain, size);
    }

    private static uint RandomSize(Random rng) => rng.Next(10) switch
    {
        < 7 => (uint)rng.Next(8, 513),     // pymalloc
        < 9 => (uint)rng.Next(8, 65),      // the busiest classes
        _ => (uint)rng.Next(513, 3000),    // RAW fallback
    };

    private static nint Allocate(Random rng)
    {
        int domain = rng.Next(2) == 0 ? Native.PHN_DOMAIN_MEM : Native.PHN_DOMAIN_OBJ;
        uint size = RandomSize(rng);
        void* p = rng.Next(4) == 0 ? Heap.Calloc(domain, size, 1) : Heap.Malloc(domain, size);
        Assert.That((long)(nint)p, Is.Not.Zero, $"{Heap.Name(domain)} allocation of {size}");
        Assert.That((ulong)p % Native.PHN_ALIGNMENT, Is.Zero);
        Stamp(p, domain, size);
        return (nint)p;
    }

    private static void Release(nint block)
    {
        if (block == 0)
            return;
        var (domain, _) = Check((void*)block);
        *(ulong*)block = 0;   // a stale pointer would now fail Check
        Heap.Free(domain, (void*)block);
    }

    [Test]
    public void RandomAllocationsWithCrossThreadFreesKeepTheHeapValid()
    {
        ulong startBlocks = Heap.Stats().AllocatedBlocks;
        var slots = new nint[Slots];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var validateResults = new System.Collections.Concurrent.ConcurrentQueue<(int Rc, string Message)>();
        using var done = new CancellationTokenSource();

        void Worker(int seed)
        {
            try
            {
                var rng = new Random(seed);
                for (int op = 0; op < OpsPerThread; op++)
                {
                    int slot = rng.Next(Slots);
                    switch (rng.Next(8))
                    {
                        case < 5:   // replace: whatever was there may come from any thread
                            Release(Interlocked.Exchange(ref slots[slot], Allocate(rng)));
                            break;
                        case < 7:   // free
                            Release(Interlocked.Exchange(ref slots[slot], 0));
                            break;
                        default:    // take, check, realloc to a new size, put back
                        {
                            nint p = Interlocked.Exchange(ref slots[slot], 0);
                            if (p == 0)
                                break;
                            var (domain, _) = Check((void*)p);
                            uint size = RandomSize(rng);
                            void* q = Heap.Realloc(domain, (void*)p, size);
                            Assert.That((long)(nint)q, Is.Not.Zero, $"realloc to {size}");
                            Assert.That((ulong)q % Native.PHN_ALIGNMENT, Is.Zero);
                            Assert.That(*(ulong*)q >> 40, Is.EqualTo(Magic >> 40), "realloc lost the header");
                            Stamp(q, domain, size);
                            Release(Interlocked.Exchange(ref slots[slot], (nint)q));
                            break;
                        }
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        }

        void Checker()
        {
            // phn_validate takes the heap lock; run it while the workers allocate.
            while (!done.IsCancellationRequested)
            {
                int rc = Native.Validate();
                if (rc != Native.PHN_OK)
                    validateResults.Enqueue((rc, Heap.LastError));
                Thread.Sleep(5);
            }
        }

        var workers = Enumerable.Range(0, Threads).Select(i => new Thread(() => Worker(1000 + i)) { Name = $"phn-worker-{i}" }).ToList();
        var checker = new Thread(Checker) { Name = "phn-validate" };
        checker.Start();
        workers.ForEach(t => t.Start());
        foreach (Thread t in workers)
            Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, $"{t.Name} did not finish");
        done.Cancel();
        checker.Join();

        int live = slots.Count(p => p != 0);
        TestContext.Out.WriteLine($"{Threads} x {OpsPerThread} operations, {live} blocks live at the end, heap checked concurrently");
        PhnStats mid = Heap.Stats();
        foreach (int i in Enumerable.Range(0, Slots))
            Release(Interlocked.Exchange(ref slots[i], 0));

        Assert.That(errors, Is.Empty, string.Join("\n", errors.Take(3)));
        Assert.That(validateResults, Is.Empty, "phn_validate during the run: " + string.Join("; ", validateResults.Take(3)));
        Assert.That(mid.AllocatedBlocks, Is.EqualTo(startBlocks + (ulong)live), "allocated_blocks with the surviving blocks live");
        Heap.AssertValid();
        Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(startBlocks), "allocated_blocks back to the start value");
    }

    // Each thread frees only what other threads allocated (producer/consumer), for both domains.
    [Test]
    public void BlocksAllocatedOnOneThreadAreFreedOnAnother()
    {
        ulong startBlocks = Heap.Stats().AllocatedBlocks;
        const int PerThread = 20_000;
        var queues = Enumerable.Range(0, Threads).Select(_ => new System.Collections.Concurrent.BlockingCollection<nint>()).ToArray();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = new List<Thread>();
        for (int i = 0; i < Threads; i++)
        {
            int me = i;
            threads.Add(new Thread(() =>
            {
                try
                {
                    var rng = new Random(77 + me);
                    var next = queues[(me + 1) % Threads];
                    for (int n = 0; n < PerThread; n++)
                    {
                        next.Add(Allocate(rng));
                        while (queues[me].TryTake(out nint p))
                            Release(p);
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
                finally
                {
                    queues[(me + 1) % Threads].CompleteAdding();
                }
            }));
        }
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True));
        foreach (var q in queues)
        {
            foreach (nint p in q.GetConsumingEnumerable())
                Release(p);
            q.Dispose();
        }
        Assert.That(errors, Is.Empty, string.Join("\n", errors.Take(3)));
        Heap.AssertValid();
        Assert.That(Heap.Stats().AllocatedBlocks, Is.EqualTo(startBlocks));
    }
}
