// Key derivation for the encrypted proxy <-> middle-end TCP-RPC link (the reference's
// `aes_create_keys`): key-material string for IPv4/IPv6 sockets, --nat-info translation, and the
// AES-256-CBC key/IV pair of each direction for the client (proxy) or server (ME) role.
// Pure functions; cold path (once per ME connection). Any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"

namespace mtp {

// Which side of a TCP-RPC connection we are. The proxy is always the client of its MEs; the
// server role exists for our fake ME (tools/fake-me) and for tests.
enum class RpcRole : uint8_t { kClient, kServer };

inline constexpr size_t kRpcSecretMinBytes = 32;
inline constexpr size_t kRpcSecretMaxBytes = 256;
inline constexpr size_t kRpcNonceBytes = 16;
// Largest key string: 118 fixed bytes (IPv6 layout) + a 256-byte secret.
inline constexpr size_t kRpcKeyStringMaxBytes = 118 + kRpcSecretMaxBytes;
inline constexpr size_t kRpcNatRulesMax = 16;

using RpcNonceBytes = std::array<uint8_t, kRpcNonceBytes>;

// `--nat-info local:global` rules: an IPv4 address equal to a rule's `local` is replaced by its
// `global` (first matching rule wins). IPv4 values are host-order integers (192.0.2.1 =
// 0xc0000201). Fixed capacity, no allocation.
class RpcNatRules {
 public:
  // Fails (InvalidArgument / ResourceExhausted) on a bad address or more than 16 rules.
  absl::Status Add(uint32_t local_ipv4, uint32_t global_ipv4);
  // Parses "a.b.c.d:e.f.g.h" as given to --nat-info.
  absl::Status AddFromString(std::string_view local_colon_global);

  uint32_t Translate(uint32_t ipv4) const;
  size_t size() const { return count_; }

 private:
  struct Rule {
    uint32_t local;
    uint32_t global;
  };
  std::array<Rule, kRpcNatRulesMax> rules_{};
  size_t count_ = 0;
};

// The addresses of one ME connection, always named from the proxy's point of view:
// "client" = the proxy end, "server" = the ME end (both roles fill it the same way).
struct RpcLinkAddresses {
  bool ipv6 = false;  // the socket is IPv6: IPv4 fields are ignored (zero in the key string)
  uint32_t client_ipv4 = 0;  // host order; untranslated (NAT is applied by RpcKeyInput::nat)
  uint32_t server_ipv4 = 0;  // host order
  std::array<uint8_t, 16> client_ipv6{};  // network order
  std::array<uint8_t, 16> server_ipv6{};  // network order
  uint16_t client_port = 0;
  uint16_t server_port = 0;
};

struct RpcKeyInput {
  RpcNonceBytes nonce_server{};    // the ME's crypto_nonce
  RpcNonceBytes nonce_client{};    // the proxy's crypto_nonce
  uint32_t client_timestamp = 0;   // the proxy's crypto_ts
  RpcLinkAddresses addresses;
  ByteSpan secret;                 // the whole proxy-secret file, 32..256 bytes
  const RpcNatRules* nat = nullptr;  // applied to both IPv4 values when set
};

// The key string `s` (see middle-end-rpc.md §4.2), fixed storage.
struct RpcKeyString {
  std::array<uint8_t, kRpcKeyStringMaxBytes> bytes{};
  size_t size = 0;
  ByteSpan view() const { return ByteSpan(bytes.data(), size); }
};

struct RpcCipherKey {
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, 16> iv{};
};

// Encrypt/decrypt key material of one endpoint of a link.
struct RpcLinkKeys {
  RpcCipherKey encrypt;
  RpcCipherKey decrypt;
};

// Which half of the key string: bytes 42..47 = "CLIENT" or "SERVER".
enum class RpcKeyTag : uint8_t { kClient, kServer };

// Builds `s`. Fails if the secret is outside 32..256 bytes.
absl::StatusOr<RpcKeyString> BuildRpcKeyString(const RpcKeyInput& input, RpcKeyTag tag);

// K(s) = MD5(s[1..])[0..12) || SHA1(s), IV(s) = MD5(s[2..]). `s` must be >= 2 bytes.
RpcCipherKey DeriveRpcCipherKey(ByteSpan key_string);

// Both directions for `role`: the client encrypts with the CLIENT string and decrypts with the
// SERVER string; the server does the opposite.
absl::StatusOr<RpcLinkKeys> DeriveRpcLinkKeys(const RpcKeyInput& input, RpcRole role);

}  // namespace mtp
