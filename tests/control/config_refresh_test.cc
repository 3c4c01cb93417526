// The config refresh with a fake fetcher: validation bounds, last-good copy on disk, atomic
// replacement, counting by reason, the log limiter, the reload hand-off, and the option
// defaults. No network: the fake answers from a map.
#include "control/config_refresh.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

class LiteralResolver : public HostResolver {
 public:
  std::optional<ResolvedAddress> Resolve(std::string_view name) override {
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    return ResolvedAddress::FromLiteral(name);
  }
};

// Answers each URL with a body or an error status; counts the calls.
class FakeFetcher : public ConfigFetcher {
 public:
  explicit FakeFetcher(std::map<std::string, absl::StatusOr<std::string>>* answers)
      : answers_(answers) {}
  absl::StatusOr<std::string> Fetch(const std::string& url) override {
    ++calls;
    auto it = answers_->find(url);
    if (it == answers_->end()) return absl::UnavailableError("no route to " + url);
    return it->second;
  }
  std::atomic<int> calls{0};

 private:
  std::map<std::string, absl::StatusOr<std::string>>* answers_;
};

constexpr char kConfigUrl[] = "http://127.0.0.1:1/getProxyConfig";
constexpr char kConfigUrlV6[] = "http://127.0.0.1:1/getProxyConfigV6";
constexpr char kSecretUrl[] = "http://127.0.0.1:1/getProxySecret";

std::string GoodConfig(int port = 8888) {
  std::string p = std::to_string(port);
  return "default 2;\nproxy_for 1 10.0.0.1:" + p + ";\nproxy_for 2 10.0.0.2:" + p +
         ";\nproxy_for -2 10.0.0.2:" + p + ";\nproxy_for 4 10.0.0.4:" + p + ";\n";
}
std::string GoodSecret(char fill = 'k') { return std::string(128, fill); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ConfigRefreshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty());
    answers_[kConfigUrl] = GoodConfig();
    answers_[kSecretUrl] = GoodSecret();
  }
  std::unique_ptr<ConfigRefreshService> Make(int64_t interval_s = 3600, bool v6 = false) {
    RefreshOptions o;
    o.config_url = kConfigUrl;
    o.secret_url = kSecretUrl;
    if (v6) o.config_url_v6 = kConfigUrlV6;
    o.config_path = dir_ + "/proxy-multi.conf";
    o.secret_path = dir_ + "/proxy-secret";
    auto fetcher = std::make_unique<FakeFetcher>(&answers_);
    fetcher_ = fetcher.get();
    return std::make_unique<ConfigRefreshService>(o, interval_s, std::move(fetcher),
                                                  std::make_unique<LiteralResolver>());
  }
  int64_t Failures(const ConfigRefreshService& s, RefreshReason r) {
    return s.Stats().failures_by_reason[static_cast<size_t>(r)];
  }
  std::string ConfigPath() const { return dir_ + "/proxy-multi.conf"; }
  std::string SecretPath() const { return dir_ + "/proxy-secret"; }

  testing_util::TempDir tmp_{"mtp-config-refresh"};
  const std::string dir_ = tmp_.path();
  std::map<std::string, absl::StatusOr<std::string>> answers_;
  FakeFetcher* fetcher_ = nullptr;
};

