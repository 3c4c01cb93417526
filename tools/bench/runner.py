"""One benchmark run: peers, floors and proxies started fresh for every measurement, in
interleaved rounds (A B, then B A, ...), summarized into one result line per target, setup
and scenario.

Every measurement starts its target (a proxy build or a floor echo server) pinned to the
proxy CPU set, unniced, runs one mtp-loadgen scenario pinned to the load set (niced), samples
the target's CPU and RSS through --proxy-pid, and stops the target. The peers a proxy talks to
(mtp-fake-me, mtp-fake-dc, openssl s_server) live for the whole run on the load set.
"""

import dataclasses
import datetime
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from bench import loadgen, pinning, procs, stats, sysinfo, templates
from bench import scenarios as sc

SCHEMA = "mtp-bench/1"
TLS_DOMAIN = "bench.example"
# Descriptors the relay floor keeps besides its two per client (listener, epoll, stdio, libc).
RELAY_SPARE_FDS = 64


@dataclasses.dataclass
class Target:
    name: str
    kind: str                 # "build" or "floor"
    template: str = ""        # builds
    floor: str = ""           # floors: a key of scenarios.FLOORS
    info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Setup:
    mode: str                 # me | direct | tls
    shards: int
    backend: str

    @property
    def key(self):
        return f"{self.mode}-{self.shards}shard-{self.backend}"


@dataclasses.dataclass
class Options:
    build_dir: str
    builds: list              # [(name, template)]
    scenarios: list
    setups: list              # [Setup]
    rounds: int = 2
    duration: float = 3.0
    warmup: float = 1.0
    idle_connections: int = 10000
    idle_hold: float = 2.0
    floors: bool = True
    load_nice: int = 10
    extra: list = dataclasses.field(default_factory=list)
    plan: dict = None
    keep_logs: bool = False
    log: object = sys.stderr


