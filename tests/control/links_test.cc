#include "control/links.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

ClientSecret SecretOf(const char* hex) {
  ClientSecret s{};
  auto bytes = HexDecode(hex);
  std::copy(bytes->begin(), bytes->end(), s.begin());
  return s;
}

constexpr char kHexA[] = "0123456789abcdef0123456789abcdef";
constexpr char kHexB[] = "fedcba9876543210fedcba9876543210";

TEST(LinkServerTest, PreferenceOrder) {
  LinkServerSources s;
  EXPECT_EQ(ChooseLinkServer(s), kUnknownLinkServer);
  s.detected = "192.0.2.1";
  EXPECT_EQ(ChooseLinkServer(s), "192.0.2.1");
  s.bind_ipv4 = 0;  // --address 0.0.0.0 says nothing about the public address
  EXPECT_EQ(ChooseLinkServer(s), "192.0.2.1");
  s.bind_ipv4 = 0xc6336401;  // 198.51.100.1
  EXPECT_EQ(ChooseLinkServer(s), "198.51.100.1");
  s.nat_global_ipv4 = 0xcb007105;  // 203.0.113.5
  EXPECT_EQ(ChooseLinkServer(s), "203.0.113.5");
  s.public_host = "proxy.example.org";
  EXPECT_EQ(ChooseLinkServer(s), "proxy.example.org");
  s.public_host = "";
  EXPECT_EQ(ChooseLinkServer(s), "203.0.113.5");
}

TEST(ProxyLinksTest, PlainAndPaddedWithoutDomain) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA), SecretOf(kHexB)};
  auto links = BuildProxyLinks("203.0.113.5", 443, secrets, {});
  ASSERT_EQ(links.size(), 4u);
  EXPECT_EQ(links[0].secret_index, 0u);
  EXPECT_EQ(links[0].mode, SecretMode::kPlain);
  EXPECT_EQ(links[0].tg,
            "tg://proxy?server=203.0.113.5&port=443&secret=0123456789abcdef0123456789abcdef");
  EXPECT_EQ(links[0].tme,
            "https://t.me/proxy?server=203.0.113.5&port=443&secret="
            "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(links[1].mode, SecretMode::kPadded);
  EXPECT_EQ(links[1].tg,
            "tg://proxy?server=203.0.113.5&port=443&secret=dd0123456789abcdef0123456789abcdef");
  EXPECT_EQ(links[2].secret_index, 1u);
  EXPECT_EQ(links[3].link_secret, std::string("dd") + kHexB);
}

TEST(ProxyLinksTest, OnlyFakeTlsWithDomains) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA)};
  std::vector<std::string> domains = {"example.com", "t.me"};
  auto links = BuildProxyLinks("proxy.example.org", 8443, secrets, domains);
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].mode, SecretMode::kFakeTls);
  EXPECT_EQ(links[0].domain, "example.com");
  // ee + secret + hex("example.com")
  EXPECT_EQ(links[0].link_secret,
            "ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d");
  EXPECT_EQ(links[0].tg,
            "tg://proxy?server=proxy.example.org&port=8443&secret="
            "ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d");
  EXPECT_EQ(links[1].link_secret, "ee0123456789abcdef0123456789abcdef742e6d65");
  // What the links carry parses back to the same secret and domain.
  LinkSecret back = ParseLinkSecret(links[1].link_secret).value();
  EXPECT_EQ(back.mode, SecretMode::kFakeTls);
  EXPECT_EQ(back.secret, secrets[0]);
  EXPECT_EQ(back.domain, "t.me");
}

// A wildcard -D cannot go into a link as is: the link names one host under it, "www" unless
// another label is given, and the line says which -D it stands for.
TEST(ProxyLinksTest, WildcardDomainGetsAConcreteHost) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA)};
  std::vector<std::string> domains = {"*.example.com", "t.me"};
  auto links = BuildProxyLinks("h", 1, secrets, domains);
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].domain, "www.example.com");
  EXPECT_EQ(links[0].pattern, "*.example.com");
  EXPECT_EQ(links[1].domain, "t.me");
  EXPECT_EQ(links[1].pattern, "");
  LinkSecret back = ParseLinkSecret(links[0].link_secret).value();
  EXPECT_EQ(back.domain, "www.example.com");
  EXPECT_EQ(links[0].tg.find('*'), std::string::npos);
  auto lines = FormatProxyLinks(links, true);
  EXPECT_EQ(lines[0].substr(0, 51), "secret #0 (ee, www.example.com for *.example.com): ");
  EXPECT_EQ(lines[1].substr(0, 22), "secret #0 (ee, t.me): ");

  auto cdn = BuildProxyLinks("h", 1, secrets, domains, "cdn-1");
  EXPECT_EQ(cdn[0].domain, "cdn-1.example.com");
  EXPECT_EQ(ParseLinkSecret(cdn[0].link_secret).value().domain, "cdn-1.example.com");
  EXPECT_EQ(LinkDomainFor("example.com", "cdn"), "example.com");
}

TEST(ProxyLinksTest, OverlongDomainLeftOut) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA)};
  std::vector<std::string> domains = {std::string(kMaxFakeTlsDomainBytes + 1, 'a'), "ok.example"};
  auto links = BuildProxyLinks("h", 1, secrets, domains);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].domain, "ok.example");
}

TEST(ProxyLinksTest, Ipv6ServerIsNotBracketed) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA)};
  auto links = BuildProxyLinks("2001:db8::1", 443, secrets, {});
  EXPECT_EQ(links[0].tg.substr(0, 39), "tg://proxy?server=2001:db8::1&port=443&");
}

TEST(ProxyLinksTest, FormattedLines) {
  std::vector<ClientSecret> secrets = {SecretOf(kHexA)};
  auto links = BuildProxyLinks("192.0.2.1", 443, secrets, {});
  auto lines = FormatProxyLinks(links, true);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "secret #0 (plain): tg://proxy?server=192.0.2.1&port=443&secret=" +
                std::string(kHexA) + " https://t.me/proxy?server=192.0.2.1&port=443&secret=" +
                kHexA);
  EXPECT_EQ(lines[1].substr(0, 16), "secret #0 (dd): ");
  std::vector<std::string> domains = {"example.com"};
  auto ee = FormatProxyLinks(BuildProxyLinks("h", 1, secrets, domains), true);
  EXPECT_EQ(ee[0].substr(0, 29), "secret #0 (ee, example.com): ");

  auto none = FormatProxyLinks({}, true);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_NE(none[0].find("no client secret"), std::string::npos);
  auto no_port = FormatProxyLinks(links, false);
  ASSERT_EQ(no_port.size(), 1u);
  EXPECT_NE(no_port[0].find("no client port"), std::string::npos);
}

TEST(ProxyLinksTest, DetectedAddressIsNeverLoopback) {
  std::optional<uint32_t> ip = DetectLocalIpv4();
  if (ip) {
    EXPECT_NE(*ip >> 24, 127u);
    EXPECT_NE(*ip, 0u);
  }
}

}  // namespace
}  // namespace mtp
