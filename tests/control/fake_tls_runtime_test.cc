// FakeTlsRuntime: start-up probing against a local openssl s_server (override target), the
// shards' config it hands out, and the fake-TLS stats it fills.
#include "control/fake_tls_runtime.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/control/openssl_server.h"

namespace mtp {
namespace {

TEST(FakeTlsRuntime, ProbesAtStartAndFillsConfigAndStats) {
  if (testing::OpenSslBinary().empty()) GTEST_SKIP() << "openssl missing";
  auto site = testing::OpenSslServer::Start();
  ASSERT_NE(site, nullptr);
  FakeTlsOptions options;
  options.domains = {"a.example", "b.example"};
  options.targets = {DomainSpec{"a.example", "127.0.0.1", site->port()},
                     DomainSpec{"b.example", "127.0.0.1", testing::PickFreePort()}};
  options.record_sizing = TlsRecordSizing::kReference;
  options.probe_interval_s = 0;
  options.replay_cache_entries = 4096;
  auto rt = FakeTlsRuntime::Start(options, std::make_unique<SystemHostResolver>());
  ASSERT_TRUE(rt.ok()) << rt.status();

  const FakeTlsConfig config = (*rt)->ShardConfig();
  EXPECT_TRUE(config.enabled());
  EXPECT_EQ(config.domains, options.domains);
  EXPECT_EQ(config.record_sizing, TlsRecordSizing::kReference);
  ASSERT_NE(config.registry, nullptr);
  ASSERT_NE(config.replay_cache, nullptr);
  EXPECT_TRUE(config.registry->Get(0)->probed);
  EXPECT_EQ(config.registry->Get(0)->front.ToString(), absl::StrCat("127.0.0.1:", site->port()));
  EXPECT_FALSE(config.registry->Get(1)->probed);  // nothing listens there: fallback profile
  EXPECT_TRUE(config.registry->Get(1)->front.valid());

  ReplayKey key{};
  EXPECT_FALSE(config.replay_cache->CheckAndInsert(key, 1700000000));
  EXPECT_TRUE(config.replay_cache->CheckAndInsert(key, 1700000000));

  CounterSnapshot counters;
  counters.tls_handshakes_accepted = 7;
  counters.tls_fronted = 3;
  counters.tls_fronted_replay = 1;
  counters.tls_fronted_not_tls = 2;
  StatsSnapshot stats;
  (*rt)->FillStats(counters, stats);
  EXPECT_TRUE(stats.fake_tls.enabled);
  EXPECT_EQ(stats.fake_tls.domains, 2);
  EXPECT_EQ(stats.fake_tls.domains_probed, 1);
  EXPECT_EQ(stats.fake_tls.handshakes_accepted, 7);
  EXPECT_EQ(stats.fake_tls.fronted, 3);
  EXPECT_EQ(stats.fake_tls.replay_cache_capacity, 4096);
  EXPECT_EQ(stats.fake_tls.replay_cache_inserts, 1);
  EXPECT_EQ(stats.fake_tls.replay_cache_replays, 1);
  int64_t by_reason = 0;
  for (const NamedCount& r : stats.fake_tls.fronted_by_reason) {
    by_reason += r.value;
    if (r.name == "replay") {
      EXPECT_EQ(r.value, 1);
    }
    if (r.name == "not_tls") {
      EXPECT_EQ(r.value, 2);
    }
  }
  EXPECT_EQ(by_reason, 3);
  const std::string text = RenderStatsText(stats);
  EXPECT_NE(text.find("tls_fronted_replay\t1\n"), std::string::npos);
  EXPECT_NE(text.find("tls_handshakes_accepted\t7\n"), std::string::npos);
}

TEST(FakeTlsRuntime, NeedsADomain) {
  EXPECT_FALSE(FakeTlsRuntime::Start(FakeTlsOptions{}, std::make_unique<SystemHostResolver>()).ok());
}

}  // namespace
}  // namespace mtp
