// The debug hooks (phn_debug.h; spec-allocator.md §3, §7 items 30, 34, 35, 37). Installing
// them is process-wide and cannot be undone while blocks are live, and this test process
// shares one library instance across every fixture, so everything runs in a child: a small C
// program, compiled here with gcc against the built library, started with
// PYHEAPNATIVE_ALLOCATOR=debug / pymalloc_debug / malloc_debug or calling
// phn_setup_debug_hooks() itself. native-tests/test_debug.c has the exhaustive cases.
using System.Globalization;
using System.Text.RegularExpressions;

namespace PyHeapNative.Tests;

[TestFixture]
public sealed class DebugHookTests
{
    private const string Program = """
        #include <pyheapnative.h>
        #include <stdio.h>
        #include <string.h>

        static volatile size_t sixteen = 16;
        static char fatal_msg[512];
        static int fatal_calls;

        static unsigned char* opaque(void* p) {
            unsigned char* volatile q = (unsigned char*)p;
            return q;
        }
        static void dump(const char* key, void* p, size_t n) {
            const unsigned char* b = opaque(p) - 16;
            printf("%s=", key);
            for (size_t i = 0; i < n + 24; i++) printf(i ? " %02x" : "%02x", b[i]);
            printf("\n");
        }
        static void on_fatal(void* ctx, const char* message) {
            (void)ctx;
            fatal_calls++;
            snprintf(fatal_msg, sizeof fatal_msg, "%s", message);
        }
        static phn_allocator below;
        static void* pass_malloc(void* c, size_t n) { (void)c; return below.malloc(below.ctx, n); }
        static void* pass_calloc(void* c, size_t a, size_t b) { (void)c; return below.calloc(below.ctx, a, b); }
        static void* pass_realloc(void* c, void* p, size_t n) { (void)c; return below.realloc(below.ctx, p, n); }
        static void pass_free(void* c, void* p) { (void)c; below.free(below.ctx, p); }
        static void get3(phn_allocator a[3]) {
            memset(a, 0, 3 * sizeof a[0]);
            for (int d = 0; d < 3; d++) phn_get_allocator(d, &a[d]);
        }

        int main(int argc, char** argv) {
            const char* mode = argc > 1 ? argv[1] : "layout";
            if (strcmp(mode, "rewrap") == 0) {
                /* phn_debug.h: "Call it again after phn_set_allocator to put the hooks back on
                 * top of a new allocator" - a pass-through allocator over the MEM hooks. */
                phn_set_fatal_handler(on_fatal, NULL);
                printf("setup1=%d\n", (int)phn_setup_debug_hooks());
                phn_get_allocator(PHN_DOMAIN_MEM, &below);
                phn_allocator pass = {NULL, pass_malloc, pass_calloc, pass_realloc, pass_free};
                printf("set=%d\n", (int)phn_set_allocator(PHN_DOMAIN_MEM, &pass));
                printf("setup2=%d\n", (int)phn_setup_debug_hooks());
                const char* nm = phn_allocator_name();
                printf("name=%s\n", nm ? nm : "(null)");
                int sound = 1;
                for (size_t n = 1; n <= 2000; n = n * 2 + 3) {
                    unsigned char* p = opaque(phn_mem_malloc(n));
                    if (!p || p[-8] != 'm' || p[n] != 0xfd) sound = 0;
                    phn_mem_free(p);
                }
                printf("sound=%d\ncalls=%d\nmessage=%s\nvalidate=%d\n", sound, fatal_calls, fatal_msg, (int)phn_validate());
                return 0;
            }
            if (strcmp(mode, "setup") == 0) {
                const char* before = phn_allocator_name();
                phn_allocator a[3], b[3];
                printf("before=%s\n", before ? before : "(null)");
                printf("setup1=%d\n", (int)phn_setup_debug_hooks());
                get3(a);
                printf("setup2=%d\n", (int)phn_setup_debug_hooks());
                get3(b);
                printf("same=%d\n", memcmp(a, b, sizeof a) == 0);
            }
            const char* name = phn_allocator_name();
            printf("name=%s\n", name ? name : "(null)");
            fflush(stdout);
            if (strcmp(mode, "overflow") == 0) {
                unsigned char* p = opaque(phn_mem_malloc(16));
                p[sixteen] = 'x';
                phn_mem_free(p);
                printf("survived\n");
                return 0;
            }
            if (strcmp(mode, "misuse") == 0) {
                phn_raw_free(phn_mem_malloc(16));
                printf("survived\n");
                return 0;
            }
            if (strcmp(mode, "obj-misuse") == 0) {
                phn_mem_free(phn_obj_malloc(16));
                printf("survived\n");
                return 0;
            }
            if (strcmp(mode, "handler") == 0) {
                phn_set_fatal_handler(on_fatal, NULL);
                unsigned char* p = opaque(phn_mem_malloc(16));
                p[sixteen] = 'x';
                phn_mem_free(p);
                printf("calls=%d\nmessage=%s\nintact=%d\n", fatal_calls, fatal_msg, p[16] == 'x' && p[-8] == 'm');
                p[sixteen] = 0xfd;
                phn_mem_free(p);
                printf("calls_after_fix=%d\nvalidate=%d\n", fatal_calls, (int)phn_validate());
                return 0;
            }
            void* m5 = phn_mem_malloc(5);
            void* r0 = phn_raw_malloc(0);
            void* o5 = phn_obj_malloc(5);
            void* c3 = phn_mem_calloc(1, 3);
            dump("mem5", m5, 5);
            dump("raw0", r0, 0);
            dump("obj5", o5, 5);
            dump("calloc3", c3, 3);
            phn_mem_free(m5);
            phn_raw_free(r0);
            phn_obj_free(o5);
            phn_mem_free(c3);
            printf("validate=%d\n", (int)phn_validate());
            return 0;
        }
        """;

