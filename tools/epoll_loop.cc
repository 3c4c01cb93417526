// EpollLoop and SendQueue implementation.
#include "tools/epoll_loop.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mtp::tools {

absl::StatusOr<EpollLoop> EpollLoop::Create() {
  EpollLoop loop;
  loop.epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!loop.epfd_.valid()) {
    return absl::UnavailableError(absl::StrCat("epoll_create1: ", std::strerror(errno)));
  }
  loop.events_.resize(256);
  return loop;
}

absl::Status EpollLoop::Add(int fd, uint32_t events, EpollHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::UnavailableError(absl::StrCat("epoll_ctl add: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EpollLoop::Modify(int fd, uint32_t events, EpollHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return absl::UnavailableError(absl::StrCat("epoll_ctl mod: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void EpollLoop::Remove(int fd) { epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EpollLoop::RunOnce(int timeout_ms) {
  int n = epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n <= 0) return 0;
  for (int i = 0; i < n; ++i) {
    static_cast<EpollHandler*>(events_[i].data.ptr)->OnEvents(events_[i].events);
  }
  return n;
}

bool SendQueue::Flush(int fd, uint64_t* bytes_written, size_t max_bytes) {
  const size_t stop = max_bytes > 0 ? std::min(buf_.size(), off_ + max_bytes) : buf_.size();
  while (off_ < stop) {
    ssize_t n = ::send(fd, buf_.data() + off_, stop - off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off_ += static_cast<size_t>(n);
      if (bytes_written != nullptr) *bytes_written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return false;
  }
  if (off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > (1u << 20) && off_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(off_));
    off_ = 0;
  }
  return true;
}

}  // namespace mtp::tools
