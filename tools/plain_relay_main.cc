// mtp-plain-relay: the benchmark harness's relay floor. A plain TCP forwarder: each accepted
// connection gets its own connection to --upstream, and bytes are copied both ways through a
// user-space buffer with recv() and send(); no crypto, no framing. One epoll loop, one thread.
//
// Why it exists: a proxy pays two sockets in and two out for every byte it relays, where the
// echo servers of the other floors pay one each, and its round trip crosses loopback twice
// more. This relay pays exactly that and nothing else, so mtp-bench reads the proxy's figures
// against it too: with large frames what the proxy spends above it is its own work (crypto,
// framing, sessions), and a latency below it is out of reach for any relay. It is plain on
// purpose (one recv and one send per wake-up, no batching), so with small packets a batching
// relay can cost less.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tools/epoll_loop.h"
#include "tools/flags.h"
#include "tools/json_line.h"
#include "tools/net_util.h"
#include "tools/peer_main_util.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

// As large as the plain echo floor's receive (mtp-fake-dc --plain), so both floors make the
// same number of system calls per byte.
constexpr size_t kBufferBytes = 64 * 1024;

struct RelayStats {
  uint64_t accepted = 0;
  uint64_t upstream_failures = 0;
  uint64_t bytes = 0;  // relayed, both directions
  uint64_t open = 0;
  std::string first_failure;  // the first upstream failure's errno text (why the rest failed)

  void UpstreamFailed(std::string why) {
    ++upstream_failures;
    if (first_failure.empty()) first_failure = std::move(why);
  }
};

// Receive buffers, lent to a direction for one recv-and-send and taken back once it is all
// sent. Last in, first out, so a busy relay keeps reusing one hot buffer (as a buffer per
// direction would) while an idle connection holds none: the relay floor's idle figure is then
// what a relay must keep per connection, not two 64-KiB buffers it is not using.
class BufferPool {
 public:
  std::unique_ptr<uint8_t[]> Take() {
    if (free_.empty()) return std::unique_ptr<uint8_t[]>(new uint8_t[kBufferBytes]);
    std::unique_ptr<uint8_t[]> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void Give(std::unique_ptr<uint8_t[]> b) {
    if (b != nullptr && free_.size() < kMaxFree) free_.push_back(std::move(b));
  }

 private:
  static constexpr size_t kMaxFree = 64;  // kept after a burst of stalled directions
  std::vector<std::unique_ptr<uint8_t[]>> free_;
};

// One direction of a pair: bytes read from `from` and not yet written to `to`. The buffer is
// held only while such bytes exist.
struct Direction {
  std::unique_ptr<uint8_t[]> buffer;
  size_t head = 0;  // first unsent byte
  size_t tail = 0;  // end of received bytes
  bool eof = false;  // `from` said FIN; `to` gets a shutdown(SHUT_WR) once drained
  bool shut = false;

  size_t pending() const { return tail - head; }
};

class Pair;

// The epoll handler of one of a pair's two sockets.
class End : public EpollHandler {
 public:
  End(Pair* pair, bool upstream) : pair_(pair), upstream_(upstream) {}
  void OnEvents(uint32_t events) override;

 private:
  Pair* pair_;
  bool upstream_;
};

class Relay;

// A client connection and its upstream connection. Owned by Relay::pairs_; deleted by the loop
// after the event that finished it.
class Pair {
 public:
  Pair(Relay* relay, UniqueFd client, UniqueFd upstream)
      : relay_(relay), client_(std::move(client)), upstream_(std::move(upstream)) {}

  absl::Status Register(EpollLoop& loop);
  // Moves what it can both ways and updates the epoll interest. Returns false when the pair
  // is finished (both directions closed, or a socket error).
  bool Pump(EpollLoop& loop, bool upstream_writable);
  void Unregister(EpollLoop& loop);

 private:
  // Returns false on a socket error.
  bool Move(Direction& d, int from, int to, uint64_t* bytes);
  static uint32_t Interest(const Direction& out_of, const Direction& into);

  Relay* relay_;
  UniqueFd client_;
  UniqueFd upstream_;
  End client_end_{this, false};
  End upstream_end_{this, true};
  Direction up_;    // client -> upstream
  Direction down_;  // upstream -> client
  bool connected_ = false;  // the upstream connect completed
  uint32_t client_events_ = 0;
  uint32_t upstream_events_ = 0;

