#include "control/proxy_config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

// Resolves numeric literals ("[v6]" included) and a fixed name table; never touches DNS.
class FakeResolver : public HostResolver {
 public:
  std::optional<ResolvedAddress> Resolve(std::string_view name) override {
    calls.emplace_back(name);
    auto it = names.find(std::string(name));
    if (it != names.end()) return it->second;
    std::string_view inner = name;
    if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') {
      inner = inner.substr(1, inner.size() - 2);
      auto v6 = ResolvedAddress::FromLiteral(inner);
      if (v6 && v6->is_ipv6()) return v6;
      return std::nullopt;
    }
    return ResolvedAddress::FromLiteral(inner);
  }
  std::map<std::string, ResolvedAddress> names;
  std::vector<std::string> calls;
};

absl::StatusOr<std::shared_ptr<const ProxyConfig>> Parse(std::string_view text,
                                                         FakeResolver* resolver = nullptr) {
  FakeResolver local;
  return ParseProxyConfig(text, "proxy-multi.conf", resolver ? *resolver : local);
}

std::string ErrorOf(std::string_view text, FakeResolver* resolver = nullptr) {
  auto result = Parse(text, resolver);
  if (result.ok()) return "<ok>";
  EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << result.status();
  return std::string(result.status().message());
}

std::vector<std::string> TargetsOf(const ProxyConfig& config, int32_t id) {
  std::vector<std::string> out;
  const MeCluster* cluster = config.FindCluster(id);
  if (cluster == nullptr) return out;
  for (uint32_t index : cluster->target_indexes) out.push_back(config.target(index).ToString());
  return out;
}

constexpr char kOfficialExample[] =
    "# force_probability 10 10\n"
    "default 2;\n"
    "proxy_for 1 149.154.175.50:8888;\n"
    "proxy_for -1 149.154.175.50:8888;\n"
    "proxy_for 2 149.154.161.144:8888;\n"
    "proxy_for -2 149.154.161.144:8888;\n"
    "proxy_for 3 149.154.175.100:8888;\n"
    "proxy_for -3 149.154.175.100:8888;\n"
    "proxy_for 4 91.108.4.159:8888;\n"
    "proxy_for 4 91.108.4.224:8888;\n"
    "proxy_for -4 149.154.165.250:8888;\n"
    "proxy_for 5 91.108.56.157:8888;\n"
    "proxy_for -5 91.108.56.157:8888;\n"
    "proxy_for 203 91.105.192.110:443;\n";

TEST(ProxyConfigTest, OfficialFileExample) {
  auto config = Parse(kOfficialExample);
  ASSERT_TRUE(config.ok()) << config.status();
  const ProxyConfig& c = **config;
  EXPECT_EQ(c.clusters.size(), 11u);
  EXPECT_EQ(c.target_lines, 12u);
  // 149.154.175.50:8888 etc. are shared between the DC and its media cluster.
  EXPECT_EQ(c.targets.size(), 8u);
  EXPECT_EQ(c.default_cluster_id, 2);
  ASSERT_TRUE(c.default_cluster_index.has_value());
  EXPECT_EQ(c.clusters[*c.default_cluster_index].id, 2);
  EXPECT_EQ(TargetsOf(c, 4), (std::vector<std::string>{"91.108.4.159:8888", "91.108.4.224:8888"}));
  EXPECT_EQ(TargetsOf(c, -1), (std::vector<std::string>{"149.154.175.50:8888"}));
  EXPECT_EQ(c.FindCluster(1)->target_indexes, c.FindCluster(-1)->target_indexes);
  EXPECT_EQ(TargetsOf(c, 203), (std::vector<std::string>{"91.105.192.110:443"}));
  // Clusters keep file order.
  EXPECT_EQ(c.clusters.front().id, 1);
  EXPECT_EQ(c.clusters.back().id, 203);
  // Lookup: exact signed id, then the default cluster.
  EXPECT_EQ(c.ClusterFor(-4)->id, -4);
  EXPECT_EQ(c.ClusterFor(5)->id, 5);
  EXPECT_EQ(c.ClusterFor(7)->id, 2);
  EXPECT_EQ(c.ClusterFor(-7)->id, 2);
  EXPECT_EQ(c.ClusterFor(10002)->id, 2);
  EXPECT_EQ(c.FindCluster(7), nullptr);
  EXPECT_EQ(c.file_name, "proxy-multi.conf");
  EXPECT_EQ(c.size_bytes, sizeof(kOfficialExample) - 1);
  for (const MeTarget& t : c.targets) {
    EXPECT_EQ(t.min_connections, 4);
    EXPECT_EQ(t.max_connections, 8);
  }
  EXPECT_EQ(c.timeout_ms, 300);
}

