// The process around the dataplane: the options the binary understands, their translation into
// one immutable DataplaneConfig (the only place options become runtime settings, so the full
// CLI parser of control/cli.h can replace the temporary one without touching the shards), and
// the shard set (threads pinned to CPUs, start, stop, join, counter sums).
//
// Thread ownership: ProxyRunner is driven by the main (control) thread; shard threads only
// run ProxyShard::Run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/proxy_shard.h"
#include "dataplane/shard_counters.h"

namespace mtp {

// Command-line values, unvalidated beyond their syntax.
struct ProxyOptions {
  std::vector<uint16_t> ports;            // -H
  std::vector<std::string> secrets_hex;   // -S
  std::string proxy_tag_hex;              // -P
  int stats_port = -1;                    // -p (only the PID uses it here)
  std::string aes_pwd_path = "secret";    // --aes-pwd
  bool aes_pwd_given = false;
  int shards = 0;                         // -M: shard count (0 = one per CPU of the mask)
  std::vector<std::string> nat_info;      // --nat-info local:global
  std::string address;                    // --address
  int max_connections = 65536;            // -c
  int max_special_connections = -1;       // -C (-1 = same as -c)
  int window_clamp = 131072;              // -W
  int backlog = 8192;                     // -b
  bool ipv6 = false;                      // -6
  uint64_t msg_buffers_bytes = 256ull << 20;  // --msg-buffers-size
  bool direct = false;                    // --direct
  std::vector<std::string> dc_overrides;  // --dc-override ID:HOST:PORT
  std::string io_backend = "auto";        // --io-backend auto|io_uring|epoll
  int verbosity = 0;                      // -v
  std::string config_path;                // positional proxy-multi.conf (optional in direct mode)
};

// Reads the files the options name (proxy secret, config) and builds the shards' config.
absl::StatusOr<std::unique_ptr<DataplaneConfig>> BuildDataplaneConfig(const ProxyOptions& options,
                                                                      uint32_t shard_count);

// CPUs of this process's affinity mask, in order.
std::vector<int> AffinityCpus();

class ProxyRunner {
 public:
  // Creates `shard_count` shards (engines, listeners) on this thread, then starts one thread
  // per shard pinned to cpus[i % cpus.size()] (no pinning when `cpus` is empty).
  static absl::StatusOr<std::unique_ptr<ProxyRunner>> Start(
      std::unique_ptr<DataplaneConfig> config, uint32_t shard_count, const std::vector<int>& cpus);
  ~ProxyRunner();

  void Stop();  // asks every shard to stop; returns at once
  void Join();  // waits for the shard threads

  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  const ProxyShard& shard(uint32_t i) const { return *shards_[i]; }
  CounterSnapshot Counters() const;

 private:
  ProxyRunner() = default;
  std::unique_ptr<DataplaneConfig> config_;
  std::vector<std::unique_ptr<ProxyShard>> shards_;
  std::vector<std::thread> threads_;
};

}  // namespace mtp
