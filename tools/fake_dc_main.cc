// mtp-fake-dc: a fake Telegram DC for the proxy's direct mode (and for testing the client
// without a proxy). Accepts obfuscated2 connections without a secret (as DCs do) or, with
// --secret / --tls-domain, like a proxy front-end would; decodes frames of any of the three
// transports and echoes each payload back as a frame (quick acks answered first). epoll, one
// loop per --threads. With --plain it is a plain TCP echo server instead (bytes mirrored, no
// crypto, no framing): the no-proxy floor of the benchmarks.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/hex.h"
#include "core/log.h"
#include "crypto/secret.h"
#include "tools/echo_payload.h"
#include "tools/epoll_loop.h"
#include "tools/event_log.h"
#include "tools/flags.h"
#include "tools/json_line.h"
#include "tools/net_util.h"
#include "tools/peer_main_util.h"
#include "tools/server_codec.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

constexpr size_t kMaxPendingOutputBytes = 8u << 20;  // stop reading above this (backpressure)
constexpr size_t kPlainEchoChunkBytes = 64 * 1024;   // --plain: one recv() at most

struct DcOptions {
  ServerCodecConfig codec;
  uint64_t close_after = 0;
  uint64_t stop_reading_after = 0;  // 0 = never
  bool quick_acks = true;
  bool plain = false;  // mirror bytes: a plain TCP echo server (benchmark floor)
};

struct DcStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> handshakes{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> frame_errors{0};
  std::atomic<uint64_t> frames{0};
  std::atomic<uint64_t> payload_bytes{0};
  std::atomic<uint64_t> quick_acks{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> by_transport[3] = {};
  std::atomic<uint64_t> tls{0};

  JsonLine ToJson() const {
    auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return JsonLine()
        .Add("accepted", v(accepted))
        .Add("handshakes", v(handshakes))
        .Add("rejected", v(rejected))
        .Add("frame_errors", v(frame_errors))
        .Add("frames", v(frames))
        .Add("payload_bytes", v(payload_bytes))
        .Add("quick_acks", v(quick_acks))
        .Add("open", v(open))
        .Add("abridged", v(by_transport[0]))
        .Add("intermediate", v(by_transport[1]))
        .Add("padded", v(by_transport[2]))
        .Add("tls", v(tls));
  }
};

class Worker;

class DcConn : public EpollHandler {
 public:
  DcConn(Worker& worker, UniqueFd fd, uint16_t local_port, std::string peer);
  void Register();
  void OnEvents(uint32_t events) override;
  void Close(const std::string& reason);

 private:
  bool ReadSome();
  bool EchoPlain();
  void UpdateInterest();

  Worker& worker_;
  UniqueFd fd_;
  ServerCodec codec_;
  SendQueue out_;
  std::string peer_;
  uint64_t frames_ = 0;
  uint32_t interest_ = 0;
  bool closing_ = false;
  bool stopped_reading_ = false;  // --stop-reading-after reached: open, never read again
};

class Worker : public EpollHandler {
 public:
  Worker(const DcOptions& options, DcStats& stats, EventLog& log, int listen_fd,
         uint16_t local_port, EpollLoop loop)
      : options_(options), stats_(stats), log_(log), listen_fd_(listen_fd),
        local_port_(local_port), loop_(std::move(loop)) {}

  void Run() {
    if (!loop_.Add(listen_fd_, EPOLLIN | EPOLLEXCLUSIVE, this).ok()) return;
    while (!StopRequested()) loop_.RunOnce(100);
    loop_.Remove(listen_fd_);
    std::vector<DcConn*> all(conns_.begin(), conns_.end());
    for (DcConn* c : all) c->Close("stopping");
  }

  void OnEvents(uint32_t) override {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      SetNoDelay(fd);
      stats_.accepted.fetch_add(1, std::memory_order_relaxed);
      stats_.open.fetch_add(1, std::memory_order_relaxed);
      std::string peer =
          SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len).ToString();
      auto* conn = new DcConn(*this, UniqueFd(fd), local_port_, std::move(peer));
      conns_.insert(conn);
      conn->Register();
    }
  }

  void Forget(DcConn* conn) {
    conns_.erase(conn);
    stats_.open.fetch_sub(1, std::memory_order_relaxed);
  }

  const DcOptions& options() const { return options_; }
  DcStats& stats() { return stats_; }
  EventLog& log() { return log_; }
  EpollLoop& loop() { return loop_; }
  SimpleReplayCache& replay_cache() { return replay_cache_; }
  uint8_t* scratch() { return scratch_.data(); }

 private:
  const DcOptions& options_;
  DcStats& stats_;
  EventLog& log_;
  int listen_fd_;
  uint16_t local_port_;
  EpollLoop loop_;
  SimpleReplayCache replay_cache_;
  std::unordered_set<DcConn*> conns_;
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(kPlainEchoChunkBytes);
};

