#include "control/secret_limits.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/session/secret_admission.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

constexpr int64_t kNow = 1800000000;

ClientIp Ip(uint8_t last) {
  ClientIp ip{};
  ip[10] = ip[11] = 0xff;
  ip[12] = 10;
  ip[15] = last;
  return ip;
}

class SecretLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tmp_.path().empty()); }
  std::string ReadState() { return tmp_.Read("state"); }
  SecretLimitsOptions Options() {
    SecretLimitsOptions o;
    o.state_file = state_;
    return o;
  }

  testing_util::TempDir tmp_{"mtp-secret-limits"};
  const std::string state_ = tmp_.Path("state");
};

SecretLimitsSpec Quota(uint64_t bytes) {
  SecretLimitsSpec s;
  s.quota_bytes = bytes;
  return s;
}

TEST_F(SecretLimitsTest, SlotsAreStablePerNameAcrossReloads) {
  SecretBoard board(2);
  SecretLimits limits(board, Options());
  auto first = limits.Configure({"alice", "", "bob"}, {{}, {}, {}}, kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)[1], -1);  // unnamed: no limits, no slot
  ASSERT_GE((*first)[0], 0);
  ASSERT_GE((*first)[2], 0);
  EXPECT_NE((*first)[0], (*first)[2]);
  // Reordered, one removed and one added: the survivors keep their slots.
  auto second = limits.Configure({"bob", "carol", "alice"}, {{}, {}, {}}, kNow);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)[0], (*first)[2]);
  EXPECT_EQ((*second)[2], (*first)[0]);
  EXPECT_NE((*second)[1], (*first)[0]);
  EXPECT_NE((*second)[1], (*first)[2]);
  ASSERT_EQ(limits.Usage().size(), 3u);
  EXPECT_EQ(limits.Usage()[1].name, "carol");
}

TEST_F(SecretLimitsTest, SlotsRunOutOnlyWhileOldNamesStillHaveClients) {
  SecretBoard board(1);
  SecretLimits limits(board, Options());
  std::vector<std::string> names;
  for (size_t i = 0; i < 16; ++i) names.push_back(absl::StrCat("a", i));
  auto a = limits.Configure(names, std::vector<SecretLimitsSpec>(16), kNow);
  ASSERT_TRUE(a.ok());
  for (int8_t slot : *a) board.slot(slot).live.store(1);  // every old name keeps a client
  for (auto& n : names) n[0] = 'b';
  ASSERT_TRUE(limits.Configure(names, std::vector<SecretLimitsSpec>(16), kNow).ok());  // 32 slots
  for (auto& n : names) n[0] = 'c';
  auto full = limits.Configure(names, std::vector<SecretLimitsSpec>(16), kNow);
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  // The a* clients are gone: their slots are taken over (b* were the previous configuration).
  for (int8_t slot : *a) board.slot(slot).live.store(0);
  EXPECT_TRUE(limits.Configure(names, std::vector<SecretLimitsSpec>(16), kNow).ok());
}

