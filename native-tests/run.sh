#!/usr/bin/env bash
# native-tests/run.sh OUTDIR - build and run the C tests against artifacts/lib.
#
#  1. header checks: <pyheapnative.h> as C99 (-pedantic), C11 (_Static_assert layout) and
#     C++11 (static_assert layout, linked and run); one "N passed, N failed" line;
#  2. every native-tests/test_*.c, compiled against libpyheapnative.so and run (timeout);
#  3. test_domains.c again, linked statically against libpyheapnative.a with the
#     Libs.private of pyheapnative.pc (pkg-config --static), and run.
#  4. consumers/run.sh: ./build.sh install into a temporary prefix, then consumers/example.c
#     built against it with pkg-config, pkg-config --static, CMake find_package (shared and
#     static targets), and run; its own "N passed, N failed" line.
# Every binary prints its own "N passed, N failed" line; a binary that does not build,
# crashes or times out gets a "0 passed, 1 failed" line of its own so that build.sh's
# totals count it. Exit status: 0 only if everything built and passed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
LIB="$ROOT/artifacts/lib"
OUT="${1:?usage: native-tests/run.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

CC="${CC:-gcc}"
CXX="${CXX:-g++}"
TEST_TIMEOUT="${PHN_TEST_TIMEOUT:-300}"
CFLAGS=(-std=c11 -O2 -g -Wall -Wextra -Werror -I"$ROOT/include" -D_GNU_SOURCE)
LDSHARED=(-L"$LIB" -Wl,-rpath,"$LIB" -lpyheapnative -lpthread)

# The tests must see the default configuration; the ones that need a variable set it in a
# child process of their own.
unset PYHEAPNATIVE_ALLOCATOR PYHEAPNATIVE_MALLOCSTATS PYHEAPNATIVE_TRACEMALLOC PYHEAPNATIVE_PYMALLOC_HUGEPAGES

rc=0
failures=()

if [ ! -f "$LIB/libpyheapnative.so" ]; then
    echo "run.sh: $LIB/libpyheapnative.so not found (run ./build.sh build first)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# run_one NAME BINARY: run a test binary, echo its output, judge its result
run_one() {
    local name="$1" bin="$2" log="$OUT/$1.log" st summary passed failed
    echo
    echo "=== $name"
    timeout -k 10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1
    st=$?
    cat "$log"
    [ -s "$log" ] && [ -n "$(tail -c 1 "$log")" ] && echo  # the dots leave the last line open
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$summary" ]; then
        echo "run.sh: $name printed no summary (exit status $st$([ $st = 124 ] && echo ', timed out'))"
        echo "0 passed, 1 failed"
        failures+=("$name (no summary, status $st)")
        rc=1
        return
    fi
    passed=${summary%% *}
    failed=$(echo "$summary" | awk '{print $3}')
    if [ "$failed" != 0 ]; then
        failures+=("$name ($failed failed)")
        rc=1
    fi
    if [ "$st" != 0 ] && [ "$failed" = 0 ]; then
        echo "run.sh: $name reported no failure but exited with status $st"
        echo "0 passed, 1 failed"
        failures+=("$name (status $st)")
        rc=1
    fi
    : "$passed"
}

build_failed() {  # build_failed NAME
    echo "run.sh: $1 failed to build"
    echo "0 passed, 1 failed"
    failures+=("$1 (build)")
    rc=1
}

# ------------------------------------------------------------------ 1. header checks
echo "=== header: C99 / C11 / C++11"
h_ok=0
h_bad=0
hcheck() {  # hcheck DESCRIPTION command...
    local what="$1"; shift
    if "$@" >"$OUT/header.tmp" 2>&1; then
        h_ok=$((h_ok + 1)); echo "  ok:     $what"
    else
        h_bad=$((h_bad + 1)); echo "  FAILED: $what"; sed 's/^/    /' "$OUT/header.tmp"
    fi
}
hcheck "C99: gcc -std=c99 -pedantic -Wall -Wextra -Werror (layout asserts), links" \
    "$CC" -std=c99 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -I"$ROOT/include" \
    -o "$OUT/header_c99" "$HERE/header/header_c99.c" "${LDSHARED[@]}"
