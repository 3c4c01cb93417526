// Proxy side of the fake-TLS ServerHello (spec client-transports §6.6): byte-exact
// construction, the per-domain shape learned by probing, and fresh key shares for the group
// the client offered (fake_tls_key_share.h). Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"
#include "proto/fake_tls_client_hello.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_key_share.h"

namespace mtp {

// What the proxy learned about a -D domain's real TLS server (§6.10); immutable after start-up.
struct TlsDomainProfile {
  bool reversed_extension_order = false;  // supported_versions before key_share
  int encrypted_size = 2500;              // E: length of the fake encrypted-handshake record
  bool randomize_size = true;             // use E-1 / E / E+1 with probabilities 1/4 1/2 1/4
  // What the site answered to a hello offering X25519MLKEM768 and x25519 (the post-quantum
  // probe): the key_share group it chose and its ServerHello record length; 0 = not learned.
  // Used only under --tls-pq-follow-site.
  uint16_t pq_answer_group = 0;
  int pq_server_hello_size = 0;
};

// The E for one ServerHello: profile.encrypted_size, or with randomize_size
// size + ((r >> 1) & 1) - (r & 1) for the random word r (the reference's rand() rule).
// Clamped to [1, 65535] so the record length always fits its BE16 field.
size_t PickEncryptedSize(const TlsDomainProfile& profile, uint32_t random_bits);
// Same with r from FastRandom64().
size_t PickEncryptedSize(const TlsDomainProfile& profile);

// Everything the ServerHello depends on besides the random parts.
struct ServerHelloParams {
  ClientSecret secret{};        // the secret that authenticated the ClientHello
  TlsRandom client_random{};    // as received (digest ‖ masked timestamp)
  TlsSessionId session_id{};    // echoed
  uint8_t cipher_suite = 0x01;  // second byte of 13 xx
  bool reversed_extension_order = false;
  // The key_share group answered (kGroupX25519, kGroupSecp256r1 or kGroupX25519MlKem768).
  uint16_t key_share_group = kGroupX25519;
};

// Params for an accepted hello (result.accepted() must hold). The key_share group is chosen
// from the groups the hello offered (result.key_share_groups) under `key_share_policy`.
ServerHelloParams MakeServerHelloParams(const ClientHelloResult& result,
                                        const ClientSecret& secret,
                                        const TlsDomainProfile& profile,
                                        const KeySharePolicy& key_share_policy = {});

// Bytes of the response before the E fake bytes for a key_share of `group`: ServerHello record
// (95 + share), CCS (6), application-data header (5). kServerHelloFixedSize for x25519.
size_t ServerHelloFixedSize(uint16_t group);
// The whole response for `params` with E = `encrypted_size` fake bytes.
inline size_t ServerHelloSize(const ServerHelloParams& params, size_t encrypted_size) {
  return ServerHelloFixedSize(params.key_share_group) + encrypted_size;
}

// Writes the complete ServerHello + CCS + application-data record into `out`, which must be
// exactly ServerHelloSize(params, encrypted_data.size()) bytes (asserted), E <= 65535, and
// `key_share` exactly ServerKeyShareSize(params.key_share_group) bytes.
// `encrypted_data` may alias the tail of `out` (out[ServerHelloFixedSize(group)..]).
// The server random at offset 11 = HMAC-SHA256(secret, client_random ‖ response with zeros there).
void WriteServerHello(const ServerHelloParams& params, ByteSpan key_share,
                      ByteSpan encrypted_data, MutableByteSpan out);
// The same for an x25519 answer (params.key_share_group must be kGroupX25519).
void WriteServerHello(const ServerHelloParams& params, const X25519PublicKey& public_key,
                      ByteSpan encrypted_data, MutableByteSpan out);

// The normal path: a fresh share for params.key_share_group and SecureRandom fake data,
// E = out.size() - ServerHelloFixedSize(group) (callers size `out` with
// ServerHelloSize(params, PickEncryptedSize(...))). An `out` too small for the chosen group's
// fixed part (sized for x25519 by an older caller) gets an x25519 answer instead; `out` must
// hold at least kServerHelloFixedSize bytes.
void WriteServerHelloFresh(const ServerHelloParams& params, MutableByteSpan out);

// A genuine X25519 public key of a fresh key pair (OpenSSL keygen; the private half is
// discarded: nobody ever completes this key exchange).
X25519PublicKey GenerateX25519PublicKey();

}  // namespace mtp
