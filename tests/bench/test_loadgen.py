"""Parsing of mtp-loadgen's JSON line into figures, and the argv built per scenario."""
import json
import unittest

import benchpath  # noqa: F401
from bench import loadgen, scenarios

THROUGHPUT = {
    "mode": "throughput", "connections": 8, "up_MBps": 100.0, "down_MBps": 99.0,
    "rtt_us": {"count": 10, "p50": 800.0, "p99": 2000.0}, "handshakes": 0, "errors": 0,
    "error_kinds": {}, "proxy": {"pids": [12], "cpu_s": 1.5, "cpu_s_per_GB": 1.43,
                                 "rss_kb_before": 6000, "rss_kb_after": 9000},
    "ok": True}


class LoadgenParseTest(unittest.TestCase):
    def test_last_json_line_wins_over_logs(self):
        text = "mtp-loadgen: warming up\n" + json.dumps(THROUGHPUT) + "\n"
        self.assertEqual(loadgen.parse_line(text)["mode"], "throughput")

    def test_no_json_or_bad_json(self):
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.parse_line("nothing here\n")
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.parse_line('{"mode": "throughput", \n')

    def test_throughput_figures(self):
        f = loadgen.figures(THROUGHPUT)
        self.assertEqual(f["cpu_s_per_GB"], 1.43)
        self.assertEqual(f["MBps"], 199.0)

    def test_latency_figures(self):
        obj = {"mode": "latency", "rtt_us": {"count": 5000, "p50": 135.5, "p99": 211.0}}
        self.assertEqual(loadgen.figures(obj), {"rtt_p50_us": 135.5, "rtt_p99_us": 211.0})
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.figures({"mode": "latency", "rtt_us": {"count": 0}})

    def test_churn_figures(self):
        obj = {"mode": "churn", "handshakes": 20000, "handshakes_per_s": 6666.7,
               "proxy": {"cpu_s": 1.16}}
        f = loadgen.figures(obj)
        self.assertAlmostEqual(f["cpu_ms_per_handshake"], 0.058)
        self.assertAlmostEqual(f["handshakes_per_s"], 6666.7)
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.figures({"mode": "churn", "handshakes": 0, "proxy": {"cpu_s": 1}})

    def test_idle_figure_is_rss_growth_per_connection(self):
        obj = {"mode": "idle", "established": 10000, "proxy_rss_kb_established": 19000,
               "proxy": {"cpu_s": 0.5, "rss_kb_before": 6000}}
        self.assertAlmostEqual(loadgen.figures(obj)["rss_kb_per_conn"], 1.3)

    def test_zero_cpu_is_below_resolution_not_free(self):
        obj = dict(THROUGHPUT, proxy=dict(THROUGHPUT["proxy"], cpu_s=0, cpu_s_per_GB=0))
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.figures(obj)

    def test_missing_proxy_sample(self):
        obj = dict(THROUGHPUT)
        del obj["proxy"]
        with self.assertRaises(loadgen.LoadgenError):
            loadgen.figures(obj)

    def test_problems(self):
        self.assertEqual(loadgen.problems(THROUGHPUT), "")
        bad = dict(THROUGHPUT, ok=False, errors=3, error_kinds={"closed": 3},
                   error_sample="peer closed")
        text = loadgen.problems(bad)
        self.assertIn("closed=3", text)
        self.assertIn("peer closed", text)

    def test_argv_throughput(self):
        argv = loadgen.argv("lg", "bulk", "127.0.0.1:5", ["--secret", "ab" * 16], [1], [42, 43],
                            3, 1)
        self.assertEqual(argv[0], "lg")
        joined = " ".join(argv)
        self.assertIn("--mode throughput", joined)
        self.assertIn("--connections 8", joined)
        self.assertIn("--size 65536", joined)
        self.assertIn("--window 4", joined)
        self.assertIn("--cpu 1 --threads 1", joined)
        self.assertIn("--proxy-pid 42,43", joined)
        self.assertIn("--duration 3", joined)

    def test_argv_idle_uses_the_connection_parameter(self):
        argv = loadgen.argv("lg", "idle", "127.0.0.1:5", ["--plain"], [2, 3], [9], 3, 1,
                            idle_connections=500, idle_hold=1.5)
        joined = " ".join(argv)
        self.assertIn("--connections 500", joined)
        self.assertIn("--threads 2", joined)
        self.assertIn("--hold-seconds 1.5", joined)
        self.assertNotIn("--duration", joined)

    def test_every_scenario_has_figures(self):
        for name in scenarios.SCENARIOS:
            for fig in scenarios.figures_of(name):
                self.assertIn(fig, scenarios.FIGURES)
        self.assertEqual(scenarios.parse_list("bulk,idle", scenarios.SCENARIOS, "scenario"),
                         ["bulk", "idle"])
        with self.assertRaises(ValueError):
            scenarios.parse_list("bulk,nope", scenarios.SCENARIOS, "scenario")


if __name__ == "__main__":
    unittest.main()
