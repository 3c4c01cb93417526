// Append-only JSON-lines event log of the fake peers (--log-file): one line per event, written
// with a single write(2) so tests can grep it while the tool runs. Thread-safe (any thread).
#pragma once

#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "tools/json_line.h"

namespace mtp::tools {

class EventLog {
 public:
  EventLog() = default;
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Empty path = disabled (Write is a no-op).
  absl::Status Open(const std::string& path);
  bool enabled() const { return fd_ >= 0; }

  // Adds "ts" (unix seconds, fractional) after the caller's fields and writes the line.
  void Write(JsonLine line);

 private:
  std::mutex mu_;
  int fd_ = -1;
};

}  // namespace mtp::tools
