// mtp-hostile: many hostile client connections against a proxy (slow senders, partial frames,
// partial ClientHellos, clients that never read), held for a bounded time. Prints
// "holding N of M" once every connection has sent what its mode sends (or --settle-seconds
// passed), then, at the end, one JSON line: how many connections it held and how and when the
// proxy closed the others. One epoll loop on a worker thread; the main thread waits for
// signals and --max-seconds.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "tools/client_flags.h"
#include "tools/epoll_loop.h"
#include "tools/flags.h"
#include "tools/hostile_conn.h"
#include "tools/json_line.h"
#include "tools/net_util.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

constexpr int kExitConnect = 3;  // no connection could be made

struct RunLimits {
  int64_t connections = 32;
  int64_t connect_batch = 64;  // connects started per loop pass
  double settle_seconds = 15;
  double hold_seconds = 30;
};

struct RunResult {
  JsonLine report;
  int64_t connected = 0;
};

// Runs the loop until the hold ends or a stop is requested.
RunResult Run(const HostileOptions& o, const RunLimits& limits) {
  const int64_t start_ms = MonotonicMillis();
  RunResult result;
  JsonLine& report = result.report;
  absl::StatusOr<EpollLoop> loop = EpollLoop::Create();
  if (!loop.ok()) {
    report.Add("result", "error").Add("error", loop.status().ToString());
    return result;
  }
  std::vector<std::unique_ptr<HostileConn>> conns;
  conns.reserve(static_cast<size_t>(limits.connections));
  const int64_t settle_deadline = start_ms + static_cast<int64_t>(limits.settle_seconds * 1000);
  int64_t hold_end = -1;
  while (!StopRequested()) {
    const int64_t now = MonotonicMillis();
    for (int64_t i = 0;
         i < limits.connect_batch && static_cast<int64_t>(conns.size()) < limits.connections; ++i) {
      conns.push_back(std::make_unique<HostileConn>(o, *loop, start_ms));
      conns.back()->Start();
    }
    for (auto& c : conns) c->Tick(now);
    if (hold_end < 0) {
      bool all = static_cast<int64_t>(conns.size()) == limits.connections;
      for (size_t i = 0; all && i < conns.size(); ++i) all = conns[i]->settled();
      if (all || now >= settle_deadline) {
        int64_t open = 0;
        for (auto& c : conns) open += c->open() ? 1 : 0;
        std::printf("holding %lld of %lld%s\n", static_cast<long long>(open),
                    static_cast<long long>(limits.connections), all ? "" : " (unsettled)");
        std::fflush(stdout);
        hold_end = now + static_cast<int64_t>(limits.hold_seconds * 1000);
      }
    } else if (now >= hold_end) {
      break;
    }
    loop->RunOnce(10);
  }
  int64_t connected = 0, failed = 0, held = 0, eof = 0, rst = 0, settled = 0;
  int64_t first_close = -1, last_close = -1;
  uint64_t sent = 0, received = 0;
  for (auto& c : conns) {
    sent += c->bytes_sent();
    received += c->bytes_received();
    settled += c->settled() ? 1 : 0;
    switch (c->state()) {
      case HostileState::kConnecting:
      case HostileState::kConnectFailed:
        ++failed;
        continue;
      case HostileState::kOpen:
        ++held;
        break;
      case HostileState::kClosedEof:
        ++eof;
        break;
      case HostileState::kClosedRst:
        ++rst;
        break;
    }
    ++connected;
    if (c->closed_at_ms() >= 0) {
      if (first_close < 0 || c->closed_at_ms() < first_close) first_close = c->closed_at_ms();
      last_close = std::max(last_close, c->closed_at_ms());
    }
  }
  report.Add("result", connected > 0 ? "ok" : "connect_failed")
      .Add("mode", HostileModeName(o.mode))
      .Add("connections", limits.connections)
      .Add("connected", connected)
      .Add("connect_failed", failed)
      .Add("settled", settled)
      .Add("held", held)
      .Add("closed_eof", eof)
      .Add("closed_rst", rst)
      .Add("closed_first_ms", first_close)
      .Add("closed_last_ms", last_close)
      .Add("bytes_sent", sent)
      .Add("bytes_received", received)
      .Add("duration_ms", MonotonicMillis() - start_ms);
  result.connected = connected;
  return result;
}

