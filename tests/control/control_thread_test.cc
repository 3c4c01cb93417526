#include "control/control_thread.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

class LiteralResolver : public HostResolver {
 public:
  std::optional<ResolvedAddress> Resolve(std::string_view name) override {
    return ResolvedAddress::FromLiteral(name);
  }
};

class FakeShards : public ShardSetControl {
 public:
  absl::Status Publish(std::shared_ptr<const ConfigSnapshot> snapshot) override {
    if (!publish_error.ok()) return publish_error;
    published.push_back(snapshot);
    adopted = snapshot->generation;  // the fake's shards adopt at once
    return absl::OkStatus();
  }
  uint64_t AdoptedGeneration() const override { return adopted; }
  void BeginDrain() override { ++drains; }
  uint64_t ActiveClients() const override { return active.load(); }
  void Stop() override { ++stops; }
  void FillStats(StatsSnapshot& out) const override {
    out.proxy.tot_forwarded_queries = 7;
    out.connections.inbound_connections = static_cast<int64_t>(active.load());
    out.extended.rate_limit_refusals_by_kind.push_back(
        {"handshake", static_cast<int64_t>(TotalRefused(handshake))});
  }
  std::span<ShardRateBudget> AcceptBudgets() override { return accept; }
  std::span<ShardRateBudget> HandshakeBudgets() override { return handshake; }

  absl::Status publish_error;
  std::vector<std::shared_ptr<const ConfigSnapshot>> published;
  uint64_t adopted = 1;
  // Written by the thread running the control loop, read by the test body.
  std::atomic<int> drains{0};
  std::atomic<int> stops{0};
  std::atomic<uint64_t> active{0};
  ShardRateBudget accept[2];
  ShardRateBudget handshake[2];
};

class ControlThreadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty());
    cli_.config_file = Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:8888;\n");
    cli_.aes_pwd_file = Write("proxy-secret", std::string(64, 'p'));
    cli_.allow_no_secret = true;
    cli_.drain_timeout_s = 30;
  }
  std::string Write(const std::string& name, const std::string& content) {
    return tmp_.Write(name, content);
  }
  std::unique_ptr<ControlThread> Make(ControlThread::Options options = {}) {
    auto initial = LoadConfigSnapshot(cli_, resolver_, nullptr, 1700000000, nullptr);
    EXPECT_TRUE(initial.ok()) << initial.status();
    options.tick_ms = 5;
    return std::make_unique<ControlThread>(cli_, options, *initial, shards_, resolver_);
  }

  testing_util::TempDir tmp_{"mtp-control"};
  const std::string dir_ = tmp_.path();
  ParsedCommandLine cli_;
  LiteralResolver resolver_;
  FakeShards shards_;
};

TEST_F(ControlThreadTest, ReloadPublishesNewGeneration) {
  auto control = Make();
  Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:8888;\nproxy_for 4 127.0.0.2:8888;\n");
  control->PostSignal(SIGHUP);
  control->PostSignal(SIGTERM);  // no clients: stops at the next tick
  EXPECT_EQ(control->Run(), ControlExit::kDrained);
  ASSERT_EQ(shards_.published.size(), 1u);
  EXPECT_EQ(shards_.published[0]->generation, 2u);
  EXPECT_EQ(shards_.published[0]->proxy_config->targets.size(), 2u);
  EXPECT_EQ(control->current()->generation, 2u);
  EXPECT_EQ(control->counters().reloads_ok, 1);
  EXPECT_EQ(control->counters().reloads_failed, 0);
  StatsSnapshot s = control->CollectStats();
  EXPECT_EQ(s.proxy.config_auth_clusters, 2);
  EXPECT_EQ(s.extended.config_reloads_ok, 1);
}

