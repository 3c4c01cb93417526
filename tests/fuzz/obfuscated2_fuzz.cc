// Fuzz target: obfuscated2 server-side secret trial on arbitrary headers, and the
// client-build -> server-accept round trip with fuzzed random bytes, secrets, tag and DC.
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <vector>

#include "proto/obfuscated2.h"

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) std::abort(); \
  } while (0)

constexpr size_t kHeader = mtp::kObfuscated2HeaderBytes;

std::vector<mtp::ClientSecret> Secrets(size_t count) {
  // Secret 0 is the one of spec vector A, so corpus entries built from those vectors match.
  static constexpr uint8_t kVectorSecret[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  std::vector<mtp::ClientSecret> secrets(count);
  if (count > 0) std::memcpy(secrets[0].data(), kVectorSecret, sizeof(kVectorSecret));
  for (size_t i = 1; i < count; ++i) {
    for (size_t j = 0; j < mtp::kClientSecretBytes; ++j) {
      secrets[i][j] = static_cast<uint8_t>(i * 17 + j * 5 + 1);
    }
  }
  return secrets;
}

void CheckAccepted(const mtp::Obfuscated2ServerResult& r, size_t secret_count) {
  FUZZ_CHECK(r.accepted());
  FUZZ_CHECK(r.decrypt.valid() && r.encrypt.valid());
  FUZZ_CHECK(mtp::TransportFromTag(mtp::TransportTag(r.transport)) == r.transport);
  if (secret_count == 0) {
    FUZZ_CHECK(r.secret_index == -1);
  } else {
    FUZZ_CHECK(r.secret_index >= 0 && static_cast<size_t>(r.secret_index) < secret_count);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Layout: 64 header bytes, 5 control bytes, then a payload for the streams. Short inputs
  // are zero-extended.
  uint8_t control[5] = {};
  mtp::Obfuscated2Header header{};
  for (size_t i = 0; i < size && i < kHeader + sizeof(control); ++i) {
    (i < kHeader ? header[i] : control[i - kHeader]) = data[i];
  }
  const size_t secret_count = control[0] % (mtp::kMaxClientSecrets + 1);
  std::vector<mtp::ClientSecret> secrets = Secrets(secret_count);
  const uint8_t* tail = size > kHeader + 5 ? data + kHeader + 5 : nullptr;
  const size_t tail_size = size > kHeader + 5 ? size - kHeader - 5 : 0;

  // 1. Arbitrary header straight into the server side.
  mtp::Obfuscated2ServerResult raw = mtp::AcceptObfuscated2(header, secrets);
  FUZZ_CHECK(raw.status != mtp::Obfuscated2Status::kCryptoFailure);
  if (raw.accepted()) {
    CheckAccepted(raw, secret_count);
    std::vector<uint8_t> rest(tail, tail + tail_size);
    raw.decrypt.Apply(rest);
  }

  // 2. A client header built from these random bytes must be accepted with its own values.
  const size_t chosen = secret_count == 0 ? 0 : control[1] % secret_count;
  const mtp::ClientSecret* secret = secret_count == 0 ? nullptr : &secrets[chosen];
  const auto transport = static_cast<mtp::Transport>(control[2] % 3);
  const auto dc = static_cast<int16_t>(control[3] | (control[4] << 8));
  absl::StatusOr<mtp::Obfuscated2ClientHandshake> hs =
      mtp::BuildObfuscated2ClientHeaderFrom(header, secret, transport, dc);
  FUZZ_CHECK(hs.ok());
  FUZZ_CHECK(std::memcmp(hs->header.data(), header.data(), 56) == 0);
  mtp::Obfuscated2ServerResult r = mtp::AcceptObfuscated2(hs->header, secrets);
  CheckAccepted(r, secret_count);
  // An earlier secret may decrypt to a valid tag by chance (first match wins); only then may
  // the values differ.
  if (secret_count == 0 || static_cast<size_t>(r.secret_index) == chosen) {
    FUZZ_CHECK(r.transport == transport);
    FUZZ_CHECK(r.dc_id == dc);
    std::vector<uint8_t> up(tail, tail + tail_size);
    hs->encrypt.Apply(up);
    r.decrypt.Apply(up);
    FUZZ_CHECK(tail_size == 0 || std::memcmp(up.data(), tail, tail_size) == 0);
    std::vector<uint8_t> down(tail, tail + tail_size);
    r.encrypt.Apply(down);
    hs->decrypt.Apply(down);
    FUZZ_CHECK(tail_size == 0 || std::memcmp(down.data(), tail, tail_size) == 0);
  } else {
    FUZZ_CHECK(static_cast<size_t>(r.secret_index) < chosen);
  }
  return 0;
}
