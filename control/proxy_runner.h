// The process around the dataplane: the translation of the command line and the loaded files
// into the shards' DataplaneConfig (BuildDataplaneConfig is the only place options become
// runtime settings; BuildLiveConfig the only place reloadable files do), and the shard set
// (creation and binding, pinned threads, reload publishing, drain, stop, counter sums) that the
// control thread drives through ShardSetControl.
//
// Thread ownership: ProxyRunner is driven by the control (main) thread; shard threads only run
// ProxyShard::Run.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "control/cli.h"
#include "control/control_thread.h"
#include "control/fake_tls_runtime.h"
#include "control/runtime_config.h"
#include "control/secret_limits.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/live_config.h"
#include "dataplane/shard/proxy_shard.h"
#include "dataplane/rate_limit.h"
#include "dataplane/shard_counters.h"
#include "dataplane/snapshot_mailbox.h"

namespace mtp {

// Facts decided at start-up, outside the command line and the files.
struct StartupFacts {
  uint32_t shard_count = 1;
  int max_connections = kDefaultConnectionLimit;  // -c / -C after the open-file plan
  int max_special_connections = kDefaultConnectionLimit;
  ProcessId own_pid;  // {ip, -p port or -1, pid, start time}
};

// --shards, else -M (mtproxy-ng runs shard threads instead of worker processes), else one per
// CPU of `cpus`; at most kMaxShards.
uint32_t ChooseShardCount(const ParsedCommandLine& cli, size_t cpu_count);

// The PID ip the reference picks: --address when it is in 10.0.0.0/8, else the first
// non-loopback interface address (preferring 10/8), else 0.
uint32_t ChoosePidIpv4(const ParsedCommandLine& cli);

// The reloadable part (secrets, ME routing, proxy secret) of `snapshot`.
absl::StatusOr<std::shared_ptr<const LiveConfig>> BuildLiveConfig(const ConfigSnapshot& snapshot);

// Command line + files + start-up facts -> everything the shards run with.
absl::StatusOr<std::unique_ptr<DataplaneConfig>> BuildDataplaneConfig(
    const ParsedCommandLine& cli, const ConfigSnapshot& snapshot, const StartupFacts& facts);

class ProxyRunner final : public ShardSetControl {
 public:
  // Creates the shards (engines, listening sockets: binding happens here, before any
  // privilege drop) without starting their threads.
  static absl::StatusOr<std::unique_ptr<ProxyRunner>> Create(
      std::unique_ptr<DataplaneConfig> config, uint32_t shard_count, std::vector<int> cpus);
  ~ProxyRunner() override;

  // Starts one thread per shard, pinned to cpus[i % cpus.size()] (no pinning when empty).
  void StartThreads();
  // Asks every shard to stop (returns at once) / waits for the threads.
  void RequestStop();
  void Join();

  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  const ProxyShard& shard(uint32_t i) const { return *shards_[i]; }
  // Local port of -H listener `i` (the kernel's choice for -H 0).
  uint16_t listener_port(size_t i) const { return shards_[0]->listener_port(i); }
  CounterSnapshot Counters() const;
  // -p 0: the PID port for ME handshakes becomes the port the stats server bound. Only before
  // StartThreads (the shards read the config without a lock).
  void SetOwnPidPort(uint16_t port) { config_->own_pid.port = port; }
  // -D: the fake-TLS runtime whose stats FillStats adds (must outlive the runner's use).
  void SetFakeTls(const FakeTlsRuntime* fake_tls) { fake_tls_ = fake_tls; }

  // Named secrets' limits: reads the state file and publishes the start-up secrets' slots and
  // admission (before StartThreads). Without it the shards apply no secret limits.
  absl::Status EnableSecretLimits(SecretLimitsOptions options, const ConfigSnapshot& snapshot,
                                  int64_t now_unix);
  const SecretLimits* secret_limits() const { return secret_limits_.get(); }

  // ShardSetControl (control thread).
  absl::Status Publish(std::shared_ptr<const ConfigSnapshot> snapshot) override;
  uint64_t AdoptedGeneration() const override;
  void BeginDrain() override;
  uint64_t ActiveClients() const override;
  void Stop() override;
  void FillStats(StatsSnapshot& out) const override;
  std::span<ShardRateBudget> AcceptBudgets() override;
  std::span<ShardRateBudget> HandshakeBudgets() override;
  void TickSecretLimits(int64_t now_unix) override;
  void SaveSecretState() override;
  absl::Status ResetSecretQuota(std::string_view name, int64_t now_unix) override;

 private:
  // `live` with the secrets' limit slots of `snapshot` (Configure: slots and admission).
  absl::StatusOr<std::shared_ptr<const LiveConfig>> WithSecretSlots(
      std::shared_ptr<const LiveConfig> live, const ConfigSnapshot& snapshot, int64_t now_unix);

  ProxyRunner() = default;

  std::unique_ptr<DataplaneConfig> config_;
  std::unique_ptr<SnapshotMailbox<LiveConfig>> mailbox_;
  std::vector<ShardRateBudget> accept_budgets_;
  std::vector<ShardRateBudget> handshake_budgets_;
  // Shared with the shards; declared before them so it outlives them.
  std::unique_ptr<SecretBoard> secret_board_;
  uint32_t link_slots_per_shard_ = 0;  // ME link slab capacity of every shard
  std::shared_ptr<const LiveConfig> live_;  // the last one published (control thread)
  std::vector<int> cpus_;
  std::vector<std::unique_ptr<ProxyShard>> shards_;
  std::vector<std::thread> threads_;
  const FakeTlsRuntime* fake_tls_ = nullptr;
  std::unique_ptr<SecretLimits> secret_limits_;
};

}  // namespace mtp
