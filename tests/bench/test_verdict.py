"""The compare verdict and the thresholds file on synthetic samples."""
import json
import os
import tempfile
import unittest

import benchpath  # noqa: F401
from bench import verdict

A = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00]


def scaled(xs, k):
    return [x * k for x in xs]


class VerdictTest(unittest.TestCase):
    def setUp(self):
        self.t = verdict.load_thresholds(None)

    def judge(self, key, a, b, thresholds=None):
        t = thresholds or self.t
        return verdict.compare(key, a, b, verdict.rule_for(t, key), t["confidence"])

    def test_clear_regression_fails_the_gate(self):
        v = self.judge("me/bulk.cpu_s_per_GB", A, scaled(A, 1.25))
        self.assertEqual(v["verdict"], "regression")
        self.assertAlmostEqual(v["ratio"], 1.25, places=2)
        self.assertTrue(v["gated"])
        self.assertEqual(verdict.exit_code([v]), 1)

    def test_improvement_and_noise(self):
        self.assertEqual(self.judge("me/bulk.cpu_s_per_GB", A, scaled(A, 0.8))["verdict"],
                         "better")
        noisy_b = [0.9, 1.15, 1.0, 1.1, 0.95, 1.05]
        v = self.judge("me/bulk.cpu_s_per_GB", A, noisy_b)
        self.assertEqual(v["verdict"], "same")
        self.assertEqual(verdict.exit_code([v]), 0)

    def test_higher_is_better_figures_are_inverted(self):
        t = verdict.load_thresholds(None)
        t["figures"]["*.MBps"] = {"max_ratio": 1.05}
        v = self.judge("me/bulk.MBps", A, scaled(A, 0.7), t)   # throughput fell
        self.assertEqual(v["verdict"], "regression")
        v = self.judge("me/bulk.MBps", A, scaled(A, 1.3), t)
        self.assertEqual(v["verdict"], "better")

    def test_informational_figures_are_not_gated_by_default(self):
        v = self.judge("me/bulk.MBps", A, scaled(A, 0.5))
        self.assertFalse(v["gated"])
        self.assertEqual(verdict.exit_code([v]), 0)

    def test_thresholds_file_patterns_and_loose_band(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.json")
            with open(path, "w") as f:
                json.dump({"confidence": 0.9, "default": {"max_ratio": 1.5},
                           "figures": {"*/pingpong.*": {"gate": False},
                                       "me/bulk.cpu_s_per_GB": {"max_ratio": 1.1}}}, f)
            t = verdict.load_thresholds(path)
        self.assertEqual(t["confidence"], 0.9)
        # 25 % worse: within the loose default band, a regression under the tight rule.
        self.assertEqual(self.judge("me/small.cpu_s_per_GB", A, scaled(A, 1.25), t)["verdict"],
                         "same")
        self.assertEqual(self.judge("me/bulk.cpu_s_per_GB", A, scaled(A, 1.25), t)["verdict"],
                         "regression")
        v = self.judge("me/pingpong.rtt_p99_us", A, scaled(A, 3), t)
        self.assertFalse(v["gated"])
        self.assertEqual(verdict.exit_code([v]), 0)

    def test_malformed_thresholds(self):
        with tempfile.TemporaryDirectory() as d:
            for bad in ({"nope": 1}, {"default": {"max_ratio": -1}}, {"confidence": 2},
                        {"figures": {"x": {"floor": "tcp"}}}, [1, 2]):
                path = os.path.join(d, "t.json")
                with open(path, "w") as f:
                    json.dump(bad, f)
                with self.assertRaises(ValueError, msg=str(bad)):
                    verdict.load_thresholds(path)

    def test_floor_cap(self):
        rule = {"max_floor_ratio": 1.9, "floor": "obfs2"}
        ok = verdict.floor_check("me/bulk.cpu_s_per_GB", 0.5, {"obfs2": 0.27}, rule)
        self.assertEqual(ok["verdict"], "ok")
        over = verdict.floor_check("me/bulk.cpu_s_per_GB", 1.43, {"obfs2": 0.27}, rule)
        self.assertEqual(over["verdict"], "over_floor_cap")
        self.assertAlmostEqual(over["floor_ratio"], 1.43 / 0.27)
        self.assertEqual(verdict.exit_code([over]), 1)
        self.assertIsNone(verdict.floor_check("k.cpu_s_per_GB", 1, {}, {"max_ratio": 1}))
        relay = verdict.floor_check("me/small.cpu_s_per_GB", 3.0, {"plain": 1.5, "relay": 2.5},
                                    {"max_floor_ratio": 1.3, "floor": "relay"})
        self.assertEqual(relay["verdict"], "ok")
        self.assertAlmostEqual(relay["floor_ratio"], 1.2)

    def test_missing_samples(self):
        v = self.judge("me/bulk.cpu_s_per_GB", A, [])
        self.assertEqual(v["verdict"], "missing")
        self.assertEqual(verdict.exit_code([v]), 1)  # a build that failed does not pass


if __name__ == "__main__":
    unittest.main()
