// PYHEAPNATIVE_ALLOCATOR in a child process (the library reads it once, at phn_init): a tiny
// C program, compiled here with gcc against the built library, reports the configuration.
namespace PyHeapNative.Tests;

[TestFixture]
public sealed class EnvironmentTests
{
    private const string Program = """
        #include <pyheapnative.h>
        #include <stdio.h>
        #include <string.h>

        static void on_fatal(void* ctx, const char* message) {
            (void)ctx;
            printf("fatal-handler: %s\n", message);
            fflush(stdout);
        }

        int main(int argc, char** argv) {
            if (argc > 1 && strcmp(argv[1], "handler") == 0) {
                printf("set=%d\n", (int)phn_set_fatal_handler(on_fatal, NULL));
                printf("init=%d\n", (int)phn_init());
                fflush(stdout);
            }
            const char* name = phn_allocator_name();
            void* p = phn_obj_malloc(16);
            void* q = phn_mem_malloc(0);
            long long stats = (long long)phn_format_malloc_stats(NULL, 0);
            char buf[16];
            memset(buf, 'x', sizeof buf);
            long long written = (long long)phn_format_malloc_stats(buf, sizeof buf);
            printf("name=%s\nblocks=%s\nstats=%lld\nwritten=%lld\nbuf0=%d\nbuf15=%d\nvalidate=%d\n",
                   name ? name : "(null)", p && q ? "ok" : "NULL", stats, written, buf[0], buf[15],
                   (int)phn_validate());
            phn_obj_free(p);
            phn_mem_free(q);
            return 0;
        }
        """;

    private string _scratch = null!;
    private string _exe = null!;

    [OneTimeSetUp]
    public void CompileProbe()
    {
        _scratch = Repo.NewScratchDir("env");
        _exe = ProcessRunner.CompileProgram(_scratch, "allocator_probe", Program, "c99");
    }

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        if (_scratch != null && Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    private ProcessResult Run(string? allocator, params string[] args) =>
        ProcessRunner.Run(_exe, args, new Dictionary<string, string?>
        {
            ["PYHEAPNATIVE_ALLOCATOR"] = allocator,
            ["PYHEAPNATIVE_MALLOCSTATS"] = null,
            ["DOTNET_DbgEnableMiniDump"] = "0",
        }, timeoutMs: 30_000);

    private static Dictionary<string, string> Values(ProcessResult r) =>
        r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);

    [TestCase(null, "pymalloc")]
    [TestCase("", "pymalloc")]
    [TestCase("pymalloc", "pymalloc")]
    [TestCase("malloc", "malloc")]
    public void AllocatorIsSelectedByTheEnvironment(string? value, string expected)
    {
        ProcessResult r = Run(value);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.That(v.GetValueOrDefault("name"), Is.EqualTo(expected), r.ToString());
        Assert.That(v.GetValueOrDefault("blocks"), Is.EqualTo("ok"), r.ToString());
        Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"), r.ToString());
        // Spec 7.29: no pymalloc statistics when OBJ is plain malloc.
        long stats = long.Parse(v.GetValueOrDefault("stats") ?? "-1", System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(v.GetValueOrDefault("written"), Is.EqualTo(stats.ToString(System.Globalization.CultureInfo.InvariantCulture)), "the return value does not depend on cap");
        if (expected == "malloc")
        {
            Assert.That(stats, Is.Zero, "phn_format_malloc_stats with OBJ = malloc");
            Assert.That(v.GetValueOrDefault("buf0"), Is.EqualTo("0"), "an empty string is written when cap > 0");
        }
        else
        {
            Assert.That(stats, Is.GreaterThan(0), "phn_format_malloc_stats with pymalloc");
            Assert.That(v.GetValueOrDefault("buf0"), Is.EqualTo(((int)'S').ToString(System.Globalization.CultureInfo.InvariantCulture)), "\"Small block threshold\"");
            Assert.That(v.GetValueOrDefault("buf15"), Is.EqualTo("0"), "truncated to cap - 1 and NUL-terminated");
        }
    }

    [Test]
    public void UnknownAllocatorIsFatal()
    {
        ProcessResult r = Run("bogus");
        Assert.That(r.ExitCode, Is.Not.Zero, "the process must die:\n" + r);
        Assert.That(r.StdOut, Does.Not.Contain("name="), "nothing may run after the fatal error:\n" + r);
        Assert.That(r.StdErr, Does.Contain("PYHEAPNATIVE_ALLOCATOR"), r.ToString());
        Assert.That(r.StdErr, Does.Contain("unknown allocator"), r.ToString());
    }

    // phn_runtime.h: "if the fatal handler returns, the default allocator is used and phn_init
    // returns PHN_EINVAL".
    [Test]
    public void UnknownAllocatorWithAFatalHandlerFallsBackToTheDefault()
    {
        ProcessResult r = Run("bogus", "handler");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Dictionary<string, string> v = Values(r);
        Assert.That(v.GetValueOrDefault("set"), Is.EqualTo("0"), r.ToString());
        Assert.That(r.StdOut, Does.Match(@"fatal-handler: .*PYHEAPNATIVE_ALLOCATOR.*unknown allocator|fatal-handler: .*unknown allocator.*PYHEAPNATIVE_ALLOCATOR"), r.ToString());
        Assert.That(v.GetValueOrDefault("init"), Is.EqualTo(Native.PHN_EINVAL.ToString(System.Globalization.CultureInfo.InvariantCulture)), r.ToString());
        Assert.That(v.GetValueOrDefault("name"), Is.EqualTo("pymalloc"), r.ToString());
        Assert.That(v.GetValueOrDefault("validate"), Is.EqualTo("0"), r.ToString());
    }
}
