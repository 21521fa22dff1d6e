#!/usr/bin/env python3
"""report.py - turn native-tests/bench results.tsv into tables, JSON and SVG charts.

    report.py --results OUT/results.tsv --out OUT --root REPO [--rounds N] [--seconds S] [--quick]

Writes OUT/results.json, OUT/tables.md, OUT/benchmarks-ratios.svg (when allocator workloads
ran) and OUT/benchmarks-gc-ratios.svg (when collector workloads, gc-*, ran). Standard library
only. Every ratio is a ratio of medians taken in the same run (the same rounds, interleaved).
"""
import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
from collections import defaultdict

# The debug-hook and tracemalloc variants (run.sh: pair, burst, churn and realloc only): each
# variant -> the same allocator without the hooks, and issue #3's limit (None: CPython's own
# cost, for reference only).
HOOKS = {"phn-debug": ("phn-shared", 2.0), "phn-trace": ("phn-shared", 3.0),
         "pymalloc-debug": ("pymalloc", None), "pymalloc-trace": ("pymalloc", None)}
HOOK_WORKLOADS = ["pair", "burst", "churn", "realloc"]
ALLOCATORS = ["phn-shared", "phn-static", "glibc", "pymalloc", "mimalloc", "jemalloc", "empty-export",
              "empty-static"] + list(HOOKS)
EMPTY_OF = {"phn-shared": "empty-export", "phn-static": "empty-static"}  # the same kind of link
PHN = ["phn-shared", "phn-static"]

# workload -> (main metric, unit, what one op is, higher is better, extra metrics)
WORKLOADS = {
    "pair": ("ns_per_op", "ns", "per malloc(32) + free (one other 32 B block live)", False, []),
    "batch": ("ns_per_op", "ns", "per block: 64 blocks of 32 B allocated in one batch and freed in one "
              "(PyHeapNative's phn_obj_malloc_many / phn_obj_free_many; one call per block elsewhere)", False, []),
    "burst": ("ns_per_op", "ns", "per block: 1M blocks of 1..512 B allocated, then freed in random order",
              False, ["alloc_ns", "free_ns"]),
    "churn": ("ns_per_op", "ns", "per step (free one + allocate one, 100k live blocks of 8..512 B)", False, []),
    "realloc": ("ns_per_op", "ns", "per realloc (8 B grown to 64 KiB in 8-byte steps)", False, []),
    "large": ("ns_per_op", "ns", "per step (free + malloc of 4 KiB..1 MiB, one byte written per page, 16 live)",
              False, []),
    "threads": ("ratio_2t_1t", "x", "throughput on 2 threads / throughput on 1 thread (churn, 50k live per thread)",
                True, ["ns_per_op_1t", "ns_per_op_2t"]),
    "rss32": ("bytes_per_block", "B", "resident bytes per live 32 B block (1M blocks)", False, []),
    "rss100": ("bytes_per_block", "B", "resident bytes per live 100 B block (1M blocks)", False, []),
}


# The collector workloads (gcbench.c): gc-<shape>-<size>, one process measures both modes.
GC_COLLECTORS = ["cpython", "phn-layout", "phn-callback", "phn-layout-static", "phn-callback-static"]
GC_BASE = "cpython"
GC_SHAPES = [("pairs", "two-element cycles"), ("ring", "one ring"),
             ("random", "random graph, 4 references per object")]
GC_SIZES = [("100k", "100k"), ("1m", "1M")]
GC_MODES = [("survive_ns", "all survive",
             "a full collection of old objects (after a first full collection), every object reachable from "
             "the root; it finds 0"),
            ("garbage_ns", "all garbage",
             "the root dropped, a full collection finds every object unreachable and frees it")]
