// Adversarial e2e fixture: processes, victims, metrics and the RSS bound.
#include "tests/e2e/adversarial_fixture.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/hex.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/tool_run.h"

namespace mtp::e2e {
namespace {

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";
constexpr char kDomain[] = "a.example";
constexpr int64_t kMiB = 1024;  // in KiB

// Under ASan or TSan the proxy's RSS is mostly shadow memory: the bound says nothing.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

int64_t JsonInt(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":(-?[0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

}  // namespace

std::string AdversarialParamName(const ::testing::TestParamInfo<AdversarialParam>& info) {
  return absl::StrCat(info.param.backend, "_", info.param.shards,
                      info.param.shards == 1 ? "_shard" : "_shards");
}

void AdversarialE2eTest::Start(const Options& options) {
  options_ = options;
  aes_pwd_ = WriteTempFile("proxy-secret", ProxySecretText());
  me_log_ = WriteTempFile("fake-me.log", "");
  std::vector<std::string> me_args = {"--listen",  "127.0.0.1:0", "--aes-pwd",
                                      aes_pwd_,    "--log-file",  me_log_,
                                      "--no-log-requests"};
  me_args.insert(me_args.end(), options.me_flags.begin(), options.me_flags.end());
  auto me = SpawnListening("mtp-fake-me", me_args);
  ASSERT_TRUE(me.ok()) << me.status();
  me_ = std::move(me->process);
  std::vector<std::string> args = {"-H", "0", "-M", std::to_string(shards()), "-p", "0",
                                   "--http-stats", "--io-backend", GetParam().backend,
                                   "--aes-pwd", aes_pwd_, "-S", kSecretHex,
                                   "--msg-buffers-size",
                                   std::to_string(options.msg_buffers_bytes)};
  if (options.fake_tls) {
    if (testing::OpenSslBinary().empty()) GTEST_SKIP() << "openssl is not installed";
    site_ = testing::OpenSslServer::Start();
    ASSERT_NE(site_, nullptr);
    args.insert(args.end(), {"-D", kDomain, "--domain-target",
                             absl::StrCat(kDomain, "=127.0.0.1:", site_->port())});
  }
  args.insert(args.end(), options.proxy_flags.begin(), options.proxy_flags.end());
  // One link per shard: the ME misbehaviour flags name links by their order.
  args.push_back(WriteTempFile("proxy-multi.conf", ConfigFor(me->port, 1, 1)));
  proxy_ = ProxyProcess::Start(args, 30000, options.open_files);
  ASSERT_NE(proxy_, nullptr);
  // The stats line follows the listening line: wait for it.
  std::optional<uint16_t> stats;
  WaitFor([&] { return (stats = StatsPort(*proxy_)).has_value(); }, 5000);
  ASSERT_TRUE(stats.has_value()) << proxy_->Log();
  stats_port_ = *stats;
  // A frame that finds no ready ME link is dropped (spec §8.3): victims start after the links.
  ASSERT_TRUE(WaitFor([&] { return Stat("ready_outbound_connections") >= shards(); }, 15000))
      << proxy_->Log();
}

tools::ClientCodecConfig AdversarialE2eTest::VictimConfig() const {
  tools::ClientCodecConfig c;
  std::optional<std::vector<uint8_t>> secret = HexDecode(kSecretHex);
  ClientSecret s{};
  std::copy(secret->begin(), secret->end(), s.begin());
  c.secret = s;
  if (options_.fake_tls) {
    c.tls_domain = kDomain;
    c.transport = Transport::kPadded;
  }
  return c;
}

std::unique_ptr<VictimClient> AdversarialE2eTest::ConnectVictim() {
  return VictimClient::Connect(port(), VictimConfig());
}

void AdversarialE2eTest::ExpectNewVictimsEcho(int count, int timeout_ms,
                                              const std::string& when) {
  std::string error;
  EXPECT_EQ(NewVictimsEcho(port(), VictimConfig(), count, timeout_ms, &error), count)
      << when << ": " << error << "\n"
      << CloseCounters();
}

std::unique_ptr<tools::ChildProcess> AdversarialE2eTest::SpawnHostile(
    std::vector<std::string> flags, bool with_secret) {
  std::vector<std::string> argv = {tools::ToolPath("mtp-hostile"), "--server",
                                   absl::StrCat("127.0.0.1:", port()), "--hold-seconds", "300",
                                   "--max-seconds", "400", "--settle-seconds", "30"};
  if (with_secret) argv.insert(argv.end(), {"--secret", kSecretHex});
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto child = tools::ChildProcess::Spawn(argv);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return nullptr;
  auto hostile = std::make_unique<tools::ChildProcess>(std::move(*child));
  absl::StatusOr<std::string> line = hostile->ReadLineWithPrefix("holding", 45000);
  EXPECT_TRUE(line.ok()) << line.status();
  if (line.ok()) std::fprintf(stderr, "mtp-hostile %s: %s\n", flags[1].c_str(), line->c_str());
  return hostile;
}

HostileReport AdversarialE2eTest::StopHostile(tools::ChildProcess& hostile) {
  HostileReport r;
  hostile.Signal(SIGTERM);
  absl::StatusOr<std::string> line = hostile.ReadLineWithPrefix("{", 15000);
  if (!line.ok()) return r;
  r.json = *line;
  r.ok = true;
  r.connected = JsonInt(r.json, "connected");
  r.held = JsonInt(r.json, "held");
  r.closed = JsonInt(r.json, "closed_eof") + JsonInt(r.json, "closed_rst");
  std::fprintf(stderr, "mtp-hostile report: %s\n", r.json.c_str());
  (void)hostile.Wait(10000);
  return r;
}

double AdversarialE2eTest::Metric(const std::string& series) {
  return MetricValue(HttpBody(HttpGet(stats_port_, "/metrics")), series).value_or(-1);
}

double AdversarialE2eTest::FamilySum(const std::string& family) {
  std::istringstream body(HttpBody(HttpGet(stats_port_, "/metrics")));
  double sum = 0;
  for (std::string line; std::getline(body, line);) {
    if (line.rfind(family, 0) != 0) continue;
    const char next = line.size() > family.size() ? line[family.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    sum += strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

int64_t AdversarialE2eTest::Stat(const std::string& key) {
  return StatsInt(HttpBody(HttpGet(stats_port_, "/stats")), key).value_or(-1);
}

double AdversarialE2eTest::ExplainedCloses() {
  // Sheds of unserved input are client closes (reason shed_pre_auth / shed_partial_frame);
  // accepted sockets closed at once (connection limit, ...) count as accept failures.
  return FamilySum("mtproxy_client_closes_total") +
         FamilySum("mtproxy_connections_closed_total") +
         FamilySum("mtproxy_accept_failures_total");
}

std::string AdversarialE2eTest::CloseCounters() {
  std::istringstream body(HttpBody(HttpGet(stats_port_, "/metrics")));
  std::string out;
  for (std::string line; std::getline(body, line);) {
    const bool close_family = line.rfind("mtproxy_client_closes_total", 0) == 0 ||
                              line.rfind("mtproxy_connections_closed_total", 0) == 0 ||
                              line.rfind("mtproxy_accept_failures_total", 0) == 0 ||
                              line.rfind("mtproxy_dropped_total", 0) == 0 ||
                              line.rfind("mtproxy_buffer_pressure_total", 0) == 0;
    if (close_family && line.substr(line.rfind(' ') + 1) != "0") out += line + "\n";
  }
  return out;
}

void AdversarialE2eTest::ExpectClosesExplained(const HostileReport& report) {
  ASSERT_TRUE(report.ok) << "mtp-hostile printed no report";
  EXPECT_TRUE(WaitFor([&] { return ExplainedCloses() >= report.closed; }, 5000))
      << "the proxy closed " << report.closed << " attackers but counts "
      << ExplainedCloses() << " closes with a reason\n"
      << report.json;
}

int64_t AdversarialE2eTest::ProcStatusKib(const char* field) {
  std::string status = ReadFile(absl::StrCat("/proc/", proxy_->pid(), "/status"));
  std::smatch m;
  if (!std::regex_search(status, m, std::regex(std::string(field) + ":\\s+([0-9]+) kB"))) {
    return -1;
  }
  return std::stoll(m[1]);
}

int64_t AdversarialE2eTest::RssBoundKib() const {
  const int64_t budget = std::max<int64_t>(
      static_cast<int64_t>(options_.msg_buffers_bytes / 1024), 16 * kMiB * shards());
  const int64_t per_shard = 8 * kMiB + 10 * kMiB + kMiB / 4 + 4 * kMiB;
  const int64_t process = 48 * kMiB + (options_.fake_tls ? 8 * kMiB : 0);
  return budget + per_shard * shards() + process;
}

void AdversarialE2eTest::ExpectRssBounded(const std::string& when) {
  const int64_t peak = ProcStatusKib("VmHWM");
  std::fprintf(stderr, "proxy RSS %s: now %lld KiB, peak %lld KiB, bound %lld KiB\n",
               when.c_str(), static_cast<long long>(ProcStatusKib("VmRSS")),
               static_cast<long long>(peak), static_cast<long long>(RssBoundKib()));
  EXPECT_GT(peak, 0);
  if (kAddressSanitizer) return;
  EXPECT_LE(peak, RssBoundKib()) << when;
}

}  // namespace mtp::e2e
