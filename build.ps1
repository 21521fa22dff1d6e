<#
.SYNOPSIS
  PyHeapNative build script for Windows; the same verbs as build.sh.
.DESCRIPTION
  build        (default) pyheapnative.dll + .lib, headers into artifacts\
  test         C tests, NUnit tests, Python unittest
  demo         build and run the C example
  native-test | net-test | py-test | clean
  Native AOT cannot cross-compile between operating systems: run this on Windows with the
  .NET SDK, the Visual Studio C++ build tools (for the Native AOT linker) and python.
#>
param([string]$Verb = "build")
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
    "test" { Invoke-Build; $env:PHN_SKIP_BUILD = "1"; Invoke-NativeTest; Invoke-NetTest; Invoke-PyTest }
    "demo" { Invoke-Demo }
    "native-test" { Invoke-NativeTest }
    "net-test" { Invoke-NetTest }
    "py-test" { Invoke-PyTest }
    "clean" {
        if (Test-Path $Art) { Remove-Item -Recurse -Force $Art }
        Get-ChildItem -Path (Join-Path $Root "src"), (Join-Path $Root "tests") -Recurse -Directory -Include bin, obj | Remove-Item -Recurse -Force
    }
    default { Write-Error "usage: build.ps1 [build|test|demo|native-test|net-test|py-test|clean]"; exit 2 }
}
