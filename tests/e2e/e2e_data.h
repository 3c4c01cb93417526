// Test data the end-to-end suites share: the proxy secret, client secrets, frame payloads the
// proxy always forwards, a one-cluster proxy-multi.conf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/secret.h"

namespace mtp::e2e {

// 128 bytes shared by the proxy (--aes-pwd) and the fake middle-ends.
std::vector<uint8_t> ProxySecretBytes();
// The same bytes as a string, to write to a file.
std::string ProxySecretText();
ClientSecret MakeSecret(uint8_t seed);
std::string Hex(const ClientSecret& s);
// A frame payload the proxy always forwards (auth_key_id != 0).
std::vector<uint8_t> Message(size_t n, uint8_t seed);
// A proxy-multi.conf routing every DC to 127.0.0.1:port (DC 2 is the default cluster).
std::string ConfigFor(uint16_t port, int min_connections = 1, int max_connections = 2);

}  // namespace mtp::e2e
