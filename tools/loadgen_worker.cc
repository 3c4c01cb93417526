// LoadWorker: per-thread epoll engine of mtp-loadgen.
#include "tools/loadgen_worker.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "crypto/random.h"
#include "tools/echo_payload.h"

namespace mtp::tools {
namespace {

constexpr int kReadRoundsPerWakeup = 16;
constexpr int64_t kTickNs = 100'000'000;
constexpr size_t kMaxErrorSamples = 8;

}  // namespace

class LoadWorker::Conn : public EpollHandler {
 public:
  enum class State { kWaiting, kConnecting, kHandshake, kRunning, kHolding, kDone };

  explicit Conn(LoadWorker& worker) : w_(worker) {}
  ~Conn() override { CloseSocket(); }

  State state() const { return state_; }
  // A failed connection waits for the reconnect delay before it may start again.
  bool ready_to_start(int64_t now_ns) const {
    return state_ == State::kWaiting && now_ns >= retry_at_ns_;
  }

  void Start(int64_t now_ns) {
    const LoadOptions& o = w_.options_;
    absl::StatusOr<ClientCodec> codec = ClientCodec::Create(o.codec);
    if (!codec.ok()) {
      Fail("codec", codec.status().ToString());
      return;
    }
    codec_.emplace(*std::move(codec));
    tracker_.emplace(RandomAuthKeyId(), FastRandom64(), o.padding);
    out_ = SendQueue();
    frames_queued_ = 0;
    first_echo_ = false;
    connect_start_ns_ = now_ns;
    last_progress_ns_ = now_ns;
    absl::StatusOr<UniqueFd> fd = StartConnectTcp(o.server);
    if (!fd.ok()) {
      Fail("connect", fd.status().ToString());
      return;
    }
    fd_ = *std::move(fd);
    SetState(State::kConnecting);
    interest_ = EPOLLOUT;
    if (!w_.loop_->Add(fd_.get(), interest_, this).ok()) Fail("epoll", "epoll add failed");
  }