    // CPython 3.13 Lib/test/test_capi/test_mem.py (test_buffer_overflow, test_api_misuse), with
    // "Fatal Python error" relaxed to "Fatal (Python )?error".
    private const string PtrRegex = @"(?:0x)?[0-9a-fA-F]+";

    private static readonly Regex BufferOverflow = new(
        (@"Debug memory block at address p={ptr}: API 'm'\n" +
         @"    16 bytes originally requested\n" +
         @"    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n" +
         @"    The [0-9] pad bytes at tail={ptr} are not all FORBIDDENBYTE \(0x[0-9a-f]{2}\):\n" +
         @"        at tail\+0: 0x78 \*\*\* OUCH\n" +
         @"        at tail\+1: 0xfd\n" +
         @"        at tail\+2: 0xfd\n" +
         @"        .*\n" +
         @"(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?" +
         @"    Data at p: cd cd cd .*\n" +
         @"\n" +
         @"Enable tracemalloc to get the memory block allocation traceback\n" +
         @"\n" +
         @"Fatal (Python )?error: _PyMem_DebugRawFree: bad trailing pad byte").Replace("{ptr}", PtrRegex),
        RegexOptions.Singleline | RegexOptions.CultureInvariant);

    private static readonly Regex ApiMisuse = new(
        (@"Debug memory block at address p={ptr}: API 'm'\n" +
         @"    16 bytes originally requested\n" +
         @"    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n" +
         @"    The [0-9] pad bytes at tail={ptr} are FORBIDDENBYTE, as expected.\n" +
         @"(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?" +
         @"    Data at p: cd cd cd .*\n" +
         @"\n" +
         @"Enable tracemalloc to get the memory block allocation traceback\n" +
         @"\n" +
         @"Fatal (Python )?error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'r'\n").Replace("{ptr}", PtrRegex),
        RegexOptions.CultureInvariant);

    private const int SigAbrtExitCode = 128 + 6;   // how .NET reports a child killed by SIGABRT

    private const string Mem5 = "00 00 00 00 00 00 00 05 6d fd fd fd fd fd fd fd cd cd cd cd cd fd fd fd fd fd fd fd fd";

    private string _scratch = null!;
    private string _exe = null!;

