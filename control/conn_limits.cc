// Memory facts from /proc and cgroup v2, and the connection cap they allow.
#include "control/conn_limits.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"

namespace mtp {
namespace {

std::optional<std::string> ReadSmall(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<uint64_t> LeadingNumber(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i == text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  uint64_t v = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  return v;
}

uint64_t MiB(uint64_t bytes) { return bytes >> 20; }

}  // namespace

std::optional<uint64_t> ParseMemAvailable(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemAvailable:";
  size_t at = meminfo.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  std::optional<uint64_t> kb = LeadingNumber(meminfo.substr(at + kKey.size()));
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

std::optional<uint64_t> ParseCgroupBytes(std::string_view text) { return LeadingNumber(text); }

MemoryFacts ReadMemoryFacts() {
  MemoryFacts f;
  if (auto meminfo = ReadSmall("/proc/meminfo")) f.mem_available = ParseMemAvailable(*meminfo);
  // cgroup v2: the line "0::/path".
  if (auto cg = ReadSmall("/proc/self/cgroup")) {
    size_t at = cg->find("0::");
    if (at != std::string::npos) {
      std::string path = cg->substr(at + 3);
      path = path.substr(0, path.find('\n'));
      const std::string dir = "/sys/fs/cgroup" + (path == "/" ? std::string() : path);
      if (auto max = ReadSmall(dir + "/memory.max")) f.cgroup_limit = ParseCgroupBytes(*max);
      if (auto cur = ReadSmall(dir + "/memory.current")) f.cgroup_usage = ParseCgroupBytes(*cur);
    }
  }
  return f;
}

ConnectionCap DeriveConnectionCap(const MemoryFacts& facts, uint64_t buffer_pool_bytes,
                                  int ceiling) {
  ConnectionCap cap;
  std::optional<uint64_t> room = facts.mem_available;
  std::string source = facts.mem_available
                           ? absl::StrFormat("MemAvailable %d MiB", MiB(*facts.mem_available))
                           : std::string();
  if (facts.cgroup_limit) {
    const uint64_t used = facts.cgroup_usage.value_or(0);
    const uint64_t cg_room = *facts.cgroup_limit > used ? *facts.cgroup_limit - used : 0;
    if (!room || cg_room < *room) room = cg_room;
    source += absl::StrFormat("%scgroup memory.max %d MiB (%d MiB used)",
                              source.empty() ? "" : ", ", MiB(*facts.cgroup_limit), MiB(used));
  }
  if (!room) {
    cap.max_connections = ceiling;
    cap.explanation = absl::StrFormat(
        "no -c: memory figures unreadable, using the default connection cap %d", ceiling);
    return cap;
  }
  const uint64_t spare = *room > buffer_pool_bytes ? *room - buffer_pool_bytes : 0;
  cap.budget_bytes = spare / 100 * kConnectionMemoryPercent;
  const uint64_t n = cap.budget_bytes / kBytesPerConnection;
  cap.max_connections = static_cast<int>(
      std::clamp<uint64_t>(n, static_cast<uint64_t>(std::min(kMinDerivedConnections, ceiling)),
                           static_cast<uint64_t>(ceiling)));
  cap.explanation = absl::StrFormat(
      "no -c: connection cap %d from memory (%s; minus %d MiB of buffer pool, %d%% of the rest "
      "at %d KiB per connection: %d KiB kernel socket buffers + %d KiB in the proxy; at most "
      "%d); pass -c to choose",
      cap.max_connections, source, MiB(buffer_pool_bytes), kConnectionMemoryPercent,
      kBytesPerConnection / 1024, kKernelBytesPerConnection / 1024,
      kProxyBytesPerConnection / 1024, ceiling);
  return cap;
}

}  // namespace mtp
