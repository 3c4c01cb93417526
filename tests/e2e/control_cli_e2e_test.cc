// The mtproto-proxy binary as an operator starts it: --help, --generate-secret, start-up
// failures and their exit codes, a reference-style command line with the project's peers
// (mtp-fake-me, mtp-client), links, privilege drop, /stats and /metrics against the traffic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "control/cli.h"
#include "core/hex.h"
#include "crypto/hash.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/tool_run.h"

namespace mtp {
namespace {

using e2e::HttpBody;
using e2e::HttpGet;
using e2e::MetricValue;
using e2e::ProxyProcess;
using e2e::RunProxyToExit;
using e2e::SharedDir;
using e2e::StatsField;
using e2e::StatsInt;
using tools::ChildProcess;

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";
constexpr char kTagHex[] = "ffeeddccbbaa99887766554433221100";

std::string Md5Hex(const std::string& bytes) {
  return HexEncode(Md5(ByteSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
}

TEST(ControlCliE2eTest, HelpDocumentsEveryOption) {
  e2e::RunResult r = RunProxyToExit({"--help"});
  EXPECT_EQ(r.exit_code, 2);  // as the reference
  std::vector<std::string_view> names = ReferenceOptionNames();
  EXPECT_EQ(names.size(), 34u);
  for (std::string_view name : ExtensionOptionNames()) names.push_back(name);
  for (std::string_view name : names) {
    EXPECT_NE(r.output.find("--" + std::string(name)), std::string::npos) << name;
  }
  // The documented differences an operator must know about.
  EXPECT_NE(r.output.find("SIGHUP re-reads"), std::string::npos);
  EXPECT_NE(r.output.find("drain"), std::string::npos);
}

TEST(ControlCliE2eTest, GenerateSecret) {
  e2e::RunResult a = RunProxyToExit({"--generate-secret"});
  e2e::RunResult b = RunProxyToExit({"--generate-secret"});
  EXPECT_EQ(a.exit_code, 0);
  ASSERT_EQ(a.output.size(), 33u) << a.output;
  EXPECT_EQ(a.output.back(), '\n');
  EXPECT_TRUE(ParseClientSecretHex(a.output.substr(0, 32)).ok()) << a.output;
  EXPECT_NE(a.output, b.output);
}

TEST(ControlCliE2eTest, StartupFailuresExitWithReferenceCodes) {
  SharedDir dir;
  std::string secret = dir.Write("proxy-secret", std::string(64, 's'));
  // Unknown option: usage, exit 2.
  e2e::RunResult r = RunProxyToExit({"--no-such-option", "x.conf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Unrecognized option"), std::string::npos) << r.output;
  // -D without any secret: exit 2.
  r = RunProxyToExit({"-H", "0", "-D", "example.com", "--aes-pwd", secret,
                      dir.Write("ok.conf", "proxy 127.0.0.1:1;\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("at least one mtproto-secret"), std::string::npos) << r.output;
  // A config with a syntax error: the reference's message, exit 1.
  r = RunProxyToExit({"-H", "0", "-S", kSecretHex, "--aes-pwd", secret,
                      dir.Write("bad.conf", "proxy 1.2.3.4:5\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("; expected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config check failed!"), std::string::npos) << r.output;
  // An explicit proxy secret that cannot be read: exit 1.
  r = RunProxyToExit(
      {"-H", "0", "-S", kSecretHex, "--aes-pwd", dir.Path("missing"), dir.Path("ok.conf")});
  EXPECT_EQ(r.exit_code, 1);
  // --http-stats without -p: exit 1.
  r = RunProxyToExit({"-H", "0", "--http-stats", "--direct", "--allow-no-secret"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("port isn't defined"), std::string::npos) << r.output;
  // -u for a user that does not exist, as root: exit 1 (not root: -u is ignored, as in the
  // reference, and the proxy would start).
  if (geteuid() == 0) {
    r = RunProxyToExit(
        {"-H", "0", "--direct", "--allow-no-secret", "-u", "no-such-user-mtproxy-ng"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("cannot change user to no-such-user-mtproxy-ng"), std::string::npos)
        << r.output;
  }
  // More than 16 secrets across -S and the secret file: exit 2.
  std::string many;
  for (int i = 0; i < 16; ++i) many += e2e::Hex(e2e::MakeSecret(static_cast<uint8_t>(i))) + "\n";
  r = RunProxyToExit({"-H", "0", "--direct", "-S", kSecretHex, "--mtproto-secret-file",
                      dir.Write("secrets", many)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("too many client secrets"), std::string::npos) << r.output;
}

class ReferenceCommandLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aes_pwd_ = dir_.Write("proxy-secret", e2e::ProxySecretText());
    me_log_ = dir_.Write("fake-me.log", "");
    auto me = e2e::SpawnListening("mtp-fake-me", {"--listen", "127.0.0.1:0", "--aes-pwd",
                                                  aes_pwd_, "--log-file", me_log_});
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::move(me->process);
    me_port_ = me->port;
    config_text_ = e2e::ConfigFor(me_port_);
    config_ = dir_.Write("proxy-multi.conf", config_text_);
  }

  // A frame sent before its shard's ME link is ready is dropped (spec §8.3): clients start
  // once `shards` links are ready, as the proxy's /stats says.
  void WaitForMeLinks(int shards) {
    std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
    ASSERT_TRUE(stats_port.has_value()) << proxy_->Log();
    ASSERT_TRUE(e2e::WaitFor(
        [&] {
          return StatsInt(HttpBody(HttpGet(*stats_port, "/stats")), "ready_outbound_connections")
                     .value_or(0) >= shards;
        },
        10000))
        << proxy_->Log();
  }

  int RunClient(std::vector<std::string> flags, std::string* json = nullptr) {
    flags.insert(flags.begin(), {"--timeout-ms", "8000"});
    return e2e::RunTool(e2e::ClientArgv(proxy_->port(), flags), 30000, json);
  }

  SharedDir dir_;
  std::string aes_pwd_;
  std::string me_log_;
  std::string config_;
  std::string config_text_;
  uint16_t me_port_ = 0;
  std::unique_ptr<ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(ReferenceCommandLineTest, StartsServesAndReportsLikeTheReference) {
  // The README's command line, on loopback with free ports (-H 0, -p 0); two shards.
  proxy_ = ProxyProcess::Start({"-u", "nobody", "-p", "0", "-H", "0", "-S", kSecretHex,
                                "--aes-pwd", aes_pwd_, "-P", kTagHex, "--http-stats",
                                "--shards", "2", "--public-host", "proxy.example.org",
                                config_});
  ASSERT_NE(proxy_, nullptr);
  const std::string port = std::to_string(proxy_->port());
  // Links for the plain and dd forms, with the public host. They are logged just after the
  // listening line that Start() waits for, so wait for them too.
  const std::string plain_link =
      "tg://proxy?server=proxy.example.org&port=" + port + "&secret=" + kSecretHex;
  const std::string dd_link =
      "https://t.me/proxy?server=proxy.example.org&port=" + port + "&secret=dd" + kSecretHex;
  EXPECT_TRUE(e2e::WaitFor([&] { return proxy_->LogContains(plain_link); }, 5000))
      << proxy_->Log();
  EXPECT_TRUE(e2e::WaitFor([&] { return proxy_->LogContains(dd_link); }, 5000))
      << proxy_->Log();
  if (geteuid() == 0) {
    EXPECT_TRUE(proxy_->LogContains("running as user nobody"));
  }
  EXPECT_TRUE(proxy_->LogContains("Started as ["));
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
  ASSERT_TRUE(stats_port.has_value()) << proxy_->Log();

  // Wait for the middle-end links (one per shard at least), then relay traffic.
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        std::string body = HttpBody(HttpGet(*stats_port, "/stats"));
        // total_ready_targets is refreshed by the shards' 0.1-s tick.
        return StatsInt(body, "ready_outbound_connections").value_or(0) >= 2 &&
               StatsInt(body, "total_ready_targets").value_or(0) == 1;
      },
      10000));
  // -p 0: the PID shows the port the stats server bound, in the start-up line, in /stats and
  // in the ME handshakes (the fake ME logs the PID it was sent).
  // The PID field is an int16 (a free port above 32767 prints negative, as in the reference).
  std::string pid_port = ":";  // built in steps: GCC 12 warns (-Wrestrict) on "x" + temp + "x"
  pid_port += std::to_string(static_cast<int16_t>(*stats_port));
  pid_port += ':';
  EXPECT_TRUE(proxy_->LogContains("Started as [")) << proxy_->Log();
  {
    const std::string log = proxy_->Log();
    const size_t at = log.find("Started as [");
    ASSERT_NE(at, std::string::npos);
    const std::string line = log.substr(at, log.find('\n', at) - at);
    EXPECT_NE(line.find(pid_port), std::string::npos) << line;
    const std::string body = HttpBody(HttpGet(*stats_port, "/stats"));
    const size_t pid_at = body.find("\nPID\t[");
    ASSERT_NE(pid_at, std::string::npos);
    EXPECT_NE(body.substr(pid_at, body.find('\n', pid_at + 1) - pid_at).find(pid_port),
              std::string::npos)
        << body;
    std::ifstream me_log(me_log_);
    const std::string me_events((std::istreambuf_iterator<char>(me_log)),
                                std::istreambuf_iterator<char>());
    const size_t sent = me_events.find("\"peer_pid\":{");
    ASSERT_NE(sent, std::string::npos) << me_events;
    const std::string sent_pid = me_events.substr(sent, me_events.find('}', sent) - sent);
    EXPECT_NE(sent_pid.find("\"port\":" + std::to_string(*stats_port) + ","), std::string::npos)
        << sent_pid;
  }
  constexpr int kPackets = 12;
  constexpr int kSize = 1000;
  std::string json;
  ASSERT_EQ(RunClient({"--secret", kSecretHex, "--packets", std::to_string(kPackets), "--size",
                       std::to_string(kSize), "--dc", "2"},
                      &json),
            0)
      << json;
  ASSERT_EQ(RunClient({"--secret", std::string("dd") + kSecretHex, "--packets", "3", "--size",
                       "500", "--dc", "2"},
                      &json),
            0)
      << json;

  // The counters are the shards' own: they agree with what the clients did once both ends
  // have seen the closes.
  std::string stats;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        stats = HttpBody(HttpGet(*stats_port, "/stats"));
        return StatsInt(stats, "ext_connections").value_or(-1) == 0 &&
               StatsInt(stats, "inbound_connections").value_or(-1) == 0;
      },
      5000))
      << stats;
  EXPECT_EQ(StatsInt(stats, "tot_forwarded_queries"), kPackets + 3);
  EXPECT_EQ(StatsInt(stats, "tot_forwarded_responses"), kPackets + 3);
  EXPECT_EQ(StatsInt(stats, "dropped_queries"), 0);
  EXPECT_EQ(StatsInt(stats, "inbound_connections_accepted"), 2);
  EXPECT_EQ(StatsInt(stats, "ext_connections_created"), 2);
  EXPECT_EQ(StatsInt(stats, "proxy_tag_set"), 1);
  EXPECT_EQ(StatsInt(stats, "workers"), 0);
  EXPECT_EQ(StatsInt(stats, "total_declared_targets"), 1);
  EXPECT_EQ(StatsInt(stats, "total_ready_targets"), 1);
  EXPECT_EQ(StatsField(stats, "config_filename"), config_);
  EXPECT_EQ(StatsInt(stats, "config_size"), static_cast<int64_t>(config_text_.size()));
  EXPECT_EQ(StatsField(stats, "config_md5"), Md5Hex(config_text_));
  EXPECT_EQ(StatsField(stats, "aes_pwd_hash"), Md5Hex(e2e::ProxySecretText()));
  EXPECT_EQ(StatsInt(stats, "config_auth_clusters"), 1);
  EXPECT_EQ(StatsInt(stats, "window_clamp"), 131072);
  EXPECT_EQ(StatsInt(stats, "proxy_mode"), 2);
  EXPECT_NE(stats.find("\nversion\tmtproxy-ng-"), std::string::npos);

  std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
  EXPECT_EQ(MetricValue(metrics, "mtproxy_forwarded_total{kind=\"queries\"}"), kPackets + 3);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_shards"), 2);
  // Payload bytes from the clients: at least the frames they sent.
  EXPECT_GE(MetricValue(metrics, "mtproxy_bytes_total{direction=\"from_clients\"}").value_or(0),
            kPackets * kSize + 3 * 500);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"ok\"}"), 2);

  // The fake ME got the ad tag.
  EXPECT_NE(dir_.Read("fake-me.log").find(std::string("\"ad_tag\":\"") + kTagHex + "\""),
            std::string::npos);
  EXPECT_EQ(proxy_->Stop(), 0);
  EXPECT_TRUE(proxy_->LogContains("Terminated by SIGTERM."));
}

// A free TCP port below 1024 on every address (0 if none is found).
uint16_t FreePrivilegedPort() {
  for (uint16_t port = 990; port > 900; --port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

// The real uid of a process, from /proc/<pid>/status ("Uid:\treal\teffective...").
int ProcessUid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) return std::atoi(line.c_str() + 4);
  }
  return -1;
}

TEST_F(ReferenceCommandLineTest, PrivilegeDropHappensAfterBindingAPrivilegedPort) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const uint16_t port = FreePrivilegedPort();
  ASSERT_NE(port, 0);
  proxy_ = ProxyProcess::Start({"-u", "nobody", "-H", std::to_string(port), "-S", kSecretHex,
                                "--aes-pwd", aes_pwd_, "--shards", "1", "-p", "0",
                                "--http-stats", config_});
  ASSERT_NE(proxy_, nullptr);
  EXPECT_EQ(proxy_->port(), port);
  EXPECT_TRUE(proxy_->LogContains("running as user nobody"));
  // The process runs as nobody now: it bound the port first.
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  EXPECT_EQ(ProcessUid(proxy_->pid()), static_cast<int>(nobody->pw_uid));
  WaitForMeLinks(1);
  std::string json;
  EXPECT_EQ(RunClient({"--secret", kSecretHex, "--packets", "2"}, &json), 0) << json;
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(ReferenceCommandLineTest, Ipv6WithHttpStatsServesBothLoopbacks) {
  // The reference aborts on the first stats request with -6 --http-stats.
  proxy_ = ProxyProcess::Start({"-6", "-p", "0", "-H", "0", "-S", kSecretHex, "--aes-pwd",
                                aes_pwd_, "--http-stats", "--shards", "2", config_});
  ASSERT_NE(proxy_, nullptr);
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
  ASSERT_TRUE(stats_port.has_value());
  std::string v4 = HttpGet(*stats_port, "/stats");
  EXPECT_NE(v4.find("200 OK"), std::string::npos) << v4;
  std::string v6 = HttpGet(*stats_port, "/stats", /*ipv6=*/true);
  EXPECT_NE(v6.find("200 OK"), std::string::npos) << v6;
  WaitForMeLinks(2);
  std::string json;
  EXPECT_EQ(RunClient({"--secret", kSecretHex, "--packets", "2"}, &json), 0) << json;
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(ReferenceCommandLineTest, ConnectionLimitAboveTheFileLimitIsLowered) {
  // Far above what any hard limit allows (fs.nr_open is 1048576 by default).
  proxy_ = ProxyProcess::Start({"-c", "50000000", "-H", "0", "-S", kSecretHex, "--aes-pwd",
                                aes_pwd_, "-p", "0", "--http-stats", "--shards", "2", config_});
  ASSERT_NE(proxy_, nullptr);
  EXPECT_TRUE(proxy_->LogContains("serving at most")) << proxy_->Log();
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
  ASSERT_TRUE(stats_port.has_value());
  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  int64_t max_connections = StatsInt(stats, "max_connections").value_or(0);
  EXPECT_GT(max_connections, 0);
  EXPECT_LT(max_connections, 50000000);
  WaitForMeLinks(2);
  std::string json;
  EXPECT_EQ(RunClient({"--secret", kSecretHex, "--packets", "2"}, &json), 0) << json;
  EXPECT_EQ(proxy_->Stop(), 0);
}

}  // namespace
}  // namespace mtp
