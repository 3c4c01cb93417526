// Completion-based I/O engine owned by one shard thread: the contract between the reactor
// backends (io_uring, epoll) and the dataplane. Session code is written once against this
// interface; the epoll backend emulates completions (readiness -> syscall -> completion).
//
// Thread ownership: every method except Wake() is called only by the owning shard thread.
// An engine may be created on one thread and handed to another before its first use: the
// io_uring backend binds its ring (SINGLE_ISSUER) to the first thread that calls Poll().
//
// Rules shared by both backends (the dataplane cannot tell them apart):
//  * Submissions are queued and issued by the next Poll() (one io_uring_enter per Poll).
//  * A multishot op (Accept/Recv) is re-armed only after its final completion (more == false);
//    arming a second Recv/Accept on an fd that still has one armed is a caller bug.
//  * Every armed op produces exactly one final completion (more == false), including after
//    CancelOp/CancelAll, so callers can count in-flight ops down to zero before close(fd).
//  * user_data values >= kReservedUserDataMin are reserved for the engine's internal ops.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/buffer_pool.h"
#include "core/socket_address.h"
#include "core/socket_util.h"

namespace mtp {

struct IoCompletion {
  uint64_t user_data = 0;  // exactly what the submitter passed
  int32_t result = 0;      // bytes / new fd / 0 on success, -errno on failure
  int32_t buffer_id = -1;  // Recv only: provided buffer holding `result` bytes (caller owns it
                           // until it calls buffers().Release(buffer_id))
  bool more = false;       // multishot op (Accept/Recv) is still armed after this completion
};

// User data at or above this value is never passed to the caller (engine-internal ops).
inline constexpr uint64_t kReservedUserDataMin = 0xffff'ffff'ffff'ff00ULL;

// Most iovecs one SendV carries (its copy lives in the engine until the kernel has it).
inline constexpr int kMaxSendSegments = 16;

struct IoEngineOptions {
  uint32_t queue_depth = 4096;    // SQ entries (io_uring) / max events per wait (epoll)
  uint32_t buffer_count = 4096;   // buffers in the shard's pool (power of two, <= 65536)
  uint32_t buffer_size = 16384;   // bytes per buffer
  uint32_t recv_ring_count = 2048;  // of those, how many are lent to the kernel for receives
                                    // (power of two, <= 32768, <= buffer_count)
  bool populate_buffers = false;  // MAP_POPULATE the arena (commit its memory up front)
};

enum class IoBackend { kAuto, kIoUring, kEpoll };

class IoEngine {
 public:
  virtual ~IoEngine() = default;

  virtual std::string_view name() const = 0;  // "io_uring" or "epoll"
  virtual BufferPool& buffers() = 0;

  // Multishot accept: one completion per accepted socket (result = new fd, non-blocking,
  // close-on-exec). `more == false` means the op ended and must be re-armed.
  virtual void Accept(int listen_fd, uint64_t user_data) = 0;

  // Multishot receive into provided buffers: each completion carries one buffer
  // (buffer_id >= 0, result > 0 bytes). result == 0 is EOF; -ENOBUFS means the pool ran dry
  // (op ended; re-arm later). An idle connection holds no buffer.
  virtual void Recv(int fd, uint64_t user_data) = 0;

  // Sends [data, data+len). Completes once with the number of bytes sent, which may be short:
  // the caller re-submits the rest. `data` must stay valid until the completion.
  virtual void Send(int fd, const uint8_t* data, uint32_t len, uint64_t user_data) = 0;

  // Gathered send: the bytes of msg->msg_iov (msg_name null, no control data) in one
  // sendmsg, so a queue of several buffers crosses in one call. Completes like Send (possibly
  // short). `msg`, its iovec array and the bytes must stay valid until the completion. The
  // default sends only the first iovec, which is a legal short send.
  virtual void SendMsg(int fd, const msghdr* msg, uint64_t user_data) {
    const iovec& first = msg->msg_iov[0];
    Send(fd, static_cast<const uint8_t*>(first.iov_base), static_cast<uint32_t>(first.iov_len),
         user_data);
  }

  // Gathered send of the bytes of iov[0], ..., iov[count - 1] (1 <= count <=
  // kMaxSendSegments, no empty iovec) in one sendmsg(MSG_NOSIGNAL), so several queued buffers
  // cross in one call. The engine copies the iovec array (the caller may reuse it at once);
  // the bytes must stay valid until the completion. Completes like Send: once, with the
  // number of bytes sent, which may be short (and may end inside any iovec).
  virtual void SendV(int fd, const iovec* iov, int count, uint64_t user_data) = 0;

  // Non-blocking connect on a socket the caller created; completes with 0 or -errno.
  virtual void Connect(int fd, const sockaddr* addr, socklen_t addrlen, uint64_t user_data) = 0;

  // Cancels the armed op submitted with `user_data` (used to pause a multishot Recv for
  // backpressure). The op completes with -ECANCELED (or its natural result if it raced).
  virtual void CancelOp(int fd, uint64_t user_data) = 0;

  // Cancels every armed op on `fd`; each completes (with -ECANCELED or its natural result),
  // so a session can count its in-flight ops down to zero before closing the fd.
  virtual void CancelAll(int fd) = 0;

  // Submits what is queued, waits up to `timeout_us` (0 = don't wait, <0 = forever) for at
  // least one completion, and returns up to out.size() completions. Bounded per call.
  // May return 0 before the timeout (Wake(), signals, engine-internal completions).
  virtual int Poll(std::span<IoCompletion> out, int64_t timeout_us) = 0;

  // Wakes a thread blocked in Poll. Safe from any thread.
  virtual void Wake() = 0;

  // ---- Socket set-up and teardown (synchronous, cold path) ----
  // The dataplane opens, inspects and closes its sockets only through these, so a simulated
  // engine can hand out descriptors of its own. The defaults make the real system calls.
  virtual absl::StatusOr<int> OpenListener(const ListenOptions& options);
  virtual absl::StatusOr<int> OpenOutbound(int family, const OutboundOptions& options);
  virtual absl::StatusOr<SocketAddress> PeerAddressOf(int fd);
  virtual absl::StatusOr<SocketAddress> LocalAddressOf(int fd);
  // Per-socket options of an accepted client socket (TCP_WINDOW_CLAMP when > 0). The
  // listener's clamp is inherited only up to the listener's receive space (65536 by default on
  // Linux 6.x: a 131072 clamp on the listener arrives as 65536), so the full value is set on
  // every accepted socket, although it is 3 % of churn's CPU.
  virtual void TuneAccepted(int fd, int window_clamp_bytes);
  // close(2). Every armed op on `fd` must have reported its final completion first.
  virtual void Close(int fd);
};

absl::StatusOr<std::unique_ptr<IoEngine>> CreateIoUringEngine(const IoEngineOptions& options);
absl::StatusOr<std::unique_ptr<IoEngine>> CreateEpollEngine(const IoEngineOptions& options);
// kAuto probes io_uring (with the features we need) and falls back to epoll, logging why.
absl::StatusOr<std::unique_ptr<IoEngine>> CreateIoEngine(IoBackend backend,
                                                         const IoEngineOptions& options);

}  // namespace mtp
