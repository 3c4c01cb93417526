// Helpers for the control-plane end-to-end tests: shared temp dirs the dropped user can use,
// the stats port from the proxy's log, loopback HTTP GET, /stats and /metrics value lookup,
// running the proxy to its exit. Test thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"

namespace mtp::e2e {

// A fresh directory under /tmp, mode 0777 (the proxy drops root to 'nobody' and must still
// re-read files on SIGHUP and create log files there). Removed by the destructor.
class SharedDir {
 public:
  SharedDir();
  ~SharedDir();
  const std::string& path() const { return path_; }
  // Writes (or replaces, atomically by rename) `name` with mode 0644; returns its path.
  std::string Write(const std::string& name, const std::string& content) const;
  std::string Read(const std::string& name) const;
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The port from the proxy's "stats port N" log line.
std::optional<uint16_t> StatsPort(ProxyProcess& proxy);
// GET `path` from 127.0.0.1 (or ::1 with `ipv6`) with "Connection: close", from the local IPv4
// address `from` when given (a loopback alias such as 127.0.0.2, to test peer allowlists);
// the whole response, empty on failure.
std::string HttpGet(uint16_t port, const std::string& path, bool ipv6 = false,
                    const char* from = nullptr);
// The body after the header block.
std::string HttpBody(const std::string& response);
// "key\tvalue" from a /stats body.
std::optional<std::string> StatsField(const std::string& body, const std::string& key);
std::optional<int64_t> StatsInt(const std::string& body, const std::string& key);
// A /metrics sample: `series` is the name with its labels exactly as printed.
std::optional<double> MetricValue(const std::string& body, const std::string& series);

// Runs the proxy binary to completion (it must exit by itself within the timeout, else it is
// killed): exit code (-1 on timeout) and everything it wrote to stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string output;
};
RunResult RunProxyToExit(const std::vector<std::string>& args, int timeout_ms = 10000);

}  // namespace mtp::e2e
