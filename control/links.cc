// Start-up proxy links: server address choice, link forms per mode, log lines.
#include "control/links.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_format.h"
#include "proto/fake_tls_client_hello.h"

namespace mtp {
namespace {

std::string Ipv4Text(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::string_view ModeName(SecretMode mode) {
  switch (mode) {
    case SecretMode::kPlain:
      return "plain";
    case SecretMode::kPadded:
      return "dd";
    case SecretMode::kFakeTls:
      return "ee";
  }
  return "?";
}

ProxyLink MakeLink(std::string_view server, uint16_t port, size_t index, SecretMode mode,
                   const ClientSecret& secret, std::string_view domain) {
  ProxyLink link;
  link.secret_index = index;
  link.mode = mode;
  link.domain = std::string(domain);
  link.link_secret = FormatLinkSecret(mode, secret, domain);
  link.tg = TgProxyLink(server, port, link.link_secret);
  link.tme = TmeProxyLink(server, port, link.link_secret);
  return link;
}

}  // namespace

std::string LinkDomainFor(std::string_view domain, std::string_view label) {
  if (!IsWildcardDomain(domain)) return std::string(domain);
  std::string host(label);
  host += '.';
  host += WildcardBase(domain);
  return host;
}

std::string ChooseLinkServer(const LinkServerSources& sources) {
  if (sources.public_host && !sources.public_host->empty()) return *sources.public_host;
  if (sources.nat_global_ipv4) return Ipv4Text(*sources.nat_global_ipv4);
  if (sources.bind_ipv4 && *sources.bind_ipv4 != 0) return Ipv4Text(*sources.bind_ipv4);
  if (sources.detected && !sources.detected->empty()) return *sources.detected;
  return kUnknownLinkServer;
}

AddressScope ClassifyAddress(const InterfaceAddress& address) {
  const std::array<uint8_t, 16>& b = address.bytes;
  if (address.family == AF_INET) {
    if (b[0] == 0 || b[0] == 127 || b[0] >= 224) return AddressScope::kUnusable;
    if (b[0] == 169 && b[1] == 254) return AddressScope::kUnusable;  // link-local
    if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
        (b[0] == 100 && (b[1] & 0xc0) == 64)) {
      return AddressScope::kPrivate;
    }
    return AddressScope::kGlobal;
  }
  if (address.family != AF_INET6) return AddressScope::kUnusable;
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(b.data(), kZero, 15) == 0 && (b[15] == 0 || b[15] == 1)) {
    return AddressScope::kUnusable;  // :: and ::1
  }
  if (b[0] == 0xff) return AddressScope::kUnusable;                        // multicast
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressScope::kUnusable;  // fe80::/10
  if (std::memcmp(b.data(), kZero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) {
    return AddressScope::kUnusable;  // IPv4-mapped
  }
  if ((b[0] & 0xfe) == 0xfc) return AddressScope::kPrivate;  // fc00::/7
  return AddressScope::kGlobal;
}

std::string AddressText(const InterfaceAddress& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(address.family, address.bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<PublicAddress> ChoosePublicAddress(std::span<const InterfaceAddress> addresses) {
  const struct {
    int family;
    AddressScope scope;
  } kOrder[] = {{AF_INET, AddressScope::kGlobal},
                {AF_INET6, AddressScope::kGlobal},
                {AF_INET, AddressScope::kPrivate},
                {AF_INET6, AddressScope::kPrivate}};
  for (const auto& want : kOrder) {
    for (const InterfaceAddress& a : addresses) {
      if (a.up && a.family == want.family && ClassifyAddress(a) == want.scope) {
        return PublicAddress{AddressText(a), want.scope == AddressScope::kPrivate};
      }
    }
  }
  return std::nullopt;
}

std::vector<InterfaceAddress> ListInterfaceAddresses() {
  std::vector<InterfaceAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    InterfaceAddress a;
    a.interface = i->ifa_name != nullptr ? i->ifa_name : "";
    a.family = i->ifa_addr->sa_family;
    a.up = (i->ifa_flags & IFF_UP) != 0;
    if (a.family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
    } else if (a.family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(std::move(a));
  }
  freeifaddrs(list);
  return out;
}

std::vector<ProxyLink> BuildProxyLinks(std::string_view server, uint16_t port,
                                       std::span<const ClientSecret> secrets,
                                       std::span<const std::string> domains,
                                       std::string_view wildcard_label) {
  std::vector<ProxyLink> links;
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (domains.empty()) {
      links.push_back(MakeLink(server, port, i, SecretMode::kPlain, secrets[i], {}));
      links.push_back(MakeLink(server, port, i, SecretMode::kPadded, secrets[i], {}));
      continue;
    }
    for (const std::string& domain : domains) {
      // A wildcard cannot be put in a link as is (the client would send "*.base" as its SNI,
      // which matches nothing): the link names one host under it.
      const std::string host = LinkDomainFor(domain, wildcard_label);
      // tdlib refuses longer domains in a link; such a domain still works for clients that are
      // configured by hand, so it is only left out of the printed links.
      if (host.empty() || host.size() > kMaxFakeTlsDomainBytes) continue;
      links.push_back(MakeLink(server, port, i, SecretMode::kFakeTls, secrets[i], host));
      if (host != domain) links.back().pattern = domain;
    }
  }
  return links;
}

std::vector<std::string> FormatProxyLinks(std::span<const ProxyLink> links, bool have_port) {
  std::vector<std::string> lines;
  if (!have_port) {
    lines.push_back("no client port (-H): no proxy links to print");
    return lines;
  }
  if (links.empty()) {
    lines.push_back("no client secret (-S / --mtproto-secret-file): no proxy links to print");
    return lines;
  }
  for (const ProxyLink& link : links) {
    std::string what(ModeName(link.mode));
    if (!link.domain.empty()) what = absl::StrFormat("%s, %s", what, link.domain);
    if (!link.pattern.empty()) what = absl::StrFormat("%s for %s", what, link.pattern);
    lines.push_back(absl::StrFormat("secret #%d (%s): %s %s", link.secret_index, what, link.tg,
                                    link.tme));
  }
  return lines;
}

std::optional<uint32_t> DetectLocalIpv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<uint32_t> best;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if ((ip >> 24) == 127 || ip == 0) continue;
    if ((ip >> 24) == 10) {
      best = ip;
      break;
    }
    if (!best) best = ip;
  }
  freeifaddrs(list);
  return best;
}

}  // namespace mtp
