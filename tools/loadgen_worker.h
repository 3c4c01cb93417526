// mtp-loadgen's engine: one LoadWorker per thread runs an epoll loop over its share of the
// client connections and drives them through the selected mode (throughput, latency, churn,
// idle), verifying every echo. Counters are relaxed atomics the main thread samples; the
// RTT histogram is read only after the worker has stopped.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tools/client_codec.h"
#include "tools/echo_tracker.h"
#include "tools/epoll_loop.h"
#include "tools/latency_histogram.h"
#include "tools/net_util.h"

namespace mtp::tools {

enum class LoadMode { kThroughput, kLatency, kChurn, kIdle };

struct LoadOptions {
  LoadMode mode = LoadMode::kThroughput;
  SocketAddress server;
  ClientCodecConfig codec;
  ClientPadding padding = ClientPadding::kTdlib;
  size_t size_min = 256;
  size_t size_max = 256;
  int64_t window = 8;            // frames in flight per connection (throughput)
  int64_t quick_ack_every = 0;   // 0 = never
  int64_t timeout_ms = 10'000;   // connect / inactivity limit per connection
  double connect_rate = 0;       // new connections per second per worker (0 = unlimited)
  int64_t max_pending_connects = 256;  // per worker, bounds the connect burst
  bool reconnect = true;         // replace failed connections (throughput/latency)
  int64_t reconnect_delay_ms = 100;  // pause before a failed connection is retried
};

// Counters of one worker (written by it, read by the main thread).
struct LoadCounters {
  std::atomic<uint64_t> payload_bytes_sent{0};
  std::atomic<uint64_t> payload_bytes_verified{0};
  std::atomic<uint64_t> wire_bytes_sent{0};
  std::atomic<uint64_t> wire_bytes_received{0};
  std::atomic<uint64_t> frames_verified{0};
  std::atomic<uint64_t> quick_acks{0};
  std::atomic<uint64_t> connects{0};        // TCP connects completed
  std::atomic<uint64_t> handshakes{0};      // first echo verified on a connection
  std::atomic<uint64_t> established{0};     // connections currently past their first echo
  std::atomic<uint64_t> errors{0};
};

class LoadWorker {
 public:
  LoadWorker(const LoadOptions& options, size_t connections, int cpu);
  ~LoadWorker();
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  // Thread body: runs until `stop` is set. `measuring` gates RTT recording.
  void Run(const std::atomic<bool>& stop, const std::atomic<bool>& measuring);

  const LoadCounters& counters() const { return counters_; }
  // After Run() returned:
  const LatencyHistogram& rtt() const { return rtt_; }
  const LatencyHistogram& handshake_time() const { return handshake_time_; }
  std::map<std::string, uint64_t> error_kinds() const;
  // First error messages seen (diagnostics), at most a few.
  std::vector<std::string> error_samples() const;

  class Conn;

 private:
  friend class Conn;
  void CountError(const std::string& kind, const std::string& detail);

  const LoadOptions& options_;
  size_t connection_count_;
  int cpu_;
  LoadCounters counters_;
  LatencyHistogram rtt_;
  LatencyHistogram handshake_time_;
  mutable std::mutex errors_mu_;  // errors are rare; the map is read after the run
  std::map<std::string, uint64_t> error_kinds_;
  std::vector<std::string> error_samples_;
  std::vector<std::unique_ptr<Conn>> conns_;
  const std::atomic<bool>* measuring_ = nullptr;
  EpollLoop* loop_ = nullptr;
  int64_t pending_connects_ = 0;
  bool start_wanted_ = false;  // a connection became startable during the last dispatch
};

}  // namespace mtp::tools
