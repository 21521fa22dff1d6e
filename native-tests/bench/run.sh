#!/usr/bin/env bash
# native-tests/bench/run.sh [OUTDIR] - the comparative allocator benchmark (issue #5).
#
#  1. installs libmimalloc-dev, libjemalloc-dev and libpython3.11-dev with apt-get when
#     missing (as root; otherwise says what to install and stops);
#  2. publishes the empty Native AOT export (empty-export/) into OUTDIR/empty-export, as a
#     shared library and as a static one;
#  3. compiles bench.c once per allocator with its shim (gcc -O2):
#       phn-shared  shim_phn.c against artifacts/lib/libpyheapnative.so
#       phn-static  shim_phn.c against artifacts/lib/libpyheapnative.a (+ Libs.private)
#       glibc       the C library's malloc
#       pymalloc    PyObject_Malloc of Debian's libpython3.11 after Py_Initialize
#       mimalloc    mi_malloc (-lmimalloc)        jemalloc   malloc of -ljemalloc
#       empty-export  an export that returns a fixed block: the call transition alone
#       empty-static  the same export linked statically (the floor under phn-static)
#       phn-debug     phn-shared's code with PYHEAPNATIVE_ALLOCATOR=pymalloc_debug (CPython's
#                     debug hooks)
#       phn-trace     phn-shared's code with PYHEAPNATIVE_TRACEMALLOC=1 (tracemalloc, 1 frame)
#       pymalloc-debug  pymalloc's code with PYTHONMALLOC=pymalloc_debug, and
#       pymalloc-trace  with PYTHONTRACEMALLOC=1: what the same tools cost in CPython itself
#     (the four hook variants run only the workloads pair, burst, churn and realloc: see
#     runs_workload; the tables compare each with the same allocator without the hooks)
#     and, for the collector workloads (gc-*), gcbench.c once per collector with its shim:
#       cpython       lists (PyList_New / PyList_Append) and PyGC_Collect of libpython3.11
#       phn-layout    a node type described by its reference layout (ITEMS_ARE_REFS), .so
#       phn-callback  the same node type described by traverse/clear/dealloc callbacks, .so
#       phn-layout-static, phn-callback-static  the same against libpyheapnative.a (optional)
#  4. runs the workloads interleaved: for each round, for each workload, every allocator
#     (collector) that runs it once, in an order that rotates from round to round; one
#     process per measurement;
#  5. writes OUTDIR/results.tsv (every measurement), OUTDIR/results.json (summary),
#     OUTDIR/tables.md (medians, min, max, ratios, targets, machine) and the charts
#     OUTDIR/benchmarks-ratios.svg (allocators) and OUTDIR/benchmarks-gc-ratios.svg
#     (collector), copied to docs/ after a full run (BENCH_QUICK, BENCH_ALLOCATORS,
#     BENCH_WORKLOADS and BENCH_COLLECTORS unset) without failures.
#
# The library must already be built (./build.sh build); the binaries use a copy of it taken
# at the start (OUTDIR/lib), so rebuilding artifacts/lib during a run does not disturb it.
# OUTDIR defaults to artifacts/bench.
# Environment:
#   BENCH_QUICK=1        smaller workloads and 2 rounds: a smoke run of under a minute
#                        (collector: the 100k graphs only)
#   BENCH_ROUNDS=N       rounds (default 7; 2 with BENCH_QUICK)
#   BENCH_GC_ROUNDS=N    rounds of the collector workloads (default: BENCH_ROUNDS, at most 5, so
#                        that the collector part stays under 4 minutes on 2 cores)
#   BENCH_WORKLOADS="…"  subset of: pair batch burst churn realloc large threads rss32 rss100
#                        gc (= every collector workload: gc-{pairs,ring,random}-100k, and
#                        -1m unless BENCH_QUICK), or single ones such as gc-ring-1m;
#                        default: all of them
#   BENCH_ALLOCATORS="…" subset of the allocators above (default: all of them; the hook
#                        variants phn-debug phn-trace pymalloc-debug pymalloc-trace skip every
#                        workload but pair burst churn realloc, whichever list is given)
#   BENCH_COLLECTORS="…" subset of cpython phn-layout phn-callback (default: these three)
#                        phn-layout-static phn-callback-static
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="$ROOT/artifacts/lib"
OUT="${1:-$ROOT/artifacts/bench}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
BIN="$OUT/bin"
mkdir -p "$BIN"