TEST(ProxyConfigTest, SizeAndMd5OfBytesRead) {
  auto config = Parse("proxy 1.2.3.4:80;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->size_bytes, 18u);
  EXPECT_EQ((*config)->md5_hex, "3168b59715022b5f1de3260718b05243");
}

TEST(ProxyConfigTest, NulByteEndsTextButCountsForSizeAndMd5) {
  std::string text("proxy 1.2.3.4:80;\0garbage", 25);
  auto config = Parse(text);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->size_bytes, 25u);
  EXPECT_EQ((*config)->md5_hex, "ce49d6996317cd5a70665da2e38d252a");
  EXPECT_EQ((*config)->targets.size(), 1u);
}

TEST(ProxyConfigTest, ProxyIsClusterZeroAndDefaultZero) {
  auto config = Parse("proxy 10.0.0.1:80;\nproxy 10.0.0.2:81;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(TargetsOf(**config, 0), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:81"}));
  EXPECT_EQ((*config)->ClusterFor(2)->id, 0);
  EXPECT_EQ((*config)->ClusterFor(-2)->id, 0);
}

TEST(ProxyConfigTest, DefaultWithoutMatchingClusterMeansNoRoute) {
  auto config = Parse("default 9;\nproxy_for 1 10.0.0.1:80;\nproxy_for -2 10.0.0.2:80;");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->default_cluster_id, 9);
  EXPECT_FALSE((*config)->default_cluster_index.has_value());
  EXPECT_EQ((*config)->ClusterFor(2), nullptr);
  EXPECT_EQ((*config)->ClusterFor(1)->id, 1);
  EXPECT_EQ((*config)->ClusterFor(-2)->id, -2);
  EXPECT_EQ((*config)->ClusterFor(-1), nullptr);
  // No `default` at all and no cluster 0: no route either.
  auto no_default = Parse("proxy_for 1 10.0.0.1:80;");
  ASSERT_TRUE(no_default.ok());
  EXPECT_EQ((*no_default)->ClusterFor(2), nullptr);
}

TEST(ProxyConfigTest, NegativeIdsAndBounds) {
  auto config =
      Parse("proxy_for -32768 10.0.0.1:80;\nproxy_for 32767 10.0.0.2:80;\ndefault -32768;");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->ClusterFor(-32768)->id, -32768);
  EXPECT_EQ((*config)->ClusterFor(32767)->id, 32767);
  EXPECT_EQ((*config)->ClusterFor(3)->id, -32768);
}

