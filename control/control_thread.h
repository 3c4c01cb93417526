// The control thread's loop: signals (SIGHUP reload, SIGTERM/SIGINT drain then stop, SIGUSR1
// log reopen) taken synchronously through a signalfd, config snapshot publishing and the
// shards' acknowledgements, the loopback stats/metrics HTTP server, process-wide rate budget
// ticks, and stats aggregation.
//
// Thread ownership: everything runs on the thread that calls Run() (the process's main
// thread); PostSignal() may be called from any thread. No work is ever done in a signal
// handler: the signals are blocked and read from the signalfd.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/cli.h"
#include "control/config_refresh.h"
#include "control/http_stats.h"
#include "dataplane/rate_limit.h"
#include "control/runtime_config.h"
#include "control/stats_render.h"

namespace mtp {

// What the control loop needs from the dataplane's shard set (implemented over the shards by
// the proxy runner; tests use a fake). Called on the control thread only.
class ShardSetControl {
 public:
  virtual ~ShardSetControl() = default;
  // Hands `snapshot` to every shard (built into whatever the shards run with); each adopts it
  // at a quiet point of its loop. An error leaves the shards on their current snapshot.
  virtual absl::Status Publish(std::shared_ptr<const ConfigSnapshot> snapshot) = 0;
  // The lowest ConfigSnapshot::generation all shards have acknowledged.
  virtual uint64_t AdoptedGeneration() const = 0;
  // Stop accepting new clients (listening sockets closed); established clients carry on.
  virtual void BeginDrain() = 0;
  // Client connections still open (summed over shards).
  virtual uint64_t ActiveClients() const = 0;
  // Closes every connection and joins the shard threads.
  virtual void Stop() = 0;
  // Adds the shards' counters to `out` (connections, traffic, proxy block, extended), with
  // the handshake budgets' refusals read once for the handshake outcome, the rejection reason
  // and the {"handshake"} entry appended to extended.rate_limit_refusals_by_kind.
  virtual void FillStats(StatsSnapshot& out) const = 0;
  // One budget per shard (same objects on every call), spent by the shards at accept time and
  // at each client handshake.
  virtual std::span<ShardRateBudget> AcceptBudgets() = 0;
  virtual std::span<ShardRateBudget> HandshakeBudgets() = 0;
  // Named secrets' limits (control/secret_limits.h): the tick, the state file at shutdown,
  // and POST /secrets/<name>/reset-quota. No-ops where there are none.
  virtual void TickSecretLimits(int64_t /*now_unix*/) {}
  virtual void SaveSecretState() {}
  virtual absl::Status ResetSecretQuota(std::string_view /*name*/, int64_t /*now_unix*/) {
    return absl::NotFoundError("no secret limits");
  }
};

// Counters of the control plane itself.
struct ControlCounters {
  int64_t reloads_ok = 0;
  int64_t reloads_failed = 0;
  std::string last_reload_error;  // empty after a successful reload
  int64_t log_reopens = 0;
};

// How Run() ended.
enum class ControlExit : uint8_t {
  kDrained,    // first SIGTERM/SIGINT: drained (or timed out) and stopped; exit 0
  kImmediate,  // a second SIGTERM/SIGINT during the drain: exit 1 at once, without joining
};

class ControlThread {
 public:
  struct Options {
    // Facts fixed at start-up that the stats show.
    int64_t start_time_unix = 0;
    uint32_t pid_ip = 0;  // the ME-handshake PID, printed as [ip:port:pid:utime]
    int16_t pid_port = -1;
    int32_t pid_pid = 0;
    int32_t pid_utime = 0;
    int max_connections = kDefaultConnectionLimit;  // effective -c / -C after the fd plan
    int max_special_connections = kDefaultConnectionLimit;
    int shard_count = 1;
    std::string version;         // the stats `version` line
    int tick_ms = 20;            // rate budget and drain checks
  };

  // `cli` and `resolver` must outlive the ControlThread; `initial` is the start-up snapshot
  // (already published to the shards).
  ControlThread(const ParsedCommandLine& cli, Options options,
                std::shared_ptr<const ConfigSnapshot> initial, ShardSetControl& shards,
                HostResolver& resolver);
  ~ControlThread();
  ControlThread(const ControlThread&) = delete;
  ControlThread& operator=(const ControlThread&) = delete;

  // Blocks SIGHUP, SIGTERM, SIGINT and SIGUSR1 in the calling thread (threads created later
  // inherit the mask, so call this before starting any) and opens the signalfd.
  absl::Status InstallSignals();

  // With --http-stats (and without --disable-tcp): binds the -p port on loopback. Call before
  // the privilege drop so privileged ports work. No-op otherwise.
  absl::Status StartStatsServer();
  std::optional<uint16_t> stats_port() const;
  // "127.0.0.1:8888" / "[::]:9100" (empty without a stats server).
  std::string stats_address() const;

  // Runs until the shards are stopped (SIGTERM/SIGINT). Bounded work per iteration.
  ControlExit Run();

  // The same effect as receiving `signo` (SIGHUP, SIGTERM, SIGINT, SIGUSR1). Any thread.
  void PostSignal(int signo);
  // The config refresh replaced the files: reload them as on SIGHUP (a refused reload is
  // reported back to `refresh`). Any thread.
  void PostConfigRefreshed();
  // The running config refresh (its counters join the stats); null = none. Before Run().
  void SetConfigRefresh(ConfigRefreshService* refresh) { refresh_ = refresh; }

  // The snapshot the shards were last given (control thread).
  const std::shared_ptr<const ConfigSnapshot>& current() const { return current_; }
  const ControlCounters& counters() const { return counters_; }
  // The stats as of now (control thread; also what /stats and /metrics render).
  StatsSnapshot CollectStats();

 private:
  // /ready: 200 while serving, else 503 with the reason.
  EndpointBody ReadyAnswer();
  // POST /secrets/<name>/reset-quota on the stats port.
  EndpointBody SecretAction(std::string_view target);
  void HandleSignal(int signo);
  // `cause` starts the log lines ("SIGHUP", "config refresh").
  absl::Status Reload(const char* cause);
  void BeginShutdown(int signo);
  void Tick(int64_t now_ns);
  void DrainSignalFd();
  void DrainPosted();

  const ParsedCommandLine& cli_;
  Options options_;
  std::shared_ptr<const ConfigSnapshot> current_;
  ShardSetControl& shards_;
  HostResolver& resolver_;
  ControlCounters counters_;
  ConfigRefreshService* refresh_ = nullptr;

  int signal_fd_ = -1;
  int event_fd_ = -1;  // PostSignal wake-up
  int epoll_fd_ = -1;
  std::mutex posted_mu_;
  std::vector<int> posted_;  // guarded by posted_mu_

  std::unique_ptr<StatsHttpServer> http_;
  RateBudgetSplitter accept_splitter_;
  RateBudgetSplitter handshake_splitter_;

  uint64_t awaited_generation_ = 0;  // published, not yet acknowledged by every shard
  bool draining_ = false;
  int64_t drain_deadline_ns_ = 0;
  bool stop_ = false;
  ControlExit exit_ = ControlExit::kDrained;
};

// Monotonic clock in nanoseconds (the clock the rate budgets use).
int64_t MonotonicNowNs();

}  // namespace mtp
