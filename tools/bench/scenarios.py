"""The named scenarios: the load each one puts on the proxy and the figures it reports.

A figure is a number per run; `LOWER_IS_BETTER` says which way is good. The primary figures
(the ones thresholds gate on by default) are marked; the others are context (throughput).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    mode: str            # mtp-loadgen --mode
    connections: int
    size: int            # payload bytes per frame
    window: int = 0      # throughput: frames in flight per connection
    description: str = ""

    def params(self, duration, warmup, idle_connections=None, idle_hold=None):
        """The scenario parameters as recorded in every result line."""
        p = {"loadgen_mode": self.mode, "connections": self.connections, "size": self.size}
        if self.window:
            p["window"] = self.window
        if self.mode == "idle":
            p["connections"] = idle_connections or self.connections
            p["hold_s"] = idle_hold
        else:
            p["duration_s"] = duration
            p["warmup_s"] = warmup
        return p


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("bulk", "throughput", 8, 65536, 4, "8 conns x 64 KiB frames, 4 in flight"),
        Scenario("mid", "throughput", 16, 4096, 8, "16 conns x 4 KiB frames, 8 in flight"),
        Scenario("small", "throughput", 64, 256, 8, "64 conns x 256 B frames, 8 in flight"),
        Scenario("pingpong", "latency", 1, 256, 0, "one connection, 256 B ping-pong"),
        Scenario("churn", "churn", 32, 256, 0,
                 "32 in parallel: connect, handshake, one round trip, close"),
        Scenario("idle", "idle", 10000, 256, 0, "N connections, one round trip each, held"),
    ]
}

# figure -> (unit, primary)
FIGURES = {
    "cpu_s_per_GB": ("CPU-s/GB", True),
    "MBps": ("MB/s", False),
    "rtt_p50_us": ("us", True),
    "rtt_p99_us": ("us", True),
    "cpu_ms_per_handshake": ("CPU-ms", True),
    "handshakes_per_s": ("1/s", False),
    "rss_kb_per_conn": ("KB", True),
}

HIGHER_IS_BETTER = {"MBps", "handshakes_per_s"}

# The no-proxy floors measured beside the builds, in report order: name -> title. Each is a
# process on the proxy CPU set whose CPU and RSS are what is measured:
#   plain   mtp-fake-dc --plain: a TCP echo server (one socket in, one out per byte)
#   obfs2   mtp-fake-dc: obfuscated2 and frames, echoed (the client leg's crypto)
#   relay   mtp-plain-relay in front of a plain echo on the load CPUs: a user-space TCP
#           forwarder with no crypto (two sockets in, two out per byte, like any relay)
FLOORS = {
    "plain": "plain TCP echo",
    "obfs2": "obfuscated2 echo",
    "relay": "plain TCP relay",
}


def lower_is_better(figure):
    return figure not in HIGHER_IS_BETTER


def figures_of(scenario_name):
    mode = SCENARIOS[scenario_name].mode
    return {
        "throughput": ["cpu_s_per_GB", "MBps"],
        "latency": ["rtt_p50_us", "rtt_p99_us"],
        "churn": ["cpu_ms_per_handshake", "handshakes_per_s"],
        "idle": ["rss_kb_per_conn"],
    }[mode]


def parse_list(text, known, what):
    """'a,b' -> ['a', 'b'], every name checked against `known`; 'all' means every one."""
    if text == "all":
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in known:
            raise ValueError(f"unknown {what} {n!r}; known: {', '.join(known)}")
    return names