TEST(ValidateDownloadedConfigTest, BoundsOnProxyForLinesAndDefaultCluster) {
  LiteralResolver r;
  EXPECT_EQ(ValidateDownloadedConfig(GoodConfig(), r).value(), 4u);
  // Too few lines (a truncated file that still parses).
  auto few = ValidateDownloadedConfig("default 2;\nproxy_for 2 10.0.0.2:1;\n", r);
  EXPECT_TRUE(absl::IsOutOfRange(few.status())) << few.status();
  // Too many.
  std::string many = "default 1;\n";
  for (int i = 0; i < 1025; ++i) many += "proxy_for 1 10.0.0." + std::to_string(i % 250 + 1) + ":1;\n";
  EXPECT_TRUE(absl::IsOutOfRange(ValidateDownloadedConfig(many, r).status()));
  // The default cluster has no line.
  auto no_default = ValidateDownloadedConfig(
      "default 5;\nproxy_for 1 10.0.0.1:1;\nproxy_for 2 10.0.0.2:1;\nproxy_for 3 10.0.0.3:1;\n",
      r);
  EXPECT_TRUE(absl::IsOutOfRange(no_default.status())) << no_default.status();
  // Garbage and HTML do not parse.
  EXPECT_TRUE(absl::IsInvalidArgument(
      ValidateDownloadedConfig("<html><body>captive portal</body></html>", r).status()));
  EXPECT_FALSE(ValidateDownloadedConfig("", r).ok());
}

TEST(MergeV6ConfigTest, AddsOnlyProxyForLinesNextToTheirDc) {
  std::string merged = MergeV6Config(
      "default 2;\nproxy_for 2 10.0.0.2:8888;\nproxy_for 2 10.0.0.3:8888;\n"
      "proxy_for 4 10.0.0.4:8888;",
      "# comment\ndefault 4;\n  proxy_for 4 [2001:db8::4]:8888;\nmax_connections 9;\n"
      "proxy_for 2 [2001:db8::2]:8888;\nproxy_for 203 [2001:db8::cc]:443;\n");
  EXPECT_EQ(merged,
            "default 2;\nproxy_for 2 10.0.0.2:8888;\nproxy_for 2 10.0.0.3:8888;\n"
            "proxy_for 2 [2001:db8::2]:8888;\nproxy_for 4 10.0.0.4:8888;\n"
            "proxy_for 4 [2001:db8::4]:8888;\nproxy_for 203 [2001:db8::cc]:443;\n");
  LiteralResolver r;
  EXPECT_EQ(ValidateDownloadedConfig(merged, r).value(), 6u);
}

TEST(RefreshReasonTest, FetchStatusesMapToReasons) {
  EXPECT_EQ(ReasonForFetchStatus(absl::DeadlineExceededError("")), RefreshReason::kTimeout);
  EXPECT_EQ(ReasonForFetchStatus(absl::ResourceExhaustedError("")), RefreshReason::kTooLarge);
  EXPECT_EQ(ReasonForFetchStatus(absl::FailedPreconditionError("")), RefreshReason::kHttpStatus);
  EXPECT_EQ(ReasonForFetchStatus(absl::InvalidArgumentError("")), RefreshReason::kBadUrl);
  EXPECT_EQ(ReasonForFetchStatus(absl::UnavailableError("")), RefreshReason::kNetwork);
  EXPECT_EQ(RefreshReasonName(RefreshReason::kTargetCount), "target_count");
  EXPECT_EQ(RefreshReasonName(RefreshReason::kReloadFailed), "reload_failed");
}

