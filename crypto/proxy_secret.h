// The --aes-pwd proxy secret shared with the middle-ends: loading, key selector, stats hash.
// Immutable once built; any thread may read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bytes.h"

namespace mtp {

class ProxySecret {
 public:
  static constexpr size_t kMinBytes = 32;   // MIN_PWD_LEN of the reference
  static constexpr size_t kMaxBytes = 256;  // MAX_PWD_LEN of the reference
  // Value of `aes_pwd_hash` in the stats when no proxy secret is loaded.
  static constexpr const char* kNoHash = "none";

  // The whole content is the secret. InvalidArgument unless kMinBytes <= size <= kMaxBytes.
  static absl::StatusOr<ProxySecret> FromBytes(ByteSpan content);
  // Reads the whole file. NotFound if it does not exist (the caller decides whether that is
  // fatal: it is not for the default path "secret", spec config-and-cli.md §3); other errors
  // (unreadable, wrong size) are InvalidArgument/PermissionDenied/... and name the path.
  static absl::StatusOr<ProxySecret> Load(const std::string& path);

  ByteSpan bytes() const { return ByteSpan(bytes_.data(), bytes_.size()); }
  size_t size() const { return bytes_.size(); }
  // LE int32 of the first 4 bytes: the key selector sent in RPC_NONCE.
  int32_t key_selector() const { return static_cast<int32_t>(LoadLe32(bytes_.data())); }
  // Lower-case hex MD5 of the content: the stats key `aes_pwd_hash`.
  std::string Md5Hex() const;

 private:
  explicit ProxySecret(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  std::vector<uint8_t> bytes_;
};

}  // namespace mtp