QUICK="${BENCH_QUICK:-0}"
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then ROUNDS="${BENCH_ROUNDS:-2}"; else ROUNDS="${BENCH_ROUNDS:-7}"; fi
GC_ROUNDS="${BENCH_GC_ROUNDS:-$((ROUNDS < 5 ? ROUNDS : 5))}"
[ "$GC_ROUNDS" -le "$ROUNDS" ] || GC_ROUNDS="$ROUNDS"
# The lists are split on blanks on purpose.
# shellcheck disable=SC2206
ALLOCATORS=(${BENCH_ALLOCATORS:-phn-shared phn-static glibc pymalloc mimalloc jemalloc empty-export empty-static
                               phn-debug phn-trace pymalloc-debug pymalloc-trace})
# shellcheck disable=SC2206
COLLECTORS=(${BENCH_COLLECTORS:-cpython phn-layout phn-callback})
# The workloads: "gc" stands for every collector workload of the mode.
GC_ALL=(gc-pairs-100k gc-ring-100k gc-random-100k)
[ -n "$QUICK" ] || GC_ALL+=(gc-pairs-1m gc-ring-1m gc-random-1m)
WORKLOADS=()
ALLOC_WORKLOADS=()
GC_WORKLOADS=()
for w in ${BENCH_WORKLOADS:-pair batch burst churn realloc large threads rss32 rss100 gc}; do
    case "$w" in
        gc) WORKLOADS+=("${GC_ALL[@]}"); GC_WORKLOADS+=("${GC_ALL[@]}") ;;
        gc-*) WORKLOADS+=("$w"); GC_WORKLOADS+=("$w") ;;
        *) WORKLOADS+=("$w"); ALLOC_WORKLOADS+=("$w") ;;
    esac
done
is_gc() { case "$1" in gc-*) return 0 ;; *) return 1 ;; esac; }
# The debug-hook and tracemalloc variants are measured on these workloads only (their cost
# against the same allocator without them); the others would add minutes and no target.
HOOK_WORKLOADS="pair burst churn realloc"
runs_workload() {  # runs_workload ALLOCATOR WORKLOAD: is ALLOCATOR measured on WORKLOAD?
    case "$1" in
        phn-debug|phn-trace|pymalloc-debug|pymalloc-trace)
            case " $HOOK_WORKLOADS " in *" $2 "*) return 0 ;; *) return 1 ;; esac ;;
        *) return 0 ;;
    esac
}
CC="${CC:-gcc}"
CFLAGS=(-std=gnu11 -O2 -g -Wall -Wextra -Werror)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Every allocator in its default configuration.
unset PYHEAPNATIVE_ALLOCATOR PYHEAPNATIVE_MALLOCSTATS PYHEAPNATIVE_TRACEMALLOC PYHEAPNATIVE_PYMALLOC_HUGEPAGES \
      PYTHONMALLOC PYTHONMALLOCSTATS PYTHONHOME PYTHONPATH MIMALLOC_VERBOSE MALLOC_CONF LD_PRELOAD || true

log() { printf '==> %s\n' "$*" >&2; }
T_START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

if [ ! -f "$LIB/libpyheapnative.so" ] || [ ! -f "$LIB/libpyheapnative.a" ]; then
    echo "bench: $LIB/libpyheapnative.{so,a} not found (run ./build.sh build first)" >&2
    exit 1
fi

