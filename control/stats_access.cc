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

std::array<uint8_t, 16> MappedV4(const in_addr &a) {
  std::array<uint8_t, 16> out{};
  out[10] = 0xff;
  out[11] = 0xff;
  std::memcpy(out.data() + 12, &a, 4);
  return out;
}

// Debian's abseil has its own string_view type: its functions take std::string
// here.
std::string S(std::string_view text) { return std::string(text); }

bool ParseBits(std::string_view text, int max, int *bits) {
  if (text.empty() || text.size() > 3) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  int n = 0;
  if (!absl::SimpleAtoi(S(text), &n) || n > max) return false;
  *bits = n;
  return true;
}

}  // namespace

bool CidrContains(const IpCidr &cidr, const std::array<uint8_t, 16> &address) {
  int bits = cidr.prefix_bits;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != cidr.prefix[i]) return false;
  }
  return true;
}

std::string IpCidr::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (ipv4) {
    inet_ntop(AF_INET, prefix.data() + 12, text, sizeof(text));
    return absl::StrCat(text, "/", prefix_bits - 96);
  }
  inet_ntop(AF_INET6, prefix.data(), text, sizeof(text));
  return absl::StrCat(text, "/", prefix_bits);
}

absl::StatusOr<IpCidr> ParseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string ip(text.substr(0, slash));
  IpCidr cidr;
  in_addr v4{};
  in6_addr v6{};
  int bits = 0;
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    cidr.ipv4 = true;
    if (slash == std::string_view::npos) {
      bits = 32;
    } else if (!ParseBits(text.substr(slash + 1), 32, &bits)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad prefix length in '", S(text), "': expected /0../32"));
    }
    cidr.prefix = MappedV4(v4);
    cidr.prefix_bits = 96 + bits;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    if (slash == std::string_view::npos) {
      bits = 128;
    } else if (!ParseBits(text.substr(slash + 1), 128, &bits)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad prefix length in '", S(text), "': expected /0../128"));
    }
    std::memcpy(cidr.prefix.data(), &v6, 16);
    cidr.prefix_bits = bits;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", S(text), "' is not an IPv4 or IPv6 address block (e.g. 10.0.0.0/8)"));
  }
  // Host bits must be zero: "10.0.0.1/8" is more likely a typo than a wish.
  IpCidr masked = cidr;
  int left = cidr.prefix_bits;
  for (auto &byte : masked.prefix) {
    byte &= left >= 8 ? 0xff : left <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - left));
    left -= 8;
  }
  if (masked.prefix != cidr.prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", S(text), "' has host bits set; did you mean ", masked.ToString(), "?"));
  }
  return cidr;
}

absl::StatusOr<std::vector<IpCidr>> ParseCidrList(std::string_view text) {
  std::vector<IpCidr> out;
  for (size_t start = 0; start <= text.size();) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) return absl::InvalidArgumentError("empty item in the address block list");
    absl::StatusOr<IpCidr> cidr = ParseCidr(item);
    if (!cidr.ok()) return cidr.status();
    out.push_back(*cidr);
  }
  return out;
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
  std::array<uint8_t, 16> address{};
  if (peer.ss_family == AF_INET) {
    address = MappedV4(reinterpret_cast<const sockaddr_in &>(peer).sin_addr);
  } else if (peer.ss_family == AF_INET6) {
    std::memcpy(address.data(), &reinterpret_cast<const sockaddr_in6 &>(peer).sin6_addr, 16);
  } else {
    return false;
  }
  for (const IpCidr &cidr : extra_) {
    if (CidrContains(cidr, address)) return true;
  }
  return false;
}

}  // namespace mtp
