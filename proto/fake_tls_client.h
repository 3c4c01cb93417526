// Client side of fake-TLS, for the test client, the domain prober and tests: ClientHello
// generation (tdlib's 2019 517-byte layout and a current long layout with an ML-KEM-768 key
// share) and the ServerHello check tdlib performs. Cold path; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "proto/fake_tls_common.h"

namespace mtp {

enum class ClientHelloLayout : uint8_t {
  // Exactly 517 bytes (record length 0x0200): tdlib 2019-2024 and the reference's probe
  // (create_request). Fixed extension order, padding extension up to 517 bytes.
  kLegacy517,
  // A current-Chrome-like hello as sent by Telegram apps since late 2025 (tdlib master):
  // shuffled extension order, X25519MLKEM768 + X25519 key shares, GREASE ECH; ~1.7-1.8 KiB.
  kModern,
};

// The random parts of a kLegacy517 hello, explicit so vectors can fix them.
struct LegacyHelloRandoms {
  TlsSessionId session_id{};
  X25519PublicKey key_share{};
  // GREASE bytes (each 0x?A): [0] cipher list, [2] first extension, [4] groups and key share,
  // [6] supported versions, [3] last extension ([1] and [5] unused, as in the reference).
  std::array<uint8_t, 7> grease{};

  static LegacyHelloRandoms Fresh();  // CSPRNG + genuine X25519 key
};

// Source of random bytes for kModern hellos (SecureRandom by default; tests inject their own).
using RandomBytesFn = absl::FunctionRef<void(MutableByteSpan)>;

// The legacy hello with the 32-byte random at offset 11 still zero. InvalidArgument when the
// domain is empty or too long to fit in 517 bytes (> 216 bytes).
absl::StatusOr<std::vector<uint8_t>> BuildLegacyClientHello(std::string_view domain,
                                                            const LegacyHelloRandoms& randoms);
// The modern hello with the random still zero. InvalidArgument for an empty domain or one
// longer than 253 bytes.
absl::StatusOr<std::vector<uint8_t>> BuildModernClientHello(std::string_view domain,
                                                            RandomBytesFn random);
absl::StatusOr<std::vector<uint8_t>> BuildModernClientHello(std::string_view domain);

// Fills hello[11..43) the way tdlib does: HMAC-SHA256(secret, hello with zero random), last 4
// bytes XORed with LE32(timestamp). `hello` must have the zero random on entry.
void SignClientHello(const ClientSecret& secret, int32_t timestamp, MutableByteSpan hello);

// Builds and signs a hello for an "ee" link (fresh randomness).
absl::StatusOr<std::vector<uint8_t>> BuildClientHello(const ClientSecret& secret,
                                                      std::string_view domain, int32_t timestamp,
                                                      ClientHelloLayout layout);

enum class ServerHelloCheckStatus : uint8_t {
  kNeedMore,   // keep reading
  kOk,         // `size` bytes are the server's hello; application records follow
  kBadFormat,  // not 16 03 03 record + 14 03 03 00 01 01 + 17 03 03 record
  kBadDigest,  // HMAC mismatch: not a proxy knowing our secret
};

struct ServerHelloCheck {
  ServerHelloCheckStatus status = ServerHelloCheckStatus::kNeedMore;
  size_t size = 0;  // kOk: bytes of the response (consume them)
};

// tdlib's TlsInit::wait_hello_response over the bytes received so far: one `16 03 03` record,
// then `14 03 03 00 01 01 17 03 03` + BE16 length + that many bytes; the random at offset 11
// must equal HMAC-SHA256(secret, client_random ‖ those bytes with the random zeroed).
ServerHelloCheck VerifyServerHello(const ClientSecret& secret, const TlsRandom& client_random,
                                   ByteSpan received);

}  // namespace mtp