  friend class End;
};

class Relay {
 public:
  Relay(EpollLoop loop, int listen_fd, SocketAddress upstream)
      : loop_(std::move(loop)), listen_fd_(listen_fd), upstream_(upstream) {}

  void Run();
  void Finish(Pair* pair) { finished_.push_back(pair); }
  RelayStats& stats() { return stats_; }
  BufferPool& buffers() { return buffers_; }
  EpollLoop& loop() { return loop_; }

 private:
  class Acceptor : public EpollHandler {
   public:
    explicit Acceptor(Relay* relay) : relay_(relay) {}
    void OnEvents(uint32_t) override { relay_->AcceptAll(); }

   private:
    Relay* relay_;
  };
  void AcceptAll();

  EpollLoop loop_;
  int listen_fd_;
  SocketAddress upstream_;
  Acceptor acceptor_{this};
  std::unordered_map<Pair*, std::unique_ptr<Pair>> pairs_;
  std::vector<Pair*> finished_;
  RelayStats stats_;
  BufferPool buffers_;
};

void End::OnEvents(uint32_t events) {
  Relay* relay = pair_->relay_;
  if (!pair_->Pump(relay->loop(), upstream_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))) {
    relay->Finish(pair_);
  }
}

absl::Status Pair::Register(EpollLoop& loop) {
  // The client is not read until the upstream connect completes (its bytes wait in the
  // kernel), so a level-triggered EPOLLIN cannot spin meanwhile.
  client_events_ = 0;
  upstream_events_ = EPOLLOUT;  // the connect's completion
  if (absl::Status st = loop.Add(client_.get(), client_events_, &client_end_); !st.ok()) {
    return st;
  }
  return loop.Add(upstream_.get(), upstream_events_, &upstream_end_);
}

void Pair::Unregister(EpollLoop& loop) {
  loop.Remove(client_.get());
  loop.Remove(upstream_.get());
}

bool Pair::Move(Direction& d, int from, int to, uint64_t* bytes) {
  for (;;) {
    if (d.pending() > 0) {
      ssize_t n = ::send(to, d.buffer.get() + d.head, d.pending(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      d.head += static_cast<size_t>(n);
      *bytes += static_cast<uint64_t>(n);
      if (d.pending() > 0) return true;  // the socket is full: wait for EPOLLOUT
      d.head = d.tail = 0;
      relay_->buffers().Give(std::move(d.buffer));
    }
    if (d.eof) {
      if (!d.shut) {
        ::shutdown(to, SHUT_WR);
        d.shut = true;
      }
      return true;
    }
    std::unique_ptr<uint8_t[]> buffer = relay_->buffers().Take();
    ssize_t n = ::recv(from, buffer.get(), kBufferBytes, 0);
    if (n <= 0) {
      relay_->buffers().Give(std::move(buffer));
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      d.eof = true;
      continue;
    }
    d.buffer = std::move(buffer);
    d.tail = static_cast<size_t>(n);
  }
}

// Readable while its outgoing direction has room and no FIN yet; writable while bytes wait for
// it in the other direction.
uint32_t Pair::Interest(const Direction& out_of, const Direction& into) {
  uint32_t events = 0;
  if (!out_of.eof && out_of.pending() == 0) events |= EPOLLIN;
  if (into.pending() > 0) events |= EPOLLOUT;
  return events;
}

bool Pair::Pump(EpollLoop& loop, bool upstream_writable) {
  if (!connected_) {
    if (!upstream_writable) return true;  // client bytes wait in the kernel until connected
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(upstream_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      relay_->stats().UpstreamFailed(std::strerror(err != 0 ? err : errno));
      return false;
    }
    connected_ = true;
  }
  uint64_t& bytes = relay_->stats().bytes;
  if (!Move(up_, client_.get(), upstream_.get(), &bytes)) return false;
  if (!Move(down_, upstream_.get(), client_.get(), &bytes)) return false;
  if (up_.shut && down_.shut) return false;  // both sides said FIN and got everything
  const uint32_t client_events = Interest(up_, down_);
  const uint32_t upstream_events = Interest(down_, up_);
  if (client_events != client_events_) {
    client_events_ = client_events;
    if (!loop.Modify(client_.get(), client_events, &client_end_).ok()) return false;
  }
  if (upstream_events != upstream_events_) {
    upstream_events_ = upstream_events;
    if (!loop.Modify(upstream_.get(), upstream_events, &upstream_end_).ok()) return false;
  }
  return true;
}

void Relay::AcceptAll() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: the next readiness retries
    ++stats_.accepted;
    UniqueFd client(fd);
    SetNoDelay(client.get());
    absl::StatusOr<UniqueFd> up = StartConnectTcp(upstream_);
    if (!up.ok()) {
      stats_.UpstreamFailed(up.status().ToString());
      continue;
    }
    auto pair = std::make_unique<Pair>(this, std::move(client), *std::move(up));
    if (!pair->Register(loop_).ok()) {
      pair->Unregister(loop_);
      continue;
    }
    ++stats_.open;
    Pair* key = pair.get();
    pairs_.emplace(key, std::move(pair));
  }
}

