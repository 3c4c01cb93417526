"""What a result was measured on and with: commit, build type, kernel, CPU model and flags.

The commit comes from `<binary> --version`, whose first line is
`mtproto-proxy <version> (commit <40-hex sha>[-dirty])`; when a binary does not say, from
`git rev-parse HEAD` in the source directory of the binary (commit_source tells which).
"""

import json
import os
import re
import subprocess

VERSION_RE = re.compile(r"^\S+ (\S+) \(commit ([0-9a-f]{40})(-dirty)?\)")
BUILD_TYPE_RE = re.compile(r"^build type (\S+?),?(?:\s|$)", re.M)

# CPU flags that matter for the proxy's crypto and copies.
INTERESTING_FLAGS = ["aes", "vaes", "pclmulqdq", "vpclmulqdq", "sse4_2", "avx", "avx2",
                     "avx512f", "avx512bw", "avx512vl", "sha_ni", "bmi2", "erms", "fsrm",
                     "hypervisor"]


def parse_version(text):
    """(version, commit, dirty) from --version output, or None."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    m = VERSION_RE.match(first)
    if not m:
        return None
    return m.group(1), m.group(2), bool(m.group(3))


def _run(argv, cwd=None, timeout=5):
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return -1, ""


def git_commit(directory):
    """(commit, dirty) of the git checkout holding `directory`, or (None, False)."""
    if not directory or not os.path.isdir(directory):
        return None, False
    rc, out = _run(["git", "-C", directory, "rev-parse", "HEAD"])
    if rc != 0 or not re.fullmatch(r"[0-9a-f]{40}", out.strip()):
        return None, False
    rc2, status = _run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"])
    return out.strip(), rc2 == 0 and bool(status.strip())


def build_type(binary):
    """meson buildtype of the build dir holding `binary` (meson-info), or 'unknown'."""
    d = os.path.dirname(os.path.realpath(binary))
    for _ in range(4):
        info = os.path.join(d, "meson-info", "intro-buildoptions.json")
        if os.path.exists(info):
            try:
                with open(info, encoding="utf-8") as f:
                    opts = {o["name"]: o.get("value") for o in json.load(f)}
            except (OSError, ValueError, KeyError, TypeError):
                return "unknown"
            bt = str(opts.get("buildtype", "unknown"))
            if opts.get("sanitizers") is True:
                bt += "+sanitizers"
            return bt
        d = os.path.dirname(d)
    return "unknown"


def build_info(binary, source_dir=None):
    """commit, commit_source, dirty, version, build_type, binary for one build."""
    info = {"binary": binary, "build_type": build_type(binary)}
    rc, out = _run([binary, "--version"])
    parsed = parse_version(out) if rc == 0 else None
    if parsed:
        info.update(version=parsed[0], commit=parsed[1], dirty=parsed[2],
                    commit_source="version")
        m = BUILD_TYPE_RE.search(out)
        if m and info["build_type"] == "unknown":
            info["build_type"] = m.group(1)
        return info
    src = source_dir or _source_dir_of(binary)
    commit, dirty = git_commit(src)
    if commit:
        info.update(commit=commit, dirty=dirty, commit_source="git", source_dir=src)
    else:
        info.update(commit=None, dirty=False, commit_source="unknown")
    return info


def _source_dir_of(binary):
    """The meson source dir of a build dir holding `binary`, else the binary's directory."""
    d = os.path.dirname(os.path.realpath(binary))
    for _ in range(4):
        info = os.path.join(d, "meson-info", "meson-info.json")
        if os.path.exists(info):
            try:
                with open(info, encoding="utf-8") as f:
                    return json.load(f)["directories"]["source"]
            except (OSError, ValueError, KeyError):
                break
        d = os.path.dirname(d)
    return os.path.dirname(os.path.realpath(binary))


def cpu_info(cpuinfo_text=None):
    """model and the interesting flags from /proc/cpuinfo."""
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpuinfo_text = f.read()
        except OSError:
            cpuinfo_text = ""
    model, flags = "unknown", set()
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {"cpu_model": model, "cpu_flags": [f for f in INTERESTING_FLAGS if f in flags]}


def host_info():
    u = os.uname()
    info = {"kernel": u.release, "machine": u.machine, "cpus_online": os.cpu_count()}
    info.update(cpu_info())
    try:
        info["loadavg_start"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        pass
    return info
