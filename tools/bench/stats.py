"""Robust summaries for a handful of benchmark rounds.

Rounds are few (2-10) and noisy on a shared machine, so figures are medians with their
min..max spread, and a comparison is the ratio of medians with a percentile bootstrap
confidence interval. The bootstrap uses its own seeded generator so the same samples always
give the same interval (a CI gate must not flap on the random stream).
"""

import math
import random


def median(values):
    """The median of a non-empty sequence of numbers."""
    xs = sorted(values)
    if not xs:
        raise ValueError("median of no values")
    mid = len(xs) // 2
    if len(xs) % 2:
        return float(xs[mid])
    return (xs[mid - 1] + xs[mid]) / 2.0


def summarize(values):
    """median, min, max, n and the relative spread (max - min) / median of the samples."""
    xs = [float(v) for v in values]
    if not xs:
        return {"n": 0}
    med = median(xs)
    lo, hi = min(xs), max(xs)
    return {
        "n": len(xs),
        "median": med,
        "min": lo,
        "max": hi,
        "spread": (hi - lo) / med if med else 0.0,
    }


def percentile(sorted_values, q):
    """Linear-interpolated percentile, q in [0, 1], of an already sorted list."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac


def bootstrap_ratio_ci(a, b, confidence=0.95, iterations=4000, seed=1):
    """Ratio median(b) / median(a) and its bootstrap confidence interval.

    a and b are resampled independently with replacement; the interval is the central
    `confidence` share of the resampled ratios. Returns (ratio, low, high).
    """
    a = [float(x) for x in a]
    b = [float(x) for x in b]
    if not a or not b:
        raise ValueError("bootstrap needs samples on both sides")
    if median(a) == 0:
        raise ValueError("baseline median is zero")
    ratio = median(b) / median(a)
    rng = random.Random(seed)
    ratios = []
    for _ in range(iterations):
        ra = median([a[rng.randrange(len(a))] for _ in a])
        rb = median([b[rng.randrange(len(b))] for _ in b])
        if ra != 0:
            ratios.append(rb / ra)
    ratios.sort()
    tail = (1.0 - confidence) / 2.0
    return ratio, percentile(ratios, tail), percentile(ratios, 1.0 - tail)
