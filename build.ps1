<#
.SYNOPSIS
  PyHeapNative build script for Windows; the same verbs as build.sh.
.DESCRIPTION
  build        (default) pyheapnative.dll + .lib, headers into artifacts\
  test         C tests, NUnit tests, Python unittest
  demo         build and run the C example
  install PREFIX  headers -> PREFIX\include, pyheapnative.dll -> PREFIX\bin, pyheapnative.lib ->
               PREFIX\lib, pyheapnative.pc -> PREFIX\lib\pkgconfig, the CMake package
               (find_package(PyHeapNative)) -> PREFIX\lib\cmake\PyHeapNative; builds only when
               artifacts\ lacks the library
  bench-net    BenchmarkDotNet, managed side (tests\PyHeapNative.Benchmarks); its arguments in
               $env:PHN_BENCH_ARGS (for example "--job short"; default: all, full job)
  native-test | net-test | py-test | clean
  Native AOT cannot cross-compile between operating systems: run this on Windows with the
  .NET SDK, the Visual Studio C++ build tools (for the Native AOT linker) and python.
#>
param([string]$Verb = "build", [string]$Prefix = "")
$ErrorActionPreference = "Stop"
$Root = $PSScriptRoot
$Art = Join-Path $Root "artifacts"
$Lib = Join-Path $Art "lib"
$Rid = if ($env:PHN_RID) { $env:PHN_RID } else { "win-x64" }
$Config = if ($env:PHN_CONFIG) { $env:PHN_CONFIG } else { "Release" }
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe failed with exit code $LASTEXITCODE" }
}

function Get-CCompiler {
    foreach ($c in "cl", "clang", "gcc") { if (Get-Command $c -ErrorAction SilentlyContinue) { return $c } }
    throw "no C compiler (cl, clang or gcc) on PATH"
}