GC_EXTRAS = [("build_ns", "building the graph"), ("first_ns", "first full collection (all objects young)")]
GC_LIMITS = {"phn-layout": 1.0, "phn-callback": 1.5, "phn-layout-static": 1.0, "phn-callback-static": 1.5}


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine_info(root, out):
    lscpu = sh("lscpu")
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), "?")
    hyper = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Hypervisor vendor")), "")
    mem = next((l.split()[1] for l in sh("free", "-h").splitlines() if l.startswith("Mem:")), "?")
    commit = sh("git", "-C", root, "rev-parse", "--short", "HEAD")
    dirty = bool(sh("git", "-C", root, "status", "--porcelain", "--untracked-files=no"))
    so = os.path.join(out, "lib", "libpyheapnative.so.0")  # the snapshot run.sh linked against
    if not os.path.exists(so):
        so = os.path.join(root, "artifacts", "lib", "libpyheapnative.so.0")
    built = ""
    if os.path.exists(so):
        built = datetime.datetime.fromtimestamp(os.path.getmtime(so), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(so, "rb") as f:
            built += ", sha256 " + hashlib.sha256(f.read()).hexdigest()[:12]
    os_name = ""
    if os.path.exists("/etc/os-release"):
        for line in open("/etc/os-release", encoding="utf-8"):
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')

    def pkg(name):
        return sh("dpkg-query", "-W", "-f=${Version}", name) or "?"

    return {
        "cpu": model + (f" ({hyper} guest)" if hyper else ""),
        "nproc": sh("nproc"),
        "memory": mem,
        "kernel": platform.release(),
        "os": os_name,
        "gcc": sh("gcc", "-dumpfullversion"),
        "dotnet": sh("dotnet", "--version"),
        "glibc": platform.libc_ver()[1],
        "libpython3.11": pkg("libpython3.11-dev"),
        "mimalloc": pkg("libmimalloc-dev"),
        "jemalloc": pkg("libjemalloc-dev"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (+ uncommitted changes in tracked files)" if dirty else "") + " (HEAD when the run ended)",
        "library_built": built,  # libpyheapnative.so.0 measured
    }


def load(path):
    data = defaultdict(list)  # (workload, metric, allocator) -> [values]
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            data[(row["workload"], row["metric"], row["allocator"])].append(float(row["value"]))
    return data


def summarise(data):
    out = {}
    for w, (metric, unit, what, higher, extras) in WORKLOADS.items():
        allocs = {}
        for a in ALLOCATORS:
            vals = data.get((w, metric, a))
            if not vals:
                continue
            entry = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals),
                     "values": vals}
            for e in extras:
                ev = data.get((w, e, a))
                if ev:
                    entry[e] = statistics.median(ev)
            allocs[a] = entry
        if not allocs:
            continue
        for a, entry in allocs.items():
            for base in ("glibc", "pymalloc"):
                if base in allocs and allocs[base]["median"] > 0:
                    entry["vs_" + base] = entry["median"] / allocs[base]["median"]
        out[w] = {"metric": metric, "unit": unit, "what": what, "higher_is_better": higher, "allocators": allocs}
    return out


def gc_workloads():
    return [(f"gc-{shape}-{size}", shape, label) for size, label in GC_SIZES for shape, _ in GC_SHAPES]


def summarise_gc(data):
    """workload -> collector -> metric -> {median, min, max, n, values[, vs_cpython]}"""
    out = {}
    for w, _, _ in gc_workloads():
        cols = {}
        for c in GC_COLLECTORS:
            metrics = {}
            for m, *_ in GC_MODES + GC_EXTRAS:
                vals = data.get((w, m, c))
                if vals:
                    metrics[m] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                                  "n": len(vals), "values": vals}
            if metrics:
                cols[c] = metrics
        if not cols:
            continue
        base = cols.get(GC_BASE, {})
        for c, metrics in cols.items():
            for m, e in metrics.items():
                if m in base and base[m]["median"] > 0:
                    e["vs_" + GC_BASE] = e["median"] / base[m]["median"]
        out[w] = cols
    return out


def gc_targets(gc):
    """Issue #5's collector targets: [(collector, limit, [(workload, mode, ratio)], worst, met)]."""
    rows = []
    for c, limit in GC_LIMITS.items():
        cells = []
        for w, shape, size in gc_workloads():
            for m, mode, _ in GC_MODES:
                r = gc.get(w, {}).get(c, {}).get(m, {}).get("vs_" + GC_BASE)
                if r is not None:
                    cells.append((w, mode, r))
        if not cells:
            continue
        worst = max(cells, key=lambda t: t[2])
        rows.append((c, limit, cells, worst, all(r <= limit for _, _, r in cells)))
    return rows


def gc_target_text(row):
    c, limit, cells, worst, ok = row
    met = sum(1 for _, _, r in cells if r <= limit)
    expected = len(GC_SHAPES) * len(GC_SIZES) * len(GC_MODES)
    partial = "" if len(cells) == expected else f" (only {len(cells)} of {expected} measured)"
    return (f"{'**met**' if ok else '**missed**'}: {met} of {len(cells)} within {limit:.2f}x{partial}; "
            f"worst {worst[2]:.2f}x ({worst[0][3:]}, {worst[1]})")


