// proxy-multi.conf: reading (16 MiB limit, MD5), the reference grammar and error messages, host
// resolution, and the immutable ProxyConfig snapshot (DC id -> cluster -> ME targets).
//
// Parsing runs on the control thread (cold path). A ProxyConfig is immutable once built and is
// shared read-only with the shards (std::shared_ptr<const ProxyConfig>), so any thread may read it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mtp {

// Limits of the reference (mtproto-config.h, parse-config.c).
inline constexpr size_t kMaxConfigBytes = 16u << 20;   // larger files are rejected
inline constexpr size_t kMaxConfigClusters = 1024;     // distinct DC ids
inline constexpr size_t kMaxConfigTargetLines = 4096;  // proxy/proxy_for lines
inline constexpr int kDefaultMinConnections = 4;
inline constexpr int kDefaultMaxConnections = 8;
inline constexpr int kMaxConnectionsLimit = 1000;
inline constexpr int kDefaultConfigTimeoutMs = 300;

// An IPv4 or IPv6 address as resolved from a config host token.
struct ResolvedAddress {
  enum class Family : uint8_t { kIpv4, kIpv6 };

  Family family = Family::kIpv4;
  // Network byte order. IPv4 uses bytes[0..4); the rest stays zero.
  std::array<uint8_t, 16> bytes{};

  static ResolvedAddress Ipv4(uint32_t host_order);
  static ResolvedAddress Ipv6(const std::array<uint8_t, 16>& network_order);
  // Parses a numeric literal ("1.2.3.4" or "2001:db8::1", no brackets); nullopt otherwise.
  static std::optional<ResolvedAddress> FromLiteral(std::string_view text);

  bool is_ipv6() const { return family == Family::kIpv6; }
  uint32_t ipv4_host_order() const;  // 0 for IPv6
  // "1.2.3.4" or "2001:db8::1" (RFC 5952 text, no brackets).
  std::string ToString() const;

  friend bool operator==(const ResolvedAddress&, const ResolvedAddress&) = default;
};

// One middle-end address:port. The pool of TCP-RPC connections to it is sized between
// min_connections and max_connections.
struct MeTarget {
  ResolvedAddress address;
  uint16_t port = 0;
  // The values in force at the target's LAST declaration win (the reference's create_target
  // overwrites them when the same address:port is declared again).
  int min_connections = kDefaultMinConnections;
  int max_connections = kDefaultMaxConnections;

  // "1.2.3.4:8888" or "[2001:db8::1]:8888".
  std::string ToString() const;
};

// All ME lines of one DC id (`proxy_for ID ...`; `proxy ...` is id 0).
struct MeCluster {
  int32_t id = 0;  // -32768..32767; negative = media DCs
  // Indexes into ProxyConfig::targets in file order. An address listed twice in one cluster
  // appears twice (the reference picks a random line, so it weighs double).
  std::vector<uint32_t> target_indexes;
};

// The parsed and resolved configuration. Immutable after ParseProxyConfig returns it.
struct ProxyConfig {
  // Distinct ME targets (deduplicated by address + port), in order of first appearance.
  std::vector<MeTarget> targets;
  // Clusters in file order (each cluster's lines are consecutive in the file).
  std::vector<MeCluster> clusters;
  // The `default ID;` value (0 when absent) ...
  int32_t default_cluster_id = 0;
  // ... and the index of the cluster with that id, or none: then DC ids without a cluster of
  // their own have no route (the reference drops their traffic).
  std::optional<uint32_t> default_cluster_index;
  // `timeout MS;` (10..30000, default 300). Parsed like the reference and, like it, unused.
  int timeout_ms = kDefaultConfigTimeoutMs;
  // Number of proxy/proxy_for lines (the reference's tot_targets, before deduplication).
  size_t target_lines = 0;

  // File identity for /stats (config_filename, config_size, config_md5).
  std::string file_name;
  size_t size_bytes = 0;
  std::string md5_hex;  // lower-case MD5 of the bytes read