TEST(ProxyConfigTest, DefaultCanComeAfterClusters) {
  auto config = Parse("proxy_for 4 10.0.0.1:80;\nproxy_for 2 10.0.0.2:80;\ndefault 4;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->ClusterFor(99)->id, 4);
}

TEST(ProxyConfigTest, MinMaxConnectionsApplyToLaterTargets) {
  auto config = Parse(
      "proxy_for 1 10.0.0.1:80;\n"
      "max_connections 20;\n"
      "min_connections 10;\n"
      "proxy_for 2 10.0.0.2:80;\n"
      "min_connections 1;\n"
      "max_connections 1;\n"
      "proxy_for 3 10.0.0.3:80;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  const auto& t = (*config)->targets;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].min_connections, 4);
  EXPECT_EQ(t[0].max_connections, 8);
  EXPECT_EQ(t[1].min_connections, 10);
  EXPECT_EQ(t[1].max_connections, 20);
  EXPECT_EQ(t[2].min_connections, 1);
  EXPECT_EQ(t[2].max_connections, 1);
}

TEST(ProxyConfigTest, RedeclaredTargetIsSharedAndTakesLastLimits) {
  auto config = Parse(
      "proxy_for 1 10.0.0.1:80;\n"
      "max_connections 16;\n"
      "min_connections 12;\n"
      "proxy_for 2 10.0.0.1:80;\n"
      "proxy_for 2 10.0.0.1:81;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  const ProxyConfig& c = **config;
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.target_lines, 3u);
  EXPECT_EQ(c.targets[0].min_connections, 12);
  EXPECT_EQ(c.targets[0].max_connections, 16);
  EXPECT_EQ(c.FindCluster(1)->target_indexes, (std::vector<uint32_t>{0}));
  EXPECT_EQ(c.FindCluster(2)->target_indexes, (std::vector<uint32_t>{0, 1}));
}

TEST(ProxyConfigTest, SameTargetTwiceInOneClusterCountsTwice) {
  auto config = Parse("proxy 10.0.0.1:80;\nproxy 10.0.0.1:80;\nproxy 10.0.0.2:80;");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->FindCluster(0)->target_indexes, (std::vector<uint32_t>{0, 0, 1}));
}

TEST(ProxyConfigTest, TimeoutIsParsedAndKept) {
  auto config = Parse("timeout 10;\nproxy 10.0.0.1:80;\ntimeout 30000;");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->timeout_ms, 30000);
}

