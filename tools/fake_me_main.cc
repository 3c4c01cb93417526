// mtp-fake-me: a fake Telegram middle-end for tests and benchmarks. Listens on loopback
// port(s), speaks the server side of the ME TCP-RPC protocol with a proxy-secret file, and
// echoes every RPC_PROXY_REQ payload back as RPC_PROXY_ANS. One thread per link.
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "tools/event_log.h"
#include "tools/fake_me_link.h"
#include "tools/flags.h"
#include "tools/net_util.h"
#include "tools/peer_main_util.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

constexpr size_t kSecretMinBytes = 32;
constexpr size_t kSecretMaxBytes = 256;

absl::StatusOr<std::vector<uint8_t>> ReadSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() < kSecretMinBytes || s.size() > kSecretMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a proxy secret has 32..256 bytes, this one has ", s.size()));
  }
  return std::vector<uint8_t>(s.begin(), s.end());
}

class LinkThreads {
 public:
  void Start(UniqueFd fd, const FakeMeOptions& options, FakeMeStats& stats, EventLog& log) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = ++next_id_;
    threads_.emplace_back([fd = std::move(fd), id, &options, &stats, &log]() mutable {
      ServeFakeMeLink(std::move(fd), id, options, stats, log);
    });
  }
  void JoinAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::mutex mu_;
  uint64_t next_id_ = 0;
  std::list<std::thread> threads_;
};

void AcceptLoop(int listen_fd, const FakeMeOptions& options, FakeMeStats& stats, EventLog& log,
                LinkThreads& links) {
  while (!StopRequested()) {
    if (!WaitReadable(listen_fd, MonotonicMillis() + 100)) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    links.Start(UniqueFd(fd), options, stats, log);
  }
}