  // Exact match on the signed DC id; falls back to the default cluster; nullptr if neither.
  const MeCluster* ClusterFor(int32_t dc_id) const;
  // Exact match only.
  const MeCluster* FindCluster(int32_t id) const;
  const MeTarget& target(uint32_t index) const { return targets[index]; }

  // Recomputes cluster_index_by_id and default_cluster_index from `clusters` and
  // default_cluster_id (the parser does this; call it after building a config by hand).
  void RebuildIndex();

  // cluster id -> index into `clusters`.
  absl::flat_hash_map<int32_t, uint32_t> cluster_index_by_id;
};

// Resolves a host token of the config file. Called on the control thread only.
class HostResolver {
 public:
  virtual ~HostResolver() = default;
  // `name` is the token exactly as written (1..63 chars), including the brackets of an IPv6
  // literal such as "[2001:db8::1]". nullopt = cannot resolve.
  virtual std::optional<ResolvedAddress> Resolve(std::string_view name) = 0;
};

// The reference's /etc/hosts table (kdb_load_hosts): lines "a.b.c.d name [name...]", IPv4
// only, 0.0.0.0 ignored, names up to 127 bytes, the first line naming a host wins.
// Comments are not special (a '#' word is just a name that never matches a host token).
absl::flat_hash_map<std::string, uint32_t> ParseHostsFile(std::string_view text);

// The reference's kdb_gethostbyname:
//   "[...]"              -> the text inside as IPv6 (literal, else getaddrinfo AF_INET6);
//   name in hosts table  -> that IPv4 address;
//   otherwise, if the name contains '.' or ':' (or no hosts file could be read) -> getaddrinfo
//   IPv4, then IPv6; a dot-less name missing from the hosts file fails.
// The hosts file is re-read when its size or mtime changed; files >= 16 MiB are ignored.
class SystemHostResolver : public HostResolver {
 public:
  explicit SystemHostResolver(std::string hosts_path = "/etc/hosts");
  std::optional<ResolvedAddress> Resolve(std::string_view name) override;

 private:
  void ReloadHostsIfChanged();

  std::string hosts_path_;
  bool hosts_loaded_ = false;
  int64_t hosts_size_ = -1;
  int64_t hosts_mtime_ = -1;
  absl::flat_hash_map<std::string, uint32_t> hosts_;
};

// Reads the config file like the reference's load_config (at most 16 MiB). Error messages are
// the reference's: "Can not open file F: <strerror>" (NotFound/PermissionDenied/...: exit 1),
// "error reading configuration file F: <strerror>" (DataLoss: exit 2),
// "configuration file F too long (max 16777216 bytes)" (ResourceExhausted: exit 2).
absl::StatusOr<std::string> ReadProxyConfigFile(const std::string& path);

// Parses `text` (the bytes of `file_name`) with the reference grammar and resolves every host
// with `resolver`. A NUL byte ends the text, as in the reference. On error the status
// (InvalidArgument) message is exactly what the reference prints, without the final newline:
//   "<file>:<line>: fatal: <message> near <up to 20 chars>[ ...]"
// with <line> = number of newlines skipped before the error (0-based) and the "<file>:<line>: "
// prefix omitted when it is 0.
absl::StatusOr<std::shared_ptr<const ProxyConfig>> ParseProxyConfig(std::string_view text,
                                                                    std::string_view file_name,
                                                                    HostResolver& resolver);

// ReadProxyConfigFile + ParseProxyConfig.
absl::StatusOr<std::shared_ptr<const ProxyConfig>> LoadProxyConfig(const std::string& path,
                                                                   HostResolver& resolver);

// The process exit code the reference uses for a config load failure at start-up: 2 for read
// errors and oversized files, 1 for everything else (open errors, syntax, resolution).
int ProxyConfigExitCode(const absl::Status& status);

}  // namespace mtp
