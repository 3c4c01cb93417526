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