int Main(int argc, char** argv) {
  std::vector<std::string> listens;
  std::string aes_pwd;
  int64_t close_ext_after = 0;
  int64_t drop_link_after = 0;
  bool no_crc32c = false;
  bool no_check_peer_pid = false;
  bool no_log_requests = false;
  std::string log_file;
  std::string stats_file;
  double max_seconds = 0;
  int64_t clock_offset = 0;
  int64_t misbehave_links = 0;
  int64_t stop_reading_after = 0;
  double half_close_after = 0;
  int64_t flood_on_size = 0;
  int64_t flood_bytes = 0;
  int64_t verbosity = 0;

  FlagParser flags("mtp-fake-me",
                   "Fake Telegram middle-end: serves the ME side of TCP-RPC and echoes every\n"
                   "RPC_PROXY_REQ payload back as RPC_PROXY_ANS on the same ext_conn_id.");
  flags.AddList("listen", &listens,
                "address to listen on, HOST:PORT or PORT (127.0.0.1); port 0 = any free port. "
                "Each bound address is printed on stdout as 'listening HOST:PORT'",
                "ADDR");
  flags.AddString("aes-pwd", &aes_pwd, "proxy-secret file shared with the proxy (required)",
                  "FILE");
  flags.AddInt("close-ext-after", &close_ext_after,
               "send RPC_CLOSE_EXT after N requests of a client connection (0 = never)", 0,
               INT64_MAX);
  flags.AddInt("drop-link-after", &drop_link_after,
               "close the TCP link after answering its N-th request (0 = never)", 0, INT64_MAX);
  flags.AddBool("no-crc32c", &no_crc32c, "refuse CRC32C (the link stays on CRC32)");
  flags.AddBool("no-check-peer-pid", &no_check_peer_pid,
                "accept a proxy handshake whose peer_pid does not match us");
  flags.AddInt("clock-offset", &clock_offset,
               "seconds added to the crypto_ts we send (clock-skew tests)", -100000, 100000);
  flags.AddInt("stop-reading-after", &stop_reading_after,
               "read no more from a link after N bytes (0 = never); see --misbehave-links", 0,
               INT64_MAX);
  flags.AddDouble("half-close-after", &half_close_after,
                  "shutdown(SHUT_WR) a link S seconds after accepting it, then only read (0 = "
                  "never); see --misbehave-links",
                  0, 1e6, "S");
  flags.AddInt("misbehave-links", &misbehave_links,
               "--stop-reading-after and --half-close-after apply to the first N links "
               "accepted (0 = every link)",
               0, INT64_MAX);
  flags.AddInt("flood-on-size", &flood_on_size,
               "a request whose payload has exactly N bytes is answered, besides its echo, "
               "with --flood-bytes of unsolicited 64-KiB answers on its connection",
               0, INT64_MAX);
  flags.AddInt("flood-bytes", &flood_bytes, "see --flood-on-size", 0, INT64_MAX);
  flags.AddString("log-file", &log_file,
                  "JSON-lines event log: link handshakes, requests, close_conn/close_ext",
                  "FILE");
  flags.AddBool("no-log-requests", &no_log_requests,
                "do not log each request (benchmarks) - links and closes are still logged");
  flags.AddString("stats-file", &stats_file,
                  "write the final counters as one JSON line here (default: stdout)", "FILE");
  flags.AddDouble("max-seconds", &max_seconds, "exit after this long (0 = until SIGTERM)", 0,
                  1e9, "S");
  flags.AddInt("verbosity", &verbosity, "log verbosity on stderr (0..3)", 0, 9);
  flags.AddEpilog(
      "Example:\n"
      "  mtp-fake-me --listen 127.0.0.1:0 --aes-pwd proxy-secret --log-file me.log\n"
      "Exit codes: 0 stopped by SIGTERM/SIGINT or --max-seconds; 1 startup failure; 2 usage.");
  flags.ParseOrExit(argc, argv);
  SetLogVerbosity(static_cast<int>(verbosity));

  if (aes_pwd.empty()) {
    std::fprintf(stderr, "mtp-fake-me: --aes-pwd is required\n");
    return kExitUsage;
  }
  if (listens.empty()) listens.push_back("127.0.0.1:0");

  InstallStopSignals();
  RaiseFileLimit();

  FakeMeOptions options;
  absl::StatusOr<std::vector<uint8_t>> secret = ReadSecret(aes_pwd);
  if (!secret.ok()) {
    std::fprintf(stderr, "mtp-fake-me: %s\n", secret.status().ToString().c_str());
    return kExitFailure;
  }
  options.secret = *std::move(secret);
  options.close_ext_after = static_cast<uint64_t>(close_ext_after);
  options.drop_link_after = static_cast<uint64_t>(drop_link_after);
  options.crc32c = !no_crc32c;
  options.check_peer_pid = !no_check_peer_pid;
  options.log_requests = !no_log_requests;
  options.clock_offset_s = static_cast<int32_t>(clock_offset);
  options.start_unix = time(nullptr);
  options.misbehave_links = static_cast<uint64_t>(misbehave_links);
  options.stop_reading_after = static_cast<uint64_t>(stop_reading_after);
  options.half_close_after_ms = static_cast<int64_t>(half_close_after * 1000);
  options.flood_on_size = static_cast<uint64_t>(flood_on_size);
  options.flood_bytes = static_cast<uint64_t>(flood_bytes);

  EventLog log;
  if (absl::Status st = log.Open(log_file); !st.ok()) {
    std::fprintf(stderr, "mtp-fake-me: %s\n", st.ToString().c_str());
    return kExitFailure;
  }

  std::vector<Listener> listeners;
  if (int rc = ListenOnAll("mtp-fake-me", listens, &listeners); rc != kExitOk) return rc;

  FakeMeStats stats;
  LinkThreads links;
  std::vector<std::thread> acceptors;
  for (const Listener& l : listeners) {
    acceptors.emplace_back(AcceptLoop, l.fd.get(), std::cref(options), std::ref(stats),
                           std::ref(log), std::ref(links));
  }
  int sig = WaitForStop(max_seconds);
  MTP_LOG(1, "stopping (%s)", sig != 0 ? "signal" : "time limit");
  for (std::thread& t : acceptors) t.join();
  links.JoinAll();

  return WriteSummary("mtp-fake-me", stats.ToJson().Add("event", "summary").str(), stats_file);
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