    [OneTimeSetUp]
    public void CompileProbe()
    {
        _scratch = Repo.NewScratchDir("debug");
        _exe = ProcessRunner.CompileProgram(_scratch, "debug_probe", Program, "c11");
    }

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        if (_scratch != null && Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    private ProcessResult Run(string? allocator, string mode) =>
        ProcessRunner.Run(_exe, [mode], new Dictionary<string, string?>
        {
            ["PYHEAPNATIVE_ALLOCATOR"] = allocator,
            ["PYHEAPNATIVE_MALLOCSTATS"] = null,
            ["PYHEAPNATIVE_TRACEMALLOC"] = null,
            ["DOTNET_DbgEnableMiniDump"] = "0",
        }, timeoutMs: 30_000);

    private static Dictionary<string, string> Values(ProcessResult r) =>
        r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2)
            .GroupBy(p => p[0])
            .ToDictionary(g => g.Key, g => g.Last()[1]);

    // Spec 7.30: layout of MEM, RAW and OBJ blocks; 7.31: calloc data is zero.
    [TestCase("debug", "pymalloc_debug")]
    [TestCase("pymalloc_debug", "pymalloc_debug")]
    [TestCase("malloc_debug", "malloc_debug")]
    public void BlockLayoutAndNameUnderTheEnvironment(string allocator, string expectedName)
    {
        ProcessResult r = Run(allocator, "layout");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.Multiple(() =>
        {
            Assert.That(v.GetValueOrDefault("name"), Is.EqualTo(expectedName), r.ToString());
            Assert.That(v.GetValueOrDefault("mem5"), Is.EqualTo(Mem5), "PyMem_Malloc(5) from p-16");
            Assert.That(v.GetValueOrDefault("raw0"), Is.EqualTo("00 00 00 00 00 00 00 00 72 fd fd fd fd fd fd fd fd fd fd fd fd fd fd fd"),
                "PyMem_RawMalloc(0): size 0, id 'r', 7 + 8 forbidden bytes");
            Assert.That(v.GetValueOrDefault("obj5"), Is.EqualTo("00 00 00 00 00 00 00 05 6f fd fd fd fd fd fd fd cd cd cd cd cd fd fd fd fd fd fd fd fd"),
                "PyObject_Malloc(5): id 'o'");
            Assert.That(v.GetValueOrDefault("calloc3"), Is.EqualTo("00 00 00 00 00 00 00 03 6d fd fd fd fd fd fd fd 00 00 00 fd fd fd fd fd fd fd fd"),
                "PyMem_Calloc(1, 3): zero data");
            Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"));
        });
    }

    // Spec 7.35 with CPython's own regular expression (test_buffer_overflow).
    [TestCase("debug")]
    [TestCase("pymalloc_debug")]
    [TestCase("malloc_debug")]
    public void BufferOverflowAbortsWithCPythonsDump(string allocator)
    {
        ProcessResult r = Run(allocator, "overflow");
        Assert.That(r.ExitCode, Is.EqualTo(SigAbrtExitCode), "must abort (SIGABRT):\n" + r);
        Assert.That(r.StdOut, Does.Not.Contain("survived"), r.ToString());
        Assert.That(BufferOverflow.IsMatch(r.StdErr), Is.True, "test_mem.py's regex does not match:\n" + r.StdErr);
    }

    // Spec 7.34 with CPython's own regular expression (test_api_misuse).
    [TestCase("debug")]
    [TestCase("pymalloc_debug")]
    [TestCase("malloc_debug")]
    public void ApiMisuseAbortsWithCPythonsDump(string allocator)
    {
        ProcessResult r = Run(allocator, "misuse");
        Assert.That(r.ExitCode, Is.EqualTo(SigAbrtExitCode), "must abort (SIGABRT):\n" + r);
        Assert.That(r.StdOut, Does.Not.Contain("survived"), r.ToString());
        Assert.That(ApiMisuse.IsMatch(r.StdErr), Is.True, "test_mem.py's regex does not match:\n" + r.StdErr);
    }