void Relay::Run() {
  if (!loop_.Add(listen_fd_, EPOLLIN, &acceptor_).ok()) {
    std::fprintf(stderr, "mtp-plain-relay: cannot watch the listener\n");
    RequestStop();
    return;
  }
  while (!StopRequested()) {
    loop_.RunOnce(100);
    // Deleted after the dispatch, so no handler of this batch points at a freed pair.
    for (Pair* p : finished_) {
      auto it = pairs_.find(p);
      if (it == pairs_.end()) continue;  // both ends finished it in one batch
      p->Unregister(loop_);
      pairs_.erase(it);
      --stats_.open;
    }
    finished_.clear();
  }
}

int Main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  std::string stats_file;
  double max_seconds = 0;

  FlagParser flags("mtp-plain-relay",
                   "Plain TCP relay (no crypto, no framing): every connection is forwarded to "
                   "--upstream\nand bytes are copied both ways through user space. The relay "
                   "floor of mtp-bench.");
  flags.AddString("listen", &listen,
                  "address to listen on, HOST:PORT or PORT (127.0.0.1); 0 = any free port. "
                  "Printed on stdout as 'listening HOST:PORT'",
                  "ADDR");
  flags.AddString("upstream", &upstream, "HOST:PORT every connection is forwarded to",
                  "ADDR");
  flags.AddString("stats-file", &stats_file,
                  "write the final counters as one JSON line here (default: stdout)", "FILE");
  flags.AddDouble("max-seconds", &max_seconds, "exit after this long (0 = until SIGTERM)", 0,
                  1e9, "S");
  flags.AddEpilog(
      "Example:\n"
      "  mtp-fake-dc --plain --listen 127.0.0.1:7000 &\n"
      "  mtp-plain-relay --listen 127.0.0.1:0 --upstream 127.0.0.1:7000\n"
      "Exit codes: 0 stopped by SIGTERM/SIGINT or --max-seconds; 1 startup failure; 2 usage.");
  flags.ParseOrExit(argc, argv);
  absl::StatusOr<SocketAddress> to = SocketAddress::Parse(upstream);
  if (upstream.empty() || !to.ok()) {
    std::fprintf(stderr, "mtp-plain-relay: --upstream HOST:PORT is required\n");
    return kExitUsage;
  }

  InstallStopSignals();
  RaiseFileLimit();
  std::vector<Listener> listeners;
  if (int rc = ListenOnAll("mtp-plain-relay", {listen}, &listeners); rc != kExitOk) return rc;
  (void)SetNonBlocking(listeners[0].fd.get());
  absl::StatusOr<EpollLoop> loop = EpollLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "mtp-plain-relay: %s\n", loop.status().ToString().c_str());
    return kExitFailure;
  }
  Relay relay(*std::move(loop), listeners[0].fd.get(), *to);
  std::thread worker([&relay] { relay.Run(); });
  WaitForStop(max_seconds);
  worker.join();

  const RelayStats& s = relay.stats();
  return WriteSummary("mtp-plain-relay",
                      JsonLine()
                          .Add("event", "summary")
                          .Add("accepted", s.accepted)
                          .Add("upstream_failures", s.upstream_failures)
                          .Add("relayed_bytes", s.bytes)
                          .Add("open", s.open)
                          .Add("first_upstream_failure", s.first_failure)
                          .str(),
                      stats_file);
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