TEST_F(ControlThreadTest, BrokenReloadKeepsRunningConfigAndIsReported) {
  auto control = Make();
  Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:8888\n");  // missing ';'
  control->PostSignal(SIGHUP);
  unlink((dir_ + "/proxy-secret").c_str());  // explicit --aes-pwd now missing too
  control->PostSignal(SIGHUP);
  control->PostSignal(SIGTERM);
  EXPECT_EQ(control->Run(), ControlExit::kDrained);
  EXPECT_TRUE(shards_.published.empty());
  EXPECT_EQ(control->current()->generation, 1u);
  EXPECT_EQ(control->current()->proxy_config->targets.size(), 1u);
  EXPECT_EQ(control->counters().reloads_failed, 2);
  EXPECT_NE(control->counters().last_reload_error.find("; expected"), std::string::npos)
      << control->counters().last_reload_error;
  std::string metrics = RenderPrometheus(control->CollectStats());
  EXPECT_NE(metrics.find("mtproxy_config_reloads_total{result=\"failed\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(ControlThreadTest, PublishFailureCountsAsFailedReload) {
  auto control = Make();
  shards_.publish_error = absl::ResourceExhaustedError("too many ME targets for the link slab");
  control->PostSignal(SIGHUP);
  control->PostSignal(SIGTERM);
  control->Run();
  EXPECT_EQ(control->counters().reloads_failed, 1);
  EXPECT_EQ(control->current()->generation, 1u);
}

TEST_F(ControlThreadTest, DrainWaitsForClientsThenStops) {
  auto control = Make();
  shards_.active = 3;
  std::thread runner([&] { EXPECT_EQ(control->Run(), ControlExit::kDrained); });
  control->PostSignal(SIGTERM);
  // The drain started but must not stop while clients remain.
  for (int i = 0; i < 200 && shards_.drains.load() == 0; ++i) usleep(5000);
  usleep(50000);
  EXPECT_EQ(shards_.stops.load(), 0);
  shards_.active = 0;
  runner.join();
  EXPECT_EQ(shards_.drains.load(), 1);
  EXPECT_EQ(shards_.stops.load(), 1);
}

TEST_F(ControlThreadTest, DrainTimeoutStopsWithClientsLeft) {
  cli_.drain_timeout_s = 0;
  auto control = Make();
  shards_.active = 5;
  control->PostSignal(SIGINT);
  EXPECT_EQ(control->Run(), ControlExit::kDrained);
  EXPECT_EQ(shards_.drains.load(), 1);
  EXPECT_EQ(shards_.stops.load(), 1);
}

TEST_F(ControlThreadTest, SecondSignalExitsAtOnce) {
  auto control = Make();
  shards_.active = 1;
  control->PostSignal(SIGTERM);
  control->PostSignal(SIGTERM);
  EXPECT_EQ(control->Run(), ControlExit::kImmediate);
  EXPECT_EQ(shards_.drains.load(), 1);
  EXPECT_EQ(shards_.stops.load(), 0);  // main exits without joining
}

TEST_F(ControlThreadTest, ReloadIgnoredWhileDraining) {
  cli_.drain_timeout_s = 0;
  auto control = Make();
  shards_.active = 1;
  control->PostSignal(SIGTERM);
  control->PostSignal(SIGHUP);
  control->Run();
  EXPECT_TRUE(shards_.published.empty());
  EXPECT_EQ(control->counters().reloads_ok, 0);
}

TEST_F(ControlThreadTest, RealSignalsThroughSignalfd) {
  auto control = Make();
  ASSERT_TRUE(control->InstallSignals().ok());
  Write("proxy-multi.conf", "proxy_for 1 127.0.0.3:8888;\n");
  // Directed at this thread, where they are blocked: they stay pending until the signalfd
  // reads them (another thread of the test binary can never take them).
  ASSERT_EQ(pthread_kill(pthread_self(), SIGHUP), 0);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
  EXPECT_EQ(control->Run(), ControlExit::kDrained);
  EXPECT_EQ(control->counters().reloads_ok, 1);
  EXPECT_EQ(shards_.stops.load(), 1);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

TEST_F(ControlThreadTest, Usr1ReopensLogFileAfterRename) {
  std::string log_path = dir_ + "/proxy.log";
  cli_.log_file = log_path;
  // SIGUSR1 points this process's stdout and stderr at the file: keep the originals.
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO);
  int saved_err = dup(STDERR_FILENO);
  auto first = Make();
  first->PostSignal(SIGUSR1);
  first->PostSignal(SIGTERM);
  first->Run();
  MTP_LOG(0, "before rotation");
  bool renamed = rename(log_path.c_str(), (log_path + ".1").c_str()) == 0;
  auto second = Make();
  second->PostSignal(SIGUSR1);
  second->PostSignal(SIGTERM);
  second->Run();
  MTP_LOG(0, "after rotation");
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  ASSERT_TRUE(renamed);
  EXPECT_EQ(first->counters().log_reopens, 1);
  EXPECT_EQ(second->counters().log_reopens, 1);
  std::stringstream old_log, new_log;
  old_log << std::ifstream(log_path + ".1").rdbuf();
  new_log << std::ifstream(log_path).rdbuf();
  EXPECT_NE(old_log.str().find("reopened"), std::string::npos) << old_log.str();
  EXPECT_NE(old_log.str().find("before rotation"), std::string::npos);
  EXPECT_EQ(old_log.str().find("after rotation"), std::string::npos);
  EXPECT_NE(new_log.str().find("reopened"), std::string::npos) << new_log.str();
  EXPECT_NE(new_log.str().find("after rotation"), std::string::npos) << new_log.str();
}

TEST_F(ControlThreadTest, Usr1WithoutLogFileKeepsRunning) {
  auto control = Make();
  control->PostSignal(SIGUSR1);
  control->PostSignal(SIGTERM);
  EXPECT_EQ(control->Run(), ControlExit::kDrained);
  EXPECT_EQ(control->counters().log_reopens, 0);
}

TEST_F(ControlThreadTest, AcceptBudgetsHonourTheProcessRate) {
  cli_.max_accept_rate = 6;
  cli_.max_dh_accept_rate = 0;  // off
  auto control = Make();
  // The constructor handed out the first budget: the full bucket (6) across both shards.
  int granted = 0;
  for (int i = 0; i < 10; ++i) {
    if (shards_.accept[i % 2].TryConsume()) ++granted;
  }
  EXPECT_LE(granted, 6);
  EXPECT_GE(granted, 4);  // both shards got a share (floor of the split)
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(shards_.handshake[i % 2].TryConsume());
  StatsSnapshot s = control->CollectStats();
  EXPECT_EQ(s.connections.max_accept_rate, 6);
  EXPECT_EQ(s.connections.accept_rate_limit_failed, 10 - granted);
  ASSERT_EQ(s.extended.rate_limit_refusals_by_kind.size(), 2u);
  EXPECT_EQ(s.extended.rate_limit_refusals_by_kind[0].value, 10 - granted);
  EXPECT_EQ(s.extended.rate_limit_refusals_by_kind[1].value, 0);
}

std::string HttpGet(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return {};
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return {};
  }
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST_F(ControlThreadTest, ServesStatsAndMetrics) {
  cli_.http_stats = true;
  cli_.stats_port = StatsPortRange{0, 0};
  ControlThread::Options options;
  options.version = "mtproxy-ng-test";
  auto control = Make(options);
  ASSERT_TRUE(control->StartStatsServer().ok());
  ASSERT_TRUE(control->stats_port().has_value());
  uint16_t port = *control->stats_port();
  std::thread runner([&] { control->Run(); });
  std::string stats = HttpGet(port, "/stats");
  std::string metrics = HttpGet(port, "/metrics");
  std::string missing = HttpGet(port, "/nope");
  control->PostSignal(SIGTERM);
  runner.join();
  EXPECT_NE(stats.find("HTTP/1.1 200 OK"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\ntot_forwarded_queries\t7\n"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\nconfig_filename\t" + cli_.config_file + "\n"), std::string::npos);
  EXPECT_NE(stats.find("\nversion\tmtproxy-ng-test\n"), std::string::npos);
  EXPECT_NE(metrics.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(metrics.find("mtproxy_"), std::string::npos);
  EXPECT_NE(missing.find("404"), std::string::npos);
}

TEST_F(ControlThreadTest, HttpStatsWithoutPortIsAnError) {
  cli_.http_stats = true;
  auto control = Make();
  absl::Status st = control->StartStatsServer();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "fatal: port isn't defined");
}

}  // namespace
}  // namespace mtp