TEST(ProxyConfigTest, SpacesCommentsAndLayout) {
  // Spaces around ':' (observed), a newline before ':' (the lexer skips newlines there), tabs,
  // CRLF, comments after statements, several statements on one line.
  auto config = Parse(
      "proxy 127.0.0.1 :1;\r\n"
      "proxy 127.0.0.1: 2; # trailing comment\n"
      "proxy\t127.0.0.1\n:3 ;proxy 127.0.0.1:4;\n"
      "# proxy 127.0.0.1:5;\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(TargetsOf(**config, 0),
            (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"}));
}

TEST(ProxyConfigTest, Ipv6BracketTargets) {
  FakeResolver resolver;
  auto config = Parse("proxy_for 2 [2001:db8::1]:443;\nproxy_for 2 [::1]:8888;", &resolver);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(TargetsOf(**config, 2), (std::vector<std::string>{"[2001:db8::1]:443", "[::1]:8888"}));
  EXPECT_TRUE((*config)->targets[0].address.is_ipv6());
  // The resolver sees the token exactly as written, brackets included.
  EXPECT_EQ(resolver.calls, (std::vector<std::string>{"[2001:db8::1]", "[::1]"}));
}

TEST(ProxyConfigTest, HostNamesGoThroughTheResolver) {
  FakeResolver resolver;
  resolver.names.emplace("me-a.example", ResolvedAddress::Ipv4(0x0a000001));
  resolver.names.emplace("me_b", ResolvedAddress::Ipv4(0x0a000002));
  auto config = Parse("proxy me-a.example:80;\nproxy me_b:80;", &resolver);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(TargetsOf(**config, 0), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"}));
}

TEST(ProxyConfigTest, PrefixMatchedKeywordQuirk) {
  // `proxyfoo` is `proxy` followed by the host token `foo` (observed in the reference).
  FakeResolver resolver;
  resolver.names.emplace("foo", ResolvedAddress::Ipv4(0x01020304));
  auto config = Parse("proxyfoo:1;", &resolver);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(TargetsOf(**config, 0), (std::vector<std::string>{"1.2.3.4:1"}));
  EXPECT_EQ(ErrorOf("proxyfoo 1.2.3.4:1;", &resolver), "fatal: : expected near 1.2.3.4:1;");
  // Without a resolvable `foo` the reference reports the host.
  EXPECT_EQ(ErrorOf("proxyfoo 1.2.3.4:1;"), "fatal: cannot resolve 'foo'\n near foo");
  // `proxy_forx` is proxy_for with a missing id, `defaults` is default with a bad id.
  EXPECT_EQ(ErrorOf("proxy_forx 1.2.3.4:1;"),
            "fatal: invalid target id (integer -32768..32767 expected) near x 1.2.3.4:1;");
  EXPECT_EQ(ErrorOf("proxy 1.2.3.4:1;\ndefaults 3;"),
            "proxy-multi.conf:1: fatal: invalid target id (integer -32768..32767 expected) "
            "near s 3;");
  // min_connectionsX / timeoutX: the keyword is matched, the number is missing.
  EXPECT_EQ(ErrorOf("timeouts 100;"), "fatal: invalid timeout near s 100;");
}

TEST(ProxyConfigTest, IntegerReadsWrapLikeTheReference) {
  // 2^32 + 1 stored into an int is 1; 2^32 + 8 is 8.
  auto config = Parse("max_connections 4294967304;\nproxy 10.0.0.1:4294967297;");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->targets[0].port, 1);
  EXPECT_EQ((*config)->targets[0].max_connections, 8);
}

struct ErrorCase {
  const char* name;
  const char* text;
  const char* message;
};

TEST(ProxyConfigTest, ErrorMessagesWithLineNumbers) {
  const ErrorCase cases[] = {
      {"empty", "",
       "fatal: expected to find a mtproto-proxy configuration with `proxy' "
       "directives near "},
      {"comments only", "# nothing\n\n",
       "proxy-multi.conf:2: fatal: expected to find a mtproto-proxy configuration with "
       "`proxy' directives near "},
      {"only settings", "timeout 100;\n",
       "proxy-multi.conf:1: fatal: expected to find a mtproto-proxy configuration with "
       "`proxy' directives near "},
      {"unknown directive", "proxy 1.2.3.4:80;\nforward 1.2.3.4:80;\n",
       "proxy-multi.conf:1: fatal: 'proxy <ip>:<port>;' expected near forward 1.2.3.4:80;"},
      {"third line is :2:", "proxy 1.2.3.4:80;\nproxy 1.2.3.4:80;\nbad\n",
       "proxy-multi.conf:2: fatal: 'proxy <ip>:<port>;' expected near bad"},
      {"missing ; at eof", "proxy 1.2.3.4:80", "fatal: ; expected near "},
      {"missing ; before newline", "proxy 1.2.3.4:80\n",
       "proxy-multi.conf:1: fatal: ; expected near "},
      {"missing ; next stmt", "proxy 1.2.3.4:80\nproxy 1.2.3.4:81;",
       "proxy-multi.conf:1: fatal: ; expected near  1.2.3.4:81;"},
      {"brace instead of ;", "proxy 1.2.3.4:80}", "fatal: ; expected near "},
      {"missing colon", "proxy 1.2.3.4 80;", "fatal: : expected near 80;"},
      {"semicolon instead of colon", "proxy 1.2.3.4;", "fatal: : expected near "},
      {"port missing", "proxy 1.2.3.4:;", "fatal: port number expected near ;"},
      {"port zero", "proxy 1.2.3.4:0;", "fatal: port number expected near ;"},
      {"port too big", "proxy 1.2.3.4:65536;", "fatal: port number 65536 out of range near ;"},
      {"port negative after wrap", "proxy 1.2.3.4:4294967295;",
       "fatal: port number -1 out of range near ;"},
      {"port after newline", "proxy 1.2.3.4:\n80;", "fatal: port number expected near "},
      {"hostname missing", "proxy :80;", "fatal: hostname expected near :80;"},
      {"hostname on next line", "proxy\n1.2.3.4:80;", "fatal: hostname expected near "},
      {"hostname too long",
       "proxy aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1;",
       "fatal: hostname expected near aaaaaaaaaaaaaaaaaaaa ..."},
      {"cannot resolve", "proxy 1.2.3.4:80;\n\nproxy nosuch.example:80;",
       "proxy-multi.conf:2: fatal: cannot resolve 'nosuch.example'\n near nosuch.example"},
      {"cannot resolve long name", "proxy nosuch-long-name.example.org:80;",
       "fatal: cannot resolve 'nosuch-long-name.example.org'\n near nosuch-long-name.exa ..."},
      {"id too big", "proxy_for 32768 1.2.3.4:80;",
       "fatal: invalid target id (integer -32768..32767 expected) near  1.2.3.4:80;"},
      {"id too small", "proxy_for -32769 1.2.3.4:80;",
       "fatal: invalid target id (integer -32768..32767 expected) near  1.2.3.4:80;"},
      {"id missing", "proxy_for 1.2.3.4:80;",
       "fatal: space expected after target id near .2.3.4:80;"},
      {"id minus only", "proxy_for - 1.2.3.4:80;",
       "fatal: invalid target id (integer -32768..32767 expected) near - 1.2.3.4:80;"},
      {"no space after id", "proxy_for 2:1.2.3.4:80;",
       "fatal: space expected after target id near :1.2.3.4:80;"},
      {"newline after id", "proxy_for 2\n1.2.3.4:80;",
       "fatal: space expected after target id near "},
      {"default bad", "default x;",
       "fatal: invalid target id (integer -32768..32767 expected) "
       "near x;"},
      {"default missing ;", "default 2 proxy 1.2.3.4:80;", "fatal: ; expected near  1.2.3.4:80;"},
      {"timeout low", "timeout 9;", "fatal: invalid timeout near ;"},
      {"timeout high", "timeout 30001;", "fatal: invalid timeout near ;"},
      {"timeout missing", "timeout;", "fatal: invalid timeout near ;"},
      {"min zero", "min_connections 0;", "fatal: invalid min connections near ;"},
      {"min above max", "min_connections 9;", "fatal: invalid min connections near ;"},
      {"max below min", "max_connections 3;", "fatal: invalid max connections near ;"},
      {"max above 1000", "max_connections 1001;", "fatal: invalid max connections near ;"},
      {"raise min first", "min_connections 10;\nmax_connections 20;",
       "fatal: invalid min connections near ;"},
      {"intermixed", "proxy_for 1 10.0.0.1:80;\nproxy_for 2 10.0.0.2:80;\nproxy_for 1 10.0.0.3:80;",
       "proxy-multi.conf:2: fatal: proxies for dc 1 intermixed near ;"},
      {"intermixed with proxy", "proxy 10.0.0.1:80;\nproxy_for 2 10.0.0.2:80;\nproxy 10.0.0.3:80;",
       "proxy-multi.conf:2: fatal: proxies for dc 0 intermixed near ;"},
      {"snippet stops at CR", "proxy 1.2.3.4:80;\r\nbad\r\nmore",
       "proxy-multi.conf:1: fatal: 'proxy <ip>:<port>;' expected near bad"},
      {"snippet 20 chars", "foo bar baz qux quux corge;",
       "fatal: 'proxy <ip>:<port>;' expected near foo bar baz qux quux ..."},
      {"snippet 19 chars", "foo bar baz qux qux",
       "fatal: 'proxy <ip>:<port>;' expected near foo bar baz qux qux"},
      {"comment lines count", "# a\n# b\n# c\nproxy 1.2.3.4;",
       "proxy-multi.conf:3: fatal: : expected near "},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_EQ(ErrorOf(c.text), c.message) << c.name;
  }
}

std::string ManyClusters(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "proxy_for ", i - 512, " 10.0.", i / 256, ".", i % 256, ":80;\n");
  }
  return text;
}

