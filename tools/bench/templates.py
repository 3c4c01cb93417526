"""Proxy builds as command templates.

A build is `NAME=TEMPLATE` (or a bare template, named A, B, ... by position). The template is
split like a shell command line (shlex) and each word is formatted with the placeholders
below; a word that is exactly `{mode_args}` or `{extra}` is replaced by zero or more words.
`{{` and `}}` are literal braces. A template without any `{` is a path to a binary that takes
this project's (and the reference's) command line: DEFAULT_ARGS is appended to it.
"""

import os
import shlex
import string

PLACEHOLDERS = {
    "binary": "the binary of the default build (<build dir>/control/mtproto-proxy)",
    "port": "client port the proxy must listen on (-H), picked free by the harness",
    "stats_port": "stats port (-p), picked free by the harness; /stats is polled on it",
    "secret": "client secret, 32 hex digits (-S); clients use it plain, or ee-form for fake-TLS",
    "proxy_secret_file": "the --aes-pwd file shared with mtp-fake-me (128 random bytes)",
    "config_file": "proxy-multi.conf pointing DC 2 (and the default) at mtp-fake-me",
    "shards": "shard count of the setup (our -M N runs N shard threads; the reference forks "
              "N workers)",
    "backend": "io_uring or epoll (--io-backend)",
    "dc_addr": "127.0.0.1:PORT of mtp-fake-dc (direct mode)",
    "tls_domain": "the fake-TLS domain (-D), bench.example",
    "tls_target": "127.0.0.1:PORT of the local openssl s_server playing the domain's site",
    "mode_args": "the mode's arguments in this project's syntax: see MODE_ARGS",
    "extra": "the words of --extra (shlex-split), appended to every build",
}

DEFAULT_ARGS = ("-H {port} -p {stats_port} --http-stats -M {shards} --io-backend {backend} "
                "-c 65536 -S {secret} {mode_args} {extra}")

# Words {mode_args} expands to, per mode (themselves templates).
MODE_ARGS = {
    "me": "--aes-pwd {proxy_secret_file} {config_file}",
    "direct": ("--direct --dc-override 2:{dc_addr} --dc-override -2:{dc_addr} "
               "--dc-override 1:{dc_addr} --dc-override 3:{dc_addr} --dc-override 4:{dc_addr} "
               "--dc-override 5:{dc_addr}"),
    "tls": ("-D {tls_domain} --domain-target {tls_domain}={tls_target} "
            "--aes-pwd {proxy_secret_file} {config_file}"),
}

SPLICED = ("mode_args", "extra")


class TemplateError(ValueError):
    pass


def placeholders_help():
    lines = ["Placeholders in a build template:"]
    for k, v in PLACEHOLDERS.items():
        lines.append(f"  {{{k}}}  {v}")
    lines.append(f"Default arguments for a bare binary path:\n  {DEFAULT_ARGS}")
    lines.append("{mode_args} per mode:")
    for k, v in MODE_ARGS.items():
        lines.append(f"  {k}: {v}")
    return "\n".join(lines)


def parse_build(spec, index, default_binary):
    """'NAME=TEMPLATE' | 'TEMPLATE' | '' -> (name, template).

    A NAME is letters, digits, '-', '_', '.', ':' (no spaces or '=' before the first '=' of
    a template). An empty spec is the default build (this tree).
    """
    name = chr(ord("A") + index) if index < 26 else f"B{index}"
    text = spec.strip()
    if "=" in text:
        head, rest = text.split("=", 1)
        if head and all(c.isalnum() or c in "-_.:" for c in head):
            name, text = head, rest.strip()
    if not text:
        text = default_binary
    if "{" not in text:
        text = shlex.quote(text) + " " + DEFAULT_ARGS
    check(text)
    return name, text


def fields(template):
    """Names of the placeholders a template uses."""
    out = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            out.append(field)
    return out


def check(template):
    """TemplateError on an unknown placeholder or bad braces."""
    try:
        names = fields(template)
    except ValueError as e:
        raise TemplateError(f"bad template {template!r}: {e}") from e
    for n in names:
        if n not in PLACEHOLDERS:
            raise TemplateError(
                f"unknown placeholder {{{n}}} in {template!r}; known: "
                + " ".join("{" + k + "}" for k in PLACEHOLDERS))


def expand(template, values):
    """The argv of `template` with `values` (a dict: placeholder -> str or list of words)."""
    check(template)
    argv = []
    for word in shlex.split(template):
        bare = word[1:-1] if word.startswith("{") and word.endswith("}") else None
        if bare in SPLICED:
            v = values.get(bare, [])
            argv.extend(v if isinstance(v, list) else shlex.split(str(v)))
            continue
        try:
            argv.append(word.format_map(_Values(values)))
        except KeyError as e:
            raise TemplateError(f"no value for placeholder {e} in {template!r}") from e
    return argv


class _Values(dict):
    def __init__(self, values):
        super().__init__()
        for k, v in values.items():
            self[k] = " ".join(v) if isinstance(v, list) else v

    def __missing__(self, key):
        raise KeyError(key)


def mode_args(mode, values):
    """The words of {mode_args} for `mode`."""
    return expand(MODE_ARGS[mode], values)


def first_word(template, default_binary):
    """The executable word of a template, with {binary} filled in."""
    words = shlex.split(template)
    return words[0].replace("{binary}", default_binary) if words else ""


def binary_of(argv):
    """The executable an expanded template runs (its first word, resolved to a path)."""
    if not argv:
        return ""
    b = argv[0]
    if os.sep not in b:
        for d in os.environ.get("PATH", "").split(os.pathsep):
            p = os.path.join(d, b)
            if os.access(p, os.X_OK):
                return p
    return b
