// Helpers for the control-plane end-to-end tests: shared temp dirs the dropped user can use,
// the stats port from the proxy's log, loopback HTTP GET, /stats and /metrics value lookup,
// bounded waiting. Test thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crypto/secret.h"
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
// GET `path` from 127.0.0.1 (or ::1 with `ipv6`); the whole response, empty on failure.
std::string HttpGet(uint16_t port, const std::string& path, bool ipv6 = false);
// The body after the header block.
std::string HttpBody(const std::string& response);
// "key\tvalue" from a /stats body.
std::optional<std::string> StatsField(const std::string& body, const std::string& key);
std::optional<int64_t> StatsInt(const std::string& body, const std::string& key);
// A /metrics sample: `series` is the name with its labels exactly as printed.
std::optional<double> MetricValue(const std::string& body, const std::string& series);

bool WaitFor(const std::function<bool()>& f, int timeout_ms);

// Runs the proxy binary to completion (it must exit by itself within the timeout, else it is
// killed): exit code (-1 on timeout) and everything it wrote to stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string output;
};
RunResult RunProxyToExit(const std::vector<std::string>& args, int timeout_ms = 10000);

std::string Hex(const ClientSecret& s);
ClientSecret MakeSecret(uint8_t seed);
// 128 bytes shared by the proxy (--aes-pwd) and the fake middle-ends.
std::vector<uint8_t> ProxySecretBytes();
// A frame payload the proxy always forwards (auth_key_id != 0).
std::vector<uint8_t> Message(size_t n, uint8_t seed);
// A proxy-multi.conf routing every DC to 127.0.0.1:port (DC 2 is the default cluster).
std::string ConfigFor(uint16_t port, int min_connections = 1, int max_connections = 2);

}  // namespace mtp::e2e