TEST(ProxyConfigTest, ClusterLimit) {
  auto ok = Parse(ManyClusters(1024));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->clusters.size(), 1024u);
  EXPECT_EQ(ErrorOf(ManyClusters(1025)),
            "proxy-multi.conf:1024: fatal: too many auth clusters near 10.0.4.0:80;");
  // The reference checks the cluster count before every line, so even a further line for the
  // last (1024th) cluster is refused.
  EXPECT_EQ(ErrorOf(ManyClusters(1024) + "proxy_for 511 10.0.9.9:80;"),
            "proxy-multi.conf:1024: fatal: too many auth clusters near 10.0.9.9:80;");
}

TEST(ProxyConfigTest, TargetLineLimit) {
  std::string text;
  for (int i = 0; i < 4096; ++i)
    absl::StrAppend(&text, "proxy 10.1.", i / 256, ".", i % 256, ":80;\n");
  auto ok = Parse(text);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->target_lines, 4096u);
  EXPECT_EQ((*ok)->targets.size(), 4096u);
  EXPECT_EQ(ErrorOf(text + "proxy 10.2.0.0:80;"),
            "proxy-multi.conf:4096: fatal: too many targets (4096) near  10.2.0.0:80;");
  // Lines count, not distinct targets.
  std::string same;
  for (int i = 0; i < 4097; ++i) absl::StrAppend(&same, "proxy 10.1.0.1:80;\n");
  EXPECT_EQ(ErrorOf(same),
            "proxy-multi.conf:4096: fatal: too many targets (4096) near  10.1.0.1:80;");
}

