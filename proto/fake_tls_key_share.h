// The key_share side of fake-TLS (RFC 8446 §4.2.8): which groups a ClientHello offers a key
// share for, which one the proxy answers with, and the fake server share for that group. The
// proxy never completes a key exchange (clients only check the ServerHello's HMAC), so the
// answer only has to look like a real server's to an observer: a group the client offered a
// share for, with a share of the right size and shape. Pure functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/bytes.h"

namespace mtp {

// Named groups (IANA TLS Supported Groups) the proxy can answer with.
inline constexpr uint16_t kGroupSecp256r1 = 0x0017;
inline constexpr uint16_t kGroupX25519 = 0x001d;
// draft-ietf-tls-ecdhe-mlkem: client share = ML-KEM-768 encapsulation key (1184) ‖ X25519 (32);
// server share = ML-KEM-768 ciphertext (1088) ‖ X25519 (32).
inline constexpr uint16_t kGroupX25519MlKem768 = 0x11ec;

inline constexpr size_t kX25519ShareSize = 32;
inline constexpr size_t kSecp256r1ShareSize = 65;  // uncompressed point: 04 ‖ X ‖ Y
inline constexpr size_t kX25519MlKem768ClientShareSize = 1184 + 32;
inline constexpr size_t kX25519MlKem768ServerShareSize = 1088 + 32;

// One KeyShareEntry of a ClientHello, as offered (GREASE entries included).
struct KeyShareOffer {
  uint16_t group = 0;
  uint16_t length = 0;  // bytes of key_exchange
};

// Entries recorded per hello; further entries are counted in `total` and still considered for
// `usable`.
inline constexpr size_t kMaxKeyShareOffers = 8;

// Which offered groups the proxy may answer with (bit set = offered with a well-formed share).
enum KeyShareGroupBit : uint8_t {
  kKeyShareX25519 = 1 << 0,
  kKeyShareSecp256r1 = 1 << 1,
  kKeyShareX25519MlKem768 = 1 << 2,
};

struct KeyShareOffers {
  bool present = false;    // the hello has a key_share extension
  bool malformed = false;  // its lengths do not add up (entries parsed so far are kept)
  size_t total = 0;        // entries in the extension (may exceed kMaxKeyShareOffers)
  std::array<KeyShareOffer, kMaxKeyShareOffers> entries{};
  size_t count = 0;    // entries[0..count)
  uint8_t usable = 0;  // KeyShareGroupBit of every entry whose share has its group's size
};

// The key_share extension of a ClientHello record (5-byte record header first, as on the wire).
// Walks the real vector lengths (session id, suites, compression methods, extensions) bounded by
// `hello.size()`; a hello without the extension, or one too short to reach it, gives
// present = false.
KeyShareOffers ParseKeyShares(ByteSpan hello);

// offers.usable: the input of ChooseServerKeyShareGroup.
inline uint8_t UsableKeyShareGroups(const KeyShareOffers& offers) { return offers.usable; }

// Operator policy (--tls-pq-key-share).
struct KeySharePolicy {
  // Answer X25519MLKEM768 when the client offers a share for it (the ServerHello record is
  // then 1088 bytes longer). Off (default): never answered.
  bool post_quantum = false;
};

// The group of the ServerHello's key_share for a hello whose usable groups are `usable`
// (UsableKeyShareGroups): X25519MLKEM768 first when the policy allows it, then x25519, then
// secp256r1. Anything else (no key_share, only groups we cannot fake, or only X25519MLKEM768
// without the policy: no Telegram client sends such a hello) gets x25519, the historical
// answer: opting in to the post-quantum answer is the operator's call, never implied.
uint16_t ChooseServerKeyShareGroup(uint8_t usable, const KeySharePolicy& policy);

// Bytes of the server's key_exchange for `group` (32 for unknown groups: x25519).
size_t ServerKeyShareSize(uint16_t group);

// Largest server share: callers size buffers with it.
inline constexpr size_t kMaxServerKeyShareSize = kX25519MlKem768ServerShareSize;

// Writes a fresh server share for `group` into out[0..ServerKeyShareSize(group)):
//   x25519          a genuine X25519 public key (OpenSSL keygen);
//   secp256r1       a genuine uncompressed P-256 public key (on the curve, as a checker sees);
//   X25519MLKEM768  1088 CSPRNG bytes (an ML-KEM ciphertext is compressed coefficients with
//                   every 10- and 4-bit value possible: uniform bytes look the same) followed
//                   by a genuine X25519 public key.
// The private halves are discarded: nobody ever completes these key exchanges.
void WriteServerKeyShare(uint16_t group, MutableByteSpan out);

}  // namespace mtp
