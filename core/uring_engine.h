// UringEngine: the IoEngine contract on io_uring: one ring per shard, provided-buffer ring for
// multishot receives, batched submission (one io_uring_enter per Poll), eventfd wake-ups.
//
// Wake-up mechanism: an eventfd with one IORING_OP_READ of 8 bytes always armed on it.
// Wake() (any thread) writes the eventfd; the read completes, Poll returns, and the engine
// re-arms the read. Coalesced by an atomic flag so a burst of Wake() costs one write(2).
// (MSG_RING would avoid the syscall but needs the waker to own a ring; control threads don't.)
//
// Thread ownership: the ring is created R_DISABLED and enabled by the first Poll(), which
// binds it (SINGLE_ISSUER/DEFER_TASKRUN) to that thread; every method except Wake() is called
// on that thread only.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/arena_buffer_pool.h"
#include "core/io_engine.h"

namespace mtp {

// What the start-up probe found (cached per process).
struct UringProbeResult {
  uint32_t setup_flags = 0;  // best accepted IORING_SETUP_* set (without R_DISABLED)
  uint32_t features = 0;     // IORING_FEAT_* reported by the kernel
  std::string description;   // e.g. "SINGLE_ISSUER|DEFER_TASKRUN"
};

// Probes io_uring once per process: setup flags, opcodes, multishot accept/recv with a
// provided-buffer ring, cancel-by-fd. Error status says why io_uring cannot be used.
// MTP_IO_URING=0 in the environment makes it report io_uring as unavailable.
absl::StatusOr<UringProbeResult> ProbeIoUring();

class UringEngine final : public IoEngine {
 public:
  static absl::StatusOr<std::unique_ptr<UringEngine>> Create(const IoEngineOptions& options);
  ~UringEngine() override;

  std::string_view name() const override { return "io_uring"; }
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

  // Tests: the next `n` submission-entry requests find the queue full and the kernel refusing
  // the early submit (memory pressure), as GetSqe() would see it.
  void FailNextSqesForTesting(uint32_t n) { fail_sqes_ = n; }

  uint32_t setup_flags() const { return setup_flags_; }

 private:
  static constexpr uint16_t kBufferGroup = 0;
  static constexpr uint32_t kMaxPendingConnects = 64;
  static constexpr uint32_t kMaxPendingSendVs = 128;

  UringEngine() = default;
  // nullptr only if the kernel refuses a submission to make room.
  io_uring_sqe* GetSqe();
  // GetSqe(), or queue a -EAGAIN completion for `user_data` and return nullptr.
  io_uring_sqe* GetSqeOrFail(uint64_t user_data);
  // Submits everything queued (enabling the ring on first use). Returns io_uring_submit's
  // result.
  int SubmitPending();
  bool EnsureEnabled();
  void ArmWakeRead();
  void HandleInternal(const io_uring_cqe& cqe);

  io_uring ring_{};
  bool ring_initialised_ = false;
  bool enabled_ = false;
  uint32_t setup_flags_ = 0;
  std::unique_ptr<ArenaBufferPool> pool_;

  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;  // target of the armed eventfd read
  bool wake_read_armed_ = false;
  std::atomic<bool> wake_pending_{false};

  // The kernel copies a connect address while the SQE is submitted; keep callers' addresses
  // alive until the next submit.
  std::vector<sockaddr_storage> connect_addrs_;
  uint32_t connect_addr_count_ = 0;
  // The same for SendV's msghdr and iovec array: with IORING_FEAT_SUBMIT_STABLE (required by
  // the probe) the kernel has copied both once it has consumed the SQE, so a fixed set of
  // slots, reused after every full submit, carries any number of sends without allocating.
  struct SendVSlot {
    msghdr msg;
    iovec iov[kMaxSendSegments];
  };
  std::vector<SendVSlot> sendv_slots_;
  uint32_t sendv_count_ = 0;
  // Called after every submit: the slots are free once the kernel consumed every SQE.
  void ReleaseSubmitCopies();

  std::vector<IoCompletion> failed_;  // ops that could not be queued (-EAGAIN), rare
  // Cancels that found no free SQE: retried at the top of every Poll until queued. Dropping
  // one would leave its op armed forever, and its session (fd and slot) with it.
  struct PendingCancel {
    bool by_fd;
    int fd;
    uint64_t user_data;
  };
  std::vector<PendingCancel> pending_cancels_;
  bool QueueCancel(const PendingCancel& cancel);
  uint32_t fail_sqes_ = 0;  // FailNextSqesForTesting
  size_t failed_head_ = 0;
};

}  // namespace mtp
