#!/usr/bin/python3
"""Soak test for mtproto-proxy (not run in CI).

Runs the real binary behind mtp-fake-me for --duration seconds under mixed load: bulk
(mtp-loadgen throughput), churn (mtp-loadgen churn), idle (mtp-loadgen idle) and slow senders
(mtp-hostile partial frames and byte-at-a-time headers, restarted in cycles). Idle
connections are reopened every --idle-hold seconds (below the proxy's 600-s idle timeout, which
would otherwise close them all ten minutes in). Every --interval
seconds it samples the proxy's RSS (/proc/<pid>/status VmRSS), its open fds (/proc/<pid>/fd)
and the buffers in use (/metrics mtproxy_buffer_bytes{kind="used"}). At the end it says, for
each series, whether it stayed flat: the max of the last third of the samples is within
--tolerance (relative) plus a small absolute slack of the max of the first third. A final echo
checks that the proxy still serves.

Exit code: 0 all flat and the proxy served to the end; 1 a series grew; 2 the proxy died or
stopped serving; 3 setup failed.

Usage: tools/soak.py [--build build] [--duration 1800] [--interval 5] [--shards 2]
The load runs under `nice -n --load-nice` (default 5); the proxy is not niced.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SECRET = "0123456789abcdef0123456789abcdef"
# Absolute slack on top of the relative tolerance: what a healthy proxy may wander by.
SLACK = {"rss_kib": 16 * 1024, "fds": 64, "buffers_used_bytes": 8 << 20}


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Soak:
    def __init__(self, args):
        self.a = args
        self.tools = os.path.join(args.build, "tools")
        self.proxy_bin = os.path.join(args.build, "control", "mtproto-proxy")
        self.dir = tempfile.mkdtemp(prefix="mtp-soak-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.stop = threading.Event()
        self.samples = []
        self.hostile_reports = []

    # ---- processes -------------------------------------------------------------------------
    def spawn(self, argv, nice=True, stdout=subprocess.DEVNULL):
        if nice:
            argv = ["nice", "-n", str(self.a.load_nice)] + argv
        p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start(self):
        secret_path = os.path.join(self.dir, "proxy-secret")
        with open(secret_path, "wb") as f:
            f.write(bytes((i * 7 + 3) & 255 for i in range(128)))
        os.chmod(secret_path, 0o644)
        me = self.spawn([os.path.join(self.tools, "mtp-fake-me"), "--listen", "127.0.0.1:0",
                         "--aes-pwd", secret_path, "--no-log-requests"],
                        stdout=subprocess.PIPE)
        line = me.stdout.readline().decode()
        m = re.search(r"listening 127\.0\.0\.1:(\d+)", line)
        if not m:
            raise RuntimeError(f"mtp-fake-me did not start: {line!r}")
        conf = os.path.join(self.dir, "proxy-multi.conf")
        with open(conf, "w") as f:
            f.write(f"min_connections 1;\nmax_connections 2;\ndefault 2;\n"
                    f"proxy_for 2 127.0.0.1:{m.group(1)};\n")
        os.chmod(conf, 0o644)
        self.proxy_log = open(os.path.join(self.dir, "proxy.log"), "wb")
        argv = [self.proxy_bin, "-H", "0", "-p", "0", "--http-stats", "-M", str(self.a.shards),
                "--aes-pwd", secret_path, "-S", SECRET] + self.a.proxy_arg + [conf]
        self.proxy = subprocess.Popen(argv, stdout=self.proxy_log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        deadline = time.time() + 15
        self.port = self.stats_port = None
        while time.time() < deadline and self.stats_port is None:
            time.sleep(0.2)
            text = open(os.path.join(self.dir, "proxy.log"), errors="replace").read()
            p = re.search(r"listening on port (\d+)", text)
            s = re.search(r"stats port (\d+)", text)
            if p and s:
                self.port, self.stats_port = int(p.group(1)), int(s.group(1))
        if self.stats_port is None:
            raise RuntimeError("the proxy did not start; see " + self.dir + "/proxy.log")
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.stat("ready_outbound_connections") >= self.a.shards:
                break
            time.sleep(0.2)
        log(f"proxy pid {self.proxy.pid} port {self.port} stats {self.stats_port}; "
            f"files in {self.dir}")

    def loadgen(self, mode, *extra):
        return self.spawn([os.path.join(self.tools, "mtp-loadgen"), "--server",
                           f"127.0.0.1:{self.port}", "--secret", SECRET, "--mode", mode,
                           "--warmup", "0", "--max-seconds", str(self.a.duration + 60)] +
                          list(extra))

    def idle_cycles(self):
        """Idle connections held --idle-hold seconds at a time, reopened at once."""
        while not self.stop.is_set():
            p = self.loadgen("idle", "--connections", str(self.a.idle), "--hold-seconds",
                             str(self.a.idle_hold), "--connect-rate", "500")
            while p.poll() is None and not self.stop.is_set():
                self.stop.wait(1)

    def hostile_cycles(self):
        """Slow senders that come and go: each cycle holds them for 20 s, then a pause."""
        cycle = 0
        while not self.stop.is_set():
            mode = ["partial-frame", "slow-header"][cycle % 2]
            argv = [os.path.join(self.tools, "mtp-hostile"), "--server",
                    f"127.0.0.1:{self.port}", "--secret", SECRET, "--mode", mode,
                    "--connections", str(self.a.slow_senders), "--bytes", "4000",
                    "--announce", "65536", "--byte-delay-ms", "500", "--hold-seconds", "20",
                    "--max-seconds", "60"]
            p = self.spawn(argv, stdout=subprocess.PIPE)
            out, _ = p.communicate()
            for line in out.decode(errors="replace").splitlines():
                if line.startswith("{"):
                    self.hostile_reports.append(json.loads(line))
            cycle += 1
            self.stop.wait(10)

    # ---- sampling --------------------------------------------------------------------------
    def http(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}{path}",
                                    timeout=5) as r:
            return r.read().decode(errors="replace")

    def stat(self, key):
        try:
            m = re.search(rf"^{re.escape(key)}\t(-?\d+)", self.http("/stats"), re.M)
            return int(m.group(1)) if m else -1
        except Exception:
            return -1

    def sample(self):
        pid = self.proxy.pid
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        try:
            metrics = self.http("/metrics")
            m = re.search(r'^mtproxy_buffer_bytes\{kind="used"\} (\S+)', metrics, re.M)
            used = int(float(m.group(1))) if m else -1
            c = re.search(r"^mtproxy_client_connections (\S+)", metrics, re.M)
            clients = int(float(c.group(1))) if c else -1
        except Exception:
            used, clients = -1, -1
        return {"t": time.time(), "rss_kib": rss, "fds": fds, "buffers_used_bytes": used,
                "clients": clients}

    def echo_ok(self):
        r = subprocess.run([os.path.join(self.tools, "mtp-client"), "--server",
                            f"127.0.0.1:{self.port}", "--secret", SECRET, "--packets", "5",
                            "--size", "56-65536", "--timeout-ms", "10000"],
                           capture_output=True, timeout=60)
        return r.returncode == 0

    # ---- run -------------------------------------------------------------------------------
    def run(self):
        d = str(self.a.duration)
        self.loadgen("throughput", "--connections", "8", "--size", "1024-65536", "--window", "4",
                     "--duration", d)
        self.loadgen("churn", "--connections", "16", "--duration", d)
        for target in (self.idle_cycles, self.hostile_cycles):
            threading.Thread(target=target, daemon=True).start()
        end = time.time() + self.a.duration
        died = False
        while time.time() < end:
            if self.proxy.poll() is not None:
                died = True
                break
            s = self.sample()
            self.samples.append(s)
            if len(self.samples) % max(1, int(60 / self.a.interval)) == 0:
                log(f"rss {s['rss_kib']} KiB, fds {s['fds']}, buffers used "
                    f"{s['buffers_used_bytes']}, clients {s['clients']}")
            time.sleep(self.a.interval)
        self.stop.set()
        serving = not died and self.echo_ok()
        return died, serving

    def shutdown(self):
        self.stop.set()
        for p in self.procs + [getattr(self, "proxy", None)]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs + [getattr(self, "proxy", None)]:
            if p is None:
                continue
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def verdict(samples, key, tolerance):
    n = len(samples)
    values = [s[key] for s in samples if s[key] >= 0]
    if len(values) < 3:
        return None
    third = max(1, len(values) // 3)
    first, last = max(values[:third]), max(values[-third:])
    limit = first * (1 + tolerance) + SLACK[key]
    return {"series": key, "first_third_max": first, "last_third_max": last,
            "overall_max": max(values), "min": min(values), "limit": int(limit),
            "flat": last <= limit, "samples": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", type=int, default=1800, help="seconds of load")
    ap.add_argument("--interval", type=float, default=5, help="seconds between samples")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--idle", type=int, default=500, help="idle connections")
    ap.add_argument("--idle-hold", type=int, default=240,
                    help="seconds each batch of idle connections is held")
    ap.add_argument("--slow-senders", type=int, default=32,
                    help="slow-sender connections per cycle")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--load-nice", type=int, default=5)
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra proxy argument (repeatable)")
    ap.add_argument("--samples-out", help="write every sample as JSON lines here")
    a = ap.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) end the run early, cleanly.
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    soak = Soak(a)
    try:
        try:
            soak.start()
        except Exception as e:  # noqa: BLE001 - report any setup failure the same way
            log(f"setup failed: {e}")
            return 3
        try:
            died, serving = soak.run()
        except KeyboardInterrupt:
            log("interrupted")
            died, serving = False, False
    finally:
        soak.shutdown()
    if a.samples_out:
        with open(a.samples_out, "w") as f:
            for s in soak.samples:
                f.write(json.dumps(s) + "\n")
    results = [v for v in (verdict(soak.samples, k, a.tolerance) for k in SLACK) if v]
    for r in results:
        print(json.dumps(r))
    closed = sum(r.get("closed_eof", 0) + r.get("closed_rst", 0) for r in soak.hostile_reports)
    held = sum(r.get("held", 0) for r in soak.hostile_reports)
    print(json.dumps({"summary": True, "duration_s": a.duration, "shards": a.shards,
                      "proxy_died": died, "serving_at_end": serving,
                      "hostile_cycles": len(soak.hostile_reports), "hostile_closed": closed,
                      "hostile_held_to_end": held,
                      "all_flat": all(r["flat"] for r in results)}))
    if died or not serving:
        return 2
    return 0 if all(r["flat"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
