// Fuzz target: the proxy-multi.conf parser over arbitrary text. Hosts resolve without DNS:
// numeric literals, "[v6]" literals, and any name starting with 'h' (to reach past the resolver).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/proxy_config.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

class LiteralResolver : public mtp::HostResolver {
 public:
  std::optional<mtp::ResolvedAddress> Resolve(std::string_view name) override {
    FUZZ_CHECK(!name.empty() && name.size() <= 63);
    if (name.front() == 'h') return mtp::ResolvedAddress::Ipv4(0x0a000000u + name.size());
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
      auto v6 = mtp::ResolvedAddress::FromLiteral(name.substr(1, name.size() - 2));
      if (v6 && v6->is_ipv6()) return v6;
      return std::nullopt;
    }
    return mtp::ResolvedAddress::FromLiteral(name);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LiteralResolver resolver;
  auto result = mtp::ParseProxyConfig(text, "f.conf", resolver);
  if (!result.ok()) {
    FUZZ_CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    std::string_view message(result.status().message().data(), result.status().message().size());
    FUZZ_CHECK(message.find("fatal: ") != std::string_view::npos);
    FUZZ_CHECK(message.find(" near ") != std::string_view::npos);
    FUZZ_CHECK(message.substr(0, 7) == "fatal: " || message.substr(0, 7) == "f.conf:");
    return 0;
  }
  const mtp::ProxyConfig& config = **result;
  FUZZ_CHECK(config.size_bytes == size);
  FUZZ_CHECK(config.md5_hex.size() == 32);
  FUZZ_CHECK(!config.clusters.empty() && config.clusters.size() <= mtp::kMaxConfigClusters);
  FUZZ_CHECK(config.target_lines <= mtp::kMaxConfigTargetLines);
  FUZZ_CHECK(config.targets.size() <= config.target_lines);
  FUZZ_CHECK(config.timeout_ms >= 10 && config.timeout_ms <= 30000);
  size_t lines = 0;
  for (const mtp::MeCluster& cluster : config.clusters) {
    FUZZ_CHECK(cluster.id >= -32768 && cluster.id <= 32767);
    FUZZ_CHECK(!cluster.target_indexes.empty());
    FUZZ_CHECK(config.FindCluster(cluster.id) == &cluster);
    FUZZ_CHECK(config.ClusterFor(cluster.id) == &cluster);
    for (uint32_t index : cluster.target_indexes) FUZZ_CHECK(index < config.targets.size());
    lines += cluster.target_indexes.size();
  }
  FUZZ_CHECK(lines == config.target_lines);
  for (const mtp::MeTarget& target : config.targets) {
    FUZZ_CHECK(target.port != 0);
    FUZZ_CHECK(target.min_connections >= 1);
    FUZZ_CHECK(target.min_connections <= target.max_connections);
    FUZZ_CHECK(target.max_connections <= mtp::kMaxConnectionsLimit);
  }
  const mtp::MeCluster* fallback = config.ClusterFor(40000);  // never a configured id
  FUZZ_CHECK(fallback == config.FindCluster(config.default_cluster_id));
  return 0;
}
