"""History (JSONL), the markdown report and the gnuplot charts on synthetic results."""
import json
import os
import shutil
import tempfile
import unittest

import benchpath  # noqa: F401
from bench import history, plot, stats

C1 = "1" * 40
C2 = "2" * 40


def line(run_id, time, target, commit, scenario, figure, samples, kind="build", floor=None):
    med = stats.median(samples)
    ln = {"schema": history.SCHEMA, "run_id": run_id, "time": time, "target": target,
          "kind": kind, "scenario": scenario, "commit": commit, "commit_source": "version",
          "dirty": False, "build_type": "release", "host": {"cpu_model": "Test CPU",
                                                            "kernel": "6.1"},
          "pinning": {"proxy_cpus": [0], "load_cpus": [1]},
          "figures": {figure: {"median": med, "min": min(samples), "max": max(samples),
                               "n": len(samples), "spread": 0.1, "samples": samples}}}
    if kind == "floor":
        ln.update(setup="floor", floor=floor)
    else:
        ln.update(setup="me-1shard-io_uring")
    return ln


def synthetic():
    return [
        line("r1", "2024-01-01T00:00:00", "floor-plain", C1, "bulk", "cpu_s_per_GB",
             [0.12, 0.13], "floor", "plain"),
        line("r1", "2024-01-01T00:00:00", "floor-obfs2", C1, "bulk", "cpu_s_per_GB",
             [0.27, 0.28], "floor", "obfs2"),
        line("r1", "2024-01-01T00:00:00", "A", C1, "bulk", "cpu_s_per_GB", [1.40, 1.45, 1.43]),
        line("r2", "2024-01-02T00:00:00", "floor-plain", C2, "bulk", "cpu_s_per_GB",
             [0.12, 0.12], "floor", "plain"),
        line("r2", "2024-01-02T00:00:00", "floor-obfs2", C2, "bulk", "cpu_s_per_GB",
             [0.27, 0.27], "floor", "obfs2"),
        line("r2", "2024-01-02T00:00:00", "floor-relay", C2, "bulk", "cpu_s_per_GB",
             [0.25, 0.25], "floor", "relay"),
        line("r2", "2024-01-02T00:00:00", "A", C2, "bulk", "cpu_s_per_GB", [1.00, 1.02, 0.98]),
    ]


class HistoryTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-history-test-")
        self.path = os.path.join(self.dir, "h.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_append_and_load_skip_foreign_lines(self):
        history.append(self.path, synthetic()[:3])
        with open(self.path, "a") as f:
            f.write("not json\n" + json.dumps({"schema": "other"}) + "\n\n")
        history.append(self.path, synthetic()[3:])
        lines = history.load(self.path)
        self.assertEqual(len(lines), 7)
        with open(self.path) as f:
            self.assertEqual(sum(1 for _ in f), 10)
        self.assertEqual(history.load(os.path.join(self.dir, "missing.jsonl")), [])

    def test_select_by_commit_prefix_target_and_run(self):
        lines = synthetic()
        self.assertEqual([ln["run_id"] for ln in history.select(lines, C2[:7])], ["r2"])
        self.assertEqual(history.select(lines, "abc"), [])   # too short to be a prefix
        self.assertEqual(len(history.select(lines, "A")), 1)  # latest run of target A
        self.assertEqual(history.select(lines, "r1")[0]["commit"], C1)

    def test_report_compares_and_shows_floors(self):
        text = history.report(synthetic(), C1[:8], C2[:8])
        self.assertIn(f"# mtp-bench: {C2[:10]} vs {C1[:10]}", text)
        row = [ln for ln in text.splitlines() if ln.startswith("| me-1shard-io_uring | bulk")]
        self.assertEqual(len(row), 1)
        cells = [c.strip() for c in row[0].split("|")]
        self.assertTrue(cells[4].startswith("1.43"))
        self.assertTrue(cells[5].startswith("1.00"))
        self.assertAlmostEqual(float(cells[6]), 1.0 / 1.43, places=2)
        self.assertEqual(cells[8], f"{1.0 / 0.12:.2f}x")   # B's run: floors 0.12 and 0.27
        self.assertEqual(cells[9], f"{1.0 / 0.27:.2f}x")
        self.assertEqual(cells[10], f"{1.0 / 0.25:.2f}x")  # the relay floor
        self.assertIn("Floors in B's run", text)
        self.assertIn("| bulk | cpu_s_per_GB | 0.12 | 0.27 | 0.25 |", text)
        with self.assertRaises(ValueError):
            history.report(synthetic(), "ffff", C2[:8])

    def test_plot_scripts_and_images(self):
        out = os.path.join(self.dir, "plots")
        scripts = plot.prepare(synthetic(), out, "svg")
        self.assertEqual(len(scripts), 1)
        script, image = scripts[0]
        with open(script) as f:
            gp = f.read()
        self.assertIn("yerrorlines", gp)
        self.assertIn("plain TCP echo floor", gp)
        self.assertIn(f'"{C1[:10]}" 0', gp)
        self.assertIn(f'"{C2[:10]}" 1', gp)
        floors = script.replace(".gp", ".floors.dat")
        with open(floors) as f:
            rows = f.read().split("\n")
        self.assertEqual(rows[0], "0 0.125 0.275 ?")  # run 1 had no relay floor
        self.assertEqual(rows[1], "1 0.12 0.27 0.25")
        self.assertIn("plain TCP relay floor", gp)
        self.assertEqual(plot.prepare(synthetic(), out, "svg", "*/small.*"), [])
        if shutil.which("gnuplot"):
            images = plot.render(scripts)
            with open(images[0]) as f:
                self.assertIn("<svg", f.read())


if __name__ == "__main__":
    unittest.main()