  void OnEvents(uint32_t events) override {
    const int64_t now = MonotonicNanos();
    if (state_ == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & EPOLLERR) != 0) {
        Fail("connect", std::strerror(err != 0 ? err : ECONNREFUSED));
        return;
      }
      if ((events & EPOLLOUT) == 0) return;
      w_.counters_.connects.fetch_add(1, std::memory_order_relaxed);
      SetState(State::kHandshake);
      codec_->Start(&out_.buffer());
      last_progress_ns_ = now;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0) {
      if (!Read(now)) return;
    }
    Pump(now);
  }

  // Timeouts; called every kTickNs.
  void Tick(int64_t now_ns) {
    if (state_ == State::kWaiting || state_ == State::kDone || state_ == State::kHolding) return;
    const bool waiting_for_server =
        state_ == State::kConnecting || state_ == State::kHandshake ||
        (tracker_.has_value() && tracker_->in_flight() > 0);
    if (waiting_for_server &&
        now_ns - last_progress_ns_ > w_.options_.timeout_ms * int64_t{1'000'000}) {
      Fail("timeout", absl::StrCat("no progress for ", w_.options_.timeout_ms, " ms (",
                                   StateName(), ")"));
    }
  }

  void Shutdown() {
    CloseSocket();
    SetState(State::kDone);
  }

 private:
  const char* StateName() const {
    switch (state_) {
      case State::kWaiting:
        return "waiting";
      case State::kConnecting:
        return "connecting";
      case State::kHandshake:
        return "handshake";
      case State::kRunning:
        return "running";
      case State::kHolding:
        return "holding";
      case State::kDone:
        return "done";
    }
    return "?";
  }

  void SetState(State s) {
    const bool was_pending = state_ == State::kConnecting || state_ == State::kHandshake;
    const bool is_pending = s == State::kConnecting || s == State::kHandshake;
    if (was_pending != is_pending) w_.pending_connects_ += is_pending ? 1 : -1;
    const bool was_established = state_ == State::kRunning || state_ == State::kHolding;
    const bool is_established = s == State::kRunning || s == State::kHolding;
    if (was_established != is_established) {
      if (is_established) {
        w_.counters_.established.fetch_add(1, std::memory_order_relaxed);
      } else {
        w_.counters_.established.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    state_ = s;
  }

  void CloseSocket() {
    if (fd_.valid()) {
      w_.loop_->Remove(fd_.get());
      fd_.reset();
    }
  }

  void Fail(const std::string& kind, const std::string& detail) {
    w_.CountError(kind, detail);
    CloseSocket();
    retry_at_ns_ = MonotonicNanos() + w_.options_.reconnect_delay_ms * int64_t{1'000'000};
    const LoadMode mode = w_.options_.mode;
    const bool again = mode == LoadMode::kChurn ||
                       (w_.options_.reconnect &&
                        (mode == LoadMode::kThroughput || mode == LoadMode::kLatency));
    SetState(again ? State::kWaiting : State::kDone);
  }

  int64_t Window() const {
    switch (w_.options_.mode) {
      case LoadMode::kThroughput:
        return w_.options_.window;
      case LoadMode::kLatency:
        return 1;
      case LoadMode::kChurn:
      case LoadMode::kIdle:
        return frames_queued_ == 0 ? 1 : 0;  // one round trip per connection
    }
    return 1;
  }

  size_t NextSize() const {
    const LoadOptions& o = w_.options_;
    if (o.size_max == o.size_min) return o.size_min;
    size_t words = (o.size_max - o.size_min) / 4 + 1;
    return o.size_min + 4 * static_cast<size_t>(FastRandomBelow(static_cast<uint32_t>(words)));
  }

  void Fill(int64_t now_ns) {
    if (state_ != State::kHandshake && state_ != State::kRunning) return;
    const int64_t window = Window();
    while (static_cast<int64_t>(tracker_->in_flight()) < window &&
           (w_.options_.mode == LoadMode::kThroughput || w_.options_.mode == LoadMode::kLatency ||
            frames_queued_ == 0)) {
      const int64_t k = w_.options_.quick_ack_every;
      const bool ack = k > 0 && (frames_queued_ % static_cast<uint64_t>(k)) == 0;
      const size_t size = NextSize();
      tracker_->SendGenerated(*codec_, size, ack, now_ns, &out_.buffer());
      w_.counters_.payload_bytes_sent.fetch_add(size, std::memory_order_relaxed);
      ++frames_queued_;
    }
  }

  // Flushes, refills and updates the epoll interest.
  void Pump(int64_t now_ns) {
    if (state_ == State::kWaiting || state_ == State::kDone) return;
    Fill(now_ns);
    uint64_t written = 0;
    if (!out_.Flush(fd_.get(), &written)) {
      Fail("send", "connection closed while sending");
      return;
    }
    w_.counters_.wire_bytes_sent.fetch_add(written, std::memory_order_relaxed);
    uint32_t want = EPOLLIN | EPOLLRDHUP;
    if (!out_.empty()) want |= EPOLLOUT;
    if (want != interest_) {
      interest_ = want;
      (void)w_.loop_->Modify(fd_.get(), interest_, this);
    }
  }

  // Returns false if the connection was closed.
  bool Read(int64_t now_ns) {
    for (int round = 0; round < kReadRoundsPerWakeup; ++round) {
      MutableByteSpan buf = codec_->ReceiveBuffer();
      ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n == 0) {
        Fail("closed", absl::StrCat("closed by the server (", StateName(), ", ",
                                    tracker_->verified(), " echoes)"));
        return false;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // Held idle connections keep no receive buffer (idle mode measures the proxy).
          if (state_ == State::kHolding) codec_->ReleaseIfEmpty();
          return true;
        }
        if (errno == EINTR) continue;
        Fail("closed", absl::StrCat("recv: ", std::strerror(errno), " (", StateName(), ")"));
        return false;
      }
      w_.counters_.wire_bytes_received.fetch_add(static_cast<uint64_t>(n),
                                                 std::memory_order_relaxed);
      last_progress_ns_ = now_ns;
      absl::Status st = codec_->CommitReceived(static_cast<size_t>(n), &out_.buffer());
      if (!st.ok()) {
        Fail(absl::IsPermissionDenied(st) ? "tls_rejected" : "bad_stream", st.ToString());
        return false;
      }
      if (!Drain(now_ns)) return false;
    }
    return true;
  }

  bool Drain(int64_t now_ns) {
    for (;;) {
      absl::StatusOr<ClientCodec::Event> ev = codec_->Next();
      if (!ev.ok()) {
        Fail("bad_frame", ev.status().ToString());
        return false;
      }
      if (ev->kind == ClientCodec::EventKind::kNone) return true;
      std::string error;
      if (ev->kind == ClientCodec::EventKind::kQuickAck) {
        if (!tracker_->OnQuickAck(ev->token, &error)) {
          Fail("mismatch", error);
          return false;
        }
        w_.counters_.quick_acks.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (state_ == State::kHolding) {
        Fail("unexpected", "data on an idle connection");
        return false;
      }
      int64_t rtt = 0;
      const size_t size = ev->payload.size();
      if (!tracker_->OnEcho(ev->payload, now_ns, &rtt, &error)) {
        Fail("mismatch", error);
        return false;
      }
      w_.counters_.frames_verified.fetch_add(1, std::memory_order_relaxed);
      w_.counters_.payload_bytes_verified.fetch_add(size, std::memory_order_relaxed);
      const bool measuring = w_.measuring_->load(std::memory_order_relaxed);
      if (measuring) w_.rtt_.Record(static_cast<uint64_t>(rtt));
      if (!first_echo_) {
        first_echo_ = true;
        w_.counters_.handshakes.fetch_add(1, std::memory_order_relaxed);
        if (measuring) {
          w_.handshake_time_.Record(static_cast<uint64_t>(now_ns - connect_start_ns_));
        }
        SetState(w_.options_.mode == LoadMode::kIdle ? State::kHolding : State::kRunning);
      }
      if (w_.options_.mode == LoadMode::kChurn) {
        CloseSocket();
        SetState(State::kWaiting);
        w_.start_wanted_ = true;
        return false;
      }
    }
  }

  LoadWorker& w_;
  UniqueFd fd_;
  std::optional<ClientCodec> codec_;
  std::optional<EchoTracker> tracker_;
  SendQueue out_;
  State state_ = State::kWaiting;
  uint32_t interest_ = 0;
  uint64_t frames_queued_ = 0;
  bool first_echo_ = false;
  int64_t connect_start_ns_ = 0;
  int64_t last_progress_ns_ = 0;
  int64_t retry_at_ns_ = 0;
};