TEST(ProxyConfigTest, RebuildIndexForHandBuiltConfig) {
  ProxyConfig config;
  config.targets.push_back(MeTarget{ResolvedAddress::Ipv4(0x7f000001), 443, 1, 2});
  config.clusters.push_back(MeCluster{-3, {0}});
  config.default_cluster_id = -3;
  config.RebuildIndex();
  EXPECT_EQ(config.ClusterFor(5)->id, -3);
  EXPECT_EQ(config.target(0).ToString(), "127.0.0.1:443");
}

// --- addresses and the system resolver (literals and a private hosts file only: no DNS) ---

TEST(ResolvedAddressTest, Literals) {
  auto v4 = ResolvedAddress::FromLiteral("149.154.175.50");
  ASSERT_TRUE(v4.has_value());
  EXPECT_FALSE(v4->is_ipv6());
  EXPECT_EQ(v4->ipv4_host_order(), 0x959aaf32u);
  EXPECT_EQ(v4->ToString(), "149.154.175.50");
  auto v6 = ResolvedAddress::FromLiteral("2001:0db8:0:0::1");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->is_ipv6());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
  EXPECT_EQ(v6->ipv4_host_order(), 0u);
  EXPECT_FALSE(ResolvedAddress::FromLiteral("1.2.3").has_value());
  EXPECT_FALSE(ResolvedAddress::FromLiteral("[::1]").has_value());
  EXPECT_EQ(*ResolvedAddress::FromLiteral("10.0.0.1"), ResolvedAddress::Ipv4(0x0a000001));
}

TEST(HostsFileTest, ParsesLikeTheReference) {
  auto table = ParseHostsFile(
      "127.0.0.1\tlocalhost\n"
      "10.1.2.3 me-one  me-alias\r\n"
      "   10.9.9.9 me-one later-wins-not\n"
      "0.0.0.0 zero\n"
      "256.1.1.1 bad-octet\n"
      "10.1.1 short\n"
      "10.1.1.1x glued\n"
      "::1 ip6-localhost\n"
      "# 10.5.5.5 commented\n"
      "10.7.7.7");
  EXPECT_EQ(table.at("localhost"), 0x7f000001u);
  EXPECT_EQ(table.at("me-one"), 0x0a010203u);  // first line wins
  EXPECT_EQ(table.at("me-alias"), 0x0a010203u);
  EXPECT_EQ(table.at("later-wins-not"), 0x0a090909u);
  EXPECT_FALSE(table.contains("zero"));
  EXPECT_FALSE(table.contains("bad-octet"));
  EXPECT_FALSE(table.contains("short"));
  EXPECT_FALSE(table.contains("glued"));
  EXPECT_FALSE(table.contains("ip6-localhost"));
  EXPECT_FALSE(table.contains("commented"));
  EXPECT_EQ(table.size(), 4u);
}

