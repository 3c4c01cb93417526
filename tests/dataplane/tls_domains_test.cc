// TlsDomainRegistry snapshots (publish/get across threads) and the port-80 rule of the
// fronting target.
#include "dataplane/tls_domains.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace mtp {
namespace {

TEST(TlsDomainInfo, PortEightyGoesToPortEightyUnlessOverridden) {
  const uint32_t v4 = 0x0a010203;
  TlsDomainInfo info;
  info.front = SocketAddress::FromIpv4(v4, 443);
  EXPECT_EQ(info.FrontFor(443).port(), 443);
  EXPECT_EQ(info.FrontFor(8443).port(), 443);
  EXPECT_EQ(info.FrontFor(80).port(), 80);
  info.front = SocketAddress::FromIpv4(v4, 9000);
  info.front_overridden = true;
  EXPECT_EQ(info.FrontFor(80).port(), 9000);
  EXPECT_EQ(info.FrontFor(443).port(), 9000);
  info.front = SocketAddress();
  EXPECT_FALSE(info.FrontFor(443).valid());
}

// The SNI rule of -D names (proto MatchSniDomain) as the registry applies it.
TEST(TlsDomainRegistry, WildcardsMatchOneLabelAndExactNamesWin) {
  TlsDomainRegistry registry(
      {"default.example", "*.wild.example", "a.wild.example", "*.b.wild.example", "*.wild.example"},
      TlsDomainProfile{});
  auto match = [&](std::string_view sni) {
    return registry.Match(ByteSpan(reinterpret_cast<const uint8_t*>(sni.data()), sni.size()));
  };
  EXPECT_EQ(match("default.example"), 0u);
  EXPECT_EQ(match("x.wild.example"), 1u);        // one label: the first wildcard in -D order
  EXPECT_EQ(match("a.wild.example"), 2u);        // the exact name wins, though listed later
  EXPECT_EQ(match("c.b.wild.example"), 3u);      // the deeper wildcard's one label
  EXPECT_EQ(match("x_1-Z.wild.example"), 1u);    // letters, digits, '-' and '_'
  EXPECT_EQ(match("wild.example"), std::nullopt);          // the bare base: no label
  EXPECT_EQ(match("a.c.wild.example"), std::nullopt);      // two labels
  EXPECT_EQ(match(".wild.example"), std::nullopt);         // empty label
  EXPECT_EQ(match("*.wild.example"), std::nullopt);        // a wildcard is never exact
  EXPECT_EQ(match("x.WILD.example"), std::nullopt);        // byte for byte, as exact names
  EXPECT_EQ(match("x y.wild.example"), std::nullopt);      // not a label byte
  EXPECT_EQ(match(std::string(63, 'a') + ".wild.example"), 1u);
  EXPECT_EQ(match(std::string(64, 'a') + ".wild.example"), std::nullopt);
  EXPECT_EQ(match("x.wild.example.evil"), std::nullopt);
  EXPECT_EQ(match(""), std::nullopt);
}

TEST(TlsDomainRegistry, StartsUnprobedWithTheInitialProfile) {
  TlsDomainRegistry registry({"a.example", "b.example"}, TlsDomainProfile{true, 3000, false});
  ASSERT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.names()[0], "a.example");
  for (size_t i = 0; i < 2; ++i) {
    auto info = registry.Get(i);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->name, registry.names()[i]);
    EXPECT_FALSE(info->probed);
    EXPECT_FALSE(info->front.valid());
    EXPECT_EQ(info->profile.encrypted_size, 3000);
  }
  EXPECT_EQ(registry.generation(), 0u);
}

TEST(TlsDomainRegistry, ReadersSeeWholeSnapshotsWhilePublishing) {
  TlsDomainRegistry registry({"a.example"}, TlsDomainProfile{});
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto info = registry.Get(0);
      // Every published snapshot has encrypted_size == 1000 + updated_unix_s.
      if (info->probed && info->profile.encrypted_size != 1000 + info->updated_unix_s) {
        torn.fetch_add(1);
      }
    }
  });
  for (int i = 1; i <= 2000; ++i) {
    auto info = std::make_shared<TlsDomainInfo>();
    info->name = "a.example";
    info->probed = true;
    info->updated_unix_s = i;
    info->profile.encrypted_size = 1000 + i;
    registry.Publish(0, std::move(info));
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(registry.generation(), 2000u);
  EXPECT_EQ(registry.Get(0)->profile.encrypted_size, 3000);
}

}  // namespace
}  // namespace mtp
