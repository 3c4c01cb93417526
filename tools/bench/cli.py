"""mtp-bench command line: run, report, plot, plan, templates."""

import argparse
import os
import signal
import sys

from bench import history, pinning, plot, runner, templates, verdict
from bench import scenarios as sc

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3

SOURCE_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

EPILOG = """\
examples:
  mtp-bench run                                   # this tree, ME mode, 1 shard, io_uring
  mtp-bench run --modes me,direct,tls --shards 1,N --backends io_uring,epoll
  mtp-bench run --build base=/work/main/build/control/mtproto-proxy --build new=build/control/mtproto-proxy \\
      --thresholds tools/bench/thresholds.example.json
  mtp-bench run --build 'ref=/opt/MTProxy/objs/bin/mtproto-proxy -u nobody -p {stats_port} \\
      -H {port} -S {secret} --aes-pwd {proxy_secret_file} {config_file} -M {shards}' --build ''
  mtp-bench report <commit-A> <commit-B> > report.md
  mtp-bench plot --out-dir bench-plots
exit codes (run): 0 done (and within the thresholds); 1 a gated figure regressed, is missing or
is over its floor cap (only with --thresholds); 2 usage; 3 some measurements failed.
"""


def _build_dir(arg):
    return os.path.abspath(arg or os.environ.get("MTP_BUILD_ROOT") or
                           os.path.join(SOURCE_ROOT, "build"))


def _shards(text, plan):
    out = []
    for part in text.split(","):
        part = part.strip()
        if part == "N":
            out.append(pinning.n_shards(plan))
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise ValueError(f"--shards: {part!r} is not a count or N")
    return sorted(set(out), key=out.index)