int Main(int argc, char** argv) {
  ClientFlags cf;
  std::string mode = "partial-frame";
  RunLimits limits;
  int64_t bytes = 600 * 1024;
  int64_t announce = 1044480;
  int64_t byte_delay_ms = 100;
  double max_seconds = 300;
  int64_t verbosity = 0;

  FlagParser flags(
      "mtp-hostile",
      "Hostile clients for robustness tests: opens --connections connections to a proxy that\n"
      "each misbehave per --mode, holds them, and reports how many the proxy closed, how\n"
      "(EOF or RST) and when. Prints 'holding N of M' once they are in place, then one JSON\n"
      "line at the end.");
  RegisterClientFlags(flags, &cf);
  flags.AddChoice("mode", &mode, {"partial-frame", "slow-header", "partial-hello", "no-read"},
                  "partial-frame: header, then --bytes of a frame announcing --announce bytes; "
                  "slow-header: the header (ClientHello with an ee secret) one byte per "
                  "--byte-delay-ms; partial-hello: a TLS handshake record announcing --announce "
                  "bytes (<= 65535), --bytes of it; no-read: handshake, then --bytes of "
                  "--size requests whose answers are never read");
  flags.AddInt("connections", &limits.connections, "connections to open and hold", 1, 100000);
  flags.AddInt("bytes", &bytes, "bytes each connection sends after its header", 0, 1LL << 32);
  flags.AddInt("announce", &announce, "frame (or TLS record) length announced", 1, 1LL << 30);
  flags.AddInt("byte-delay-ms", &byte_delay_ms, "slow-header: pause between bytes", 0, 600000);
  flags.AddInt("connect-batch", &limits.connect_batch, "connects started per loop pass", 1, 100000);
  flags.AddDouble("settle-seconds", &limits.settle_seconds,
                  "longest wait for every connection to be in place before holding", 0, 3600, "S");
  flags.AddDouble("hold-seconds", &limits.hold_seconds, "how long to hold once in place", 0, 86400,
                  "S");
  flags.AddDouble("max-seconds", &max_seconds, "hard bound on the whole run", 1, 86400, "S");
  flags.AddInt("verbosity", &verbosity, "log verbosity on stderr (0..3)", 0, 9);
  flags.AddEpilog(
      "Example:\n"
      "  mtp-hostile --server 127.0.0.1:8443 --secret 0123456789abcdef0123456789abcdef \\\n"
      "      --mode partial-frame --connections 32 --bytes 614400 --announce 1044480\n"
      "Exit codes: 0 ran (see the JSON line); 2 usage; 3 no connection could be made.\n"
      "SIGTERM/SIGINT end the hold early and still print the report.");
  flags.ParseOrExit(argc, argv);
  SetLogVerbosity(static_cast<int>(verbosity));

  absl::StatusOr<ResolvedClient> resolved = ResolveClientFlags(cf);
  if (!resolved.ok()) {
    std::fprintf(stderr, "mtp-hostile: %s\n", std::string(resolved.status().message()).c_str());
    return kExitUsage;
  }
  HostileOptions o;
  o.mode = *ParseHostileMode(mode);
  o.server = resolved->server;
  o.codec = resolved->codec;
  o.bytes = static_cast<size_t>(bytes);
  o.announce = static_cast<size_t>(announce);
  o.size = resolved->size_max;
  o.byte_delay_ms = byte_delay_ms;
  if (o.mode == HostileMode::kPartialHello && (announce < 512 || announce > 0xffff)) {
    std::fprintf(stderr, "mtp-hostile: partial-hello: --announce must be 512..65535\n");
    return kExitUsage;
  }

  InstallStopSignals();
  RaiseFileLimit();
  RunResult result;
  std::thread worker([&] {
    result = Run(o, limits);
    RequestStop();
  });
  WaitForStop(max_seconds);
  worker.join();
  std::printf("%s\n", result.report.str().c_str());
  std::fflush(stdout);
  return result.connected > 0 ? kExitOk : kExitConnect;
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