LoadWorker::LoadWorker(const LoadOptions& options, size_t connections, int cpu)
    : options_(options), connection_count_(connections), cpu_(cpu) {}

LoadWorker::~LoadWorker() = default;

void LoadWorker::CountError(const std::string& kind, const std::string& detail) {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(errors_mu_);
  ++error_kinds_[kind];
  if (error_samples_.size() < kMaxErrorSamples) {
    error_samples_.push_back(absl::StrCat(kind, ": ", detail));
  }
  MTP_LOG(1, "loadgen: %s: %s", kind, detail);
}

std::map<std::string, uint64_t> LoadWorker::error_kinds() const {
  std::lock_guard<std::mutex> lock(errors_mu_);
  return error_kinds_;
}

std::vector<std::string> LoadWorker::error_samples() const {
  std::lock_guard<std::mutex> lock(errors_mu_);
  return error_samples_;
}

void LoadWorker::Run(const std::atomic<bool>& stop, const std::atomic<bool>& measuring) {
  if (cpu_ >= 0 && !PinThreadToCpu(cpu_)) MTP_WARN("cannot pin a loadgen thread to cpu %d", cpu_);
  absl::StatusOr<EpollLoop> loop = EpollLoop::Create();
  if (!loop.ok()) {
    CountError("epoll", loop.status().ToString());
    return;
  }
  loop_ = &*loop;
  measuring_ = &measuring;
  for (size_t i = 0; i < connection_count_; ++i) conns_.push_back(std::make_unique<Conn>(*this));

  int64_t last_tick = MonotonicNanos();
  int64_t last_rate = last_tick;
  double tokens = options_.connect_rate > 0 ? 1.0 : 0.0;
  size_t next_start = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const int64_t now = MonotonicNanos();
    if (options_.connect_rate > 0) {
      tokens = std::min(tokens + options_.connect_rate * (now - last_rate) / 1e9,
                        std::max(1.0, options_.connect_rate / 10));
      last_rate = now;
    }
    // Start waiting connections, bounded by the connect burst and the rate.
    start_wanted_ = false;
    for (size_t scanned = 0; scanned < conns_.size() &&
                             pending_connects_ < options_.max_pending_connects &&
                             (options_.connect_rate <= 0 || tokens >= 1.0);
         ++scanned) {
      Conn& c = *conns_[next_start];
      next_start = (next_start + 1) % conns_.size();
      if (!c.ready_to_start(now)) continue;
      c.Start(now);
      if (options_.connect_rate > 0) tokens -= 1.0;
    }
    // Do not sleep in epoll_wait while a connection is waiting to be reopened.
    loop_->RunOnce(start_wanted_ ? 0 : 10);
    if (now - last_tick >= kTickNs) {
      last_tick = now;
      for (auto& c : conns_) c->Tick(now);
    }
  }
  for (auto& c : conns_) c->Shutdown();
  conns_.clear();
  loop_ = nullptr;
}

}  // namespace mtp::tools