def main(argv=None):
    p = argparse.ArgumentParser(prog="mtp-bench", description=(
        "Benchmark harness: runs named scenarios against proxy builds (command templates) "
        "and against no-proxy floors in interleaved rounds; one JSON line per result."),
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="measure", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=templates.placeholders_help())
    r.add_argument("--build", action="append", default=[], metavar="[NAME=]TEMPLATE",
                   help="a build to measure (repeatable; the first is the baseline A); a bare "
                        "path gets the default arguments; '' is this tree's build")
    r.add_argument("--build-dir", help="build dir with tools/ and the default binary "
                   "(default: $MTP_BUILD_ROOT or <source>/build)")
    r.add_argument("--scenarios", default=",".join(sc.SCENARIOS),
                   help="comma list of " + ", ".join(sc.SCENARIOS) + " (default: all)")
    r.add_argument("--modes", default="me", help="comma list of me, direct, tls (default me)")
    r.add_argument("--shards", default="1", help="comma list of counts or N (N = the proxy "
                   "CPU set's size, at least 2); default 1")
    r.add_argument("--backends", default="io_uring", help="io_uring, epoll (comma list)")
    r.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2: A B, B A)")
    r.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    r.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per run")
    r.add_argument("--idle-connections", type=int, default=10000)
    r.add_argument("--idle-hold", type=float, default=2.0, help="seconds the idle connections "
                   "are held")
    r.add_argument("--no-floors", action="store_true", help="skip the no-proxy floors")
    r.add_argument("--load-nice", type=int, default=10, help="niceness of the load generator "
                   "and fake peers (the proxy and floors are never niced)")
    r.add_argument("--proxy-cpus", type=int, help="size of the proxy CPU set (default: half)")
    r.add_argument("--extra", default="", help="words for {extra} in every build template")
    r.add_argument("--history", default="bench-history.jsonl", help="JSONL history to append "
                   "to ('' = none)")
    r.add_argument("--thresholds", help="JSON thresholds file: sets the exit code")
    r.add_argument("--seed", type=int, default=1, help="bootstrap seed")
    r.add_argument("--keep-logs", action="store_true")

    rp = sub.add_parser("report", help="markdown comparison of two commits from the history")
    rp.add_argument("a", help="baseline: commit prefix (>= 4 hex), target name or run id")
    rp.add_argument("b")
    rp.add_argument("--history", default="bench-history.jsonl")
    rp.add_argument("--output", help="write here instead of stdout")
    rp.add_argument("--seed", type=int, default=1)

    pl = sub.add_parser("plot", help="charts of every figure across commits (gnuplot)")
    pl.add_argument("--history", default="bench-history.jsonl")
    pl.add_argument("--out-dir", default="bench-plots")
    pl.add_argument("--format", choices=("svg", "png"), default="svg")
    pl.add_argument("--figure", default="*", help="fnmatch on <setup>/<scenario>.<figure>")

    pp = sub.add_parser("plan", help="print the CPU pinning plan")
    pp.add_argument("--proxy-cpus", type=int)
    sub.add_parser("templates", help="print the build template placeholders")

    args = p.parse_args(argv)
    try:
        if args.cmd == "run":
            return cmd_run(args)
        if args.cmd == "report":
            text = history.report(history.load(args.history), args.a, args.b, seed=args.seed)
            if args.output:
                with open(args.output, "w", encoding="utf-8") as f:
                    f.write(text)
            else:
                sys.stdout.write(text)
            return EXIT_OK
        if args.cmd == "plot":
            lines = history.load(args.history)
            if not lines:
                print(f"mtp-bench: no results in {args.history}", file=sys.stderr)
                return EXIT_USAGE
            images = plot.render(plot.prepare(lines, args.out_dir, args.format, args.figure))
            for i in images:
                print(i)
            return EXIT_OK
        if args.cmd == "plan":
            pl_ = runner.plan_for(args.proxy_cpus)
            print(f"affinity {pinning.available_cpus()}: proxy {pl_['proxy']}, load "
                  f"{pl_['load']} ({pl_['note']}); N-shard setups use "
                  f"{pinning.n_shards(pl_)} shards")
            return EXIT_OK
        if args.cmd == "templates":
            print(templates.placeholders_help())
            return EXIT_OK
    except (ValueError, RuntimeError, OSError) as e:
        print(f"mtp-bench: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def cmd_run(args):
    build_dir = _build_dir(args.build_dir)
    default_binary = os.path.join(build_dir, "control", "mtproto-proxy")
    specs = args.build or [""]
    builds = [templates.parse_build(s, i, default_binary) for i, s in enumerate(specs)]
    names = [n for n, _ in builds]
    if len(set(names)) != len(names):
        raise ValueError(f"build names must differ: {names}")
    plan = runner.plan_for(args.proxy_cpus)
    modes = sc.parse_list(args.modes, ["me", "direct", "tls"], "mode")
    backends = sc.parse_list(args.backends, ["io_uring", "epoll"], "backend")
    scenarios = sc.parse_list(args.scenarios, sc.SCENARIOS, "scenario")
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.idle_connections < 1:
        raise ValueError("--rounds, --duration, --idle-connections must be positive")
    thresholds = verdict.load_thresholds(args.thresholds)
    import shlex
    opts = runner.Options(
        build_dir=build_dir, builds=builds, scenarios=scenarios,
        setups=runner.default_setups(modes, _shards(args.shards, plan), backends),
        rounds=args.rounds, duration=args.duration, warmup=args.warmup,
        idle_connections=args.idle_connections, idle_hold=args.idle_hold,
        floors=not args.no_floors, load_nice=args.load_nice, extra=shlex.split(args.extra),
        plan=plan, keep_logs=args.keep_logs)
    runner.procs.raise_file_limit()
    fd_limit = runner.procs.resource.getrlimit(runner.procs.resource.RLIMIT_NOFILE)[1]
    if "direct" in modes and "idle" in scenarios and 2 * args.idle_connections + 256 > fd_limit:
        print(f"mtp-bench: warning: a direct-mode proxy needs 2 descriptors per idle client; "
              f"the open-file limit {fd_limit} is too low for --idle-connections "
              f"{args.idle_connections}", file=sys.stderr)
    print(f"mtp-bench: proxy CPUs {plan['proxy']}, load CPUs {plan['load']} ({plan['note']}); "
          f"builds {', '.join(names)}; setups {', '.join(s.key for s in opts.setups)}; "
          f"{args.rounds} rounds", file=sys.stderr)
    run = runner.Run(opts)
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so every child is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        lines = run.execute()
    finally:
        run.close()
    if args.history:
        history.append(args.history, lines)
        print(f"mtp-bench: {len(lines)} results appended to {args.history}", file=sys.stderr)
    print_summary(lines)
    verdicts = judge(lines, names, thresholds, args.seed)
    if verdicts:
        print_verdicts(verdicts)
    code = EXIT_OK
    if args.thresholds:
        code = verdict.exit_code(verdicts)
    if code == EXIT_OK and run.failures:
        print(f"mtp-bench: {len(run.failures)} measurement(s) failed", file=sys.stderr)
        code = EXIT_FAILED
    return code


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _fmt(x):
    return history._fmt(x)


def print_summary(lines):
    print("| target | setup | scenario | figure | median | spread | "
          + "".join(f"/ {f} | " for f in sc.FLOORS) + "n |")
    print("|---|---|---|---|---|---|" + "---|" * len(sc.FLOORS) + "---|")
    for ln in lines:
        for fig, s in ln["figures"].items():
            fr = (ln.get("floor_ratios") or {}).get(fig, {})
            print(f"| {ln['target']} | {ln['setup']} | {ln['scenario']} | {fig} | "
                  f"{_fmt(s['median'])} | {100 * s['spread']:.0f} % | "
                  + "".join(f"{_fmt(fr.get(f))} | " for f in sc.FLOORS) + f"{s['n']} |")


def judge(lines, names, thresholds, seed):
    """B/A verdicts for every build after the first, and floor caps for every build."""
    by = {(ln["target"], ln["setup"], ln["scenario"]): ln for ln in lines
          if ln["kind"] == "build"}
    floors = {}
    for ln in lines:
        if ln["kind"] == "floor":
            for fig, s in ln["figures"].items():
                floors.setdefault((ln["scenario"], fig), {})[ln["floor"]] = s["median"]
    out = []
    for (target, setup, scenario), ln in sorted(by.items()):
        for fig in sc.figures_of(scenario):
            key = f"{setup}/{scenario}.{fig}"
            rule = verdict.rule_for(thresholds, key)
            s = ln["figures"].get(fig)
            fc = verdict.floor_check(key, s["median"] if s else None,
                                     floors.get((scenario, fig), {}), rule)
            if fc:
                fc["target"] = target
                out.append(fc)
            if target == names[0]:
                continue
            a = by.get((names[0], setup, scenario))
            v = verdict.compare(key, (a or {}).get("figures", {}).get(fig, {}).get("samples", []),
                                (s or {}).get("samples", []), rule, thresholds["confidence"],
                                seed)
            v["target"] = target
            v["baseline"] = names[0]
            out.append(v)
    return out


def print_verdicts(verdicts):
    print()
    print("| build | figure | A | B | B/A | interval | verdict |")
    print("|---|---|---|---|---|---|---|")
    for v in verdicts:
        if "floor" in v:
            print(f"| {v['target']} | {v['figure']} | floor {v['floor']} | – | "
                  f"{_fmt(v.get('floor_ratio'))}x (cap {v.get('max_floor_ratio')}) | – | "
                  f"{v['verdict']} |")
            continue
        a, b = v["a"].get("median"), v["b"].get("median")
        ci = v.get("ci")
        print(f"| {v['target']} | {v['figure']} | {_fmt(a)} | {_fmt(b)} | "
              f"{_fmt(v.get('ratio'))} | {f'{ci[0]:.3f}–{ci[1]:.3f}' if ci else '–'} | "
              f"{v['verdict']}{'' if v.get('gated') else ' (not gated)'} |")
