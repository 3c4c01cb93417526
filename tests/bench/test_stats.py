"""Statistics of the harness: median, spread, seeded bootstrap CI of a ratio."""
import unittest

import benchpath  # noqa: F401
from bench import stats


class StatsTest(unittest.TestCase):
    def test_median(self):
        self.assertEqual(stats.median([3, 1, 2]), 2.0)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(stats.median([7]), 7.0)
        with self.assertRaises(ValueError):
            stats.median([])

    def test_summarize(self):
        s = stats.summarize([1.0, 2.0, 4.0])
        self.assertEqual(s["n"], 3)
        self.assertEqual(s["median"], 2.0)
        self.assertEqual((s["min"], s["max"]), (1.0, 4.0))
        self.assertAlmostEqual(s["spread"], 1.5)
        self.assertEqual(stats.summarize([]), {"n": 0})

    def test_percentile_interpolates(self):
        xs = [0.0, 10.0, 20.0, 30.0]
        self.assertEqual(stats.percentile(xs, 0.0), 0.0)
        self.assertEqual(stats.percentile(xs, 1.0), 30.0)
        self.assertAlmostEqual(stats.percentile(xs, 0.5), 15.0)

    def test_bootstrap_is_seeded_and_brackets_the_ratio(self):
        a = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03]
        b = [1.20, 1.22, 1.18, 1.21, 1.19, 1.24]
        r1 = stats.bootstrap_ratio_ci(a, b, seed=7)
        r2 = stats.bootstrap_ratio_ci(a, b, seed=7)
        self.assertEqual(r1, r2)
        ratio, lo, hi = r1
        self.assertAlmostEqual(ratio, stats.median(b) / stats.median(a))
        self.assertLessEqual(lo, ratio)
        self.assertGreaterEqual(hi, ratio)
        self.assertGreater(lo, 1.1)   # clearly separated samples: the interval excludes 1
        self.assertLess(hi, 1.3)

    def test_bootstrap_noisy_samples_give_a_wide_interval(self):
        a = [1.0, 1.5, 0.7, 1.3]
        b = [1.1, 0.8, 1.6, 1.0]
        _, lo, hi = stats.bootstrap_ratio_ci(a, b)
        self.assertLess(lo, 1.0)
        self.assertGreater(hi, 1.0)

    def test_bootstrap_rejects_empty_and_zero(self):
        with self.assertRaises(ValueError):
            stats.bootstrap_ratio_ci([], [1.0])
        with self.assertRaises(ValueError):
            stats.bootstrap_ratio_ci([0.0, 0.0], [1.0])


if __name__ == "__main__":
    unittest.main()