# A snapshot of the built library in OUTDIR/lib: the binaries link against it (rpath), so a
# rebuild of artifacts/lib during the run cannot change or break what is measured. Taken
# when no file of artifacts/lib has changed for 10 s (a build in progress is waited for).
snapshot_lib() {
    local snap="$OUT/lib" stamp="" tries=0
    while :; do
        stamp="$(find -L "$LIB" -type f -newermt '-10 seconds' 2>/dev/null | head -n 1)"
        if [ -z "$stamp" ] && ! pgrep -f "dotnet publish .*PyHeapNative.csproj" >/dev/null 2>&1; then
            rm -rf "$snap" && mkdir -p "$snap"
            cp -rLp "$LIB/libpyheapnative.so.0" "$LIB/libpyheapnative.a" "$LIB/nativeaot" "$LIB/pkgconfig" "$snap/"
            ln -sf libpyheapnative.so.0 "$snap/libpyheapnative.so"
            sed -i "s|^libdir=.*|libdir=$snap|" "$snap/pkgconfig/pyheapnative.pc"
            if cmp -s "$LIB/libpyheapnative.so.0" "$snap/libpyheapnative.so.0" \
               && cmp -s "$LIB/libpyheapnative.a" "$snap/libpyheapnative.a"; then
                break
            fi
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 60 ] || { echo "bench: artifacts/lib keeps changing; giving up" >&2; exit 1; }
        [ "$tries" = 1 ] && log "waiting for a build of artifacts/lib to finish"
        sleep 5
    done
    LIB="$snap"
}
snapshot_lib

# ------------------------------------------------------------------ 1. packages
missing=()
for pkg in libmimalloc-dev libjemalloc-dev libpython3.11-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: missing Debian packages: ${missing[*]} (apt-get install them as root)" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's libpython3.11, not whatever python3.11-config comes first in PATH (pyenv ...).
PYCONFIG=/usr/bin/python3.11-config
[ -x "$PYCONFIG" ] || { echo "bench: $PYCONFIG not found (libpython3.11-dev)" >&2; exit 1; }

# ------------------------------------------------------------------ 2. empty export
for kind in Shared Static; do
    [ ${#ALLOC_WORKLOADS[@]} -gt 0 ] || break
    [ "$kind" = Shared ] && name=empty-export || name=empty-static
    case " ${ALLOCATORS[*]} " in *" $name "*) ;; *) continue ;; esac
    dir="$OUT/$name"
    log "publishing the empty Native AOT export ($kind)"
    dotnet publish "$HERE/empty-export/EmptyExport.csproj" -c Release -r linux-x64 \
        -p:PublishAot=true -p:NativeLib="$kind" --artifacts-path "$OUT/empty-export-build/$kind" \
        -o "$dir" -nologo -v quiet >"$OUT/empty-export.log" 2>&1 \
        || { cat "$OUT/empty-export.log" >&2; echo "bench: empty export ($kind) failed to build" >&2; exit 1; }
done

# ------------------------------------------------------------------ 3. binaries
log "compiling the benchmark binaries"
PHN_INC=(-I"$ROOT/include")
# The static library: pkg-config --static gives Libs + Libs.private; -lpyheapnative is
# replaced by the .a itself so that the linker cannot pick the .so.
static_libs="$(PKG_CONFIG_PATH="$LIB/pkgconfig" pkg-config --static --libs pyheapnative)"
static_libs="${static_libs//-lpyheapnative/$LIB/libpyheapnative.a}"

compile() {  # compile NAME SHIM [extra gcc arguments]
    local name="$1" shim="$2"; shift 2
    "$CC" "${CFLAGS[@]}" -o "$BIN/bench-$name" "$HERE/bench.c" "$HERE/$shim" "$@" -lpthread
}
for a in "${ALLOCATORS[@]}"; do
    [ ${#ALLOC_WORKLOADS[@]} -gt 0 ] || break
    # $static_libs and $(python3.11-config …) are lists of arguments: split on purpose
    # shellcheck disable=SC2046,SC2086
    case "$a" in
        phn-shared) compile "$a" shim_phn.c -DPHN_BENCH_NAME='"phn-shared"' -I"$ROOT/include" \
                        -L"$LIB" -Wl,-rpath,"$LIB" -lpyheapnative ;;
        phn-static) compile "$a" shim_phn.c -DPHN_BENCH_NAME='"phn-static"' -I"$ROOT/include" $static_libs ;;
        # the shared library with CPython's debug hooks, or tracemalloc with 1 frame (env_of)
        phn-debug|phn-trace) compile "$a" shim_phn.c -DPHN_BENCH_NAME="\"$a\"" -I"$ROOT/include" \
                        -L"$LIB" -Wl,-rpath,"$LIB" -lpyheapnative ;;
        glibc) compile "$a" shim_glibc.c ;;
        pymalloc) compile "$a" shim_pymalloc.c $("$PYCONFIG" --includes) $("$PYCONFIG" --embed --ldflags) ;;
        # CPython's own debug hooks (PYTHONMALLOC=pymalloc_debug) and tracemalloc with 1 frame
        # (PYTHONTRACEMALLOC=1): what the same tools cost in CPython (env_of)
        pymalloc-debug|pymalloc-trace) compile "$a" shim_pymalloc.c -DPYMALLOC_BENCH_NAME="\"$a\"" \
                        $("$PYCONFIG" --includes) $("$PYCONFIG" --embed --ldflags) ;;
        mimalloc) compile "$a" shim_mimalloc.c -lmimalloc ;;
        jemalloc) compile "$a" shim_jemalloc.c -ljemalloc ;;
        empty-export) compile "$a" shim_empty.c -L"$OUT/empty-export" -Wl,-rpath,"$OUT/empty-export" -lemptyexport ;;
        empty-static) compile "$a" shim_empty.c -DEMPTY_NAME='"empty-static"' \
                          ${static_libs//$LIB\/libpyheapnative.a/$OUT/empty-static/libemptyexport.a} ;;
        *) echo "bench: unknown allocator '$a'" >&2; exit 2 ;;
    esac