DcConn::DcConn(Worker& worker, UniqueFd fd, uint16_t local_port, std::string peer)
    : worker_(worker), fd_(std::move(fd)),
      codec_(&worker.options().codec, &worker.replay_cache(), local_port),
      peer_(std::move(peer)) {}

void DcConn::Register() {
  interest_ = EPOLLIN | EPOLLRDHUP;
  if (!worker_.loop().Add(fd_.get(), interest_, this).ok()) Close("epoll add failed");
}

void DcConn::UpdateInterest() {
  uint32_t want = stopped_reading_                           ? uint32_t{EPOLLRDHUP}
                  : out_.pending() > kMaxPendingOutputBytes ? 0u
                                                            : uint32_t{EPOLLIN | EPOLLRDHUP};
  if (!out_.empty()) want |= EPOLLOUT;
  if (want != interest_) {
    interest_ = want;
    (void)worker_.loop().Modify(fd_.get(), interest_, this);
  }
}

void DcConn::Close(const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  MTP_LOG(1, "%s: closed after %d frames: %s", peer_, frames_, reason);
  worker_.log().Write(JsonLine()
                          .Add("event", "closed")
                          .Add("peer", peer_)
                          .Add("frames", frames_)
                          .Add("reason", reason));
  worker_.loop().Remove(fd_.get());
  worker_.Forget(this);
  delete this;
}

// --plain: receive into the worker's scratch buffer and send it straight back; only what the
// socket does not take is queued. Returns false if the connection was closed.
bool DcConn::EchoPlain() {
  DcStats& stats = worker_.stats();
  for (int round = 0; round < 8; ++round) {
    if (out_.pending() > kMaxPendingOutputBytes) return true;
    uint8_t* buf = worker_.scratch();
    ssize_t n = ::recv(fd_.get(), buf, kPlainEchoChunkBytes, MSG_DONTWAIT);
    if (n == 0) {
      Close("peer closed");
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      Close(absl::StrCat("recv: ", std::strerror(errno)));
      return false;
    }
    stats.payload_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    size_t sent = 0;
    if (out_.empty()) {
      ssize_t s = ::send(fd_.get(), buf, static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        Close(absl::StrCat("send: ", std::strerror(errno)));
        return false;
      }
      sent = s > 0 ? static_cast<size_t>(s) : 0;
    }
    if (sent < static_cast<size_t>(n)) {
      out_.buffer().insert(out_.buffer().end(), buf + sent, buf + n);
      if (!out_.Flush(fd_.get())) {
        Close("send failed");
        return false;
      }
    }
  }
  return true;
}

