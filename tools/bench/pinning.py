"""CPU sets for the proxy and for the load, planned from the affinity mask.

Never hard-coded CPU numbers: the harness takes the CPUs it may run on
(os.sched_getaffinity), gives the first half (at least one) to the proxy's shards and the
rest to the load generator and the fake peers. With one CPU everything shares it (the plan
says so). The N-shard setups use as many shards as the proxy set has CPUs, and at least 2: on
a 2-CPU machine the 2 shards share the proxy's one CPU (sharding overhead, not scaling).
"""

import os


def available_cpus():
    return sorted(os.sched_getaffinity(0))


def plan(cpus, proxy_cpus=None):
    """{'proxy': [...], 'load': [...], 'note': str} for the given CPU list.

    proxy_cpus (an int) overrides the size of the proxy set.
    """
    cpus = sorted(cpus)
    if not cpus:
        raise ValueError("no CPUs in the affinity mask")
    if len(cpus) == 1:
        return {"proxy": cpus, "load": cpus,
                "note": "one CPU: the proxy and the load share it"}
    k = proxy_cpus if proxy_cpus else len(cpus) // 2
    if not 1 <= k < len(cpus):
        raise ValueError(f"proxy CPU count must be in 1..{len(cpus) - 1}")
    return {"proxy": cpus[:k], "load": cpus[k:],
            "note": f"proxy on {len(cpus[:k])} CPU(s), load and fake peers on {len(cpus) - k}"}


def n_shards(p):
    """The shard count of the N-shard setups for plan p."""
    return max(2, len(p["proxy"]))


def parse_cpu_list(text):
    """'0-3,8' -> [0, 1, 2, 3, 8]."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return sorted(set(out))