    // Spec 7.34: PyObject_Malloc block freed with PyMem_Free.
    [TestCase("pymalloc_debug")]
    [TestCase("malloc_debug")]
    public void ObjectBlockFreedWithMemFreeIsABadId(string allocator)
    {
        ProcessResult r = Run(allocator, "obj-misuse");
        Assert.That(r.ExitCode, Is.EqualTo(SigAbrtExitCode), "must abort (SIGABRT):\n" + r);
        Assert.That(r.StdErr, Does.Match(@"Debug memory block at address p=0x[0-9a-f]+: API 'o'\n"), r.StdErr);
        Assert.That(r.StdErr, Does.EndWith("Fatal error: _PyMem_DebugRawFree: bad ID: Allocated using API 'o', verified using API 'm'\n"), r.StdErr);
    }

    // Spec 7.37 and phn_debug.h: phn_setup_debug_hooks() at run time, twice.
    [TestCase(null, "pymalloc", "pymalloc_debug")]
    [TestCase("malloc", "malloc", "malloc_debug")]
    public void SetupDebugHooksTwiceWrapsOnce(string? allocator, string before, string after)
    {
        ProcessResult r = Run(allocator, "setup");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.Multiple(() =>
        {
            Assert.That(v.GetValueOrDefault("before"), Is.EqualTo(before), r.ToString());
            Assert.That(v.GetValueOrDefault("setup1"), Is.EqualTo(Native.PHN_OK.ToString(CultureInfo.InvariantCulture)));
            Assert.That(v.GetValueOrDefault("setup2"), Is.EqualTo(Native.PHN_OK.ToString(CultureInfo.InvariantCulture)));
            Assert.That(v.GetValueOrDefault("same"), Is.EqualTo("1"), "the second call must not wrap a domain again");
            Assert.That(v.GetValueOrDefault("name"), Is.EqualTo(after));
            Assert.That(v.GetValueOrDefault("mem5"), Is.EqualTo(Mem5), "one header, not two");
            Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"));
        });
    }

    // phn_debug.h: "Call it again after phn_set_allocator to put the hooks back on top of a new
    // allocator". The new allocator wraps the hooks already there (as phn_alloc.h requires once
    // blocks are live), so the new hooks sit over the old ones: every free must still work.
    [TestCase(null)]
    [TestCase("malloc")]
    public void SetupAgainOverANewAllocatorWrapsIt(string? allocator)
    {
        ProcessResult r = Run(allocator, "rewrap");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.Multiple(() =>
        {
            Assert.That(v.GetValueOrDefault("setup1"), Is.EqualTo("0"), r.ToString());
            Assert.That(v.GetValueOrDefault("set"), Is.EqualTo("0"));
            Assert.That(v.GetValueOrDefault("setup2"), Is.EqualTo("0"));
            Assert.That(v.GetValueOrDefault("name"), Is.EqualTo("(null)"), "a custom allocator sits under the outer hooks");
            Assert.That(v.GetValueOrDefault("sound"), Is.EqualTo("1"), "blocks carry the header and trailer");
            Assert.That(v.GetValueOrDefault("calls"), Is.EqualTo("0"), "no fatal error on a valid free:\n" + r);
            Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"));
        });
    }

    // phn_debug.h: "If the fatal handler returns, the free does nothing".
    [TestCase("pymalloc_debug")]
    [TestCase("malloc_debug")]
    public void AFatalHandlerThatReturnsLeavesTheBlockAlone(string allocator)
    {
        ProcessResult r = Run(allocator, "handler");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.Multiple(() =>
        {
            Assert.That(v.GetValueOrDefault("calls"), Is.EqualTo("1"), r.ToString());
            Assert.That(v.GetValueOrDefault("message"), Is.EqualTo("_PyMem_DebugRawFree: bad trailing pad byte"));
            Assert.That(v.GetValueOrDefault("intact"), Is.EqualTo("1"), "the bad free must not touch the block");
            Assert.That(v.GetValueOrDefault("calls_after_fix"), Is.EqualTo("1"), "once repaired, the block frees normally");
            Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"));
            Assert.That(r.StdErr, Does.Contain("at tail+0: 0x78 *** OUCH"), "the dump is still written");
            Assert.That(r.StdErr, Does.Not.Contain("Fatal error"), "the default fatal path must not run");
        });
    }
}
