"""One short run of mtp-bench through the real binaries on loopback: floors and this tree's
proxy in ME mode, one round, tiny durations. Proves the pipeline (peers, pinning, loadgen,
parsing, history, report) end to end; no figure's value is asserted."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import benchpath

BUILD = os.environ.get("MTP_BUILD_ROOT") or os.path.join(benchpath.SOURCE_ROOT, "build")
BENCH = os.path.join(benchpath.TOOLS, "mtp-bench")


@unittest.skipUnless(os.access(os.path.join(BUILD, "control", "mtproto-proxy"), os.X_OK),
                     "no built proxy (set MTP_BUILD_ROOT)")
class SmokeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-smoke-")
        self.history = os.path.join(self.dir, "h.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def bench(self, *args, timeout=120):
        return subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, MTP_BUILD_ROOT=BUILD), cwd=self.dir)

    def test_run_report_on_loopback(self):
        r = self.bench("run", "--scenarios", "mid,pingpong,idle", "--rounds", "1",
                       "--duration", "1", "--warmup", "0.3", "--idle-connections", "100",
                       "--idle-hold", "0.2", "--history", self.history)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(self.history) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual(len(lines), 12, r.stderr[-2000:])  # (3 floors + 1 build) x 3 scenarios
        targets = {(ln["target"], ln["scenario"]) for ln in lines}
        for t in ("floor-plain", "floor-obfs2", "floor-relay", "A"):
            for s in ("mid", "pingpong", "idle"):
                self.assertIn((t, s), targets)
        build = {ln["scenario"]: ln for ln in lines if ln["target"] == "A"}
        mid = build["mid"]
        self.assertEqual(mid["setup"], "me-1shard-io_uring")
        self.assertEqual((mid["mode"], mid["shards"], mid["backend"]), ("me", 1, "io_uring"))
        self.assertRegex(mid["commit"] or "", r"^[0-9a-f]{40}$")
        self.assertIn(mid["commit_source"], ("version", "git"))
        self.assertIn("cpu_model", mid["host"])
        self.assertIn("kernel", mid["host"])
        self.assertIsInstance(mid["host"]["cpu_flags"], list)
        self.assertEqual(mid["params"]["connections"], 16)
        self.assertIn("proxy_cpus", mid["pinning"])
        self.assertEqual(mid["figures"]["cpu_s_per_GB"]["n"], 1)
        self.assertIn("plain", mid["floor_ratios"]["cpu_s_per_GB"])
        self.assertIn("obfs2", mid["floor_ratios"]["cpu_s_per_GB"])
        self.assertIn("relay", mid["floor_ratios"]["cpu_s_per_GB"])
        self.assertIn("rtt_p99_us", build["pingpong"]["figures"])
        self.assertIn("rss_kb_per_conn", build["idle"]["figures"])
        self.assertEqual(build["idle"]["params"]["connections"], 100)
        self.assertIn("| A | me-1shard-io_uring | mid | cpu_s_per_GB |", r.stdout)

        rep = self.bench("report", mid["commit"][:12], mid["commit"][:12], "--history",
                         self.history)
        self.assertEqual(rep.returncode, 0, rep.stderr)
        self.assertIn("| me-1shard-io_uring | mid | cpu_s_per_GB", rep.stdout)
        self.assertIn("1.000", rep.stdout)  # A against itself

    def test_usage_errors(self):
        for args in (["run", "--scenarios", "nope"], ["run", "--build", "x=/p {nope}"],
                     ["run", "--modes", "quic"], ["report", "abcd", "ef01", "--history",
                                                  os.path.join(self.dir, "none.jsonl")]):
            r = self.bench(*args, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))


if __name__ == "__main__":
    unittest.main()