TEST(SystemHostResolverTest, HostsFileFirstThenLiterals) {
  testing_util::TempDir dir("mtp-proxy-config");
  std::string hosts = dir.Write("hosts", "10.1.2.3 me-one\n10.4.5.6 me.two\n");
  SystemHostResolver resolver(hosts);
  EXPECT_EQ(resolver.Resolve("me-one"), ResolvedAddress::Ipv4(0x0a010203));
  EXPECT_EQ(resolver.Resolve("me.two"), ResolvedAddress::Ipv4(0x0a040506));
  EXPECT_EQ(resolver.Resolve("127.0.0.1"), ResolvedAddress::Ipv4(0x7f000001));
  // A dot-less name that is not in the hosts table fails without asking DNS.
  EXPECT_EQ(resolver.Resolve("nodots"), std::nullopt);
  // Brackets = IPv6.
  auto v6 = resolver.Resolve("[::1]");
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->is_ipv6());
  EXPECT_EQ(v6->ToString(), "::1");
  EXPECT_EQ(resolver.Resolve("[127.0.0.1]"), std::nullopt);
  // A bare IPv6 literal contains ':' and resolves as IPv6.
  EXPECT_EQ(resolver.Resolve("::1"), v6);
}

TEST(SystemHostResolverTest, ReloadsChangedHostsFile) {
  testing_util::TempDir dir("mtp-proxy-config");
  std::string hosts = dir.Write("hosts", "10.1.2.3 me-one\n");
  SystemHostResolver resolver(hosts);
  EXPECT_EQ(resolver.Resolve("me-one"), ResolvedAddress::Ipv4(0x0a010203));
  dir.Write("hosts", "10.1.2.44 me-one\n");  // size changed
  EXPECT_EQ(resolver.Resolve("me-one"), ResolvedAddress::Ipv4(0x0a01022c));
}

TEST(ProxyConfigFileTest, ReadErrorsAndExitCodes) {
  testing_util::TempDir dir("mtp-proxy-config");
  auto missing = ReadProxyConfigFile(dir.path() + "/nope.conf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "Can not open file " + dir.path() + "/nope.conf: No such file or directory");
  EXPECT_EQ(ProxyConfigExitCode(missing.status()), 1);

  std::string big_path = dir.Write("big.conf", std::string(kMaxConfigBytes + 1, '#'));
  auto big = ReadProxyConfigFile(big_path);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message(),
            "configuration file " + big_path + " too long (max 16777216 bytes)");
  EXPECT_EQ(ProxyConfigExitCode(big.status()), 2);

  // Exactly 16 MiB is accepted (it is all comment, so the parse fails with a syntax error).
  std::string max_path = dir.Write("max.conf", std::string(kMaxConfigBytes, '#'));
  auto max = ReadProxyConfigFile(max_path);
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->size(), kMaxConfigBytes);

  EXPECT_EQ(ProxyConfigExitCode(absl::InvalidArgumentError("x")), 1);
  EXPECT_EQ(ProxyConfigExitCode(absl::OkStatus()), 0);
}

TEST(ProxyConfigFileTest, LoadEndToEnd) {
  testing_util::TempDir dir("mtp-proxy-config");
  std::string path = dir.Write("proxy-multi.conf", kOfficialExample);
  FakeResolver resolver;
  auto config = LoadProxyConfig(path, resolver);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)->file_name, path);
  EXPECT_EQ((*config)->clusters.size(), 11u);

  std::string bad = dir.Write("bad.conf", "proxy 1.2.3.4:80;\nproxy_for 2 x:;\n");
  resolver.names.emplace("x", ResolvedAddress::Ipv4(1));
  auto error = LoadProxyConfig(bad, resolver);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), bad + ":1: fatal: port number expected near ;");
  EXPECT_EQ(ProxyConfigExitCode(error.status()), 1);
}

}  // namespace
}  // namespace mtp