hcheck "C99 program runs" "$OUT/header_c99"
hcheck "C11: gcc -std=c11 -pedantic, _Static_assert of phn_allocator 40, phn_arena_allocator 24, phn_stats offsets" \
    "$CC" -std=c11 -pedantic -Wall -Wextra -Werror -I"$ROOT/include" -c -o "$OUT/header_c11.o" "$HERE/header/header_c11.c"
hcheck "C++11: g++ -std=c++11 -pedantic -Wall -Wextra -Werror (static_assert layout), links (extern \"C\")" \
    "$CXX" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$ROOT/include" \
    -o "$OUT/header_cxx" "$HERE/header/header_cxx.cpp" "${LDSHARED[@]}"
hcheck "C++ program runs" "$OUT/header_cxx"
hcheck "C++17: g++ -std=c++17 -pedantic -Wall -Wextra -Werror" \
    "$CXX" -std=c++17 -pedantic -Wall -Wextra -Werror -I"$ROOT/include" -fsyntax-only "$HERE/header/header_cxx.cpp"
echo "$h_ok passed, $h_bad failed"
if [ "$h_bad" != 0 ]; then failures+=("header ($h_bad failed)"); rc=1; fi

# ------------------------------------------------------------------ 2. the tests
for src in "$HERE"/test_*.c; do
    name="$(basename "$src" .c)"
    if ! "$CC" "${CFLAGS[@]}" -o "$OUT/$name" "$src" "${LDSHARED[@]}" 2>"$OUT/$name.build.log"; then
        cat "$OUT/$name.build.log"
        build_failed "$name"
        continue
    fi
    run_one "$name" "$OUT/$name"
done

# ------------------------------------------------------------------ 3. static link
echo
echo "=== test_domains, linked statically against libpyheapnative.a"
PC="$LIB/pkgconfig/pyheapnative.pc"
static_libs=""
if [ ! -f "$LIB/libpyheapnative.a" ] || [ ! -f "$PC" ]; then
    echo "run.sh: $LIB/libpyheapnative.a or $PC missing"
    build_failed "test_domains_static"
else
    if command -v pkg-config >/dev/null 2>&1; then
        static_libs="$(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --static --libs pyheapnative)"
    else  # expand Libs and Libs.private by hand
        libdir="$(sed -n 's/^libdir=//p' "$PC")"
        static_libs="$(sed -n -e 's/^Libs: //p' -e 's/^Libs.private: //p' "$PC" | tr '\n' ' ' | sed "s|\${libdir}|$libdir|g")"
    fi
    # -lpyheapnative would pick the .so that sits next to the .a: name the archive instead
    static_libs="$(echo " $static_libs " | sed "s| -lpyheapnative | $LIB/libpyheapnative.a |")"
    echo "link line: $static_libs"
    # shellcheck disable=SC2086
    if "$CC" "${CFLAGS[@]}" -o "$OUT/test_domains_static" "$HERE/test_domains.c" $static_libs \
            2>"$OUT/test_domains_static.build.log"; then
        if ldd "$OUT/test_domains_static" 2>/dev/null | grep -q libpyheapnative; then
            echo "run.sh: test_domains_static still depends on libpyheapnative.so"
            build_failed "test_domains_static"
        else
            run_one "test_domains_static" "$OUT/test_domains_static"
        fi
    else
        tail -n 40 "$OUT/test_domains_static.build.log"
        build_failed "test_domains_static"
    fi
fi

# ------------------------------------------------------------------ 4. C consumers
echo
if ! "$HERE/consumers/run.sh" "$OUT/consumers"; then
    failures+=("consumers")
    rc=1
fi

echo
if [ "$rc" = 0 ]; then
    echo "native tests: all passed"
else
    echo "native tests: FAILED: ${failures[*]}"
fi
exit "$rc"
