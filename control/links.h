// The proxy links printed at start-up (tg://proxy and https://t.me/proxy for each client
// secret, in the forms the running mode accepts) and the choice of the server address in them.
//
// Pure functions; the control thread calls them once the secrets are loaded.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret.h"

namespace mtp {

// Where the server address of the links comes from, in order of preference.
struct LinkServerSources {
  std::optional<std::string> public_host;  // --public-host
  std::optional<uint32_t> nat_global_ipv4;  // the global side of the first --nat-info rule
  std::optional<uint32_t> bind_ipv4;        // --address
  std::optional<std::string> detected;      // ChoosePublicAddress() of the interfaces
};

// Placeholder used when no address is known (the operator fills it in).
inline constexpr char kUnknownLinkServer[] = "SERVER_IP";

// --public-host, else the --nat-info global address, else --address (unless it is 0.0.0.0),
// else the detected interface address, else kUnknownLinkServer. IPv4 as dotted quad.
std::string ChooseLinkServer(const LinkServerSources& sources);

// One address of a network interface (getifaddrs).
struct InterfaceAddress {
  std::string interface;
  int family = 0;                 // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in the first 4
  bool up = true;                 // IFF_UP
};

enum class AddressScope : uint8_t {
  kUnusable,   // loopback, link-local, unspecified, multicast, IPv4-mapped, 0/8, 240/4
  kPrivate,    // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (ULA)
  kGlobal,     // everything else
};
AddressScope ClassifyAddress(const InterfaceAddress& address);
std::string AddressText(const InterfaceAddress& address);  // "192.0.2.1", "2001:db8::1"

// The address the links name when no --public-host/--nat-info/--address is given: of the
// interfaces that are up, the first global IPv4 address, else the first global IPv6 address,
// else the first private IPv4, else the first private IPv6 address (loopback and link-local
// never). nullopt when there is none.
struct PublicAddress {
  std::string text;
  bool is_private = false;
};
std::optional<PublicAddress> ChoosePublicAddress(std::span<const InterfaceAddress> addresses);
// getifaddrs(), IPv4 and IPv6 only, in the kernel's order.
std::vector<InterfaceAddress> ListInterfaceAddresses();

// The label the links put in front of a wildcard -D ("*.example.com" -> "www.example.com"),
// unless --tls-link-label names another: a link needs one concrete host name, and "www" is
// the name a wildcard site most likely also serves.
inline constexpr char kDefaultWildcardLinkLabel[] = "www";

// The host name a link carries for -D `domain`: the domain itself, or for a wildcard
// "<label>.<base>" (`label` must pass IsWildcardLabel, as the command line checks).
std::string LinkDomainFor(std::string_view domain, std::string_view label);

struct ProxyLink {
  size_t secret_index = 0;  // position in -S + secret file order
  SecretMode mode = SecretMode::kPlain;
  std::string domain;       // kFakeTls only: the host name in the link (LinkDomainFor)
  std::string pattern;      // kFakeTls with a wildcard -D: that -D text ("*.example.com")
  std::string link_secret;  // hex, as put in the links
  std::string tg;           // tg://proxy?server=...&port=...&secret=...
  std::string tme;          // https://t.me/proxy?...
};

// The links a client can use: without -D (`domains` empty) the plain and the dd (padded
// intermediate) forms of every secret; with -D only fake-TLS works, so one ee link per secret
// and domain (a wildcard domain gets `wildcard_label` in front of its base).
std::vector<ProxyLink> BuildProxyLinks(std::string_view server, uint16_t port,
                                       std::span<const ClientSecret> secrets,
                                       std::span<const std::string> domains,
                                       std::string_view wildcard_label = kDefaultWildcardLinkLabel);

// Log lines for BuildProxyLinks' output, one per link:
//   "secret #0 (dd): tg://proxy?... https://t.me/proxy?..."
//   "secret #0 (ee, www.example.com for *.example.com): tg://proxy?... https://t.me/proxy?..."
// or a single line saying why there is nothing to print (no secret, no client port).
std::vector<std::string> FormatProxyLinks(std::span<const ProxyLink> links, bool have_port);

// First non-loopback IPv4 interface address, preferring 10.0.0.0/8 like the reference's
// get_my_ipv4; nullopt when there is none.
std::optional<uint32_t> DetectLocalIpv4();

}  // namespace mtp
