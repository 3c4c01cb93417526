// EpollEngine: the IoEngine contract emulated on edge-triggered epoll. Readiness is turned
// into completions by doing the syscall (accept4/recv/send/SO_ERROR) inside Poll().
//
// Why edge-triggered: an fd is registered once (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) when its
// first op is armed and never modified while ops come and go, so pausing a Recv for
// backpressure or queueing a Send costs no epoll_ctl. Readiness is remembered per fd
// (readable/writable flags cleared on EAGAIN) so an fd left with work after its per-Poll
// budget is resumed from a ready list without waiting for a new edge.
//
// Thread ownership: the owning shard thread, except Wake() (any thread).
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/arena_buffer_pool.h"
#include "core/io_engine.h"

namespace mtp {

class EpollEngine final : public IoEngine {
 public:
  static absl::StatusOr<std::unique_ptr<EpollEngine>> Create(const IoEngineOptions& options);
  ~EpollEngine() override;

  std::string_view name() const override { return "epoll"; }
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
  void Wake() override;

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  // Per-visit budgets keep one busy fd from monopolising a Poll (fairness bound).
  static constexpr int kRecvPerVisit = 4;
  static constexpr int kAcceptPerVisit = 16;

  enum class OpState : uint8_t { kIdle, kArmed, kCancelled };
  enum class Registration : uint8_t { kUnknown, kFresh, kRegistered };

  struct Slot {
    uint64_t user_data = 0;
    OpState state = OpState::kIdle;
  };
  struct SendOp {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    const msghdr* msg = nullptr;  // SendMsg (data/len unused)
    uint32_t iov_count = 0;       // SendV: the copied vector (data/len/msg unused)
    iovec iov[kMaxSendSegments];
    uint32_t next = kNil;
    uint64_t user_data = 0;
    bool cancelled = false;
  };
  struct FdState {
    Slot accept;
    Slot recv;
    Slot connect;
    uint32_t send_head = kNil;
    uint32_t send_tail = kNil;
    uint32_t ops = 0;          // armed ops (cancelled ones until reported, queued sends)
    uint32_t cancelled_sends = 0;  // queued sends marked cancelled, not yet reported
    bool readable = false;     // no EAGAIN seen since the last EPOLLIN edge
    bool writable = false;     // no EAGAIN seen since the last EPOLLOUT edge
    bool hangup = false;       // RDHUP/HUP/ERR seen: keep reading until EOF/error
    bool in_ready = false;     // queued on ready_
    Registration registration = Registration::kUnknown;
  };

  explicit EpollEngine(std::unique_ptr<ArenaBufferPool> pool);

  FdState& State(int fd);
  // Accounts one more op on `fd`, registering it with epoll on the 0 -> 1 transition.
  // On failure queues an immediate completion (user_data, -errno) and returns false.
  bool AddOp(int fd, FdState& st, uint64_t user_data);
  void Immediate(uint64_t user_data, int32_t result);
  void MarkReady(int fd, FdState& st);
  static bool Actionable(const FdState& st);
  size_t ProcessReady(std::span<IoCompletion> out);
  size_t Service(int fd, FdState& st, std::span<IoCompletion> out);
  int WaitEvents(int64_t timeout_us);
  uint32_t AllocSend();
  // Queues a send and returns its slot (kNil if the fd could not be registered).
  uint32_t QueueSend(int fd, const uint8_t* data, uint32_t len, const msghdr* msg,
                     uint64_t user_data);

  std::unique_ptr<ArenaBufferPool> pool_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> wake_pending_{false};
  bool have_pwait2_ = true;

  std::vector<FdState> fds_;              // indexed by fd; grows (amortised) with the max fd
  std::vector<SendOp> sends_;             // slab of queued sends; grows when exhausted
  uint32_t send_free_ = kNil;
  std::vector<IoCompletion> immediate_;   // completions known at submit time (errors)
  size_t immediate_head_ = 0;
  std::vector<int> ready_;                // ring of fds with actionable work
  size_t ready_head_ = 0;
  size_t ready_count_ = 0;
  std::vector<epoll_event> events_;
};

}  // namespace mtp