TEST_F(ConfigRefreshTest, GoodDownloadIsWrittenThenUnchangedThenReplaced) {
  auto s = Make();
  RefreshResult r = s->RunOnce(1000);
  ASSERT_FALSE(r.failure.has_value()) << r.failure->detail;
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.target_lines, 4u);
  EXPECT_EQ(ReadFile(ConfigPath()), GoodConfig());
  EXPECT_EQ(ReadFile(SecretPath()), GoodSecret());
  struct stat st {};
  ASSERT_EQ(stat(SecretPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the secret is not world-readable
  EXPECT_NE(access((ConfigPath() + ".tmp").c_str(), F_OK), 0);  // no leftover

  // Same content: nothing replaced, no reload needed.
  r = s->RunOnce(2000);
  EXPECT_FALSE(r.failure.has_value());
  EXPECT_FALSE(r.changed);
  // A new config.
  answers_[kConfigUrl] = GoodConfig(9999);
  r = s->RunOnce(3000);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(ReadFile(ConfigPath()), GoodConfig(9999));
  RefreshStats st2 = s->Stats();
  EXPECT_EQ(st2.rounds_ok, 3);
  EXPECT_EQ(st2.rounds_failed, 0);
  EXPECT_EQ(st2.installs, 2);
  EXPECT_EQ(st2.last_ok_unix, 3000);
  EXPECT_EQ(st2.target_lines, 4);
}

TEST_F(ConfigRefreshTest, EveryBadDownloadKeepsTheLastGoodCopyAndIsCountedByReason) {
  auto s = Make();
  ASSERT_FALSE(s->RunOnce(1000).failure.has_value());
  struct Case {
    std::string config_url_answer_or_empty;
    absl::Status config_error;
    std::string secret;
    RefreshReason reason;
  };
  const std::vector<Case> cases = {
      {"", absl::FailedPreconditionError("HTTP status 500"), GoodSecret('x'),
       RefreshReason::kHttpStatus},
      {"", absl::DeadlineExceededError("timed out"), GoodSecret('x'), RefreshReason::kTimeout},
      {"", absl::ResourceExhaustedError("too big"), GoodSecret('x'), RefreshReason::kTooLarge},
      {"", absl::UnavailableError("refused"), GoodSecret('x'), RefreshReason::kNetwork},
      {"\x01\x02garbage", absl::OkStatus(), GoodSecret('x'), RefreshReason::kBadConfig},
      {"default 2;\nproxy_for 2 10.0.0.9:1;\n", absl::OkStatus(), GoodSecret('x'),
       RefreshReason::kTargetCount},
      {GoodConfig(7777), absl::OkStatus(), "short", RefreshReason::kBadSecret},
  };
  int64_t now = 2000;
  for (const Case& c : cases) {
    if (c.config_error.ok()) {
      answers_[kConfigUrl] = c.config_url_answer_or_empty;
    } else {
      answers_[kConfigUrl] = c.config_error;
    }
    answers_[kSecretUrl] = c.secret;
    RefreshResult r = s->RunOnce(now += 10);
    ASSERT_TRUE(r.failure.has_value()) << RefreshReasonName(c.reason);
    EXPECT_EQ(r.failure->reason, c.reason) << r.failure->detail;
    EXPECT_FALSE(r.changed);
    EXPECT_EQ(Failures(*s, c.reason), 1) << RefreshReasonName(c.reason);
    // The last good copy is untouched, the config and the secret alike.
    EXPECT_EQ(ReadFile(ConfigPath()), GoodConfig());
    EXPECT_EQ(ReadFile(SecretPath()), GoodSecret());
  }
  RefreshStats st = s->Stats();
  EXPECT_EQ(st.rounds_failed, static_cast<int64_t>(cases.size()));
  EXPECT_EQ(st.rounds_ok, 1);
  EXPECT_EQ(st.last_ok_unix, 1000);
}

TEST_F(ConfigRefreshTest, UnwritableDestinationIsAWriteFailure) {
  RefreshOptions o;
  o.config_url = kConfigUrl;
  o.secret_url = kSecretUrl;
  o.config_path = dir_ + "/no-such-dir/proxy-multi.conf";
  o.secret_path = dir_ + "/no-such-dir/proxy-secret";
  ConfigRefreshService s(o, 60, std::make_unique<FakeFetcher>(&answers_),
                         std::make_unique<LiteralResolver>());
  RefreshResult r = s.RunOnce(1);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->reason, RefreshReason::kWriteFailed);
}

TEST_F(ConfigRefreshTest, V6ListIsMergedAndABrokenOneRejectsTheRound) {
  auto s = Make(3600, /*v6=*/true);
  answers_[kConfigUrlV6] = "default 2;\nproxy_for 2 [2001:db8::2]:8888;\n";
  RefreshResult r = s->RunOnce(1);
  ASSERT_FALSE(r.failure.has_value()) << r.failure->detail;
  EXPECT_EQ(r.target_lines, 5u);
  EXPECT_NE(ReadFile(ConfigPath()).find("[2001:db8::2]:8888"), std::string::npos);
  answers_[kConfigUrlV6] = "proxy_for 2 [2001:db8::2]:8888\n";  // no ';'
  r = s->RunOnce(2);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->reason, RefreshReason::kBadConfig);
}

