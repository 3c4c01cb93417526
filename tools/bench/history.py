"""The JSONL history of results and the markdown report comparing two commits.

Each line is one result (runner.py): a target (build or floor) x setup x scenario with its
figures' medians, spread and samples, its ratios to the floors, and where and how it was
measured. Lines of other schemas, or broken lines, are skipped when reading.
"""

import json
import os

from bench import scenarios as sc
from bench import stats

SCHEMA = "mtp-bench/1"


def append(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")


def load(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for raw in f:
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and obj.get("schema") == SCHEMA:
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


def commit_label(line):
    c = line.get("commit") or "unknown"
    short = c[:10] if c != "unknown" else c
    return short + ("-dirty" if line.get("dirty") else "")


def matches_commit(line, ref):
    """ref is a commit prefix (optionally with -dirty), a target name, or a run id."""
    c = line.get("commit") or ""
    dirty = bool(line.get("dirty"))
    if ref.endswith("-dirty"):
        return dirty and c.startswith(ref[:-6]) and len(ref) > 10
    return (len(ref) >= 4 and c.startswith(ref)) or line.get("target") == ref or \
        line.get("run_id") == ref


def select(lines, ref):
    """The build lines of `ref`, taken from the latest run that has it."""
    hits = [ln for ln in lines if ln.get("kind") == "build" and matches_commit(ln, ref)]
    if not hits:
        return []
    last = max(ln["run_id"] for ln in hits)
    return [ln for ln in hits if ln["run_id"] == last]


def floors_of(lines, run_id):
    """{(scenario, figure): {floor: median}} of one run."""
    out = {}
    for ln in lines:
        if ln.get("kind") == "floor" and ln.get("run_id") == run_id:
            for fig, s in ln.get("figures", {}).items():
                if "median" in s:
                    out.setdefault((ln["scenario"], fig), {})[ln["floor"]] = s["median"]
    return out


def _fmt(x):
    if x is None:
        return "–"
    ax = abs(x)
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def report(lines, ref_a, ref_b, confidence=0.95, seed=1):
    """Markdown comparing ref_b with ref_a (latest run of each)."""
    a_lines, b_lines = select(lines, ref_a), select(lines, ref_b)
    if not a_lines:
        raise ValueError(f"no results for {ref_a!r} in the history")
    if not b_lines:
        raise ValueError(f"no results for {ref_b!r} in the history")
    a0, b0 = a_lines[0], b_lines[0]
    out = [f"# mtp-bench: {commit_label(b0)} vs {commit_label(a0)}", ""]
    for label, ln in (("A", a0), ("B", b0)):
        host = ln.get("host", {})
        out.append(f"- {label}: `{ln.get('target')}` commit {commit_label(ln)} "
                   f"({ln.get('commit_source')}), {ln.get('build_type')}, run {ln['run_id']}, "
                   f"{host.get('cpu_model')}, kernel {host.get('kernel')}, proxy CPUs "
                   f"{ln.get('pinning', {}).get('proxy_cpus')}, load CPUs "
                   f"{ln.get('pinning', {}).get('load_cpus')}")
    out += ["", "Medians of interleaved rounds (min–max); B/A with its "
            f"{int(confidence * 100)} % bootstrap interval; floors from B's run.", "",
            "| setup | scenario | figure | A | B | B/A | interval | "
            + " | ".join(f"B / {f}" for f in sc.FLOORS) + " |",
            "|---|---|---|---|---|---|---|" + "---|" * len(sc.FLOORS)]
    floors = floors_of(lines, b0["run_id"])
    a_by = {(ln["setup"], ln["scenario"]): ln for ln in a_lines}
    for b in sorted(b_lines, key=lambda ln: (ln["setup"], list(sc.SCENARIOS).index(
            ln["scenario"]) if ln["scenario"] in sc.SCENARIOS else 99)):
        a = a_by.get((b["setup"], b["scenario"]))
        for fig in sc.figures_of(b["scenario"]):
            bs = b.get("figures", {}).get(fig)
            as_ = (a or {}).get("figures", {}).get(fig)
            if not bs and not as_:
                continue
            unit = sc.FIGURES[fig][0]
            cell_a = f"{_fmt(as_['median'])} ({_fmt(as_['min'])}–{_fmt(as_['max'])})" \
                if as_ else "–"
            cell_b = f"{_fmt(bs['median'])} ({_fmt(bs['min'])}–{_fmt(bs['max'])})" \
                if bs else "–"
            ratio = interval = "–"
            if as_ and bs and as_.get("samples") and bs.get("samples") and as_["median"]:
                r, lo, hi = stats.bootstrap_ratio_ci(as_["samples"], bs["samples"],
                                                     confidence, seed=seed)
                ratio, interval = f"{r:.3f}", f"{lo:.3f}–{hi:.3f}"
            fm = floors.get((b["scenario"], fig), {})
            fl = [(f"{bs['median'] / fm[k]:.2f}x" if bs and fm.get(k) else "–")
                  for k in sc.FLOORS]
            out.append(f"| {b['setup']} | {b['scenario']} | {fig} ({unit}) | {cell_a} | "
                       f"{cell_b} | {ratio} | {interval} | " + " | ".join(fl) + " |")
    if floors:
        out += ["", "Floors in B's run (no proxy in the path):", "",
                "| scenario | figure | " + " | ".join(sc.FLOORS.values()) + " |",
                "|---|---|" + "---|" * len(sc.FLOORS)]
        for (scen, fig), fm in sorted(floors.items()):
            out.append(f"| {scen} | {fig} | "
                       + " | ".join(_fmt(fm.get(f)) for f in sc.FLOORS) + " |")
    return "\n".join(out) + "\n"
