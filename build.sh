#!/usr/bin/env bash
# PyHeapNative build script. Verbs:
#   build          (default) libpyheapnative.so + .a, header and pkg-config file into artifacts/
#   test           everything CI runs: C tests, NUnit tests, Python unittest, and
#                  BenchmarkDotNet's dry job (each managed benchmark once, no timing)
#   demo           build and run the C example (the main job)
#   bench          comparative benchmarks (installs mimalloc, jemalloc, libpython when missing),
#                  then bench-net --job short
#   bench-net [ARGS] BenchmarkDotNet, managed side (tests/PyHeapNative.Benchmarks); ARGS go to it
#   install PREFIX headers, .so/.a (+ nativeaot/), pyheapnative.pc and the CMake package
#                  (find_package(PyHeapNative)) under PREFIX; builds only if artifacts/ lacks them
#   native-test    only the C tests          py-test   only the Python tests
#   net-test       only the NUnit tests      clean     remove artifacts/ and obj/ folders
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ART="$ROOT/artifacts"
LIB="$ART/lib"
RID="${PHN_RID:-linux-x64}"
CONFIG="${PHN_CONFIG:-Release}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\n==> %s\n' "$*" >&2; }

need_cmd() {  # need_cmd <command> <debian package>
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "missing $1 (Debian package $2)" >&2; return 1
    fi
}

# The Native AOT runtime pieces a static link needs, from the ILCompiler package the SDK picked.
nativeaot_runtime_dir() {
    local pkgs="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
    ls -d "$pkgs"/microsoft.netcore.app.runtime.nativeaot."$RID"/*/runtimes/"$RID"/native 2>/dev/null | sort -V | tail -n 1
}

# PHN_VERSION_MAJOR.MINOR.PATCH, or PHN_ABI_VERSION with "abi", from the header
phn_version() {
    local h="$ROOT/include/pyheapnative/phn_config.h" k v=()
    if [ "${1:-}" = abi ]; then sed -n 's/^#define PHN_ABI_VERSION \([0-9]*\).*/\1/p' "$h"; return; fi
    for k in MAJOR MINOR PATCH; do v+=("$(sed -n "s/^#define PHN_VERSION_$k \([0-9]*\).*/\1/p" "$h")"); done
    echo "${v[0]}.${v[1]}.${v[2]}"
}

# write_packaging PREFIX LIBDIR INCLUDEDIR: PREFIX/lib/pkgconfig/pyheapnative.pc (with these
# paths) and the CMake package PREFIX/lib/cmake/PyHeapNative (relocatable: it finds lib/ and
# include/ from its own location), from src/packaging/
write_packaging() {
    local prefix="$1" libdir="$2" incdir="$3" ver maj min abi f
    ver="$(phn_version)"; maj="${ver%%.*}"; min="${ver#*.}"; min="${min%%.*}"; abi="$(phn_version abi)"
    mkdir -p "$prefix/lib/pkgconfig" "$prefix/lib/cmake/PyHeapNative"
    sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@INCLUDEDIR@|$incdir|" -e "s|@VERSION@|$ver|" \
        "$ROOT/src/packaging/pyheapnative.pc.in" > "$prefix/lib/pkgconfig/pyheapnative.pc"
    for f in PyHeapNativeConfig PyHeapNativeConfigVersion; do
        sed -e "s|@VERSION@|$ver|g" -e "s|@VERSION_MAJOR@|$maj|g" -e "s|@VERSION_MINOR@|$min|g" \
            -e "s|@ABI_VERSION@|$abi|g" "$ROOT/src/packaging/cmake/$f.cmake.in" \
            > "$prefix/lib/cmake/PyHeapNative/$f.cmake"
    done
}

build() {
    local proj="$ROOT/src/PyHeapNative/PyHeapNative.csproj"
    mkdir -p "$LIB/pkgconfig" "$LIB/nativeaot" "$ART/include"
    log "publishing libpyheapnative.so ($RID, $CONFIG)"
    dotnet publish "$proj" -c "$CONFIG" -r "$RID" -p:NativeLib=Shared \
        -o "$ART/publish/shared" -p:IntermediateOutputPath="$ART/obj/shared/" -nologo -v quiet
    # A new file renamed into place: a process that has the old library mapped keeps it intact
    # (copying over it in place can kill such a process with SIGBUS).
    cp "$ART/publish/shared/libpyheapnative.so" "$LIB/libpyheapnative.so.0.new"
    mv -f "$LIB/libpyheapnative.so.0.new" "$LIB/libpyheapnative.so.0"
    ln -sf libpyheapnative.so.0 "$LIB/libpyheapnative.so"

    log "publishing libpyheapnative.a ($RID, $CONFIG)"
    dotnet publish "$proj" -c "$CONFIG" -r "$RID" -p:NativeLib=Static \
        -o "$ART/publish/static" -p:IntermediateOutputPath="$ART/obj/static/" -nologo -v quiet
    cp "$ART/publish/static/libpyheapnative.a" "$LIB/libpyheapnative.a"
    # The C objects (Native/*.c: the entry shims and fast paths, the collector's visitors, a
    # dealloc callback's calls) are linked into the .so by the project; the static archive
    # needs them added.
    ar rcs "$LIB/libpyheapnative.a" "$ART/obj/static/phn_entry.o" "$ART/obj/static/phn_fast_debug.o" "$ART/obj/static/phn_fast_trace.o" "$ART/obj/static/phn_heap_bias.o" "$ART/obj/static/phn_fork.o" "$ART/obj/static/phn_gc_visit.o" "$ART/obj/static/phn_dealloc.o"
    local rt; rt="$(nativeaot_runtime_dir)"
    [ -n "$rt" ] || { echo "Native AOT runtime package not found" >&2; exit 1; }
    for f in libbootstrapperdll.o libRuntime.WorkstationGC.a libeventpipe-disabled.a \
             libstandalonegc-disabled.a libSystem.Native.a libaotminipal.a libstdc++compat.a \
             libRuntime.VxsortDisabled.a; do
        [ -f "$rt/$f" ] && cp "$rt/$f" "$LIB/nativeaot/$f"
    done

    rm -rf "$ART/include" && cp -r "$ROOT/include" "$ART/include"
    write_packaging "$ART" "$LIB" "$ART/include"
    log "artifacts in $LIB"
}

ensure_built() { [ -f "$LIB/libpyheapnative.so" ] && [ "${PHN_SKIP_BUILD:-0}" = 1 ] || build; }

CC="${CC:-gcc}"
CFLAGS_T="-std=c11 -O2 -g -Wall -Wextra -Werror -I$ROOT/include -D_GNU_SOURCE"
LDFLAGS_SHARED="-L$LIB -Wl,-rpath,$LIB -lpyheapnative -lpthread"

native_test() {
    ensure_built
    local out="$ART/native-tests"; mkdir -p "$out"
    "$ROOT/native-tests/run.sh" "$out"
}

# libclang for the ABI check (tests/PyHeapNative.Tests/AbiTests.cs): Debian's libclang1-14,
# installed when missing as the bench installs its packages (as root only). Never fails: without
# libclang the ABI tests are skipped, and say why.
ensure_libclang() {
    local pkg=libclang1-14
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' && return 0
    ls /usr/lib/llvm-*/lib/libclang.so.1 >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "net-test: $pkg is missing (apt-get install it as root): the ABI check will be skipped" >&2
        return 0
    fi
    log "installing $pkg (libclang for the ABI check)"
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; } \
        || echo "net-test: could not install $pkg: the ABI check will be skipped" >&2
}

