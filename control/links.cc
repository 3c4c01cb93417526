// Start-up proxy links: server address choice, link forms per mode, log lines.
#include "control/links.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "absl/strings/str_format.h"

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

std::string ChooseLinkServer(const LinkServerSources& sources) {
  if (sources.public_host && !sources.public_host->empty()) return *sources.public_host;
  if (sources.nat_global_ipv4) return Ipv4Text(*sources.nat_global_ipv4);
  if (sources.bind_ipv4 && *sources.bind_ipv4 != 0) return Ipv4Text(*sources.bind_ipv4);
  if (sources.detected_ipv4) return Ipv4Text(*sources.detected_ipv4);
  return kUnknownLinkServer;
}

std::vector<ProxyLink> BuildProxyLinks(std::string_view server, uint16_t port,
                                       std::span<const ClientSecret> secrets,
                                       std::span<const std::string> domains) {
  std::vector<ProxyLink> links;
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (domains.empty()) {
      links.push_back(MakeLink(server, port, i, SecretMode::kPlain, secrets[i], {}));
      links.push_back(MakeLink(server, port, i, SecretMode::kPadded, secrets[i], {}));
      continue;
    }
    for (const std::string& domain : domains) {
      // tdlib refuses longer domains in a link; such a domain still works for clients that are
      // configured by hand, so it is only left out of the printed links.
      if (domain.empty() || domain.size() > kMaxFakeTlsDomainBytes) continue;
      links.push_back(MakeLink(server, port, i, SecretMode::kFakeTls, secrets[i], domain));
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
