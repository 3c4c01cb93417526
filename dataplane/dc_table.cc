// Built-in Telegram DC addresses and --dc-override parsing.
#include "dataplane/dc_table.h"

#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mtp {
namespace {

constexpr int32_t kFallbackDc = 2;
constexpr uint16_t kDcPort = 443;

struct BuiltIn {
  int32_t dc_id;  // negative: media address of |dc_id|
  const char* ip;
};

// Telegram's published production addresses (public facts, as used by every client).
constexpr BuiltIn kProduction[] = {
    {1, "149.154.175.50"},          {2, "149.154.167.51"},
    {3, "149.154.175.100"},         {4, "149.154.167.91"},
    {5, "149.154.171.5"},           {203, "91.105.192.100"},
    {-2, "149.154.167.151"},        {-4, "149.154.164.250"},
    {1, "2001:b28:f23d:f001::a"},   {2, "2001:67c:4e8:f002::a"},
    {3, "2001:b28:f23d:f003::a"},   {4, "2001:67c:4e8:f004::a"},
    {5, "2001:b28:f23f:f005::a"},   {203, "2a0a:f280:203:a:5000::100"},
    {-2, "2001:67c:4e8:f002::b"},   {-4, "2001:67c:4e8:f004::b"},
};

}  // namespace

DcTable DcTable::Production() {
  DcTable table;
  for (const BuiltIn& b : kProduction) {
    auto address = SocketAddress::FromIp(b.ip, kDcPort);
    if (address.ok()) table.entries_.push_back(Entry{b.dc_id, *address, false});
  }
  return table;
}

absl::Status DcTable::AddOverride(std::string_view spec) {
  const std::string text(spec);
  size_t colon = text.find(':');
  int32_t dc_id = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(0, colon), &dc_id) ||
      dc_id < -32768 || dc_id > 32767) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dc-override expects ID:HOST:PORT, got '", text, "'"));
  }
  auto address = SocketAddress::Parse(text.substr(colon + 1));
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--dc-override '", text,
                                                   "': ", address.status().message()));
  }
  // The first override of an id drops its built-in entries; later ones add addresses.
  bool had_override = false;
  for (const Entry& e : entries_) had_override |= (e.dc_id == dc_id && e.override);
  if (!had_override) {
    std::erase_if(entries_, [dc_id](const Entry& e) { return e.dc_id == dc_id; });
  }
  entries_.push_back(Entry{dc_id, *address, true});
  return absl::OkStatus();
}

const DcTable::Entry* DcTable::Find(int32_t dc_id, bool ipv6) const {
  const Entry* any = nullptr;
  for (const Entry& e : entries_) {
    if (e.dc_id != dc_id) continue;
    if (e.address.is_v6() == ipv6) return &e;
    if (any == nullptr) any = &e;
  }
  return any;
}

std::optional<SocketAddress> DcTable::Lookup(int32_t dc_id, bool prefer_ipv6) const {
  const Entry* e = Find(dc_id, prefer_ipv6);
  if (dc_id < 0) {
    // A media id follows an override of its DC unless it has an override of its own, so
    // --dc-override N:… redirects every connection for DC N.
    const Entry* regular = Find(-dc_id, prefer_ipv6);
    if (regular != nullptr && regular->override && (e == nullptr || !e->override)) e = regular;
    if (e == nullptr) e = regular;
  }
  if (e == nullptr) e = Find(kFallbackDc, prefer_ipv6);
  if (e == nullptr) return std::nullopt;
  return e->address;
}

}  // namespace mtp
