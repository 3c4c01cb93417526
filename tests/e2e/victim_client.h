// A well-behaved client for the adversarial e2e suite: one connection through the proxy that
// echoes a frame on demand (plain, padded or fake-TLS, through tools/client_codec.h), so a
// test can keep one established victim across a whole attack and ask it for an echo at any
// moment. Blocking socket, every wait bounded. Test thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/client_codec.h"
#include "tools/net_util.h"

namespace mtp::e2e {

class VictimClient {
 public:
  // Connects to 127.0.0.1:port and sends the header (or ClientHello); nullptr if the connect
  // failed within `timeout_ms`.
  static std::unique_ptr<VictimClient> Connect(uint16_t port,
                                               const tools::ClientCodecConfig& config,
                                               int timeout_ms = 5000);

  // Sends one frame of `size` bytes (a multiple of 4, >= 56) and waits for its echo; completes
  // the fake-TLS handshake first if it is pending. False (see error()) on a timeout, a close
  // or a wrong answer.
  bool Echo(size_t size, int timeout_ms);
  const std::string& error() const { return error_; }

 private:
  VictimClient(tools::ClientCodec codec, tools::UniqueFd fd)
      : codec_(std::move(codec)), fd_(std::move(fd)) {}
  bool Send(int64_t deadline_ms);
  bool Fail(std::string error) {
    error_ = std::move(error);
    return false;
  }

  tools::ClientCodec codec_;
  tools::UniqueFd fd_;
  std::vector<uint8_t> out_;
  uint8_t seed_ = 1;
  std::string error_;
};

// Connects `count` new victims and asks each for one echo (sizes alternate between a small
// frame and one of several buffers); returns how many echoed, with the first error in *error.
int NewVictimsEcho(uint16_t port, const tools::ClientCodecConfig& config, int count, int timeout_ms,
                   std::string* error);

}  // namespace mtp::e2e
