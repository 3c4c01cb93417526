// --stats-bind / --stats-allow parsing and the stats peer allowlist.
#include "control/stats_access.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

namespace mtp {
namespace {

sockaddr_storage Peer(const char *ip) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, ip, &reinterpret_cast<sockaddr_in &>(ss).sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, ip, &reinterpret_cast<sockaddr_in6 &>(ss).sin6_addr), 1) << ip;
    ss.ss_family = AF_INET6;
  }
  return ss;
}

// --stats-allow takes what the client IP lists take (one parser, proto/cidr_set), with
// errors that name the option.
TEST(StatsAccessTest, StatsAllowRejectsBadBlocksWithAReason) {
  for (const char *bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                          "2001:db8::/129", "example.com/8", "10.0.0/8", "10.0.0.0/8,",
                          "10.0.0.0/8,,192.0.2.1", "2001:db8::1/32"}) {
    absl::StatusOr<CidrSet> set = ParseStatsAllow(bad);
    ASSERT_FALSE(set.ok()) << bad;
    EXPECT_EQ(set.status().message().rfind("--stats-allow: ", 0), 0u) << set.status();
  }
  auto host_bits = ParseStatsAllow("10.0.0.1/8");
  ASSERT_FALSE(host_bits.ok());
  EXPECT_NE(host_bits.status().message().find("did you mean '10.0.0.0/8'?"), std::string::npos)
      << host_bits.status();
  auto none = ParseStatsAllow("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto three = ParseStatsAllow("10.0.0.0/8,2001:db8::/32,192.0.2.1");
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->entry_count(), 3u);
}

TEST(StatsAccessTest, ParsesStatsBind) {
  auto any = ParseStatsBind("0.0.0.0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->ip, "0.0.0.0");
  EXPECT_FALSE(any->ipv6);
  EXPECT_FALSE(any->port.has_value());
  auto with_port = ParseStatsBind("10.1.2.3:9100");
  ASSERT_TRUE(with_port.ok());
  EXPECT_EQ(with_port->ip, "10.1.2.3");
  EXPECT_EQ(with_port->port, 9100);
  auto bare6 = ParseStatsBind("::");
  ASSERT_TRUE(bare6.ok());
  EXPECT_TRUE(bare6->ipv6);
  EXPECT_EQ(bare6->ip, "::");
  EXPECT_FALSE(bare6->port.has_value());
  auto bracketed = ParseStatsBind("[2001:db8::5]:0");
  ASSERT_TRUE(bracketed.ok());
  EXPECT_EQ(bracketed->ip, "2001:db8::5");
  EXPECT_EQ(bracketed->port, 0);
  EXPECT_EQ(ParseStatsBind("[::1]")->port, std::nullopt);
  for (const char *bad : {"", "localhost", "10.0.0.1:", "10.0.0.1:65536", "10.0.0.1:x", "[::1",
                          "[::1]9100", "[10.0.0.1]:80", "1.2.3.4:-1", "::1:zz"}) {
    EXPECT_FALSE(ParseStatsBind(bad).ok()) << bad;
  }
}

TEST(StatsAccessTest, AllowlistIsLoopbackPlusItsBlocks) {
  StatsAllowlist none;
  EXPECT_TRUE(none.Allows(Peer("127.0.0.1")));
  EXPECT_TRUE(none.Allows(Peer("::1")));
  EXPECT_TRUE(none.Allows(Peer("::ffff:127.0.0.1")));
  EXPECT_FALSE(none.Allows(Peer("127.0.0.2")));
  EXPECT_FALSE(none.Allows(Peer("10.0.0.1")));

  StatsAllowlist list(*ParseStatsAllow("10.0.0.0/8,2001:db8:1::/48"));
  EXPECT_TRUE(list.Allows(Peer("10.255.1.2")));
  EXPECT_TRUE(list.Allows(Peer("::ffff:10.0.0.9")));  // an IPv4 peer of a dual-stack socket
  EXPECT_FALSE(list.Allows(Peer("11.0.0.1")));
  EXPECT_FALSE(list.Allows(Peer("::ffff:11.0.0.1")));
  EXPECT_TRUE(list.Allows(Peer("2001:db8:1:ffff::1")));
  EXPECT_FALSE(list.Allows(Peer("2001:db8:2::1")));
  EXPECT_TRUE(list.Allows(Peer("127.0.0.1")));
  EXPECT_FALSE(list.Allows(sockaddr_storage{}));

  // Prefix lengths that are not byte multiples.
  StatsAllowlist odd(*ParseStatsAllow("192.0.2.128/25"));
  EXPECT_TRUE(odd.Allows(Peer("192.0.2.200")));
  EXPECT_FALSE(odd.Allows(Peer("192.0.2.127")));
  StatsAllowlist everyone(*ParseStatsAllow("0.0.0.0/0"));
  EXPECT_TRUE(everyone.Allows(Peer("203.0.113.9")));
  EXPECT_FALSE(everyone.Allows(Peer("2001:db8::1")));  // IPv4 blocks never admit IPv6 peers
}

}  // namespace
}  // namespace mtp
