#!/usr/bin/env bash
# native-tests/consumers/run.sh OUTDIR - the C quick starts of README.md as a test: install
# the built library into a fresh prefix (./build.sh install OUTDIR/prefix; it does not
# rebuild), build README.md's C code blocks against it, and build example.c as a user would:
#
#   pkg-config         cc example.c $(pkg-config --cflags --libs pyheapnative)
#   pkg-config static  cc example.c $(pkg-config --static --cflags --libs pyheapnative),
#                      -lpyheapnative turned into -l:libpyheapnative.a
#   CMake              find_package(PyHeapNative) with CMAKE_PREFIX_PATH = a copy of the prefix
#                      moved elsewhere (the package must be relocatable); the targets
#                      PyHeapNative::pyheapnative and PyHeapNative::pyheapnative_static
#
# Each binary is run and must print "pyheapnative example X.Y.Z: ... collected: 2 objects";
# the shared ones must load the installed libpyheapnative.so.0, the static ones must not
# depend on it. Also checked: the install layout, no absolute path in the CMake package, the
# version checks of PyHeapNativeConfigVersion.cmake. Installs cmake and pkg-config with
# apt-get when missing (as root). Ends with one "N passed, N failed" line; exit status 0
# only if everything passed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="$ROOT/artifacts/lib"
OUT="${1:?usage: native-tests/consumers/run.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
CC="${CC:-gcc}"
PREFIX="$OUT/prefix"
MOVED="$OUT/relocated/prefix"
EXPECT='^pyheapnative example [0-9]+\.[0-9]+\.[0-9]+: obj block ok, cycle collected: 2 objects$'
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Werror)

ok=0
bad=0
check() {  # check DESCRIPTION command...: run the command, output to $OUT/step.log
    local what="$1"; shift
    if "$@" >"$OUT/step.log" 2>&1; then
        ok=$((ok + 1)); echo "  ok:     $what"
    else
        bad=$((bad + 1)); echo "  FAILED: $what"; tail -n 40 "$OUT/step.log" | sed 's/^/    /'
    fi
}

need_cmd() {  # need_cmd COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "consumers: $1 is missing (apt-get install $2 as root)" >&2
        return 1
    fi
    echo "consumers: installing $2" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    command -v "$1" >/dev/null 2>&1
}

# run_example BINARY LIBDEP: run it, check its line; LIBDEP "shared DIR": it must load
# DIR/libpyheapnative.so.0; "static": it must not need libpyheapnative at all
run_example() {
    local bin="$1" kind="$2" dir="${3:-}" deps line st
    deps="$(ldd "$bin")" || { echo "ldd $bin failed"; return 1; }
    if [ "$kind" = static ]; then
        if echo "$deps" | grep -q libpyheapnative; then echo "$deps"; echo "still needs libpyheapnative"; return 1; fi
    elif ! echo "$deps" | grep -q "libpyheapnative.so.0 => $dir/libpyheapnative.so.0 "; then
        echo "$deps"; echo "does not load $dir/libpyheapnative.so.0"; return 1
    fi
    line="$(timeout -k 5 60 "$bin")"; st=$?
    [ "$st" = 0 ] || { echo "$line"; echo "$bin exited with status $st"; return 1; }
    echo "$line"
    echo "$line" | grep -Eq "$EXPECT" || { echo "unexpected output (want /$EXPECT/)"; return 1; }
}

echo "=== C consumers: ./build.sh install, pkg-config, CMake find_package, static"
for f in libpyheapnative.so.0 libpyheapnative.a nativeaot/libbootstrapperdll.o; do
    if [ ! -f "$LIB/$f" ] || [ ! -f "$ROOT/artifacts/include/pyheapnative.h" ]; then
        echo "consumers: $LIB/$f or artifacts/include missing (run ./build.sh build first)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
rm -rf "$PREFIX" "$OUT/relocated" "$OUT/cmake-build" "$OUT/cmake-version"

# ---- install
install_step() {
    local before after
    before="$(stat -c %Y "$LIB/libpyheapnative.so.0" "$LIB/libpyheapnative.a")"
    "$ROOT/build.sh" install "$PREFIX" || return 1
    after="$(stat -c %Y "$LIB/libpyheapnative.so.0" "$LIB/libpyheapnative.a")"
    [ "$before" = "$after" ] || { echo "install rebuilt artifacts/lib"; return 1; }
}
check "./build.sh install PREFIX (without rebuilding artifacts/lib)" install_step

