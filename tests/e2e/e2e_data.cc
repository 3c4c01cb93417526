// Shared e2e test data.
#include "tests/e2e/e2e_data.h"

#include "core/hex.h"

namespace mtp::e2e {

std::vector<uint8_t> ProxySecretBytes() {
  std::vector<uint8_t> s(128);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i * 7 + 3);
  return s;
}

std::string ProxySecretText() {
  std::vector<uint8_t> s = ProxySecretBytes();
  return std::string(s.begin(), s.end());
}

ClientSecret MakeSecret(uint8_t seed) {
  ClientSecret s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(seed + i * 3);
  return s;
}

std::string Hex(const ClientSecret& s) { return HexEncode(s); }

std::vector<uint8_t> Message(size_t n, uint8_t seed) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i * 29 + seed);
  m[0] = 0x42;  // auth_key_id != 0 and not RPC_PING: always forwarded
  return m;
}

std::string ConfigFor(uint16_t port, int min_connections, int max_connections) {
  return "min_connections " + std::to_string(min_connections) + ";\nmax_connections " +
         std::to_string(max_connections) + ";\ndefault 2;\nproxy_for 2 127.0.0.1:" +
         std::to_string(port) + ";\n";
}

}  // namespace mtp::e2e