net_test() {
    ensure_built
    ensure_libclang
    log "NUnit tests"
    PYHEAPNATIVE_LIBRARY="$LIB/libpyheapnative.so" PHN_REPO_ROOT="$ROOT" \
        dotnet test "$ROOT/tests/PyHeapNative.Tests/PyHeapNative.Tests.csproj" -c "$CONFIG" -nologo \
        --logger "console;verbosity=normal" 2>&1 | tee "$ART/nunit.log"
    return "${PIPESTATUS[0]}"
}

py_test() {
    ensure_built
    log "Python unittest"
    PYHEAPNATIVE_LIBRARY="$LIB/libpyheapnative.so" PYTHONPATH="$ROOT/src/python${PYTHONPATH:+:$PYTHONPATH}" \
        python3 -m unittest discover -s "$ROOT/tests/python" -t "$ROOT/tests/python" -v 2>&1 | tee "$ART/pytest.log"
    return "${PIPESTATUS[0]}"
}

test_all() {
    build
    export PHN_SKIP_BUILD=1
    local rc=0 c_ok c_bad n_ok n_bad p_run p_bad
    native_test 2>&1 | tee "$ART/native.log" || rc=1
    net_test >/dev/null || rc=1
    py_test >/dev/null || rc=1
    # BenchmarkDotNet's dry job runs each managed benchmark once (about 30 s): the P/Invoke
    # side and the Core compiled into a JIT-hosted assembly must load and run (no timing).
    log "BenchmarkDotNet dry job: every managed benchmark once"
    if ! BENCH_NET_OUT="$ART/bench-net-dry" bench_net --job dry >"$ART/bench-net-dry.log" 2>&1; then
        grep -m 5 -E "Exception|error" "$ART/bench-net-dry.log" || true
        echo "BenchmarkDotNet dry job failed: $ART/bench-net-dry.log"
        rc=1
    fi
    c_ok=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ {s+=$1} END {print s+0}' "$ART/native.log")
    c_bad=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ {s+=$3} END {print s+0}' "$ART/native.log")
    n_ok=$(grep -oE 'Passed: *[0-9]+' "$ART/nunit.log" | tail -n1 | grep -oE '[0-9]+' || echo 0)
    n_bad=$(grep -oE 'Failed: *[0-9]+' "$ART/nunit.log" | tail -n1 | grep -oE '[0-9]+' || echo 0)
    p_run=$(awk '/^Ran [0-9]+ test/ {n=$2} END {print n+0}' "$ART/pytest.log")
    p_bad=$(awk '/^FAILED \(/ {while (match($0, /(failures|errors)=[0-9]+/)) {split(substr($0, RSTART, RLENGTH), kv, "="); n+=kv[2]; $0=substr($0, RSTART+RLENGTH)}} END {print n+0}' "$ART/pytest.log")
    [ "$rc" = 0 ] || [ $((c_bad + n_bad + p_bad)) -gt 0 ] || c_bad=$((c_bad + 1))  # a suite died without saying so
    printf '\nC: %s passed, %s failed | NUnit: %s passed, %s failed | Python: %s run, %s failed\n' \
        "$c_ok" "$c_bad" "$n_ok" "$n_bad" "$p_run" "$p_bad"
    printf 'total: %d passed, %d failed\n' $((c_ok + n_ok + p_run - p_bad)) $((c_bad + n_bad + p_bad))
    return "$rc"
}