done
# The collector binaries (gcbench.c + gcshim_<collector>.c).
gc_compile() {  # gc_compile NAME SHIM [extra gcc arguments]
    local name="$1" shim="$2"; shift 2
    "$CC" "${CFLAGS[@]}" -o "$BIN/gcbench-$name" "$HERE/gcbench.c" "$HERE/$shim" "$@"
}
for c in "${COLLECTORS[@]}"; do
    [ ${#GC_WORKLOADS[@]} -gt 0 ] || break
    # The library must have the objects/GC exports (grep without -q: it reads everything, so
    # that nm gets no SIGPIPE under pipefail).
    case "$c" in
        *-static) lib_file=libpyheapnative.a; nm_args=() ;;
        phn-*) lib_file=libpyheapnative.so.0; nm_args=(-D) ;;
        *) lib_file="" ;;
    esac
    if [ -n "$lib_file" ] && ! nm "${nm_args[@]}" "$LIB/$lib_file" 2>/dev/null | grep -E ' T phn_gc_collect(@|$)' >/dev/null; then
        echo "bench: artifacts/lib/$lib_file has no phn_gc_collect (the objects/GC part is not built" \
             "into it); leave $c out of BENCH_COLLECTORS, or rebuild the library" >&2
        exit 1
    fi
    case "$c" in
        cpython)
            # shellcheck disable=SC2046
            gc_compile "$c" gcshim_cpython.c $("$PYCONFIG" --includes) $("$PYCONFIG" --embed --ldflags) ;;
        phn-layout|phn-callback)
            defs=(-DGCB_NAME="\"$c\"")
            [ "$c" = phn-callback ] && defs+=(-DGCB_CALLBACKS=1)
            gc_compile "$c" gcshim_phn.c "${defs[@]}" "${PHN_INC[@]}" -L"$LIB" -Wl,-rpath,"$LIB" -lpyheapnative ;;
        phn-layout-static|phn-callback-static)
            defs=(-DGCB_NAME="\"$c\"")
            [ "$c" = phn-callback-static ] && defs+=(-DGCB_CALLBACKS=1)
            # shellcheck disable=SC2086
            gc_compile "$c" gcshim_phn.c "${defs[@]}" "${PHN_INC[@]}" $static_libs -lpthread ;;
        *) echo "bench: unknown collector '$c'" >&2; exit 2 ;;
    esac
done
for a in phn-static empty-static gcbench-phn-layout-static gcbench-phn-callback-static; do
    f="$BIN/bench-$a"
    case "$a" in gcbench-*) f="$BIN/$a" ;; esac
    if [ -x "$f" ] && ldd "$f" 2>/dev/null | grep -qE 'libpyheapnative|libemptyexport'; then
        echo "bench: $(basename "$f") is linked against a shared library" >&2; exit 1
    fi
done

