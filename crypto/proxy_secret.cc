// Proxy secret (--aes-pwd): whole-file load with the reference's size bounds.
#include "crypto/proxy_secret.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/hex.h"
#include "crypto/hash.h"

namespace mtp {

absl::StatusOr<ProxySecret> ProxySecret::FromBytes(ByteSpan content) {
  if (content.size() < kMinBytes || content.size() > kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "proxy secret must be %d..%d bytes, got %d", kMinBytes, kMaxBytes, content.size()));
  }
  return ProxySecret(std::vector<uint8_t>(content.begin(), content.end()));
}

absl::StatusOr<ProxySecret> ProxySecret::Load(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int err = errno;
    std::string message =
        absl::StrFormat("cannot open proxy secret file %s: %s", path, strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::InvalidArgumentError(message);
  }
  // One byte more than allowed is enough to tell "too long" apart.
  uint8_t buf[kMaxBytes + 1];
  size_t n = std::fread(buf, 1, sizeof(buf), f);
  bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) {
    return absl::InvalidArgumentError("cannot read proxy secret file " + path);
  }
  if (n < kMinBytes || n > kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "proxy secret file %s must hold %d..%d bytes, it has %s%d", path, kMinBytes, kMaxBytes,
        n > kMaxBytes ? "more than " : "", n > kMaxBytes ? kMaxBytes : n));
  }
  return ProxySecret(std::vector<uint8_t>(buf, buf + n));
}

std::string ProxySecret::Md5Hex() const { return HexEncode(Md5(bytes())); }

}  // namespace mtp
