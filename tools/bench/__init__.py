"""mtp-bench: the project's benchmark harness (see docs/performance.md).

Modules, one job each:
  stats      medians, spread, seeded bootstrap confidence interval of a ratio
  loadgen    mtp-loadgen argv per scenario and the figures parsed from its JSON line
  scenarios  the named scenarios and the figures each one reports
  templates  proxy command templates and their placeholders
  pinning    CPU sets for the proxy and for the load, planned from the affinity mask
  sysinfo    commit, build type, kernel, CPU model and flags
  runner     starts the peers, floors and proxies, runs interleaved rounds
  verdict    B/A comparison with noise and the thresholds file (exit code)
  history    the JSONL history and the markdown report
  plot       gnuplot charts of each figure across commits
  cli        the command line

Standard library only; run by /usr/bin/python3 (Debian 12).
"""
