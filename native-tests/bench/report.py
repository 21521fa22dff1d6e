#!/usr/bin/env python3
"""report.py - turn native-tests/bench results.tsv into tables, JSON and an SVG chart.

    report.py --results OUT/results.tsv --out OUT --root REPO [--rounds N] [--seconds S] [--quick]

Writes OUT/results.json, OUT/tables.md and OUT/benchmarks-ratios.svg. Standard library only.
Every ratio is a ratio of medians taken in the same run (the same rounds, interleaved).
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

ALLOCATORS = ["phn-shared", "phn-static", "glibc", "pymalloc", "mimalloc", "jemalloc", "empty-export",
              "empty-static"]
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
    return rows


def tables_md(summary, meta, rounds, seconds, quick):
    L = []
    L.append("## Machine and run\n")
    L.append("| | |\n|---|---|")
    for k in ("cpu", "nproc", "memory", "os", "kernel", "glibc", "gcc", "dotnet", "libpython3.11", "mimalloc",
              "jemalloc", "date", "commit", "library_built"):
        L.append(f"| {k.replace('_', ' ')} | {meta.get(k, '')} |")
    L.append(f"| rounds | {rounds} (every allocator once per workload per round, order rotating; "
             f"one process per measurement){' — BENCH_QUICK smoke run, smaller workloads' if quick else ''} |")
    if seconds:
        L.append(f"| run time | {seconds} s for the whole script (install check, builds, runs) |")
    if meta.get("load"):
        L.append(f"| load average (1, 5, 15 min) | {meta['load']} (start -> end; the machine is shared) |")
    L.append("")

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
    L.append("|---|" + "---|" * (len(ws) - 1))
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

    L.append("## Issue #5 targets (allocator part)\n")
    L.append("| target | phn-shared | phn-static |\n|---|---|---|")
    for name, res in targets(summary):
        cells = {}
        for a, text, ok, _ in res:
            cells[a] = f"{'**met**' if ok else '**missed**'}: {text}"
        L.append(f"| {name} | {cells.get('phn-shared', 'not measured')} | {cells.get('phn-static', 'not measured')} |")
    L.append("| debug hooks ≤ 2.0x release time, ≤ 24 B per block | not measured yet | not measured yet |")
    L.append("| collector against CPython's `PyGC_Collect` | not measured yet (GC part of #5) | not measured yet |")
    L.append("")
    return "\n".join(L)


# ------------------------------------------------------------------ SVG

COLORS = {"phn-shared": "#1f77b4", "phn-static": "#6baed6", "glibc": "#7f7f7f", "pymalloc": "#2ca02c",
          "mimalloc": "#ff7f0e", "jemalloc": "#d62728", "empty-export": "#9467bd", "empty-static": "#c5b0d5"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(summary, meta, quick):
    ws = [w for w in summary if w != "threads"]
    allocs = [a for a in ALLOCATORS if any(a in summary[w]["allocators"] for w in ws)]
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
        t = summary["threads"]["allocators"]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load", default="")
    args = ap.parse_args()

    summary = summarise(load(args.results))
    meta = machine_info(args.root, args.out)
    meta.update({"rounds": args.rounds, "seconds": args.seconds, "quick": args.quick, "load": args.load})
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "workloads": summary,
                   "targets": [{"target": n, "results": [{"allocator": a, "measured": t, "met": ok}
                                                         for a, t, ok, _ in r]} for n, r in targets(summary)]},
                  f, indent=1)
    md = tables_md(summary, meta, args.rounds, args.seconds, args.quick)
    with open(os.path.join(args.out, "tables.md"), "w", encoding="utf-8") as f:
        f.write("# Allocator benchmark results\n\n" + md)
    with open(os.path.join(args.out, "benchmarks-ratios.svg"), "w", encoding="utf-8") as f:
        f.write(svg_chart(summary, meta, args.quick))
    print(md)


if __name__ == "__main__":
    main()
