"""Child processes of a benchmark run: spawn pinned (and niced), wait for readiness, find a
process tree's pids for the CPU / RSS sample, stop. Loopback only."""

import os
import re
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def raise_file_limit(want=262144):
    """Raises the open-file limit the children inherit: a direct-mode proxy holds two
    descriptors per idle client. As root the hard limit is raised too (up to fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open", encoding="utf-8") as f:
            want = min(want, int(f.read()))
    except (OSError, ValueError):
        pass
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass  # not root: the hard limit stays
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def file_limit():
    """The open-file limit children inherit (the soft one, after raise_file_limit)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    """A port nothing listens on right now (the kernel's pick, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """One spawned process with its output in a log file."""

    def __init__(self, name, argv, log_path, cpus=None, nice=0, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")

        def setup():
            if cpus:
                os.sched_setaffinity(0, cpus)
            if nice:
                os.nice(nice)

        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=cwd, preexec_fn=setup,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def wait_log(self, pattern, timeout):
        """The first match of regex `pattern` in the log; RuntimeError on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.log(1 << 20))
            if m:
                return m
            if not self.alive():
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no {pattern!r} within {timeout}s "
                           f"(exit {self.proc.poll()}): {self.log(1500)}")

    def stop(self, grace=3.0):
        """SIGTERM (twice: our proxy drains on the first), then SIGKILL; returns exit code."""
        if self.alive():
            for sig, wait in ((signal.SIGTERM, 0.5), (signal.SIGTERM, grace)):
                try:
                    self.proc.send_signal(sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if self.alive():
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def wait_port(port, child, timeout):
    """Until 127.0.0.1:port accepts a connection; RuntimeError if the child dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited ({child.proc.returncode}): "
                               f"{child.log(1500)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def http_get(port, path, timeout=1.0):
    """Body of GET http://127.0.0.1:port/path, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def stats_value(body, key):
    """An integer 'key<TAB>value' line of a /stats body, or None."""
    m = re.search(r"^" + re.escape(key) + r"\s+(-?\d+)", body or "", re.M)
    return int(m.group(1)) if m else None


def wait_me_ready(stats_port, want, timeout):
    """Until /stats reports `want` ready ME links. A binary without that key, or without a
    stats port, gets a fixed 1.5 s instead. Returns the count seen (None when unknown)."""
    deadline = time.monotonic() + timeout
    seen_stats = False
    while time.monotonic() < deadline:
        body = http_get(stats_port, "/stats") if stats_port else None
        if body is not None:
            seen_stats = True
            n = stats_value(body, "ready_outbound_connections")
            if n is None:
                break
            if n >= want:
                return n
        elif not stats_port:
            break
        time.sleep(0.05)
    if seen_stats or not stats_port:
        time.sleep(1.5)
        return None
    raise RuntimeError(f"/stats on port {stats_port} never answered")


def process_tree(pid):
    """pid and all its descendants (the reference forks workers; their CPU counts too)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out
