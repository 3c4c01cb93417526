"""Charts of each figure across commits from the history, drawn by gnuplot (gnuplot-nox).

One chart per '<setup>/<scenario>.<figure>': the x axis is the runs in time order, labelled by
commit; each build target is a line of medians with min..max error bars; the floors measured in
the same runs (scenarios.FLOORS: plain TCP echo, obfuscated2 echo, plain TCP relay) are
dashed lines.
"""

import fnmatch
import os
import re
import shutil
import subprocess

from bench import scenarios as sc
from bench.history import commit_label, floors_of


def _safe(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _q(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(lines, out_dir, fmt="svg", pattern="*"):
    """Writes data files and one gnuplot script per figure; returns [(script, image)]."""
    if fmt not in ("svg", "png"):
        raise ValueError("format must be svg or png")
    os.makedirs(out_dir, exist_ok=True)
    runs = sorted({(ln["time"], ln["run_id"]) for ln in lines})
    run_index = {rid: i for i, (_, rid) in enumerate(runs)}
    labels = {}
    for ln in lines:
        if ln.get("kind") == "build":
            labels.setdefault(ln["run_id"], commit_label(ln))
    # key -> target -> [(x, median, min, max)]
    series = {}
    for ln in lines:
        if ln.get("kind") != "build":
            continue
        for fig, s in ln.get("figures", {}).items():
            key = f"{ln['setup']}/{ln['scenario']}.{fig}"
            if not fnmatch.fnmatchcase(key, pattern) or "median" not in s:
                continue
            series.setdefault(key, {}).setdefault(ln["target"], []).append(
                (run_index[ln["run_id"]], s["median"], s["min"], s["max"]))
    floors = {rid: floors_of(lines, rid) for _, rid in runs}
    out = []
    for key, targets in sorted(series.items()):
        setup, rest = key.split("/", 1)
        scenario, fig = rest.rsplit(".", 1)
        base = os.path.join(out_dir, _safe(key))
        plots = []
        for name, pts in sorted(targets.items()):
            dat = f"{base}.{_safe(name)}.dat"
            with open(dat, "w", encoding="utf-8") as f:
                for p in sorted(pts):
                    f.write("%d %.6g %.6g %.6g\n" % p)
            plots.append(f"{_q(dat)} using 1:2:3:4 with yerrorlines lw 2 title {_q(name)}")
        fdat = f"{base}.floors.dat"
        have_floor = False
        with open(fdat, "w", encoding="utf-8") as f:
            for _, rid in runs:
                fm = floors[rid].get((scenario, fig), {})
                if fm:
                    have_floor = True
                f.write(" ".join([str(run_index[rid])]
                                 + [str(fm.get(k, "?")) for k in sc.FLOORS]) + "\n")
        if have_floor:
            for col, title in enumerate(sc.FLOORS.values(), start=2):
                plots.append(f"{_q(fdat)} using 1:{col} with linespoints dt {col} pt {col - 1} "
                             f"lc rgb 'gray{20 * (col - 1)}' title '{title} floor'")
        image = f"{base}.{fmt}"
        xt = ", ".join(f"{_q(labels.get(rid, rid[:8]))} {run_index[rid]}" for _, rid in runs)
        term = ("set terminal svg size 960,480 dynamic background rgb 'white'" if fmt == "svg"
                else "set terminal pngcairo size 960,480" if _has_cairo() else
                "set terminal png size 960,480")
        script = "\n".join([
            term,
            f"set output {_q(image)}",
            "set datafile missing '?'",
            f"set title {_q(f'{setup} {scenario}: {fig} ({sc.FIGURES[fig][0]})')} noenhanced",
            f"set xtics ({xt}) rotate by -30 noenhanced",
            f"set xrange [-0.5:{max(len(runs) - 0.5, 0.5)}]",
            "set yrange [0:*]",
            "set grid ytics",
            "set key outside right noenhanced",
            "plot " + ", ".join(plots),
            "",
        ])
        sp = f"{base}.gp"
        with open(sp, "w", encoding="utf-8") as f:
            f.write(script)
        out.append((sp, image))
    return out


def _has_cairo():
    gp = shutil.which("gnuplot")
    if not gp:
        return False
    try:
        r = subprocess.run([gp, "-e", "set terminal"], capture_output=True, text=True,
                           timeout=10)
        return "pngcairo" in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False


def render(scripts):
    """Runs gnuplot on each script; returns the images written. RuntimeError without gnuplot."""
    gp = shutil.which("gnuplot")
    if not gp:
        raise RuntimeError("gnuplot is not installed (apt-get install gnuplot-nox; "
                           "tools/deps.sh installs it)")
    done = []
    for script, image in scripts:
        r = subprocess.run([gp, script], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"gnuplot {script}: {r.stderr.strip()[:500]}")
        done.append(image)
    return done