TEST_F(SecretLimitsTest, ConnectionCapHoldsUnderConcurrentShards) {
  SecretBoard board(4);
  constexpr uint32_t kCap = 50;
  std::atomic<uint32_t> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (TryTakeSecretConnection(board.slot(3), kCap)) {
          taken.fetch_add(1);
          EXPECT_LE(board.slot(3).live.load(), kCap);
          if (i % 3 == 0) {  // some close again
            board.slot(3).live.fetch_sub(1);
            taken.fetch_sub(1);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(board.slot(3).live.load(), kCap);  // filled up to the cap, never beyond
  EXPECT_EQ(taken.load(), kCap);
  EXPECT_FALSE(TryTakeSecretConnection(board.slot(3), kCap));
  EXPECT_TRUE(TryTakeSecretConnection(board.slot(3), 0));  // no cap
}

TEST_F(SecretLimitsTest, QuotaClosesThenResetReopens) {
  SecretBoard board(2);
  SecretLimits limits(board, Options());
  auto slots = limits.Configure({"alice"}, {Quota(1000)}, kNow);
  ASSERT_TRUE(slots.ok());
  const int slot = (*slots)[0];
  ASSERT_NE(limits.published(), nullptr);
  EXPECT_EQ(limits.published()->slots[slot].gate, SecretGate::kOpen);
  board.shard(0).bytes[slot].Add(600);
  limits.Tick(kNow);
  EXPECT_EQ(limits.published()->slots[slot].gate, SecretGate::kOpen);
  const uint64_t before = limits.publications();
  limits.Tick(kNow);
  EXPECT_EQ(limits.publications(), before);  // nothing changed, nothing published
  board.shard(1).bytes[slot].Add(400);  // both shards count: 1000 = the quota
  limits.Tick(kNow);
  EXPECT_EQ(limits.published()->slots[slot].gate, SecretGate::kCloseAll);
  EXPECT_EQ(limits.published()->slots[slot].reason, SecretRefusal::kQuota);
  EXPECT_EQ(limits.Usage()[0].quota_used, 1000u);
  EXPECT_EQ(limits.Usage()[0].closed_for, SecretRefusal::kQuota);

  EXPECT_TRUE(absl::IsNotFound(limits.ResetQuota("bob", kNow)));
  ASSERT_TRUE(limits.ResetQuota("alice", kNow).ok());
  EXPECT_EQ(limits.published()->slots[slot].gate, SecretGate::kOpen);
  EXPECT_EQ(limits.Usage()[0].quota_used, 0u);
  EXPECT_NE(ReadState().find("\nalice 0\n"), std::string::npos) << ReadState();  // saved at once
  board.shard(0).bytes[slot].Add(10);
  EXPECT_EQ(limits.Usage()[0].quota_used, 10u);
}

TEST_F(SecretLimitsTest, QuotaSurvivesRestartAndReload) {
  {
    SecretBoard board(1);
    SecretLimits limits(board, Options());
    ASSERT_TRUE(limits.LoadState().ok());  // no file yet
    auto slots = limits.Configure({"alice", "bob"}, {Quota(5000), {}}, kNow);
    ASSERT_TRUE(slots.ok());
    board.shard(0).bytes[(*slots)[0]].Add(1234);
    board.shard(0).bytes[(*slots)[1]].Add(99);  // bob has no quota: not kept
    // A reload (alice's quota raised) keeps what she used.
    slots = limits.Configure({"bob", "alice"}, {{}, Quota(9000)}, kNow);
    ASSERT_TRUE(slots.ok());
    EXPECT_EQ(limits.Usage()[1].quota_used, 1234u);
    ASSERT_TRUE(limits.Save().ok());
  }
  EXPECT_EQ(ReadState(),
            "# mtproxy-ng named secrets: quota bytes used (written by the proxy)\nalice 1234\n");
  // A new process: the count continues from the file.
  SecretBoard board(2);
  SecretLimits limits(board, Options());
  ASSERT_TRUE(limits.LoadState().ok());
  auto slots = limits.Configure({"alice"}, {Quota(2000)}, kNow);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(limits.Usage()[0].quota_used, 1234u);
  board.shard(1).bytes[(*slots)[0]].Add(766);
  limits.Tick(kNow);
  EXPECT_EQ(limits.published()->slots[(*slots)[0]].reason, SecretRefusal::kQuota);

  // A malformed file stops the start with its line.
  std::ofstream(state_) << "# x\nalice 12\nbob twelve\n";
  SecretBoard board2(1);
  SecretLimits broken(board2, Options());
  absl::Status st = broken.LoadState();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(absl::StrCat(state_, ":3: expected")), std::string::npos) << st;
}

TEST_F(SecretLimitsTest, ExpiryAndDisable) {
  SecretBoard board(1);
  SecretLimitsSpec expiring;
  expiring.expires_unix = kNow + 10;
  SecretLimitsSpec disabled;
  disabled.enabled = false;
  SecretLimits limits(board, Options());
  auto slots = limits.Configure({"exp", "off"}, {expiring, disabled}, kNow);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(limits.published()->slots[(*slots)[0]].gate, SecretGate::kOpen);
  EXPECT_EQ(limits.published()->slots[(*slots)[1]].gate, SecretGate::kCloseAll);
  EXPECT_EQ(limits.published()->slots[(*slots)[1]].reason, SecretRefusal::kDisabled);
  limits.Tick(kNow + 10);
  EXPECT_EQ(limits.published()->slots[(*slots)[0]].gate, SecretGate::kCloseAll);
  EXPECT_EQ(limits.published()->slots[(*slots)[0]].reason, SecretRefusal::kExpired);
  // --secret-disable-drain: disabled refuses new clients only.
  SecretBoard board2(1);
  SecretLimitsOptions o = Options();
  o.disable_drains = true;
  SecretLimits draining(board2, o);
  slots = draining.Configure({"off"}, {disabled}, kNow);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(draining.published()->slots[(*slots)[0]].gate, SecretGate::kRefuseNew);
  // A reload enabling it again opens it.
  slots = draining.Configure({"off"}, {SecretLimitsSpec{}}, kNow);
  EXPECT_EQ(draining.published()->slots[(*slots)[0]].gate, SecretGate::kOpen);
}

TEST_F(SecretLimitsTest, UniqueAddressWindow) {
  SecretBoard board(2);
  SecretLimitsSpec spec;
  spec.max_unique_ips = 2;
  spec.unique_ips_window_s = 60;
  SecretLimits limits(board, Options());
  auto slots = limits.Configure({"alice"}, {spec}, kNow);
  ASSERT_TRUE(slots.ok());
  const uint8_t slot = static_cast<uint8_t>((*slots)[0]);
  EXPECT_EQ(limits.published()->slots[slot].max_unique_ips, 2u);
  board.shard(0).ips.Push({slot, Ip(1)});
  board.shard(1).ips.Push({slot, Ip(2)});
  board.shard(1).ips.Push({slot, Ip(1)});
  limits.Tick(kNow);
  EXPECT_EQ(limits.published()->slots[slot].window_ips, (std::vector<ClientIp>{Ip(1), Ip(2)}));
  EXPECT_EQ(limits.Usage()[0].unique_ips, 2u);
  board.shard(0).ips.Push({slot, Ip(2)});  // seen again later: stays longer
  limits.Tick(kNow + 30);
  limits.Tick(kNow + 60);  // Ip(1) was last seen 60 s ago: out of the window
  EXPECT_EQ(limits.published()->slots[slot].window_ips, std::vector<ClientIp>{Ip(2)});
  limits.Tick(kNow + 90);
  EXPECT_TRUE(limits.published()->slots[slot].window_ips.empty());
  // A full ring drops (and counts) instead of blocking the shard.
  for (size_t i = 0; i < kIpEventRingSize + 5; ++i) board.shard(0).ips.Push({slot, Ip(7)});
  EXPECT_EQ(limits.dropped_ip_events(), 5u);
}

}  // namespace
}  // namespace mtp