# ------------------------------------------------------------------ 4. runs
env_of() {  # the environment an allocator's binary runs with
    case "$1" in
        phn-debug) echo "PYHEAPNATIVE_ALLOCATOR=pymalloc_debug" ;;
        phn-trace) echo "PYHEAPNATIVE_TRACEMALLOC=1" ;;
        pymalloc-debug) echo "PYTHONMALLOC=pymalloc_debug" ;;
        pymalloc-trace) echo "PYTHONTRACEMALLOC=1" ;;
        *) echo "PHN_BENCH_PLAIN=1" ;;
    esac
}
RESULTS="$OUT/results.tsv"
printf 'round\tallocator\tworkload\trepetition\tmetric\tvalue\n' >"$RESULTS"
log "running ${#ALLOC_WORKLOADS[@]} allocator workloads x ${#ALLOCATORS[@]} allocators (hook variants:" \
    "$HOOK_WORKLOADS only) and" \
    "${#GC_WORKLOADS[@]} collector workloads x ${#COLLECTORS[@]} collectors, $ROUNDS rounds" \
    "(collector: $GC_ROUNDS)${QUICK:+ (BENCH_QUICK)}"
failed=0
for ((round = 0; round < ROUNDS; round++)); do
    for ((wi = 0; wi < ${#WORKLOADS[@]}; wi++)); do
        w="${WORKLOADS[$wi]}"
        if is_gc "$w"; then
            [ "$round" -lt "$GC_ROUNDS" ] || continue
            runners=("${COLLECTORS[@]}")
        else
            runners=()
            for a in "${ALLOCATORS[@]}"; do
                if runs_workload "$a" "$w"; then runners+=("$a"); fi
            done
        fi
        n_alloc=${#runners[@]}
        [ "$n_alloc" -gt 0 ] || continue
        if is_gc "$w"; then line="round $((round + 1))/$GC_ROUNDS $w:"; else line="round $((round + 1))/$ROUNDS $w:"; fi
        for ((k = 0; k < n_alloc; k++)); do
            a="${runners[$(((k + round + wi) % n_alloc))]}"
            if is_gc "$w"; then cmd=("$BIN/gcbench-$a" "$w"); else cmd=("$BIN/bench-$a" "$w" 1); fi
            t0=$(date +%s%N)
            if out=$(env "$(env_of "$a")" BENCH_QUICK="${QUICK:+1}" timeout -k 10 600 "${cmd[@]}" 2>"$OUT/last-error.log"); then
                st=0
            else
                st=$?
            fi
            if [ "$st" != 0 ]; then
                echo "bench: $a $w failed (exit status $st):" >&2; cat "$OUT/last-error.log" >&2
                failed=$((failed + 1))
                continue
            fi
            printf '%s\n' "$out" | awk -v r="$round" -F'\t' '$1 == "RESULT" {print r "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6}' >>"$RESULTS"
            line="$line $a $(( ($(date +%s%N) - t0) / 1000000 ))ms"
        done
        echo "$line" >&2
    done
done

# ------------------------------------------------------------------ 5. report
T_END=$(date +%s)
log "writing the tables"
rm -f "$OUT/benchmarks-ratios.svg" "$OUT/benchmarks-gc-ratios.svg"
python3 "$HERE/report.py" --results "$RESULTS" --out "$OUT" --root "$ROOT" \
    --rounds "$ROUNDS" --gc-rounds "$GC_ROUNDS" --seconds $((T_END - T_START)) ${QUICK:+--quick} \
    --load "$LOAD_START -> $(cut -d' ' -f1-3 /proc/loadavg)"
# Only a run of everything replaces the charts of docs/ (not a subset of allocators or workloads).
if [ -z "$QUICK" ] && [ "$failed" = 0 ] && [ -z "${BENCH_ALLOCATORS:-}" ] && [ -z "${BENCH_WORKLOADS:-}" ] \
        && [ -z "${BENCH_COLLECTORS:-}" ]; then
    for svg in benchmarks-ratios.svg benchmarks-gc-ratios.svg; do
        if [ -f "$OUT/$svg" ]; then mkdir -p "$ROOT/docs" && cp "$OUT/$svg" "$ROOT/docs/$svg"; fi
    done
fi
log "done in $((T_END - T_START)) s: $OUT/tables.md"
[ "$failed" = 0 ] || { echo "bench: $failed runs failed" >&2; exit 1; }
