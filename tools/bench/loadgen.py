"""mtp-loadgen glue: the argv for one scenario run and the figures in its JSON line.

The loadgen prints ONE JSON line (docs/tools.md); with --proxy-pid it adds the measured
process's CPU seconds and RSS. This module turns that line into the harness's figures:
  throughput  cpu_s_per_GB (CPU seconds per 10^9 payload bytes, both directions), MBps
  latency     rtt_p50_us, rtt_p99_us
  churn       cpu_ms_per_handshake, handshakes_per_s
  idle        rss_kb_per_conn (RSS growth from before connecting to all established, per
              connection)
"""

import json

from bench import scenarios as sc


class LoadgenError(Exception):
    """The loadgen output is missing, not JSON, or lacks what a figure needs."""


def parse_line(text):
    """The loadgen's JSON object: the last line of `text` that is a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LoadgenError(f"loadgen output is not JSON: {e}: {line[:200]}") from e
        if isinstance(obj, dict) and "mode" in obj:
            return obj
    raise LoadgenError(f"no loadgen JSON line in output: {text[:200]!r}")


def _proxy(obj):
    p = obj.get("proxy")
    if not isinstance(p, dict) or "cpu_s" not in p:
        raise LoadgenError("loadgen line has no proxy CPU sample (--proxy-pid)")
    return p


def _cpu(p):
    # /proc counts CPU in clock ticks: a zero is below the resolution, not a free relay.
    if float(p["cpu_s"]) <= 0:
        raise LoadgenError("no measured CPU time (below the clock tick): lengthen --duration")
    return float(p["cpu_s"])


def figures(obj):
    """Figures of one run, keyed by figure name (see scenarios.FIGURES)."""
    mode = obj.get("mode")
    out = {}
    if mode == "throughput":
        p = _proxy(obj)
        _cpu(p)
        if "cpu_s_per_GB" not in p:
            raise LoadgenError("no bytes were relayed (no cpu_s_per_GB)")
        out["cpu_s_per_GB"] = float(p["cpu_s_per_GB"])
        out["MBps"] = float(obj["up_MBps"]) + float(obj["down_MBps"])
    elif mode == "latency":
        rtt = obj.get("rtt_us") or {}
        if not rtt.get("count"):
            raise LoadgenError("no round trips measured")
        out["rtt_p50_us"] = float(rtt["p50"])
        out["rtt_p99_us"] = float(rtt["p99"])
    elif mode == "churn":
        p = _proxy(obj)
        hs = int(obj.get("handshakes", 0))
        if hs <= 0:
            raise LoadgenError("no handshakes completed")
        out["cpu_ms_per_handshake"] = _cpu(p) * 1000.0 / hs
        out["handshakes_per_s"] = float(obj["handshakes_per_s"])
    elif mode == "idle":
        p = _proxy(obj)
        est = int(obj.get("established", 0))
        if est <= 0 or "proxy_rss_kb_established" not in obj:
            raise LoadgenError("no idle connection was established")
        grown = float(obj["proxy_rss_kb_established"]) - float(p["rss_kb_before"])
        out["rss_kb_per_conn"] = grown / est
    else:
        raise LoadgenError(f"unknown loadgen mode {mode!r}")
    return out


def problems(obj):
    """Why a run does not count ('' when it does): loadgen errors or an interruption."""
    if obj.get("ok") is True:
        return ""
    kinds = obj.get("error_kinds") or {}
    detail = ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
    sample = obj.get("error_sample", "")
    text = f"loadgen not ok: errors={obj.get('errors')} {detail}".strip()
    if obj.get("interrupted"):
        text += " (interrupted)"
    if sample:
        text += f": {sample[:300]}"
    return text


def argv(loadgen_bin, scenario, server, client_args, load_cpus, pids, duration, warmup,
         idle_connections=None, idle_hold=2.0):
    """The mtp-loadgen command line for one run of `scenario` against `server`.

    client_args selects the secret / transport (e.g. ['--secret', HEX] or ['--plain']).
    pids are the processes whose CPU and RSS are measured (the proxy and its children, or
    the echo server of a floor).
    """
    s = sc.SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    connections = (idle_connections or s.connections) if s.mode == "idle" else s.connections
    cmd = [loadgen_bin, "--server", server, "--mode", s.mode, "--size", str(s.size),
           "--connections", str(connections)]
    cmd += list(client_args)
    if load_cpus:
        cmd += ["--cpu", ",".join(str(c) for c in load_cpus),
                "--threads", str(min(len(load_cpus), connections))]
    if pids:
        cmd += ["--proxy-pid", ",".join(str(p) for p in pids)]
    if s.mode == "idle":
        cmd += ["--hold-seconds", str(idle_hold), "--max-pending-connects", "512",
                "--timeout-ms", "30000", "--max-seconds", str(max(60, connections // 100 + 30))]
    else:
        cmd += ["--duration", str(duration), "--warmup", str(warmup),
                "--max-seconds", str(duration + warmup + 30), "--timeout-ms", "10000"]
        if s.window:
            cmd += ["--window", str(s.window)]
    return cmd
