// Observability through the real binary: the stats port on a --stats-bind
// address with a
// --stats-allow list (403 and a counter for the others), /health and /ready,
// histograms, process metrics, and a real Prometheus server scraping /metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/fake_me_proxy_fixture.h"
#include "tests/e2e/loopback_echo.h"
#include "tests/e2e/proxy_process.h"
#include "tests/tools/child_process.h"

namespace mtp {
namespace {

using e2e::HttpBody;
using e2e::HttpGet;
using e2e::MetricValue;
using e2e::ProxyProcess;
using testing_peers::TestClient;

class ObservabilityE2eTest : public e2e::FakeMeProxyTest {
 protected:
  std::unique_ptr<ProxyProcess> Start(std::vector<std::string> extra, int shards = 2) {
    std::vector<std::string> args = {"-H",
                                     "0",
                                     "--shards",
                                     std::to_string(shards),
                                     "-S",
                                     e2e::Hex(secret_),
                                     "--msg-buffers-size",
                                     "64m",
                                     "--drain-timeout",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartBehindFakeMe(args, shards);
  }
  const ClientSecret secret_ = e2e::MakeSecret(91);
};

TEST_F(ObservabilityE2eTest, StatsBindServesTheAllowlistAndRefusesOthersWith403) {
  // No -p and no --http-stats: --stats-bind ADDR:PORT gives both.
  auto proxy = Start({"--stats-bind", "127.0.0.1:0", "--stats-allow", "127.0.0.3/32,fd00::/8"});
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(port.has_value()) << proxy->Log();
  EXPECT_TRUE(proxy->LogContains("stats: http://127.0.0.1:" + std::to_string(*port) + "/stats"));

  std::string refused = HttpGet(*port, "/metrics", false, "127.0.0.2");
  if (refused.empty()) GTEST_SKIP() << "cannot bind 127.0.0.2 here";
  EXPECT_EQ(refused.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << refused;
  EXPECT_EQ(HttpGet(*port, "/stats", false, "127.0.0.2").rfind("HTTP/1.1 403 ", 0), 0u);
  std::string allowed = HttpGet(*port, "/metrics", false, "127.0.0.3");
  EXPECT_EQ(allowed.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << allowed;
  // Loopback itself stays allowed; the two refusals are counted.
  std::string metrics = HttpBody(HttpGet(*port, "/metrics"));
  EXPECT_EQ(MetricValue(metrics, "mtproxy_http_refused_total"), 2) << metrics;
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_F(ObservabilityE2eTest, StatsBindErrorsAreOneLine) {
  e2e::RunResult bad = e2e::RunProxyToExit({"--stats-bind", "nowhere:1", "-H", "0", "x.conf"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--stats-bind: 'nowhere' is not an IPv4 address"), std::string::npos)
      << bad.output;
  e2e::RunResult allow = e2e::RunProxyToExit({"--stats-allow", "10.1.0.0/8", "-H", "0", "x.conf"});
  EXPECT_EQ(allow.exit_code, 2);
  EXPECT_NE(allow.output.find("did you mean '10.0.0.0/8'?"), std::string::npos) << allow.output;
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

std::string Get(uint16_t port, const std::string& path) { return e2e::HttpGet(port, path); }

TEST_F(ObservabilityE2eTest, ReadyFollowsTheMiddleEndsAndTheDrainWhileHealthStaysUp) {
  auto proxy = Start({"-p", "0", "--http-stats", "--drain-timeout", "5"});
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(port.has_value());
  EXPECT_EQ(Get(*port, "/health").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(HttpBody(Get(*port, "/health")), "ok\n");
  // Both shards have a ready ME link (the fixture waited for them); the shards publish their
  // ready targets every 100 ms.
  std::string ready;
  EXPECT_TRUE(e2e::WaitFor(
      [&] {
        ready = Get(*port, "/ready");
        return ready.rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
      },
      5000))
      << ready;
  EXPECT_EQ(HttpBody(ready), "ready: serving (middle-end)\n");

  // The middle-end goes away: every shard loses its upstream path.
  me_->Stop();
  EXPECT_TRUE(e2e::WaitFor(
      [&] {
        ready = Get(*port, "/ready");
        return HttpBody(ready) == "not ready: 2 of 2 shards have no ready middle-end connection\n";
      },
      8000))
      << ready;
  EXPECT_EQ(ready.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << ready;
  EXPECT_EQ(Get(*port, "/health").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);

  // Draining (a client keeps the process alive for the drain timeout): not ready, still healthy.
  auto client = TestClient::Connect(proxy->port(), &secret_, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        return MetricValue(HttpBody(Get(*port, "/metrics")), "mtproxy_client_connections") == 1;
      },
      5000));
  proxy->Signal(SIGTERM);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("draining"); }, 5000));
  ready = Get(*port, "/ready");
  EXPECT_EQ(ready.rfind("HTTP/1.1 503 ", 0), 0u) << ready;
  EXPECT_EQ(HttpBody(ready), "not ready: draining: listeners closed\n");
  EXPECT_EQ(Get(*port, "/health").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  client.reset();
  EXPECT_EQ(proxy->Wait(10000), 0);
}

TEST_F(ObservabilityE2eTest, DirectModeIsReadyOnceListening) {
  // Direct mode dials a DC per client; no DC is ever dialled here (no client connects).
  auto proxy = ProxyProcess::Start({"-H", "0", "-p", "0", "--http-stats", "--direct", "-S",
                                    e2e::Hex(secret_), "--dc-override", "2:127.0.0.1:1"});
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(port.has_value());
  std::string ready = Get(*port, "/ready");
  EXPECT_EQ(ready.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ready;
  EXPECT_EQ(HttpBody(ready), "ready: serving (direct)\n");
  EXPECT_EQ(proxy->Stop(), 0);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST_F(ObservabilityE2eTest, ProcessSeriesAndBuildInfoDescribeTheProxy) {
  auto proxy = Start({"-p", "0", "--http-stats"}, 1);
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(port.has_value());
  const std::string metrics = HttpBody(e2e::HttpGet(*port, "/metrics"));
  // The proxy's own figures, not the test's: its start time is its stats start_time.
  const std::string stats = HttpBody(e2e::HttpGet(*port, "/stats"));
  const double start = MetricValue(metrics, "process_start_time_seconds").value_or(-1);
  // The kernel's start time (whole seconds) is the exec; start_time is taken after start-up,
  // which a sanitizer build can stretch to seconds.
  const double start_time = static_cast<double>(e2e::StatsInt(stats, "start_time").value_or(0));
  EXPECT_LE(start, start_time + 1.0);
  EXPECT_GE(start, start_time - 10.0);
  // Listeners, engines, the ME link, the stats socket...: a handful of descriptors at least.
  EXPECT_GE(MetricValue(metrics, "process_open_fds").value_or(0), 5);
  EXPECT_GT(MetricValue(metrics, "process_max_fds").value_or(0), 0);
  EXPECT_GT(MetricValue(metrics, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GE(MetricValue(metrics, "process_virtual_memory_bytes").value_or(0),
            MetricValue(metrics, "process_resident_memory_bytes").value_or(1));
  EXPECT_GE(MetricValue(metrics, "process_cpu_seconds_total").value_or(-1), 0);
  // The info series carries what --version prints.
  e2e::RunResult version = e2e::RunProxyToExit({"--version"});
  const size_t at = version.output.find("(commit ");
  ASSERT_NE(at, std::string::npos) << version.output;
  const std::string commit = version.output.substr(at + 8, version.output.find(')', at) - at - 8);
  EXPECT_NE(
      metrics.find("mtproxy_build_info{version=\"" MTP_VERSION "\",commit=\"" + commit + "\"} 1\n"),
      std::string::npos)
      << metrics;
  EXPECT_EQ(proxy->Stop(), 0);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

// Runs `command` through sh; exit status and everything it wrote to stdout and stderr.
e2e::RunResult Shell(const std::string& command) {
  e2e::RunResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool HaveTool(const char* name) {
  return Shell(std::string("command -v ") + name + " >/dev/null").exit_code == 0;
}

std::string SourcePath(const std::string& relative) {
  const char* root = getenv("MTP_SOURCE_ROOT");
  return std::string(root != nullptr ? root : ".") + "/" + relative;
}

// Every "expr" of the dashboard JSON, unescaped, with Grafana's variables replaced so that
// Prometheus can evaluate it.
std::vector<std::string> DashboardQueries() {
  const std::string json = e2e::ReadFile(SourcePath("packaging/monitoring/mtproxy-dashboard.json"));
  std::vector<std::string> out;
  const std::string key = "\"expr\": \"";
  for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
    std::string expr;
    for (size_t i = at + key.size(); i < json.size() && json[i] != '"'; ++i) {
      if (json[i] == '\\' && i + 1 < json.size()) ++i;
      expr += json[i];
    }
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"$instance", ".*"}, {"$__rate_interval", "1m"}}) {
      for (size_t p = expr.find(from); p != std::string::npos; p = expr.find(from)) {
        expr.replace(p, from.size(), to);
      }
    }
    out.push_back(expr);
  }
  return out;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// The metric families a PromQL text names (mtproxy_* and process_*), histogram suffixes cut.
std::set<std::string> FamiliesNamedIn(const std::string& text) {
  std::set<std::string> out;
  const std::regex name(R"(\b((mtproxy|process)_[a-z_]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string family = (*it)[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (family.ends_with(suffix) && family.find("_seconds_") != std::string::npos) {
        family.resize(family.size() - strlen(suffix));
      }
    }
    out.insert(family);
  }
  return out;
}

// The proxy with traffic behind it, so that every family (histograms, per-secret series,
// close reasons) has samples when it is scraped.
class ScrapeE2eTest : public ObservabilityE2eTest {
 protected:
  void SetUp() override {
    ObservabilityE2eTest::SetUp();
    ASSERT_TRUE(HaveTool("promtool") && HaveTool("prometheus"))
        << "the Debian package 'prometheus' is missing: run tools/deps.sh";
    proxy_ = Start({"-p", "0", "--http-stats"});
    ASSERT_NE(proxy_, nullptr);
    std::optional<uint16_t> port = e2e::StatsPort(*proxy_);
    ASSERT_TRUE(port.has_value());
    stats_port_ = *port;
    for (int i = 0; i < 3; ++i) {
      auto c = TestClient::Connect(proxy_->port(), &secret_, Transport::kIntermediate, 2);
      ASSERT_TRUE(c.has_value());
      ASSERT_TRUE(e2e::EchoFrame(*c, 200, static_cast<uint8_t>(i)));
    }
    auto last = TestClient::Connect(proxy_->port(), &secret_, Transport::kIntermediate, 2);
    ASSERT_TRUE(last.has_value());
    client_.emplace(std::move(*last));
    ASSERT_TRUE(e2e::EchoFrame(*client_, 100, 9));
  }

  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
  std::optional<TestClient> client_;
};

TEST_F(ScrapeE2eTest, PromtoolChecksTheRealMetricsWithoutAWarning) {
  std::string metrics;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        metrics = HttpBody(e2e::HttpGet(stats_port_, "/metrics"));
        return MetricValue(metrics, "mtproxy_secret_connections_total{secret=\"0\"}") >= 4;
      },
      10000))
      << metrics;
  // Three clients came and went, one is open: four handshakes, four first answers from the ME,
  // three lifetimes; every latency on loopback is under a second.
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        metrics = HttpBody(e2e::HttpGet(stats_port_, "/metrics"));
        return MetricValue(metrics, "mtproxy_connection_duration_seconds_count") == 3;
      },
      5000))
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_duration_seconds_count"), 4);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_duration_seconds_bucket{le=\"1\"}"), 4);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_me_round_trip_seconds_count"), 4);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_me_round_trip_seconds_bucket{le=\"1\"}"), 4);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_connection_duration_seconds_bucket{le=\"5\"}"), 3);
  EXPECT_GT(MetricValue(metrics, "mtproxy_connection_duration_seconds_sum").value_or(0), 0);
  EXPECT_LT(MetricValue(metrics, "mtproxy_handshake_duration_seconds_sum").value_or(9), 4);
  const std::string file = dir_.Write("metrics.txt", metrics);
  e2e::RunResult check = Shell("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool warnings:\n" << check.output;
  // The check itself can fail: a counter without _total is reported.
  const std::string bad =
      dir_.Write("bad.txt", "# HELP x_bytes b\n# TYPE x_bytes counter\nx_bytes 1\n");
  EXPECT_NE(Shell("promtool check metrics < " + bad).exit_code, 0);
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(ScrapeE2eTest, ARealPrometheusScrapesTheProxyAndAnswersAQuery) {
  const uint16_t web_port = e2e::UnusedLoopbackPort();
  const std::string config =
      dir_.Write("prometheus.yml",
                 "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                 "scrape_configs:\n  - job_name: mtproxy\n    static_configs:\n"
                 "      - targets: ['127.0.0.1:" +
                     std::to_string(stats_port_) + "']\n");
  const std::string data = dir_.Path("tsdb");
  auto prometheus = tools::ChildProcess::Spawn(
      {"/bin/sh", "-c",
       "exec prometheus --config.file=" + config + " --storage.tsdb.path=" + data +
           " --web.listen-address=127.0.0.1:" + std::to_string(web_port) +
           " --storage.tsdb.retention.time=1h 2>" + dir_.Path("prometheus.log")});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  // One client is open: the answer is 1, as scraped by Prometheus itself.
  std::string answer;
  const bool answered = e2e::WaitFor(
      [&] {
        answer = HttpBody(HttpGet(web_port, "/api/v1/query?query=mtproxy_client_connections"));
        return answer.find("\"__name__\":\"mtproxy_client_connections\"") != std::string::npos;
      },
      40000);
  ASSERT_TRUE(answered) << answer << "\n" << dir_.Read("prometheus.log");
  EXPECT_NE(answer.find("\"status\":\"success\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"job\":\"mtproxy\""), std::string::npos) << answer;
  EXPECT_NE(answer.find(",\"1\"]"), std::string::npos) << answer;
  // A histogram quantile over the scraped buckets is computable (the type survived the scrape).
  std::string quantile = HttpBody(HttpGet(
      web_port,
      "/api/v1/query?query=histogram_quantile(0.5,mtproxy_handshake_duration_seconds_bucket)"));
  EXPECT_NE(quantile.find("\"status\":\"success\""), std::string::npos) << quantile;
  EXPECT_NE(quantile.find("\"result\":[{"), std::string::npos) << quantile;
  // Every dashboard query is valid PromQL over the scraped series.
  const std::vector<std::string> queries = DashboardQueries();
  EXPECT_GE(queries.size(), 20u);
  for (const std::string& q : queries) {
    std::string r = HttpBody(HttpGet(web_port, "/api/v1/query?query=" + UrlEncode(q)));
    EXPECT_NE(r.find("\"status\":\"success\""), std::string::npos) << q << "\n" << r;
  }
  // The target is up.
  std::string up = HttpBody(HttpGet(web_port, "/api/v1/query?query=up"));
  EXPECT_NE(up.find(",\"1\"]"), std::string::npos) << up;
  prometheus->Signal(SIGTERM);
  EXPECT_TRUE(prometheus->Wait(15000).ok());
  client_.reset();
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(ScrapeE2eTest, AlertRulesAndDashboardPassPromtoolAndNameOnlyRealSeries) {
  const std::string dir = SourcePath("packaging/monitoring");
  e2e::RunResult check = Shell("promtool check rules " + dir + "/mtproxy-alerts.yml");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("SUCCESS: 10 rules found"), std::string::npos) << check.output;
  e2e::RunResult unit = Shell("cd " + dir + " && promtool test rules mtproxy-alerts.test.yml");
  EXPECT_EQ(unit.exit_code, 0) << unit.output;

  // Every family the rules and the dashboard use is one the binary exports.
  const std::string metrics = HttpBody(e2e::HttpGet(stats_port_, "/metrics"));
  std::set<std::string> used = FamiliesNamedIn(e2e::ReadFile(dir + "/mtproxy-alerts.yml"));
  for (const std::string& q : DashboardQueries()) {
    for (const std::string& f : FamiliesNamedIn(q)) used.insert(f);
  }
  EXPECT_GE(used.size(), 15u);
  for (const std::string& family : used) {
    EXPECT_NE(metrics.find("# TYPE " + family + " "), std::string::npos) << family;
  }
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(ObservabilityE2eTest, DoubleVerboseLogsEachClosedConnection) {
  auto proxy = Start({"-vv"}, 1);
  ASSERT_NE(proxy, nullptr);
  {
    auto c = TestClient::Connect(proxy->port(), &secret_, Transport::kIntermediate, 2);
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(e2e::EchoFrame(*c, 1000, 1));
  }
  // The 64-byte header and one 4+1000-byte frame in; one 4+1000-byte answer out; DC 2; secret 0.
  const std::regex closed(
      R"(client [0-9]+ closed after [0-9]+\.[0-9]{3} s: secret 0, DC 2, 1068 bytes in, 1004 out)");
  EXPECT_TRUE(e2e::WaitFor([&] { return std::regex_search(proxy->Log(), closed); }, 5000))
      << proxy->Log();
  EXPECT_EQ(proxy->Stop(), 0);
  // Not at -v.
  auto quiet = Start({"-v"}, 1);
  ASSERT_NE(quiet, nullptr);
  {
    auto c = TestClient::Connect(quiet->port(), &secret_, Transport::kIntermediate, 2);
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(e2e::EchoFrame(*c, 100, 1));
  }
  ASSERT_TRUE(e2e::WaitFor([&] { return quiet->LogContains("closing client"); }, 5000));
  EXPECT_EQ(quiet->Stop(), 0);
  EXPECT_FALSE(std::regex_search(quiet->Log(), std::regex("closed after")));
}

// The proxy behind the fake ME with `-l log` (and `extra`), its stderr in stderr.txt; waits
// for "main loop" in the log file.
class LogFileE2eTest : public ObservabilityE2eTest {
 protected:
  absl::StatusOr<tools::ChildProcess> StartLogging(const std::string& log,
                                                   const std::string& extra = "") {
    auto child = tools::ChildProcess::Spawn(
        {"/bin/sh", "-c",
         "exec " + e2e::ProxyBinaryPath() + " -l " + log + " " + extra + " -H 0 --shards 1 -S " +
             e2e::Hex(secret_) + " --aes-pwd " + aes_pwd_ + " --drain-timeout 1 " +
             dir_.Write("proxy-multi.conf", e2e::ConfigFor(me_->port())) + " 2>" +
             dir_.Path("stderr.txt")});
    if (child.ok() &&
        !e2e::WaitFor([&] { return e2e::ReadFile(log).find("main loop") != std::string::npos; },
                      8000)) {
      return absl::DeadlineExceededError("no 'main loop' in " + log + ": " + e2e::ReadFile(log) +
                                         dir_.Read("stderr.txt"));
    }
    return child;
  }
  static uid_t UidOf(pid_t pid) {
    std::string status = e2e::ReadFile("/proc/" + std::to_string(pid) + "/status");
    size_t at = status.find("\nUid:\t");
    return at == std::string::npos ? 0 : static_cast<uid_t>(atoi(status.c_str() + at + 6));
  }
  static uid_t OwnerOf(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
  }
};

TEST_F(LogFileE2eTest, LogrotateCreateModeThenUsr1KeepsLoggingAfterThePrivilegeDrop) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (privilege drop and logrotate)";
  ASSERT_TRUE(HaveTool("logrotate")) << "the Debian package 'logrotate' is missing";
  // A log directory like /var/log/NAME: root's, not writable by the dropped user, so the proxy
  // can only reopen a file logrotate created for it.
  const std::string logs = dir_.Path("logs");
  ASSERT_EQ(mkdir(logs.c_str(), 0755), 0);
  const std::string log = logs + "/proxy.log";
  auto child = StartLogging(log);
  ASSERT_TRUE(child.ok()) << child.status();
  const uid_t proxy_uid = UidOf(child->pid());
  ASSERT_NE(proxy_uid, 0u) << "the proxy did not drop root";
  // Opened as root at start-up, then handed to the dropped user.
  EXPECT_EQ(OwnerOf(log), proxy_uid);

  // logrotate's `create` without arguments copies the old file's mode and owner.
  const std::string conf =
      dir_.Write("logrotate.conf", log + " {\n  create\n  rotate 2\n  su root root\n}\n");
  e2e::RunResult rotated = Shell("logrotate -f -s " + dir_.Path("logrotate.state") + " " + conf);
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  ASSERT_EQ(e2e::ReadFile(log), "");  // the new, empty file
  EXPECT_EQ(OwnerOf(log), proxy_uid);
  child->Signal(SIGUSR1);
  ASSERT_TRUE(
      e2e::WaitFor([&] { return e2e::ReadFile(log).find("reopened") != std::string::npos; }, 5000))
      << e2e::ReadFile(log + ".1");
  child->Signal(SIGHUP);  // later lines land in the new file
  EXPECT_TRUE(e2e::WaitFor(
      [&] { return e2e::ReadFile(log).find("re-read successfully") != std::string::npos; }, 5000));

  // `create 0640 root root`: the dropped user cannot write the new file. The proxy keeps
  // writing to the old one and says why, and what logrotate line would work.
  const std::string bad = dir_.Write(
      "logrotate-root.conf", log + " {\n  create 0640 root root\n  rotate 2\n  su root root\n}\n");
  rotated = Shell("logrotate -f -s " + dir_.Path("logrotate.state") + " " + bad);
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  child->Signal(SIGUSR1);
  const std::regex hint(
      R"(SIGUSR1: cannot open log file .*Permission denied.* running as [a-z0-9_-]+: file .*proxy\.log is root:root 0640.*"create 0640 )");
  EXPECT_TRUE(
      e2e::WaitFor([&] { return std::regex_search(e2e::ReadFile(log + ".1"), hint); }, 5000))
      << e2e::ReadFile(log + ".1");
  child->Signal(SIGTERM);
  EXPECT_TRUE(child->Wait(10000).ok());
}

TEST_F(LogFileE2eTest, JsonLinesFormat) {
  const std::string log = dir_.Path("json.log");
  auto child = StartLogging(log, "--log-format json");
  ASSERT_TRUE(child.ok()) << child.status();
  child->Signal(SIGTERM);
  ASSERT_TRUE(child->Wait(10000).ok());
  const std::string text = e2e::ReadFile(log);
  const std::regex line(
      R"re(^\{"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z","pid":[0-9]+,)re"
      R"re("level":"(info|warning|error)","msg":"([^"\\]|\\.)*"\}$)re");
  int lines = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "unterminated last line";
    const std::string l = text.substr(start, end - start);
    EXPECT_TRUE(std::regex_match(l, line)) << l;
    ++lines;
    start = end + 1;
  }
  EXPECT_GE(lines, 5);
  EXPECT_NE(text.find("\"msg\":\"Terminated by SIGTERM.\"}"), std::string::npos) << text;
  // A message with quotes stays one valid line: the config file name is quoted in the log.
  EXPECT_NE(text.find("config_filename = '"), std::string::npos);
}

TEST_F(LogFileE2eTest, UnwritableLogFileIsAFatalStartupError) {
  e2e::RunResult r = e2e::RunProxyToExit(
      {"-l", "/nonexistent-dir/proxy.log", "-H", "0", "--direct", "-S", e2e::Hex(secret_)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("fatal: cannot open log file /nonexistent-dir/proxy.log"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace mtp
