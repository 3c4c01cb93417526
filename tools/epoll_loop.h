// A minimal epoll reactor for the many-connection tools (fake-dc, loadgen): one loop per
// thread, handlers registered per fd, plus a buffered non-blocking stream helper. Owned by the
// thread that runs it; nothing here is thread-safe.
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "tools/net_util.h"

namespace mtp::tools {

class EpollHandler {
 public:
  virtual ~EpollHandler() = default;
  // `events` is the EPOLL* mask reported for the handler's fd.
  virtual void OnEvents(uint32_t events) = 0;
};

class EpollLoop {
 public:
  static absl::StatusOr<EpollLoop> Create();

  absl::Status Add(int fd, uint32_t events, EpollHandler* handler);
  absl::Status Modify(int fd, uint32_t events, EpollHandler* handler);
  void Remove(int fd);

  // One epoll_wait (at most `timeout_ms`, -1 = forever) and the dispatch of what it returned.
  // Returns the number of events dispatched.
  int RunOnce(int timeout_ms);

 private:
  EpollLoop() = default;
  UniqueFd epfd_;
  std::vector<epoll_event> events_;
};

// Output side of a non-blocking socket: queued bytes written as the socket accepts them.
class SendQueue {
 public:
  // The buffer to append to (bytes after pending() are free for the caller to add).
  std::vector<uint8_t>& buffer() { return buf_; }
  size_t pending() const { return buf_.size() - off_; }
  bool empty() const { return pending() == 0; }

  // Writes as much as the socket takes. Returns false on a socket error (not on EAGAIN).
  // `max_bytes` > 0 writes at most that many bytes (fragmentation tests).
  bool Flush(int fd, uint64_t* bytes_written = nullptr, size_t max_bytes = 0);

 private:
  std::vector<uint8_t> buf_;
  size_t off_ = 0;
};

}  // namespace mtp::tools
