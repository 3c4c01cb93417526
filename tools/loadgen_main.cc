// mtp-loadgen: many concurrent verified client connections through the proxy (epoll, one loop
// per thread) in four modes - throughput, latency, churn, idle - reporting ONE JSON line with
// rates, RTT percentiles, handshake rate, errors and (with --proxy-pid) the proxy's CPU time
// per GB relayed and its RSS.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/log.h"
#include "tools/client_flags.h"
#include "tools/flags.h"
#include "tools/json_line.h"
#include "tools/latency_histogram.h"
#include "tools/loadgen_worker.h"
#include "tools/net_util.h"
#include "tools/proc_stats.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

struct Totals {
  uint64_t payload_sent = 0;
  uint64_t payload_verified = 0;
  uint64_t wire_sent = 0;
  uint64_t wire_received = 0;
  uint64_t frames = 0;
  uint64_t quick_acks = 0;
  uint64_t connects = 0;
  uint64_t handshakes = 0;
  uint64_t established = 0;
  uint64_t errors = 0;
};

Totals Sum(const std::vector<std::unique_ptr<LoadWorker>>& workers) {
  Totals t;
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  for (const auto& w : workers) {
    const LoadCounters& c = w->counters();
    t.payload_sent += v(c.payload_bytes_sent);
    t.payload_verified += v(c.payload_bytes_verified);
    t.wire_sent += v(c.wire_bytes_sent);
    t.wire_received += v(c.wire_bytes_received);
    t.frames += v(c.frames_verified);
    t.quick_acks += v(c.quick_acks);
    t.connects += v(c.connects);
    t.handshakes += v(c.handshakes);
    t.established += v(c.established);
    t.errors += v(c.errors);
  }
  return t;
}

struct ProxySample {
  bool ok = false;
  double cpu_s = 0;
  int64_t rss_kb = 0;
  int64_t hwm_kb = 0;
};

ProxySample SampleProxies(const std::vector<pid_t>& pids) {
  ProxySample s;
  if (pids.empty()) return s;
  s.ok = true;
  for (pid_t pid : pids) {
    absl::StatusOr<ProcessSample> p = SampleProcess(pid);
    if (!p.ok()) {
      MTP_WARN("--proxy-pid %d: %s", pid, p.status().ToString());
      s.ok = false;
      continue;
    }
    s.cpu_s += p->cpu_seconds;
    s.rss_kb += p->rss_kb;
    s.hwm_kb += p->hwm_kb;
  }
  return s;
}

std::string RttJson(const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return JsonLine()
      .Add("count", h.count())
      .Add("p50", us(h.Percentile(0.50)))
      .Add("p90", us(h.Percentile(0.90)))
      .Add("p99", us(h.Percentile(0.99)))
      .Add("p999", us(h.Percentile(0.999)))
      .Add("max", us(h.max()))
      .Add("mean", h.mean() / 1000.0)
      .str();
}

bool ParseIntList(const std::string& text, std::vector<int64_t>* out) {
  if (text.empty()) return true;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 0) return false;
    out->push_back(v);
  }
  return true;
}

