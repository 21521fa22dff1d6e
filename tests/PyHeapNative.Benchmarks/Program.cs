// PyHeapNative.Benchmarks: BenchmarkDotNet's command line (--filter, --job, --list, ...).
// Without --filter every benchmark runs (no interactive menu); without --artifacts the
// reports go to <repo>/artifacts/bench-net. ./build.sh bench-net passes its arguments here.
//
//   dotnet run -c Release --project tests/PyHeapNative.Benchmarks               # full run
//   dotnet run -c Release --project tests/PyHeapNative.Benchmarks -- --job short # quick figures
//   dotnet run -c Release --project tests/PyHeapNative.Benchmarks -- --job dry   # smoke test
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using PyHeapNative.Benchmarks;

var argv = new List<string>(args);
if (!argv.Exists(a => a is "--filter" or "-f" or "--list" or "--help" or "-h" or "--version" || a.StartsWith("--filter=")))
    argv.AddRange(["--filter", "*"]);
if (!argv.Exists(a => a is "--artifacts" || a.StartsWith("--artifacts=")) && Library.RepoRoot() is { } root)
    argv.AddRange(["--artifacts", Path.Combine(root, "artifacts", "bench-net")]);

// Where the P/Invoke benchmarks' library comes from, resolved before the child processes
// start (they inherit PYHEAPNATIVE_LIBRARY).
if (!argv.Exists(a => a is "--list" or "--help" or "-h" or "--version"))
    Console.WriteLine($"// libpyheapnative: {Library.Ensure()}");

IConfig config = DefaultConfig.Instance
    .AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Library).Assembly).Run([.. argv], config);
// BenchmarkDotNet reports a failed build or a benchmark that threw in its table and exits 0.
bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
return failed ? 1 : 0;
