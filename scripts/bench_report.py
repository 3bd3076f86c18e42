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

memslot_overlap_storm's samples each hold several updates, starved ones
censored at a cutoff: its updates are also pooled per backend into
percentiles, with vmmu's wait and conservative-invalidation counters.

The traced phase (bench_vmmu's "trace" records, after the timed samples)
becomes a latency breakdown: percentiles and histograms (trace_<workload>
.svg/.png) of the time in each backend's invalidate_range_start callback
and of how long memslot publications waited for invalidations.
"""
import json
import math
import os
import random
import statistics
import sys

# What bench_vmmu runs: workload -> backends.  Keep in step with its table.
WORKLOADS = {
    "demand_4k": ["kvm", "vmmu", "vmmu-bnd"],
    "demand_thp": ["kvm", "vmmu", "vmmu-bnd"],
    "refault": ["kvm", "vmmu", "vmmu-nle"],
    "unrelated_inval": ["none", "kvm", "vmmu", "vmmu-nle", "vmmu-bnd"],
    "unrelated_inval_vcpu": ["none", "kvm", "vmmu", "vmmu-nle", "vmmu-bnd"],
    "memslot_create": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_delete": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_move": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_create": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_delete": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_wait": ["vmmu", "vmmu-nle"],
    "memslot_storm_move": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_move_wait": ["vmmu", "vmmu-nle"],
    "memslot_overlap_storm": ["kvm", "vmmu", "vmmu-bnd"],
    "dirty_log": ["kvm", "vmmu"],
    "exits": ["kvm", "vmmu"],
}
# Workloads whose samples another one makes (selected with it).
MADE_BY = {
    "memslot_delete": "memslot_create",
    "memslot_storm_delete": "memslot_storm_create",
    "memslot_storm_wait": "memslot_storm_create",
    "memslot_storm_move_wait": "memslot_storm_move",
}
# Measured on vmmu only: KVM has no counter of the wait.
NO_KVM = {"memslot_storm_wait", "memslot_storm_move_wait"}
# Compared with the same loop in a process with no VM.
VS_NONE = {"unrelated_inval", "unrelated_inval_vcpu"}
# Each sample holds several updates, censored at a cutoff when starved:
# reported per update, pooled over the measured samples.
PER_UPDATE = {"memslot_overlap_storm"}
# Workloads with a traced phase, and its backends.
TRACED = {
    "refault": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_create": ["kvm", "vmmu", "vmmu-nle"],
    "memslot_storm_move": ["kvm", "vmmu", "vmmu-nle"],
}
KEY_TESTS = {
    "demand_4k": "demand_paging_test",
    "demand_thp": "demand_paging_test -s anonymous_thp",
    "refault": "access_tracking_perf_test / mmu_stress_test (shape)",
    "unrelated_inval": "none (the seeds' lock elision)",
    "unrelated_inval_vcpu": "none (the seeds' lock elision, with a vCPU running)",
    "memslot_create": "memslot_perf_test / memslot_modification_stress_test",
    "memslot_delete": "memslot_perf_test / memslot_modification_stress_test",
    "memslot_move": "memslot_perf_test's move inactive area (one iteration there is two moves)",
    "memslot_storm_create": "memslot_modification_stress_test (updates while memory is invalidated)",
    "memslot_storm_delete": "memslot_modification_stress_test (updates while memory is invalidated)",
    "memslot_storm_wait": "none (KVM counts no such wait)",
    "memslot_storm_move": "memslot_perf_test's move test, under memslot_modification_stress_test's kind of load",
    "memslot_storm_move_wait": "none (KVM counts no such wait)",
    "memslot_overlap_storm": "memslot_modification_stress_test (memslot updates under invalidations)",
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


def per_update(w, samples, groups):
    """backend -> the updates of all measured samples, pooled, and the
    vmmu counters summed; an update at the cutoff was starved (censored)."""
    out = {}
    for b in groups:
        ss = [s for s in samples if s["workload"] == w and s["backend"] == b
              and not s.get("warmup")]
        ups = sorted(u for s in ss for u in s.get("updates_us", []))
        cut = max((s.get("cutoff_us", 0) for s in ss), default=0)
        d = {"updates": ups, "cutoff": cut,
             "censored": sum(s.get("censored", 0) for s in ss),
             "samples_censored": sum(1 for s in ss if s.get("censored")),
             "samples": len(ss),
             # The storm's pace: its rounds over the time the updates took.
             "storm_rate": sum(s.get("storm_rounds", 0) for s in ss) /
             (sum(s.get("storm_ms", 0) for s in ss) / 1000 or float("nan"))}
        if b != "kvm":
            for k in ("published", "waited", "wait_us_total", "invalidations",
                      "conservative", "unrecorded"):
                d[k] = sum(s.get(k, 0) for s in ss)
            d["wait_us_max"] = max((s.get("wait_us_max", 0) for s in ss), default=0)
        out[b] = d
    return out


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
        base = "none" if w in VS_NONE else "kvm"
        for b in g:
            if "kvm" in g and b not in ("kvm", "none"):
                row["ratio"][(b, "kvm")] = boot_ratio(g[b], g["kvm"], rng)
            if base == "none" and b != "none" and "none" in g:
                row["ratio"][(b, "none")] = boot_ratio(g[b], g["none"], rng)
        # The bounded policy against the seed one, on the same work.
        if w not in NO_KVM and "vmmu" in g and "vmmu-bnd" in g:
            row["ratio"][("vmmu-bnd", "vmmu")] = boot_ratio(g["vmmu-bnd"], g["vmmu"], rng)
        if w in PER_UPDATE:
            row["per_update"] = per_update(w, samples, g)
        if w in NO_KVM and "vmmu" in g and "vmmu-nle" in g:
            row["ratio"][("vmmu-nle", "vmmu")] = boot_ratio(g["vmmu-nle"], g["vmmu"], rng)
            row["updates"] = {b: sum(s.get("updates", 0) for s in samples
                                     if s["workload"] == w and s["backend"] == b
                                     and not s.get("warmup")) for b in g}
            row["waited"] = {b: sum(s.get("waited", 0) for s in samples
                                    if s["workload"] == w and s["backend"] == b
                                    and not s.get("warmup")) for b in g}
        if w == "unrelated_inval_vcpu":
            row["stalled"] = {b: sum(1 for s in samples if s["workload"] == w
                                     and s["backend"] == b and not s.get("warmup")
                                     and s.get("busy_iters") == 0) for b in g}
        out[w] = row
    return out


def per_update_table(w, r):
    """The updates of a PER_UPDATE workload, pooled: percentiles with the
    starved ones (censored at the cutoff), and vmmu's own counters."""
    pu = r["per_update"]
    cut = max(d["cutoff"] for d in pu.values())

    def p(v, q):
        x = pct(v, q)
        return f"≥ {fmt(x)} (starved)" if v and x >= cut else fmt(x)

    lines = [f"{w}: every update of the measured samples, pooled; an update still "
             f"running after {fmt(cut / 1000)} ms was starved: the storm was paused "
             "so that it could finish, and it counts at the cutoff (censored), so a "
             "percentile at the cutoff is a lower bound. waits, conservative and "
             "unrecorded: the vmmu VMs' VMMU_GET_STATS (summed over the samples; "
             "KVM has no such counters):", "",
             "| backend | updates | starved | samples with a starved update | p50 µs "
             "| p99 | max | publications that waited | mean wait µs/publication "
             "| longest wait µs | conservative invalidations | unrecorded | storm rounds/s |",
             "|" + "---|" * 13]
    for b in WORKLOADS[w]:
        d = pu.get(b)
        if not d:
            continue
        v, n = d["updates"], len(d["updates"])
        cells = [b, str(n), f"{d['censored']} ({100 * d['censored'] / n:.0f}%)" if n else "0",
                 f"{d['samples_censored']} of {d['samples']}", p(v, 50), p(v, 99),
                 p(v, 100)]
        if b == "kvm":
            cells += ["n/a (no counter)"] * 3 + ["n/a"] * 2
        else:
            u = d["published"]
            cells += [f"{d['waited']} of {u}", fmt(d["wait_us_total"] / u) if u else "n/a",
                      fmt(d["wait_us_max"]),
                      f"{d['conservative']} of {d['invalidations']}", str(d["unrecorded"])]
        cells.append(fmt(d["storm_rate"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def table(res, emulated):
    head = ("| workload | metric | KVM median | vmmu median | vmmu/KVM [95% CI] "
            "| significant | vmmu-nle median | vmmu-nle/KVM [95% CI] "
            "| vmmu-bnd median | vmmu-bnd/KVM [95% CI] | vmmu-bnd/vmmu [95% CI] | n |")
    lines = [head, "|" + "---|" * 12]
    for w, r in res.items():
        m, n = r["median"], r["n"]
        cells = [w, r["metric"] + (" (higher is better)" if r["higher"] else
                                   " (lower is better)"),
                 "n/a (no counter)" if w in NO_KVM else fmt(m.get("kvm", float("nan"))),
                 fmt(m.get("vmmu", float("nan")))]
        if w in NO_KVM:
            cells += ["n/a", "n/a", fmt(m.get("vmmu-nle", float("nan"))), "n/a"]
        elif ("vmmu", "kvm") in r["ratio"]:
            q, lo, hi = r["ratio"][("vmmu", "kvm")]
            cells += [f"{q:.3f} [{lo:.3f}, {hi:.3f}]", verdict(lo, hi, r["higher"])]
        else:
            cells += ["n/a", "n/a"]
        if w in NO_KVM:
            cells += ["", "", ""]
        else:
            for b in ("vmmu-nle", "vmmu-bnd"):
                if (b, "kvm") in r["ratio"]:
                    q, lo, hi = r["ratio"][(b, "kvm")]
                    cells += [fmt(m[b]), f"{q:.3f} [{lo:.3f}, {hi:.3f}]"]
                else:
                    cells += ["", ""]
            if ("vmmu-bnd", "vmmu") in r["ratio"]:
                q, lo, hi = r["ratio"][("vmmu-bnd", "vmmu")]
                cells.append(f"{q:.3f} [{lo:.3f}, {hi:.3f}]"
                             + (f" ({verdict(lo, hi, r['higher'], 'vmmu-bnd')[5:-1]})"
                                if verdict(lo, hi, r["higher"]) != "no" else ""))
            else:
                cells.append("")
        cells.append("/".join(str(n[b]) for b in WORKLOADS[w] if b in n))
        lines.append("| " + " | ".join(cells) + " |")
    extra = []
    for w in sorted(VS_NONE):
        r = res.get(w)
        if not r or "none" not in r["median"]:
            continue
        what = ("the same loop with no VM at all" if w == "unrelated_inval" else
                "the same loop and a thread spinning in user space in the vCPU's "
                "place, with no VM")
        st = r.get("stalled")
        extra += ["", f"{w} against {what} (limit 1.0; below 1 is what the VM costs "
                  "the loop" + ("; stalled: samples in which the busy thread, vCPU or "
                                "spinner, made no progress at all" if st else "") + "):", "",
                  "| backend | ops/s median | /no VM [95% CI] | n |" + (" stalled |" if st else ""),
                  "|---|---|---|---|" + ("---|" if st else ""),
                  f"| none | {fmt(r['median']['none'])} | 1 | {r['n']['none']} |"
                  + (f" {st.get('none', 0)} |" if st else "")]
        for b in ("kvm", "vmmu", "vmmu-nle", "vmmu-bnd"):
            if (b, "none") in r["ratio"]:
                q, lo, hi = r["ratio"][(b, "none")]
                extra.append(f"| {b} | {fmt(r['median'][b])} | {q:.3f} [{lo:.3f}, {hi:.3f}] "
                             f"| {r['n'][b]} |" + (f" {st.get(b, 0)} |" if st else ""))
    waits = [w for w in res if w in NO_KVM]
    if waits:
        extra += ["", "How long the storms' memslot updates waited for invalidations in "
                  "flight (vmmu's VMMU_GET_STATS before and after each sample; KVM has "
                  "no such counter, so no ratio to KVM):", "",
                  "| workload | vmmu µs/update median | vmmu updates that waited "
                  "| vmmu-nle µs/update median | vmmu-nle updates that waited "
                  "| vmmu-nle/vmmu [95% CI] | n |", "|---|---|---|---|---|---|---|"]
        for w in waits:
            r = res[w]
            m = r["median"]
            cells = [w]
            for b in ("vmmu", "vmmu-nle"):
                u, k = r.get("updates", {}).get(b, 0), r.get("waited", {}).get(b, 0)
                cells += [fmt(m.get(b, float("nan"))),
                          f"{k} of {u}" + (f" ({100 * k / u:.0f}%)" if u else "")]
            if ("vmmu-nle", "vmmu") in r["ratio"]:
                q, lo, hi = r["ratio"][("vmmu-nle", "vmmu")]
                cells.append("n/a (median 0)" if q != q else f"{q:.3f} [{lo:.3f}, {hi:.3f}]")
            else:
                cells.append("n/a")
            cells.append("/".join(str(r["n"][b]) for b in WORKLOADS[w] if b in r["n"]))
            extra.append("| " + " | ".join(cells) + " |")
    for w in [w for w in res if w in PER_UPDATE]:
        extra += [""] + per_update_table(w, res[w])
    banner = [f"**{EMU_BANNER}**", ""] if emulated else \
        ["Hardware run (real SVM/VMX, the running kernel).", ""]
    return banner + lines + extra


COLORS = {"none": "#777777", "kvm": "#1f77b4", "vmmu": "#d62728", "vmmu-nle": "#ff7f0e",
          "vmmu-bnd": "#2ca02c"}
# Histograms overlap: the line style tells them apart too.
STYLES = {"kvm": "-", "vmmu": "--", "vmmu-nle": ":", "vmmu-bnd": "-."}


def pct(v, p):
    """Nearest-rank percentile p of the sorted list v."""
    if not v:
        return float("nan")
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def analyse_trace(recs):
    """workload -> backend -> what the traced phase saw, lists sorted."""
    out = {}
    for r in recs:
        t = r.get("type")
        if t not in ("trace", "trace_setup"):
            continue
        d = out.setdefault(r.get("workload"), {}).setdefault(r.get("backend"), {
            "setup": None, "reps": 0, "lost": 0, "open": 0, "notifier": [],
            "publish": [], "wait": [], "event_wait": [], "srcu": [], "notifier_fn": None,
            "publish_fn": None})
        if t == "trace_setup":
            d["setup"] = r
            continue
        d["reps"] += 1
        d["lost"] += r.get("lost", 0)
        d["open"] += r.get("open_at_end", 0)
        d["notifier_fn"], d["publish_fn"] = r.get("notifier_fn"), r.get("publish_fn")
        d["notifier"] += r.get("notifier_us", [])
        d["publish"] += r.get("publish_us", [])
        d["wait"] += r.get("wait_us", [])
        d["event_wait"] += r.get("event_wait_us", [])
        d["srcu"] += r.get("srcu_us", [])
    for bs in out.values():
        for d in bs.values():
            for k in ("notifier", "publish", "wait", "event_wait", "srcu"):
                d[k].sort()
    return out


def trace_notes(tr):
    """What the traced phase could not see, as sentences."""
    notes = []
    for w, bs in tr.items():
        for b, d in bs.items():
            st = d["setup"] or {}
            if st and not st.get("tracefs"):
                notes.append(f"{w}/{b}: no tracefs on this kernel: not traced.")
                continue
            if st.get("tracer") == "none":
                notes.append(f"{w}/{b}: the tracer could not be set up "
                             f"({st.get('error', 'unknown')}): not traced.")
            for fn, ok in (st.get("functions") or {}).items():
                if not ok:
                    notes.append(f"{w}/{b}: no event: `{fn}` is not traceable on this "
                                 "kernel (not in available_filter_functions).")
            if d["lost"]:
                notes.append(f"{w}/{b}: the trace buffer lost {d['lost']} events: "
                             "the histogram misses some calls.")
    return notes


def trace_tables(tr):
    """Markdown tables of the traced phase's percentiles."""
    def ps(v):
        return [fmt(pct(v, p)) for p in (50, 90, 99)] + [fmt(v[-1]) if v else "n/a"]

    lines = ["| workload | backend | function | calls | p50 µs | p90 | p99 | max |",
             "|---|---|---|---|---|---|---|---|"]
    for w, bs in tr.items():
        for b in TRACED.get(w, bs):
            d = bs.get(b)
            if d and d["reps"]:
                lines.append(f"| {w} | {b} | `{d['notifier_fn']}` | {len(d['notifier'])} | "
                             + " | ".join(ps(d["notifier"])) + " |")
    wait = ["| workload | backend | publishing function | publications | waited "
            "| wait p50 µs | p90 | p99 | max | vmmu's own wait_ns (event): p50 / p99 / max µs |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for w, bs in tr.items():
        for b in TRACED.get(w, bs):
            d = bs.get(b)
            if not d or not d["publish"]:
                continue
            ev = d["event_wait"]
            evs = (f"{fmt(pct(ev, 50))} / {fmt(pct(ev, 99))} / {fmt(ev[-1])} (n={len(ev)})"
                   if ev else ("n/a (KVM has no such event)" if b == "kvm" else "none seen"))
            waited = sum(1 for x in d["wait"] if x > 0)
            wait.append(f"| {w} | {b} | `{d['publish_fn']}` | {len(d['wait'])} | {waited} | "
                        + " | ".join(ps(d["wait"])) + f" | {evs} |")
    srcu = ["| workload | backend | calls | p50 µs | p90 | p99 | max |",
            "|---|---|---|---|---|---|---|"]
    for w, bs in tr.items():
        for b in TRACED.get(w, bs):
            d = bs.get(b)
            if d and d["srcu"]:
                srcu.append(f"| {w} | {b} | {len(d['srcu'])} | " + " | ".join(ps(d["srcu"])) + " |")
    return lines, wait if len(wait) > 2 else [], srcu if len(srcu) > 2 else []


def plot_trace(tr, outdir, emulated):
    """trace_<workload>.svg/.png: histograms of the traced durations."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}")
    files = {}
    for w, bs in tr.items():
        order = [b for b in TRACED.get(w, list(bs)) if b in bs and bs[b]["reps"]]
        if not order:
            continue
        has_wait = any(bs[b]["publish"] for b in order)
        fig, axes = plt.subplots(1, 2 if has_wait else 1,
                                 figsize=(11 if has_wait else 8, 4.6), squeeze=False)
        panels = [("notifier", "time in invalidate_range_start, µs (log scale)",
                   "MMU notifier callback, per call")]
        if has_wait:
            panels.append(("wait", "wait for invalidations in flight, µs (log scale)",
                           "memslot publication: time waited (waits > 0)"))
        for ax, (key, xlabel, title) in zip(axes[0], panels):
            vals = {b: [x for x in bs[b][key] if x > 0] for b in order}
            allv = [x for v in vals.values() for x in v]
            if not allv:
                ax.text(0.5, 0.5, "no call waited" if key == "wait" else "no calls traced",
                        ha="center", va="center", transform=ax.transAxes, fontsize=11)
                ax.set_title(title)
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            lo, hi = min(allv), max(allv)
            # At least a decade, so that the log axis has labelled ticks.
            if hi / lo < 10:
                c = math.sqrt(lo * hi)
                lo, hi = min(lo, c / 3.3), max(hi, c * 3.3)
            edges = [lo * (hi / lo) ** (i / 30) for i in range(31)]
            edges[-1] *= 1.001
            for b in order:
                v, n = vals[b], len(bs[b][key])
                if not v:
                    ax.plot([], [], color=COLORS.get(b, "k"),
                            label=f"{b}: 0 of {n}" + (" waited" if key == "wait" else ""))
                    continue
                lab = (f"{b}: {len(v)} of {n} waited" if key == "wait" else
                       f"{b} (n={n}, p50 {fmt(pct(bs[b][key], 50))} µs)")
                ax.hist(v, bins=edges, weights=[1 / n] * len(v), histtype="step",
                        linewidth=1.8, color=COLORS.get(b, "k"), label=lab,
                        linestyle=STYLES.get(b, "-"))
            ax.set_xscale("log")
            if hi / lo < 300:
                ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(xlabel)
            ax.set_ylabel("fraction of calls" if key == "notifier" else "fraction of publications")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.set_ylim(0, ax.get_ylim()[1] * 1.35)	# room for the legend
            ax.legend(fontsize=9, loc="upper right")
        sub = "EMULATED (QEMU TCG): code-path ratios, not hardware times" if emulated \
            else "hardware run"
        reps = max(bs[b]["reps"] for b in order)
        fig.suptitle(f"{w}, traced phase: function_graph, {reps} "
                     f"repetition{'s' if reps > 1 else ''} per backend after the "
                     f"timed samples\n{sub}", fontsize=10)
        fig.tight_layout()
        for ext in ("svg", "png"):
            fig.savefig(os.path.join(outdir, f"trace_{w}.{ext}"), dpi=110)
        plt.close(fig)
        files[w] = f"trace_{w}.png"
    return files


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
        pu = r.get("per_update")
        if pu:
            # Every update, not the samples' medians: the tail is the point.
            data = [pu[b]["updates"] or [float("nan")] for b in order]
            cut = max(d["cutoff"] for d in pu.values())
        ax1.boxplot(data, labels=order, showfliers=False, widths=0.5,
                    medianprops={"color": "black", "linewidth": 2})
        rng = random.Random(1)
        for i, (b, v) in enumerate(zip(order, data), 1):
            xs = [i + rng.uniform(-0.15, 0.15) for _ in v]
            # Starved updates (at the cutoff) as crosses.
            cen = [pu is not None and x >= cut for x in v]
            for mark, keep in (("o", False), ("x", True)):
                sel = [(x, y) for x, y, c in zip(xs, v, cen) if c == keep]
                if sel:
                    ax1.scatter([x for x, _ in sel], [y for _, y in sel], s=14 if mark == "o" else 30,
                                alpha=0.7, color=COLORS.get(b, "k"), marker=mark, zorder=3)
        ax1.set_ylabel(r["metric"])
        ax1.yaxis.set_major_formatter(plain)
        ax1.set_title("updates, all samples (box: quartiles; x: starved)" if pu else
                      "samples (box: quartiles)")
        ax1.grid(axis="y", alpha=0.3)
        for b, v in zip(order, data):
            xs = sorted(v)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax2.step(xs, ys, where="post", label=f"{b} (n={len(xs)})",
                     color=COLORS.get(b, "k"), linewidth=1.8)
        if pu:
            for line in (ax1.axhline, ax2.axvline):
                line(cut, color="black", linestyle="--", linewidth=1,
                     label=f"cutoff {fmt(cut / 1000)} ms: starved (censored)")
        ax2.set_xlabel(r["metric"])
        ax2.xaxis.set_major_formatter(plain)
        ax2.set_ylabel("fraction of updates" if pu else "fraction of samples")
        ax2.set_title("ECDF")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="upper left" if pu else "lower right", fontsize=9)
        # Spread over decades (scheduler-tick waits): a log scale.
        lo = min(min(v) for v in data)
        hi = max(max(v) for v in data)
        if lo > 0 and hi / lo > 50:
            ax1.set_yscale("log")
            ax2.set_xscale("log")
            ax1.yaxis.set_major_formatter(plain)
            ax2.xaxis.set_major_formatter(plain)
            ax1.set_title(("updates, all samples" if pu else "samples")
                          + " (box: quartiles; log scale" + ("; x: starved)" if pu else ")"))
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
        if w not in wanted and MADE_BY.get(w) not in wanted:
            continue
        for b in bs:
            if not any(s["workload"] == w and s["backend"] == b and not s.get("warmup")
                       for s in samples):
                problems.append(f"no samples for {w} on {b}")
    tr = analyse_trace(recs)
    if config.get("trace_reps"):
        for w, bs in TRACED.items():
            if w not in wanted:
                continue
            for b in bs:
                d = tr.get(w, {}).get(b)
                if not d or not d["setup"]:
                    problems.append(f"no traced phase for {w} on {b}")
                elif d["setup"].get("tracer") == "function_graph" and not d["reps"]:
                    problems.append(f"the traced phase of {w} on {b} recorded nothing")

    res = analyse(samples, random.Random(20261123))
    tab = table(res, emulated)
    print("\n".join(tab))
    tr_cb, tr_wait, tr_srcu = trace_tables(tr)
    notes = trace_notes(tr)
    if tr:
        print("\nTraced phase (function_graph), time in the notifier callback:\n")
        print("\n".join(tr_cb))
        if tr_wait:
            print("\nMemslot publications, time waited for invalidations:\n")
            print("\n".join(tr_wait))
        if tr_srcu:
            print("\nsynchronize_srcu_expedited() of the memslot updates, per call:\n")
            print("\n".join(tr_srcu))
        for n in notes:
            print("NOTE: " + n)
    plots, tplots = {}, {}
    if not a.no_plots and res:
        plots = plot(res, outdir, emulated)
    if not a.no_plots and tr:
        tplots = plot_trace(tr, outdir, emulated)

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
            "(every invalidation takes the MMU lock); vmmu-bnd is vmmu with "
            "VMMU_VM_MEMSLOT_BOUNDED_WAIT (a memslot update waits only for the "
            "invalidations in flight when it asks to publish), and vmmu-bnd/vmmu "
            "compares it with the default (seed) policy.", ""]
    if problems:
        rep += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    rep += ["## Workloads", ""]
    for w, r in res.items():
        rep += [f"### {w}", "", f"Metric: {r['metric']} "
                f"({'higher' if r['higher'] else 'lower'} is better). "
                f"Compare with KVM's `{KEY_TESTS[w]}`.", ""]
        if w in plots:
            rep += [f"![{w}]({plots[w]})", "", f"[SVG]({w}.svg)", ""]
    if tr:
        rep += ["## Latency breakdown (ftrace)", "",
                "After the timed samples, the traced workloads ran "
                f"{config.get('trace_reps')} more repetitions per backend with the "
                "function_graph tracer on (their own figures are not in the tables above), "
                "each backend in a process of its own with only its VM, so that every "
                "callback traced is that VM's. Traced, on both backends: the MMU "
                "notifier's invalidate_range_start callback (KVM: "
                "`kvm_mmu_notifier_invalidate_range_start`, vmmu: "
                "`vmmu_mn_invalidate_range_start`), and the function that publishes a new "
                "memslot set once no invalidation is in flight (KVM: "
                "`kvm_swap_active_memslots`, vmmu: `vmmu_wait_and_publish_memslots`), "
                "whose wait is the time in `schedule()` called directly from it: only its "
                "wait loop calls it. KVM publishes twice for a delete or a move (the "
                "invalid slot, then the new set) and once for a create; vmmu once for each. "
                "For vmmu the `vmmu:vmmu_memslot_update` event's `wait_ns`, the module's own "
                "measure, is shown beside. Also traced: `synchronize_srcu_expedited`, the "
                "SRCU grace period each update waits for after publishing. Only these "
                "functions and `schedule` are in `set_ftrace_filter`: the durations do not "
                "include the cost of tracing what the functions call, but do include the "
                "tracer's entry and exit.", "",
                "Time in the notifier callback, per call:", ""] + tr_cb + [""]
        if tr_wait:
            rep += ["Memslot publications and their wait for invalidations in flight "
                    "(percentiles over all publications, those that did not wait "
                    "included):", ""] + tr_wait + [""]
        if tr_srcu:
            rep += ["The SRCU grace period every memslot update waits for after publishing "
                    "(`synchronize_srcu_expedited`, per call; KVM's two publications of a "
                    "delete or a move each call it):", ""] + tr_srcu + [""]
        if notes:
            rep += [f"- {n}" for n in notes] + [""]
        for w, f in tplots.items():
            rep += [f"![trace {w}]({f})", "", f"[SVG](trace_{w}.svg)", ""]
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(rep) + "\n")

    for p in problems:
        print("PROBLEM: " + p, file=sys.stderr)
    if check and problems:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
