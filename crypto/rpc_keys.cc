// ME link key derivation: key string layout of middle-end-rpc.md §4.2 and the MD5/SHA1 mix of
// §4.3.
#include "crypto/rpc_keys.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "crypto/hash.h"

namespace mtp {
namespace {

// Offsets of the fixed part of the key string.
constexpr size_t kOffNonceServer = 0;
constexpr size_t kOffNonceClient = 16;
constexpr size_t kOffTimestamp = 32;
constexpr size_t kOffServerIp = 36;
constexpr size_t kOffClientPort = 40;
constexpr size_t kOffTag = 42;
constexpr size_t kOffClientIp = 48;
constexpr size_t kOffServerPort = 52;
constexpr size_t kOffSecret = 54;

// Dotted quad to a host-order value (192.0.2.10 -> 0xc000020a).
absl::StatusOr<uint32_t> ParseIpv4(std::string_view dotted) {
  // inet_pton wants a NUL-terminated string and rejects everything but a.b.c.d.
  std::string copy(dotted);
  in_addr addr{};
  if (inet_pton(AF_INET, copy.c_str(), &addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address '", std::string(dotted), "'"));
  }
  return ntohl(addr.s_addr);
}

}  // namespace

absl::Status RpcNatRules::Add(uint32_t local_ipv4, uint32_t global_ipv4) {
  if (count_ >= kRpcNatRulesMax) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many --nat-info rules (max ", kRpcNatRulesMax, ")"));
  }
  rules_[count_++] = Rule{local_ipv4, global_ipv4};
  return absl::OkStatus();
}

absl::Status RpcNatRules::AddFromString(std::string_view local_colon_global) {
  size_t colon = local_colon_global.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nat-info expects <local-ip>:<global-ip>, got '", std::string(local_colon_global), "'"));
  }
  auto local = ParseIpv4(local_colon_global.substr(0, colon));
  if (!local.ok()) return local.status();
  auto global = ParseIpv4(local_colon_global.substr(colon + 1));
  if (!global.ok()) return global.status();
  return Add(*local, *global);
}

uint32_t RpcNatRules::Translate(uint32_t ipv4) const {
  for (size_t i = 0; i < count_; ++i) {
    if (rules_[i].local == ipv4) return rules_[i].global;
  }
  return ipv4;
}

absl::StatusOr<RpcKeyString> BuildRpcKeyString(const RpcKeyInput& input, RpcKeyTag tag) {
  const size_t n = input.secret.size();
  if (n < kRpcSecretMinBytes || n > kRpcSecretMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("proxy secret must be ", kRpcSecretMinBytes,
                                                   "..", kRpcSecretMaxBytes, " bytes, got ", n));
  }
  const RpcLinkAddresses& a = input.addresses;
  RpcKeyString s;
  uint8_t* p = s.bytes.data();
  std::memcpy(p + kOffNonceServer, input.nonce_server.data(), 16);
  std::memcpy(p + kOffNonceClient, input.nonce_client.data(), 16);
  StoreLe32(p + kOffTimestamp, input.client_timestamp);
  uint32_t server_ip = 0;
  uint32_t client_ip = 0;
  if (!a.ipv6) {
    server_ip = input.nat != nullptr ? input.nat->Translate(a.server_ipv4) : a.server_ipv4;
    client_ip = input.nat != nullptr ? input.nat->Translate(a.client_ipv4) : a.client_ipv4;
  }
  StoreLe32(p + kOffServerIp, server_ip);
  StoreLe16(p + kOffClientPort, a.client_port);
  std::memcpy(p + kOffTag, tag == RpcKeyTag::kClient ? "CLIENT" : "SERVER", 6);
  StoreLe32(p + kOffClientIp, client_ip);
  StoreLe16(p + kOffServerPort, a.server_port);
  std::memcpy(p + kOffSecret, input.secret.data(), n);
  size_t off = kOffSecret + n;
  std::memcpy(p + off, input.nonce_server.data(), 16);
  off += 16;
  if (a.ipv6) {
    std::memcpy(p + off, a.client_ipv6.data(), 16);
    std::memcpy(p + off + 16, a.server_ipv6.data(), 16);
    off += 32;
  }
  std::memcpy(p + off, input.nonce_client.data(), 16);
  s.size = off + 16;
  return s;
}

RpcCipherKey DeriveRpcCipherKey(ByteSpan key_string) {
  RpcCipherKey k;
  Md5Digest md5_1 = Md5(key_string.subspan(1));
  Sha1Digest sha1 = Sha1(key_string);
  Md5Digest md5_2 = Md5(key_string.subspan(2));
  std::memcpy(k.key.data(), md5_1.data(), 12);
  std::memcpy(k.key.data() + 12, sha1.data(), 20);
  std::memcpy(k.iv.data(), md5_2.data(), 16);
  return k;
}

absl::StatusOr<RpcLinkKeys> DeriveRpcLinkKeys(const RpcKeyInput& input, RpcRole role) {
  auto client_string = BuildRpcKeyString(input, RpcKeyTag::kClient);
  if (!client_string.ok()) return client_string.status();
  RpcKeyString server_string = *client_string;
  std::memcpy(server_string.bytes.data() + kOffTag, "SERVER", 6);
  RpcCipherKey client_key = DeriveRpcCipherKey(client_string->view());
  RpcCipherKey server_key = DeriveRpcCipherKey(server_string.view());
  RpcLinkKeys keys;
  if (role == RpcRole::kClient) {
    keys.encrypt = client_key;
    keys.decrypt = server_key;
  } else {
    keys.encrypt = server_key;
    keys.decrypt = client_key;
  }
  return keys;
}

}  // namespace mtp