class Run:
    def __init__(self, opts):
        self.o = opts
        self.tools = os.path.join(opts.build_dir, "tools")
        self.loadgen = os.path.join(self.tools, "mtp-loadgen")
        for b in ("mtp-loadgen", "mtp-fake-dc", "mtp-fake-me", "mtp-plain-relay"):
            if not os.access(os.path.join(self.tools, b), os.X_OK):
                raise RuntimeError(f"{os.path.join(self.tools, b)} is missing: build the tools "
                                   f"(ninja -C {opts.build_dir})")
        self.dir = tempfile.mkdtemp(prefix="mtp-bench-")
        self.secret = secrets.token_hex(16)
        self.proxy_secret = os.path.join(self.dir, "proxy-secret")
        with open(self.proxy_secret, "wb") as f:
            f.write(os.urandom(128))
        self.peers = {}
        self.transient = []   # peers started for one measurement
        self.seq = 0
        self.run_id = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        self.failures = []
        self.notes = []

    def idle_connections_for(self, target):
        """How many idle connections a target is measured with. The relay floor holds two
        descriptors per client (its own upstream connection each), so where the open-file
        limit cannot be raised (an unprivileged container: 20,000 is common) it is measured
        with as many as fit; its figure is per connection, which hardly depends on the count."""
        n = self.o.idle_connections
        if target.kind == "floor" and target.floor == "relay":
            limit = procs.file_limit()
            fit = (limit - RELAY_SPARE_FDS) // 2
            if fit < n:
                note = (f"the relay floor's idle run uses {fit} connections, not {n}: the "
                        f"open-file limit {limit} allows two descriptors for no more")
                if note not in self.notes:
                    self.notes.append(note)
                    self.say(f"mtp-bench: {note}")
                return max(1, fit)
        return n

    # ---- peers shared by every measurement ----
    def _peer(self, kind):
        if kind in self.peers and kind != "dc":
            return self.peers[kind]
        load = self.o.plan["load"]
        nice = self.o.load_nice
        if kind == "me":
            c = procs.Child("mtp-fake-me", [os.path.join(self.tools, "mtp-fake-me"), "--listen",
                                            "127.0.0.1:0", "--aes-pwd", self.proxy_secret,
                                            "--no-log-requests"],
                            self._log_path("fake-me"), load, nice)
            port = int(c.wait_log(r"listening 127\.0\.0\.1:(\d+)", 10).group(1))
            conf = os.path.join(self.dir, "proxy-multi.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(f"min_connections 4;\nmax_connections 8;\ndefault 2;\n"
                        f"proxy_for 2 127.0.0.1:{port};\n")
            self.peers[kind] = (c, {"config_file": conf})
        elif kind == "dc":
            c = procs.Child("mtp-fake-dc", [os.path.join(self.tools, "mtp-fake-dc"), "--listen",
                                            "127.0.0.1:0", "--threads", str(len(load))],
                            self._log_path("fake-dc"), load, nice)
            port = int(c.wait_log(r"listening 127\.0\.0\.1:(\d+)", 10).group(1))
            # A fresh DC (new port) per measurement: the proxy's DC connections left in
            # TIME_WAIT by churn would otherwise use up the ephemeral ports towards one
            # address, and 10,000 idle clients need 10,000 more.
            self.transient.append(c)
            return c, {"dc_addr": f"127.0.0.1:{port}"}
        elif kind == "site":
            openssl = shutil.which("openssl")
            if not openssl:
                raise RuntimeError("fake-TLS mode needs openssl (the domain's site)")
            key, cert = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
            subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert,
                            "-days", "2", "-nodes", "-subj", f"/CN={TLS_DOMAIN}", "-addext",
                            f"subjectAltName=DNS:{TLS_DOMAIN}"], check=True,
                           capture_output=True, timeout=30)
            port = procs.free_port()
            c = procs.Child("openssl-s_server", [openssl, "s_server", "-accept",
                                                 f"127.0.0.1:{port}", "-cert", cert, "-key",
                                                 key, "-quiet", "-www"],
                            self._log_path("s_server"), load, nice)
            procs.wait_port(port, c, 10)
            self.peers[kind] = (c, {"tls_domain": TLS_DOMAIN,
                                    "tls_target": f"127.0.0.1:{port}"})
        return self.peers[kind]

    def _log_path(self, name):
        self.seq += 1
        return os.path.join(self.dir, f"{self.seq:04d}-{name}.log")

    def close(self):
        for c, _ in self.peers.values():
            c.stop()
        self.peers = {}
        if self.o.keep_logs or self.failures:
            self.say(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def say(self, text):
        print(text, file=self.o.log, flush=True)

    # ---- one measurement ----
    def _start_target(self, target, setup):
        """(child, client_args) with the target up and ready."""
        proxy_cpus = self.o.plan["proxy"]
        if target.kind == "floor":
            argv = [os.path.join(self.tools, "mtp-fake-dc"), "--listen", "127.0.0.1:0",
                    "--threads", "1"]
            client = [] if target.floor == "obfs2" else ["--plain"]
            if target.floor == "relay":
                # The echo behind the relay is a peer (load CPUs, niced, not measured), fresh
                # per measurement like the DC; the relay is the measured target.
                echo = procs.Child("floor-relay-echo", argv + ["--plain"],
                                   self._log_path("floor-relay-echo"), self.o.plan["load"],
                                   self.o.load_nice)
                self.transient.append(echo)
                echo_port = int(echo.wait_log(r"listening 127\.0\.0\.1:(\d+)", 10).group(1))
                argv = [os.path.join(self.tools, "mtp-plain-relay"), "--listen", "127.0.0.1:0",
                        "--upstream", f"127.0.0.1:{echo_port}"]
            elif target.floor == "plain":
                argv.append("--plain")
            c = procs.Child(f"floor-{target.floor}", argv,
                            self._log_path(f"floor-{target.floor}"), proxy_cpus, 0)
            port = int(c.wait_log(r"listening 127\.0\.0\.1:(\d+)", 10).group(1))
            return c, port, client
        values = {"binary": os.path.join(self.o.build_dir, "control", "mtproto-proxy"),
                  "port": str(procs.free_port()), "stats_port": str(procs.free_port()),
                  "secret": self.secret, "proxy_secret_file": self.proxy_secret,
                  "shards": str(setup.shards), "backend": setup.backend,
                  "extra": list(self.o.extra), "config_file": "", "dc_addr": "",
                  "tls_domain": "", "tls_target": ""}
        if setup.mode in ("me", "tls"):
            values.update(self._peer("me")[1])
        if setup.mode == "direct":
            values.update(self._peer("dc")[1])
        if setup.mode == "tls":
            values.update(self._peer("site")[1])
        values["mode_args"] = templates.mode_args(setup.mode, values)
        argv = templates.expand(target.template, values)
        c = procs.Child(target.name, argv, self._log_path(f"proxy-{target.name}"), proxy_cpus,
                        0, cwd=self.dir)
        port = int(values["port"])
        procs.wait_port(port, c, 20)
        if setup.mode in ("me", "tls"):
            stats_port = int(values["stats_port"]) if "stats_port" in \
                templates.fields(target.template) else 0
            procs.wait_me_ready(stats_port, setup.shards, 15)
        if setup.mode == "tls":
            client = ["--secret", "ee" + self.secret + TLS_DOMAIN.encode().hex()]
        else:
            client = ["--secret", self.secret]
        return c, port, client

    def measure(self, target, setup, scenario):
        """figures of one run, or None (the failure is recorded)."""
        child = None
        what = f"{target.name} {setup.key if target.kind == 'build' else 'floor'} {scenario}"
        try:
            child, port, client = self._start_target(target, setup)
            time.sleep(0.1)
            pids = procs.process_tree(child.pid)
            idle_connections = self.idle_connections_for(target)
            argv = loadgen.argv(self.loadgen, scenario, f"127.0.0.1:{port}", client,
                                self.o.plan["load"], pids, self.o.duration, self.o.warmup,
                                idle_connections, self.o.idle_hold)
            nice = self.o.load_nice

            def setup_load():
                os.sched_setaffinity(0, self.o.plan["load"])
                if nice:
                    os.nice(nice)

            timeout = self.o.duration + self.o.warmup + 60 + idle_connections / 100
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, preexec_fn=setup_load)
            obj = loadgen.parse_line(r.stdout)
            problem = loadgen.problems(obj)
            if problem:
                raise loadgen.LoadgenError(problem)
            if not child.alive():
                raise RuntimeError(f"{target.name} died during the run: {child.log(1500)}")
            return loadgen.figures(obj)
        except (RuntimeError, loadgen.LoadgenError, subprocess.SubprocessError, OSError,
                templates.TemplateError) as e:
            msg = f"{what}: {e}"
            self.failures.append(msg)
            self.say(f"  FAILED {msg[:600]}")
            return None
        finally:
            if child is not None:
                child.stop()
            while self.transient:
                self.transient.pop().stop()

    # ---- the whole run ----
    def execute(self):
        """Result lines (dicts), one per target x setup x scenario."""
        o = self.o
        builds = []
        for name, template in o.builds:
            binary = templates.first_word(
                template, os.path.join(o.build_dir, "control", "mtproto-proxy"))
            info = sysinfo.build_info(templates.binary_of([binary]))
            builds.append(Target(name, "build", template=template, info=info))
        tools_info = sysinfo.build_info(self.loadgen)
        floors = [Target(f"floor-{f}", "floor", floor=f, info=tools_info) for f in sc.FLOORS] \
            if o.floors else []
        host = sysinfo.host_info()
        samples = {}   # (target name, setup key, scenario) -> [figures]
        for si, setup in enumerate(o.setups):
            targets = (floors if si == 0 else []) + builds
            for scenario in o.scenarios:
                for rnd in range(o.rounds):
                    order = targets if rnd % 2 == 0 else list(reversed(targets))
                    for t in order:
                        skey = "floor" if t.kind == "floor" else setup.key
                        f = self.measure(t, setup, scenario)
                        samples.setdefault((t.name, skey, scenario), [])
                        if f is not None:
                            samples[(t.name, skey, scenario)].append(f)
                            self.say(f"  {t.name:>12} {skey:<22} {scenario:<9} r{rnd} "
                                     + " ".join(f"{k}={v:.4g}" for k, v in f.items()))
        return self._results(builds, floors, host, samples)

    def _results(self, builds, floors, host, samples):
        o = self.o
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        floor_medians = {}  # (scenario, figure) -> {floor: median}
        for t in floors:
            for scenario in o.scenarios:
                runs = samples.get((t.name, "floor", scenario), [])
                for fig in sc.figures_of(scenario):
                    xs = [r[fig] for r in runs if fig in r]
                    if xs:
                        floor_medians.setdefault((scenario, fig), {})[t.floor] = stats.median(xs)
        lines = []
        entries = [(t, None) for t in floors] + [(t, s) for t in builds for s in o.setups]
        for t, setup in entries:
            for scenario in o.scenarios:
                skey = "floor" if setup is None else setup.key
                runs = samples.get((t.name, skey, scenario), [])
                figs, ratios = {}, {}
                for fig in sc.figures_of(scenario):
                    xs = [r[fig] for r in runs if fig in r]
                    if not xs:
                        continue
                    figs[fig] = dict(stats.summarize(xs), samples=xs)
                    fm = floor_medians.get((scenario, fig), {})
                    if setup is not None and fm:
                        ratios[fig] = {k: figs[fig]["median"] / v for k, v in fm.items() if v}
                s = sc.SCENARIOS[scenario]
                line = {
                    "schema": SCHEMA, "run_id": self.run_id, "time": now, "target": t.name,
                    "kind": t.kind, "scenario": scenario,
                    "params": s.params(o.duration, o.warmup, self.idle_connections_for(t),
                                       o.idle_hold),
                    "rounds": o.rounds, "ok_runs": len(runs), "figures": figs,
                }
                if t.kind == "floor":
                    line.update(setup="floor", floor=t.floor, mode=None, shards=None,
                                backend=None)
                else:
                    used = templates.fields(t.template)
                    line.update(setup=setup.key, mode=setup.mode,
                                shards=setup.shards if "shards" in used else None,
                                backend=setup.backend if "backend" in used else None,
                                template=t.template, floor_ratios=ratios)
                line.update({k: t.info.get(k) for k in ("commit", "commit_source", "dirty",
                                                         "version", "build_type", "binary")})
                line["host"] = host
                line["pinning"] = {"proxy_cpus": o.plan["proxy"], "load_cpus": o.plan["load"],
                                   "load_nice": o.load_nice, "proxy_nice": 0,
                                   "note": o.plan.get("note", "")}
                lines.append(line)
        return lines


def default_setups(modes, shards_list, backends):
    return [Setup(m, s, b) for m in modes for s in shards_list for b in backends]


def plan_for(proxy_cpus=None):
    return pinning.plan(pinning.available_cpus(), proxy_cpus)
