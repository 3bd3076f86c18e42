#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn the benchmark's JSON Lines (selftests/bench_vmmu) into a table,
meta.json, plots and report.md.

  bench_report.py SAMPLES OUTDIR [--meta KEY=VALUE ...] [--check] [--no-plots]

SAMPLES is what bench_vmmu printed (other lines are ignored).  OUTDIR gets
samples.jsonl (the sample records), meta.json, <workload>.svg/.png and
report.md; the table is printed.  With --check, every workload must have
samples from each of its backends and no error: otherwise exit 1.

Statistics: per workload and backend, the median of the measured (not
warm-up) samples; the ratio of two medians with a 95% percentile-bootstrap
interval (both groups resampled with replacement, 4000 times, a fixed
seed); a difference is called significant when the interval excludes 1.
"""
import json
import os
import random
import statistics
import sys

# What bench_vmmu runs: workload -> backends.  Keep in step with its table.
WORKLOADS = {
    "demand_4k": ["kvm", "vmmu"],
    "demand_thp": ["kvm", "vmmu"],
    "refault": ["kvm", "vmmu", "vmmu-nle"],
    "unrelated_inval": ["none", "kvm", "vmmu", "vmmu-nle"],
    "memslot_create": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_delete": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_create": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_delete": ["kvm", "vmmu", "vmmu-nle"],
    "dirty_log": ["kvm", "vmmu"],
    "exits": ["kvm", "vmmu"],
}
KEY_TESTS = {
    "demand_4k": "demand_paging_test",
    "demand_thp": "demand_paging_test -s anonymous_thp",
    "refault": "access_tracking_perf_test / mmu_stress_test (shape)",
    "unrelated_inval": "none (the seeds' lock elision)",
    "memslot_create": "memslot_perf_test / memslot_modification_stress_test",
    "memslot_delete": "memslot_perf_test / memslot_modification_stress_test",
    "memslot_storm_create": "memslot_modification_stress_test (updates while memory is invalidated)",
    "memslot_storm_delete": "memslot_modification_stress_test (updates while memory is invalidated)",
    "dirty_log": "dirty_log_perf_test",
    "exits": "none (cf. kvm-unit-tests vmexit)",
}
BOOT = 4000
EMU_BANNER = ("EMULATED: QEMU TCG, nested SVM. Figures are ratios of code "
              "paths on an emulator, never hardware times.")


def load(path):
    recs = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip().lstrip("\x00")
            if not line.startswith("{"):
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return recs


def boot_ratio(a, b, rng):
    """Median(a)/median(b) and its 95% percentile-bootstrap interval."""
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb if mb else float("nan")
    rs = []
    for _ in range(BOOT):
        ra = statistics.median(rng.choices(a, k=len(a)))
        rb = statistics.median(rng.choices(b, k=len(b)))
        if rb:
            rs.append(ra / rb)
    rs.sort()
    if not rs:
        return ratio, float("nan"), float("nan")
    return ratio, rs[int(0.025 * (len(rs) - 1))], rs[int(0.975 * (len(rs) - 1))]


def fmt(v):
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def verdict(lo, hi, higher_is_better, who="vmmu"):
    if lo != lo or (lo <= 1 <= hi):
        return "no"
    better = (lo > 1) == higher_is_better
    return f"yes ({who} {'better' if better else 'worse'})"


def analyse(samples, rng):
    """workload -> dict of medians, ratios, n."""
    out = {}
    for w in WORKLOADS:
        g = {}
        meta = None
        for s in samples:
            if s["workload"] == w and not s.get("warmup"):
                g.setdefault(s["backend"], []).append(float(s["value"]))
                meta = s
        if not g:
            continue
        row = {"metric": meta["metric"], "higher": meta["higher_is_better"],
               "groups": g,
               "median": {b: statistics.median(v) for b, v in g.items()},
               "n": {b: len(v) for b, v in g.items()}, "ratio": {}}
        base = "none" if w == "unrelated_inval" else "kvm"
        for b in g:
            if "kvm" in g and b not in ("kvm", "none"):
                row["ratio"][(b, "kvm")] = boot_ratio(g[b], g["kvm"], rng)
            if base == "none" and b != "none" and "none" in g:
                row["ratio"][(b, "none")] = boot_ratio(g[b], g["none"], rng)
        out[w] = row
    return out


def table(res, emulated):
    head = ("| workload | metric | KVM median | vmmu median | vmmu/KVM [95% CI] "
            "| significant | vmmu-nle median | vmmu-nle/KVM [95% CI] | n |")
    lines = [head, "|" + "---|" * 9]
    for w, r in res.items():
        m, n = r["median"], r["n"]
        cells = [w, r["metric"] + (" (higher is better)" if r["higher"] else
                                   " (lower is better)"),
                 fmt(m.get("kvm", float("nan"))), fmt(m.get("vmmu", float("nan")))]
        if ("vmmu", "kvm") in r["ratio"]:
            q, lo, hi = r["ratio"][("vmmu", "kvm")]
            cells += [f"{q:.3f} [{lo:.3f}, {hi:.3f}]", verdict(lo, hi, r["higher"])]
        else:
            cells += ["n/a", "n/a"]
        if ("vmmu-nle", "kvm") in r["ratio"]:
            q, lo, hi = r["ratio"][("vmmu-nle", "kvm")]
            cells += [fmt(m["vmmu-nle"]), f"{q:.3f} [{lo:.3f}, {hi:.3f}]"]
        else:
            cells += ["", ""]
        cells.append("/".join(str(n[b]) for b in WORKLOADS[w] if b in n))
        lines.append("| " + " | ".join(cells) + " |")
    r = res.get("unrelated_inval")
    extra = []
    if r and "none" in r["median"]:
        extra = ["", "unrelated_inval against the same loop with no VM at all "
                 "(limit 1.0; below 1 is what a VM's notifier costs):", "",
                 "| backend | ops/s median | /no VM [95% CI] | n |", "|---|---|---|---|",
                 f"| none | {fmt(r['median']['none'])} | 1 | {r['n']['none']} |"]
        for b in ("kvm", "vmmu", "vmmu-nle"):
            if (b, "none") in r["ratio"]:
                q, lo, hi = r["ratio"][(b, "none")]
                extra.append(f"| {b} | {fmt(r['median'][b])} | {q:.3f} [{lo:.3f}, {hi:.3f}] "
                             f"| {r['n'][b]} |")
    banner = [f"**{EMU_BANNER}**", ""] if emulated else \
        ["Hardware run (real SVM/VMX, the running kernel).", ""]
    return banner + lines + extra


COLORS = {"none": "#777777", "kvm": "#1f77b4", "vmmu": "#d62728", "vmmu-nle": "#ff7f0e"}


def plot(res, outdir, emulated):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    # Plain numbers with thousands separators, not an offset like 1e6.
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}")

    files = {}
    for w, r in res.items():
        order = [b for b in WORKLOADS[w] if b in r["groups"]]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
        data = [r["groups"][b] for b in order]
        ax1.boxplot(data, labels=order, showfliers=False, widths=0.5,
                    medianprops={"color": "black", "linewidth": 2})
        rng = random.Random(1)
        for i, (b, v) in enumerate(zip(order, data), 1):
            xs = [i + rng.uniform(-0.15, 0.15) for _ in v]
            ax1.scatter(xs, v, s=14, alpha=0.7, color=COLORS.get(b, "k"), zorder=3)
        ax1.set_ylabel(r["metric"])
        ax1.yaxis.set_major_formatter(plain)
        ax1.set_title("samples (box: quartiles)")
        ax1.grid(axis="y", alpha=0.3)
        for b, v in zip(order, data):
            xs = sorted(v)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax2.step(xs, ys, where="post", label=f"{b} (n={len(xs)})",
                     color=COLORS.get(b, "k"), linewidth=1.8)
        ax2.set_xlabel(r["metric"])
        ax2.xaxis.set_major_formatter(plain)
        ax2.set_ylabel("fraction of samples")
        ax2.set_title("ECDF")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="lower right", fontsize=9)
        # Spread over decades (scheduler-tick waits): a log scale.
        lo = min(min(v) for v in data)
        hi = max(max(v) for v in data)
        if lo > 0 and hi / lo > 50:
            ax1.set_yscale("log")
            ax2.set_xscale("log")
            ax1.yaxis.set_major_formatter(plain)
            ax2.xaxis.set_major_formatter(plain)
            ax1.set_title("samples (box: quartiles; log scale)")
        sub = "EMULATED (QEMU TCG): code-path ratios, not hardware times" if emulated \
            else "hardware run"
        direction = "higher is better" if r["higher"] else "lower is better"
        fig.suptitle(f"{w}: {r['metric']}, {direction}\n{sub}", fontsize=11)
        fig.tight_layout()
        for ext in ("svg", "png"):
            fig.savefig(os.path.join(outdir, f"{w}.{ext}"), dpi=110)
        plt.close(fig)
        files[w] = f"{w}.png"
    return files


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="vmmu benchmark report")
    ap.add_argument("samples")
    ap.add_argument("outdir")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    src, outdir, check = a.samples, a.outdir, a.check
    extra = dict(kv.partition("=")[::2] for kv in a.meta)
    os.makedirs(outdir, exist_ok=True)

    recs = load(src)
    meta = next((r for r in recs if r.get("type") == "meta"), {})
    config = next((r for r in recs if r.get("type") == "config"), {})
    samples = [r for r in recs if r.get("type") == "sample"]
    errors = [r for r in recs if r.get("type") == "error"]
    end = next((r for r in recs if r.get("type") == "end"), None)
    emulated = extra.get("emulated", "true") != "false"

    with open(os.path.join(outdir, "samples.jsonl"), "w") as f:
        for r in samples:
            f.write(json.dumps(r) + "\n")
    m = {k: v for k, v in meta.items() if k != "type"}
    m.update({"emulated": emulated, "config": {k: v for k, v in config.items()
                                                 if k != "type"}})
    for k, v in extra.items():
        if k != "emulated":
            m[k] = v
    m["errors"] = [e.get("message") for e in errors]
    m["finished"] = end is not None
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump(m, f, indent=2, sort_keys=True)
        f.write("\n")

    problems = []
    for e in errors:
        problems.append(f"error in {e.get('workload')}/{e.get('backend')}: {e.get('message')}")
    if end is None:
        problems.append("the benchmark did not finish (no end record)")
    only = config.get("only")
    wanted = set(only.split(",")) if only else set(WORKLOADS)
    for w, bs in WORKLOADS.items():
        # A *_delete workload comes with its *_create.
        if w not in wanted and w.replace("_delete", "_create") not in wanted:
            continue
        for b in bs:
            if not any(s["workload"] == w and s["backend"] == b and not s.get("warmup")
                       for s in samples):
                problems.append(f"no samples for {w} on {b}")

    res = analyse(samples, random.Random(20261123))
    tab = table(res, emulated)
    print("\n".join(tab))
    plots = {}
    if not a.no_plots and res:
        plots = plot(res, outdir, emulated)

    rep = ["# vmmu A/B benchmark", ""]
    if emulated:
        rep += [f"> **{EMU_BANNER}** The machine is QEMU's TCG emulator running "
                "an EPYC model with SVM and NPT, one host thread for both vCPUs; "
                "times come in scheduler-tick steps. Read the ratios, not the "
                "absolute values.", ""]
    rep += ["| | |", "|---|---|"]
    for k in ("kernel_release", "cpu_model", "online_cpus", "thp_enabled",
              "ksm_run", "numa_balancing", "tainted", "clocksource"):
        rep.append(f"| {k} | `{meta.get(k)}` |")
    for k in sorted(extra):
        rep.append(f"| {k} | `{extra[k]}` |")
    rep.append(f"| config | `{json.dumps(m['config'])}` |")
    rep += ["", "Full details (kernel command line, CPU flags, module parameters): "
            "`meta.json`; raw samples: `samples.jsonl`.", "", "## Results", ""]
    rep += tab[2:] if emulated else tab
    rep += ["", "Medians of the measured repetitions (warm-up excluded). Each ratio "
            "is a ratio of medians with a 95% percentile-bootstrap interval "
            f"({BOOT} resamples of both groups); *significant* means the interval "
            "excludes 1. n is the number of samples per backend, in the column "
            "order of the table. vmmu-nle is vmmu with VMMU_VM_MN_NO_LOCK_ELISION "
            "(every invalidation takes the MMU lock).", ""]
    if problems:
        rep += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    rep += ["## Workloads", ""]
    for w, r in res.items():
        rep += [f"### {w}", "", f"Metric: {r['metric']} "
                f"({'higher' if r['higher'] else 'lower'} is better). "
                f"Compare with KVM's `{KEY_TESTS[w]}`.", ""]
        if w in plots:
            rep += [f"![{w}]({plots[w]})", "", f"[SVG]({w}.svg)", ""]
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(rep) + "\n")

    for p in problems:
        print("PROBLEM: " + p, file=sys.stderr)
    if check and problems:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