demo() {
    ensure_built
    local out="$ART/demo"; mkdir -p "$out"
    log "building the demo against pkg-config pyheapnative"
    need_cmd pkg-config pkg-config
    # shellcheck disable=SC2046
    $CC -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -rdynamic -o "$out/demo" "$ROOT/native-tests/demo/demo.c" \
        $(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --cflags --libs pyheapnative) -Wl,-rpath,"$LIB"
    log "running the demo"
    "$out/demo"
}

# install PREFIX: artifacts/include -> PREFIX/include; libpyheapnative.so.0 (+ the
# libpyheapnative.so link), libpyheapnative.a and nativeaot/ -> PREFIX/lib; pyheapnative.pc
# (prefix=PREFIX) -> PREFIX/lib/pkgconfig; the CMake package -> PREFIX/lib/cmake/PyHeapNative.
install_prefix() {
    local prefix="${1:-}" f
    [ -n "$prefix" ] || { echo "usage: $0 install PREFIX" >&2; exit 2; }
    if [ ! -f "$LIB/libpyheapnative.so.0" ] || [ ! -f "$LIB/libpyheapnative.a" ] \
            || [ ! -f "$LIB/nativeaot/libbootstrapperdll.o" ] || [ ! -f "$ART/include/pyheapnative.h" ]; then
        build
    fi
    mkdir -p "$prefix" && prefix="$(cd "$prefix" && pwd)"
    [ "$prefix" != "$ART" ] || { echo "install: PREFIX must not be artifacts/ itself" >&2; exit 2; }
    log "installing PyHeapNative $(phn_version) into $prefix"
    mkdir -p "$prefix/include/pyheapnative" "$prefix/lib/nativeaot"
    install -m 0644 "$ART/include/pyheapnative.h" "$prefix/include/"
    install -m 0644 "$ART"/include/pyheapnative/*.h "$prefix/include/pyheapnative/"
    install -m 0755 "$LIB/libpyheapnative.so.0" "$prefix/lib/"   # install unlinks first: safe under running programs
    ln -sfn libpyheapnative.so.0 "$prefix/lib/libpyheapnative.so"
    install -m 0644 "$LIB/libpyheapnative.a" "$prefix/lib/"
    for f in "$LIB"/nativeaot/*; do install -m 0644 "$f" "$prefix/lib/nativeaot/"; done
    # shellcheck disable=SC2016  # ${prefix} is pkg-config's variable
    write_packaging "$prefix" '${prefix}/lib' '${prefix}/include'
    log "installed: $prefix/include/pyheapnative.h, $prefix/lib/libpyheapnative.{so,so.0,a}, lib/nativeaot/," \
        "lib/pkgconfig/pyheapnative.pc, lib/cmake/PyHeapNative/"
}

bench() {
    ensure_built
    "$ROOT/native-tests/bench/run.sh" "$ART/bench"
    PHN_SKIP_BUILD=1 bench_net --job short
}

# BenchmarkDotNet (tests/PyHeapNative.Benchmarks) against a private copy of the library, so a
# rebuild during the run changes nothing; ARGS go to BenchmarkDotNet (default: all, full job).
bench_net() {
    ensure_built
    local out="${BENCH_NET_OUT:-$ART/bench-net}"; mkdir -p "$out/lib"
    install -m 0755 "$LIB/libpyheapnative.so.0" "$out/lib/libpyheapnative.so.0"
    log "BenchmarkDotNet: reports in $out/results"
    PYHEAPNATIVE_LIBRARY="$out/lib/libpyheapnative.so.0" PHN_REPO_ROOT="$ROOT" dotnet run -c Release \
        --project "$ROOT/tests/PyHeapNative.Benchmarks/PyHeapNative.Benchmarks.csproj" -- --artifacts "$out" "$@"
}

clean() { rm -rf "$ART"; find "$ROOT/src" "$ROOT/tests" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +; }

verb="${1:-build}"; shift || true
case "$verb" in
    build) build ;;
    test) test_all ;;
    demo) demo ;;
    native-test) native_test ;;
    net-test) net_test ;;
    py-test) py_test ;;
    bench) bench ;;
    bench-net) bench_net "$@" ;;
    install) install_prefix "$@" ;;
    clean) clean ;;
    *) echo "usage: $0 [build|test|demo|bench|bench-net [ARGS]|install PREFIX|native-test|net-test|py-test|clean]" >&2; exit 2 ;;
esac