def gc_md(gc, rounds):
    L = ["## Collector: CPython 3.11's PyGC_Collect against PyHeapNative's phn_gc_collect(2)\n"]
    L.append(f"ns per object (the root not counted), medians over {rounds} rounds; × cpython = median / CPython's "
             "median in the same run; lower is better. CPython: lists (`PyList_New` + `PyList_Append`), "
             "`PyGC_Collect` after `gc.freeze()` of the interpreter's own objects. PyHeapNative: a list-like "
             "GC var type described by its reference layout (`phn-layout`: `PHN_TPFLAGS_ITEMS_ARE_REFS`) or "
             "by C callbacks (`phn-callback`: traverse / clear / dealloc). Automatic collection off; every "
             "collection's count checked.\n")
    present = [c for c in GC_COLLECTORS if any(c in cols for cols in gc.values())]
    others = [c for c in present if c != GC_BASE]
    for m, mode, what in GC_MODES:
        L.append(f"### {mode} — {what}; ns per object\n")
        head = ["shape", "objects"] + ([GC_BASE] if GC_BASE in present else [])
        for c in others:
            head += [c, "× " + GC_BASE]
        L.append("| " + " | ".join(head) + " |")
        L.append("|---|---|" + "---:|" * (len(head) - 2))
        for w, shape, size in gc_workloads():
            cols = gc.get(w)
            if not cols:
                continue
            desc = dict(GC_SHAPES)[shape]
            row = [desc, size]
            if GC_BASE in present:
                row.append(fmt(cols.get(GC_BASE, {}).get(m, {}).get("median")))
            for c in others:
                e = cols.get(c, {}).get(m, {})
                row += [fmt(e.get("median")), ratio(e.get("vs_" + GC_BASE))]
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    rows = gc_targets(gc)
    L.append("### Issue #5 targets (collector part)\n")
    L.append("Every shape at 100k and 1M objects, all survive and all garbage: layout-described types at most "
             "CPython's ns per object, callback-described types at most 1.5x.\n")
    L.append("| collector | target | result |\n|---|---|---|")
    for row in rows:
        L.append(f"| {row[0]} | ≤ {row[1]:.2f}x {GC_BASE} | {gc_target_text(row)} |")
    if not rows:
        L.append(f"| — | — | not measured (no PyHeapNative collector or no {GC_BASE} in this run) |")
    L.append("")
    L.append("### Details — median, min, max over the rounds (ns per object); build and first collection are "
             "not targets\n")
    L.append("| workload | collector | n | survive | min | max | garbage | min | max | build | first collection |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w, _, _ in gc_workloads():
        for c in present:
            e = gc.get(w, {}).get(c)
            if not e:
                continue
            s_, g_ = e.get("survive_ns", {}), e.get("garbage_ns", {})
            n = max(s_.get("n", 0), g_.get("n", 0))
            L.append(f"| {w} | {c} | {n} | {fmt(s_.get('median'))} | {fmt(s_.get('min'))} | {fmt(s_.get('max'))} | "
                     f"{fmt(g_.get('median'))} | {fmt(g_.get('min'))} | {fmt(g_.get('max'))} | "
                     f"{fmt(e.get('build_ns', {}).get('median'))} | {fmt(e.get('first_ns', {}).get('median'))} |")
    L.append("")
    return "\n".join(L)


def fmt(v, unit=""):
    if v is None:
        return "—"
    if unit == "x":
        return f"{v:.2f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(v):
    return "—" if v is None else f"{v:.2f}x"


def med(summary, w, a, key="median"):
    try:
        return summary[w]["allocators"][a][key]
    except KeyError:
        return None


def targets(summary):
    """Issue #5's allocator targets: (target, how it is computed, [(variant, measured text, met)])."""
    rows = []

    def each(fn):
        res = []
        for a in PHN:
            r = fn(a)
            if r is not None:
                res.append((a,) + r)
        return res

    def le_ratio(w, base, limit):
        def fn(a):
            m, b = med(summary, w, a), med(summary, w, base)
            if m is None or b is None:
                return None
            r = m / b
            return (f"{r:.3f}x ({fmt(m)} vs {fmt(b)} {summary[w]['unit']})", r <= limit, r / limit)
        return fn

    rows.append(("churn ≤ 1.15x pymalloc", each(le_ratio("churn", "pymalloc", 1.15))))
    rows.append(("churn ≤ 0.6x glibc", each(le_ratio("churn", "glibc", 0.6))))

    def pair_fn(a):
        m, e = med(summary, "pair", a), med(summary, "pair", EMPTY_OF[a])
        if m is None or e is None:
            return None
        d = m - e
        return (f"{fmt(m)} ns = {EMPTY_OF[a]} {fmt(e)} + {d:.1f} ns", d <= 3.0, None)
    rows.append(("pair ≤ empty export pair + 3 ns (shared vs empty-export, static vs empty-static)", each(pair_fn)))
    rows.append(("burst ≤ glibc", each(le_ratio("burst", "glibc", 1.0))))

    def thr(a):
        m = med(summary, "threads", a)
        if m is None:
            return None
        return (f"{m:.2f}x", m >= 1.6, None)
    rows.append(("threads: 2-thread throughput ≥ 1.6x 1-thread", each(thr)))
    rows.append(("RSS per live 32 B block ≤ 1.05x pymalloc", each(le_ratio("rss32", "pymalloc", 1.05))))

    def hook_fn(variant):  # the hooks are measured on the shared library only
        base, limit = HOOKS[variant]

        def fn(a):
            if a != base:
                return None
            cells = [(w, hook_ratio(summary, w, variant, base)) for w in HOOK_WORKLOADS]
            cells = [(w, r) for w, r in cells if r is not None]
            if not cells:
                return None
            worst = max(cells, key=lambda t: t[1])
            partial = "" if len(cells) == len(HOOK_WORKLOADS) else \
                f"; only {len(cells)} of {len(HOOK_WORKLOADS)} workloads measured"
            text = (", ".join(f"{r:.2f}x {w}" for w, r in cells)
                    + f" (worst {worst[0]}: {met_text(worst[1], limit)}{partial})")
            return (text, worst[1] <= limit, worst[1] / limit)
        return fn
    rows.append(("debug hooks ≤ 2.0x release time (issue #3; phn-debug / phn-shared on pair, burst, churn, "
                 "realloc)", each(hook_fn("phn-debug"))))
    rows.append(("tracemalloc with 1 frame ≤ 3x untraced (issue #3; phn-trace / phn-shared on pair, burst, churn, "
                 "realloc)", each(hook_fn("phn-trace"))))
    return rows


def hook_ratio(summary, w, a, b):
    """median(a) / median(b) on workload w in the same run, or None when either is missing."""
    m, d = med(summary, w, a), med(summary, w, b)
    if m is None or d is None or d <= 0:
        return None
    return m / d


def met_text(r, limit):
    return "met" if r <= limit else f"missed by {(r / limit - 1) * 100:.0f} %"


HOOK_RATIOS = [(v, base) for v, (base, _) in HOOKS.items()] + [("phn-debug", "pymalloc-debug"),
                                                               ("phn-trace", "pymalloc-trace")]


def hooks_summary(summary):
    """Debug hooks and tracemalloc against the same allocator without them (results.json "hooks"):
    per workload the medians, the ratios of medians ("a/b"; None when not measured) and, for the
    ratios with a target, whether it is met."""
    limits = {f"{v}/{base}": limit for v, (base, limit) in HOOKS.items() if limit is not None}
    out = {"limits": limits, "workloads": {}}
    for w in HOOK_WORKLOADS:
        names = ["phn-shared", "pymalloc"] + list(HOOKS)
        ratios = {f"{a}/{b}": hook_ratio(summary, w, a, b) for a, b in HOOK_RATIOS}
        out["workloads"][w] = {
            "unit": WORKLOADS[w][1],
            "medians": {a: med(summary, w, a) for a in names},
            "ratios": ratios,
            "met": {k: None if ratios[k] is None else ratios[k] <= limit for k, limit in limits.items()},
        }
    return out


def hooks_md(summary):
    h = hooks_summary(summary)
    nm = "not measured"
    L = ["## Debug hooks and tracemalloc: cost against the same allocator without them\n"]
    L.append("ns per op, medians of the same run; every ratio is a ratio of those medians. `phn-debug`: the "
             "shared library with `PYHEAPNATIVE_ALLOCATOR=pymalloc_debug` (CPython's debug hooks); `phn-trace`: "
             "with `PYHEAPNATIVE_TRACEMALLOC=1` (tracemalloc, 1 frame). Issue #3's targets: debug hooks ≤ 2x "
             "release, tracing with one frame ≤ 3x untraced. For reference, CPython's own cost of the same tools "
             "(`PYTHONMALLOC=pymalloc_debug`, `PYTHONTRACEMALLOC=1` against plain pymalloc; no target), and "
             "PyHeapNative's hooked paths against CPython's hooked paths.\n")
    head = ["workload", "phn-shared", "phn-debug", "phn-trace", "phn-debug ÷ phn-shared (≤ 2x)",
            "phn-trace ÷ phn-shared (≤ 3x)", "CPython's own cost: pymalloc-debug ÷ pymalloc",
            "CPython's own cost: pymalloc-trace ÷ pymalloc", "phn-debug ÷ pymalloc-debug",
            "phn-trace ÷ pymalloc-trace"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * (len(head) - 1))
    for w in HOOK_WORKLOADS:
        e = h["workloads"][w]
        row = [w] + [nm if e["medians"][a] is None else fmt(e["medians"][a])
                     for a in ("phn-shared", "phn-debug", "phn-trace")]
        for key in ("phn-debug/phn-shared", "phn-trace/phn-shared"):
            r = e["ratios"][key]
            row.append(nm if r is None else f"{r:.2f}x — {met_text(r, h['limits'][key])}")
        for key in ("pymalloc-debug/pymalloc", "pymalloc-trace/pymalloc", "phn-debug/pymalloc-debug",
                    "phn-trace/pymalloc-trace"):
            r = e["ratios"][key]
            row.append(nm if r is None else f"{r:.2f}x")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    return "\n".join(L)


def tables_md(summary, meta, rounds, seconds, quick, gc=None):
    L = []
    L.append("## Machine and run\n")
    L.append("| | |\n|---|---|")
    for k in ("cpu", "nproc", "memory", "os", "kernel", "glibc", "gcc", "dotnet", "libpython3.11", "mimalloc",
              "jemalloc", "date", "commit", "library_built"):
        L.append(f"| {k.replace('_', ' ')} | {meta.get(k, '')} |")
    gc_rounds = meta.get("gc_rounds") or rounds
    L.append(f"| rounds | {rounds}{f' (collector workloads: {gc_rounds})' if gc and gc_rounds != rounds else ''} "
             f"(every allocator or collector once per workload per round, order rotating; the debug-hook "
             f"and tracemalloc variants on {', '.join(HOOK_WORKLOADS)} only; "
             f"one process per measurement){' — BENCH_QUICK smoke run, smaller workloads' if quick else ''} |")
    if seconds:
        L.append(f"| run time | {seconds} s for the whole script (install check, builds, runs) |")
    if meta.get("load"):
        L.append(f"| load average (1, 5, 15 min) | {meta['load']} (start -> end; the machine is shared) |")
    L.append("")
    gc_part = gc_md(gc, meta.get("gc_rounds") or rounds) if gc else ""
    if not summary:
        return "\n".join(L) + "\n" + gc_part

    present = [a for a in ALLOCATORS if any(a in s["allocators"] for s in summary.values())]
    L.append("## Summary: median ratios against pymalloc (same run)\n")
    L.append("Lower is better, except `threads` (2-thread / 1-thread throughput, absolute, not a ratio to "
             "pymalloc; higher is better).\n")
    ws = list(summary)
    L.append("| allocator | " + " | ".join(ws) + " |")
    L.append("|---|" + "---|" * len(ws))
    for a in present:
        cells = []
        for w in ws:
            if w == "threads":
                v = med(summary, w, a)
                cells.append("—" if v is None else f"{v:.2f}")
            else:
                cells.append(ratio(med(summary, w, a, "vs_pymalloc")))
        L.append(f"| {a} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Against glibc:\n")
    L.append("| allocator | " + " | ".join(w for w in ws if w != "threads") + " |")
    L.append("|---|" + "---|" * sum(1 for w in ws if w != "threads"))
    for a in present:
        L.append(f"| {a} | " + " | ".join(ratio(med(summary, w, a, "vs_glibc")) for w in ws if w != "threads") + " |")
    L.append("")

    L.append("## Workloads\n")
    for w, s in summary.items():
        metric, unit, what, higher, extras = WORKLOADS[w]
        L.append(f"### {w} — {unit if unit != 'x' else 'ratio'} {what}; {'higher' if higher else 'lower'} is better\n")
        head = ["allocator", "median", "min", "max", "n"]
        if not higher:
            head += ["× glibc", "× pymalloc"]
        head += [e.replace("_", " ") + " (median)" for e in extras]
        L.append("| " + " | ".join(head) + " |")
        L.append("|---|" + "---:|" * (len(head) - 1))
        for a in ALLOCATORS:
            e = s["allocators"].get(a)
            if e is None:
                continue
            name = a + (" (GIL taken per call)" if w == "threads" and a == "pymalloc" else "")
            row = [name, fmt(e["median"], unit), fmt(e["min"], unit), fmt(e["max"], unit), str(e["n"])]
            if not higher:
                row += [ratio(e.get("vs_glibc")), ratio(e.get("vs_pymalloc"))]
            row += [fmt(e.get(x)) for x in extras]
            L.append("| " + " | ".join(row) + " |")
        L.append("")

    L.append(hooks_md(summary))

    L.append("## Issue #5 targets\n")
    L.append("| target | phn-shared | phn-static |\n|---|---|---|")
    for name, res in targets(summary):
        cells = {}
        for a, text, ok, _ in res:
            cells[a] = f"{'**met**' if ok else '**missed**'}: {text}"
        L.append(f"| {name} | {cells.get('phn-shared', 'not measured')} | {cells.get('phn-static', 'not measured')} |")
    L.append("| debug hooks ≤ 24 B per block | not measured (the hook variants skip rss32 and rss100) | "
             "not measured |")
    gc_rows = {r[0]: r for r in gc_targets(gc or {})}
    if gc_rows:
        for kind, limit in (("layout", 1.0), ("callback", 1.5)):
            cells = [gc_target_text(gc_rows[c]) if c in gc_rows else "not measured"
                     for c in (f"phn-{kind}", f"phn-{kind}-static")]
            L.append(f"| collector, {kind}-described types ≤ {limit:.1f}x CPython's ns per object (every shape, "
                     f"100k and 1M, survive and garbage; the .so, and the .a when measured) | {cells[0]} | "
                     f"{cells[1]} |")
    else:
        L.append("| collector against CPython's `PyGC_Collect` | not measured in this run (BENCH_WORKLOADS=gc) | "
                 "not measured |")
    L.append("")
    return "\n".join(L) + ("\n" + gc_part if gc_part else "")


# ------------------------------------------------------------------ SVG

COLORS = {"phn-shared": "#1f77b4", "phn-static": "#6baed6", "glibc": "#7f7f7f", "pymalloc": "#2ca02c",
          "mimalloc": "#ff7f0e", "jemalloc": "#d62728", "empty-export": "#9467bd", "empty-static": "#c5b0d5"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(summary, meta, quick):
    ws = [w for w in summary if w != "threads"]
    # the hook variants have their own table, not bars in this chart
    allocs = [a for a in ALLOCATORS if a not in HOOKS and any(a in summary[w]["allocators"] for w in ws)]
    W, H = 1000, 660
    left, top, right = 70, 60, 20
    ph1 = 330  # panel 1 height
    p1b = top + ph1
    pw = W - left - right
    vals = [summary[w]["allocators"][a].get("vs_pymalloc") for w in ws for a in allocs
            if a in summary[w]["allocators"]]
    vals = [v for v in vals if v] or [1.0]
    nice = [m * 10 ** e for e in range(-4, 5) for m in (1, 2, 5)]
    lo = max([v for v in nice if v <= min(0.5, min(vals) / 1.15)])
    hi = min([v for v in nice if v >= max(2.0, max(vals) * 1.15)])

    def y(v):
        v = min(max(v, lo), hi)
        return p1b - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph1

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
         f'Median time (or resident bytes) relative to CPython 3.11 pymalloc, same run — lower is better</text>',
         f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#555">{esc(meta["cpu"])}, {meta["nproc"]} CPUs, '
         f'{esc(meta["date"])}, commit {esc(meta["commit"].split()[0])}{" — BENCH_QUICK smoke run" if quick else ""}'
         f' — log scale</text>']
    # grid
    for v in nice:
        if lo <= v <= hi:
            yy = y(v)
            one = abs(v - 1) < 1e-9
            o.append(f'<line x1="{left}" x2="{W - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
                     f'stroke="{"#000" if one else "#ddd"}" stroke-width="{1.5 if one else 1}"/>')
            o.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:g}x</text>')
    gw = pw / max(1, len(ws))
    bw = (gw * 0.8) / max(1, len(allocs))
    for i, w in enumerate(ws):
        gx = left + i * gw + gw * 0.1
        for j, a in enumerate(allocs):
            e = summary[w]["allocators"].get(a)
            if not e or not e.get("vs_pymalloc"):
                continue
            v = e["vs_pymalloc"]
            x = gx + j * bw
            y0, y1 = y(1.0), y(v)
            ytop, hgt = min(y0, y1), abs(y1 - y0)
            o.append(f'<rect x="{x:.1f}" y="{ytop:.1f}" width="{bw - 1:.1f}" height="{max(hgt, 1):.1f}" '
                     f'fill="{COLORS[a]}"><title>{esc(a)} {esc(w)}: {v:.2f}x pymalloc</title></rect>')
            ty = (ytop - 3) if v >= 1 else (ytop + hgt + 3)
            anchor = "start" if v >= 1 else "end"
            o.append(f'<text font-size="9" text-anchor="{anchor}" transform="translate({x + bw / 2 + 3:.1f},{ty:.1f}) '
                     f'rotate(-90)">{v:.2f}</text>')
        o.append(f'<text x="{left + i * gw + gw / 2:.1f}" y="{p1b + 18}" text-anchor="middle" font-weight="bold">'
                 f'{esc(w)}</text>')
        pm = med(summary, w, "pymalloc")
        if pm is not None:
            o.append(f'<text x="{left + i * gw + gw / 2:.1f}" y="{p1b + 32}" text-anchor="middle" fill="#555">'
                     f'pymalloc {fmt(pm)} {summary[w]["unit"]}</text>')
    # legend
    lx = left
    ly = p1b + 54
    for a in allocs:
        o.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLORS[a]}"/>')
        o.append(f'<text x="{lx + 16}" y="{ly}">{esc(a)}</text>')
        lx += 30 + 7.5 * len(a)
    # panel 2: thread scaling
    if "threads" in summary:
        t = {a: e for a, e in summary["threads"]["allocators"].items() if a not in HOOKS}
        p2t, p2h = ly + 50, H - (ly + 50) - 30
        o.append(f'<text x="{left}" y="{p2t - 26}"><tspan font-weight="bold">threads: throughput on 2 threads / '
                 f'on 1 thread</tspan> — higher is better; target ≥ 1.6, ideal 2</text>')
        o.append(f'<text x="{left}" y="{p2t - 11}" fill="#555">churn on each thread\'s own blocks; '
                 f'pymalloc takes the GIL around every call</text>')
        tmax = max([2.5] + [e["median"] for e in t.values()])
        bar_h = p2h / max(1, len(t)) * 0.8

        def x2(v):
            return left + 90 + v / tmax * (pw - 140)
        for k, (a, e) in enumerate((a, t[a]) for a in ALLOCATORS if a in t):
            yy = p2t + k * (p2h / len(t))
            o.append(f'<text x="{left + 84}" y="{yy + bar_h * 0.75:.1f}" text-anchor="end">{esc(a)}</text>')
            o.append(f'<rect x="{x2(0):.1f}" y="{yy:.1f}" width="{x2(e["median"]) - x2(0):.1f}" height="{bar_h:.1f}" '
                     f'fill="{COLORS[a]}"/>')
            o.append(f'<text x="{x2(e["median"]) + 4:.1f}" y="{yy + bar_h * 0.75:.1f}">{e["median"]:.2f}</text>')
        for v, label in ((0.0, "0"), (1.0, "1"), (1.6, "1.6"), (2.0, "2")):
            o.append(f'<line x1="{x2(v):.1f}" x2="{x2(v):.1f}" y1="{p2t - 4}" y2="{p2t + p2h}" stroke="#000" '
                     f'stroke-dasharray="{"4,3" if v in (1.6, 2.0) else "none"}"/>')
            o.append(f'<text x="{x2(v):.1f}" y="{p2t + p2h + 14}" text-anchor="middle">{label}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


GC_COLORS = {"phn-layout": "#1f77b4", "phn-callback": "#ff7f0e", "phn-layout-static": "#6baed6",
             "phn-callback-static": "#fdae6b"}


def svg_gc_chart(gc, meta, quick):
    """Ratios of the PyHeapNative collectors to CPython's, per shape, size and mode (log scale)."""
    groups = [(w, shape, size, m, mode) for m, mode, _ in GC_MODES for w, shape, size in gc_workloads() if w in gc]
    cols = [c for c in GC_COLLECTORS if c != GC_BASE and any(c in gc[w] for w, *_ in groups)]
    vals = [gc[w][c][m]["vs_" + GC_BASE] for w, _, _, m, _ in groups for c in cols
            if "vs_" + GC_BASE in gc[w].get(c, {}).get(m, {})]
    if not groups or not cols or not vals:
        return None
    W, H = 1000, 480
    left, top, right, ph = 70, 60, 20, 300
    pb = top + ph
    pw = W - left - right
    nice = [m * 10 ** e for e in range(-3, 4) for m in (1, 2, 5)] + [1.5]
    lo = max([v for v in nice if v <= min(0.5, min(vals) / 1.15)])
    hi = min([v for v in nice if v >= max(2.0, max(vals) * 1.15)])

    def y(v):
        v = min(max(v, lo), hi)
        return pb - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
         f'Collector: median ns per object relative to CPython 3.11 PyGC_Collect, same run — lower is better</text>',
         f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#555">{esc(meta["cpu"])}, {meta["nproc"]} CPUs, '
         f'{esc(meta["date"])}, commit {esc(meta["commit"].split()[0])}{" — BENCH_QUICK smoke run" if quick else ""}'
         f' — log scale; dashed: 1.5x (callback target)</text>']
    for v in sorted(set(nice)):
        if lo <= v <= hi:
            yy = y(v)
            one = abs(v - 1) < 1e-9
            dash = abs(v - 1.5) < 1e-9
            dash_attr = ' stroke-dasharray="6,4"' if dash else ""
            o.append(f'<line x1="{left}" x2="{W - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
                     f'stroke="{"#000" if one or dash else "#ddd"}" stroke-width="{1.5 if one else 1}"{dash_attr}/>')
            o.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:g}x</text>')
    gw = pw / len(groups)
    bw = (gw * 0.8) / len(cols)
    for i, (w, shape, size, m, mode) in enumerate(groups):
        gx = left + i * gw + gw * 0.1
        for j, c in enumerate(cols):
            r = gc[w].get(c, {}).get(m, {}).get("vs_" + GC_BASE)
            if r is None:
                continue
            x = gx + j * bw
            y0, y1 = y(1.0), y(r)
            ytop, hgt = min(y0, y1), abs(y1 - y0)
            o.append(f'<rect x="{x:.1f}" y="{ytop:.1f}" width="{bw - 1:.1f}" height="{max(hgt, 1):.1f}" '
                     f'fill="{GC_COLORS.get(c, "#999")}"><title>{esc(c)} {esc(w)} {esc(mode)}: {r:.2f}x '
                     f'{GC_BASE}</title></rect>')
            ty = (ytop - 3) if r >= 1 else (ytop + hgt + 3)
            anchor = "start" if r >= 1 else "end"
            o.append(f'<text font-size="9" text-anchor="{anchor}" transform="translate({x + bw / 2 + 3:.1f},{ty:.1f}) '
                     f'rotate(-90)">{r:.2f}</text>')
        cx = left + i * gw + gw / 2
        o.append(f'<text x="{cx:.1f}" y="{pb + 16}" text-anchor="middle" font-weight="bold">{esc(shape)}</text>')
        o.append(f'<text x="{cx:.1f}" y="{pb + 30}" text-anchor="middle">{esc(size)}</text>')
        base = gc[w].get(GC_BASE, {}).get(m, {}).get("median")
        if base is not None:
            o.append(f'<text x="{cx:.1f}" y="{pb + 44}" text-anchor="middle" fill="#555" font-size="10">'
                     f'{fmt(base)} ns</text>')
    # mode labels under each half
    per_mode = {}
    for i, g in enumerate(groups):
        per_mode.setdefault(g[4], []).append(i)
    for mode, idx in per_mode.items():
        x0, x1 = left + idx[0] * gw, left + (idx[-1] + 1) * gw
        o.append(f'<line x1="{x0 + 4:.1f}" x2="{x1 - 4:.1f}" y1="{pb + 52}" y2="{pb + 52}" stroke="#555"/>')
        o.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{pb + 68}" text-anchor="middle" font-weight="bold">'
                 f'{esc(mode)} (CPython\'s ns per object below each group)</text>')
    lx, ly = left, pb + 96
    for c in cols:
        o.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{GC_COLORS.get(c, "#999")}"/>')
        o.append(f'<text x="{lx + 16}" y="{ly}">{esc(c)}</text>')
        lx += 40 + 7.5 * len(c)
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--gc-rounds", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load", default="")
    args = ap.parse_args()

    data = load(args.results)
    summary = summarise(data)
    gc = summarise_gc(data)
    meta = machine_info(args.root, args.out)
    meta.update({"rounds": args.rounds, "gc_rounds": args.gc_rounds or args.rounds, "seconds": args.seconds, "quick": args.quick, "load": args.load})
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "workloads": summary,
                   "targets": [{"target": n, "results": [{"allocator": a, "measured": t, "met": ok}
                                                         for a, t, ok, _ in r]} for n, r in targets(summary)],
                   "hooks": hooks_summary(summary),
                   "gc": gc,
                   "gc_targets": [{"collector": c, "limit": limit, "met": ok,
                                   "worst": {"workload": wst[0], "mode": wst[1], "ratio": wst[2]},
                                   "ratios": [{"workload": w, "mode": m, "ratio": r} for w, m, r in cells]}
                                  for c, limit, cells, wst, ok in gc_targets(gc)]},
                  f, indent=1)
    md = tables_md(summary, meta, args.rounds, args.seconds, args.quick, gc)
    with open(os.path.join(args.out, "tables.md"), "w", encoding="utf-8") as f:
        f.write("# Benchmark results\n\n" + md)
    if summary:
        with open(os.path.join(args.out, "benchmarks-ratios.svg"), "w", encoding="utf-8") as f:
            f.write(svg_chart(summary, meta, args.quick))
    gc_svg = svg_gc_chart(gc, meta, args.quick) if gc else None
    if gc_svg:
        with open(os.path.join(args.out, "benchmarks-gc-ratios.svg"), "w", encoding="utf-8") as f:
            f.write(gc_svg)
    print(md)


if __name__ == "__main__":
    main()