// Returns false if the connection was closed.
bool DcConn::ReadSome() {
  if (worker_.options().plain) return EchoPlain();
  DcStats& stats = worker_.stats();
  // A bounded number of reads per wake-up keeps the loop fair between connections.
  for (int round = 0; round < 8; ++round) {
    if (stopped_reading_ || out_.pending() > kMaxPendingOutputBytes) return true;
    MutableByteSpan buf = codec_.ReceiveBuffer();
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n == 0) {
      Close("peer closed");
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        codec_.ReleaseIfEmpty();  // idle connections keep no receive buffer
        return true;
      }
      if (errno == EINTR) continue;
      Close(absl::StrCat("recv: ", std::strerror(errno)));
      return false;
    }
    absl::Status st = codec_.CommitReceived(static_cast<size_t>(n), &out_.buffer());
    if (!st.ok()) {
      stats.rejected.fetch_add(1, std::memory_order_relaxed);
      Close(st.ToString());
      return false;
    }
    for (;;) {
      absl::StatusOr<ServerCodec::Event> ev = codec_.Next();
      if (!ev.ok()) {
        stats.frame_errors.fetch_add(1, std::memory_order_relaxed);
        Close(ev.status().ToString());
        return false;
      }
      if (ev->kind == ServerCodec::EventKind::kNone) break;
      if (ev->kind == ServerCodec::EventKind::kHandshake) {
        stats.handshakes.fetch_add(1, std::memory_order_relaxed);
        stats.by_transport[static_cast<int>(codec_.transport())].fetch_add(
            1, std::memory_order_relaxed);
        if (codec_.fake_tls()) stats.tls.fetch_add(1, std::memory_order_relaxed);
        MTP_LOG(1, "%s: dc %d transport %s%s", peer_, codec_.dc_id(),
                std::string(TransportName(codec_.transport())),
                codec_.fake_tls() ? " (fake-TLS)" : "");
        worker_.log().Write(JsonLine()
                                .Add("event", "handshake")
                                .Add("peer", peer_)
                                .Add("dc", int64_t{codec_.dc_id()})
                                .Add("transport", TransportName(codec_.transport()))
                                .Add("tls", codec_.fake_tls())
                                .Add("secret_index", int64_t{codec_.secret_index()}));
        continue;
      }
      ++frames_;
      stats.frames.fetch_add(1, std::memory_order_relaxed);
      stats.payload_bytes.fetch_add(ev->payload.size(), std::memory_order_relaxed);
      if (ev->quick_ack && worker_.options().quick_acks) {
        codec_.AppendQuickAck(EchoQuickAckToken(ev->payload), &out_.buffer());
        stats.quick_acks.fetch_add(1, std::memory_order_relaxed);
      }
      codec_.AppendFrame(ev->payload, &out_.buffer());
      if (worker_.options().close_after != 0 && frames_ >= worker_.options().close_after) {
        out_.Flush(fd_.get());
        Close("--close-after reached");
        return false;
      }
      if (worker_.options().stop_reading_after != 0 &&
          frames_ >= worker_.options().stop_reading_after) {
        // A peer that stops reading: what is already buffered stays unread, the socket open.
        stopped_reading_ = true;
        MTP_LOG(1, "%s: stopped reading after %d frames", peer_, frames_);
        worker_.log().Write(
            JsonLine().Add("event", "stopped_reading").Add("peer", peer_).Add("frames", frames_));
        break;
      }
    }
    if (!out_.Flush(fd_.get())) {
      Close("send failed");
      return false;
    }
  }
  return true;
}

void DcConn::OnEvents(uint32_t events) {
  if ((events & EPOLLERR) != 0) {
    Close("socket error");
    return;
  }
  if ((events & EPOLLOUT) != 0 && !out_.Flush(fd_.get())) {
    Close("send failed");
    return;
  }
  if (stopped_reading_ && (events & (EPOLLHUP | EPOLLRDHUP)) != 0) {
    Close("peer closed (not reading)");
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0 && !ReadSome()) return;
  UpdateInterest();
}

absl::StatusOr<std::vector<ClientSecret>> ParseSecrets(const std::vector<std::string>& texts) {
  std::vector<ClientSecret> out;
  for (const std::string& t : texts) {
    absl::StatusOr<LinkSecret> s = ParseLinkSecret(t);
    if (!s.ok()) return s.status();
    out.push_back(s->secret);
  }
  return out;
}

