// SimEngine: an IoEngine over a virtual network, for the deterministic simulator. Descriptors
// are numbers it hands out (never real fds); connections are pairs of byte queues between the
// proxy's descriptor and a simulated peer (tests/sim/sim_peers.h). Completions follow the
// IoEngine contract (core/io_engine.h) with faults drawn from the run's SimRandom: partial reads
// of every size, -ENOBUFS (pool dry or injected), multishot ops ending early, short sends,
// stalled sends (a peer that stops reading), cancels racing natural completions, connect
// failures and hangs, socket set-up failures. It also checks its caller: ops on closed or
// unknown descriptors, a second armed Recv/Accept, and close() with ops still in flight are
// recorded as violations.
//
// Thread ownership: one simulator run (the shard's thread is the simulator's thread).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/arena_buffer_pool.h"
#include "core/io_engine.h"
#include "tests/sim/sim_clock.h"
#include "tests/sim/sim_random.h"

namespace mtp::sim {

// Per-mille probabilities of the engine's faults, drawn once per run.
struct EngineFaults {
  uint32_t service = 1000;     // an fd with work is serviced in a given Poll
  uint32_t partial_read = 0;   // a recv returns fewer bytes than are queued
  uint32_t one_byte_read = 0;  // ... exactly one byte
  uint32_t enobufs = 0;        // a recv ends with -ENOBUFS although buffers are free
  uint32_t end_multishot = 0;  // a multishot completion is final (more == false)
  uint32_t short_send = 0;     // a send takes fewer bytes than offered
  uint32_t cancel_race = 0;    // a cancelled op completes naturally first
  uint32_t connect_fail = 0;   // an outbound connect is refused
  uint32_t connect_hang = 0;   // ... never completes (until cancelled)
  uint32_t open_fail = 0;      // OpenOutbound fails (descriptor exhaustion)
  uint32_t address_fail = 0;   // PeerAddressOf / LocalAddressOf fail
};

// A bug planted in the engine on purpose, to prove that the checker catches it.
enum class PlantedBug : uint8_t {
  kNone,
  kDropCompletion,  // one send's completion is never reported
  kCorruptByte,     // one received byte is flipped
  kLeakBuffer,      // one receive buffer is taken from the pool and never handed out
};

// Bytes in flight in one direction.
class ByteQueue {
 public:
  size_t size() const { return data_.size() - head_; }
  bool empty() const { return size() == 0; }
  const uint8_t* data() const { return data_.data() + head_; }
  void Append(const uint8_t* p, size_t n) { data_.insert(data_.end(), p, p + n); }
  void Consume(size_t n) {
    head_ += n;
    if (head_ == data_.size()) {
      data_.clear();
      head_ = 0;
    } else if (head_ > 65536 && head_ * 2 > data_.size()) {
      data_.erase(data_.begin(), data_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void Clear() {
    data_.clear();
    head_ = 0;
  }
  // PlantedBug::kCorruptByte: flips the byte `offset` bytes past the head.
  void FlipByte(size_t offset) { data_[head_ + offset] ^= 0x5a; }

 private:
  std::vector<uint8_t> data_;
  size_t head_ = 0;
};

// One TCP connection between a proxy descriptor and a simulated peer.
struct SimConn {
  uint32_t id = 0;
  int proxy_fd = -1;            // -1 until accepted (client conns) / always set (outbound)
  SocketAddress peer_address;   // the peer's end (client address, ME/DC address)
  SocketAddress proxy_address;  // the proxy's end
  ByteQueue to_proxy;           // written by the peer, not yet received by the proxy
  ByteQueue to_peer;            // sent by the proxy, not yet read by the peer
  uint32_t window = 65536;      // to_peer bound: sends stall while it is full
  bool peer_fin = false;        // the peer closed: the proxy reads EOF after to_proxy
  bool peer_gone = false;       // ... and reads no more: proxy sends fail with EPIPE
  bool proxy_closed = false;    // the proxy closed its fd: the peer reads EOF after to_peer
  bool reset = false;           // RST or link loss: both ends see ECONNRESET
  bool refused = false;         // never accepted (listener closed)
};

class SimEngine final : public IoEngine {
 public:
  struct Options {
    uint32_t buffer_count = 256;
    uint32_t buffer_size = 4096;
    uint32_t recv_ring_count = 64;
    EngineFaults faults;
    PlantedBug bug = PlantedBug::kNone;
    uint64_t bug_after_completions = 0;  // the planted bug fires at this completion count
  };

  static constexpr int kFirstFd = 1000;

  SimEngine(const Options& options, SimClock& clock, SimRandom& random);
  ~SimEngine() override;

  // ---- IoEngine ----
  std::string_view name() const override { return "sim"; }
  BufferPool& buffers() override { return *pool_; }
  void Accept(int listen_fd, uint64_t user_data) override;
  void Recv(int fd, uint64_t user_data) override;
  void Send(int fd, const uint8_t* data, uint32_t len, uint64_t user_data) override;
  void SendMsg(int fd, const msghdr* msg, uint64_t user_data) override;
  void SendV(int fd, const iovec* iov, int count, uint64_t user_data) override;
  void Connect(int fd, const sockaddr* addr, socklen_t addrlen, uint64_t user_data) override;
  void CancelOp(int fd, uint64_t user_data) override;
  void CancelAll(int fd) override;
  int Poll(std::span<IoCompletion> out, int64_t timeout_us) override;
  void Wake() override {}
  absl::StatusOr<int> OpenListener(const ListenOptions& options) override;
  absl::StatusOr<int> OpenOutbound(int family, const OutboundOptions& options) override;
  absl::StatusOr<SocketAddress> PeerAddressOf(int fd) override;
  absl::StatusOr<SocketAddress> LocalAddressOf(int fd) override;
  void TuneAccepted(int fd, int window_clamp_bytes) override;
  void Close(int fd) override;

  // ---- The simulated network (driven by the simulator and its peers) ----
  // A server peer listens at `address` (ME or DC); proxy connects there reach it.
  void AddServer(const SocketAddress& address, uint32_t server_id);
  // Connections the proxy opened to servers since the last call: {server id, conn id}.
  std::vector<std::pair<uint32_t, uint32_t>> TakeNewServerConns();
  // A client connects to the proxy's listener on `port`; returns the conn id (the conn is
  // refused at once, `refused`, if no listener is open on that port).
  uint32_t ClientConnect(uint16_t port, const SocketAddress& client_address);
  SimConn& conn(uint32_t id) { return *conns_[id]; }
  size_t conn_count() const { return conns_.size(); }

  // ---- What the checker reads ----
  struct FdInfo {
    int fd;
    char kind;  // 'L' listener, 'a' accepted, 'o' outbound
    bool closed;
    uint32_t ops;  // armed ops whose final completion has not been reported
    int32_t conn;  // -1 if none
  };
  std::vector<FdInfo> Fds() const;
  uint32_t OpsOn(int fd) const;
  bool IsOpen(int fd) const;
  // Violations of the IoEngine contract by the caller, in order (empty when none).
  const std::vector<std::string>& violations() const { return violations_; }
  // Descriptors closed since the last call (accepted ones are the client sessions' fds).
  std::vector<int> TakeClosed();
  uint64_t completions() const { return completions_; }
  ArenaBufferPool& pool() { return *pool_; }
  // Faults on/off (the quiesce phases turn them off).
  void set_faults(const EngineFaults& faults) { options_.faults = faults; }
  const EngineFaults& faults() const { return options_.faults; }
  std::string Describe(int fd) const;

 private:
  enum class Kind : uint8_t { kListener, kAccepted, kOutbound };
  struct Op {
    bool armed = false;
    bool cancelled = false;
    uint64_t user_data = 0;
  };
  struct SendOp {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    const msghdr* msg = nullptr;
    uint64_t user_data = 0;
    bool cancelled = false;
    std::vector<iovec> iov;  // SendV: the engine's copy of the vector (the bytes are read
                             // at completion, like a kernel that sends late)
  };
  struct FdState {
    Kind kind = Kind::kAccepted;
    bool closed = false;
    int32_t conn = -1;
    SocketAddress address;         // listener: bound address; outbound: connect target
    SocketAddress local;           // outbound: the proxy's end
    std::deque<uint32_t> backlog;  // listener: conns waiting for accept
    Op accept;
    Op recv;
    Op connect;
    int32_t connect_result = 0;  // decided at Connect(): 0, -errno
    double connect_ready_s = 0;  // when it completes (hang: never)
    bool connect_hang = false;
    std::deque<SendOp> sends;
    uint32_t ops() const {
      return uint32_t{accept.armed} + recv.armed + connect.armed +
             static_cast<uint32_t>(sends.size());
    }
  };

  FdState* Find(int fd, const char* what);
  int NewFd(Kind kind);
  void Violation(std::string what);
  size_t Service(int fd, FdState& st, std::span<IoCompletion> out);
  size_t ServiceAccept(int fd, std::span<IoCompletion> out);
  size_t ServiceRecv(FdState& st, std::span<IoCompletion> out);
  size_t ServiceSends(FdState& st, std::span<IoCompletion> out);
  bool ServiceConnect(int fd, FdState& st, IoCompletion* out);
  // Copies up to `max` bytes of a send into the peer's queue; returns the count.
  uint32_t Transmit(SimConn& c, const SendOp& op, uint32_t max);
  uint32_t SendLength(const SendOp& op) const;
  // The op's iovecs (SendMsg's or SendV's).
  static std::span<const iovec> Vector(const SendOp& op);
  void Emit(std::span<IoCompletion> out, size_t* n, uint64_t user_data, int32_t result,
            int32_t buffer_id, bool more);

  Options options_;
  SimClock& clock_;
  SimRandom& random_;
  std::unique_ptr<ArenaBufferPool> pool_;
  std::deque<FdState> fds_;  // index fd - kFirstFd; never reused (stable references)
  std::vector<int> open_fds_;
  std::vector<std::unique_ptr<SimConn>> conns_;
  std::vector<std::pair<SocketAddress, uint32_t>> servers_;
  std::vector<std::pair<uint32_t, uint32_t>> new_server_conns_;
  std::vector<std::string> violations_;
  std::vector<int> closed_;
  uint64_t completions_ = 0;
  bool bug_fired_ = false;
  int32_t leaked_buffer_ = -1;
};

}  // namespace mtp::sim