int Main(int argc, char** argv) {
  ClientFlags cf;
  cf.size = "16384";
  std::string mode = "throughput";
  int64_t connections = 10;
  int64_t threads = 1;
  int64_t window = 8;
  int64_t quick_ack_every = 0;
  double duration = 10;
  double warmup = 1;
  double hold_seconds = 10;
  double connect_rate = 0;
  int64_t max_pending_connects = 256;
  int64_t timeout_ms = 10'000;
  int64_t reconnect_delay_ms = 100;
  std::string cpus;
  std::string proxy_pids;
  std::string ready_file;
  std::string output;
  double max_seconds = 0;
  int64_t verbosity = 0;

  FlagParser flags(
      "mtp-loadgen",
      "Load generator: many concurrent verified client connections through the proxy.\n"
      "Modes: throughput (C connections x frames of S bytes, W in flight each), latency\n"
      "(ping-pong RTT percentiles), churn (connect, handshake, one round trip, close),\n"
      "idle (open C connections, one round trip each, hold them). Every echo is verified.\n"
      "Prints ONE JSON line.");
  RegisterClientFlags(flags, &cf);
  flags.AddChoice("mode", &mode, {"throughput", "latency", "churn", "idle"}, "load pattern");
  flags.AddInt("connections", &connections, "concurrent connections", 1, 10'000'000);
  flags.AddInt("threads", &threads, "epoll threads", 1, 256);
  flags.AddInt("window", &window, "frames in flight per connection (throughput)", 1, 1 << 20);
  flags.AddInt("quick-ack-every", &quick_ack_every,
               "request a quick ack on every K-th frame (0 = never)", 0, INT64_MAX, "K");
  flags.AddDouble("duration", &duration, "measured seconds (throughput, latency, churn)", 0.1,
                  1e7, "S");
  flags.AddDouble("warmup", &warmup, "unmeasured seconds before the measurement", 0, 1e7, "S");
  flags.AddDouble("hold-seconds", &hold_seconds,
                  "idle: how long to hold the connections once all are established", 0, 1e7,
                  "S");
  flags.AddDouble("connect-rate", &connect_rate,
                  "new connections per second per thread (0 = as fast as possible)", 0, 1e9,
                  "R");
  flags.AddInt("max-pending-connects", &max_pending_connects,
               "connections per thread in connect/handshake at once", 1, 1'000'000);
  flags.AddInt("timeout-ms", &timeout_ms, "per-connection connect / inactivity limit", 1,
               3'600'000);
  flags.AddInt("reconnect-delay-ms", &reconnect_delay_ms,
               "pause before a failed connection is opened again", 0, 3'600'000);
  flags.AddString("cpu", &cpus, "pin threads round-robin to these CPUs (e.g. 1 or 2,3)",
                  "LIST");
  flags.AddString("proxy-pid", &proxy_pids,
                  "report CPU seconds, CPU s/GB and RSS of these processes (comma list)",
                  "PIDS");
  flags.AddString("ready-file", &ready_file,
                  "idle: create this file once all connections are established", "FILE");
  flags.AddString("output", &output, "write the JSON line here instead of stdout", "FILE");
  flags.AddDouble("max-seconds", &max_seconds,
                  "hard limit for the whole run, including connecting (0 = none)", 0, 1e9, "S");
  flags.AddInt("verbosity", &verbosity, "log verbosity on stderr (0..3)", 0, 9);
  flags.AddEpilog(
      "Examples:\n"
      "  mtp-loadgen --server 127.0.0.1:8443 --secret dd<32hex> --mode throughput \\\n"
      "      --connections 64 --size 65536 --window 4 --threads 2 --duration 10 --proxy-pid 1234\n"
      "  mtp-loadgen --server 127.0.0.1:8443 --secret <32hex> --mode idle --connections 10000 \\\n"
      "      --hold-seconds 30 --ready-file /tmp/ready --proxy-pid 1234\n"
      "Exit codes: 0 no errors (idle: all connections established); 1 errors; 2 usage.");
  flags.ParseOrExit(argc, argv);
  SetLogVerbosity(static_cast<int>(verbosity));
  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "mtp-loadgen: %s\n", msg.c_str());
    return kExitUsage;
  };

  absl::StatusOr<ResolvedClient> resolved = ResolveClientFlags(cf);
  if (!resolved.ok()) return usage(std::string(resolved.status().message()));
  LoadOptions o;
  o.mode = mode == "latency" ? LoadMode::kLatency
           : mode == "churn" ? LoadMode::kChurn
           : mode == "idle"  ? LoadMode::kIdle
                             : LoadMode::kThroughput;
  o.server = resolved->server;
  o.codec = resolved->codec;
  o.padding = resolved->padding;
  o.size_min = resolved->size_min;
  o.size_max = resolved->size_max;
  o.window = window;
  o.quick_ack_every = quick_ack_every;
  o.timeout_ms = timeout_ms;
  o.connect_rate = connect_rate;
  o.max_pending_connects = max_pending_connects;
  o.reconnect = true;
  o.reconnect_delay_ms = reconnect_delay_ms;
  std::vector<int64_t> cpu_list;
  std::vector<int64_t> pid_list;
  if (!ParseIntList(cpus, &cpu_list)) return usage("--cpu: expected a comma list of CPUs");
  if (!ParseIntList(proxy_pids, &pid_list)) return usage("--proxy-pid: expected PIDs");
  std::vector<pid_t> pids(pid_list.begin(), pid_list.end());
  if (threads > connections) threads = connections;

  InstallStopSignals();
  RaiseFileLimit();

  std::vector<std::unique_ptr<LoadWorker>> workers;
  for (int64_t i = 0; i < threads; ++i) {
    size_t share = static_cast<size_t>(connections / threads + (i < connections % threads));
    int cpu = cpu_list.empty() ? -1 : static_cast<int>(cpu_list[i % cpu_list.size()]);
    workers.push_back(std::make_unique<LoadWorker>(o, share, cpu));
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> measuring{false};
  std::vector<std::thread> running;
  const int64_t run_start_ns = MonotonicNanos();
  for (auto& w : workers) {
    running.emplace_back([&w, &stop, &measuring] { w->Run(stop, measuring); });
  }
  auto elapsed_s = [&] { return (MonotonicNanos() - run_start_ns) / 1e9; };
  auto time_left = [&](double want) {
    if (max_seconds <= 0) return want;
    return std::max(0.0, std::min(want, max_seconds - elapsed_s()));
  };
  bool interrupted = false;
  auto wait = [&](double seconds) {
    if (seconds > 0 && !SleepUnlessStopped(seconds)) interrupted = true;
  };

  JsonLine j;
  j.Add("mode", mode)
      .Add("server", o.server.ToString())
      .Add("transport", TransportName(o.codec.transport))
      .Add("fake_tls", !o.codec.tls_domain.empty())
      .Add("connections", connections)
      .Add("threads", threads)
      .Add("size_min", uint64_t{o.size_min})
      .Add("size_max", uint64_t{o.size_max});
  if (o.mode == LoadMode::kThroughput) j.Add("window", window);
  if (quick_ack_every > 0) j.Add("quick_ack_every", quick_ack_every);

  Totals before;
  Totals after;
  ProxySample proxy_before;
  ProxySample proxy_after;
  double measured_s = 0;
  bool all_established = true;

  if (o.mode == LoadMode::kIdle) {
    // Wait until every connection has done its round trip (or the limit / a signal).
    const int64_t t0 = MonotonicNanos();
    proxy_before = SampleProxies(pids);
    measuring.store(true);
    while (!StopRequested()) {
      Totals t = Sum(workers);
      if (t.established >= static_cast<uint64_t>(connections)) break;
      if (max_seconds > 0 && elapsed_s() >= max_seconds) break;
      if (!SleepUnlessStopped(0.02)) interrupted = true;
    }
    const double establish_s = (MonotonicNanos() - t0) / 1e9;
    Totals est = Sum(workers);
    all_established = est.established >= static_cast<uint64_t>(connections);
    j.Add("established", est.established).Add("establish_s", establish_s);
    if (all_established) {
      std::fprintf(stderr, "mtp-loadgen: all %lld connections established in %.3f s\n",
                   static_cast<long long>(connections), establish_s);
      if (!ready_file.empty()) {
        if (std::FILE* f = std::fopen(ready_file.c_str(), "w")) {
          std::fprintf(f, "%lld\n", static_cast<long long>(connections));
          std::fclose(f);
        }
      }
      ProxySample at_established = SampleProxies(pids);
      if (at_established.ok) j.Add("proxy_rss_kb_established", at_established.rss_kb);
      const int64_t h0 = MonotonicNanos();
      if (!StopRequested()) wait(time_left(hold_seconds));
      measured_s = (MonotonicNanos() - h0) / 1e9;
      j.Add("held_s", measured_s);
      // Still all there after the hold?
      Totals held = Sum(workers);
      j.Add("established_after_hold", held.established);
      all_established = held.established >= static_cast<uint64_t>(connections);
    }
    proxy_after = SampleProxies(pids);
    after = Sum(workers);
  } else {
    if (!StopRequested()) wait(time_left(warmup));
    before = Sum(workers);
    proxy_before = SampleProxies(pids);
    measuring.store(true);
    const int64_t m0 = MonotonicNanos();
    if (!StopRequested()) wait(time_left(duration));
    measured_s = (MonotonicNanos() - m0) / 1e9;
    after = Sum(workers);
    proxy_after = SampleProxies(pids);
  }
  stop.store(true);
  for (std::thread& t : running) t.join();

  LatencyHistogram rtt;
  LatencyHistogram handshake;
  std::map<std::string, uint64_t> error_kinds;
  std::vector<std::string> samples;
  for (const auto& w : workers) {
    rtt.Merge(w->rtt());
    handshake.Merge(w->handshake_time());
    for (const auto& [k, v] : w->error_kinds()) error_kinds[k] += v;
    for (const std::string& s : w->error_samples()) {
      if (samples.size() < 8) samples.push_back(s);
    }
  }
  const Totals total = Sum(workers);

  const double secs = measured_s > 0 ? measured_s : 1e-9;
  const uint64_t up = after.payload_sent - before.payload_sent;
  const uint64_t down = after.payload_verified - before.payload_verified;
  j.Add("duration_s", measured_s);
  if (o.mode != LoadMode::kIdle) {
    j.Add("up_MBps", up / secs / 1e6)
        .Add("down_MBps", down / secs / 1e6)
        .Add("wire_up_MBps", (after.wire_sent - before.wire_sent) / secs / 1e6)
        .Add("wire_down_MBps", (after.wire_received - before.wire_received) / secs / 1e6)
        .Add("packets_per_s", (after.frames - before.frames) / secs)
        .Add("payload_bytes_up", up)
        .Add("payload_bytes_down", down);
  }
  j.AddRaw("rtt_us", RttJson(rtt));
  j.Add("handshakes", after.handshakes - before.handshakes)
      .Add("handshakes_per_s", (after.handshakes - before.handshakes) / secs)
      .AddRaw("handshake_us", RttJson(handshake));
  if (quick_ack_every > 0) j.Add("quick_acks", total.quick_acks);
  j.Add("errors", total.errors);
  {
    JsonLine kinds;
    for (const auto& [k, v] : error_kinds) kinds.Add(k, v);
    j.AddRaw("error_kinds", kinds.str());
  }
  if (!samples.empty()) j.Add("error_sample", absl::StrJoin(samples, " | "));
  if (!pids.empty()) {
    JsonLine p;
    std::vector<std::string> pid_text;
    for (pid_t pid : pids) pid_text.push_back(absl::StrCat(pid));
    p.AddRaw("pids", absl::StrCat("[", absl::StrJoin(pid_text, ","), "]"));
    if (proxy_before.ok && proxy_after.ok) {
      const double cpu = proxy_after.cpu_s - proxy_before.cpu_s;
      const double gb = static_cast<double>(up + down) / 1e9;
      p.Add("cpu_s", cpu);
      p.Add("cpu_util", cpu / secs);
      if (o.mode != LoadMode::kIdle && gb > 0) p.Add("cpu_s_per_GB", cpu / gb);
      p.Add("rss_kb_before", proxy_before.rss_kb)
          .Add("rss_kb_after", proxy_after.rss_kb)
          .Add("hwm_kb_after", proxy_after.hwm_kb);
    } else {
      p.Add("error", "could not read /proc for every pid");
    }
    j.AddRaw("proxy", p.str());
  }
  if (interrupted) j.Add("interrupted", true);
  const bool ok = total.errors == 0 && all_established && !interrupted;
  j.Add("ok", ok);

  std::string line = j.str();
  if (!output.empty()) {
    std::FILE* f = std::fopen(output.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "mtp-loadgen: cannot write %s\n", output.c_str());
      return kExitFailure;
    }
    std::fprintf(f, "%s\n", line.c_str());
    std::fclose(f);
  } else {
    std::printf("%s\n", line.c_str());
  }
  return ok ? kExitOk : kExitFailure;
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