int Main(int argc, char** argv) {
  std::vector<std::string> listens;
  std::vector<std::string> secrets;
  std::vector<std::string> domains;
  int64_t threads = 1;
  int64_t close_after = 0;
  int64_t stop_reading_after = 0;
  bool no_quick_ack = false;
  bool plain = false;
  std::string log_file;
  std::string stats_file;
  double max_seconds = 0;
  int64_t verbosity = 0;

  FlagParser flags(
      "mtp-fake-dc",
      "Fake Telegram DC: an obfuscated2 endpoint (no secret, as DCs accept) that echoes\n"
      "every frame's payload back as a frame, for the proxy's direct mode and client tests.");
  flags.AddList("listen", &listens,
                "address to listen on, HOST:PORT or PORT (127.0.0.1); 0 = any free port. "
                "Printed on stdout as 'listening HOST:PORT'",
                "ADDR");
  flags.AddInt("threads", &threads, "epoll loops", 1, 64);
  flags.AddList("secret", &secrets,
                "accept only headers made with this secret (32 hex, or a dd/ee link secret), "
                "like a proxy front-end; default: no secret, like a DC",
                "HEX");
  flags.AddList("tls-domain", &domains,
                "accept only fake-TLS connections for this SNI (needs --secret)", "DOMAIN");
  flags.AddInt("close-after", &close_after,
               "close a connection after echoing N frames (0 = never)", 0, INT64_MAX);
  flags.AddInt("stop-reading-after", &stop_reading_after,
               "stop reading a connection after echoing N frames, keeping it open: a DC that "
               "no longer reads (0 = never)",
               0, INT64_MAX);
  flags.AddBool("no-quick-ack", &no_quick_ack, "ignore quick-ack requests");
  flags.AddBool("plain", &plain,
                "plain TCP echo server: every byte is sent back as it came, no obfuscated2, no "
                "frames (the benchmark floor; clients use --plain)");
  flags.AddString("log-file", &log_file,
                  "JSON-lines event log: one line per handshake (dc, transport) and close",
                  "FILE");
  flags.AddString("stats-file", &stats_file,
                  "write the final counters as one JSON line here (default: stdout)", "FILE");
  flags.AddDouble("max-seconds", &max_seconds, "exit after this long (0 = until SIGTERM)", 0,
                  1e9, "S");
  flags.AddInt("verbosity", &verbosity, "log verbosity on stderr (0..3)", 0, 9);
  flags.AddEpilog(
      "Example:\n"
      "  mtp-fake-dc --listen 127.0.0.1:0 --log-file dc.log\n"
      "Exit codes: 0 stopped by SIGTERM/SIGINT or --max-seconds; 1 startup failure; 2 usage.");
  flags.ParseOrExit(argc, argv);
  SetLogVerbosity(static_cast<int>(verbosity));

  DcOptions options;
  absl::StatusOr<std::vector<ClientSecret>> parsed = ParseSecrets(secrets);
  if (!parsed.ok()) {
    std::fprintf(stderr, "mtp-fake-dc: --secret: %s\n", parsed.status().ToString().c_str());
    return kExitUsage;
  }
  options.codec.secrets = *std::move(parsed);
  options.codec.tls_domains = domains;
  if (!domains.empty() && options.codec.secrets.empty()) {
    std::fprintf(stderr, "mtp-fake-dc: --tls-domain needs at least one --secret\n");
    return kExitUsage;
  }
  options.close_after = static_cast<uint64_t>(close_after);
  options.stop_reading_after = static_cast<uint64_t>(stop_reading_after);
  options.quick_acks = !no_quick_ack;
  options.plain = plain;
  if (plain && (!secrets.empty() || close_after != 0 || stop_reading_after != 0)) {
    std::fprintf(stderr, "mtp-fake-dc: --plain takes no --secret, --close-after or "
                         "--stop-reading-after\n");
    return kExitUsage;
  }
  if (listens.empty()) listens.push_back("127.0.0.1:0");

  InstallStopSignals();
  RaiseFileLimit();
  EventLog log;
  if (absl::Status st = log.Open(log_file); !st.ok()) {
    std::fprintf(stderr, "mtp-fake-dc: %s\n", st.ToString().c_str());
    return kExitFailure;
  }
  std::vector<Listener> listeners;
  if (int rc = ListenOnAll("mtp-fake-dc", listens, &listeners); rc != kExitOk) return rc;
  for (const Listener& l : listeners) (void)SetNonBlocking(l.fd.get());

  DcStats stats;
  std::vector<std::unique_ptr<Worker>> workers;
  for (const Listener& l : listeners) {
    for (int64_t i = 0; i < threads; ++i) {
      absl::StatusOr<EpollLoop> loop = EpollLoop::Create();
      if (!loop.ok()) {
        std::fprintf(stderr, "mtp-fake-dc: %s\n", loop.status().ToString().c_str());
        return kExitFailure;
      }
      workers.push_back(std::make_unique<Worker>(options, stats, log, l.fd.get(),
                                                 l.address.port(), *std::move(loop)));
    }
  }
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });
  WaitForStop(max_seconds);
  for (std::thread& t : running) t.join();

  return WriteSummary("mtp-fake-dc", stats.ToJson().Add("event", "summary").str(), stats_file);
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
