// --stats-bind / --stats-allow parsing and the stats peer allowlist.
#include "control/stats_access.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control/http_stats.h"

namespace mtp {
namespace {

// Debian's abseil has its own string_view type: its functions take std::string
// here.
std::string S(std::string_view text) { return std::string(text); }

}  // namespace

absl::StatusOr<CidrSet> ParseStatsAllow(std::string_view text) {
  if (text.empty()) return CidrSet();
  return CidrSet::ParseCommaList(text, "--stats-allow");
}

absl::StatusOr<StatsBind> ParseStatsBind(std::string_view text) {
  StatsBind bind;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing ']' in '", S(text), "'"));
    }
    bind.ip = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("expected ':PORT' after ']' in '", S(text), "'"));
      }
      port_text = rest.substr(1);
      has_port = true;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, bind.ip.c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("'", bind.ip, "' is not an IPv6 address"));
    }
    bind.ipv6 = true;
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    bind.ip = std::string(text);  // a bare IPv6 literal: no port
    in6_addr v6{};
    if (inet_pton(AF_INET6, bind.ip.c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("'", S(text), "' is not an IPv6 address"));
    }
    bind.ipv6 = true;
  } else {
    const size_t colon = text.find(':');
    bind.ip = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    in_addr v4{};
    if (inet_pton(AF_INET, bind.ip.c_str(), &v4) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", bind.ip, "' is not an IPv4 address (IPv6: [ADDR]:PORT)"));
    }
  }
  if (has_port) {
    uint32_t port = 0;
    bool digits = !port_text.empty() && port_text.size() <= 5 &&
                  std::all_of(port_text.begin(), port_text.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || !absl::SimpleAtoi(S(port_text), &port) || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad port '", S(port_text), "' in '", S(text), "': expected 0..65535"));
    }
    bind.port = static_cast<uint16_t>(port);
  }
  return bind;
}

bool StatsAllowlist::Allows(const sockaddr_storage &peer) const {
  if (IsStatsPeerAllowed(peer)) return true;
  if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return false;
  return extra_.Contains(
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr *>(&peer), sizeof(peer)));
}

}  // namespace mtp
