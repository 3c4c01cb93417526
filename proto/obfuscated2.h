// Obfuscated2: the 64-byte client header, its key derivation, server-side secret trial and
// client-side header construction (spec client-transports.md §3). Pure functions over bytes;
// the returned AesCtr streams belong to whichever thread owns the connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "crypto/aes.h"
#include "crypto/secret.h"
#include "proto/transport_tag.h"

namespace mtp {

inline constexpr size_t kObfuscated2HeaderBytes = 64;
using Obfuscated2Header = std::array<uint8_t, kObfuscated2HeaderBytes>;
using Obfuscated2HeaderView = std::span<const uint8_t, kObfuscated2HeaderBytes>;

// The four values of §3.3, named from the proxy's point of view. The client mirrors them:
// client encrypt = read_*, client decrypt = write_*.
struct Obfuscated2Keys {
  std::array<uint8_t, 32> read_key;   // client->proxy
  std::array<uint8_t, 16> read_iv;
  std::array<uint8_t, 32> write_key;  // proxy->client
  std::array<uint8_t, 16> write_iv;
};

// Derives the keys from the header as received (bytes 8..56 are plaintext on the wire).
// `secret` == nullptr: the "no secret configured" derivation (raw header bytes, no SHA-256).
Obfuscated2Keys DeriveObfuscated2Keys(Obfuscated2HeaderView header, const ClientSecret* secret);

// The IV of the proxy's read stream after the header: the client's first bytes after it are
// decrypted from keystream offset 64, which the proxy reaches by counting, not by running the
// stream over 64 bytes it has already read.
inline std::array<uint8_t, 16> Obfuscated2ReadIvAfterHeader(const Obfuscated2Keys& keys) {
  static_assert(kObfuscated2HeaderBytes % 16 == 0);
  return CtrIvAfterBlocks(keys.read_iv, kObfuscated2HeaderBytes / 16);
}

// ---- Server side -------------------------------------------------------------------------

enum class Obfuscated2Status : uint8_t {
  kAccepted,
  kNoMatch,        // no secret decrypts to a valid tag: the caller enters skip mode (§8)
  kCryptoFailure,  // OpenSSL could not create a context (resource exhaustion): close
};

// What a header matched; the two results below add the streams' keys or the streams.
struct Obfuscated2Verdict {
  Obfuscated2Status status = Obfuscated2Status::kNoMatch;
  // Index into the secrets span that matched; -1 when no secrets were configured.
  int secret_index = -1;
  Transport transport = Transport::kAbridged;
  int16_t dc_id = 0;  // signed, verbatim from decrypted bytes 60..62
};

// MatchObfuscated2: the verdict with the keys of both streams.
struct Obfuscated2Match : Obfuscated2Verdict {
  Obfuscated2Keys keys{};  // when accepted; the read stream starts at the header (offset 0)
};

// AcceptObfuscated2: the verdict with both streams built.
struct Obfuscated2ServerResult : Obfuscated2Verdict {
  // client->proxy stream, already advanced past the 64 header bytes (keystream offset 64):
  // apply it to every byte that follows the header.
  AesCtr decrypt;
  // proxy->client stream at keystream offset 0 (the proxy sends no header of its own).
  AesCtr encrypt;

  bool accepted() const { return status == Obfuscated2Status::kAccepted; }
};

// Tries each secret in order (one no-secret pass if `secrets` is empty) exactly as §3.4 and
// returns the first whose decryption yields one of the three tags. The header is not modified.
// Per-secret cost: two SHA-256 and one AES block; streams are built only for the match.
// TLS-only mode must additionally require transport == kPadded (caller's job).
Obfuscated2ServerResult AcceptObfuscated2(Obfuscated2HeaderView header,
                                          std::span<const ClientSecret> secrets);
// The same search, returning the keys instead of streams (a caller that keeps its streams in
// another form, e.g. LeanAesCtr). kCryptoFailure only when the OpenSSL path cannot run.
Obfuscated2Match MatchObfuscated2(Obfuscated2HeaderView header,
                                  std::span<const ClientSecret> secrets);

// ---- Client side (test client, direct-to-DC mode) ------------------------------------------

struct Obfuscated2ClientHandshake {
  Obfuscated2Header header;  // the 64 bytes to send first (56 plaintext + 8 encrypted)
  AesCtr encrypt;            // client->server, continuing at keystream offset 64
  AesCtr decrypt;            // server->client, keystream offset 0
  // What the streams were made from, for a caller that keeps its streams in another form
  // (the server's names: the client encrypts with read_*, decrypts with write_*).
  Obfuscated2Keys keys;
};

// True if a client must not use these random bytes as a header (§3.2, tdlib's rule): byte 0 is
// 0xef; the first LE word is HEAD/POST/GET /OPTI/0xdddddddd/0xeeeeeeee/0x02010316; or the
// second LE word is 0. (The proxy itself never applies this rule.)
bool IsForbiddenObfuscated2Start(Obfuscated2HeaderView random);

// Builds a header from fresh CSPRNG bytes, regenerating while IsForbiddenObfuscated2Start.
// `secret` == nullptr derives without a secret (for a proxy started without -S, or a DC).
absl::StatusOr<Obfuscated2ClientHandshake> BuildObfuscated2ClientHeader(
    const ClientSecret* secret, Transport transport, int16_t dc_id);

// Deterministic variant: uses `random` as-is (no regeneration, so tests can pin any bytes),
// writes the tag at 56 and the DC id at 60..62; bytes 62..63 keep their random value.
absl::StatusOr<Obfuscated2ClientHandshake> BuildObfuscated2ClientHeaderFrom(
    Obfuscated2HeaderView random, const ClientSecret* secret, Transport transport,
    int16_t dc_id);

}  // namespace mtp