function Invoke-Build {
    $proj = Join-Path $Root "src\PyHeapNative\PyHeapNative.csproj"
    New-Item -ItemType Directory -Force -Path $Lib | Out-Null
    Write-Host "==> publishing pyheapnative.dll ($Rid, $Config)"
    Invoke-Checked dotnet @("publish", $proj, "-c", $Config, "-r", $Rid, "-p:NativeLib=Shared",
        "-o", (Join-Path $Art "publish\shared"), "-p:IntermediateOutputPath=$Art\obj\shared\", "-nologo", "-v", "quiet")
    Copy-Item (Join-Path $Art "publish\shared\pyheapnative.dll") $Lib -Force
    Copy-Item (Join-Path $Art "publish\shared\pyheapnative.lib") $Lib -Force -ErrorAction SilentlyContinue
    $inc = Join-Path $Art "include"
    if (Test-Path $inc) { Remove-Item -Recurse -Force $inc }
    Copy-Item -Recurse (Join-Path $Root "include") $inc
    Write-Host "==> artifacts in $Lib"
}

# PHN_VERSION_MAJOR.MINOR.PATCH and PHN_ABI_VERSION of include\pyheapnative\phn_config.h
function Get-PhnVersion {
    $h = Get-Content (Join-Path $Root "include\pyheapnative\phn_config.h")
    $v = @{}
    foreach ($k in "VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH", "ABI_VERSION") {
        $v[$k] = ($h | Select-String "^#define PHN_$k (\d+)").Matches[0].Groups[1].Value
    }
    return $v
}

# The pkg-config file and the relocatable CMake package under $Prefix\lib, from src\packaging
# (as build.sh's write_packaging; no Libs.private: there is no static library on Windows).
function Write-Packaging([string]$Prefix) {
    $v = Get-PhnVersion
    $ver = "$($v.VERSION_MAJOR).$($v.VERSION_MINOR).$($v.VERSION_PATCH)"
    $pkg = Join-Path $Root "src\packaging"
    $pcDir = Join-Path $Prefix "lib\pkgconfig"; $cmDir = Join-Path $Prefix "lib\cmake\PyHeapNative"
    New-Item -ItemType Directory -Force -Path $pcDir, $cmDir | Out-Null
    $pfx = $Prefix -replace '\\', '/'
    (Get-Content (Join-Path $pkg "pyheapnative.pc.in")) | Where-Object { $_ -notmatch '^Libs.private:' } |
        ForEach-Object { $_.Replace("@PREFIX@", $pfx).Replace("@LIBDIR@", '${prefix}/lib').Replace("@INCLUDEDIR@", '${prefix}/include').Replace("@VERSION@", $ver) } |
        Set-Content -Encoding ascii (Join-Path $pcDir "pyheapnative.pc")
    foreach ($f in "PyHeapNativeConfig", "PyHeapNativeConfigVersion") {
        (Get-Content (Join-Path $pkg "cmake\$f.cmake.in")) |
            ForEach-Object { $_.Replace("@VERSION@", $ver).Replace("@VERSION_MAJOR@", $v.VERSION_MAJOR).Replace("@VERSION_MINOR@", $v.VERSION_MINOR).Replace("@ABI_VERSION@", $v.ABI_VERSION) } |
            Set-Content -Encoding ascii (Join-Path $cmDir "$f.cmake")
    }
}

function Invoke-Install([string]$Prefix) {
    if (-not $Prefix) { Write-Error "usage: build.ps1 install PREFIX"; exit 2 }
    $dll = Join-Path $Lib "pyheapnative.dll"
    if (-not ((Test-Path $dll) -and (Test-Path (Join-Path $Art "include\pyheapnative.h")))) { Invoke-Build }
    New-Item -ItemType Directory -Force -Path $Prefix | Out-Null
    $Prefix = (Resolve-Path $Prefix).Path
    Write-Host "==> installing PyHeapNative into $Prefix"
    foreach ($d in "include", "bin", "lib") { New-Item -ItemType Directory -Force -Path (Join-Path $Prefix $d) | Out-Null }
    Copy-Item -Recurse -Force (Join-Path $Art "include\*") (Join-Path $Prefix "include")
    Copy-Item -Force $dll (Join-Path $Prefix "bin")
    $implib = Join-Path $Lib "pyheapnative.lib"
    if (Test-Path $implib) { Copy-Item -Force $implib (Join-Path $Prefix "lib") }
    Write-Packaging $Prefix
}

function Invoke-Ensure { if (-not ((Test-Path (Join-Path $Lib "pyheapnative.dll")) -and $env:PHN_SKIP_BUILD -eq "1")) { Invoke-Build } }

function Build-CProgram([string]$Source, [string]$Output) {
    $cc = Get-CCompiler
    $inc = Join-Path $Root "include"
    if ($cc -eq "cl") {
        Invoke-Checked cl @("/nologo", "/O2", "/I$inc", $Source, "/Fe:$Output", (Join-Path $Lib "pyheapnative.lib"))
    } else {
        Invoke-Checked $cc @("-O2", "-I$inc", $Source, "-o", $Output, "-L$Lib", "-lpyheapnative")
    }
}

function Invoke-NativeTest {
    Invoke-Ensure
    $out = Join-Path $Art "native-tests"; New-Item -ItemType Directory -Force -Path $out | Out-Null
    $env:PATH = "$Lib;$env:PATH"
    $failed = 0
    foreach ($t in Get-ChildItem (Join-Path $Root "native-tests\test_*.c")) {
        $exe = Join-Path $out ($t.BaseName + ".exe")
        Build-CProgram $t.FullName $exe
        & $exe
        if ($LASTEXITCODE -ne 0) { $failed++ }
    }
    if ($failed -ne 0) { throw "$failed C test program(s) failed" }
}

function Invoke-NetTest {
    Invoke-Ensure
    $env:PYHEAPNATIVE_LIBRARY = Join-Path $Lib "pyheapnative.dll"; $env:PHN_REPO_ROOT = $Root
    Invoke-Checked dotnet @("test", (Join-Path $Root "tests\PyHeapNative.Tests\PyHeapNative.Tests.csproj"), "-c", $Config, "-nologo")
}

function Invoke-PyTest {
    Invoke-Ensure
    $env:PYHEAPNATIVE_LIBRARY = Join-Path $Lib "pyheapnative.dll"
    $env:PYTHONPATH = Join-Path $Root "src\python"
    Invoke-Checked python @("-m", "unittest", "discover", "-s", (Join-Path $Root "tests\python"), "-t", (Join-Path $Root "tests\python"), "-v")
}

function Invoke-BenchNet {
    Invoke-Ensure
    $out = Join-Path $Art "bench-net"; $lib = Join-Path $out "lib"
    New-Item -ItemType Directory -Force -Path $lib | Out-Null
    Copy-Item (Join-Path $Lib "pyheapnative.dll") $lib -Force
    $env:PYHEAPNATIVE_LIBRARY = Join-Path $lib "pyheapnative.dll"; $env:PHN_REPO_ROOT = $Root
    $extra = if ($env:PHN_BENCH_ARGS) { $env:PHN_BENCH_ARGS -split '\s+' } else { @() }
    Invoke-Checked dotnet (@("run", "-c", "Release", "--project", (Join-Path $Root "tests\PyHeapNative.Benchmarks\PyHeapNative.Benchmarks.csproj"), "--", "--artifacts", $out) + $extra)
}

function Invoke-Demo {
    Invoke-Ensure
    $out = Join-Path $Art "demo"; New-Item -ItemType Directory -Force -Path $out | Out-Null
    $exe = Join-Path $out "demo.exe"
    Build-CProgram (Join-Path $Root "native-tests\demo\demo.c") $exe
    $env:PATH = "$Lib;$env:PATH"
    Invoke-Checked $exe @()
}

switch ($Verb) {
    "build" { Invoke-Build }
    "test" {
        Invoke-Build; $env:PHN_SKIP_BUILD = "1"; Invoke-NativeTest; Invoke-NetTest; Invoke-PyTest
        Invoke-Checked dotnet @("build", (Join-Path $Root "tests\PyHeapNative.Benchmarks\PyHeapNative.Benchmarks.csproj"), "-c", "Release", "-nologo", "-v", "quiet")
    }
    "demo" { Invoke-Demo }
    "install" { Invoke-Install $Prefix }
    "native-test" { Invoke-NativeTest }
    "net-test" { Invoke-NetTest }
    "py-test" { Invoke-PyTest }
    "bench-net" { Invoke-BenchNet }
    "clean" {
        if (Test-Path $Art) { Remove-Item -Recurse -Force $Art }
        Get-ChildItem -Path (Join-Path $Root "src"), (Join-Path $Root "tests") -Recurse -Directory -Include bin, obj | Remove-Item -Recurse -Force
    }
    default { Write-Error "usage: build.ps1 [build|test|demo|bench-net|install PREFIX|native-test|net-test|py-test|clean]"; exit 2 }
}
