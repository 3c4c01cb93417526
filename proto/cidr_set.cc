// CidrSet parsing, range merging and lookup (see cidr_set.h for the rules).
#include "proto/cidr_set.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mtp {
namespace {

using U128 = unsigned __int128;

// ::ffff:0:0/96, the IPv4-mapped block.
constexpr U128 kMappedFirst = static_cast<U128>(0xFFFF) << 32;
constexpr U128 kMappedLast = kMappedFirst | 0xFFFFFFFFu;

U128 ToU128(const std::array<uint8_t, 16>& ip) {
  U128 v = 0;
  for (uint8_t b : ip) v = (v << 8) | b;
  return v;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Prefix length: 1 to 3 decimal digits, no sign, no leading zero.
bool ParseLength(std::string_view text, int max, int* out) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

absl::Status CidrSet::AddEntry(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view ip_text = text.substr(0, slash);
  if (ip_text.empty() || ip_text.size() >= INET6_ADDRSTRLEN) {
    return absl::InvalidArgumentError(absl::StrFormat("bad address in '%s'", text));
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, ip_text.data(), ip_text.size());
  buf[ip_text.size()] = '\0';
  in_addr v4;
  std::array<uint8_t, 16> v6;
  const bool is_v4 = inet_pton(AF_INET, buf, &v4) == 1;
  if (!is_v4 && inet_pton(AF_INET6, buf, v6.data()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad address '%s' in '%s' (want IPv4 or IPv6)", ip_text, text));
  }
  const int bits = is_v4 ? 32 : 128;
  int length = bits;
  if (slash != std::string_view::npos &&
      !ParseLength(text.substr(slash + 1), bits, &length)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad prefix length in '%s' (want 0..%d)", text, bits));
  }
  if (is_v4) {
    const uint32_t ip = ntohl(v4.s_addr);
    const uint32_t host_mask = length == 0 ? 0xFFFFFFFFu : (length == 32 ? 0 : ~0u >> length);
    if ((ip & host_mask) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "'%s' has bits set past its prefix length (did you mean '%s/%d'?)", text,
          SocketAddress::FromIpv4(ip & ~host_mask, 0).IpString(), length));
    }
    v4_.push_back({ip, ip | host_mask});
  } else {
    const U128 ip = ToU128(v6);
    const U128 all = ~static_cast<U128>(0);
    const U128 host_mask = length == 0 ? all : (length == 128 ? 0 : all >> length);
    if ((ip & host_mask) != 0) {
      std::array<uint8_t, 16> masked;
      U128 m = ip & ~host_mask;
      for (int i = 15; i >= 0; --i, m >>= 8) masked[i] = static_cast<uint8_t>(m);
      return absl::InvalidArgumentError(absl::StrFormat(
          "'%s' has bits set past its prefix length (did you mean '%s/%d'?)", text,
          SocketAddress::FromIpv6(masked, 0).IpString(), length));
    }
    const U128 first = ip;
    const U128 last = ip | host_mask;
    v6_.push_back({first, last});
    // The part inside ::ffff:0:0/96 also serves IPv4 clients (see the header).
    const U128 lo = std::max(first, kMappedFirst);
    const U128 hi = std::min(last, kMappedLast);
    if (lo <= hi) {
      v4_.push_back({static_cast<uint32_t>(lo - kMappedFirst),
                     static_cast<uint32_t>(hi - kMappedFirst)});
    }
  }
  ++entries_;
  return absl::OkStatus();
}

namespace {

template <typename Range>
void SortAndMerge(std::vector<Range>* ranges) {
  std::sort(ranges->begin(), ranges->end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
  std::vector<Range> merged;
  merged.reserve(ranges->size());
  for (const Range& r : *ranges) {
    // Overlapping or adjacent (last + 1 == first, without overflowing at the top).
    if (!merged.empty() && (r.first <= merged.back().last || r.first - 1 == merged.back().last)) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  merged.shrink_to_fit();
  *ranges = std::move(merged);
}

template <typename Range, typename Value>
bool InRanges(const std::vector<Range>& ranges, Value v) {
  // The last range starting at or before v is the only one that can hold it.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), v,
                             [](Value x, const Range& r) { return x < r.first; });
  if (it == ranges.begin()) return false;
  return v <= std::prev(it)->last;
}

}  // namespace

void CidrSet::Finish() {
  SortAndMerge(&v4_);
  SortAndMerge(&v6_);
}

absl::StatusOr<CidrSet> CidrSet::ParseText(std::string_view text, std::string_view source_name) {
  CidrSet set;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    if (line.find_first_of(" \t") != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: one address or prefix per line, got '%s'", source_name, line_no, line));
    }
    absl::Status s = set.AddEntry(line);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: %s", source_name, line_no, s.message()));
    }
  }
  set.Finish();
  return set;
}

absl::StatusOr<CidrSet> CidrSet::ParseCommaList(std::string_view text,
                                                std::string_view source_name) {
  CidrSet set;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string_view item = Trim(text.substr(start, comma - start));
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: empty item in '%s'", source_name, text));
    }
    absl::Status s = set.AddEntry(item);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrFormat("%s: %s", source_name, s.message()));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  set.Finish();
  return set;
}

bool CidrSet::ContainsIpv4(uint32_t ip) const { return InRanges(v4_, ip); }

bool CidrSet::Contains(const SocketAddress& address) const {
  if (address.is_v4()) return InRanges(v4_, address.ipv4());
  if (!address.is_v6()) return false;
  if (address.is_v4_mapped()) return InRanges(v4_, address.ipv4());
  return InRanges(v6_, ToU128(address.ipv6()));
}

}  // namespace mtp