TEST(RefreshLogLimiterTest, SameReasonIsLoggedOncePerPeriodAndCountsTheRest) {
  RefreshLogLimiter l;
  int64_t suppressed = -1;
  EXPECT_TRUE(l.Allow(RefreshReason::kNetwork, 100, &suppressed));
  EXPECT_EQ(suppressed, 0);
  EXPECT_FALSE(l.Allow(RefreshReason::kNetwork, 101, &suppressed));
  EXPECT_FALSE(l.Allow(RefreshReason::kNetwork, 100 + kRefreshLogEveryS - 1, &suppressed));
  // Another reason is news.
  EXPECT_TRUE(l.Allow(RefreshReason::kTimeout, 102, &suppressed));
  EXPECT_EQ(suppressed, 2);
  EXPECT_FALSE(l.Allow(RefreshReason::kTimeout, 103, &suppressed));
  EXPECT_TRUE(l.Allow(RefreshReason::kTimeout, 102 + kRefreshLogEveryS, &suppressed));
  EXPECT_EQ(suppressed, 1);
  l.Reset();
  EXPECT_TRUE(l.Allow(RefreshReason::kTimeout, 102 + kRefreshLogEveryS + 1, &suppressed));
}

TEST_F(ConfigRefreshTest, ThreadHandsChangesToTheCallbackAndReloadFailuresAreCounted) {
  auto s = Make(/*interval_s=*/1);
  std::atomic<int> changed{0};
  s->Start([&] { ++changed; }, 0);
  // First round installs; the following ones (1 s apart) find nothing new.
  for (int i = 0; i < 400 && (changed.load() < 1 || fetcher_->calls.load() < 4); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(changed.load(), 1);
  s->Stop();
  EXPECT_GE(s->Stats().rounds_ok, 2);
  s->NoteReloadFailed("needs more link slots");
  EXPECT_EQ(Failures(*s, RefreshReason::kReloadFailed), 1);
  s->Stop();  // idempotent
}

TEST(ConfigRefreshDefaultsTest, CacheDirSuppliesMissingPathsOnlyWhenRefreshing) {
  ParsedCommandLine cli;
  ApplyConfigRefreshDefaults(cli);
  EXPECT_EQ(cli.config_file, "");
  EXPECT_FALSE(cli.aes_pwd_file.has_value());

  cli.config_refresh_interval_s = 60;
  cli.config_cache_dir = "/var/lib/x";
  ApplyConfigRefreshDefaults(cli);
  EXPECT_EQ(cli.config_file, "/var/lib/x/proxy-multi.conf");
  EXPECT_EQ(cli.AesPwdPath(), "/var/lib/x/proxy-secret");

  ParsedCommandLine given;
  given.action = CommandLineAction::kFetchConfig;
  given.config_file = "mine.conf";
  given.aes_pwd_file = "mine.secret";
  ApplyConfigRefreshDefaults(given);
  EXPECT_EQ(given.config_file, "mine.conf");
  EXPECT_EQ(given.AesPwdPath(), "mine.secret");
  RefreshOptions o = RefreshOptionsFrom(given);
  EXPECT_EQ(o.config_path, "mine.conf");
  EXPECT_EQ(o.secret_path, "mine.secret");
  EXPECT_EQ(o.config_url, kDefaultConfigUrl);

  ParsedCommandLine direct;
  direct.direct = true;
  direct.config_refresh_interval_s = 60;
  ApplyConfigRefreshDefaults(direct);
  EXPECT_EQ(direct.config_file, "");
}

}  // namespace
}  // namespace mtp
