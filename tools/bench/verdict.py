"""Comparing builds with noise in mind, and the thresholds file that sets the exit code.

For each figure, B is compared with the baseline A through the ratio of medians
median(B) / median(A) and its seeded bootstrap confidence interval (stats.py). For a
lower-is-better figure with an allowed ratio `max_ratio`:
  regression   the whole interval lies above max_ratio (B is worse than allowed, beyond noise)
  better       the whole interval lies below 1 / max_ratio
  same         otherwise (the difference is within the allowed band or within the noise)
A higher-is-better figure is judged on A / B the same way. The thresholds file can also cap a
build's ratio to a floor measured in the same run (`max_floor_ratio`, judged on medians).

Thresholds file (JSON):
  {
    "confidence": 0.95,                       # of the bootstrap interval
    "default": {"max_ratio": 1.05},           # for every primary figure
    "figures": {                              # fnmatch patterns on "<setup>/<scenario>.<figure>"
      "*/pingpong.rtt_p99_us": {"max_ratio": 1.25},
      "*/bulk.MBps": {"max_ratio": 1.10},     # informational figures are gated only if named
      "me-1shard-io_uring/bulk.cpu_s_per_GB": {"max_floor_ratio": 1.9, "floor": "obfs2"}
    }
  }
Exit code: 1 if any gated figure is a regression, has no samples on one side (a failed
build must not pass) or is over its floor cap, else 0.
"""

import fnmatch
import json

from bench import scenarios as sc
from bench import stats

DEFAULT_THRESHOLDS = {"confidence": 0.95, "default": {"max_ratio": 1.05}, "figures": {}}


def load_thresholds(path):
    """The thresholds file merged over the defaults; ValueError on a malformed file."""
    t = json.loads(json.dumps(DEFAULT_THRESHOLDS))
    if not path:
        return t
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    unknown = set(data) - {"confidence", "default", "figures", "comment"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    if "confidence" in data:
        c = float(data["confidence"])
        if not 0.5 <= c < 1.0:
            raise ValueError(f"{path}: confidence must be in [0.5, 1)")
        t["confidence"] = c
    if "default" in data:
        t["default"].update(_rule(data["default"], path))
    for pattern, rule in (data.get("figures") or {}).items():
        t["figures"][pattern] = _rule(rule, path)
    return t


def _rule(rule, path):
    if not isinstance(rule, dict):
        raise ValueError(f"{path}: a rule must be an object")
    unknown = set(rule) - {"max_ratio", "max_floor_ratio", "floor", "gate"}
    if unknown:
        raise ValueError(f"{path}: unknown rule keys {sorted(unknown)}")
    for k in ("max_ratio", "max_floor_ratio"):
        if k in rule and float(rule[k]) <= 0:
            raise ValueError(f"{path}: {k} must be positive")
    if "floor" in rule and rule["floor"] not in sc.FLOORS:
        raise ValueError(f"{path}: floor must be one of {', '.join(sc.FLOORS)}")
    return dict(rule)


def rule_for(thresholds, key):
    """The rule for figure key '<setup>/<scenario>.<figure>': the last matching pattern over
    the default (the default applies to primary figures only). None: not gated."""
    figure = key.rsplit(".", 1)[-1]
    rule = None
    if sc.FIGURES.get(figure, ("", False))[1]:
        rule = dict(thresholds["default"])
    for pattern, r in thresholds["figures"].items():
        if fnmatch.fnmatchcase(key, pattern):
            rule = dict(rule or {})
            rule.update(r)
    if rule is not None and rule.get("gate") is False:
        return None
    return rule


def compare(key, a_samples, b_samples, rule, confidence=0.95, seed=1):
    """The verdict on one figure: a dict with ratio, ci, verdict and the rule used."""
    figure = key.rsplit(".", 1)[-1]
    out = {"figure": key, "a": stats.summarize(a_samples), "b": stats.summarize(b_samples)}
    if not a_samples or not b_samples:
        out.update(verdict="missing", gated=rule is not None)
        return out
    ratio, lo, hi = stats.bootstrap_ratio_ci(a_samples, b_samples, confidence, seed=seed)
    out.update(ratio=ratio, ci=[lo, hi], confidence=confidence)
    # "worse" is measured on the ratio oriented so that > 1 is worse.
    if sc.lower_is_better(figure):
        w_lo, w_hi = lo, hi
    else:
        w_lo, w_hi = (1.0 / hi if hi else float("inf")), (1.0 / lo if lo else float("inf"))
    max_ratio = (rule or {}).get("max_ratio", DEFAULT_THRESHOLDS["default"]["max_ratio"])
    if w_lo > max_ratio:
        verdict = "regression"
    elif w_hi < 1.0 / max_ratio:
        verdict = "better"
    else:
        verdict = "same"
    out.update(verdict=verdict, max_ratio=max_ratio, gated=rule is not None)
    return out


def floor_check(key, b_median, floor_medians, rule):
    """The cap on a build's median over a floor's median; None when the rule has none."""
    if not rule or "max_floor_ratio" not in rule:
        return None
    floor = rule.get("floor", "obfs2")
    f = floor_medians.get(floor)
    if f is None or f == 0 or b_median is None:
        return {"figure": key, "floor": floor, "verdict": "missing"}
    r = b_median / f
    over = r > rule["max_floor_ratio"] if sc.lower_is_better(key.rsplit(".", 1)[-1]) \
        else r < rule["max_floor_ratio"]
    return {"figure": key, "floor": floor, "floor_ratio": r, "max_floor_ratio":
            rule["max_floor_ratio"], "verdict": "over_floor_cap" if over else "ok"}


def exit_code(verdicts):
    """1 if a gated figure regressed, has no samples (a build failed) or broke its floor cap,
    else 0."""
    for v in verdicts:
        if v.get("verdict") == "over_floor_cap":
            return 1
        if v.get("gated") and v.get("verdict") in ("regression", "missing"):
            return 1
    return 0
