// CidrSet: list-file parsing and its errors, prefix boundaries, merging, IPv4-mapped IPv6
// matching, and lookups checked against a brute-force scan of the entries.
#include "proto/cidr_set.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace mtp {
namespace {

SocketAddress A(std::string_view ip) { return SocketAddress::FromIp(ip, 443).value(); }

CidrSet Set(std::string_view text) {
  absl::StatusOr<CidrSet> s = CidrSet::ParseText(text, "test.list");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : CidrSet();
}

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<CidrSet> s = CidrSet::ParseText(text, "/etc/block.list");
  EXPECT_FALSE(s.ok()) << text;
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(CidrSet, EmptyContainsNothing) {
  CidrSet empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Contains(A("1.2.3.4")));
  EXPECT_FALSE(empty.Contains(A("::1")));
  CidrSet comments = Set("# nothing here\n\n   \t\n# still nothing\r\n");
  EXPECT_TRUE(comments.empty());
  EXPECT_EQ(comments.entry_count(), 0u);
}

TEST(CidrSet, FileSyntax) {
  CidrSet s = Set(
      "# office\n"
      "10.0.0.0/8\n"
      "  192.0.2.7   # one host, indented\n"
      "\t2001:db8::/32\r\n"
      "\n"
      "::1");  // no final newline
  EXPECT_EQ(s.entry_count(), 4u);
  EXPECT_TRUE(s.Contains(A("10.0.0.0")));
  EXPECT_TRUE(s.Contains(A("10.255.255.255")));
  EXPECT_FALSE(s.Contains(A("11.0.0.0")));
  EXPECT_FALSE(s.Contains(A("9.255.255.255")));
  EXPECT_TRUE(s.Contains(A("192.0.2.7")));
  EXPECT_FALSE(s.Contains(A("192.0.2.6")));
  EXPECT_FALSE(s.Contains(A("192.0.2.8")));
  EXPECT_TRUE(s.Contains(A("2001:db8::")));
  EXPECT_TRUE(s.Contains(A("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(s.Contains(A("2001:db9::")));
  EXPECT_TRUE(s.Contains(A("::1")));
  EXPECT_FALSE(s.Contains(A("::2")));
  EXPECT_FALSE(s.Contains(SocketAddress()));  // AF_UNSPEC never matches
}

TEST(CidrSet, ErrorsNameFileLineAndText) {
  EXPECT_EQ(ErrorOf("10.0.0.0/8\n# ok\n10.0.0.300\n"),
            "/etc/block.list:3: bad address '10.0.0.300' in '10.0.0.300' (want IPv4 or IPv6)");
  EXPECT_EQ(ErrorOf("10.0.0.0/33"),
            "/etc/block.list:1: bad prefix length in '10.0.0.0/33' (want 0..32)");
  EXPECT_EQ(ErrorOf("\n::/129"), "/etc/block.list:2: bad prefix length in '::/129' (want 0..128)");
  EXPECT_EQ(ErrorOf("10.0.0.1/8"),
            "/etc/block.list:1: '10.0.0.1/8' has bits set past its prefix length (did you mean "
            "'10.0.0.0/8'?)");
  EXPECT_EQ(ErrorOf("2001:db8::1/32"),
            "/etc/block.list:1: '2001:db8::1/32' has bits set past its prefix length (did you "
            "mean '2001:db8::/32'?)");
  EXPECT_EQ(ErrorOf("10.0.0.0/8 11.0.0.0/8"),
            "/etc/block.list:1: one address or prefix per line, got '10.0.0.0/8 11.0.0.0/8'");
  for (std::string_view bad : {"10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "/8", "host.example",
                               "10.0.0.0/8/8", "[::1]", "1.2.3.4:80", "010.0.0.0"}) {
    EXPECT_NE(ErrorOf(bad).find("/etc/block.list:1: "), std::string::npos) << bad;
  }
}

TEST(CidrSet, WholeSpacesAndHosts) {
  CidrSet all4 = Set("0.0.0.0/0");
  EXPECT_TRUE(all4.Contains(A("0.0.0.0")));
  EXPECT_TRUE(all4.Contains(A("255.255.255.255")));
  EXPECT_TRUE(all4.Contains(A("::ffff:1.2.3.4")));  // mapped: an IPv4 client
  EXPECT_FALSE(all4.Contains(A("::1")));
  CidrSet all6 = Set("::/0");
  EXPECT_TRUE(all6.Contains(A("::")));
  EXPECT_TRUE(all6.Contains(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  // ::/0 covers ::ffff:0:0/96, so it covers IPv4 clients too, in either form.
  EXPECT_TRUE(all6.Contains(A("1.2.3.4")));
  EXPECT_TRUE(all6.Contains(A("::ffff:1.2.3.4")));
  CidrSet host = Set("255.255.255.255/32\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
  EXPECT_TRUE(host.Contains(A("255.255.255.255")));
  EXPECT_FALSE(host.Contains(A("255.255.255.254")));
  EXPECT_TRUE(host.Contains(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(host.Contains(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")));
}

TEST(CidrSet, MappedAddressesMatchIpv4Entries) {
  CidrSet v4 = Set("203.0.113.0/24");
  EXPECT_TRUE(v4.Contains(A("::ffff:203.0.113.9")));
  EXPECT_FALSE(v4.Contains(A("::ffff:203.0.114.9")));
  EXPECT_TRUE(v4.ContainsIpv4(0xCB007109));  // 203.0.113.9
  // A mapped entry serves plain IPv4 clients; a prefix of the mapped block too.
  CidrSet mapped = Set("::ffff:198.51.100.0/120\n::ffff:0:0/96");
  EXPECT_TRUE(mapped.Contains(A("198.51.100.200")));
  EXPECT_TRUE(mapped.Contains(A("8.8.8.8")));  // the whole mapped block
  EXPECT_FALSE(mapped.Contains(A("::1")));
  CidrSet narrow = Set("::ffff:198.51.100.0/120");
  EXPECT_TRUE(narrow.Contains(A("198.51.100.1")));
  EXPECT_FALSE(narrow.Contains(A("198.51.101.1")));
  // A v6 prefix next to the mapped block, not covering it: no IPv4 client matches.
  CidrSet beside = Set("::fffe:0:0/96\n64:ff9b::/96");
  EXPECT_FALSE(beside.Contains(A("1.2.3.4")));
  EXPECT_TRUE(beside.Contains(A("64:ff9b::1.2.3.4")));
}

TEST(CidrSet, OverlapsAndNeighboursMerge) {
  CidrSet s = Set("10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n10.0.0.0/16\n10.2.0.0/16\n");
  EXPECT_EQ(s.entry_count(), 5u);
  EXPECT_EQ(s.range_count(), 2u);  // 10.0.0.0/16 and 10.2.0.0/16
  EXPECT_TRUE(s.Contains(A("10.0.255.255")));
  EXPECT_FALSE(s.Contains(A("10.1.0.0")));
  EXPECT_TRUE(s.Contains(A("10.2.0.0")));
  CidrSet adjacent = Set("10.0.0.0/25\n10.0.0.128/25");
  EXPECT_EQ(adjacent.range_count(), 1u);
}

TEST(CidrSet, CommaList) {
  absl::StatusOr<CidrSet> s = CidrSet::ParseCommaList("127.0.0.1, 10.0.0.0/8,::1", "--t");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->entry_count(), 3u);
  EXPECT_TRUE(s->Contains(A("127.0.0.1")));
  EXPECT_TRUE(s->Contains(A("10.9.9.9")));
  EXPECT_TRUE(s->Contains(A("::1")));
  EXPECT_FALSE(s->Contains(A("127.0.0.2")));
  EXPECT_EQ(CidrSet::ParseCommaList("1.2.3.4,,5.6.7.8", "--t").status().message(),
            "--t: empty item in '1.2.3.4,,5.6.7.8'");
  EXPECT_EQ(CidrSet::ParseCommaList("", "--t").status().message(), "--t: empty item in ''");
  EXPECT_EQ(CidrSet::ParseCommaList("1.2.3.4/40", "--t").status().message(),
            "--t: bad prefix length in '1.2.3.4/40' (want 0..32)");
}

// Random prefixes and probes against a linear scan of the same prefixes.
TEST(CidrSet, MatchesBruteForce) {
  std::mt19937 rng(20261207);
  for (int round = 0; round < 40; ++round) {
    struct P {
      uint32_t net;
      int len;
    };
    std::vector<P> prefixes;
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      // Short prefixes inside a small space, so entries overlap and probes hit edges.
      const int len = 16 + static_cast<int>(rng() % 17);
      uint32_t ip = 0x0A000000u | (rng() & 0x0003FFFFu);
      const uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
      ip &= mask;
      prefixes.push_back({ip, len});
      text += SocketAddress::FromIpv4(ip, 0).IpString() + "/" + std::to_string(len) + "\n";
    }
    CidrSet set = Set(text);
    for (int probe = 0; probe < 2000; ++probe) {
      const uint32_t ip = 0x0A000000u | (rng() & 0x0007FFFFu);
      bool want = false;
      for (const P& p : prefixes) {
        const uint32_t mask = p.len == 0 ? 0 : ~0u << (32 - p.len);
        want |= (ip & mask) == p.net;
      }
      ASSERT_EQ(set.ContainsIpv4(ip), want) << SocketAddress::FromIpv4(ip, 0).IpString();
      ASSERT_EQ(set.Contains(SocketAddress::FromIpv4(ip, 1).MappedToV6()), want);
    }
  }
}

}  // namespace
}  // namespace mtp