layout_step() {
    local f cm="$PREFIX/lib/cmake/PyHeapNative" st=0
    for f in include/pyheapnative.h include/pyheapnative/phn_config.h include/pyheapnative/phn_gc.h \
             lib/libpyheapnative.so.0 lib/libpyheapnative.a lib/nativeaot/libbootstrapperdll.o \
             lib/nativeaot/libRuntime.WorkstationGC.a lib/pkgconfig/pyheapnative.pc \
             lib/cmake/PyHeapNative/PyHeapNativeConfig.cmake lib/cmake/PyHeapNative/PyHeapNativeConfigVersion.cmake; do
        [ -f "$PREFIX/$f" ] || { echo "missing: $f"; st=1; }
    done
    [ "$(readlink "$PREFIX/lib/libpyheapnative.so")" = libpyheapnative.so.0 ] \
        || { echo "lib/libpyheapnative.so is not a link to libpyheapnative.so.0"; st=1; }
    readelf -d "$PREFIX/lib/libpyheapnative.so.0" | grep -q 'SONAME.*\[libpyheapnative.so.0\]' \
        || { echo "soname of libpyheapnative.so.0 is not libpyheapnative.so.0"; st=1; }
    grep -qx "prefix=$PREFIX" "$PREFIX/lib/pkgconfig/pyheapnative.pc" || { echo "pyheapnative.pc: prefix= is not $PREFIX"; st=1; }
    if grep -n -e "$ROOT" -e "$PREFIX" -e '@[A-Z_]*@' "$cm"/*.cmake; then
        echo "the CMake package holds an absolute path or an unsubstituted @VAR@"; st=1
    fi
    return "$st"
}
check "layout: include/, lib/libpyheapnative.{so.0,so->so.0,a}, lib/nativeaot/, lib/pkgconfig/, lib/cmake/PyHeapNative/ (no absolute path)" layout_step

# ---- pkg-config
have_pkgconfig=1
need_cmd pkg-config pkg-config || have_pkgconfig=0
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"

pc_shared() {
    [ "$have_pkgconfig" = 1 ] || return 1
    local flags; flags="$(pkg-config --cflags --libs pyheapnative)" || return 1
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    "$CC" "${CFLAGS[@]}" -o "$OUT/example_pc" "$HERE/example.c" $flags -Wl,-rpath,"$PREFIX/lib" || return 1
    run_example "$OUT/example_pc" shared "$PREFIX/lib" || return 1
    local want; want="$(pkg-config --modversion pyheapnative)"
    "$OUT/example_pc" | grep -q "example $want:" || { echo "the library is not version $want (pkg-config --modversion)"; return 1; }
}
check "pkg-config --cflags --libs pyheapnative: builds, loads PREFIX/lib/libpyheapnative.so.0, runs" pc_shared

pc_static() {
    [ "$have_pkgconfig" = 1 ] || return 1
    local flags; flags="$(pkg-config --static --cflags --libs pyheapnative)" || return 1
    # -lpyheapnative would pick the .so next to the .a: ask the linker for the archive by name
    flags="$(echo " $flags " | sed 's| -lpyheapnative | -l:libpyheapnative.a |')"
    echo "pkg-config --static: $flags"
    # shellcheck disable=SC2086
    "$CC" "${CFLAGS[@]}" -o "$OUT/example_pc_static" "$HERE/example.c" $flags || return 1
    run_example "$OUT/example_pc_static" static
}
check "pkg-config --static (-l:libpyheapnative.a + Libs.private): builds, no libpyheapnative.so needed, runs" pc_static

# ---- the C code blocks of README.md's "Quick start: C", as a reader would paste them: a block
# with main() is a program; the others are fragments, run as the body of main()
readme_blocks() {
    [ "$have_pkgconfig" = 1 ] || return 1
    local dir="$OUT/readme" n=0 f flags
    rm -rf "$dir" && mkdir -p "$dir"
    awk -v dir="$dir" '
        /^## Quick start: C/ { inside = 1; next }
        /^## / { inside = 0 }
        inside && /^```c$/ { n++; file = sprintf("%s/block%d.c", dir, n); incode = 1; next }
        incode && /^```$/ { incode = 0; close(file); next }
        incode { print > file }
    ' "$ROOT/README.md"
    flags="$(pkg-config --cflags --libs pyheapnative)" || return 1
    for f in "$dir"/block*.c; do
        [ -e "$f" ] || { echo "no C block found in README.md"; return 1; }
        n=$((n + 1))
        if ! grep -q 'int main' "$f"; then
            { printf '#include <pyheapnative.h>\n#include <stddef.h>\n#include <stdio.h>\nint main(void) {\n'
              cat "$f"; printf 'return 0;\n}\n'; } >"$f.main.c"
            mv "$f.main.c" "$f"
        fi
        # shellcheck disable=SC2086
        "$CC" -std=c11 -O2 -Wall -Wextra -Wno-unused-variable -o "${f%.c}" "$f" $flags -Wl,-rpath,"$PREFIX/lib" \
            || { echo "README block $(basename "$f") does not build:"; cat -n "$f"; return 1; }
        timeout -k 5 60 "${f%.c}" >"${f%.c}.out" 2>&1 || { cat "${f%.c}.out"; echo "README block $(basename "$f") failed"; return 1; }
        echo "$(basename "$f"): ok ($(wc -l <"${f%.c}.out") lines of output)"
    done
    [ "$n" -ge 3 ] || { echo "expected at least 3 C blocks in the quick start, found $n"; return 1; }
    # the objects block prints what phn_gc_collect(2) returned: the 2-cycle
    grep -lqx '2' "$dir"/block*.out || { echo "no README block printed the collected cycle (2)"; return 1; }
}
check "README.md's C quick start blocks build with pkg-config and run (fragments as the body of main)" readme_blocks

# ---- CMake, against a copy of the prefix somewhere else
have_cmake=1
need_cmd cmake cmake || have_cmake=0
if [ -d "$PREFIX" ]; then mkdir -p "$(dirname "$MOVED")" && cp -a "$PREFIX" "$MOVED"; fi

cmake_build() {
    [ "$have_cmake" = 1 ] || return 1
    CC="$CC" cmake -S "$HERE" -B "$OUT/cmake-build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$MOVED" || return 1
    grep -qx "PyHeapNative_DIR:PATH=$MOVED/lib/cmake/PyHeapNative" "$OUT/cmake-build/CMakeCache.txt" \
        || { echo "find_package did not use $MOVED"; return 1; }
    cmake --build "$OUT/cmake-build" --parallel 2
}
check "CMake: find_package(PyHeapNative 0.1 REQUIRED) in a moved copy of PREFIX, configures and builds" cmake_build
check "CMake: PyHeapNative::pyheapnative loads the moved libpyheapnative.so.0 (IMPORTED_SONAME, rpath), runs" \
    run_example "$OUT/cmake-build/example_cmake" shared "$MOVED/lib"
check "CMake: PyHeapNative::pyheapnative_static (libpyheapnative.a + nativeaot/ + system libs), runs" \
    run_example "$OUT/cmake-build/example_cmake_static" static

cmake_versions() {
    [ "$have_cmake" = 1 ] || return 1
    local d="$OUT/cmake-version" ver got want
    ver="$(sed -n 's/^Version: //p' "$PREFIX/lib/pkgconfig/pyheapnative.pc")"
    mkdir -p "$d/src"
    cat >"$d/src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(phn_version_check LANGUAGES NONE)
foreach(req IN LISTS REQUESTS)
  if(req STREQUAL "none")
    find_package(PyHeapNative QUIET)
  else()
    find_package(PyHeapNative ${req} QUIET)
  endif()
  message(STATUS "phn ${req}: ${PyHeapNative_FOUND}")
endforeach()
CMAKE
    # none, X.Y.Z, X.Y, X fit; X.(Y+1) (newer, or another 0.x series) and X+1 do not; the range
    # X.Y.Z...X+1.0 fits, X+1.0...X+2.0 does not
    local major="${ver%%.*}" minor; minor="${ver#*.}"; minor="${minor%%.*}"
    local reqs="none;$ver;$major.$minor;$major;$major.$((minor + 1));$((major + 1));$ver...$((major + 1)).0;$((major + 1)).0...$((major + 2)).0"
    want="1 1 1 1 0 0 1 0"
    cmake -S "$d/src" -B "$d/build" -DCMAKE_PREFIX_PATH="$MOVED" "-DREQUESTS=$reqs" >"$d/log" 2>&1 \
        || { cat "$d/log"; return 1; }
    got="$(sed -n 's/^-- phn .*: //p' "$d/log" | sed -e 's/^TRUE$/1/' -e 's/^FALSE$/0/' | tr '\n' ' ' | sed 's/ $//')"
    echo "requests: $reqs"
    echo "found:    $got (want $want)"
    [ "$got" = "$want" ]
}
check "CMake: PyHeapNativeConfigVersion.cmake accepts the installed version and refuses other majors/minors" cmake_versions

echo "$ok passed, $bad failed"
[ "$bad" = 0 ]
