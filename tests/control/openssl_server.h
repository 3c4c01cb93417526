// Test helper: a real TLS server (`openssl s_server`) on a loopback port with a self-signed
// certificate generated for the test, killed (SIGKILL + waitpid) when the object dies. Used as
// the "real site" of a fake-TLS domain. Test thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mtp::testing {

// Path of the openssl binary, or empty when it is not installed (tests then skip).
std::string OpenSslBinary();

class OpenSslServer {
 public:
  struct Options {
    std::string common_name = "example.com";
    // s_server -tls1_3 -ciphersuites ... (the shape the probe expects).
    bool tls13_only = true;
    std::string ciphersuites = "TLS_AES_128_GCM_SHA256";
    // -www: answer "GET /" with a status page that starts with "<HTML>".
    bool www = true;
    std::vector<std::string> extra_args;  // appended to the s_server command line
    // s_server's working directory (-WWW serves files relative to it); empty = inherited.
    std::string working_dir;
  };

  // Generates the key and certificate, starts s_server on 127.0.0.1:<free port> and waits
  // (up to 10 s) until it accepts connections. nullptr (and a message on stderr) on failure.
  static std::unique_ptr<OpenSslServer> Start(const Options& options);
  static std::unique_ptr<OpenSslServer> Start() { return Start(Options()); }
  ~OpenSslServer();

  uint16_t port() const { return port_; }
  const std::string& cert_path() const { return cert_path_; }

 private:
  OpenSslServer() = default;

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
  std::string cert_path_;
};

// A loopback TCP port that was free a moment ago.
uint16_t PickFreePort();
// Runs `argv` (argv[0] a path) to completion with stdout/stderr to /dev/null; exit code or -1.
int RunQuietly(const std::vector<std::string>& argv, int timeout_ms);

}  // namespace mtp::testing
