// One frame echoed through the proxy by an in-process loopback client
// (tests/dataplane/loopback_peers.h) and the fake middle-end behind it. Test thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/e2e_data.h"

namespace mtp::e2e {

// Sends Message(size, seed) and reads it back; false if sending failed or another answer (or
// none within the timeout) came.
inline bool EchoFrame(testing_peers::TestClient& client, size_t size, uint8_t seed,
                      int timeout_ms = 5000) {
  std::vector<uint8_t> msg = Message(size, seed);
  if (!client.SendFrame(msg)) return false;
  auto echo = client.ReadFrame(timeout_ms);
  return echo.has_value() && *echo == msg;
}

}  // namespace mtp::e2e
